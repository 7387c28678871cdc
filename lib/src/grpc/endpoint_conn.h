// EndpointConn: one endpoint of a BalancedChannel, shared by the channel's published PickState and
// every CallHandle picked on it. Its grpc::Channel lives as long as the last holder, so an
// endpoint that leaves the set is released only after its in-flight calls end.
//
// Identity fields and `channel` are set by the control thread before the object is published and
// never change after. `connectivity` and `removed` are atomics written by the control and
// connectivity threads and read anywhere. The per-endpoint objects (CallHandle::PerEndpoint) are
// read lock-free; making one takes objects_mu_.
#ifndef K8SLB_SRC_GRPC_ENDPOINT_CONN_H_
#define K8SLB_SRC_GRPC_ENDPOINT_CONN_H_

#include <grpcpp/channel.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "k8slb/balanced_channel.h"
#include "k8slb/endpoint_set.h"

namespace k8slb::internal {

class EndpointConn {
 public:
  EndpointConn(std::string host_port, std::string pod_name, std::string zone, std::shared_ptr<EndpointStats> stats)
      : host_port(std::move(host_port)), pod_name(std::move(pod_name)), zone(std::move(zone)), stats(std::move(stats)) {}
  ~EndpointConn();
  EndpointConn(const EndpointConn&) = delete;
  EndpointConn& operator=(const EndpointConn&) = delete;

  // The object of `type` kept for this endpoint, made by `make` on first use (under objects_mu_,
  // so at most once per type).
  PerEndpointObject& FindOrMake(const std::type_info& type, absl::FunctionRef<std::unique_ptr<PerEndpointObject>()> make)
      ABSL_LOCKS_EXCLUDED(objects_mu_);

  const std::string host_port;
  const std::string pod_name;
  const std::string zone;
  const std::shared_ptr<EndpointStats> stats;
  std::shared_ptr<grpc::Channel> channel;
  std::atomic<int> connectivity{0};  // grpc_connectivity_state
  std::atomic<bool> removed{false};

 private:
  // Most endpoints serve one or two service types: a few slots read without the lock. A slot's
  // object is stored before its type is published (release) and read after it (acquire).
  struct Slot {
    std::atomic<const std::type_info*> type{nullptr};
    std::unique_ptr<PerEndpointObject> object;
  };
  struct Extra {
    const std::type_info* type;
    std::unique_ptr<PerEndpointObject> object;
  };
  std::array<Slot, 4> slots_;
  absl::Mutex objects_mu_;
  std::vector<Extra> extra_ ABSL_GUARDED_BY(objects_mu_);  // more than 4 types
};

}  // namespace k8slb::internal

#endif  // K8SLB_SRC_GRPC_ENDPOINT_CONN_H_
