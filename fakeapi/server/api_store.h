// The API objects as clients see them, with their history: the fake's etcd and watch cache.
//
// Every served object lives here in the form the API answers with (decoded, defaulted, with
// metadata.managedFields, finalizers, deletionTimestamp, ...; without kind/apiVersion). Objects
// of simulated kinds (EndpointSlices, Pods, Services, Deployments) are also held by the cluster
// model, which simulates controllers and kubelets; the server records the model's writes here
// (fake::Cluster events) and its own writes (what a client wrote, exactly), so the model never
// needs to carry fields it does not simulate. Objects of the other kinds live only here.
//
// History, per resource, is kept in two windows, as a real server has them:
//   - etcd's: every event back to the compaction point (Compact); exact-version lists and
//     continue tokens older than it get 410 Expired.
//   - the watch cache's: the newest events, sized like kube-apiserver's watch cache (capacity
//     from 100 doubling while every cached event is younger than 75 s, up to 102400; halved
//     when the newest quarter is older than 75 s; the oldest evicted when full). A watch from a
//     version older than the cache's oldest gets the "too old resource version" error, even
//     when etcd still has the events.
//
// Thread-safety: not internally locked; every call must be made under the server's model mutex.
#ifndef K8SLB_FAKEAPI_SERVER_API_STORE_H_
#define K8SLB_FAKEAPI_SERVER_API_STORE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fakeapi/model/cluster.h"
#include "fakeapi/server/server_clock.h"

namespace k8slb::fakeapi {

using ObjectPtr = std::shared_ptr<const nlohmann::ordered_json>;

struct ApiEvent {
  uint64_t rv = 0;
  fake::ChangeType type = fake::ChangeType::kAdded;
  std::string ns, name;
  ObjectPtr object;  // the new state (DELETED: the last state, stamped with the deletion's RV)
  ObjectPtr prev;    // the state before (nullptr for ADDED)
  SteadyTime time{};
};

class ApiStore {
 public:
  // `initial_rv`: the store's RV when it starts (the watch cache's initial list version).
  explicit ApiStore(uint64_t initial_rv) : initial_rv_(initial_rv), compacted_rv_(initial_rv) {}

  ObjectPtr Get(const std::string& resource, const std::string& ns, const std::string& name) const;
  // Sorted by (namespace, name); ns "" = every namespace.
  std::vector<ObjectPtr> List(const std::string& resource, const std::string& ns) const;

  // Records a write at `rv` (> every RV recorded before). `object` must carry
  // metadata.resourceVersion == rv. DELETED removes the object.
  void Record(const std::string& resource, fake::ChangeType type, const std::string& ns, const std::string& name,
              ObjectPtr object, uint64_t rv, SteadyTime now);

  // Events of `resource` after `rv`, for a watch: OutOfRange "too old resource version: %d (%d)"
  // when `rv` is older than the watch cache window.
  absl::StatusOr<std::vector<const ApiEvent*>> WatchEventsAfter(const std::string& resource, uint64_t rv) const;
  // The objects at `rv` (for exact lists and continue tokens): OutOfRange when `rv` is below the
  // compaction point.
  absl::StatusOr<std::vector<ObjectPtr>> StateAt(const std::string& resource, const std::string& ns,
                                                 uint64_t rv) const;

  // etcd compaction at `rv`: older history is dropped for exact reads (the watch cache keeps
  // what it holds).
  void Compact(uint64_t rv);
  // The `expire` fault: compaction and an empty watch cache window up to `rv`.
  void Expire(uint64_t rv);
  uint64_t compacted_rv() const { return compacted_rv_; }
  // The oldest version a watch of `resource` can start from.
  uint64_t OldestWatchableRv(const std::string& resource) const;
  uint64_t last_rv() const { return last_rv_; }
  // The watch cache's version of `resource`: its last event's, or the store's start.
  uint64_t ResourceRv(const std::string& resource) const;

 private:
  struct Resource {
    std::map<std::pair<std::string, std::string>, ObjectPtr> objects;
    std::deque<ApiEvent> history;  // back to the compaction point
    // Watch cache: the newest `cache_size` events of `history` at most, `capacity` slots.
    size_t capacity = 100;
    size_t cache_size = 0;
    bool evicted = false;      // an event has left the cache since it started
    uint64_t expired_rv = 0;   // the expire fault: nothing at or below is watchable
  };
  static constexpr size_t kLowerBoundCapacity = 100;
  static constexpr size_t kUpperBoundCapacity = 100 * 1024;
  static constexpr size_t kMaxHistory = 200000;

  void UpdateCache(Resource& r, SteadyTime now);
  const Resource* Find(const std::string& resource) const;

  std::map<std::string, Resource> resources_;
  uint64_t initial_rv_;
  uint64_t compacted_rv_;
  uint64_t last_rv_ = 0;
};

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_API_STORE_H_
