// The live engine through the real k8slb-sim binary: where its pods run when no namespace can
// be made (refused by default, loopback only by explicit opt-in), as an unprivileged user, two
// runs at once; and `--api-server KUBECONFIG` against k8slb-fakeapi started as an external
// process in its strict (default) mode: the run works, its objects are visible in that server
// while it runs and gone afterwards, also after SIGINT or SIGTERM mid-run; names it does not own
// and credentials without the permissions are refused before anything is created.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "k8slb/kube_config.h"
#include "report/json.h"
#include "sim/engine/recorder.h"
#include "sim/live/kube_rest.h"
#include "sim/live/pod_network.h"
#include "tests/sim_live/subprocess.h"

namespace k8slb::sim::live {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using k8slb::testing::RunProcess;
using k8slb::testing::SpawnOptions;
using k8slb::testing::Subprocess;
using std::chrono::milliseconds;

constexpr char kSimBin[] = K8SLB_SIM_BIN;

std::string Fixture(const std::string& name) { return std::string(K8SLB_SIM_LIVE_FIXTURES) + "/" + name; }

// A folder for a child's report; world-writable when the child runs as another user.
std::string TempOut(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("k8slb-live-cli-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::all);
  return dir.string();
}

// Under a seccomp filter that refuses namespaces (a container runtime's default profile does
// this), the default run refuses, naming why and the opt-in; with the opt-in it runs the pods
// on loopback, says so, and the report records it.
TEST(NoNamespaceTest, RefusesByDefaultAndRunsOnLoopbackOnlyWhenAllowed) {
  SpawnOptions denied;
  denied.deny_namespaces = true;
  auto probe = RunProcess({"/usr/bin/unshare", "-n", "true"}, denied, milliseconds(10000));
  if (probe.exit_code == 0) GTEST_SKIP() << "the seccomp filter does not hold on this machine";
  const std::string out = TempOut("denied");
  auto refused = RunProcess({kSimBin, "run", Fixture("steady-short.yaml"), "--mode", "live",
                             "--duration", "1", "--out", out + "/a"},
                            denied, milliseconds(60000));
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("no private network namespace for the pods"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("failed: Operation not permitted"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--allow-loopback-endpoints"), std::string::npos) << refused.err;

  auto allowed = RunProcess({kSimBin, "run", Fixture("steady-short.yaml"), "--mode", "live",
                             "--duration", "2", "--allow-loopback-endpoints", "--out", out + "/b"},
                            denied, milliseconds(60000));
  ASSERT_EQ(allowed.exit_code, 0) << allowed.err << allowed.out;
  EXPECT_NE(allowed.err.find("pods listen on the host's loopback (127.0.211.0/24"), std::string::npos)
      << allowed.err;
  auto report = report::LoadJson(out + "/b");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->environment["loopback_endpoints_allowed"], "true");
  EXPECT_EQ(report->environment["pod_network"].rfind("loopback 127.0.211.0/24 (--allow-loopback-endpoints, because no private network namespace", 0), 0u)
      << report->environment["pod_network"];
  for (const ReportPod& pod : report->pods) EXPECT_EQ(pod.address.rfind("127.0.211.", 0), 0u) << pod.address;
  fs::remove_all(out);
}

// An unprivileged user gets the namespace through a user namespace (as on a laptop).
TEST(UnprivilegedNamespaceTest, ANonRootUserRunsPodsInTheBenchmarkingRange) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to start the child as another user";
  const uid_t nobody = 65534;
  SpawnOptions as_nobody;
  as_nobody.uid = nobody;
  as_nobody.gid = nobody;
  auto probe = RunProcess({kSimBin, "--help"}, as_nobody, milliseconds(10000));
  if (probe.exit_code != 0) {
    GTEST_SKIP() << "k8slb-sim is not runnable by uid 65534 here (build folder permissions): " << probe.err;
  }
  auto userns = RunProcess({"/usr/bin/unshare", "-U", "-r", "-n", "true"}, as_nobody, milliseconds(10000));
  if (userns.exit_code != 0) GTEST_SKIP() << "unprivileged user namespaces are off here: " << userns.err;
  const std::string out = TempOut("nobody");
  auto run = RunProcess({kSimBin, "run", Fixture("steady-short.yaml"), "--mode", "live",
                         "--duration", "2", "--out", out + "/r"},
                        as_nobody, milliseconds(60000));
  ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
  auto report = report::LoadJson(out + "/r");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->environment["pod_network"],
            "namespace 198.18.0.0/24 (private network namespace (unprivileged, inside a user namespace))");
  EXPECT_EQ(report->environment["loopback_endpoints_allowed"], "false");
  ASSERT_FALSE(report->pods.empty());
  for (const ReportPod& pod : report->pods) EXPECT_EQ(pod.address.rfind("198.18.0.", 0), 0u) << pod.address;
  // Files it wrote belong to the user, as without a user namespace.
  struct stat st{};
  ASSERT_EQ(::stat((out + "/r/report.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, nobody);
  fs::remove_all(out);
}

// Runs steady-short twice at the same time with `extra` flags; both must finish with
// least-request on all five pods, the first at `first_address`. Returns the two reports.
std::vector<Report> RunTwiceAtOnce(const std::string& out, const std::vector<std::string>& extra,
                                   const std::string& first_address) {
  std::vector<Report> reports;
  std::vector<std::unique_ptr<Subprocess>> runs;
  for (const char* run : {"/a", "/b"}) {
    std::vector<std::string> args = {kSimBin, "run", Fixture("steady-short.yaml"), "--mode", "live",
                                     "--duration", "3", "--quiet", "--out", out + run};
    args.insert(args.end(), extra.begin(), extra.end());
    auto started = Subprocess::Start(args);
    EXPECT_TRUE(started.ok()) << started.status();
    if (!started.ok()) return reports;
    runs.push_back(std::move(*started));
  }
  for (auto& run : runs) {
    auto result = run->Wait(milliseconds(60000));
    EXPECT_EQ(result.exit_code, 0) << result.err;
  }
  for (const char* run : {"/a", "/b"}) {
    auto report = report::LoadJson(out + run);
    EXPECT_TRUE(report.ok()) << report.status();
    if (!report.ok()) continue;
    const StrategyReport* lr = report->FindStrategy("least-request");
    EXPECT_NE(lr, nullptr) << run;
    if (lr != nullptr) {
      EXPECT_EQ(lr->failed, 0u) << run;
      EXPECT_EQ(lr->pods_used, 5) << run;
    }
    EXPECT_EQ(report->pods.front().address, first_address) << run;
    reports.push_back(std::move(*report));
  }
  return reports;
}

// Two live runs of the same scenario at once: each has its own namespace, so the same pod
// addresses and ports do not collide.
TEST(PodNamespaceTest, TwoRunsAtOnceDoNotCollide) {
  if (auto why = PodNamespaceUnavailable()) GTEST_SKIP() << "no private network namespace here: " << *why;
  const std::string out = TempOut("twice");
  EXPECT_EQ(RunTwiceAtOnce(out, {}, "198.18.0.1").size(), 2u);
  fs::remove_all(out);
}

// The same on the host's loopback (explicit opt-in): both runs use the same pod addresses, so
// each listens on ports it holds for itself (PortReservation), never the scenario's fixed 50051.
TEST(NoNamespaceTest, TwoLoopbackRunsAtOnceDoNotCollide) {
  const std::string out = TempOut("twice-loopback");
  std::vector<Report> reports =
      RunTwiceAtOnce(out, {"--pod-network", "loopback", "--allow-loopback-endpoints"}, "127.0.211.1");
  ASSERT_EQ(reports.size(), 2u);
  std::vector<std::string> ports;
  for (Report& report : reports) {
    ports.push_back(report.environment["pod_port"]);
    EXPECT_EQ(ports.back().rfind("50051", 0), std::string::npos) << ports.back();
    EXPECT_FALSE(ports.back().empty());
  }
  EXPECT_NE(ports[0], ports[1]);
  fs::remove_all(out);
}

// ---- --api-server against an external k8slb-fakeapi ----------------------------------------

constexpr char kFakeApiBin[] = K8SLB_FAKEAPI_BIN;
const std::string kScaleUp = std::string(K8SLB_SOURCE_DIR) + "/scenarios/scale-up.yaml";

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = PodNamespaceUnavailable()) GTEST_SKIP() << "no private network namespace here: " << *why;
    dir_ = TempOut(::testing::UnitTest::GetInstance()->current_test_info()->name());
    kubeconfig_ = dir_ + "/admin.kubeconfig";
    auto api = Subprocess::Start({kFakeApiBin, "--listen", "127.0.0.1:0", "--write-kubeconfig",
                                  kubeconfig_, "--serviceaccount-dir", dir_ + "/sa"});
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = std::move(*api);
    ASSERT_TRUE(api_->WaitForOutput("k8slb-fakeapi: serving https://", milliseconds(30000)))
        << api_->out() << api_->err();
    auto config = LoadKubeconfig({.path = kubeconfig_, .context = ""});
    ASSERT_TRUE(config.ok()) << config.status();
    auto rest = KubeRest::Create(*config);
    ASSERT_TRUE(rest.ok()) << rest.status();
    admin_ = std::move(*rest);
  }

  void TearDown() override {
    if (api_) {
      api_->Signal(SIGTERM);
      api_->Wait(milliseconds(10000));
    }
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  Json Get(const std::string& path) {
    auto r = admin_->Request("GET", path);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return Json();
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    return Json::parse(r->body, nullptr, false);
  }

  // What the server holds that a run could have made: Services named echo and EndpointSlices of
  // that Service or managed by k8slb-sim, in every namespace.
  std::vector<std::string> Leftovers() {
    std::vector<std::string> found;
    Json services = Get("/api/v1/services");
    for (const Json& s : services.value("items", Json::array())) {
      if (s["metadata"].value("name", "") == "echo") found.push_back("service/" + s["metadata"].value("name", ""));
    }
    Json slices = Get("/apis/discovery.k8s.io/v1/endpointslices");
    for (const Json& s : slices.value("items", Json::array())) {
      const Json labels = s["metadata"].value("labels", Json::object());
      if (labels.value("kubernetes.io/service-name", "") == "echo" ||
          labels.value("endpointslice.kubernetes.io/managed-by", "") == "k8slb-sim") {
        found.push_back("endpointslice/" + s["metadata"].value("name", ""));
      }
    }
    return found;
  }

  // The slices the run manages in the server right now (empty when none yet).
  std::vector<Json> RunSlices() {
    std::vector<Json> out;
    Json slices = Get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
                      "?labelSelector=endpointslice.kubernetes.io%2Fmanaged-by%3Dk8slb-sim");
    for (const Json& s : slices.value("items", Json::array())) out.push_back(s);
    return out;
  }

  std::vector<std::string> SimArgs(const std::string& kubeconfig, const std::string& duration,
                                   const std::string& speed) {
    return {kSimBin, "run", kScaleUp, "--mode", "live", "--api-server", kubeconfig, "--duration",
            duration, "--speed", speed, "--out", dir_ + "/report"};
  }

  std::string dir_;
  std::string kubeconfig_;
  std::unique_ptr<Subprocess> api_;
  std::unique_ptr<KubeRest> admin_;
};

TEST_F(ApiServerTest, ScaleUpRunsAgainstTheServerAndLeavesNothingBehind) {
  ASSERT_TRUE(Leftovers().empty());
  auto sim = Subprocess::Start(SimArgs(kubeconfig_, "8", "2"));
  ASSERT_TRUE(sim.ok());
  // While it runs, the server holds a selector-less Service and slices managed by k8slb-sim
  // with the pods' namespace addresses (which a strict server accepts).
  std::vector<Json> seen;
  for (int i = 0; i < 400 && seen.empty(); ++i) {
    seen = RunSlices();
    if (seen.empty()) std::this_thread::sleep_for(milliseconds(25));
  }
  ASSERT_FALSE(seen.empty()) << (*sim)->err();
  Json service = Get("/api/v1/namespaces/default/services/echo");
  EXPECT_EQ(service["metadata"]["labels"].value("app.kubernetes.io/managed-by", ""), "k8slb-sim");
  EXPECT_FALSE(service["spec"].contains("selector") && !service["spec"]["selector"].empty())
      << service.dump();
  const Json& slice = seen.front();
  EXPECT_EQ(slice["metadata"]["labels"].value("kubernetes.io/service-name", ""), "echo");
  EXPECT_EQ(slice["metadata"]["ownerReferences"][0].value("uid", ""), service["metadata"].value("uid", "x"));
  ASSERT_FALSE(slice["endpoints"].empty());
  EXPECT_EQ(slice["endpoints"][0]["addresses"][0].get<std::string>().rfind("198.18.0.", 0), 0u)
      << slice.dump();

  auto result = (*sim)->Wait(milliseconds(120000));
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  std::printf("%s", result.out.c_str());
  EXPECT_NE(result.out.find("note: live: removed Service default/echo and "), std::string::npos) << result.out;
  auto report = report::LoadJson(dir_ + "/report");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_NE(report->environment["api_server"].find(kubeconfig_), std::string::npos)
      << report->environment["api_server"];
  // The k8slb strategies discovered the scale-up through that server: all six pods served.
  for (const char* name : {"round-robin", "least-request"}) {
    const StrategyReport* s = report->FindStrategy(name);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->pods_used, 6) << name;
    EXPECT_EQ(s->failed, 0u) << name;
  }
  EXPECT_EQ(report->FindStrategy("clusterip")->pods_used, 2);  // two clients, two pinnings
  EXPECT_TRUE(Leftovers().empty()) << absl::StrJoin(Leftovers(), ", ");
}

