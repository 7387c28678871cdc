#include "k8slb/random.h"

#include <atomic>
#include <chrono>
#include <thread>

namespace k8slb {
namespace {

// SplitMix64 (Steele, Lea, Flood 2014): one add and a mix per value; good enough statistically
// for load balancing and cheap enough for the pick path.
inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ULL;

class ThreadLocalRandom final : public RandomSource {
 public:
  explicit ThreadLocalRandom(uint64_t seed) : seed_(seed) {}
  uint64_t Next() override {
    // One stream per (source, thread): the thread id decorrelates threads without sharing a line.
    thread_local const ThreadLocalRandom* owner = nullptr;
    thread_local uint64_t state = 0;
    if (owner != this) {
      owner = this;
      state = Mix(seed_ ^ Mix(std::hash<std::thread::id>{}(std::this_thread::get_id())));
    }
    state += kGamma;
    return Mix(state);
  }

 private:
  const uint64_t seed_;
};

class SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t Next() override { return Mix(state_.fetch_add(kGamma, std::memory_order_relaxed) + kGamma); }

 private:
  std::atomic<uint64_t> state_;
};

class ScriptedRandom final : public RandomSource {
 public:
  explicit ScriptedRandom(std::vector<uint64_t> values) : values_(std::move(values)) {
    if (values_.empty()) values_.push_back(0);
  }
  uint64_t Next() override {
    return values_[next_.fetch_add(1, std::memory_order_relaxed) % values_.size()];
  }

 private:
  std::vector<uint64_t> values_;
  std::atomic<size_t> next_{0};
};

class SteadyClock final : public Clock {
 public:
  int64_t NowNanos() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

std::shared_ptr<RandomSource> MakeThreadLocalRandom(uint64_t seed) {
  return std::make_shared<ThreadLocalRandom>(seed);
}
std::shared_ptr<RandomSource> MakeSeededRandom(uint64_t seed) {
  return std::make_shared<SeededRandom>(seed);
}
std::shared_ptr<RandomSource> MakeScriptedRandom(std::vector<uint64_t> values) {
  return std::make_shared<ScriptedRandom>(std::move(values));
}
std::shared_ptr<Clock> MakeSteadyClock() { return std::make_shared<SteadyClock>(); }

ManualClock::ManualClock(int64_t start_nanos) : now_(start_nanos) {}
int64_t ManualClock::NowNanos() const { return now_.load(std::memory_order_acquire); }
void ManualClock::AdvanceNanos(int64_t delta) { now_.fetch_add(delta, std::memory_order_acq_rel); }
void ManualClock::SetNanos(int64_t now) { now_.store(now, std::memory_order_release); }

}  // namespace k8slb
