// The in-cluster path of k8slb-client, proven without a cluster: the real binary runs exactly as
// in a pod, in a private mount namespace where /var/run/secrets/kubernetes.io/serviceaccount
// holds the token, ca.crt and namespace written by fakeapi, with KUBERNETES_SERVICE_HOST/PORT
// pointing at fakeapi's HTTPS port and echo servers at the pods' addresses in fakeapi's cluster
// model answering the RPCs. Nothing overrides the service-account path: the client finds
// everything where a pod has it.
//
// Every test runs twice: with the pods in the live engine's private network namespace
// (198.18.0.0/15, which a real API server accepts; the test process, fakeapi, the pods and the
// client all live in it), and on the host's loopback with fakeapi's explicit opt-in
// (allow_loopback_endpoints), the path for machines where no namespace can be made. The first
// is skipped with the reason where no namespace can be made.
//
// The mount namespace is made by `unshare -m --propagation private`; inside it a tmpfs covers the
// existing /run (= /var/run), the mountpoint is created inside that tmpfs, and the service-account
// files are mounted there. Nothing is created on the host's filesystem except the fakeapi-written
// folder under /dev/shm (a tmpfs), removed by the test. When the namespace cannot be made (no
// CAP_SYS_ADMIN, no unshare), the tests are skipped with the reason.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fakeapi/model/cluster.h"
#include "fakeapi/server/fake_api_server.h"
#include "sim/engine/recorder.h"
#include "sim/live/load_generator.h"
#include "sim/live/pod_fleet.h"
#include "sim/live/pod_network.h"
#include "sim/scenario/scenario.h"
#include "tests/sim_live/subprocess.h"

namespace k8slb {
namespace {

namespace fs = std::filesystem;
using k8slb::testing::ProcessResult;
using k8slb::testing::RunProcess;
using k8slb::testing::SpawnOptions;
using sim::live::PodPlacement;
using std::chrono::milliseconds;

constexpr char kSaPath[] = "/var/run/secrets/kubernetes.io/serviceaccount";

// Finds unshare, or says why the namespace cannot be made here.
std::optional<std::string> MountNamespaceUnavailable() {
  for (const char* path : {"/usr/bin/unshare", "/bin/unshare"}) {
    if (::access(path, X_OK) != 0) continue;
    ProcessResult r = RunProcess({path, "-m", "--propagation", "private", "/bin/sh", "-c",
                                  "mount -t tmpfs tmpfs /run && mkdir -p /run/secrets"},
                                 SpawnOptions{}, milliseconds(10000));
    if (r.exit_code == 0) return std::nullopt;
    return "cannot create a private mount namespace with a tmpfs (needs CAP_SYS_ADMIN): " + r.err;
  }
  return "unshare (util-linux) is not installed";
}

constexpr char kScenario[] = R"(
name: in-cluster
seed: 11
service: {name: echo, namespace: default, port: 50051, portName: grpc}
cluster: {zones: [zone-a], podCIDR: POD_CIDR}
pods: {replicas: 3, startupSeconds: 0.3, latency: {meanMs: 1.0}, drainSeconds: 0.3, terminationGraceSeconds: 5}
clients: {count: 1, rateRps: 100, concurrency: 2, durationSeconds: 600}
strategies: [least-request]
)";

// fakeapi (in this process, HTTPS) with the scenario's cluster, and one echo server per pod.
class InClusterTest : public ::testing::TestWithParam<PodPlacement> {
 protected:
  void SetUp() override {
    if (auto why = MountNamespaceUnavailable()) GTEST_SKIP() << *why;
    ASSERT_EQ(::access(K8SLB_CLIENT_BIN, X_OK), 0) << "k8slb-client not built: " << K8SLB_CLIENT_BIN;
    if (GetParam() == PodPlacement::kNamespace) {
      // Before any thread or socket of the test exists: this thread, fakeapi, the pods and the
      // client process (forked from here) all run in the namespace.
      if (auto why = sim::live::PodNamespaceUnavailable()) GTEST_SKIP() << "no private network namespace: " << *why;
      auto ns = sim::live::PodNamespace::Enter();
      ASSERT_TRUE(ns.ok()) << ns.status();
    }
  }

