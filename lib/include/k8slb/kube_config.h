// How to reach the Kubernetes API: in-cluster, kubeconfig, or explicit. Loading reads files and
// the environment once; the bearer token is re-read by the discovery client (rotation).
// Pure data plus loader functions; thread-safe.
#ifndef K8SLB_KUBE_CONFIG_H_
#define K8SLB_KUBE_CONFIG_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace k8slb {

inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

enum class ConfigSource { kInCluster, kKubeconfig, kExplicit };
std::string_view ConfigSourceName(ConfigSource source);

struct KubeConfig {
  ConfigSource source = ConfigSource::kExplicit;
  std::string server;  // "https://10.0.0.1:443"; http:// only with allow_plain_http
  std::string default_namespace = "default";
  // Bearer token: literal, or a file re-read at most every token_reload_seconds and on 401.
  std::string token;
  std::string token_file;
  std::string ca_file;       // PEM path
  std::string ca_data;       // PEM bytes (certificate-authority-data, decoded)
  std::string client_cert_file, client_cert_data;
  std::string client_key_file, client_key_data;
  std::string tls_server_name;
  bool insecure_skip_tls_verify = false;
  bool allow_plain_http = false;
  // A token (literal or file) is refused over plain http unless this is set too: anyone on the
  // path can read it. Loopback tests and sidecar proxies set it deliberately.
  bool allow_credentials_over_plain_http = false;
  int token_reload_seconds = 60;
  std::string description;  // human-readable: which source and where from (never the token)
};

struct InClusterOptions {
  std::string service_account_dir = kServiceAccountDir;  // override for non-standard mounts
};
absl::StatusOr<KubeConfig> LoadInClusterConfig(const InClusterOptions& options = {});

struct KubeconfigOptions {
  std::string path;     // empty: $KUBECONFIG (first file), else ~/.kube/config
  std::string context;  // empty: current-context
};
absl::StatusOr<KubeConfig> LoadKubeconfig(const KubeconfigOptions& options = {});

// In-cluster when KUBERNETES_SERVICE_HOST is set and the token exists, else kubeconfig.
// The description says which was chosen; the error lists what each attempt found.
absl::StatusOr<KubeConfig> LoadAutoConfig(const InClusterOptions& in_cluster = {},
                                          const KubeconfigOptions& kubeconfig = {});

// The command-line choice every k8slb binary offers: an explicit --server (with its token file,
// CA and TLS settings), else a kubeconfig file or context, else LoadAutoConfig. Checks of flag
// combinations (which exit 2) stay with the caller; this only builds or loads the configuration.
struct KubeConfigFlags {
  // Each member has an initializer, so callers name only the flags they have.
  std::string server = {};  // --server; "http://..." means plain http (no TLS)
  std::string token_file = {};
  std::string ca_file = {};
  bool insecure_skip_tls_verify = false;
  std::string kubeconfig = {};  // --kubeconfig
  std::string context = {};     // --context
};
absl::StatusOr<KubeConfig> LoadKubeConfigFromFlags(const KubeConfigFlags& flags);

}  // namespace k8slb

#endif  // K8SLB_KUBE_CONFIG_H_
