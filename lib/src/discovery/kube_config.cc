// Loaders for in-cluster, kubeconfig and automatic configuration, as client-go's rest.InClusterConfig
// and clientcmd (https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/,
// https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/).
// Matches client-go where it matters: IPv6 hosts bracketed, relative kubeconfig paths resolved
// against the kubeconfig's directory, POD_NAMESPACE before the namespace file, and no credentials
// sent to a plain-http kubeconfig server (clientcmd only loads auth for TLS transports).
#include "k8slb/kube_config.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "discovery/absl_compat.h"
#include "discovery/files.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace k8slb {
namespace {

namespace fs = std::filesystem;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// Reads a small file (bounded: /dev/zero must not exhaust memory). Re-read files (the token) are
// read elsewhere and refuse FIFOs; these are read once at start-up, where a pipe such as
// KUBECONFIG=<(...) is the user's intent.
absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     discovery::FileKind kind = discovery::FileKind::kAnyReadable) {
  return discovery::ReadBoundedFile(path, discovery::kMaxConfigFileBytes, kind);
}

std::string JoinHostPortForUrl(const std::string& host, const std::string& port) {
  if (host.find(':') != std::string::npos && host.front() != '[') {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

bool IsHttpUrl(std::string_view server) {
  return absl::StartsWithIgnoreCase(discovery::Av(server), "http://");
}

}  // namespace

std::string_view ConfigSourceName(ConfigSource source) {
  switch (source) {
    case ConfigSource::kInCluster:
      return "in-cluster";
    case ConfigSource::kKubeconfig:
      return "kubeconfig";
    case ConfigSource::kExplicit:
      return "explicit";
  }
  return "unknown";
}

absl::StatusOr<KubeConfig> LoadInClusterConfig(const InClusterOptions& options) {
  std::string host = Env("KUBERNETES_SERVICE_HOST");
  std::string port = Env("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return absl::FailedPreconditionError(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both "
        "be set");
  }
  const std::string dir = options.service_account_dir;
  KubeConfig config;
  config.source = ConfigSource::kInCluster;
  config.server = absl::StrCat("https://", JoinHostPortForUrl(host, port));
  config.token_file = dir + "/token";
  auto token = ReadFile(config.token_file, discovery::FileKind::kRegularOnly);
  if (!token.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster: service account token ", token.status().message()));
  }
  if (absl::StripAsciiWhitespace(*token).empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster: service account token file ", config.token_file, " is empty"));
  }
  config.ca_file = dir + "/ca.crt";
  std::error_code ec;
  if (!fs::exists(config.ca_file, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "in-cluster: CA certificate ", config.ca_file,
        " does not exist (needed to verify the API server; mount the service account)"));
  }
  std::string ns = Env("POD_NAMESPACE");
  std::string ns_from = "POD_NAMESPACE";
  if (ns.empty()) {
    auto file = ReadFile(dir + "/namespace", discovery::FileKind::kRegularOnly);
    if (file.ok()) {
      ns = std::string(absl::StripAsciiWhitespace(*file));
      ns_from = dir + "/namespace";
    }
  }
  if (!ns.empty()) {
    config.default_namespace = ns;
  } else {
    ns_from = "fallback";
  }
  config.description =
      absl::StrCat("in-cluster config: server ", config.server, ", token file ", config.token_file,
                   ", CA ", config.ca_file, ", namespace ", config.default_namespace, " (from ",
                   ns_from, ")");
  return config;
}