  // `subnet`: on loopback, the third octet of the pods' 127.0.X.0/24, distinct per test, because
  // ctest runs the tests of this file in parallel and every pod listens on port 50051; in the
  // namespace (one per test process) the pods use 198.18.X.0/24.
  void StartCluster(fakeapi::FakeApiOptions options, int subnet) {
    std::string yaml = kScenario;
    const bool loopback = GetParam() == PodPlacement::kLoopback;
    yaml.replace(yaml.find("POD_CIDR"), 8,
                 (loopback ? "127.0." : "198.18.") + std::to_string(subnet) + ".0/24");
    auto sc = scenario::ParseScenario(yaml, "in-cluster.yaml");
    ASSERT_TRUE(sc.ok()) << sc.status();
    options.scenario = *sc;
    options.listen = "127.0.0.1:0";
    options.allow_loopback_endpoints = true;  // the pods listen on 127.0.X.Y (fakeapi refuses loopback by default)
    info_.strategies = {"none"};
    recorder_ = std::make_unique<sim::RunRecorder>(info_);
    clock_ = std::make_unique<sim::live::ScenarioClock>(std::chrono::steady_clock::now(), 1.0);
    fleet_ = std::make_unique<sim::live::PodFleet>(
        sim::live::PodFleetOptions{.ports = {50051}, .latency_mean_ms = 1.0}, *recorder_);
    auto server = fakeapi::FakeApiServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    api_ = std::move(*server);
    api_->WithCluster([this](fake::Cluster& cluster) {
      cluster.SubscribePods([this](const fake::PodInfo& pod) {
        fleet_->OnPodChange(pod, clock_->NowS());
      });
      for (const auto& pod : cluster.Pods()) fleet_->OnPodChange(pod, 0);
    });
    ASSERT_TRUE(fleet_->WaitIdle(milliseconds(10000)));
    ASSERT_TRUE(fleet_->errors().empty()) << fleet_->errors()[0];
    for (const auto& pod : Pods()) {
      EXPECT_EQ(pod.rfind(loopback ? "127.0." : "198.18.", 0), 0u) << pod;
    }
    // The service-account files, as fakeapi writes them for a pod, in a tmpfs-backed folder.
    char pattern[] = "/dev/shm/k8slb-sa-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    sa_dir_ = pattern;
  }

  void TearDown() override {
    if (api_) api_->Stop();
    if (fleet_) fleet_->Shutdown();
    if (!sa_dir_.empty()) {
      std::error_code ec;
      fs::remove_all(sa_dir_, ec);
    }
  }

  // How the service-account folder appears at kSaPath inside the namespace.
  enum class SaMount {
    kCopy,  // a fresh tmpfs at kSaPath with copies of the three files (a projected volume)
    kBind,  // the fakeapi-written tmpfs folder itself, so token rotations reach the client
  };

  ProcessResult RunClient(const std::vector<std::string>& client_args, SaMount mount,
                          milliseconds timeout) {
    // The script runs inside the new mount namespace only; $1 = the fakeapi folder.
    std::string script =
        "set -e\n"
        "mount -t tmpfs -o mode=0755 tmpfs /run\n"  // /var/run -> /run on Debian
        "mkdir -p " + std::string(kSaPath) + "\n";
    if (mount == SaMount::kCopy) {
      script += "mount -t tmpfs -o mode=0755,size=1m tmpfs " + std::string(kSaPath) + "\n" +
                "cp \"$1/token\" \"$1/ca.crt\" \"$1/namespace\" " + kSaPath + "/\n";
    } else {
      script += "mount --bind \"$1\" " + std::string(kSaPath) + "\n";
    }
    script += "shift\nexec \"$@\"\n";
    std::vector<std::string> argv = {"/usr/bin/unshare", "-m", "--propagation", "private",
                                     "/bin/sh", "-c", script, "sh", sa_dir_, K8SLB_CLIENT_BIN};
    argv.insert(argv.end(), client_args.begin(), client_args.end());
    SpawnOptions spawn;
    spawn.env = {
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/nonexistent",  // no ~/.kube/config to fall back to
        "KUBERNETES_SERVICE_HOST=127.0.0.1",
        "KUBERNETES_SERVICE_PORT=" + std::to_string(api_->port()),
        "KUBERNETES_SERVICE_PORT_HTTPS=" + std::to_string(api_->port()),
    };
    return RunProcess(argv, spawn, timeout);
  }

