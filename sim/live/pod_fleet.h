// PodFleet: the pods of a live run as real processes-in-miniature. It follows the cluster model's
// pod changes (fake::Cluster::SubscribePods) and keeps, for every pod, in-process echo servers
// (k8slb_echo_server_lib) listening on the pod's own address: one per port in
// PodFleetOptions::ports, so strategies that each get a Service port of their own are counted
// apart on the server side. They are started when the pod is created (and again when a crashed
// container restarts), stopped gracefully (stop accepting, finish in-flight RPCs, as on SIGTERM
// after the preStop delay) when the process exits, and stopped hard (connections cut, no drain)
// when it crashes; `slow` sets the servers' latency factor. It also tracks the ready set (what
// kube-proxy and a headless Service's DNS see) and records every pod and its usable intervals
// into the RunRecorder.
//
// The pods' addresses are the model's (see pod_network.h for where they live); every server is
// started by the fleet's own thread, so in the network namespace the fleet was created in.
//
// Threading: OnPodChange() is called on the model's thread (under fakeapi's lock): it only
// records, updates the ready set and queues work; the fleet thread starts and stops servers.
// Every other method is thread-safe and never blocks on a server start or stop, except
// WaitIdle() and Shutdown().
#ifndef K8SLB_SIM_LIVE_POD_FLEET_H_
#define K8SLB_SIM_LIVE_POD_FLEET_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "fakeapi/model/cluster.h"
#include "sim/engine/recorder.h"
#include "sim/live/load_generator.h"
#include "sim/live/tcp_proxy.h"

namespace k8slb::sim::live {

struct PodFleetOptions {
  // The ports every pod serves; the first is the Service port that ReadyBackends() and
  // PickForProxy() return. Must not be empty.
  std::vector<int> ports = {50051};
  double latency_mean_ms = 1.0;
  double latency_jitter_ms = 0.0;
  double error_rate = 0.0;
  // Upper bound for a graceful stop (in-flight RPCs are cut after it).
  std::chrono::milliseconds drain_limit{5000};
  uint64_t seed = 1;
};

class PodFleet {
 public:
  PodFleet(PodFleetOptions options, RunRecorder& recorder);
  ~PodFleet();  // stops every server (hard) and the fleet thread
  PodFleet(const PodFleet&) = delete;
  PodFleet& operator=(const PodFleet&) = delete;

  // The model's pod listener (see the threading note). `t_s` is the scenario time of the change.
  void OnPodChange(const fake::PodInfo& pod, double t_s);
  // Blocks until every queued start/stop is done (or the timeout); returns false on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout);
  // Stops everything now (hard) and the fleet thread.
  void Shutdown();

  // Ready pods (slice condition ready: Ready and not terminating), sorted by name.
  std::vector<Backend> ReadyBackends() const;
  // kube-proxy's choice for a new connection: a random ready pod; when none is ready, a random
  // serving+terminating one (ProxyTerminatingEndpoints); nullopt when there is none.
  std::optional<Backend> PickForProxy();

  // Called on the fleet thread after a pod's servers stopped (crash, exit): its connections broke.
  void AddServerStoppedListener(std::function<void(const std::string& host)> listener);

  int servers_started() const;
  std::vector<std::string> errors() const;  // servers that failed to start (name: reason)
  // Calls answered per pod and port, counted by the servers (their whole lives, restarts included).
  std::map<std::string, std::map<int, uint64_t>> ServedCounts() const;

 private:
  struct PodState;
  void Loop();
  void Reconcile(const std::string& name);

  const PodFleetOptions options_;
  RunRecorder& recorder_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<PodState>> pods_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);  // pod names to reconcile
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 proxy_random_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(const std::string&)>> stopped_listeners_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_POD_FLEET_H_
