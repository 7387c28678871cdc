#include "sim/live/interrupt.h"

#include <pthread.h>
#include <time.h>

#include <cerrno>

namespace k8slb::sim::live {

InterruptWatcher::InterruptWatcher() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old_mask_);
  thread_ = std::thread([this, set] {
    // A short timeout so the destructor's stop is seen promptly.
    const timespec timeout{0, 100'000'000};
    while (!stop_.load(std::memory_order_acquire)) {
      const int sig = sigtimedwait(&set, nullptr, &timeout);
      if (sig <= 0) continue;  // EAGAIN (timeout) or EINTR
      int expected = 0;
      first_.compare_exchange_strong(expected, sig, std::memory_order_acq_rel);
      count_.fetch_add(1, std::memory_order_acq_rel);
    }
  });
}

InterruptWatcher::~InterruptWatcher() {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

}  // namespace k8slb::sim::live
