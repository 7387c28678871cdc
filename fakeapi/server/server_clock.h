// The fake API server's time: a steady clock and one queue of timers for everything the server
// does later (watch deadlines and bookmarks, answers held back, model timers, the scenario's
// timeline, token rotation). In real mode time is std::chrono::steady_clock and one thread runs
// the timers as they fall due. In manual mode (k8slb-fakeapi --manual-clock) time stands still
// until Advance() moves it; Advance runs every timer that falls due, in time order, on the
// caller's thread, and returns when they have all run, so that a test can replay a 75-second
// watch deterministically and without waiting.
//
// Thread-safety: every method may be called from any thread. Timer callbacks run without the
// clock's lock held (they may schedule and cancel timers) and must not call Advance() or Stop().
// Stop() (also run by the destructor) joins the timer thread; later Schedule() calls are dropped.
#ifndef K8SLB_FAKEAPI_SERVER_SERVER_CLOCK_H_
#define K8SLB_FAKEAPI_SERVER_SERVER_CLOCK_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace k8slb::fakeapi {

using SteadyTime = std::chrono::steady_clock::time_point;

class ServerClock {
 public:
  using TimerId = uint64_t;

  // manual = false: real steady time and a timer thread; true: time moves only in Advance().
  explicit ServerClock(bool manual);
  ~ServerClock();
  ServerClock(const ServerClock&) = delete;
  ServerClock& operator=(const ServerClock&) = delete;

  bool manual() const { return manual_; }
  SteadyTime Now() const;
  // Seconds since the clock was made (what /fake/clock reports).
  double SecondsSinceStart() const;

  // Runs `fn` once at `when` (at once if `when` has passed). Returns an id for Cancel().
  TimerId Schedule(SteadyTime when, std::function<void()> fn);
  // A timer that has not started running will not run. Unknown ids are ignored.
  void Cancel(TimerId id);
  // Manual mode only (no-op otherwise): moves time forward by `d`, running each timer due up to
  // the new time at its own due time, in (due time, schedule order) order.
  void Advance(std::chrono::nanoseconds d);

  void Stop();

 private:
  struct Key {
    SteadyTime when;
    uint64_t seq;
    bool operator<(const Key& o) const { return when != o.when ? when < o.when : seq < o.seq; }
  };
  void TimerThread();
  bool WakeTimerThread() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const bool manual_;
  const SteadyTime start_;
  mutable absl::Mutex mu_;
  std::chrono::nanoseconds manual_offset_ ABSL_GUARDED_BY(mu_){0};
  std::map<Key, std::function<void()>> timers_ ABSL_GUARDED_BY(mu_);
  std::map<TimerId, Key> by_id_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;  // the timer thread should look at timers_ again
  // Set while Advance() runs timers, so that concurrent Advance() calls run one after the other.
  absl::Mutex advance_mu_;
  std::thread thread_;  // real mode only
};

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_SERVER_CLOCK_H_
