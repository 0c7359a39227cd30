// Compiled only by scripts/check-thread-safety.sh, with the compile line of a library source from
// the SHOAL_THREAD_SAFETY build and clang's -verify: each `expected-error@+1` comment must get
// that error on the line after it, and no other line may get one. It proves that the option
// reaches the compiler, that each SHOAL_ macro has its effect, and that a wrong use of a lock fails
// the build: if the macros ever expanded to nothing under clang, the real build would still pass
// and this check would not. Not part of any target.
#include <mutex>

#include "src/common/adaptive_mutex.hpp"
#include "src/common/deferring_mutex.hpp"
#include "src/common/mutex.hpp"
#include "src/common/thread_annotations.hpp"

// Not in an anonymous namespace: nothing calls these functions, and -Wunused-function would
// add warnings that -verify does not expect.
namespace shoal::internal::thread_safety_probe {

class Account {
 public:
  // expected-error@+1 {{reading variable 'balance_' requires holding mutex 'mu_'}}
  int balance_unlocked() const { return balance_; }
  int balance() const SHOAL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return balance_;
  }
  void deposit_locked(int n) SHOAL_REQUIRES(mu_) { balance_ += n; }
  void deposit(int n) SHOAL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    deposit_locked(n);
    // expected-error@+1 {{cannot call function 'balance' while mutex 'mu_' is held}}
    balance();
  }
  // expected-error@+1 {{calling function 'deposit_locked' requires holding mutex 'mu_'}}
  void deposit_unlocked(int n) { deposit_locked(n); }
  void deposit_if_free(int n) {
    if (mu_.try_lock()) {
      balance_ += n;
      mu_.unlock();
    }
  }
  Mutex& mutex() SHOAL_RETURN_CAPABILITY(mu_) { return mu_; }
  // expected-error@+1 {{reading the value pointed to by 'history_' requires holding mutex 'mu_'}}
  int last_unlocked() const { return *history_; }
  int* history_pointer() const { return history_; }  // the pointer itself is not guarded
  int balance_unchecked() const SHOAL_NO_THREAD_SAFETY_ANALYSIS { return balance_; }

 private:
  mutable Mutex mu_;
  int balance_ SHOAL_GUARDED_BY(mu_) = 0;
  int* history_ SHOAL_PT_GUARDED_BY(mu_) = nullptr;
};

void through_returned_capability(Account& a) {
  MutexLock lock(a.mutex());
  a.deposit_locked(1);
}

// libstdc++'s lockers are not annotated: the analysis does not see them take the lock.
struct Counter {
  AdaptiveMutex mu;
  int n SHOAL_GUARDED_BY(mu) = 0;
};
int under_std_lock_guard(Counter& c) {
  std::lock_guard<AdaptiveMutex> lock(c.mu);
  // expected-error@+1 {{reading variable 'n' requires holding mutex 'c.mu'}}
  return c.n;
}

struct Op {};
void run_op(void*, Op&) noexcept {}

struct Table {
  DeferringMutex<Op> mu{&run_op, nullptr};
  int rows SHOAL_GUARDED_BY(mu) = 0;

  void grow() {
    UniqueLock lock(mu);
    ++rows;
    lock.unlock();
    // expected-error@+1 {{writing variable 'rows' requires holding mutex 'mu' exclusively}}
    ++rows;
    lock.lock();
    ++rows;
  }
  void grow_deferred() {
    mu.run_or_defer(Op{});  // does not leave the lock held
    // expected-error@+1 {{writing variable 'rows' requires holding mutex 'mu' exclusively}}
    ++rows;
  }
};

}  // namespace shoal::internal::thread_safety_probe
