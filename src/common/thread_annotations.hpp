// Macros for clang's thread-safety analysis (-Wthread-safety): they let the compiler check which
// lock guards which data, instead of a "guarded by mu_" comment that nothing reads.
//
// Why: shoal's lock contracts were prose, and a field touched without its lock is a data race
// that ThreadSanitizer finds only if a test happens to run the two sides at the same time. The
// analysis checks every path at compile time. It runs only under clang; with any other compiler
// the macros expand to nothing, so GCC builds are unaffected. scripts/check-thread-safety.sh
// builds the tree with clang and -Werror=thread-safety (cmake -DSHOAL_THREAD_SAFETY=ON).
//
// How to use them:
// - A lock type is a SHOAL_CAPABILITY("mutex"); its lock() is SHOAL_ACQUIRE(), unlock()
//   SHOAL_RELEASE(), try_lock() SHOAL_TRY_ACQUIRE(true). Lock with a scoped type declared
//   SHOAL_SCOPED_CAPABILITY (MutexLock, UniqueLock in src/common/mutex.hpp): libstdc++'s
//   std::lock_guard and std::unique_lock carry no annotations, so the analysis does not see them
//   take the lock and reports every access under them.
// - Data: `int n_ SHOAL_GUARDED_BY(mu_);`. A pointer whose target is guarded (the pointer itself
//   is not): SHOAL_PT_GUARDED_BY(mu_).
// - Functions: SHOAL_REQUIRES(mu_) if the caller must hold the lock, SHOAL_EXCLUDES(mu_) if it
//   must not (the function takes it itself; callers that hold it would deadlock).
// - SHOAL_NO_THREAD_SAFETY_ANALYSIS turns the check off for one function. Every use says why
//   next to it: it is for what the analysis cannot express (a lock's own implementation, a lock
//   handed over through a callback), never to silence a real finding.
//
// What the analysis does not see: a lambda or callback is analysed as a function of its own, with
// no lock held (condition-variable predicates included: write the wait as a loop instead); locks
// taken through pointers it cannot name; aliasing (two expressions for the same mutex); and
// anything in a system header. Clang's manual lists the rest ("Known limitations").
#pragma once

#if defined(__clang__)
#define SHOAL_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define SHOAL_THREAD_ANNOTATION_(x)  // GCC has no thread-safety analysis
#endif

/// The type is a lock (`name` appears in the diagnostics, e.g. "mutex").
#define SHOAL_CAPABILITY(name) SHOAL_THREAD_ANNOTATION_(capability(name))

/// The type is an RAII lock: its constructor acquires and its destructor releases.
#define SHOAL_SCOPED_CAPABILITY SHOAL_THREAD_ANNOTATION_(scoped_lockable)

/// The data member (or global) may be read or written only with `mu` held.
#define SHOAL_GUARDED_BY(mu) SHOAL_THREAD_ANNOTATION_(guarded_by(mu))

/// What the pointer member points to may be used only with `mu` held.
#define SHOAL_PT_GUARDED_BY(mu) SHOAL_THREAD_ANNOTATION_(pt_guarded_by(mu))

/// The caller must hold these locks.
#define SHOAL_REQUIRES(...) SHOAL_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))

/// The caller must not hold these locks (the function acquires them).
#define SHOAL_EXCLUDES(...) SHOAL_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))

/// The function acquires these locks (no argument: `*this`) and returns with them held.
#define SHOAL_ACQUIRE(...) SHOAL_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))

/// The function releases these locks (no argument: `*this`), which the caller held.
#define SHOAL_RELEASE(...) SHOAL_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))

/// The function acquires the locks if it returns `result` (first argument), e.g.
/// SHOAL_TRY_ACQUIRE(true) on a try_lock().
#define SHOAL_TRY_ACQUIRE(...) SHOAL_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))

/// The function returns (a reference to) the lock `mu`, so that callers can name it.
#define SHOAL_RETURN_CAPABILITY(mu) SHOAL_THREAD_ANNOTATION_(lock_returned(mu))

/// The function is not checked. Say why at every use.
#define SHOAL_NO_THREAD_SAFETY_ANALYSIS SHOAL_THREAD_ANNOTATION_(no_thread_safety_analysis)
