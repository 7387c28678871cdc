// Helpers for picker tests: hand-built snapshots, scripted random values that select a given
// index, and a RandomSource that records what it handed out (to recover the sampled pair).
#ifndef K8SLB_TESTS_CORE_PICKER_SUPPORT_H_
#define K8SLB_TESTS_CORE_PICKER_SUPPORT_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "k8slb/endpoint_set.h"
#include "k8slb/random.h"

namespace k8slb::coretest {

// n ready endpoints 10.1.x.y:50051 with fresh stats, sorted by HostPort like a published set.
inline std::vector<Endpoint> MakeEndpoints(size_t n) {
  std::vector<Endpoint> out;
  for (size_t i = 0; i < n; ++i) {
    Endpoint e;
    e.address = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    e.port = 50051;
    e.pod_name = "echo-" + std::to_string(i);
    e.stats = std::make_shared<EndpointStats>();
    out.push_back(std::move(e));
  }
  return out;
}

inline std::shared_ptr<const EndpointSet> MakeSet(std::vector<Endpoint> endpoints, uint64_t version = 1) {
  std::sort(endpoints.begin(), endpoints.end(),
            [](const Endpoint& a, const Endpoint& b) { return a.HostPort() < b.HostPort(); });
  bool any_ready = std::any_of(endpoints.begin(), endpoints.end(), [](const Endpoint& e) { return e.ready; });
  size_t n = endpoints.size();
  UsableReason reason = n == 0 ? UsableReason::kNone
                        : any_ready ? UsableReason::kReady
                                    : UsableReason::kServingTerminatingFallback;
  return std::make_shared<const EndpointSet>(version, std::move(endpoints), reason, n, 1);
}

// A 64-bit value v with RandomSource::Uniform(n) == k for that draw (k < n): the smallest v with
// floor(v·n / 2^64) == k, i.e. ceil(k·2^64 / n).
inline uint64_t ScriptIndex(uint64_t k, uint64_t n) {
  unsigned __int128 num = static_cast<unsigned __int128>(k) << 64;
  return static_cast<uint64_t>((num + n - 1) / n);
}
// Whether a P2C tie keeps the first sampled endpoint or takes the second.
inline constexpr bool kTieFirst = false;
inline constexpr bool kTieSecond = true;

// The one 64-bit draw for which SampleDistinctPair(draw, n) gives (first, second, coin), first !=
// second, both < n, 2 <= n <= 2^31: the high half is the smallest h with floor(h·n / 2^32) ==
// first whose remainder's top bit is `coin`, the low half the smallest l with
// floor(l·(n-1) / 2^32) == second's index before the shift past first.
inline uint64_t ScriptPair(uint64_t first, uint64_t second, uint64_t n, bool coin = kTieFirst) {
  const uint64_t before_shift = second < first ? second : second - 1;
  const uint64_t hi = ((2 * first + (coin ? 1 : 0)) * (uint64_t{1} << 31) + n - 1) / n;
  const uint64_t lo = (before_shift * (uint64_t{1} << 32) + (n - 2)) / (n - 1);
  return (hi << 32) | lo;
}

// Seeded stream that remembers its outputs (single-threaded tests only).
class RecordingRandom final : public RandomSource {
 public:
  explicit RecordingRandom(uint64_t seed) : inner_(MakeSeededRandom(seed)) {}
  uint64_t Next() override {
    uint64_t v = inner_->Next();
    drawn_.push_back(v);
    return v;
  }
  const std::vector<uint64_t>& drawn() const { return drawn_; }
  void Clear() { drawn_.clear(); }

 private:
  std::shared_ptr<RandomSource> inner_;
  std::vector<uint64_t> drawn_;
};

inline uint64_t UniformOf(uint64_t value, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(value) * n) >> 64);
}

}  // namespace k8slb::coretest

#endif  // K8SLB_TESTS_CORE_PICKER_SUPPORT_H_
