// EndpointConn: one endpoint of a BalancedChannel, shared by the channel's current PickState and
// every CallHandle picked on it. Its grpc::Channel lives as long as the last holder, so an
// endpoint that leaves the set is released only after its in-flight calls end.
//
// Identity fields and `channel` are set before the object is published and never change after.
// `connectivity` and `removed` are atomics written by the control plane / connectivity thread and
// read anywhere. The object cache is lock-free to read; inserts take cache_mu_.
#ifndef K8SLB_SRC_GRPC_ENDPOINT_CONN_H_
#define K8SLB_SRC_GRPC_ENDPOINT_CONN_H_

#include <grpcpp/channel.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "grpc/outlier_detector.h"
#include "k8slb/endpoint_set.h"

namespace k8slb::internal {

// Everything the endpoint channel's interceptor needs to record a call's result. Kept apart from
// EndpointConn so the channel (which owns the interceptor factory) does not own its owner.
struct OutcomeRecorder {
  std::shared_ptr<EndpointStats> stats;
  std::shared_ptr<OutlierDetector> detector;
  std::string name;     // "address (pod)" for log lines
  EjectionState state;  // guarded by detector's mutex

  // Peak-EWMA latency (LoadSignal::kPeakEwmaLatency), after Finagle's PeakEwma: a sample above
  // the current value replaces it at once (peak), lower samples decay it with weight
  // exp(-Δt/τ). Updated without a lock: two racing samples may lose one, which a statistic can
  // afford. Only successful calls count (a fast failure must not make an endpoint look cheap;
  // failures are outlier detection's business).
  bool track_latency = false;
  int64_t decay_nanos = 10000000000;
  std::shared_ptr<Clock> clock;
  std::atomic<double> ewma_nanos{0};
  std::atomic<int64_t> ewma_stamp_nanos{0};
  void RecordLatency(int64_t rtt_nanos);
  // ewma × (in_flight + 1); 0 until the first sample, so a new endpoint is tried at once.
  double Cost() const;
};

class EndpointConn {
 public:
  EndpointConn(std::string host_port, std::string pod_name, std::string zone, std::shared_ptr<EndpointStats> stats)
      : host_port(std::move(host_port)), pod_name(std::move(pod_name)), zone(std::move(zone)), stats(std::move(stats)) {}
  ~EndpointConn();
  EndpointConn(const EndpointConn&) = delete;
  EndpointConn& operator=(const EndpointConn&) = delete;

  void* CachedObject(const void* key, void* (*make)(const std::shared_ptr<grpc::Channel>&), void (*destroy)(void*));

  const std::string host_port;
  const std::string pod_name;
  const std::string zone;
  const std::shared_ptr<EndpointStats> stats;
  std::shared_ptr<OutcomeRecorder> recorder;
  std::shared_ptr<grpc::Channel> channel;
  std::atomic<int> connectivity{0};  // grpc_connectivity_state
  std::atomic<bool> removed{false};

 private:
  struct CacheSlot {
    std::atomic<const void*> key{nullptr};
    void* value = nullptr;  // written before `key` is published (release), read after (acquire)
    void (*destroy)(void*) = nullptr;
  };
  std::array<CacheSlot, 4> slots_;
  std::mutex cache_mu_;
  struct Overflow {
    const void* key;
    void* value;
    void (*destroy)(void*);
  };
  std::vector<Overflow> overflow_;  // guarded by cache_mu_; more than 4 service types
};

}  // namespace k8slb::internal

#endif  // K8SLB_SRC_GRPC_ENDPOINT_CONN_H_
