#include "fakeapi/server/server_clock.h"

#include "absl/time/time.h"

namespace k8slb::fakeapi {

ServerClock::ServerClock(bool manual) : manual_(manual), start_(std::chrono::steady_clock::now()) {
  if (!manual_) thread_ = std::thread([this] { TimerThread(); });
}

ServerClock::~ServerClock() { Stop(); }

SteadyTime ServerClock::Now() const {
  if (!manual_) return std::chrono::steady_clock::now();
  absl::MutexLock lock(&mu_);
  return start_ + manual_offset_;
}

double ServerClock::SecondsSinceStart() const {
  return std::chrono::duration<double>(Now() - start_).count();
}

ServerClock::TimerId ServerClock::Schedule(SteadyTime when, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return 0;
  Key key{when, next_seq_++};
  if (timers_.empty() || key < timers_.begin()->first) wake_ = true;
  timers_.emplace(key, std::move(fn));
  by_id_.emplace(key.seq, key);
  return key.seq;
}

void ServerClock::Cancel(TimerId id) {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  timers_.erase(it->second);
  by_id_.erase(it);
}

void ServerClock::Advance(std::chrono::nanoseconds d) {
  if (!manual_ || d.count() < 0) return;
  absl::MutexLock advancing(&advance_mu_);
  SteadyTime target;
  {
    absl::MutexLock lock(&mu_);
    target = start_ + manual_offset_ + d;
  }
  while (true) {
    std::function<void()> fn;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_ || timers_.empty() || timers_.begin()->first.when > target) {
        manual_offset_ = target - start_;
        return;
      }
      auto it = timers_.begin();
      // Time stands at the timer's due time while it runs (never moves backwards).
      if (it->first.when > start_ + manual_offset_) manual_offset_ = it->first.when - start_;
      fn = std::move(it->second);
      by_id_.erase(it->first.seq);
      timers_.erase(it);
    }
    fn();
  }
}

bool ServerClock::WakeTimerThread() const { return stopping_ || wake_; }

void ServerClock::TimerThread() {
  mu_.Lock();
  while (!stopping_) {
    wake_ = false;
    if (timers_.empty()) {
      mu_.Await(absl::Condition(this, &ServerClock::WakeTimerThread));
      continue;
    }
    auto it = timers_.begin();
    SteadyTime now = std::chrono::steady_clock::now();
    if (it->first.when > now) {
      // Sleep to the due time; Schedule() of an earlier timer and Stop() set wake_.
      mu_.AwaitWithTimeout(absl::Condition(this, &ServerClock::WakeTimerThread),
                           absl::FromChrono(std::chrono::duration_cast<std::chrono::nanoseconds>(it->first.when - now)));
      continue;
    }
    std::function<void()> fn = std::move(it->second);
    by_id_.erase(it->first.seq);
    timers_.erase(it);
    mu_.Unlock();
    fn();
    mu_.Lock();
  }
  mu_.Unlock();
}

void ServerClock::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    wake_ = true;
    timers_.clear();
    by_id_.clear();
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace k8slb::fakeapi
