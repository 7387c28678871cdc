// External strategies: a scenario names a client program by command line; the live engine
// starts it once per simulated client and counts its RPCs on the pods' servers (a Service port
// of its own). Shipped example: k8slb-client itself. Bad definitions are refused with the
// strategy's name (missing command, unknown placeholder) or, at run time (a program that exits at
// once, one that never sends), reported by name while the other strategies' results are kept.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sim/engine/engine.h"
#include "sim/engine/recorder.h"
#include "sim/live/live_engine.h"
#include "sim/live/pod_network.h"
#include "sim/scenario/scenario.h"

namespace k8slb::sim::live {
namespace {

bool HasNote(const RunSummary& summary, const std::string& a, const std::string& b) {
  return std::any_of(summary.notes.begin(), summary.notes.end(), [&](const std::string& n) {
    return n.find(a) != std::string::npos && n.find(b) != std::string::npos;
  });
}

TEST(ExternalStrategyParseTest, BadDefinitionsNameTheStrategy) {
  struct Case {
    std::string strategies;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"[{name: mine}]", "strategies[0]: external strategy \"mine\" has no command"},
      {"[{name: mine, command: []}]", "external strategy \"mine\": the command is empty"},
      {"[{name: mine, command: [x, \"{speed}\"]}]", "external strategy \"mine\": command[1] uses unknown placeholder {speed}"},
      {"[{name: round-robin, command: [x]}]", "external strategy \"round-robin\" has the name of a built-in strategy"},
      {"[{name: My_Client, command: [x]}]", "the name must be a DNS label"},
      {"[{command: [x]}]", "an external strategy needs a name"},
      {"[{name: mine, command: [x], env: {\"1X\": y}}]", "\"1X\" is not an environment variable name"},
      {"[{name: mine, command: [x], colour: red}]", "colour"},
      {"[round-robin, {name: round-robin2, command: [x]}, {name: round-robin2, command: [y]}]",
       "strategies[2]: duplicate strategy \"round-robin2\""},
  };
  for (const Case& c : cases) {
    auto sc = scenario::ParseScenario(absl::StrCat("strategies: ", c.strategies, "\n"), "bad.yaml");
    ASSERT_FALSE(sc.ok()) << c.strategies;
    EXPECT_NE(sc.status().message().find(c.message), std::string::npos) << sc.status().message();
  }
  auto good = scenario::ParseScenario(
      "strategies: [round-robin, {name: mine, command: [./c, --rps, \"{rps}\"], env: {A_B: \"1\"}}]\n", "ok.yaml");
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->strategies, (std::vector<std::string>{"round-robin", "mine"}));
  ASSERT_NE(good->FindExternal("mine"), nullptr);
  EXPECT_EQ(good->FindExternal("mine")->command, (std::vector<std::string>{"./c", "--rps", "{rps}"}));
  EXPECT_EQ(good->FindExternal("mine")->env.at("A_B"), "1");
  EXPECT_EQ(good->FindExternal("round-robin"), nullptr);
  // The virtual engine does not run programs: it says so by name.
  RunOptions options;
  RunRecorder recorder(MakeRunInfo(*good, options));
  auto run = RunVirtual(*good, options, recorder);
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.status().message().find("strategy mine is an external client program"), std::string::npos)
      << run.status();
}

