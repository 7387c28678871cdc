// Reaching a user's API server (`--api-server KUBECONFIG`) from a live run.
//
// With the pods in a private network namespace (pod_network.h) the run's threads cannot reach
// the host's network, where the API server is (often on the host's 127.0.0.1, as kind and
// envtest publish it). A relay listens inside the namespace on exactly the address and port the
// kubeconfig names, and opens its upstream connections from the namespace's host-side thread:
// the kubeconfig, its certificates and TLS verification work unchanged, because the bytes are
// relayed, not terminated. A server named by a host name is resolved on the host side; the run's
// clients then dial its address with the name kept for TLS (tls-server-name). The relay also
// replays the scenario's `disconnect` (cut every connection) and `stall` (forward nothing for a
// while) API faults; `errors` and `expire` cannot be injected into a server we do not run.
//
// Without a namespace (pods on the host's loopback) the clients reach the server directly and no
// API fault is replayed.
//
// Threading: ConnectExternalApi() from the engine's control thread, inside the namespace when
// there is one.
#ifndef K8SLB_SIM_LIVE_EXTERNAL_API_H_
#define K8SLB_SIM_LIVE_EXTERNAL_API_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "k8slb/kube_config.h"
#include "sim/live/pod_network.h"
#include "sim/live/tcp_proxy.h"

namespace k8slb::sim::live {

struct ExternalApi {
  KubeConfig config;                       // what the run's k8slb clients and the mirror use
  std::unique_ptr<PinningTcpProxy> relay;  // null without a namespace
  std::string description;                 // "https://127.0.0.1:6443 (kubeconfig K, context C)"
};

// `pods_namespace`: the run's namespace, or null when the pods are on the host's loopback.
absl::StatusOr<ExternalApi> ConnectExternalApi(const std::string& kubeconfig_path,
                                               PodNamespace* pods_namespace);

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_EXTERNAL_API_H_
