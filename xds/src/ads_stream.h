// One aggregated discovery (ADS) stream, state of the world, v3: the per-stream, per-type state
// (subscriptions, nonces, versions, what was last sent) and the gRPC callback reactor that reads
// requests and writes responses.
//
// Protocol rules (envoy's xDS protocol, "xds_protocol" in the Envoy docs):
//  - A request whose response_nonce is not the last nonce sent for its type is stale and ignored
//    (every SotW request carries the full subscription, so nothing is lost).
//  - An ACK gets no reply. A NACK (error_detail set) is logged with the client's error_detail;
//    the client keeps its last good version and nothing is resent until the resource changes.
//  - A request that adds a name, or carries no nonce, is answered with the current resources,
//    changed or not: a resubscription after an unsubscribe must get the resource again
//    (go-control-plane#431, grpc-java#9632, grpc-node#2579).
//  - Every response contains every subscribed resource of its type that exists; an omitted
//    Listener or Cluster means "deleted" to the client (grpc-go#7625). ClusterLoadAssignments
//    are sent only once their Service has synced (fail-static: never an empty one for an error).
//  - LDS/CDS wildcard (empty first request, or "*"): LDS has nothing to enumerate (k8slb-xds
//    serves the Listeners that are asked for by name); CDS returns the Clusters of the stream's
//    Listeners. Unknown type URLs are answered with an empty response of that type.
//
// Threading: gRPC calls the reactions (OnReadDone, OnWriteDone, OnCancel, OnDone) on its threads;
// the registry calls OnServiceChanged on a source's publishing thread or one of its notify
// helper threads. All state is guarded by the core's mutex; Start* calls are made outside it
// (gRPC may run a reaction inline). At most one write is outstanding; pushes that arrive
// meanwhile are coalesced into the next response.
#ifndef K8SLB_XDS_SRC_ADS_STREAM_H_
#define K8SLB_XDS_SRC_ADS_STREAM_H_

#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "k8slb/discovery.h"
#include "resources.h"
#include "service_registry.h"

namespace k8slb::xds {

// Server-wide counters (atomics: every stream updates them without a lock).
struct AdsCounters {
  std::atomic<int64_t> streams_active{0};
  std::atomic<uint64_t> streams_total{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> responses{0};
  std::atomic<uint64_t> acks{0};
  std::atomic<uint64_t> nacks{0};
  std::atomic<uint64_t> stale{0};
  std::atomic<uint64_t> pushes{0};  // responses caused by a snapshot, not by a request
};

// What every stream shares: read-only after the server starts, apart from the registry and the
// counters, which are thread-safe.
struct AdsContext {
  ServiceRegistry* registry = nullptr;
  std::string default_namespace;
  std::vector<std::string> namespaces;  // allowed; empty: every namespace
  AdsCounters* counters = nullptr;
  LogSink log;

  bool NamespaceAllowed(const std::string& ns) const;
  void Log(LogLevel level, const std::string& message) const {
    if (log) log(level, message);
  }
};

using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

class AdsStreamCore;

class AdsStream final : public grpc::ServerBidiReactor<DiscoveryRequest, DiscoveryResponse> {
 public:
  AdsStream(const AdsContext* context, uint64_t id, std::string peer);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  friend class AdsStreamCore;
  std::shared_ptr<AdsStreamCore> core_;
  DiscoveryRequest request_;  // owned by the one outstanding read
};

// The stream's state, shared with the registry (as a ServiceObserver) so that a push can reach
// the stream; the reactor pointer is cleared when gRPC is done with the stream.
class AdsStreamCore final : public ServiceObserver, public std::enable_shared_from_this<AdsStreamCore> {
 public:
  AdsStreamCore(const AdsContext* context, uint64_t id, std::string peer, AdsStream* reactor);

  // Handles one request; returns a non-OK status when the stream must end with it.
  grpc::Status HandleRequest(const DiscoveryRequest& request);
  // Writes the next due response if no write is outstanding (call outside the lock).
  void MaybeWrite();
  void OnWriteDone(bool ok);
  // No more reads (client half-close, cancellation, or a request that ends the stream): finish
  // with `status` once the outstanding write is done. Only the first call counts.
  void Close(const grpc::Status& status);
  void Detach();  // OnDone: releases the services, forgets the reactor

  void OnServiceChanged(const ServiceKey& key) override;

 private:
  struct TypeState {
    bool requested = false;
    bool wildcard = false;
    std::set<std::string> names;
    std::string nonce;    // of the last response sent; empty before the first
    uint64_t version = 0;  // of the last response sent
    std::string acked_version;
    bool pending = false;  // a response may be due
    bool force = false;    // send it even if nothing changed
    std::map<std::string, std::shared_ptr<const std::string>> sent;  // name -> bytes
  };
  struct UnknownTypeState {
    std::set<std::string> names;
    std::string nonce;
    bool pending = false;
  };

  struct LeaseChanges {
    std::vector<ServiceKey> acquire;
    std::vector<ServiceKey> release;
  };
  grpc::Status ApplyRequest(const DiscoveryRequest& request, LeaseChanges* changes)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Builds the next response into reactor_'s buffer; false if nothing is due.
  bool BuildNextLocked(DiscoveryResponse* response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool BuildTypeLocked(ResourceType type, DiscoveryResponse* response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The services the subscriptions name, against those held: what to acquire and release.
  LeaseChanges UpdateLeasesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Parses a name and checks its namespace; logs a rejected name once per stream.
  std::optional<ServiceKey> KeyForLocked(const std::string& name, ResourceType type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<const std::string> StaticResourceLocked(ResourceType type, const std::string& name,
                                                          const ServiceKey& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string Describe() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const AdsContext* const context_;
  const uint64_t id_;
  const std::string peer_;

  absl::Mutex mu_;
  AdsStream* reactor_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;  // no more writes; Finish once the last is done
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
  bool have_node_ ABSL_GUARDED_BY(mu_) = false;
  std::string node_id_ ABSL_GUARDED_BY(mu_);
  std::string zone_ ABSL_GUARDED_BY(mu_);
  uint64_t next_nonce_ ABSL_GUARDED_BY(mu_) = 0;
  TypeState types_[kResourceTypeCount] ABSL_GUARDED_BY(mu_);
  std::map<std::string, UnknownTypeState> unknown_ ABSL_GUARDED_BY(mu_);  // by type URL
  std::map<std::string, ServiceKey> leases_ ABSL_GUARDED_BY(mu_);        // by key.Name()
  std::set<std::string> rejected_names_ ABSL_GUARDED_BY(mu_);            // logged once
  std::map<std::string, std::shared_ptr<const std::string>> static_cache_ ABSL_GUARDED_BY(mu_);
  DiscoveryResponse response_ ABSL_GUARDED_BY(mu_);  // the outstanding write's message
};

}  // namespace k8slb::xds

#endif  // K8SLB_XDS_SRC_ADS_STREAM_H_