class ApiServerInterruptTest : public ApiServerTest, public ::testing::WithParamInterface<int> {};

TEST_P(ApiServerInterruptTest, ASignalMidRunStillLeavesNothingBehind) {
  const int sig = GetParam();
  auto sim = Subprocess::Start(SimArgs(kubeconfig_, "60", "1"));
  ASSERT_TRUE(sim.ok());
  bool running = false;
  for (int i = 0; i < 400 && !running; ++i) {
    running = !RunSlices().empty();
    if (!running) std::this_thread::sleep_for(milliseconds(25));
  }
  ASSERT_TRUE(running) << (*sim)->err();
  (*sim)->Signal(sig);
  auto result = (*sim)->Wait(milliseconds(60000));
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 128 + sig) << result.err;
  EXPECT_NE(result.err.find(absl::StrCat("interrupted by ", sig == SIGINT ? "SIGINT" : "SIGTERM")),
            std::string::npos) << result.err;
  EXPECT_NE(result.err.find("removed everything it created in the API server"), std::string::npos)
      << result.err;
  EXPECT_TRUE(Leftovers().empty()) << absl::StrJoin(Leftovers(), ", ");
}

INSTANTIATE_TEST_SUITE_P(Signals, ApiServerInterruptTest, ::testing::Values(SIGINT, SIGTERM),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == SIGINT ? std::string("SIGINT") : std::string("SIGTERM");
                         });