  // The pods' addresses in the model.
  std::vector<std::string> Pods() {
    std::vector<std::string> out;
    api_->WithCluster([&out](fake::Cluster& cluster) {
      for (const auto& pod : cluster.Pods()) out.push_back(pod.address);
    });
    return out;
  }

  void WriteFile(const std::string& name, const std::string& content) {
    std::ofstream f(sa_dir_ + "/" + name, std::ios::binary | std::ios::trunc);
    f << content;
  }

  // The pod names in `{"frontend": ..., "backends": [...]}` with their counts.
  static std::map<std::string, int> Backends(const std::string& out) {
    std::map<std::string, int> counts;
    auto pos = out.find('{');
    if (pos == std::string::npos) return counts;
    auto json = nlohmann::json::parse(out.substr(pos), nullptr, false);
    if (json.is_discarded() || !json.contains("backends")) return counts;
    for (const auto& b : json["backends"]) {
      if (b.is_string()) counts[b.get<std::string>()]++;
    }
    return counts;
  }

  sim::RunInfo info_;
  std::unique_ptr<sim::RunRecorder> recorder_;
  std::unique_ptr<sim::live::ScenarioClock> clock_;
  std::unique_ptr<sim::live::PodFleet> fleet_;
  std::unique_ptr<fakeapi::FakeApiServer> api_;
  std::string sa_dir_;
};

TEST_P(InClusterTest, ClientFindsEverythingWhereAPodHasItAndSpreadsTraffic) {
  StartCluster({}, 231);
  ASSERT_TRUE(api_->WriteServiceAccountDir(sa_dir_).ok());
  ProcessResult r = RunClient({"--target", "kubernetes:///echo:grpc", "--requests", "60",
                               "--concurrency", "2", "--output", "json"},
                              SaMount::kCopy, milliseconds(60000));
  ASSERT_FALSE(r.timed_out) << r.err;
  ASSERT_EQ(r.exit_code, 0) << "stdout: " << r.out << "\nstderr: " << r.err;
  std::printf("k8slb-client stderr:\n%s", r.err.c_str());
  std::map<std::string, int> backends = Backends(r.out);
  int total = 0;
  for (const auto& [pod, n] : backends) total += n;
  EXPECT_EQ(total, 60) << r.out;
  // The namespace came from the service-account folder ("default"), the pods from fakeapi's
  // slices: all three pods answered.
  EXPECT_EQ(backends.size(), 3u) << r.out;
  for (const auto& [pod, n] : backends) EXPECT_EQ(pod.rfind("echo-", 0), 0u) << pod;
  // The host's filesystem is untouched: the mountpoint existed only inside the namespace.
  EXPECT_FALSE(fs::exists("/run/secrets/kubernetes.io"));
}

fakeapi::TokenGrant Grant(const std::string& token, std::vector<std::string> verbs) {
  std::vector<fakeapi::RbacRule> rules;
  if (!verbs.empty()) {
    rules.push_back(fakeapi::RbacRule{.verbs = std::move(verbs),
                                      .api_groups = {"discovery.k8s.io"},
                                      .resources = {"endpointslices"},
                                      .namespace_name = "default"});
  }
  // A user of its own: the server's bootstrapped RBAC already lets k8slb-client list and watch,
  // and a grant only adds to what RBAC allows, as on a real cluster.
  return fakeapi::TokenGrant{.token = token,
                             .user = "system:serviceaccount:default:k8slb-restricted",
                             .groups = {"system:serviceaccounts", "system:authenticated"},
                             .rules = std::move(rules),
                             .superuser = false};
}

// The table output (what the k8s/ Job prints) lists every pod with its count.
TEST_P(InClusterTest, TableOutputHasOneRowPerPod) {
  StartCluster({}, 232);
  ASSERT_TRUE(api_->WriteServiceAccountDir(sa_dir_).ok());
  ProcessResult r = RunClient({"--target", "kubernetes:///echo:grpc", "--requests", "90",
                               "--concurrency", "3", "--output", "table"},
                              SaMount::kCopy, milliseconds(60000));
  ASSERT_FALSE(r.timed_out) << r.err;
  ASSERT_EQ(r.exit_code, 0) << "stdout: " << r.out << "\nstderr: " << r.err;
  std::printf("k8slb-client --output table:\n%s", r.out.c_str());
  int rows = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("echo-", 0) == 0) ++rows;  // rows start with the pod name
  }
  EXPECT_EQ(rows, 3) << r.out;
}