absl::StatusOr<KubeConfig> LoadKubeconfig(const KubeconfigOptions& options) {
  std::string path = options.path;
  std::string path_from = "explicit path";
  if (path.empty()) {
    for (absl::string_view part : absl::StrSplit(Env("KUBECONFIG"), ':', absl::SkipEmpty())) {
      path = std::string(part);
      path_from = "$KUBECONFIG";
      break;
    }
  }
  if (path.empty()) {
    std::string home = Env("HOME");
    if (home.empty()) {
      return absl::NotFoundError("no kubeconfig: $KUBECONFIG is unset and $HOME is unset");
    }
    path = home + "/.kube/config";
    path_from = "~/.kube/config";
  }
  auto text = ReadFile(path);
  if (!text.ok()) {
    return absl::NotFoundError(
        absl::StrCat("kubeconfig ", path, " (", path_from, "): ", text.status().message()));
  }
  const fs::path base = fs::path(path).parent_path();
  auto resolve = [&](const std::string& p) -> std::string {
    if (p.empty() || fs::path(p).is_absolute()) return p;
    return (base / p).string();
  };
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", path, ": ", why));
  };

  KubeConfig config;
  config.source = ConfigSource::kKubeconfig;
  try {
    YAML::Node root = YAML::Load(*text);
    if (!root.IsMap()) return fail("not a YAML mapping");
    // A key with no value ("current-context:") is a YAML null, which yaml-cpp converts to the
    // string "null"; only scalars count.
    auto str = [](const YAML::Node& node, const char* key) -> std::string {
      YAML::Node v = node[key];
      return v && v.IsScalar() ? v.as<std::string>() : std::string();
    };
    std::string context_name = options.context;
    if (context_name.empty()) {
      context_name = str(root, "current-context");
      if (context_name.empty()) {
        return fail("no current-context set and no context requested (--context)");
      }
    }
    auto find_named = [&](const char* list, const std::string& name, const char* inner)
        -> absl::StatusOr<YAML::Node> {
      YAML::Node seq = root[list];
      std::vector<std::string> names;
      if (seq && seq.IsSequence()) {
        for (const auto& item : seq) {
          std::string n = item.IsMap() ? str(item, "name") : std::string();
          names.push_back(n);
          if (n == name) {
            YAML::Node node = item[inner];
            if (!node || !node.IsMap()) {
              return fail(absl::StrCat(list, " entry \"", name, "\" has no ", inner, " mapping"));
            }
            return node;
          }
        }
      }
      return fail(absl::StrCat("no entry \"", name, "\" in ", list, " (have: ",
                               names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    };
    auto context = find_named("contexts", context_name, "context");
    if (!context.ok()) return context.status();
    std::string cluster_name = str(*context, "cluster");
    std::string user_name = str(*context, "user");
    if (cluster_name.empty()) return fail(absl::StrCat("context \"", context_name, "\" names no cluster"));
    auto cluster = find_named("clusters", cluster_name, "cluster");
    if (!cluster.ok()) return cluster.status();
    config.server = str(*cluster, "server");
    if (config.server.empty()) {
      return fail(absl::StrCat("cluster \"", cluster_name, "\" has no server"));
    }
    config.tls_server_name = str(*cluster, "tls-server-name");
    config.insecure_skip_tls_verify = (*cluster)["insecure-skip-tls-verify"] &&
                                      (*cluster)["insecure-skip-tls-verify"].as<bool>();
    config.ca_file = resolve(str(*cluster, "certificate-authority"));
    std::string ca_b64 = str(*cluster, "certificate-authority-data");
    if (!ca_b64.empty() && !absl::Base64Unescape(ca_b64, &config.ca_data)) {
      return fail(absl::StrCat("cluster \"", cluster_name,
                               "\": certificate-authority-data is not valid base64"));
    }
    std::string ns = str(*context, "namespace");
    if (!ns.empty()) config.default_namespace = ns;

    const bool plain_http = IsHttpUrl(config.server);
    config.allow_plain_http = plain_http;  // the kubeconfig itself says http:// explicitly
    std::string auth = "no credentials";
    if (!user_name.empty()) {
      auto user = find_named("users", user_name, "user");
      if (!user.ok()) return user.status();
      if (plain_http) {
        // client-go sends no credentials over plain http (clientcmd loads auth for TLS transports
        // only); neither do we.
        auth = "credentials not sent over plain http";
      } else {
        config.token = str(*user, "token");
        config.token_file = resolve(str(*user, "tokenFile"));
        config.client_cert_file = resolve(str(*user, "client-certificate"));
        config.client_key_file = resolve(str(*user, "client-key"));
        auto decode = [&](const char* key, std::string* out) -> absl::Status {
          std::string b64 = str(*user, key);
          if (!b64.empty() && !absl::Base64Unescape(b64, out)) {
            return fail(absl::StrCat("user \"", user_name, "\": ", key, " is not valid base64"));
          }
          return absl::OkStatus();
        };
        if (auto s = decode("client-certificate-data", &config.client_cert_data); !s.ok()) return s;
        if (auto s = decode("client-key-data", &config.client_key_data); !s.ok()) return s;
        const bool has_cert = !config.client_cert_file.empty() || !config.client_cert_data.empty();
        const bool has_key = !config.client_key_file.empty() || !config.client_key_data.empty();
        if (has_cert != has_key) {
          return fail(absl::StrCat("user \"", user_name,
                                   "\": a client certificate needs both certificate and key"));
        }
        if (config.token.empty() && config.token_file.empty() && !has_cert) {
          for (const char* unsupported : {"exec", "auth-provider", "username"}) {
            if ((*user)[unsupported]) {
              return fail(absl::StrCat("user \"", user_name, "\" uses '", unsupported,
                                       "', which k8slb does not support (use token, tokenFile "
                                       "or a client certificate)"));
            }
          }
        }
        std::vector<std::string> kinds;
        if (!config.token.empty()) kinds.push_back("token");
        if (!config.token_file.empty()) kinds.push_back("tokenFile " + config.token_file);
        if (has_cert) kinds.push_back("client certificate");
        auth = kinds.empty() ? "no credentials" : absl::StrJoin(kinds, ", ");
      }
    }
    config.description = absl::StrCat(
        "kubeconfig ", path, " (", path_from, "), context ", context_name, ": server ",
        config.server, ", ", auth, ", namespace ", config.default_namespace,
        config.insecure_skip_tls_verify ? ", TLS verification OFF (insecure-skip-tls-verify)" : "");
  } catch (const YAML::Exception& e) {
    return fail(absl::StrCat("line ", e.mark.line + 1, ": ", e.msg));
  }
  return config;
}

absl::StatusOr<KubeConfig> LoadAutoConfig(const InClusterOptions& in_cluster,
                                          const KubeconfigOptions& kubeconfig) {
  std::vector<std::string> attempts;
  if (!Env("KUBERNETES_SERVICE_HOST").empty()) {
    auto config = LoadInClusterConfig(in_cluster);
    if (config.ok()) {
      config->description = "auto: chose " + config->description;
      return config;
    }
    attempts.push_back(absl::StrCat("in-cluster: ", config.status().message()));
  } else {
    attempts.push_back("in-cluster: KUBERNETES_SERVICE_HOST is not set");
  }
  auto config = LoadKubeconfig(kubeconfig);
  if (config.ok()) {
    config->description = absl::StrCat("auto: chose ", config->description, " (",
                                       attempts.front(), ")");
    return config;
  }
  attempts.push_back(absl::StrCat("kubeconfig: ", config.status().message()));
  return absl::NotFoundError(absl::StrCat("no Kubernetes API configuration found; tried ",
                                          absl::StrJoin(attempts, "; ")));
}

absl::StatusOr<KubeConfig> LoadKubeConfigFromFlags(const KubeConfigFlags& flags) {
  if (flags.server.empty()) {
    if (!flags.kubeconfig.empty() || !flags.context.empty()) {
      return LoadKubeconfig(KubeconfigOptions{.path = flags.kubeconfig, .context = flags.context});
    }
    return LoadAutoConfig();
  }
  KubeConfig c;
  c.source = ConfigSource::kExplicit;
  c.server = flags.server;
  c.token_file = flags.token_file;
  c.ca_file = flags.ca_file;
  c.insecure_skip_tls_verify = flags.insecure_skip_tls_verify;
  c.allow_plain_http = absl::StartsWithIgnoreCase(flags.server, "http://");
  std::string how;
  if (c.allow_plain_http) {
    how = ", plain http (no TLS, no credentials)";
  } else {
    how = flags.token_file.empty() ? ", no token" : absl::StrCat(", token file ", flags.token_file);
    absl::StrAppend(&how, flags.insecure_skip_tls_verify ? ", TLS verification OFF (--insecure-skip-tls-verify)"
                          : flags.ca_file.empty()        ? ", TLS verified against the system CAs"
                                                         : absl::StrCat(", TLS verified against ", flags.ca_file));
  }
  c.description = absl::StrCat("explicit --server ", flags.server, how);
  return c;
}

}  // namespace k8slb
