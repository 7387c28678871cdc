// Injectable randomness and time, so pickers, backoff, the simulator and tests are deterministic.
//
// RandomSource::Next() may be called from many threads at once on the pick path; implementations
// must be thread-safe and lock-free (the default keeps one generator per thread). Clock likewise.
#ifndef K8SLB_RANDOM_H_
#define K8SLB_RANDOM_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace k8slb {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // A uniformly distributed 64-bit value.
  virtual uint64_t Next() = 0;
  // Uniform in [0, n), n > 0 (Lemire's multiply-shift; bias below 2^-32 for n < 2^32).
  uint64_t Uniform(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
};

// Default for production: a per-thread SplitMix64 stream seeded from the seed, the thread and a
// per-process random salt (so processes that share a seed do not share streams; not
// reproducible across runs: use MakeSeededRandom for that).
std::shared_ptr<RandomSource> MakeThreadLocalRandom(uint64_t seed);
// Deterministic single stream (a mutex-free atomic SplitMix64 counter): same seed, same sequence.
std::shared_ptr<RandomSource> MakeSeededRandom(uint64_t seed);
// Returns the given values in order, cycling; for exact tests with scripted randomness.
std::shared_ptr<RandomSource> MakeScriptedRandom(std::vector<uint64_t> values);

// Monotonic time in nanoseconds since an arbitrary epoch.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowNanos() const = 0;
};

// std::chrono::steady_clock.
std::shared_ptr<Clock> MakeSteadyClock();

// A clock the owner advances by hand (tests, the virtual-time simulator). Thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t start_nanos = 0);
  int64_t NowNanos() const override;
  void AdvanceNanos(int64_t delta);
  void SetNanos(int64_t now);

 private:
  std::atomic<int64_t> now_;
};

}  // namespace k8slb

#endif  // K8SLB_RANDOM_H_
