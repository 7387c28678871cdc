// InterruptWatcher: SIGINT and SIGTERM during a live run, so the run can stop its clients and
// pods and remove what it created in an API server before the process exits.
//
// The constructor blocks both signals in the calling thread, so every thread created afterwards
// inherits the block (pthread_sigmask(3): a new thread inherits its creator's mask) and the
// kernel can deliver them only to the watcher's own thread, which takes them with sigtimedwait.
// Construct it before any other thread of the run exists. The destructor stops the watcher and
// restores the caller's mask; a signal taken meanwhile is not re-raised (the run reports it).
//
// Threading: construct and destroy on the same thread; signal() from any thread.
#ifndef K8SLB_SIM_LIVE_INTERRUPT_H_
#define K8SLB_SIM_LIVE_INTERRUPT_H_

#include <signal.h>

#include <atomic>
#include <thread>

namespace k8slb::sim::live {

class InterruptWatcher {
 public:
  InterruptWatcher();
  ~InterruptWatcher();
  InterruptWatcher(const InterruptWatcher&) = delete;
  InterruptWatcher& operator=(const InterruptWatcher&) = delete;

  // The first signal taken (SIGINT or SIGTERM), 0 while none came.
  int signal() const { return first_.load(std::memory_order_acquire); }
  // How many were taken (a second Ctrl-C during cleanup is counted, not obeyed: cleanup is
  // bounded in time anyway).
  int count() const { return count_.load(std::memory_order_acquire); }

 private:
  sigset_t old_mask_;
  std::atomic<bool> stop_{false};
  std::atomic<int> first_{0};
  std::atomic<int> count_{0};
  std::thread thread_;
};

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_INTERRUPT_H_
