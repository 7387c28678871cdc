// Pickers: choose one endpoint of an EndpointSet per RPC. The one picker family of the library:
// the gRPC layer, the simulator and any other RPC stack pick through MakePicker.
//
// A Picker is built for one snapshot and is immutable afterwards (as grpc's LB policies publish
// a new picker per update); everything derivable from the snapshot (candidate arrays, the
// same-node or same-zone subset) is computed once when it is built. Pick() is called
// concurrently from any number of RPC threads, takes no lock, allocates nothing, and touches
// only atomics (the round-robin counter, EndpointStats). Endpoints that are not Eligible() (connection failing,
// ejected) are skipped while an eligible one exists; when none is eligible the picker still
// returns one, so the caller sees the real error.
#ifndef K8SLB_PICKER_H_
#define K8SLB_PICKER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "k8slb/endpoint_set.h"
#include "k8slb/load_signal.h"
#include "k8slb/random.h"
#include "k8slb/slow_start.h"
#include "k8slb/topology.h"

namespace k8slb {

enum class PickPolicy {
  kRoundRobin,    // atomic counter from a random start
  kLeastRequest,  // power of two choices over the load signal
};

std::string_view PickPolicyName(PickPolicy policy);  // "round-robin" | "least-request"
std::optional<PickPolicy> ParsePickPolicy(std::string_view name);

struct PickerOptions {
  PickPolicy policy = PickPolicy::kLeastRequest;
  // What least-request compares (round robin ignores it). kPeakEwmaLatency and kLatencyEwma need
  // the caller to record finished calls with LatencySignal (RecordsLatency); kOrcaWeighted, their
  // load reports with RecordOrcaLoad (orca.h) on this picker's clock.
  LoadSignal load_signal = LoadSignal::kInFlight;
  // The latency EWMA's decay time τ (the LatencySignal's): the latency policies' cost decays on
  // read with it (LatencySignal::Cost, PairCost).
  std::chrono::nanoseconds latency_decay = kDefaultLatencyDecay;
  // The client's zone and node: prefer the endpoints the slice hints give them, by kube-proxy's
  // rule (topology.h: same node, else same zone, else all), while one of those is eligible.
  std::optional<std::string> client_zone;
  std::optional<std::string> client_node = std::nullopt;
  // Leave the preferred endpoints for all while this client's load on them is above a band, and
  // come back below it (topology.h, after Linkerd's HAZL). On by default; off: kube-proxy's rule
  // alone (stay local while a preferred endpoint is eligible, however loaded).
  TopologySpillOptions topology_spill = {};
  // Ramp endpoints up after they became ready or left ejection (slow_start.h; off by default).
  // Round robin admits a ramping endpoint's turn with probability factor f (else the next one
  // takes it): share f/(n-1+f) among n-1 others at full weight. Least-request admits a ramping
  // endpoint into its pair's comparison with probability f (else the other one wins; two ramping
  // endpoints that both decline: another pair): alone among n, a share of f/n at equal load and
  // never above 2f/n however idle it is (docs/policies.md, "Slow start").
  SlowStartOptions slow_start = {};
  std::shared_ptr<RandomSource> random;  // null: MakeThreadLocalRandom(seed)
  std::shared_ptr<Clock> clock;          // null: steady clock (for Eligible())
  uint64_t seed = 0;
};

// The balancing policies by name: the one list front ends select from (the simulator's k8slb
// strategies, the live engine's clients, flags). Each is a pick policy and what it compares.
struct NamedPolicy {
  std::string_view name;
  PickPolicy policy;
  LoadSignal load_signal;
};
inline constexpr NamedPolicy kNamedPolicies[] = {
    {"round-robin", PickPolicy::kRoundRobin, LoadSignal::kInFlight},
    {"least-request", PickPolicy::kLeastRequest, LoadSignal::kInFlight},
    {"peak-ewma", PickPolicy::kLeastRequest, LoadSignal::kPeakEwmaLatency},
    {"latency-ewma", PickPolicy::kLeastRequest, LoadSignal::kLatencyEwma},
    // Opt-in: weights from server-reported load (ORCA, docs/orca.md).
    {"orca-weighted", PickPolicy::kLeastRequest, LoadSignal::kOrcaWeighted},
};
std::optional<NamedPolicy> FindNamedPolicy(std::string_view name);
// The policy BalancedChannelOptions and k8slb-client default to: P2C over latency per call in
// flight × (in flight + 1), in-flight counts between endpoints within 2× of each other
// (docs/policies.md). PickerOptions alone still defaults to least-request over in-flight counts:
// a latency policy needs its caller to record every call (LatencySignal), which BalancedChannel
// and the simulator do.
inline constexpr std::string_view kDefaultPolicyName = "latency-ewma";

class Picker {
 public:
  virtual ~Picker() = default;
  // The chosen endpoint, or nullptr when the set is empty. Does not change in_flight: callers
  // count the request with an InFlightGuard (or the gRPC layer's handle).
  virtual const Endpoint* Pick() const = 0;
  virtual const EndpointSet& set() const = 0;
  // Whether picks have spilled out of the client's preferred (same-node or same-zone) endpoints
  // because they are overloaded (PickerOptions::topology_spill); false without a preference.
  virtual bool topology_spilled() const { return false; }
};

// Builds the picker for `set` (kept alive by the picker).
std::unique_ptr<Picker> MakePicker(std::shared_ptr<const EndpointSet> set,
                                   const PickerOptions& options);

// Two distinct indices, uniform over the n·(n-1) ordered pairs of [0, n), and a fair coin for
// ties, all from one 64-bit draw (2 <= n < 2^32): first = the high 32 bits reduced to [0, n),
// second = the low 32 bits reduced to [0, n-1) and shifted past first (Floyd's method for k = 2,
// as tower's sample_floyd2), coin = the top bit of the first reduction's remainder. Reductions are
// Lemire's multiply-shift (no division); the bias of each is below n / 2^32. Every P2C variant
// samples through this, so none samples with replacement (Envoy's way, which lets the busiest
// endpoint win when drawn twice).
struct DistinctPair {
  size_t first = 0;
  size_t second = 0;
  bool coin = false;  // true: a tie goes to `second`
};
DistinctPair SampleDistinctPair(uint64_t draw, size_t n);

// Counts one request against an endpoint for its lifetime.
class InFlightGuard {
 public:
  InFlightGuard() = default;
  explicit InFlightGuard(std::shared_ptr<EndpointStats> stats);
  InFlightGuard(InFlightGuard&& other) noexcept;
  InFlightGuard& operator=(InFlightGuard&& other) noexcept;
  InFlightGuard(const InFlightGuard&) = delete;
  InFlightGuard& operator=(const InFlightGuard&) = delete;
  ~InFlightGuard();
  // Ends the count early (idempotent).
  void Release();

 private:
  std::shared_ptr<EndpointStats> stats_;
};

}  // namespace k8slb

#endif  // K8SLB_PICKER_H_
