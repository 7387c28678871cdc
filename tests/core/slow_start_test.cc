// Slow start: the factor against Envoy's formula, option validation, the carrying of ramp starts
// across snapshots, and the share a ramping endpoint gets from round robin and from P2C at several
// points of its window (seeded picks, binomial bounds), after it appears and after its ejection.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "k8slb/picker.h"
#include "k8slb/slow_start.h"
#include "picker_support.h"

namespace k8slb {
namespace {

using coretest::MakeEndpoints;
using coretest::MakeSet;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kWindow = 10 * kSecond;

SlowStartOptions Ramp(double aggression = 1.0, double min_weight = 0.1) {
  return SlowStartOptions{.window = std::chrono::nanoseconds(kWindow), .aggression = aggression, .min_weight = min_weight};
}

TEST(SlowStartFactor, FollowsEnvoysFormula) {
  const SlowStartOptions linear = Ramp();
  EXPECT_DOUBLE_EQ(SlowStartFactor(linear, 0), 0.1);  // min_weight floors the start
  EXPECT_DOUBLE_EQ(SlowStartFactor(linear, kWindow / 20), 0.1);
  EXPECT_DOUBLE_EQ(SlowStartFactor(linear, kWindow / 4), 0.25);
  EXPECT_DOUBLE_EQ(SlowStartFactor(linear, kWindow / 2), 0.5);
  EXPECT_DOUBLE_EQ(SlowStartFactor(linear, kWindow), 1.0);
  EXPECT_DOUBLE_EQ(SlowStartFactor(linear, 5 * kWindow), 1.0);
  EXPECT_DOUBLE_EQ(SlowStartFactor(linear, -kSecond), 0.1);  // a start in the future: the floor
  const SlowStartOptions fast = Ramp(/*aggression=*/2.0, /*min_weight=*/0.0);
  EXPECT_DOUBLE_EQ(SlowStartFactor(fast, kWindow / 4), 0.5);  // sqrt(1/4)
  EXPECT_NEAR(SlowStartFactor(fast, kWindow / 100), 0.1, 1e-12);
  const SlowStartOptions slow = Ramp(/*aggression=*/0.5, /*min_weight=*/0.0);
  EXPECT_DOUBLE_EQ(SlowStartFactor(slow, kWindow / 2), 0.25);  // (1/2)^2
  EXPECT_DOUBLE_EQ(SlowStartFactor(SlowStartOptions{}, 0), 1.0);  // off
}

TEST(SlowStartOptions, ValidationNamesTheField) {
  EXPECT_TRUE(ValidateSlowStartOptions(SlowStartOptions{}).ok());
  EXPECT_TRUE(ValidateSlowStartOptions(Ramp(3.0, 1.0)).ok());
  EXPECT_TRUE(ValidateSlowStartOptions(Ramp(1.0, 0.0)).ok());
  struct Bad {
    SlowStartOptions options;
    std::string field;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<Bad> bad = {
      {{.window = std::chrono::seconds(-1), .aggression = 1, .min_weight = 0.1}, "slow_start.window"},
      {Ramp(0.0), "slow_start.aggression"},
      {Ramp(-1.0), "slow_start.aggression"},
      {Ramp(nan), "slow_start.aggression"},
      {Ramp(std::numeric_limits<double>::infinity()), "slow_start.aggression"},
      {Ramp(1.0, -0.01), "slow_start.min_weight"},
      {Ramp(1.0, 1.5), "slow_start.min_weight"},
      {Ramp(1.0, nan), "slow_start.min_weight"},
  };
  for (const Bad& b : bad) {
    const absl::Status status = ValidateSlowStartOptions(b.options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << b.field;
    EXPECT_NE(status.message().find(b.field), std::string::npos) << status.message();
  }
  EXPECT_NE(ValidateSlowStartOptions(Ramp(0.0), "k8slb.slow_start").message().find("k8slb.slow_start.aggression"),
            std::string::npos);
}

// Snapshots of a growing service: `before` endpoints, then those plus `added` more.
struct Growth {
  std::shared_ptr<const EndpointSet> before;
  std::shared_ptr<const EndpointSet> after;
  std::vector<size_t> added;  // indices into `after`
};
Growth Grow(size_t before, size_t added) {
  std::vector<Endpoint> all = MakeEndpoints(before + added);
  Growth g;
  g.before = MakeSet(std::vector<Endpoint>(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(before)));
  g.after = MakeSet(all);
  for (size_t k = 0; k < g.after->size(); ++k) {
    if (!g.before->Find(g.after->endpoints()[k].HostPort())) g.added.push_back(k);
  }
  return g;
}

TEST(StartSlowStartRamps, NewEndpointsStartPresentOnesKeepTheirTime) {
  Growth g = Grow(3, 1);
  StartSlowStartRamps(nullptr, *g.before, 5 * kSecond);  // the first snapshot starts no ramp
  for (const Endpoint& e : g.before->endpoints()) EXPECT_EQ(e.stats->ready_since_nanos.load(), kNoRampStart);
  StartSlowStartRamps(g.before.get(), *g.after, 7 * kSecond);
  const Endpoint& added = g.after->endpoints()[g.added[0]];
  EXPECT_EQ(added.stats->ready_since_nanos.load(), 7 * kSecond);
  // A later snapshot with the same endpoints (and one more) keeps the first one's start...
  std::vector<Endpoint> next = g.after->endpoints();
  next.push_back(MakeEndpoints(6).back());
  auto later = MakeSet(next, 2);
  StartSlowStartRamps(g.after.get(), *later, 9 * kSecond);
  EXPECT_EQ(added.stats->ready_since_nanos.load(), 7 * kSecond);
  EXPECT_EQ(later->endpoints()[*later->Find(next.back().HostPort())].stats->ready_since_nanos.load(), 9 * kSecond);
  for (const Endpoint& e : g.before->endpoints()) EXPECT_EQ(e.stats->ready_since_nanos.load(), kNoRampStart);
  // ...also when the new snapshot carries fresh stats objects for the same endpoints.
  std::vector<Endpoint> copies = later->endpoints();
  for (Endpoint& e : copies) e.stats = std::make_shared<EndpointStats>();
  auto rebuilt = MakeSet(copies, 3);
  StartSlowStartRamps(later.get(), *rebuilt, 11 * kSecond);
  EXPECT_EQ(rebuilt->endpoints()[g.added[0]].stats->ready_since_nanos.load(), 7 * kSecond);
  EXPECT_EQ(rebuilt->endpoints()[0].stats->ready_since_nanos.load(), kNoRampStart);
  // An endpoint that left and came back starts over.
  StartSlowStartRamps(g.before.get(), *rebuilt, 13 * kSecond);
  EXPECT_EQ(rebuilt->endpoints()[g.added[0]].stats->ready_since_nanos.load(), 13 * kSecond);
}

// A snapshot that keeps none of the previous one's endpoints is like a first one: every endpoint
// is new, so none ramps (an empty snapshot before the first endpoints, a complete replacement).
TEST(StartSlowStartRamps, NothingKeptStartsNoRamp) {
  Growth g = Grow(2, 2);
  StartSlowStartRamps(MakeSet({}).get(), *g.before, 5 * kSecond);
  for (const Endpoint& e : g.before->endpoints()) EXPECT_EQ(e.stats->ready_since_nanos.load(), kNoRampStart);
  std::vector<Endpoint> replaced(g.after->endpoints().begin() + 2, g.after->endpoints().end());
  auto replacement = MakeSet(replaced, 2);
  StartSlowStartRamps(g.before.get(), *replacement, 7 * kSecond);
  for (const Endpoint& e : replacement->endpoints()) EXPECT_EQ(e.stats->ready_since_nanos.load(), kNoRampStart);
  // One endpoint kept is enough for the others to ramp.
  StartSlowStartRamps(replacement.get(), *g.after, 9 * kSecond);
  for (size_t k : g.added) EXPECT_EQ(g.after->endpoints()[k].stats->ready_since_nanos.load(), kNoRampStart);
  EXPECT_EQ(g.after->endpoints()[0].stats->ready_since_nanos.load(), 9 * kSecond);
}

struct Policy {
  const char* name;
  PickPolicy policy;
  LoadSignal signal;
};
constexpr Policy kPolicies[] = {
    {"round-robin", PickPolicy::kRoundRobin, LoadSignal::kInFlight},
    {"least-request", PickPolicy::kLeastRequest, LoadSignal::kInFlight},
    {"peak-ewma", PickPolicy::kLeastRequest, LoadSignal::kPeakEwmaLatency},
};

PickerOptions With(const Policy& p, std::shared_ptr<Clock> clock, SlowStartOptions slow_start, uint64_t seed) {
  PickerOptions o{.policy = p.policy, .load_signal = p.signal, .client_zone = std::nullopt,
                  .random = MakeSeededRandom(seed), .clock = std::move(clock), .seed = seed};
  o.slow_start = slow_start;
  return o;
}

// The share the rule of each policy gives one ramping endpoint with factor f among n endpoints
// whose others are at full weight and all idle (picker.h): round robin f/(n-1+f), P2C f/n (the
// pair holds it with probability 2/n, it takes part with probability f, and idle costs tie).
double ExpectedShare(const Policy& p, double f, size_t n) {
  return p.policy == PickPolicy::kRoundRobin ? f / (static_cast<double>(n) - 1 + f) : f / static_cast<double>(n);
}

// Counts `picks` picks of `picker` that land on `target`.
int CountPicks(const Picker& picker, size_t target, int picks) {
  int hits = 0;
  for (int i = 0; i < picks; ++i) {
    const Endpoint* e = picker.Pick();
    if (e == &picker.set().endpoints()[target]) ++hits;
  }
  return hits;
}

// Within 5 standard deviations of the binomial(picks, share) mean: a seeded run, so this either
// always passes or always fails; 5σ keeps a correct rule from failing at another seed (p < 1e-6).
void ExpectShare(int hits, int picks, double share, const std::string& what) {
  const double mean = picks * share;
  const double sigma = std::sqrt(picks * share * (1 - share));
  EXPECT_NEAR(hits, mean, 5 * sigma + 1) << what << ": expected share " << share << ", got "
                                          << static_cast<double>(hits) / picks;
}

TEST(SlowStartPicker, ANewEndpointsShareFollowsTheRamp) {
  constexpr int kPicks = 40'000;
  for (const Policy& p : kPolicies) {
    for (double aggression : {1.0, 2.0}) {
      Growth g = Grow(4, 1);
      const int64_t t0 = 100 * kSecond;
      StartSlowStartRamps(nullptr, *g.before, 0);
      StartSlowStartRamps(g.before.get(), *g.after, t0);
      auto clock = std::make_shared<ManualClock>(t0);
      const SlowStartOptions ramp = Ramp(aggression);
      // One picker for the whole window, as a client keeps it while the set does not change.
      auto picker = MakePicker(g.after, With(p, clock, ramp, 7));
      for (double at : {0.0, 0.25, 0.5, 0.75, 1.0, 1.5}) {
        clock->SetNanos(t0 + static_cast<int64_t>(at * kWindow));
        const double f = SlowStartFactor(ramp, static_cast<int64_t>(at * kWindow));
        const int hits = CountPicks(*picker, g.added[0], kPicks);
        ExpectShare(hits, kPicks, ExpectedShare(p, f, 5),
                    std::string(p.name) + " aggression " + std::to_string(aggression) + " at " + std::to_string(at));
      }
    }
  }
}

// Several new endpoints at once (a scale-up): round robin gives them k·f / (m + k·f) together
// (m old ones); P2C redraws a pair of two new endpoints that both declined, so together they get
// [P(nn)·(1 − (1 − f)²) + P(on)·f/2] / [1 − P(nn)·(1 − f)²] at idle, where P(nn) and P(on) are
// the chances that a pair holds two new endpoints or one of each.
TEST(SlowStartPicker, SeveralNewEndpointsShareByTheRule) {
  constexpr int kPicks = 40'000;
  constexpr size_t kOld = 4, kNew = 4, kN = kOld + kNew;
  for (const Policy& p : kPolicies) {
    Growth g = Grow(kOld, kNew);
    const int64_t t0 = 100 * kSecond;
    StartSlowStartRamps(g.before.get(), *g.after, t0);
    auto clock = std::make_shared<ManualClock>(t0);
    auto picker = MakePicker(g.after, With(p, clock, Ramp(), 9));
    for (double at : {0.0, 0.5}) {
      clock->SetNanos(t0 + static_cast<int64_t>(at * kWindow));
      const double f = SlowStartFactor(Ramp(), static_cast<int64_t>(at * kWindow));
      double expected = 0;
      if (p.policy == PickPolicy::kRoundRobin) {
        expected = kNew * f / (kOld + kNew * f);
      } else {
        const double pairs = kN * (kN - 1.0);
        const double nn = kNew * (kNew - 1.0) / pairs, on = 2.0 * kOld * kNew / pairs;
        expected = (nn * (1 - (1 - f) * (1 - f)) + on * f / 2) / (1 - nn * (1 - f) * (1 - f));
      }
      int hits = 0;
      for (int i = 0; i < kPicks; ++i) {
        const size_t k = static_cast<size_t>(picker->Pick() - g.after->endpoints().data());
        hits += std::find(g.added.begin(), g.added.end(), k) != g.added.end();
      }
      ExpectShare(hits, kPicks, expected, std::string(p.name) + " four new at " + std::to_string(at));
    }
  }
}

TEST(SlowStartPicker, TheRampRestartsWhenAnEjectionEnds) {
  constexpr int kPicks = 40'000;
  for (const Policy& p : kPolicies) {
    auto set = MakeSet(MakeEndpoints(5));
    StartSlowStartRamps(nullptr, *set, 0);  // all there from the start: no ramp
    const int64_t ejection_end = 50 * kSecond;
    set->endpoints()[1].stats->SetEjectedUntil(ejection_end);
    auto clock = std::make_shared<ManualClock>(ejection_end - kSecond);
    auto picker = MakePicker(set, With(p, clock, Ramp(), 3));
    EXPECT_EQ(CountPicks(*picker, 1, 1000), 0) << p.name << ": ejected";
    for (double at : {0.1, 0.5, 0.9, 1.0}) {
      clock->SetNanos(ejection_end + static_cast<int64_t>(at * kWindow));
      const double f = SlowStartFactor(Ramp(), static_cast<int64_t>(at * kWindow));
      ExpectShare(CountPicks(*picker, 1, kPicks), kPicks, ExpectedShare(p, f, 5),
                  std::string(p.name) + " after ejection at " + std::to_string(at));
    }
  }
}

// A window of 0 (or no options) leaves every pick as it was, ramp starts or not.
TEST(SlowStartPicker, OffChangesNothing) {
  for (const Policy& p : kPolicies) {
    for (SlowStartOptions off : {SlowStartOptions{}, SlowStartOptions{.window = std::chrono::nanoseconds(0),
                                                                       .aggression = 3, .min_weight = 0}}) {
      Growth g = Grow(4, 2);
      auto clock = std::make_shared<ManualClock>(kSecond);
      auto reference = MakePicker(g.after, With(p, clock, SlowStartOptions{}, 11));
      std::vector<const Endpoint*> expected;
      for (int i = 0; i < 2000; ++i) expected.push_back(reference->Pick());
      StartSlowStartRamps(g.before.get(), *g.after, kSecond);
      auto picker = MakePicker(g.after, With(p, clock, off, 11));
      for (int i = 0; i < 2000; ++i) ASSERT_EQ(picker->Pick(), expected[i]) << p.name << " pick " << i;
    }
  }
}

// Counts clock reads.
class CountingClock final : public Clock {
 public:
  explicit CountingClock(int64_t now) : now_(now) {}
  int64_t NowNanos() const override {
    reads_.fetch_add(1);
    return now_.load();
  }
  void Set(int64_t now) { now_.store(now); }
  int64_t reads() const { return reads_.load(); }

 private:
  std::atomic<int64_t> now_;
  mutable std::atomic<int64_t> reads_{0};
};

// In-flight P2C and round robin read no clock per pick unless an endpoint of the snapshot may be
// ramping; past the last window's end one pick reads it and the rest do not.
TEST(SlowStartPicker, TheClockIsReadOnlyWhileAWindowIsOpen) {
  for (const Policy& p : {kPolicies[0], kPolicies[1]}) {
    Growth g = Grow(4, 1);
    StartSlowStartRamps(g.before.get(), *g.after, 10 * kSecond);
    auto clock = std::make_shared<CountingClock>(10 * kSecond);
    auto picker = MakePicker(g.after, With(p, clock, Ramp(), 5));
    int64_t before = clock->reads();
    for (int i = 0; i < 100; ++i) picker->Pick();
    EXPECT_GE(clock->reads() - before, 50) << p.name << ": inside the window";
    clock->Set(10 * kSecond + kWindow);
    picker->Pick();
    before = clock->reads();
    for (int i = 0; i < 100; ++i) picker->Pick();
    EXPECT_EQ(clock->reads(), before) << p.name << ": after the window";
    // A picker built after every window ended reads the clock once, when it is built.
    before = clock->reads();
    auto later = MakePicker(g.after, With(p, clock, Ramp(), 5));
    for (int i = 0; i < 100; ++i) later->Pick();
    EXPECT_EQ(clock->reads() - before, 1) << p.name;
  }
}

}  // namespace
}  // namespace k8slb
