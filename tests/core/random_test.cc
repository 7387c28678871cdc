// Injected randomness and clocks (random.h): determinism for seeded sources, scripted values,
// per-thread streams that do not repeat, and Uniform's range.
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "k8slb/random.h"

namespace k8slb {
namespace {

std::vector<uint64_t> Draw(RandomSource& r, int n) {
  std::vector<uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(r.Next());
  return out;
}

TEST(Random, SeededIsDeterministicPerSeed) {
  auto a = MakeSeededRandom(42), b = MakeSeededRandom(42), c = MakeSeededRandom(43);
  std::vector<uint64_t> va = Draw(*a, 100);
  EXPECT_EQ(va, Draw(*b, 100));
  EXPECT_NE(va, Draw(*c, 100));
  EXPECT_EQ(std::set<uint64_t>(va.begin(), va.end()).size(), 100u);
}

TEST(Random, ScriptedCycles) {
  auto r = MakeScriptedRandom({7, 8, 9});
  EXPECT_EQ(Draw(*r, 7), (std::vector<uint64_t>{7, 8, 9, 7, 8, 9, 7}));
  EXPECT_EQ(MakeScriptedRandom({})->Next(), 0u);
}

TEST(Random, ThreadLocalSourcesUsedAlternatelyDoNotRepeat) {
  // Regression: one per-thread state reseeded on every switch of source returned the same value
  // again and again when two pickers were used alternately on one thread.
  std::vector<std::shared_ptr<RandomSource>> sources;
  for (int i = 0; i < 6; ++i) sources.push_back(MakeThreadLocalRandom(1));  // more than the cache holds
  std::set<uint64_t> seen;
  for (int i = 0; i < 6000; ++i) seen.insert(sources[i % sources.size()]->Next());
  EXPECT_EQ(seen.size(), 6000u);
}

TEST(Random, ThreadLocalStreamsDifferAcrossThreads) {
  auto r = MakeThreadLocalRandom(5);
  std::vector<uint64_t> a, b;
  std::thread t1([&] { a = Draw(*r, 50); });
  t1.join();
  std::thread t2([&] { b = Draw(*r, 50); });
  t2.join();
  EXPECT_NE(a, b);
}

TEST(Random, UniformStaysInRangeAndCoversIt) {
  auto r = MakeSeededRandom(3);
  for (uint64_t n : {1ull, 2ull, 3ull, 10ull, 1000ull, (1ull << 40) + 7}) {
    std::set<uint64_t> seen;
    for (int i = 0; i < 5000; ++i) {
      uint64_t v = r->Uniform(n);
      ASSERT_LT(v, n);
      seen.insert(v);
    }
    if (n <= 10) {
      EXPECT_EQ(seen.size(), n);
    }
  }
  // Frequencies for n = 10 within 5 sigma of 1/10 over 100k draws (sigma ≈ 94.9).
  std::vector<int> counts(10);
  for (int i = 0; i < 100000; ++i) ++counts[r->Uniform(10)];
  for (int c : counts) EXPECT_NEAR(c, 10000, 475);
}

TEST(Clock, ManualAndSteady) {
  ManualClock m(100);
  EXPECT_EQ(m.NowNanos(), 100);
  m.AdvanceNanos(50);
  EXPECT_EQ(m.NowNanos(), 150);
  m.SetNanos(7);
  EXPECT_EQ(m.NowNanos(), 7);
  auto s = MakeSteadyClock();
  int64_t t0 = s->NowNanos();
  EXPECT_GE(s->NowNanos(), t0);
}

}  // namespace
}  // namespace k8slb
