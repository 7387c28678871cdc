// The latency signal's update rule (peak-EWMA, after Finagle's PeakEwma), exact on a manual clock,
// and the power-of-two-choices picker over each load signal.
#include "k8slb/load_signal.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "k8slb/orca.h"
#include "k8slb/picker.h"
#include "picker_support.h"

namespace k8slb {
namespace {

constexpr int64_t kMs = 1000000;

// The one name list: every name resolves to its policy and signal, unknown names do not.
TEST(NamedPolicyTest, EveryNameResolvesToItsPolicyAndSignal) {
  ASSERT_EQ(std::size(kNamedPolicies), 5u);
  EXPECT_EQ(FindNamedPolicy("round-robin")->policy, PickPolicy::kRoundRobin);
  EXPECT_EQ(FindNamedPolicy("least-request")->policy, PickPolicy::kLeastRequest);
  EXPECT_EQ(FindNamedPolicy("least-request")->load_signal, LoadSignal::kInFlight);
  EXPECT_EQ(FindNamedPolicy("peak-ewma")->policy, PickPolicy::kLeastRequest);
  EXPECT_EQ(FindNamedPolicy("peak-ewma")->load_signal, LoadSignal::kPeakEwmaLatency);
  EXPECT_EQ(FindNamedPolicy("latency-ewma")->policy, PickPolicy::kLeastRequest);
  EXPECT_EQ(FindNamedPolicy("latency-ewma")->load_signal, LoadSignal::kLatencyEwma);
  EXPECT_EQ(FindNamedPolicy("orca-weighted")->policy, PickPolicy::kLeastRequest);
  EXPECT_EQ(FindNamedPolicy("orca-weighted")->load_signal, LoadSignal::kOrcaWeighted);
  EXPECT_EQ(kNamedPolicies[4].name, "orca-weighted");  // appended: existing indices keep their meaning
  EXPECT_EQ(FindNamedPolicy("clusterip"), std::nullopt);
  EXPECT_EQ(FindNamedPolicy(""), std::nullopt);
}

TEST(LoadSignalTest, NamesRoundTrip) {
  EXPECT_EQ(LoadSignalName(LoadSignal::kInFlight), "in-flight");
  EXPECT_EQ(LoadSignalName(LoadSignal::kPeakEwmaLatency), "peak-ewma");
  EXPECT_EQ(ParseLoadSignal("peak-ewma"), LoadSignal::kPeakEwmaLatency);
  EXPECT_EQ(ParseLoadSignal("in-flight"), LoadSignal::kInFlight);
  EXPECT_EQ(LoadSignalName(LoadSignal::kLatencyEwma), "latency-ewma");
  EXPECT_EQ(ParseLoadSignal("latency-ewma"), LoadSignal::kLatencyEwma);
  EXPECT_EQ(ParseLoadSignal("ewma"), std::nullopt);
  EXPECT_EQ(LoadSignalName(LoadSignal::kOrcaWeighted), "orca-weighted");
  EXPECT_EQ(ParseLoadSignal("orca-weighted"), LoadSignal::kOrcaWeighted);
  EXPECT_EQ(ParseLoadSignal("orca_weighted"), LoadSignal::kOrcaWeighted);
}

TEST(LatencySignalTest, TheMeanRuleMovesAtLeastHalfWayAndAtMostDoubles) {
  EndpointStats s;
  const int64_t tau = 10000 * kMs;
  LatencySignal::UpdateMean(s, 2 * kMs, 0, tau);  // the first sample sets the value
  EXPECT_DOUBLE_EQ(s.latency_ewma_nanos.load(), 2.0 * kMs);
  LatencySignal::UpdateMean(s, 20 * kMs, 1 * kMs, tau);  // a spike: half way up would be 11 ms;
  EXPECT_DOUBLE_EQ(s.latency_ewma_nanos.load(), 4.0 * kMs);  // one sample at most doubles
  LatencySignal::UpdateMean(s, 5 * kMs, 1 * kMs, tau);  // below the cap: half way
  EXPECT_DOUBLE_EQ(s.latency_ewma_nanos.load(), 4.5 * kMs);
  // Samples 1 ms apart (time weight 1 - e^(-1/10000) ~ 1e-4): the floor 1/2 applies, so four fast
  // answers bring the value within 1/16 of the way back.
  double expected = 4.5 * kMs;
  for (int i = 0; i < 4; ++i) {
    LatencySignal::UpdateMean(s, 2 * kMs, (2 + i) * kMs, tau);
    expected += (2.0 * kMs - expected) / 2;
    EXPECT_DOUBLE_EQ(s.latency_ewma_nanos.load(), expected);
  }
  EXPECT_NEAR(s.latency_ewma_nanos.load(), 2.0 * kMs + 2.5 * kMs / 16, 1);
  // A sample long after the last (Δt = 2τ): weight 1 - e^-2 = 0.865, more than the floor.
  const double before = s.latency_ewma_nanos.load();
  LatencySignal::UpdateMean(s, 1 * kMs, 5 * kMs + 2 * tau, tau);
  EXPECT_NEAR(s.latency_ewma_nanos.load(), before + (1.0 * kMs - before) * (1 - std::exp(-2.0)), 1);
  EXPECT_EQ(s.latency_stamp_nanos.load(), 5 * kMs + 2 * tau);
}

// latency-ewma's comparison: in-flight counts within the tolerance, latency × (in flight + 1)
// beyond it, and the unmeasured rules of Cost() for an endpoint without samples.
TEST(LatencySignalTest, PairCostComparesInFlightWithinTheToleranceAndCostsBeyondIt) {
  const int64_t tau = 10000 * kMs;
  EndpointStats a, b;
  LatencySignal::UpdateMean(a, 1 * kMs, 0, tau);
  LatencySignal::UpdateMean(b, 2 * kMs, 0, tau);  // exactly 2x: still within
  a.in_flight = 3;
  b.in_flight = 1;
  auto [ca, cb] = LatencySignal::PairCost(a, b, 0, tau);
  EXPECT_EQ(ca, 3.0);
  EXPECT_EQ(cb, 1.0);  // b wins on in-flight although it is twice as slow
  LatencySignal::UpdateMean(b, 6 * kMs, 0, tau);  // now 4 ms: beyond 2x
  std::tie(ca, cb) = LatencySignal::PairCost(a, b, 0, tau);
  EXPECT_DOUBLE_EQ(ca, 1.0 * kMs * 4);
  EXPECT_DOUBLE_EQ(cb, 4.0 * kMs * 2);
  EXPECT_LT(ca, cb);
  // The tolerance is symmetric.
  std::tie(cb, ca) = LatencySignal::PairCost(b, a, 0, tau);
  EXPECT_LT(ca, cb);
  // Decay on read brings a silent endpoint back within the tolerance: after τ·ln 2 its 4 ms read
  // as 2 ms against a's 1 ms refreshed now.
  const int64_t later = static_cast<int64_t>(std::log(2.0) * static_cast<double>(tau)) + 1;
  LatencySignal::UpdateMean(a, 1 * kMs, later, tau);
  std::tie(ca, cb) = LatencySignal::PairCost(a, b, later, tau);
  EXPECT_EQ(ca, 3.0);
  EXPECT_EQ(cb, 1.0);
  // Unmeasured: 0 when idle (tried at once), the busy penalty otherwise.
  EndpointStats fresh;
  std::tie(ca, cb) = LatencySignal::PairCost(a, fresh, later, tau);
  EXPECT_EQ(cb, 0.0);
  fresh.in_flight = 1;
  std::tie(ca, cb) = LatencySignal::PairCost(a, fresh, later, tau);
  EXPECT_EQ(cb, LatencySignal::kUnmeasuredBusyCost + 1);
}

TEST(LatencySignalTest, RecordAppliesTheRuleOfItsSignal) {
  auto clock = std::make_shared<ManualClock>(0);
  EndpointStats peak, mean;
  LatencySignal peak_signal(std::chrono::seconds(10), clock, LoadSignal::kPeakEwmaLatency);
  LatencySignal mean_signal(std::chrono::seconds(10), clock, LoadSignal::kLatencyEwma);
  for (int64_t rtt : {50 * kMs, 2 * kMs, 3 * kMs, 20 * kMs}) {
    const LatencySignal::CallStart start = mean_signal.Start(mean);  // nothing in flight: 0
    clock->AdvanceNanos(rtt);
    peak_signal.Record(peak, start, CallOutcome::kSuccess);
    mean_signal.Record(mean, start, CallOutcome::kSuccess);
    if (rtt == 50 * kMs) {
      EXPECT_EQ(peak.latency_ewma_nanos.load(), 50.0 * kMs) << "peak-ewma takes the first";
    }
    if (rtt == 50 * kMs || rtt == 2 * kMs) {
      EXPECT_EQ(LatencySignal::Cost(mean, clock->NowNanos(), 10 * 1000 * kMs), 0.0)
          << "latency-ewma: unmeasured until its first " << LatencySignal::kFirstAnswers << " answers";
    }
    if (rtt == 3 * kMs) {
      EXPECT_DOUBLE_EQ(mean.latency_ewma_nanos.load(), 2.0 * kMs) << "starts at their minimum";
    }
  }
  EXPECT_EQ(mean.latency_answers.load(), 4u);
  const double peak_before = peak.latency_ewma_nanos.load();
  EXPECT_LT(peak_before, 50.0 * kMs);  // 50 ms decaying toward the lower samples
  EXPECT_DOUBLE_EQ(mean.latency_ewma_nanos.load(), 4.0 * kMs);  // 2 ms, then 20 ms capped at twice
  // latency-ewma records latency per call in flight at the start: 12 ms with 4 in flight (this
  // call among them) is 3 ms, half way from 4 ms; peak-ewma records the 12 ms.
  peak.in_flight = 4;
  mean.in_flight = 4;
  const LatencySignal::CallStart busy = mean_signal.Start(mean);
  EXPECT_EQ(busy.in_flight, 4);
  clock->AdvanceNanos(12 * kMs);
  peak_signal.Record(peak, busy, CallOutcome::kSuccess);
  mean_signal.Record(mean, busy, CallOutcome::kSuccess);
  EXPECT_DOUBLE_EQ(mean.latency_ewma_nanos.load(), 3.5 * kMs);
  EXPECT_LT(peak.latency_ewma_nanos.load(), peak_before);
  EXPECT_GT(peak.latency_ewma_nanos.load(), 12.0 * kMs);
  EXPECT_EQ(mean_signal.signal(), LoadSignal::kLatencyEwma);
}

// Cost's decay on read uses a polynomial for small ages and std::exp beyond: both agree with
// e^(−age/τ) to 1e-9 relative across the switch and far past it.
TEST(LatencySignalTest, DecayOnReadMatchesTheExponentialAtEveryAge) {
  EndpointStats s;
  const int64_t tau = 10000 * kMs;
  LatencySignal::Update(s, 4 * kMs, 0, tau);
  for (int64_t age : {int64_t{1}, kMs, 50 * kMs, 99 * kMs, 100 * kMs, 101 * kMs, 5000 * kMs, tau, 7 * tau}) {
    const double expected = 4.0 * kMs * std::exp(-static_cast<double>(age) / static_cast<double>(tau));
    EXPECT_NEAR(LatencySignal::Cost(s, age, tau), expected, expected * 1e-9) << age;
  }
}

TEST(LatencySignalTest, APeakReplacesAtOnceALowerSampleDecaysIn) {
  EndpointStats s;
  const int64_t tau = 1000 * kMs;
  LatencySignal::Update(s, 10 * kMs, 0, tau);
  EXPECT_DOUBLE_EQ(s.latency_ewma_nanos.load(), 10.0 * kMs);
  LatencySignal::Update(s, 20 * kMs, 5 * kMs, tau);  // slower: the peak, at once
  EXPECT_DOUBLE_EQ(s.latency_ewma_nanos.load(), 20.0 * kMs);
  LatencySignal::Update(s, 10 * kMs, 5 * kMs + tau, tau);  // one τ later, faster: weight e^-1 stays
  const double w = std::exp(-1.0);
  EXPECT_NEAR(s.latency_ewma_nanos.load(), 20.0 * kMs * w + 10.0 * kMs * (1 - w), 1.0);
  EXPECT_EQ(s.latency_stamp_nanos.load(), 5 * kMs + tau);
  // A sample at the same instant as the last one keeps the value (Δt = 0: weight 1).
  const double before = s.latency_ewma_nanos.load();
  LatencySignal::Update(s, 1 * kMs, 5 * kMs + tau, tau);
  EXPECT_DOUBLE_EQ(s.latency_ewma_nanos.load(), before);
}

TEST(LatencySignalTest, RecordsSuccessesOnTheInjectedClockOnly) {
  auto clock = std::make_shared<ManualClock>(100 * kMs);
  LatencySignal signal(std::chrono::milliseconds(1000), clock);
  EndpointStats s;
  const LatencySignal::CallStart start = signal.Start(s);
  EXPECT_EQ(start.nanos, 100 * kMs);
  clock->AdvanceNanos(7 * kMs);
  signal.Record(s, start, CallOutcome::kUnavailable);
  signal.Record(s, start, CallOutcome::kNeutral);
  signal.Record(s, start, CallOutcome::kServerError);
  EXPECT_EQ(s.latency_ewma_nanos.load(), 0.0) << "a failure must not make an endpoint look cheap";
  signal.Record(s, start, CallOutcome::kSuccess);
  EXPECT_DOUBLE_EQ(s.latency_ewma_nanos.load(), 7.0 * kMs);
  EXPECT_EQ(s.latency_stamp_nanos.load(), 107 * kMs);
}

// The cost: ewma × (in_flight + 1), decayed on read by e^(−age/τ) (Finagle), with Finagle's
// Penalty for an unmeasured endpoint that has calls in flight. Exact to 1 ns on explicit times.
TEST(LatencySignalTest, CostDecaysOnReadAndPenalisesABusyUnmeasuredEndpoint) {
  EndpointStats s;
  const int64_t tau = 1000 * kMs;
  EXPECT_EQ(LatencySignal::Cost(s, 0, tau), 0.0);  // unmeasured and idle: tried at once
  s.in_flight.store(2);
  EXPECT_EQ(LatencySignal::Cost(s, 0, tau), LatencySignal::kUnmeasuredBusyCost + 2);
  LatencySignal::Update(s, 4 * kMs, 10 * kMs, tau);
  EXPECT_DOUBLE_EQ(LatencySignal::Cost(s, 10 * kMs, tau), 12.0 * kMs);  // fresh: no decay
  EXPECT_NEAR(LatencySignal::Cost(s, 10 * kMs + tau, tau), 12.0 * kMs * std::exp(-1.0), 1.0);
  EXPECT_NEAR(LatencySignal::Cost(s, 10 * kMs + 3 * tau, tau), 12.0 * kMs * std::exp(-3.0), 1.0);
  // Reading does not write: the stored value stays, and the next sample blends from it.
  EXPECT_DOUBLE_EQ(s.latency_ewma_nanos.load(), 4.0 * kMs);
  EXPECT_EQ(s.latency_stamp_nanos.load(), 10 * kMs);
  // A reader whose now is behind the stamp (another thread's newer sample) sees no decay.
  EXPECT_DOUBLE_EQ(LatencySignal::Cost(s, 0, tau), 12.0 * kMs);
}

// Finagle's rule on the pick path: an endpoint whose last answer was slow (100 ms) and that then
// gets no traffic is not starved behind a fast one (10 ms, answering all the time): once
// 100·e^(−t/τ) < 10, i.e. t > τ·ln 10, it wins the comparison and is probed again. Checked just
// before and just after that instant on a manual clock (5 % either side). Without the decay it
// would lose forever; with the decay not read from the picker's clock, likewise.
TEST(PickerLoadSignalTest, AStalePeakDecaysUntilTheEndpointIsProbedAgain) {
  auto clock = std::make_shared<ManualClock>(0);
  const int64_t tau = 1000 * kMs;
  auto set = coretest::MakeSet(coretest::MakeEndpoints(2));
  EndpointStats& slow = *set->endpoints()[0].stats;
  EndpointStats& fast = *set->endpoints()[1].stats;
  LatencySignal::Update(slow, 100 * kMs, 0, tau);
  auto picker = MakePicker(set, PickerOptions{.policy = PickPolicy::kLeastRequest,
                                              .load_signal = LoadSignal::kPeakEwmaLatency,
                                              .latency_decay = std::chrono::nanoseconds(tau),
                                              .client_zone = {}, .random = MakeSeededRandom(7), .clock = clock});
  const double crossing = static_cast<double>(tau) * std::log(10.0);
  for (double at : {0.0, 0.5 * crossing, 0.95 * crossing, 1.05 * crossing, 2.0 * crossing}) {
    clock->SetNanos(static_cast<int64_t>(at));
    // The fast endpoint has just answered in 10 ms (fresh, so it does not decay).
    fast.latency_ewma_nanos.store(10.0 * kMs);
    fast.latency_stamp_nanos.store(clock->NowNanos());
    const Endpoint* e = picker->Pick();
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e - set->endpoints().data(), at < crossing ? 1 : 0) << "at " << at / 1e6 << " ms";
  }
}

// Two endpoints: P2C always samples both, so the pick shows which cost the signal compares.
// Endpoint 0: 10 ms, idle (cost 10 ms); endpoint 1: 1 ms, one call in flight (cost 2 ms).
TEST(PickerLoadSignalTest, InFlightAndPeakEwmaDisagreeExactlyWhereTheyShould) {
  auto clock = std::make_shared<ManualClock>(0);  // samples stamped 0: read at once, no decay
  auto set = coretest::MakeSet(coretest::MakeEndpoints(2));
  set->endpoints()[0].stats->latency_ewma_nanos.store(10.0 * kMs);
  set->endpoints()[1].stats->latency_ewma_nanos.store(1.0 * kMs);
  set->endpoints()[1].stats->in_flight.store(1);
  for (LoadSignal signal : {LoadSignal::kInFlight, LoadSignal::kPeakEwmaLatency}) {
    auto picker = MakePicker(set, PickerOptions{.policy = PickPolicy::kLeastRequest, .load_signal = signal,
                                                .client_zone = {}, .random = MakeSeededRandom(3), .clock = clock});
    for (int i = 0; i < 50; ++i) {
      const Endpoint* e = picker->Pick();
      ASSERT_NE(e, nullptr);
      EXPECT_EQ(e - set->endpoints().data(), signal == LoadSignal::kInFlight ? 0 : 1) << LoadSignalName(signal);
    }
  }
}

TEST(PickerLoadSignalTest, PeakEwmaSkipsIneligibleEndpointsLikeEveryPolicy) {
  auto set = coretest::MakeSet(coretest::MakeEndpoints(3));
  set->endpoints()[0].stats->latency_ewma_nanos.store(1.0);  // cheapest, but failing
  set->endpoints()[0].stats->connection_failing.store(true);
  set->endpoints()[1].stats->latency_ewma_nanos.store(5.0);
  set->endpoints()[2].stats->latency_ewma_nanos.store(9.0);
  auto picker = MakePicker(set, PickerOptions{.policy = PickPolicy::kLeastRequest,
                                              .load_signal = LoadSignal::kPeakEwmaLatency, .client_zone = {},
                                              .random = MakeSeededRandom(5),
                                              .clock = std::make_shared<ManualClock>(0)});
  for (int i = 0; i < 200; ++i) EXPECT_NE(picker->Pick() - set->endpoints().data(), 0);
}

// orca-weighted: two endpoints with equal qps, utilization 0.9 (weight 100/0.9 ≈ 111) and 0.1
// (weight 1000). P2C always samples both; cost (in flight + 1) / weight. The light one wins
// while (n + 1)/1000 is below the idle busy one's 0.9/100 = 0.009: n = 7 still wins (0.008),
// n = 8 ties, n = 9 loses (0.01). Before the 10-s blackout has passed, neither has a weight and
// the in-flight counts decide; an endpoint without one takes the other's weight.
TEST(PickerLoadSignalTest, OrcaWeightedComparesInFlightOverTheReportedWeight) {
  constexpr int64_t kS = 1'000'000'000;
  auto clock = std::make_shared<ManualClock>(0);
  auto set = coretest::MakeSet(coretest::MakeEndpoints(2));
  EndpointStats& busy = *set->endpoints()[0].stats;
  EndpointStats& light = *set->endpoints()[1].stats;
  auto report = [](double utilization) {
    OrcaLoadReport r;
    r.rps_fractional = 100;
    r.application_utilization = utilization;
    return r;
  };
  auto picker = MakePicker(set, PickerOptions{.policy = PickPolicy::kLeastRequest,
                                              .load_signal = LoadSignal::kOrcaWeighted,
                                              .client_zone = {}, .random = MakeSeededRandom(5), .clock = clock});
  auto pick = [&] { return picker->Pick() - set->endpoints().data(); };
  ASSERT_TRUE(RecordOrcaLoad(busy, report(0.9), 0));
  ASSERT_TRUE(RecordOrcaLoad(light, report(0.1), 0));
  clock->SetNanos(5 * kS);  // blackout: in-flight decides
  light.in_flight.store(1);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(pick(), 0);
  clock->SetNanos(10 * kS);  // both weighted now
  for (int n : {0, 1, 7}) {
    light.in_flight.store(n);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(pick(), 1) << "light endpoint with " << n << " in flight";
  }
  light.in_flight.store(9);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(pick(), 0);
  // A new endpoint without a weight takes the other's: in-flight decides again.
  auto fresh_set = coretest::MakeSet(coretest::MakeEndpoints(2));
  EndpointStats& weighted = *fresh_set->endpoints()[0].stats;
  ASSERT_TRUE(RecordOrcaLoad(weighted, report(0.1), 0));
  auto fresh = MakePicker(fresh_set, PickerOptions{.policy = PickPolicy::kLeastRequest,
                                                   .load_signal = LoadSignal::kOrcaWeighted,
                                                   .client_zone = {}, .random = MakeSeededRandom(5), .clock = clock});
  weighted.in_flight.store(1);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(fresh->Pick() - fresh_set->endpoints().data(), 1);
  // Light with 3 in flight, busy idle: weighted, light wins (0.004 < 0.009); once the reports
  // have expired (3 min without one), in-flight decides and busy wins.
  light.in_flight.store(3);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(pick(), 1);
  clock->SetNanos(180 * kS);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(pick(), 0);
}

}  // namespace
}  // namespace k8slb
