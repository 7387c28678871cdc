// EndpointSource: where a BalancedChannel gets its EndpointSet snapshots from. Decouples the
// gRPC layer from discovery, so the same channel runs on a live ServiceWatcher (production), on a
// SliceStore fed by a simulator, or on snapshots set by hand (tests).
//
// Contract for implementations: Current() never returns null and may be called from any thread.
// Snapshot versions only grow. Listeners run on the publisher's thread (the watcher thread, the
// simulator's loop, the test thread) after each new snapshot, one at a time, and must not block
// or call Subscribe() / destroy a Subscription of the same source from inside the callback.
// Destroying a Subscription unsubscribes: once its destructor returns, the listener is not
// running and will not run again.
#ifndef K8SLB_ENDPOINT_SOURCE_H_
#define K8SLB_ENDPOINT_SOURCE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "k8slb/discovery.h"
#include "k8slb/endpoint_set.h"
#include "k8slb/slice_store.h"

namespace k8slb {

namespace internal {
class ListenerSet;  // fan-out shared by the sources below (lib/src/grpc/listener_set.h)
}  // namespace internal

class EndpointSource {
 public:
  using Listener = std::function<void(const std::shared_ptr<const EndpointSet>&)>;

  class Subscription {
   public:
    virtual ~Subscription() = default;
  };

  virtual ~EndpointSource() = default;
  // The last published snapshot; an empty set with version 0 before any data.
  virtual std::shared_ptr<const EndpointSet> Current() const = 0;
  virtual std::unique_ptr<Subscription> Subscribe(Listener listener) = 0;
  // Discovery health when the source is fed by the Kubernetes API (errors, freshness); nullopt
  // for sources that have no such notion.
  virtual std::optional<DiscoveryStats> Discovery() const { return std::nullopt; }
  // Human-readable name used in error messages and metric labels, e.g. "default/echo:grpc".
  virtual std::string Describe() const = 0;
};

// A source whose snapshots are set by hand: tests, benchmarks, and embedders with their own
// discovery. Endpoints keep their EndpointStats across SetEndpoints() calls while their
// HostPort() stays in the set (as SliceStore does), so in-flight counts survive updates.
// All methods are thread-safe; SetEndpoints() calls the listeners on the caller's thread.
class ManualEndpointSource final : public EndpointSource {
 public:
  explicit ManualEndpointSource(std::string description = "manual");

  // Publishes a snapshot of `endpoints` (sorted and deduplicated by HostPort(); stats filled in).
  // Returns the new version.
  uint64_t SetEndpoints(std::vector<Endpoint> endpoints) ABSL_LOCKS_EXCLUDED(mu_);
  // Makes Discovery() return these stats (e.g. to simulate a discovery outage); nullopt clears.
  void SetDiscovery(std::optional<DiscoveryStats> stats) ABSL_LOCKS_EXCLUDED(mu_);

  std::shared_ptr<const EndpointSet> Current() const override ABSL_LOCKS_EXCLUDED(mu_);
  std::unique_ptr<Subscription> Subscribe(Listener listener) override;
  std::optional<DiscoveryStats> Discovery() const override ABSL_LOCKS_EXCLUDED(mu_);
  std::string Describe() const override { return description_; }

 private:
  const std::string description_;
  const std::shared_ptr<internal::ListenerSet> listeners_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const EndpointSet> current_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::shared_ptr<EndpointStats>>> stats_ ABSL_GUARDED_BY(mu_);
  std::optional<DiscoveryStats> discovery_ ABSL_GUARDED_BY(mu_);
  uint64_t next_version_ ABSL_GUARDED_BY(mu_) = 1;
};

// Follows a SliceStore. Takes over the store's single listener slot (SliceStore::SetListener),
// so do not set another listener on it, and call this on the store's writer thread or before the
// writer starts (SetListener is writer-side). After the source is destroyed the store's listener
// is a no-op (it holds only a weak reference). `description` names the service in messages.
std::shared_ptr<EndpointSource> MakeSliceStoreSource(std::shared_ptr<SliceStore> store,
                                                     std::string description);

// Starts a ServiceWatcher (discovery.h) and follows it; Discovery() returns its stats. The
// watcher stops when the source is destroyed.
absl::StatusOr<std::shared_ptr<EndpointSource>> MakeDiscoverySource(DiscoveryOptions options);

}  // namespace k8slb

#endif  // K8SLB_ENDPOINT_SOURCE_H_
