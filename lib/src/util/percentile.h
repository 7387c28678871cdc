// Percentiles of samples, by the nearest-rank method: the q-th percentile (q in [0, 1]) of n
// samples is the smallest sample x such that at least q·n of the samples are <= x, that is the
// sample of rank ceil(q·n) in ascending order, with the rank clamped to [1, n] (so q = 0 is the
// minimum and q = 1 the maximum). It is always one of the samples and needs no interpolation.
// This is definition 1 of Hyndman and Fan, "Sample Quantiles in Statistical Packages", The
// American Statistician 50(4), 1996, and the "nearest-rank method" of
// https://en.wikipedia.org/wiki/Percentile#The_nearest-rank_method. Empty input gives 0.
//
// Header-only, no dependencies beyond the standard library; pure functions.
#ifndef K8SLB_UTIL_PERCENTILE_H_
#define K8SLB_UTIL_PERCENTILE_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace k8slb::util {

// The 1-based nearest rank of quantile q among n > 0 samples. A NaN or negative q gives 1.
inline size_t NearestRank(double q, size_t n) {
  const double rank = std::ceil(q * static_cast<double>(n));
  if (!(rank >= 1)) return 1;
  if (rank >= static_cast<double>(n)) return n;
  return static_cast<size_t>(rank);
}

// Of samples already sorted ascending.
template <typename T>
T PercentileOfSorted(const std::vector<T>& sorted, double q) {
  if (sorted.empty()) return T{};
  return sorted[NearestRank(q, sorted.size()) - 1];
}

// Of unsorted samples (taken by value: the copy is partially reordered).
template <typename T>
T Percentile(std::vector<T> values, double q) {
  if (values.empty()) return T{};
  const auto nth = values.begin() + static_cast<std::ptrdiff_t>(NearestRank(q, values.size()) - 1);
  std::nth_element(values.begin(), nth, values.end());
  return *nth;
}

// Of weighted samples (value, weight > 0): the smallest value whose cumulative weight, in
// ascending order of value, reaches q times the total weight (q·total rounded up). With every
// weight 1 this is Percentile(). Samples are taken by value and sorted.
template <typename T>
T WeightedPercentile(std::vector<std::pair<T, uint64_t>> samples, double q) {
  uint64_t total = 0;
  for (const auto& [value, weight] : samples) total += weight;
  if (total == 0) return T{};
  std::sort(samples.begin(), samples.end());
  const uint64_t rank = NearestRank(q, static_cast<size_t>(total));
  uint64_t seen = 0;
  for (const auto& [value, weight] : samples) {
    seen += weight;
    if (seen >= rank) return value;
  }
  return samples.back().first;
}

}  // namespace k8slb::util

#endif  // K8SLB_UTIL_PERCENTILE_H_
