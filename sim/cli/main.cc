// k8slb-sim: replay scenario files against balancing strategies, offline (virtual time) or live.
//   k8slb-sim run SCENARIO [--mode virtual|live] [--seed N] [--out DIR] [--strategies a,b] ...
//   k8slb-sim validate FILE...
//   k8slb-sim check REPORT_DIR [--scenario FILE]
//   k8slb-sim list
// See sim/README.md. Bad input: one line on stderr, exit 2; failed checks: exit 1.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "input/cli_flags.h"
#include "k8slb/version.h"
#include "report/json.h"
#include "report/schema.h"
#include "sim/engine/check.h"
#include "sim/engine/engine.h"
#include "sim/engine/recorder.h"
#include "sim/engine/text_report.h"
#include "sim/scenario/scenario.h"

namespace k8slb::sim {
LiveRunner GetLiveRunner();  // live_link.cc
}  // namespace k8slb::sim

namespace {

namespace fs = std::filesystem;
using k8slb::scenario::Scenario;
namespace sim = k8slb::sim;

// The longest run --duration may ask for: a day, as clients.durationSeconds in a scenario.
constexpr double kMaxRunDurationS = 86400;
static_assert(kMaxRunDurationS * 2 <= k8slb::report::kMaxDurationS,
              "a run, with its drain time, must fit in a report");

int Fail(const std::string& message, int code = 2) {
  std::cerr << "k8slb-sim: " << message << "\n";
  return code;
}

// Where shipped scenarios live: $K8SLB_SCENARIOS_DIR, ./scenarios, the source tree's, then the
// installed ones beside the binary (PREFIX/bin/k8slb-sim -> PREFIX/share/k8slb/scenarios).
std::vector<fs::path> ScenarioDirs() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("K8SLB_SCENARIOS_DIR"); env != nullptr && *env != '\0') {
    dirs.emplace_back(env);
  }
  dirs.emplace_back("scenarios");
  dirs.emplace_back(K8SLB_SOURCE_SCENARIOS_DIR);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path().parent_path() / "share" / "k8slb" / "scenarios");
  return dirs;
}

// A path to an existing file, or a shipped scenario's name ("steady").
std::optional<std::string> ResolveScenario(const std::string& arg) {
  std::error_code ec;
  if (fs::is_regular_file(arg, ec)) return arg;
  if (arg.find('/') == std::string::npos) {
    for (const auto& dir : ScenarioDirs()) {
      for (const char* ext : {".yaml", ".yml"}) {
        const fs::path p = dir / (arg + ext);
        if (fs::is_regular_file(p, ec)) return p.string();
      }
    }
  }
  return std::nullopt;
}

