// util/percentile.h: the nearest-rank definition, its edges, and agreement between the sorted,
// unsorted and weighted forms (a property against a direct reading of the definition).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "util/percentile.h"

namespace k8slb::util {
namespace {

TEST(Percentile, NearestRank) {
  EXPECT_EQ(Percentile<int64_t>({}, 0.5), 0);
  EXPECT_EQ(Percentile<int64_t>({5, 1, 3}, 0.5), 3);
  EXPECT_EQ(Percentile<int64_t>({1, 2, 3, 4}, 0.99), 4);
  EXPECT_EQ(Percentile<int64_t>({1, 2, 3, 4}, 0), 1);
  EXPECT_EQ(Percentile<int64_t>({1, 2, 3, 4}, 0.5), 2);   // rank ceil(2) = 2, no interpolation
  EXPECT_EQ(Percentile<int64_t>({1, 2, 3, 4}, 0.51), 3);  // rank ceil(2.04) = 3
  EXPECT_EQ(Percentile<int64_t>({1, 2, 3, 4}, 1), 4);
  EXPECT_EQ(Percentile<int64_t>({1, 2, 3, 4}, 7), 4);     // clamped
  EXPECT_EQ(Percentile<int64_t>({1, 2, 3, 4}, -1), 1);
  EXPECT_EQ(Percentile<int64_t>({1, 2, 3, 4}, std::numeric_limits<double>::quiet_NaN()), 1);
  std::vector<double> hundred;
  for (int i = 100; i >= 1; --i) hundred.push_back(i);
  EXPECT_EQ(Percentile(hundred, 0.99), 99);
  EXPECT_EQ(Percentile(hundred, 0.999), 100);
  EXPECT_EQ(Percentile(hundred, 0.5), 50);
}

TEST(Percentile, Weighted) {
  // Weights 50 and 50: the median is the first value (cumulative 50 >= 0.5 * 100).
  EXPECT_EQ((WeightedPercentile<double>({{1.10, 50}, {1.00, 50}}, 0.5)), 1.00);
  EXPECT_EQ((WeightedPercentile<double>({{1.10, 51}, {1.00, 50}}, 0.5)), 1.10);
  EXPECT_EQ((WeightedPercentile<double>({}, 0.5)), 0);
  EXPECT_EQ((WeightedPercentile<double>({{3.0, 0}}, 0.5)), 0);  // no weight at all
}

// The definition read literally: the smallest sample x with #{v <= x} >= q * n.
double ByDefinition(const std::vector<double>& v, double q) {
  std::vector<double> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  for (double x : sorted) {
    const auto at_most = std::count_if(v.begin(), v.end(), [x](double y) { return y <= x; });
    if (static_cast<double>(at_most) >= q * static_cast<double>(v.size())) return x;
  }
  return sorted.back();
}

RC_GTEST_PROP(PercentileProperty, MatchesTheDefinitionInEveryForm, ()) {
  const auto ints = *rc::gen::nonEmpty(rc::gen::container<std::vector<int>>(rc::gen::inRange(-50, 50)));
  std::vector<double> v(ints.begin(), ints.end());
  const double q = *rc::gen::inRange(0, 1001) / 1000.0;
  const double want = ByDefinition(v, q);
  RC_ASSERT(Percentile(v, q) == want);
  std::vector<double> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  RC_ASSERT(PercentileOfSorted(sorted, q) == want);
  std::vector<std::pair<double, uint64_t>> weighted;
  for (double x : v) weighted.emplace_back(x, 1);
  RC_ASSERT(WeightedPercentile(weighted, q) == want);
}

}  // namespace
}  // namespace k8slb::util
