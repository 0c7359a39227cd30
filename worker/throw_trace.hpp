// Where a task's exception was thrown: the worker's stack at the `throw`, not at the `catch`.
//
// By the time the worker loop catches a task's exception the stack has been unwound, and Boost
// 1.74 cannot recover it from the exception (no from_current_exception). So shoal defines
// __cxa_throw, the C++ ABI entry every `throw` calls (worker/throw_trace.cpp): while a ThrowTrace
// is armed on the calling thread, it records the raw return addresses of the throwing stack into
// a small fixed ring, then forwards to the real __cxa_throw (the next definition: libstdc++'s, or
// a sanitizer's interceptor in front of it). It also defines __cxa_allocate_exception, to forget
// a record whose exception's memory is reused. Outside an armed worker task (the driver, the fork
// helper, a worker between tasks) a throw costs one relaxed atomic load and a branch more.
// Names are looked up only when a task fails (src/common/symbolize.hpp).
//
// Limits, documented for users in TaskError::backtrace() and the README:
// - Only throws made by the thread that runs the task, with a `throw` expression, are recorded.
//   An exception from another thread, or made by std::make_exception_ptr and rethrown with
//   std::rethrow_exception, has no recorded stack: the backtrace is then empty.
// - Frames are recorded from the throw down to the task's entry (the worker loop's frames are
//   left out), at most kMaxFrames of them.
//
// Thread safety: a ThrowTrace is armed on one thread at a time (the worker's one thread arms it
// around each task; in local mode every thread that runs a task arms its own, nested ones
// included). Recording happens only on the armed thread; frames_of_current() must be called on
// that thread too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <typeinfo>
#include <vector>

namespace shoal::internal {

class ThrowTrace {
 public:
  /// Frames kept per throw; deeper stacks are cut at the task's end.
  static constexpr std::size_t kMaxFrames = 64;
  /// Throws remembered: a task may catch some of its own exceptions before one escapes, or keep an
  /// exception_ptr and rethrow it after throwing others.
  static constexpr std::size_t kRecords = 4;

  ThrowTrace() = default;
  ThrowTrace(const ThrowTrace&) = delete;
  ThrowTrace& operator=(const ThrowTrace&) = delete;

  /// While an Armed lives, throws on the constructing thread are recorded into `trace`, from the
  /// throwing frame down to the frames called by the function whose frame is `boundary` (pass
  /// __builtin_frame_address(0) of the function that calls the task). Forgets earlier records.
  class Armed {
   public:
    Armed(ThrowTrace& trace, const void* boundary) noexcept;
    ~Armed();
    Armed(const Armed&) = delete;
    Armed& operator=(const Armed&) = delete;

   private:
    ThrowTrace* previous_;  // armed on this thread before (a task running a task in local mode)
  };

  /// Call inside a catch handler, on the armed thread: the code addresses (innermost first) where
  /// the exception being handled was thrown, or an empty vector if its throw was not recorded.
  std::vector<const void*> frames_of_current() const;

  /// Called by shoal's __cxa_throw for every throw in the process, with the return address into
  /// the throwing function. Not for other callers.
  static void on_throw(void* object, const std::type_info* type, const void* thrower) noexcept;
  /// Called by shoal's __cxa_allocate_exception for every new exception object: an address that
  /// is handed out again no longer names the exception recorded there before (for one that is
  /// made without a throw, by std::make_exception_ptr).
  static void on_allocate(const void* object) noexcept;

 private:
  struct Record {
    const void* object = nullptr;  // the thrown object, as __cxa_throw received it
    const std::type_info* type = nullptr;
    std::size_t depth = 0;
    const void* frames[kMaxFrames] = {};
  };

  void record(void* object, const std::type_info* type, const void* thrower) noexcept;
  const Record* find(const void* object, const std::type_info* type) const noexcept;

  Record records_[kRecords];
  std::size_t next_ = 0;         // where the next record goes (a ring)
  std::uintptr_t boundary_ = 0;  // frames above this address belong to the worker loop
};

}  // namespace shoal::internal