// list but no watch: the first list fills the set, so RPCs succeed on it (fail-static), while
// the watch's 403 is reported with the Role that fixes it and retried slowly (k8slb-client
// --help: exit 3 only when no endpoints arrive at all).
TEST_P(InClusterTest, TokenWithoutWatchGetsTheForbiddenMessage) {
  fakeapi::FakeApiOptions options;
  const std::string list_only = "list-only-token-0123456789";
  options.tokens = std::vector<fakeapi::TokenGrant>{Grant(list_only, {"list"})};
  StartCluster(options, 233);
  WriteFile("token", list_only);
  WriteFile("ca.crt", api_->ca_pem());
  WriteFile("namespace", "default");
  ProcessResult r = RunClient({"--target", "kubernetes:///echo:grpc", "--requests", "30",
                               "--rps", "20", "--output", "json"},
                              SaMount::kCopy, milliseconds(60000));
  ASSERT_FALSE(r.timed_out) << r.err;
  std::printf("k8slb-client exit %d, stderr:\n%s", r.exit_code, r.err.c_str());
  EXPECT_NE(r.err.find("403 Forbidden: missing permission to watch resource \"endpointslices\" in "
                       "API group \"discovery.k8s.io\" in namespace \"default\""),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("verbs: [list, watch]"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(list_only), std::string::npos) << "token leaked: " << r.err;
  EXPECT_EQ(r.out.find(list_only), std::string::npos) << "token leaked: " << r.out;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Backends(r.out).size(), 3u) << r.out;
}

// Neither list nor watch: no endpoints ever; the client says why and exits 3.
TEST_P(InClusterTest, TokenWithoutAnyGrantExitsWithTheForbiddenMessage) {
  fakeapi::FakeApiOptions options;
  const std::string nothing = "no-rbac-token-0123456789";
  options.tokens = std::vector<fakeapi::TokenGrant>{Grant(nothing, {})};
  StartCluster(options, 234);
  WriteFile("token", nothing);
  WriteFile("ca.crt", api_->ca_pem());
  WriteFile("namespace", "default");
  ProcessResult r = RunClient({"--target", "kubernetes:///echo:grpc", "--requests", "5",
                               "--sync-timeout", "3", "--output", "json"},
                              SaMount::kCopy, milliseconds(60000));
  ASSERT_FALSE(r.timed_out) << r.err;
  std::printf("k8slb-client exit %d, stderr:\n%s", r.exit_code, r.err.c_str());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("403 Forbidden: missing permission to list resource \"endpointslices\""),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find(nothing), std::string::npos) << "token leaked: " << r.err;
}

