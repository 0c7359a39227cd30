// A mutex that spins briefly before it sleeps (glibc's PTHREAD_MUTEX_ADAPTIVE_NP).
//
// Why: the runtime lock is held for a microsecond or two at a time by the program's threads and
// by the I/O thread. With a plain mutex, a thread that finds it taken goes to sleep in the kernel,
// and on our VMs the sleep and the wake-up cost a context switch each (tens of microseconds,
// measured as a third of all CPU time in a profile of 100,000 queued tasks), far more than
// waiting a moment for the holder to finish.
//
// Meets the standard Lockable requirements; use std::condition_variable_any to wait with it. A
// capability for clang's thread-safety analysis: lock it with MutexLock or UniqueLock
// (src/common/mutex.hpp).
#pragma once

#include <pthread.h>

#include "src/common/thread_annotations.hpp"

namespace shoal::internal {

class SHOAL_CAPABILITY("mutex") AdaptiveMutex {
 public:
  AdaptiveMutex() noexcept {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&mu_, &attr);
    pthread_mutexattr_destroy(&attr);
  }
  ~AdaptiveMutex() { pthread_mutex_destroy(&mu_); }
  AdaptiveMutex(const AdaptiveMutex&) = delete;
  AdaptiveMutex& operator=(const AdaptiveMutex&) = delete;

  void lock() noexcept SHOAL_ACQUIRE() { pthread_mutex_lock(&mu_); }
  bool try_lock() noexcept SHOAL_TRY_ACQUIRE(true) { return pthread_mutex_trylock(&mu_) == 0; }
  void unlock() noexcept SHOAL_RELEASE() { pthread_mutex_unlock(&mu_); }

 private:
  pthread_mutex_t mu_{};  // set up by pthread_mutex_init in the constructor
};

}  // namespace shoal::internal
