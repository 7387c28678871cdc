// OutlierDetector with a manual clock: exact ejection thresholds, durations, growth, decay and the
// max-ejection-percent rule. The gRPC layer and the virtual engine both eject through it.
#include "k8slb/outlier_detector.h"

#include <gtest/gtest.h>

#include <vector>

namespace k8slb {
namespace {

constexpr int64_t kSecond = 1000000000;

struct Fixture {
  explicit Fixture(size_t n, OutlierDetectionOptions options = {}) {
    clock = std::make_shared<ManualClock>(1000 * kSecond);
    detector = std::make_unique<OutlierDetector>(options, clock, "test");
    std::vector<Endpoint> endpoints;
    for (size_t i = 0; i < n; ++i) {
      Endpoint e;
      e.address = "10.0.0." + std::to_string(i + 1);
      e.port = 80;
      e.stats = std::make_shared<EndpointStats>();
      endpoints.push_back(e);
    }
    set = std::make_shared<const EndpointSet>(1, endpoints, UsableReason::kReady, n, 1);
    detector->SetEndpoints(set);
  }
  EndpointStats& stats(size_t i) { return *set->endpoints()[i].stats; }
  bool Fail(size_t i, int times) {
    bool ejected = false;
    for (int k = 0; k < times; ++k) ejected = detector->Record(stats(i), CallOutcome::kUnavailable).has_value() || ejected;
    return ejected;
  }
  bool Ejected(size_t i) { return stats(i).ejected_until_nanos.load() > clock->NowNanos(); }