// An unknown token: 401, re-read, still 401: the client says so and exits 3.
TEST_P(InClusterTest, UnknownTokenExitsWithTheUnauthorizedMessage) {
  StartCluster({}, 235);
  WriteFile("token", "not-a-token-the-server-knows");
  WriteFile("ca.crt", api_->ca_pem());
  WriteFile("namespace", "default");
  ProcessResult r = RunClient({"--target", "kubernetes:///echo:grpc", "--requests", "5",
                               "--sync-timeout", "3", "--output", "json"},
                              SaMount::kCopy, milliseconds(60000));
  ASSERT_FALSE(r.timed_out) << r.err;
  std::printf("k8slb-client exit %d, stderr:\n%s", r.exit_code, r.err.c_str());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("401 Unauthorized: the API server refused to list endpointslices in "
                       "namespace \"default\""),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("not-a-token-the-server-knows"), std::string::npos) << r.err;
}

// A Service with no EndpointSlices (a typo, or the wrong namespace): exit 3 and the reason.
TEST_P(InClusterTest, NoEndpointsSaysWhy) {
  StartCluster({}, 236);
  ASSERT_TRUE(api_->WriteServiceAccountDir(sa_dir_).ok());
  ProcessResult r = RunClient({"--target", "kubernetes:///ecko:grpc", "--requests", "5",
                               "--sync-timeout", "2", "--output", "json"},
                              SaMount::kCopy, milliseconds(60000));
  ASSERT_FALSE(r.timed_out) << r.err;
  std::printf("k8slb-client exit %d, stderr:\n%s", r.exit_code, r.err.c_str());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("k8slb: no endpoints for default/ecko:grpc: the service has no "
                       "EndpointSlices"),
            std::string::npos)
      << r.err;
}

TEST_P(InClusterTest, KeepsWorkingAcrossTokenRotationWithExpiry) {
  fakeapi::FakeApiOptions options;
  options.token_rotation = milliseconds(1500);
  options.token_grace = milliseconds(700);  // the old token stops working soon after rotation
  StartCluster(options, 237);
  ASSERT_TRUE(api_->WriteServiceAccountDir(sa_dir_).ok());
  std::string first_token = api_->service_account_token();
  ProcessResult result;
  std::thread client([&] {
    result = RunClient({"--target", "kubernetes:///echo:grpc", "--duration", "9", "--rps", "40",
                        "--concurrency", "2", "--output", "json"},
                       SaMount::kBind, milliseconds(60000));
  });
  // By t = 4 s the first token has expired (rotated at 1.5 s, grace 0.7 s). Cut every watch: the
  // client must re-watch, get 401 with its cached token, re-read the file and go on. Then scale
  // up: the new pods are visible to the client only through that new, re-authenticated watch.
  std::this_thread::sleep_for(milliseconds(4000));
  api_->CloseAllWatches();
  std::this_thread::sleep_for(milliseconds(500));
  api_->WithCluster([](fake::Cluster& cluster) {
    ASSERT_TRUE(cluster.Scale("default", "echo", 5).ok());
  });
  client.join();
  EXPECT_NE(api_->service_account_token(), first_token) << "fakeapi did not rotate";
  ASSERT_FALSE(result.timed_out) << result.err;
  ASSERT_EQ(result.exit_code, 0) << "stdout: " << result.out << "\nstderr: " << result.err;
  std::map<std::string, int> backends = Backends(result.out);
  EXPECT_EQ(backends.size(), 5u) << "the scaled-up pods were not seen: " << result.out;
  EXPECT_GT(backends["echo-3"] + backends["echo-4"], 0) << result.out;
}

INSTANTIATE_TEST_SUITE_P(PodNetwork, InClusterTest,
                         ::testing::Values(PodPlacement::kNamespace, PodPlacement::kLoopback),
                         [](const ::testing::TestParamInfo<PodPlacement>& info) {
                           return info.param == PodPlacement::kNamespace ? std::string("Namespace")
                                                                         : std::string("Loopback");
                         });

}  // namespace
}  // namespace k8slb
