#include "k8slb/kube_config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"

namespace k8slb {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "k8slb-cfg-XXXXXX").string();
    path_ = mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string Write(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    fs::create_directories(fs::path(p).parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Saves and restores the environment variables the loaders read.
class EnvGuard {
 public:
  EnvGuard() {
    for (const char* name : kNames) {
      const char* v = getenv(name);
      saved_.emplace_back(name, v ? std::optional<std::string>(v) : std::nullopt);
      unsetenv(name);
    }
  }
  ~EnvGuard() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  static constexpr const char* kNames[] = {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
                                           "KUBECONFIG", "HOME", "POD_NAMESPACE"};
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(InClusterConfig, ReadsEnvironmentAndServiceAccountFiles) {
  EnvGuard env;
  TempDir dir;
  dir.Write("token", "tok-sa\n");
  dir.Write("ca.crt", "-----BEGIN CERTIFICATE-----\n");
  dir.Write("namespace", "team-a\n");
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto config = LoadInClusterConfig({.service_account_dir = dir.path()});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, ConfigSource::kInCluster);
  EXPECT_EQ(config->server, "https://10.0.0.1:443");
  EXPECT_EQ(config->token_file, dir.path() + "/token");
  EXPECT_TRUE(config->token.empty());  // read (and re-read) by the watcher, not copied here
  EXPECT_EQ(config->ca_file, dir.path() + "/ca.crt");
  EXPECT_EQ(config->default_namespace, "team-a");
  EXPECT_FALSE(config->allow_plain_http);
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_NE(config->description.find("in-cluster"), std::string::npos);
  EXPECT_EQ(config->description.find("tok-sa"), std::string::npos);
}

TEST(InClusterConfig, BracketsIpv6AndPrefersPodNamespace) {
  EnvGuard env;
  TempDir dir;
  dir.Write("token", "t");
  dir.Write("ca.crt", "x");
  dir.Write("namespace", "from-file");
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
  setenv("POD_NAMESPACE", "from-env", 1);
  auto config = LoadInClusterConfig({.service_account_dir = dir.path()});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://[fd00::1]:6443");
  EXPECT_EQ(config->default_namespace, "from-env");
}

TEST(InClusterConfig, ErrorsSayWhatIsMissing) {
  EnvGuard env;
  TempDir dir;
  auto no_env = LoadInClusterConfig({.service_account_dir = dir.path()});
  EXPECT_NE(no_env.status().message().find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto no_token = LoadInClusterConfig({.service_account_dir = dir.path()});
  EXPECT_NE(no_token.status().message().find(dir.path() + "/token does not exist"),
            std::string::npos)
      << no_token.status();
  dir.Write("token", "t");
  auto no_ca = LoadInClusterConfig({.service_account_dir = dir.path()});
  EXPECT_NE(no_ca.status().message().find("ca.crt"), std::string::npos) << no_ca.status();
  dir.Write("ca.crt", "x");
  auto ok = LoadInClusterConfig({.service_account_dir = dir.path()});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->default_namespace, "default");  // no namespace file, no POD_NAMESPACE
}

constexpr char kKubeconfig[] = R"(apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:18443
    certificate-authority-data: %CA%
    tls-server-name: kubernetes.default.svc
- name: other
  cluster:
    server: https://10.1.1.1:6443
    certificate-authority: certs/ca.pem
    insecure-skip-tls-verify: true
- name: plain
  cluster:
    server: http://127.0.0.1:8001
users:
- name: probe
  user:
    token: tok-kubeconfig
- name: filetoken
  user:
    tokenFile: secrets/token
    client-certificate: certs/client.pem
    client-key: certs/client-key.pem
- name: certdata
  user:
    client-certificate-data: %CERT%
    client-key-data: %KEY%
- name: execuser
  user:
    exec:
      command: gke-gcloud-auth-plugin
contexts:
- name: fake
  context: {cluster: fake, user: probe, namespace: team-b}
- name: other
  context: {cluster: other, user: filetoken}
- name: certs
  context: {cluster: fake, user: certdata}
- name: plain
  context: {cluster: plain, user: probe}
- name: exec
  context: {cluster: fake, user: execuser}
- name: broken
  context: {cluster: missing, user: probe}
)";

std::string KubeconfigText() {
  std::string text = kKubeconfig;
  auto replace = [&](const std::string& key, const std::string& value) {
    text.replace(text.find(key), key.size(), absl::Base64Escape(value));
  };
  replace("%CA%", "CA-PEM-BYTES");
  replace("%CERT%", "CERT-PEM");
  replace("%KEY%", "KEY-PEM");
  return text;
}

TEST(Kubeconfig, CurrentContextWithInlineCaAndToken) {
  EnvGuard env;
  TempDir dir;
  std::string path = dir.Write("config", KubeconfigText());
  auto config = LoadKubeconfig({.path = path, .context = ""});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, ConfigSource::kKubeconfig);
  EXPECT_EQ(config->server, "https://127.0.0.1:18443");
  EXPECT_EQ(config->ca_data, "CA-PEM-BYTES");
  EXPECT_EQ(config->tls_server_name, "kubernetes.default.svc");
  EXPECT_EQ(config->token, "tok-kubeconfig");
  EXPECT_EQ(config->default_namespace, "team-b");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_NE(config->description.find("context fake"), std::string::npos);
  EXPECT_EQ(config->description.find("tok-kubeconfig"), std::string::npos);
}