// k8slb-client as an external strategy beside k8slb's own round-robin, and two broken ones: a
// command that exits at once with an error and one that never sends. Every RPC of k8slb-client is
// counted by the pods' servers on its own port and attributed to it; the broken ones are named
// in the notes; round-robin's results are whole.
TEST(ExternalStrategyRunTest, K8slbClientIsCountedByThePodsAndBadProgramsAreNamed) {
  if (auto why = PodNamespaceUnavailable()) GTEST_SKIP() << "no private network namespace: " << *why;
  const std::string yaml = absl::StrCat(R"(
name: external
seed: 2
pods: {replicas: 3, startupSeconds: 0.3, latency: {meanMs: 1.0}}
clients: {count: 2, rateRps: 25, concurrency: 2, durationSeconds: 4}
strategies:
  - round-robin
  - name: k8slb-client
    command: [")", K8SLB_CLIENT_BIN, R"(", --target, "{target}", --kubeconfig, "{kubeconfig}", --policy, round-robin,
              --rps, "{rps}", --duration, "{duration}", --concurrency, "{concurrency}", --client-id, "c{client}"]
  - name: exits-at-once
    command: [/bin/sh, -c, "echo cannot reach {target} >&2; exit 3"]
  - name: never-sends
    command: [/bin/sleep, "600"]
    env: {UNUSED: "1"}
)");
  auto sc = scenario::ParseScenario(yaml, "external.yaml");
  ASSERT_TRUE(sc.ok()) << sc.status();
  RunOptions options;
  options.mode = RunMode::kLive;
  options.seed = 2;
  RunRecorder recorder(MakeRunInfo(*sc, options));
  auto summary = RunLive(*sc, options, recorder);
  ASSERT_TRUE(summary.ok()) << summary.status();
  for (const std::string& n : summary->notes) std::printf("note: %s\n", n.c_str());
  Report r = recorder.Snapshot(4, true);

  const StrategyReport* rr = r.FindStrategy("round-robin");
  ASSERT_NE(rr, nullptr);
  EXPECT_GT(rr->ok, 100u);  // 2 clients x 25 rps x 4 s = 200 sent
  EXPECT_EQ(rr->pods_used, 3);

  const StrategyReport* client = r.FindStrategy("k8slb-client");
  ASSERT_NE(client, nullptr);
  for (const auto& [pod, n] : client->per_pod) std::printf("k8slb-client %s: %lu\n", pod.c_str(), static_cast<unsigned long>(n));
  // Two processes at 25 rps for 4 s: about 200 RPCs, all answered by the pods on its port.
  EXPECT_GT(client->ok, 100u);
  EXPECT_LE(client->ok, 220u);
  EXPECT_EQ(client->pods_used, 3);
  EXPECT_TRUE(HasNote(*summary, "external strategy k8slb-client: ", " RPCs counted by the pods' servers on port 50052"));
  ASSERT_TRUE(r.environment.count("external.k8slb-client"));

  EXPECT_TRUE(HasNote(*summary, "external strategy exits-at-once: client 0 exited with status 3", "cannot reach kubernetes:///echo-exits-at-once.default:grpc"));
  EXPECT_TRUE(HasNote(*summary, "external strategy exits-at-once: no RPC reached a pod", "port 50053"));
  EXPECT_TRUE(HasNote(*summary, "external strategy never-sends: no RPC reached a pod", "port 50054"));
  EXPECT_FALSE(HasNote(*summary, "external strategy never-sends: client", "exited"));
  const StrategyReport* never = r.FindStrategy("never-sends");
  ASSERT_NE(never, nullptr);
  EXPECT_EQ(never->ok, 0u);
}

TEST(ExternalStrategyRunTest, AProgramThatCannotStartIsNamed) {
  if (auto why = PodNamespaceUnavailable()) GTEST_SKIP() << "no private network namespace: " << *why;
  auto sc = scenario::ParseScenario(R"(
pods: {replicas: 2, startupSeconds: 0.2}
clients: {count: 1, rateRps: 20, durationSeconds: 1}
strategies: [least-request, {name: missing, command: [/nonexistent/k8slb-no-such-client, "{rps}"]}]
)", "missing.yaml");
  ASSERT_TRUE(sc.ok()) << sc.status();
  RunOptions options;
  options.mode = RunMode::kLive;
  RunRecorder recorder(MakeRunInfo(*sc, options));
  auto summary = RunLive(*sc, options, recorder);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(HasNote(*summary, "external strategy missing: client 0 could not start: cannot run /nonexistent/k8slb-no-such-client",
                      "No such file or directory"))
      << absl::StrJoin(summary->notes, "\n");
  Report r = recorder.Snapshot(1, true);
  ASSERT_NE(r.FindStrategy("least-request"), nullptr);
  EXPECT_GT(r.FindStrategy("least-request")->ok, 5u);
}

}  // namespace
}  // namespace k8slb::sim::live