  std::shared_ptr<ManualClock> clock;
  std::unique_ptr<OutlierDetector> detector;
  std::shared_ptr<const EndpointSet> set;
};

TEST(OutlierDetectorTest, EjectsAfterExactlyTheThreshold) {
  Fixture f(4);
  EXPECT_FALSE(f.Fail(0, 4));
  EXPECT_FALSE(f.Ejected(0));
  EXPECT_TRUE(f.Fail(0, 1));
  EXPECT_TRUE(f.Ejected(0));
  EXPECT_EQ(f.stats(0).ejections.load(), 1u);
  EXPECT_EQ(f.stats(0).failures.load(), 5u);
  EXPECT_FALSE(f.stats(0).Eligible(f.clock->NowNanos()));
}

TEST(OutlierDetectorTest, SuccessAndServerErrorsResetTheCountNeutralOnesDoNot) {
  Fixture f(4);
  f.Fail(0, 4);
  f.detector->Record(f.stats(0), CallOutcome::kSuccess);
  EXPECT_FALSE(f.Fail(0, 4));
  f.detector->Record(f.stats(0), CallOutcome::kServerError);
  EXPECT_FALSE(f.Fail(0, 4));
  f.detector->Record(f.stats(0), CallOutcome::kNeutral);
  EXPECT_TRUE(f.Fail(0, 1));
  EXPECT_EQ(f.stats(0).successes.load(), 1u);
}

TEST(OutlierDetectorTest, EjectionTimeGrowsPerEjectionIsCappedAndDecays) {
  OutlierDetectionOptions o;
  o.base_ejection_time = std::chrono::seconds(30);
  o.max_ejection_time = std::chrono::seconds(80);
  Fixture f(4, o);
  int64_t t0 = f.clock->NowNanos();
  ASSERT_TRUE(f.Fail(0, 5));
  EXPECT_EQ(f.stats(0).ejected_until_nanos.load() - t0, 30 * kSecond);
  // Back right after the ejection, fails again: twice as long.
  f.clock->SetNanos(f.stats(0).ejected_until_nanos.load());
  EXPECT_TRUE(f.stats(0).Eligible(f.clock->NowNanos()));
  ASSERT_TRUE(f.Fail(0, 5));
  EXPECT_EQ(f.stats(0).ejected_until_nanos.load() - f.clock->NowNanos(), 60 * kSecond);
  // Third: 90 s capped at 80 s.
  f.clock->SetNanos(f.stats(0).ejected_until_nanos.load());
  ASSERT_TRUE(f.Fail(0, 5));
  EXPECT_EQ(f.stats(0).ejected_until_nanos.load() - f.clock->NowNanos(), 80 * kSecond);
  // Healthy for 2 base periods after it returns: the multiplier drops from 3 to 1, so the next
  // ejection is 2 × 30 s.
  f.clock->SetNanos(f.stats(0).ejected_until_nanos.load() + 60 * kSecond);
  ASSERT_TRUE(f.Fail(0, 5));
  EXPECT_EQ(f.stats(0).ejected_until_nanos.load() - f.clock->NowNanos(), 60 * kSecond);
  EXPECT_EQ(f.stats(0).ejections.load(), 4u);
}

TEST(OutlierDetectorTest, NeverEjectsMoreThanMaxPercent) {
  Fixture f(5);  // 50 % of 5: at most 2 ejected at a time
  EXPECT_TRUE(f.Fail(0, 5));
  EXPECT_TRUE(f.Fail(1, 5));
  EXPECT_FALSE(f.Fail(2, 10));
  EXPECT_FALSE(f.Ejected(2));
  // When one returns, the next UNAVAILABLE of the third ejects it (its count stayed high).
  f.clock->SetNanos(f.stats(0).ejected_until_nanos.load());
  EXPECT_TRUE(f.Fail(2, 1));
}

TEST(OutlierDetectorTest, SingleEndpointIsNeverEjectedAtFiftyPercent) {
  Fixture f(1);
  EXPECT_FALSE(f.Fail(0, 20));
  EXPECT_FALSE(f.Ejected(0));
}

TEST(OutlierDetectorTest, ZeroThresholdDisablesEjection) {
  OutlierDetectionOptions o;
  o.consecutive_unavailable = 0;
  Fixture f(4, o);
  EXPECT_FALSE(f.Fail(0, 50));
  EXPECT_EQ(f.stats(0).failures.load(), 50u);
}

TEST(OutlierDetectorTest, EndpointOutsideTheSetIsNotEjected) {
  Fixture f(4);
  EndpointStats stranger;
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(f.detector->Record(stranger, CallOutcome::kUnavailable).has_value());
}

TEST(OutlierDetectorTest, NoteOnlyWhenEveryEndpointIsUnusable) {
  OutlierDetectionOptions o;
  o.max_ejection_percent = 100;
  Fixture f(2, o);
  EXPECT_EQ(f.detector->AllIneligibleNote(), "");
  f.Fail(0, 5);
  EXPECT_EQ(f.detector->AllIneligibleNote(), "");
  f.stats(1).connection_failing.store(true);
  EXPECT_EQ(f.detector->AllIneligibleNote(),
            " (k8slb: all 2 endpoints of test are unusable: 1 ejected, 1 failing to connect)");
}

TEST(OutlierDetectorTest, AnEjectionIsDescribedWithItsDurationAndMultiplier) {
  Fixture f(4);
  f.Fail(0, 4);
  std::optional<Ejection> e = f.detector->Record(f.stats(0), CallOutcome::kUnavailable);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->duration, std::chrono::seconds(30));
  EXPECT_EQ(e->multiplier, 1u);
  EXPECT_EQ(DescribeEjection(*e, "10.0.0.1:80 (echo-0)"),
            "ejected 10.0.0.1:80 (echo-0) for 30000 ms after 5 consecutive UNAVAILABLE (ejection 1)");
}

TEST(OutlierDetectorTest, AnEndpointEjectedAlreadyIsNotEjectedAgainByLateFailures) {
  // Calls that were in flight when the endpoint was ejected fail afterwards: they must not extend
  // the ejection or grow the multiplier.
  Fixture f(4);
  ASSERT_TRUE(f.Fail(0, 5));
  const int64_t until = f.stats(0).ejected_until_nanos.load();
  EXPECT_FALSE(f.Fail(0, 10));
  EXPECT_EQ(f.stats(0).ejected_until_nanos.load(), until);
  EXPECT_EQ(f.stats(0).ejections.load(), 1u);
  EXPECT_EQ(f.stats(0).ejection_multiplier.load(), 1u);
}

TEST(OutlierDetectorTest, OptionsAreValidated) {
  EXPECT_TRUE(ValidateOutlierDetectionOptions({}).ok());
  OutlierDetectionOptions o;
  o.max_ejection_percent = 101;
  EXPECT_EQ(ValidateOutlierDetectionOptions(o).message(), "outlier.max_ejection_percent must be at most 100");
  o = {};
  o.base_ejection_time = std::chrono::milliseconds(-1);
  EXPECT_EQ(ValidateOutlierDetectionOptions(o).message(), "outlier.base_ejection_time must not be negative");
  o = {};
  o.max_ejection_time = std::chrono::milliseconds(-1);
  EXPECT_EQ(ValidateOutlierDetectionOptions(o).message(), "outlier.max_ejection_time must not be negative");
}

}  // namespace
}  // namespace k8slb