TEST(Kubeconfig, NamedContextResolvesRelativePaths) {
  EnvGuard env;
  TempDir dir;
  std::string path = dir.Write("sub/config", KubeconfigText());
  auto config = LoadKubeconfig({.path = path, .context = "other"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.1.1.1:6443");
  EXPECT_EQ(config->ca_file, dir.path() + "/sub/certs/ca.pem");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->token_file, dir.path() + "/sub/secrets/token");
  EXPECT_EQ(config->client_cert_file, dir.path() + "/sub/certs/client.pem");
  EXPECT_EQ(config->client_key_file, dir.path() + "/sub/certs/client-key.pem");
  EXPECT_EQ(config->default_namespace, "default");
  EXPECT_NE(config->description.find("insecure-skip-tls-verify"), std::string::npos);
}

TEST(Kubeconfig, ClientCertificateData) {
  EnvGuard env;
  TempDir dir;
  auto config = LoadKubeconfig({.path = dir.Write("config", KubeconfigText()), .context = "certs"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->client_cert_data, "CERT-PEM");
  EXPECT_EQ(config->client_key_data, "KEY-PEM");
}

TEST(Kubeconfig, PlainHttpServerGetsNoCredentials) {
  EnvGuard env;
  TempDir dir;
  auto config = LoadKubeconfig({.path = dir.Write("config", KubeconfigText()), .context = "plain"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->allow_plain_http);
  EXPECT_TRUE(config->token.empty());  // as client-go: no auth over plain http
}

TEST(Kubeconfig, UsesKubeconfigEnvFirstFileThenHome) {
  EnvGuard env;
  TempDir dir;
  std::string path = dir.Write("a", KubeconfigText());
  setenv("KUBECONFIG", (":" + path + ":" + dir.path() + "/missing").c_str(), 1);
  auto config = LoadKubeconfig();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_NE(config->description.find("$KUBECONFIG"), std::string::npos);
  unsetenv("KUBECONFIG");
  setenv("HOME", dir.path().c_str(), 1);
  auto missing = LoadKubeconfig();
  EXPECT_NE(missing.status().message().find(dir.path() + "/.kube/config"), std::string::npos)
      << missing.status();
  dir.Write(".kube/config", KubeconfigText());
  EXPECT_TRUE(LoadKubeconfig().ok());
}

TEST(Kubeconfig, ErrorsNameTheProblem) {
  EnvGuard env;
  TempDir dir;
  std::string path = dir.Write("config", KubeconfigText());
  auto nocontext = LoadKubeconfig({.path = path, .context = "nope"});
  EXPECT_NE(nocontext.status().message().find("no entry \"nope\" in contexts"), std::string::npos)
      << nocontext.status();
  auto nocluster = LoadKubeconfig({.path = path, .context = "broken"});
  EXPECT_NE(nocluster.status().message().find("no entry \"missing\" in clusters"),
            std::string::npos)
      << nocluster.status();
  auto exec = LoadKubeconfig({.path = path, .context = "exec"});
  EXPECT_NE(exec.status().message().find("'exec'"), std::string::npos) << exec.status();
  auto bad_yaml = LoadKubeconfig({.path = dir.Write("bad", "clusters: [\n  - x: {\n"), .context = ""});
  EXPECT_NE(bad_yaml.status().message().find("line "), std::string::npos) << bad_yaml.status();
  auto bad_b64 = LoadKubeconfig({.path = dir.Write("b64",
                                                   "current-context: c\ncontexts:\n- name: c\n  "
                                                   "context: {cluster: k}\nclusters:\n- name: k\n"
                                                   "  cluster: {server: 'https://x', "
                                                   "certificate-authority-data: '!!!'}\n"),
                                 .context = ""});
  EXPECT_NE(bad_b64.status().message().find("not valid base64"), std::string::npos)
      << bad_b64.status();
}

TEST(AutoConfig, PrefersInClusterThenKubeconfigAndListsAttempts) {
  EnvGuard env;
  TempDir sa;
  TempDir dir;
  std::string path = dir.Write("config", KubeconfigText());
  // Nothing in-cluster: kubeconfig, and the description says why.
  auto kc = LoadAutoConfig({.service_account_dir = sa.path()}, {.path = path, .context = ""});
  ASSERT_TRUE(kc.ok()) << kc.status();
  EXPECT_EQ(kc->source, ConfigSource::kKubeconfig);
  EXPECT_NE(kc->description.find("KUBERNETES_SERVICE_HOST is not set"), std::string::npos);
  // In-cluster complete: chosen.
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  sa.Write("token", "t");
  sa.Write("ca.crt", "c");
  auto ic = LoadAutoConfig({.service_account_dir = sa.path()}, {.path = path, .context = ""});
  ASSERT_TRUE(ic.ok()) << ic.status();
  EXPECT_EQ(ic->source, ConfigSource::kInCluster);
  EXPECT_NE(ic->description.find("auto: chose in-cluster"), std::string::npos);
  // Both fail: the error lists each attempt.
  auto none = LoadAutoConfig({.service_account_dir = dir.path() + "/nosa"},
                             {.path = dir.path() + "/nokubeconfig", .context = ""});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("in-cluster:"), std::string::npos) << none.status();
  EXPECT_NE(none.status().message().find("kubeconfig:"), std::string::npos) << none.status();
}

// "current-context:" with no value is a YAML null, which yaml-cpp turns into the string "null":
// the error used to be `no entry "null" in contexts`.
TEST(Kubeconfig, EmptyCurrentContextSaysSo) {
  EnvGuard env;
  TempDir dir;
  for (const char* value : {"", " ~", " null", " \"\""}) {
    const std::string path = dir.Write("config", std::string("apiVersion: v1\nkind: Config\ncurrent-context:") +
                                                     value + "\ncontexts:\n- name: a\n  context: {cluster: a}\n");
    auto config = LoadKubeconfig({.path = path, .context = ""});
    ASSERT_FALSE(config.ok()) << value;
    EXPECT_NE(config.status().message().find("no current-context set and no context requested"),
              std::string::npos)
        << value << ": " << config.status();
    EXPECT_EQ(config.status().message().find("\"null\""), std::string::npos) << config.status();
  }
}

// A kubeconfig is read with a bound (a device must not exhaust memory), and an in-cluster token
// must be a regular file (a FIFO would block).
TEST(Kubeconfig, FilesAreReadWithABound) {
  EnvGuard env;
  auto zero = LoadKubeconfig({.path = "/dev/zero", .context = ""});
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("/dev/zero is larger than 16777216 bytes"), std::string::npos)
      << zero.status();
  TempDir sa;
  ASSERT_EQ(mkfifo((sa.path() + "/token").c_str(), 0600), 0);
  sa.Write("ca.crt", "c");
  setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto in_cluster = LoadInClusterConfig({.service_account_dir = sa.path()});
  ASSERT_FALSE(in_cluster.ok());
  EXPECT_NE(in_cluster.status().message().find("is not a regular file (a FIFO)"), std::string::npos)
      << in_cluster.status();
}

// The flags every binary offers: --server builds an explicit configuration whose description says
// how the server is verified; without it the kubeconfig flags, else the automatic choice, apply.
TEST(KubeConfigFlags, ExplicitServerSaysHowItIsVerified) {
  auto https = LoadKubeConfigFromFlags({.server = "https://10.0.0.1:6443", .token_file = "/t", .ca_file = "/ca.pem"});
  ASSERT_TRUE(https.ok()) << https.status();
  EXPECT_EQ(https->source, ConfigSource::kExplicit);
  EXPECT_FALSE(https->allow_plain_http);
  EXPECT_EQ(https->token_file, "/t");
  EXPECT_EQ(https->description,
            "explicit --server https://10.0.0.1:6443, token file /t, TLS verified against /ca.pem");
  auto insecure = LoadKubeConfigFromFlags({.server = "https://10.0.0.1:6443", .insecure_skip_tls_verify = true});
  ASSERT_TRUE(insecure.ok());
  EXPECT_TRUE(insecure->insecure_skip_tls_verify);
  EXPECT_EQ(insecure->description,
            "explicit --server https://10.0.0.1:6443, no token, TLS verification OFF (--insecure-skip-tls-verify)");
  auto plain = LoadKubeConfigFromFlags({.server = "HTTP://127.0.0.1:8080"});
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->allow_plain_http);
  EXPECT_EQ(plain->description, "explicit --server HTTP://127.0.0.1:8080, plain http (no TLS, no credentials)");
}

TEST(KubeConfigFlags, WithoutServerTheKubeconfigFlagsApply) {
  EnvGuard env;
  auto missing = LoadKubeConfigFromFlags({.kubeconfig = "/nonexistent/kubeconfig"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/kubeconfig"), std::string::npos) << missing.status();
}

}  // namespace
}  // namespace k8slb
