// k8slb-fakeapi as a library: a fake Kubernetes API server that answers as kube-apiserver 1.32
// does (proven case by case against recorded real answers in tests/fidelity), so that kubectl
// (create, apply, apply --server-side, diff, explain), the JS and Python clients and k8slb's
// watcher accept it. It serves the cluster model (fake::Cluster: Services, Deployments, Pods and
// the EndpointSlice controller, simulated) and stores the other kinds it serves (Namespaces,
// ServiceAccounts, ConfigMaps, RBAC objects, Jobs, Endpoints), over HTTPS with generated
// certificates, bearer tokens, anonymous requests and RBAC, with OpenAPI v2/v3, scenario replay in
// real time and fault injection.
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
  std::vector<std::string> groups;  // system:masters (everything allowed), system:serviceaccounts, ...
  // Rules this token carries itself, on top of what RBAC objects (Roles, ClusterRoles and their
  // bindings, kubectl-created or bootstrapped) grant its user and groups.
  std::vector<RbacRule> rules;
  bool superuser = false;  // same as the group system:masters
  std::string uid = {};    // UserInfo.uid (SelfSubjectReview)
};

struct FakeApiOptions {
  std::string listen = "127.0.0.1:0";  // HOST:PORT; port 0 = ephemeral
  bool plain_http = false;             // HTTPS unless set (kubectl sends no token over http)
  bool allow_non_loopback = false;
  std::optional<fake::ClusterScenario> scenario;  // nullopt: an empty cluster
  double speed = 1.0;                          // model time runs this many times faster than real time
  // Cluster options when there is no scenario (seed and max endpoints below still apply). Pods
  // get addresses from 198.18.0.0/16 (RFC 2544 benchmarking range) unless told otherwise: a real
  // API server refuses loopback endpoint addresses.
  fake::ClusterOptions cluster = [] {
    fake::ClusterOptions o;
    o.pod_cidr = "198.18.0.0/16";
    return o;
  }();
  // Accept loopback endpoint addresses (127.0.0.0/8, ::1) in EndpointSlices, which a real API
  // server refuses with 422 (pkg/apis/core/validation ValidateNonSpecialIP). Off by default; when
  // on, every write it lets through answers with a `Warning: 299 - "..."` header saying so, and
  // /fake/state reports `"allowLoopbackEndpoints": true`. Without it, a pod CIDR in the loopback
  // range is refused at Start (the model's EndpointSlice controller could not write those pods).
  bool allow_loopback_endpoints = false;
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
  // Time stands still until advanced (POST /fake/clock/advance?seconds=S, or AdvanceClock()):
  // watch deadlines and bookmarks, answers held for a too-new resourceVersion, the watch cache
  // window and the model's clock move only then, so a test can replay a long watch exactly and
  // at once. Fault durations stay in real time.
  bool manual_clock = false;
  // The built-in identities: the admin (group system:masters) and the service account, whose
  // Role "k8slb-endpointslice-reader" (list and watch of endpointslices) and RoleBinding of the
  // same name are created in its namespace at start, as k8s/client-rbac.yaml grants them.
  std::string admin_user = "kubernetes-admin";
  std::string admin_uid = "";
  std::string service_account_uid = "";
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
  // FakeApiOptions::allow_loopback_endpoints as the server runs with it (reports record it).
  bool allow_loopback_endpoints() const;
  // Manual clock only: moves the server's time forward, running what falls due.
  void AdvanceClock(std::chrono::nanoseconds d);

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
