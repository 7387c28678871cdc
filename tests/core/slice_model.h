// Test support for the endpoint-core properties: rapidcheck generators of slice histories, an
// independent oracle of docs/endpoint-semantics.md, a common interface over the real
// SliceStore and two test doubles that reproduce the peers' bugs, and the store properties as
// plain functions returning the first violation (so the same check runs against the real store
// under RC_GTEST_PROP and against the doubles in the teeth tests).
#ifndef K8SLB_TESTS_CORE_SLICE_MODEL_H_
#define K8SLB_TESTS_CORE_SLICE_MODEL_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rapidcheck.h>

#include "k8slb/endpoint_slice.h"
#include "k8slb/slice_store.h"

namespace k8slb::coretest {

// rapidcheck's inRange scales with the test's size (size 0 always gives the minimum). For a
// choice among modes that should be uniform at every size, fix the size.
inline rc::Gen<int> Choice(int n) { return rc::gen::resize(100, rc::gen::inRange(0, n)); }
inline rc::Gen<uint64_t> GenSeed() { return rc::gen::resize(100, rc::gen::arbitrary<uint64_t>()); }

// ---- histories -------------------------------------------------------------------------------

struct HistoryStep {
  enum class Kind { kEvent, kRelist };
  Kind kind = Kind::kEvent;
  SliceEvent event;                  // kEvent
  std::vector<EndpointSlice> relist;  // kRelist
};
using History = std::vector<HistoryStep>;

// The service every generated history is about; other services/namespaces are noise.
inline constexpr char kService[] = "echo";
inline constexpr char kNamespace[] = "default";
inline constexpr char kPortName[] = "grpc";
inline constexpr int32_t kPortNumber = 50051;

// One slice named `name` (key default/<name> unless it is a foreign-namespace one). Endpoints
// draw addresses from small per-family pools, so duplicates within and across slices are common;
// conditions cover all 27 tri-state combinations; some slices are all-not-ready so that the
// serving-terminating fallback is exercised; some lack the grpc port.
rc::Gen<EndpointSlice> GenSlice(std::string name);
// A slice with any of the generated names.
rc::Gen<EndpointSlice> GenAnySlice();
// Several slices with distinct keys (a consistent final state).
rc::Gen<std::vector<EndpointSlice>> GenDistinctSlices();
rc::Gen<History> GenHistory();
rc::Gen<SliceStoreOptions> GenStoreOptions();

// ---- what a store publishes, in comparable form ------------------------------------------------

struct Published {
  std::string host_port;
  bool ready = false;
  bool serving = false;
  bool terminating = false;
  std::string slice_name;
  std::string pod_name;
  std::optional<std::string> zone;
  std::vector<std::string> hint_zones;
  std::vector<std::string> hint_nodes;
  friend bool operator==(const Published&, const Published&) = default;
};
std::string Describe(const std::vector<Published>& set);

// ---- the oracle ---------------------------------------------------------------------------------

// Model of the API state a store has seen: key → last slice state (all slices, matching or not).
class ApiState {
 public:
  void Step(const HistoryStep& step);
  // Slices that count for `options` (service label + namespace), in key order.
  std::vector<EndpointSlice> Relevant(const SliceStoreOptions& options) const;

 private:
  std::map<std::string, EndpointSlice> slices_;
};

// The usable endpoints of `slices` (docs/endpoint-semantics.md), written independently of
// SliceStore: a HostPort is ready if any copy is ready; the representative copy is the first
// ready copy, else the first serving copy, else the first copy, in (slice key, position) order.
struct Expected {
  std::vector<Published> usable;  // sorted by host_port
  bool any_ready = false;
  size_t known = 0;
};
Expected ExpectedUsable(const std::vector<EndpointSlice>& slices_in_key_order, const PortSelector& port);

// ---- stores under test ---------------------------------------------------------------------------

class StoreUnderTest {
 public:
  virtual ~StoreUnderTest() = default;
  virtual void Apply(const SliceEvent& event) = 0;
  virtual void Replace(const std::vector<EndpointSlice>& slices) = 0;
  virtual std::vector<Published> Current() const = 0;
  void Step(const HistoryStep& step) {
    if (step.kind == HistoryStep::Kind::kEvent) {
      Apply(step.event);
    } else {
      Replace(step.relist);
    }
  }
};
using StoreFactory = std::function<std::unique_ptr<StoreUnderTest>(const SliceStoreOptions&)>;

// The real SliceStore.
StoreFactory RealStore();
// kuberesolver (https://github.com/sercand/kuberesolver/issues/66): every slice event publishes that one slice's endpoints as the whole
// set (conditions interpreted correctly, so only the aggregation bug remains). A relist arrives as
// one ADDED per slice (kuberesolver watches without resourceVersion).
StoreFactory ReplaceWholeSetStore();
// tonic-lb-k8s: ADDED/MODIFIED insert the slice's usable addresses not yet known; DELETED removes
// the deleted slice's addresses; an update that drops an address never removes it; a relist only
// inserts.
StoreFactory InsertOnlyStore();

// ---- store properties (nullopt = held; else a description of the violation) --------------------

// 1. After every step, the published set equals the union of usable endpoints of the current slices.
std::optional<std::string> CheckUnion(const StoreFactory& factory, const SliceStoreOptions& options,
                                      const History& history);
// 2. After Replace(list), the state equals a store built fresh from that list.
std::optional<std::string> CheckReplaceReconciles(const StoreFactory& factory, const SliceStoreOptions& options,
                                                  const History& before, const std::vector<EndpointSlice>& list);
// 3. Applying the same final slices in any order (after any noise on the same keys) gives the same set.
std::optional<std::string> CheckOrderIndependent(const StoreFactory& factory, const SliceStoreOptions& options,
                                                 const std::vector<EndpointSlice>& final_slices,
                                                 const std::vector<size_t>& permutation, const History& noise);
// 8. A non-ready (serving-terminating) endpoint is published only when no endpoint is ready, and
//    then every published endpoint is serving and terminating.
std::optional<std::string> CheckFallbackOnlyWhenNoneReady(const StoreFactory& factory,
                                                          const SliceStoreOptions& options, const History& history);

}  // namespace k8slb::coretest

#endif  // K8SLB_TESTS_CORE_SLICE_MODEL_H_