class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  void Update(double fraction, const std::string& what) {
    if (!enabled_) return;
    const int width = 40;
    const int filled = static_cast<int>(std::clamp(fraction, 0.0, 1.0) * width);
    std::fprintf(stderr, "\r[%s%s] %3d%% %-20s", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), static_cast<int>(fraction * 100),
                 what.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  void Done() {
    if (enabled_ && shown_) std::fprintf(stderr, "\r%*s\r", 70, "");
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
};

int PrintChecks(const std::vector<sim::CheckResult>& results) {
  int failed = 0;
  for (const auto& r : results) {
    const char* tag = r.outcome == sim::CheckOutcome::kPassed   ? "PASS"
                      : r.outcome == sim::CheckOutcome::kFailed ? "FAIL"
                                                                : "SKIP";
    if (r.outcome == sim::CheckOutcome::kFailed) ++failed;
    std::cout << absl::StrFormat("%s  %-14s %-26s %s (expect line %d)\n", tag, r.strategy,
                                 r.check, r.message, r.line);
  }
  return failed;
}

struct RunArgs {
  std::string scenario;
  std::string mode = "virtual";
  std::optional<uint64_t> seed;
  std::string out;
  std::string strategies;
  std::optional<double> duration_s;
  double speed = 1.0;
  double watch_delay_ms = 2.0;
  bool check = false;
  bool quiet = false;
  std::string api_server;
  bool allow_loopback_endpoints = false;
  std::string pod_network;
};

int CmdRun(const RunArgs& args) {
  const auto path = ResolveScenario(args.scenario);
  if (!path) {
    return Fail(absl::StrCat("no scenario file or shipped scenario named \"", args.scenario,
                             "\" (try `k8slb-sim list`)"));
  }
  auto sc = k8slb::scenario::LoadScenario(*path);
  if (!sc.ok()) return Fail(std::string(sc.status().message()));
  sim::RunOptions options;
  if (args.mode == "virtual") {
    options.mode = sim::RunMode::kVirtual;
  } else if (args.mode == "live") {
    options.mode = sim::RunMode::kLive;
  } else {
    return Fail(absl::StrCat("--mode: expected virtual or live, got \"", args.mode, "\""));
  }
  options.seed = args.seed.value_or(sc->seed);
  if (!args.strategies.empty()) {
    for (const auto& part : absl::StrSplit(args.strategies, ',')) {
      const std::string name(part);
      if (!sim::IsKnownStrategy(name) && sc->FindExternal(name) == nullptr) {
        return Fail(absl::StrCat("--strategies: unknown strategy \"", name, "\" (known: ",
                                 k8slb::report::KnownStrategiesList(), ", and the scenario's external ones)"));
      }
      if (std::find(options.strategies.begin(), options.strategies.end(), name) ==
          options.strategies.end()) {
        options.strategies.push_back(name);
      }
    }
  }
  if (args.duration_s) {
    // The bound of clients.durationSeconds; it also keeps the report within its limits.
    if (!(*args.duration_s > 0 && *args.duration_s <= kMaxRunDurationS)) {
      return Fail(absl::StrFormat("--duration: expected seconds in (0, %g], got %g",
                                  kMaxRunDurationS, *args.duration_s));
    }
    options.duration_s = args.duration_s;
  }
  if (!(args.speed > 0 && std::isfinite(args.speed))) {
    return Fail("--speed: must be a finite number greater than 0");
  }
  options.speed = args.speed;
  if (!(args.watch_delay_ms >= 0 && std::isfinite(args.watch_delay_ms))) {
    return Fail("--watch-delay-ms: must be a finite number, at least 0");
  }
  options.watch_delay_s = args.watch_delay_ms / 1000.0;
  options.out_dir = args.out.empty() ? (fs::path("out") / sc->name).string() : args.out;
  if (options.mode != sim::RunMode::kLive &&
      (!args.api_server.empty() || args.allow_loopback_endpoints || !args.pod_network.empty())) {
    return Fail("--api-server, --allow-loopback-endpoints and --pod-network need --mode live");
  }
  options.api_server_kubeconfig = args.api_server;
  options.allow_loopback_endpoints = args.allow_loopback_endpoints;
  if (args.pod_network == "namespace") {
    options.pod_network = sim::RunOptions::PodNetwork::kNamespace;
  } else if (args.pod_network == "loopback") {
    options.pod_network = sim::RunOptions::PodNetwork::kLoopback;
  } else if (!args.pod_network.empty()) {
    return Fail(absl::StrCat("--pod-network: expected namespace or loopback, got \"",
                             args.pod_network, "\""));
  }

  const bool tty = isatty(STDERR_FILENO) == 1 && !args.quiet;
  ProgressBar bar(tty);
  options.on_progress = [&bar](double f, const std::string& what) { bar.Update(f, what); };

  sim::RunRecorder recorder(sim::MakeRunInfo(*sc, options));
  absl::StatusOr<sim::RunSummary> summary;
  if (options.mode == sim::RunMode::kVirtual) {
    summary = sim::RunVirtual(*sc, options, recorder);
  } else {
    sim::LiveRunner live = sim::GetLiveRunner();
    if (!live) {
      return Fail("--mode live: this k8slb-sim was built without the live engine (sim/live); "
                  "use --mode virtual");
    }
    summary = live(*sc, options, recorder);
  }
  bar.Done();
  if (!summary.ok()) {
    // An interrupted live run exits as shells expect of SIGINT/SIGTERM (128 + signal).
    const bool cancelled = absl::IsCancelled(summary.status());
    const bool term = cancelled && absl::StrContains(summary.status().message(), "SIGTERM");
    return Fail(std::string(summary.status().message()), cancelled ? (term ? 143 : 130) : 1);
  }
  const double covered = summary->scenario_s > 0 ? summary->scenario_s
                                                 : sim::RunDurationS(*sc, options);
  if (auto st = recorder.WriteReport(options.out_dir, /*complete=*/true, covered); !st.ok()) {
    return Fail(std::string(st.message()), 1);
  }
  const sim::Report report = recorder.Snapshot(covered, /*complete=*/true);
  if (!args.quiet) {
    std::cout << "scenario " << report.scenario << " (" << report.mode << ", seed "
              << report.seed << ", " << report.duration_s << " s)";
    if (!sc->description.empty()) std::cout << ": " << sc->description;
    std::cout << "\n";
    if (!report.events.empty()) std::cout << "events:\n" << sim::FormatEvents(report);
    std::cout << "\n" << sim::FormatPodTable(report) << "\n" << sim::FormatComparison(report);
    if (!sc->clients.slow_start.empty()) std::cout << "\n" << sim::FormatNewPodShares(report);
    for (const auto& note : summary->notes) std::cout << "note: " << note << "\n";
    std::cout << absl::StrFormat(
        "\n%d RPCs in %.3g s wall (%s); report: %s/report.json\n"
        "view it: k8slb-dashboard %s\n",
        summary->rpcs, summary->wall_s,
        options.mode == sim::RunMode::kVirtual
            ? absl::StrFormat("%.1fM RPC/s", summary->rpcs / std::max(1e-9, summary->wall_s) / 1e6)
            : "live",
        options.out_dir, options.out_dir);
  }
  if (args.check) {
    if (sc->expect.empty()) {
      std::cout << "no expect: block in " << *path << "\n";
      return 0;
    }
    std::cout << "\n";
    const int failed = PrintChecks(sim::EvaluateExpectations(report, sc->expect));
    if (failed > 0) return Fail(absl::StrCat(failed, " check(s) failed"), 1);
  }
  return 0;
}

int CmdValidate(const std::vector<std::string>& files) {
  int bad = 0;
  for (const auto& f : files) {
    const auto path = ResolveScenario(f);
    auto sc = k8slb::scenario::LoadScenario(path.value_or(f));
    if (!sc.ok()) {
      std::cerr << sc.status().message() << "\n";
      ++bad;
      continue;
    }
    std::cout << path.value_or(f) << ": ok (" << sc->name << ", " << sc->timeline.size()
              << " events, " << sc->expect.size() << " checks"
              << (sc->live_only ? ", live only" : "") << ")\n";
  }
  return bad == 0 ? 0 : 1;
}

int CmdCheck(const std::string& dir, const std::string& scenario_arg) {
  auto report = k8slb::report::LoadJson(dir);
  if (!report.ok()) return Fail(std::string(report.status().message()), 1);
  std::string scenario_path = scenario_arg;
  if (scenario_path.empty()) {
    scenario_path = report->scenario_file;
    std::error_code ec;
    if (scenario_path.empty() || !fs::is_regular_file(scenario_path, ec)) {
      const auto shipped = ResolveScenario(report->scenario);
      if (!shipped) {
        return Fail(absl::StrCat("the report's scenario file \"", report->scenario_file,
                                 "\" is not here; pass --scenario FILE"));
      }
      scenario_path = *shipped;
    }
  } else if (auto resolved = ResolveScenario(scenario_path)) {
    scenario_path = *resolved;
  }
  auto sc = k8slb::scenario::LoadScenario(scenario_path);
  if (!sc.ok()) return Fail(std::string(sc.status().message()), 1);
  if (sc->expect.empty()) {
    std::cout << "no expect: block in " << scenario_path << "; nothing to check\n";
    return 0;
  }
  const auto results = sim::EvaluateExpectations(*report, sc->expect);
  const int failed = PrintChecks(results);
  if (failed > 0) {
    std::cerr << "k8slb-sim: " << failed << " check(s) failed:";
    for (const auto& r : results) {
      if (r.outcome == sim::CheckOutcome::kFailed) {
        std::cerr << "\n  " << r.strategy << " " << r.check << ": " << r.message;
      }
    }
    std::cerr << "\n";
    return 1;
  }
  std::cout << "all " << results.size() << " checks passed (" << scenario_path << ")\n";
  return 0;
}

int CmdList() {
  std::error_code ec;
  for (const auto& dir : ScenarioDirs()) {
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".yaml") files.push_back(entry.path());
    }
    if (files.empty()) continue;
    std::sort(files.begin(), files.end());
    std::cout << "scenarios in " << dir.string() << ":\n";
    for (const auto& f : files) {
      auto sc = k8slb::scenario::LoadScenario(f.string());
      if (!sc.ok()) {
        std::cout << absl::StrFormat("  %-16s INVALID: %s\n", f.stem().string(),
                                     sc.status().message());
        continue;
      }
      std::string desc = sc->description;
      if (auto nl = desc.find('\n'); nl != std::string::npos) desc = desc.substr(0, nl);
      std::cout << absl::StrFormat("  %-16s %s%s\n", sc->name,
                                   sc->live_only ? "[live only] " : "", desc);
    }
    return 0;
  }
  return Fail("no scenarios folder found (set K8SLB_SCENARIOS_DIR)", 1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"k8slb-sim: replay Kubernetes scenarios against gRPC balancing strategies "
               "(clusterip, headless-dns, round-robin, least-request, latency-ewma, ...) and compare them"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for all subcommands");
  app.set_version_flag("--version", std::string("k8slb-sim ") + k8slb::kVersion);

  RunArgs run;
  CLI::App* run_cmd = app.add_subcommand("run", "Run a scenario and print the comparison");
  run_cmd->add_option("scenario", run.scenario, "Scenario file or shipped name (e.g. steady)")
      ->required();
  run_cmd->add_option("--mode", run.mode, "virtual (default: offline, virtual time) or live");
  run_cmd->add_option("--seed", run.seed, "Random seed (default: the scenario's seed)")
      ->check(k8slb::input::UnsignedUpTo(UINT64_MAX));
  run_cmd->add_option("--out", run.out, "Report folder (default: out/<scenario>)");
  run_cmd->add_option("--strategies", run.strategies,
                      "Comma-separated strategies (default: the scenario's list)");
  run_cmd->add_option("--duration", run.duration_s,
                      "Override clients.durationSeconds (seconds; later events are skipped)")
      ->check(k8slb::input::RealIn(0.001, 1e6));
  run_cmd->add_option("--speed", run.speed, "Live: scenario seconds per wall second (default 1)")
      ->check(k8slb::input::RealIn(0.001, 1000));
  run_cmd->add_option("--watch-delay-ms", run.watch_delay_ms,
                      "Virtual: slice change to client update delay (default 2)")
      ->check(k8slb::input::RealIn(0, 60000));
  run_cmd->add_option("--api-server", run.api_server,
                      "Live: play the cluster into the API server of this kubeconfig (kind, "
                      "envtest) instead of an in-process fakeapi; removes what it made at the end");
  run_cmd->add_flag("--allow-loopback-endpoints", run.allow_loopback_endpoints,
                    "Live: when no private network namespace can be made, run the pods on "
                    "loopback addresses (a real API server refuses them; the report records it)");
  run_cmd->add_option("--pod-network", run.pod_network,
                      "Live: namespace (default: a private network namespace, 198.18.0.0/15) or "
                      "loopback (needs --allow-loopback-endpoints)");
  run_cmd->add_flag("--check", run.check,
                    "Evaluate the scenario's expect: block afterwards (exit 1 on failure)");
  run_cmd->add_flag("--quiet", run.quiet, "Print nothing but errors and checks");

  std::vector<std::string> validate_files;
  CLI::App* validate_cmd =
      app.add_subcommand("validate", "Validate scenario files (one message per bad file)");
  validate_cmd->add_option("files", validate_files, "Scenario files or shipped names")
      ->required();

  std::string check_dir, check_scenario;
  CLI::App* check_cmd =
      app.add_subcommand("check", "Evaluate a scenario's expect: block against a report");
  check_cmd->add_option("report_dir", check_dir, "Report folder (or report.json)")->required();
  check_cmd->add_option("--scenario", check_scenario,
                        "Scenario file (default: the one named in the report)");

  app.add_subcommand("list", "List the shipped scenarios");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (auto nl = what.find('\n'); nl != std::string::npos) what = what.substr(0, nl);
    return Fail(absl::StrCat(what, " (see --help)"));
  }
  if (run_cmd->parsed()) return CmdRun(run);
  if (validate_cmd->parsed()) return CmdValidate(validate_files);
  if (check_cmd->parsed()) return CmdCheck(check_dir, check_scenario);
  return CmdList();
}
