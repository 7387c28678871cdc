#include "k8slb/random.h"

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "util/splitmix64.h"

namespace k8slb {
namespace {

// SplitMix64: one add and a mix per value; good enough statistically for load balancing and
// cheap enough for the pick path.
using util::SplitMix64Mix;
constexpr uint64_t kGamma = util::kSplitMix64Gamma;
inline uint64_t Mix(uint64_t z) { return SplitMix64Mix(z); }

// Each thread keeps its own SplitMix64 state per source, so Next() is a few instructions with no
// shared cache line. Per-thread states live in a tiny cache keyed by a never-reused source id
// (not the address: a new source may reuse a freed one's address). An earlier version kept one
// state per thread and reseeded it whenever a different source was used, so two pickers used
// alternately on one thread returned the same value again and again; the cache avoids that, and
// a slot that is evicted and taken again is reseeded with a fresh per-thread counter so a stream
// does not replay. Threads are numbered in order of first use, and every stream is also salted
// with a per-process random value: clients that share a seed (often the default 0) must not
// share streams, or every process would start round robin at the same endpoint. Reproducible
// runs use MakeSeededRandom.
std::atomic<uint64_t> next_source_id{1};
std::atomic<uint64_t> next_thread_index{0};

uint64_t ProcessSalt() {
  static const uint64_t salt = [] {
    std::random_device device;
    uint64_t hi = device();
    uint64_t lo = device();
    auto now = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    return Mix((hi << 32) ^ lo ^ Mix(now));
  }();
  return salt;
}

// The per-thread states of every ThreadLocalRandom: a tiny cache keyed by source id (all
// constant-initialized, so access needs no TLS init guard on the hot path).
struct ThreadStreams {
  struct Entry {
    uint64_t id = 0;
    uint64_t state = 0;
  };
  static constexpr int kEntries = 4;
  Entry cache[kEntries];
  uint64_t reseeds = 0;
  uint64_t thread_index = 0;  // 1-based once assigned
  int victim = 0;
};
thread_local ThreadStreams streams;

class ThreadLocalRandom final : public RandomSource {
 public:
  explicit ThreadLocalRandom(uint64_t seed)
      : seed_(seed), id_(next_source_id.fetch_add(1, std::memory_order_relaxed)) {}
  uint64_t Next() override {
    for (ThreadStreams::Entry& e : streams.cache) {
      if (e.id == id_) {
        e.state += kGamma;
        return Mix(e.state);
      }
    }
    return NextAfterMiss();
  }

 private:
  // This thread has no state for this source yet (or it was evicted): take a slot. Out of line,
  // so the hit path above needs no stack frame.
  [[gnu::noinline]] uint64_t NextAfterMiss() {
    ThreadStreams& t = streams;
    if (t.thread_index == 0) t.thread_index = next_thread_index.fetch_add(1, std::memory_order_relaxed) + 1;
    ThreadStreams::Entry& e = t.cache[t.victim];
    t.victim = (t.victim + 1) % ThreadStreams::kEntries;
    e.id = id_;
    e.state = Mix(seed_ ^ ProcessSalt() ^ Mix(t.thread_index + kGamma) ^ Mix(t.reseeds++ * kGamma + 1));
    e.state += kGamma;
    return Mix(e.state);
  }

  const uint64_t seed_;
  const uint64_t id_;
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
