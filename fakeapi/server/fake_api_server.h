// k8slb-fakeapi as a library: a fake Kubernetes API server that real clients (kubectl 1.32, the
// JS and Python clients, k8slb's SliceWatcher) accept, serving the cluster model (fake::Cluster)
// over HTTPS with generated certificates, bearer tokens and a small RBAC table, with scenario
// replay in real time and fault injection (issue 3; behaviour per
// ../shared/reference/kubernetes-api.md, whose §8 checklist the tests in tests/fakeapi/ cover).
//
// Threading: every public method is thread-safe and may be called from any thread that is not
// one of the server's own I/O threads (WithCluster's callback runs on the caller's thread under
// the server's model lock and must not call back into the server). The server runs its own I/O
// threads and one timer thread (model timers, scenario timeline, token rotation). Stop() (also
// run by the destructor) joins them; it is idempotent.
#ifndef K8SLB_FAKEAPI_SERVER_FAKE_API_SERVER_H_
#define K8SLB_FAKEAPI_SERVER_FAKE_API_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fakeapi/model/cluster.h"
#include "fakeapi/model/cluster_scenario.h"

namespace k8slb::fakeapi {

// One RBAC allow rule (a Role or ClusterRole rule plus its binding's scope). "*" matches any verb,
// group or resource. Resources may name a subresource as "deployments/scale".
struct RbacRule {
  std::vector<std::string> verbs;
  std::vector<std::string> api_groups;  // "" = core
  std::vector<std::string> resources;
  std::string namespace_name;  // "" = every namespace and the cluster scope (ClusterRoleBinding)
};

struct TokenGrant {
  std::string token;
  std::string user;                 // "system:serviceaccount:default:k8slb-client", "kubernetes-admin"
  std::vector<std::string> groups;  // informational (system:masters, system:serviceaccounts, ...)
  std::vector<RbacRule> rules;
  bool superuser = false;  // system:masters: everything allowed
};

struct FakeApiOptions {
  std::string listen = "127.0.0.1:0";  // HOST:PORT; port 0 = ephemeral
  bool plain_http = false;             // HTTPS unless set (kubectl sends no token over http)
  bool allow_non_loopback = false;
  std::optional<fake::ClusterScenario> scenario;  // nullopt: an empty cluster
  double speed = 1.0;                          // model time runs this many times faster than real time
  // Cluster options when there is no scenario (seed and max endpoints below still apply).
  fake::ClusterOptions cluster;
  std::optional<int> max_endpoints_per_slice;  // overrides the scenario / cluster value
  std::chrono::milliseconds bookmark_interval{60000};  // periodic BOOKMARK (real server: 1 min)
  // Server-side watch lifetime when a client sends no timeoutSeconds: uniform in [min, 2*min)
  // (the real server: 30–60 min).
  std::chrono::seconds default_watch_timeout{1800};
  // nullopt: one admin token and the service-account token below.
  std::optional<std::vector<TokenGrant>> tokens;
  std::string service_account_namespace = "default";
  std::string service_account_name = "k8slb-client";
  // Rotate the service-account token this often (0: never; a scenario's token_rotation_s also
  // sets it); the previous token stays valid for `token_grace`.
  std::chrono::milliseconds token_rotation{0};
  std::chrono::milliseconds token_grace{60000};
  std::optional<uint64_t> seed;  // nullopt: the scenario's seed, else 1
  int io_threads = 2;
};

class FakeApiServer {
 public:
  static absl::StatusOr<std::unique_ptr<FakeApiServer>> Start(FakeApiOptions options);
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  std::string url() const;  // "https://127.0.0.1:PORT" (http:// with plain_http)
  uint16_t port() const;
  std::string ca_pem() const;  // empty with plain_http
  std::string admin_token() const;
  std::string service_account_token() const;  // the current one (changes on rotation)

  // A kubeconfig (context "fake", namespace `namespace_name`) with the CA embedded and `token`
  // (empty: the admin token). With plain_http it points at http:// (kubectl then sends no token).
  absl::Status WriteKubeconfig(const std::string& path, const std::string& token = "",
                               const std::string& namespace_name = "default") const;
  // `token` (no trailing newline: python 22.6 sends it verbatim), `ca.crt`, `namespace`, as a pod
  // sees /var/run/secrets/kubernetes.io/serviceaccount. Rotation rewrites `token` there.
  absl::Status WriteServiceAccountDir(const std::string& dir) const;

  // Runs `fn` on the model under the server's lock; watchers see the resulting events.
  void WithCluster(const std::function<void(fake::Cluster&)>& fn);
  uint64_t resource_version() const;
  int active_watches() const;

  // ---- fault injection (also POST /fake/...; see fakeapi/README.md) ----
  // Ends every open watch stream (clean end of the chunked body).
  void CloseAllWatches();
  // Compaction point = now: a watch from an older RV gets 200 + ERROR 410 and a close.
  void ExpireHistory();
  // For `duration`, API requests get `status` (429 TooManyRequests, 500, 503, 504, ...) with
  // Retry-After `retry_after_s` when > 0.
  void FailRequests(int status, std::chrono::milliseconds duration, int retry_after_s);
  // Watch streams send nothing (no events, bookmarks or close) for `duration`; then catch up.
  void StallStreams(std::chrono::milliseconds duration);
  // Every later watch event is delivered `delay` late (0 turns it off).
  void DelayEvents(std::chrono::milliseconds delay);
  // Every open watch stream receives one line that is not valid JSON.
  void SendMalformedEvent();
  // As after an etcd restore: the RV jumps by `delta`, older history is gone, streams close.
  void JumpResourceVersion(uint64_t delta);
  // Issues a new service-account token (the old one works for token_grace); returns it.
  std::string RotateToken();
  void AddToken(TokenGrant grant);

  void Stop();

  class Impl;

 private:
  explicit FakeApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "HOST:PORT" → (host, port); "[::1]:6443" allowed. Error names the bad part.
absl::StatusOr<std::pair<std::string, uint16_t>> ParseListenAddress(const std::string& listen);

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_FAKE_API_SERVER_H_