TEST_F(ApiServerTest, RefusesAServiceItDidNotCreateAndLeavesItAlone) {
  Json service = {{"apiVersion", "v1"},
                  {"kind", "Service"},
                  {"metadata", {{"name", "echo"}, {"namespace", "default"}}},
                  {"spec", {{"selector", {{"app", "someone-elses"}}},
                            {"ports", Json::array({{{"name", "grpc"}, {"port", 50051}}})}}}};
  auto created = admin_->Request("POST", "/api/v1/namespaces/default/services", service.dump());
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string uid = Json::parse(created->body)["metadata"].value("uid", "");
  auto result = RunProcess(SimArgs(kubeconfig_, "4", "2"), {}, milliseconds(60000));
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find("Service default/echo already exists"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("was not created by k8slb-sim"), std::string::npos) << result.err;
  EXPECT_EQ(Get("/api/v1/namespaces/default/services/echo")["metadata"].value("uid", ""), uid);
  EXPECT_TRUE(RunSlices().empty());
}

TEST_F(ApiServerTest, RefusesCredentialsWithoutThePermissionsBeforeCreatingAnything) {
  // The service account's token: list and watch endpointslices only, as the k8s/ client Role.
  std::ifstream token_file(dir_ + "/sa/token");
  std::string sa_token((std::istreambuf_iterator<char>(token_file)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(sa_token.empty());
  std::ifstream admin(kubeconfig_);
  std::string text((std::istreambuf_iterator<char>(admin)), std::istreambuf_iterator<char>());
  const size_t at = text.find("token: ");
  ASSERT_NE(at, std::string::npos) << text;
  const size_t end = text.find('\n', at);
  text.replace(at, end - at, "token: " + sa_token);
  const std::string restricted = dir_ + "/restricted.kubeconfig";
  std::ofstream(restricted) << text;
  auto result = RunProcess(SimArgs(restricted, "4", "2"), {}, milliseconds(60000));
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find("live --api-server: "), std::string::npos) << result.err;
  EXPECT_TRUE(result.err.find("may not get services") != std::string::npos ||
              result.err.find("cannot get resource \"services\"") != std::string::npos)
      << result.err;
  EXPECT_TRUE(Leftovers().empty()) << absl::StrJoin(Leftovers(), ", ");
}

// A server named by a host name (kind writes https://127.0.0.1:PORT, others a name): the run
// resolves it outside the namespace, relays that address and keeps the name for TLS.
TEST_F(ApiServerTest, AServerNamedByAHostNameIsReachedThroughTheRelay) {
  std::ifstream admin(kubeconfig_);
  std::string text((std::istreambuf_iterator<char>(admin)), std::istreambuf_iterator<char>());
  const size_t at = text.find("https://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, std::string("https://127.0.0.1").size(), "https://localhost");
  const std::string named = dir_ + "/named.kubeconfig";
  std::ofstream(named) << text;
  auto result = RunProcess(SimArgs(named, "3", "2"), {}, milliseconds(60000));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto report = report::LoadJson(dir_ + "/report");
  ASSERT_TRUE(report.ok()) << report.status();
  const StrategyReport* lr = report->FindStrategy("least-request");
  ASSERT_NE(lr, nullptr);
  EXPECT_EQ(lr->pods_used, 3);
  EXPECT_EQ(lr->failed, 0u);
  EXPECT_TRUE(Leftovers().empty()) << absl::StrJoin(Leftovers(), ", ");
}

TEST_F(ApiServerTest, RemovesLeftoversOfARunWhoseProcessIsGone) {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  // pid 2^22 + 1 is above any pid_max: that process cannot exist.
  Json service = {{"apiVersion", "v1"},
                  {"kind", "Service"},
                  {"metadata", {{"name", "echo"},
                                {"namespace", "default"},
                                {"labels", {{"app.kubernetes.io/managed-by", "k8slb-sim"}}},
                                {"annotations", {{"k8slb.io/sim-run", absl::StrCat(host, " 4194305 1")}}}}},
                  {"spec", {{"ports", Json::array({{{"name", "grpc"}, {"port", 50051}}})}}}};
  auto created = admin_->Request("POST", "/api/v1/namespaces/default/services", service.dump());
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->status, 201) << created->body;
  auto result = RunProcess(SimArgs(kubeconfig_, "4", "2"), {}, milliseconds(60000));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("removed what an earlier k8slb-sim run left"), std::string::npos) << result.out;
  EXPECT_TRUE(Leftovers().empty()) << absl::StrJoin(Leftovers(), ", ");
}

}  // namespace
}  // namespace k8slb::sim::live
