// Running a scenario: the options and result shared by the virtual-time engine (this folder), the
// live engine (sim/live, k8slb_sim_live) and the k8slb-sim CLI.
//
// An engine runs every requested strategy on the same scenario and seed and records into the
// RunRecorder it is given; the caller writes the final report (RunRecorder::WriteReport with
// complete=true) after the engine returns. An engine may write incomplete reports to
// RunOptions::out_dir while it runs (live --follow). Engines are called from one thread.
#ifndef K8SLB_SIM_ENGINE_ENGINE_H_
#define K8SLB_SIM_ENGINE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/engine/recorder.h"
#include "sim/scenario/scenario.h"

namespace k8slb::sim {

enum class RunMode { kVirtual, kLive };

// The wall-clock deadline of each RPC a live run sends.
inline constexpr double kLiveRpcDeadlineS = 2.0;

struct RunOptions {
  RunMode mode = RunMode::kVirtual;
  uint64_t seed = 1;
  // Strategy names to run, in order (already validated); empty = the scenario's list.
  std::vector<std::string> strategies;
  // Overrides clients.durationSeconds (and the run's end) when set.
  std::optional<double> duration_s;
  // Live only: scenario seconds per wall second (2 = twice as fast). Virtual ignores it.
  double speed = 1.0;
  std::string out_dir;  // where the report goes (engines may write incomplete reports there)
  // Simulated watch propagation delay (virtual): slice change → k8slb client update.
  double watch_delay_s = 0.002;
  // Live: where the pods listen (sim/README.md "Where live pods run"). kNamespace: a private
  // network namespace with addresses from 198.18.0.0/15 (the run fails, saying why, when none
  // can be made). kLoopback: the host's loopback, 127.x, which a real API server refuses; needs
  // allow_loopback_endpoints. nullopt: kNamespace, or kLoopback when no namespace can be made and
  // allow_loopback_endpoints is set.
  enum class PodNetwork { kNamespace, kLoopback };
  std::optional<PodNetwork> pod_network;
  // Live: the explicit opt-in to pods on loopback addresses; passed to fakeapi, announced in the
  // run's output and recorded in the report.
  bool allow_loopback_endpoints = false;
  // Live: play the scenario's cluster into the API server of this kubeconfig (a user's kind or
  // envtest) instead of an in-process fakeapi; empty: in-process fakeapi.
  std::string api_server_kubeconfig;
  // Called now and then with the fraction of the whole run done (0..1); may be empty.
  std::function<void(double fraction, const std::string& what)> on_progress;
};

struct RunSummary {
  double wall_s = 0;      // wall-clock time the run took
  double scenario_s = 0;  // scenario time covered per strategy
  uint64_t rpcs = 0;      // RPCs simulated/sent across all strategies
  uint64_t sim_events = 0;  // virtual: discrete events processed
  std::vector<std::string> notes;  // anything the user should know (printed by the CLI)
  // Live: calls answered per pod and port, counted by the echo servers themselves (server side;
  // the report's per-pod counts are what the clients saw). Empty for virtual runs.
  std::map<std::string, std::map<int, uint64_t>> served;
};

// The strategy names: one list, the report format's (report/schema.h); xds runs only live.
using report::IsKnownStrategy;
using report::IsLiveOnlyStrategy;
using report::kStrategyNames;

// The strategies a run uses: options.strategies if given, else the scenario's; a virtual run
// leaves out the scenario's live-only ones (SkippedStrategies), so one scenario file can compare
// real clients live and still run in virtual time. Names given explicitly are never left out
// (the virtual engine refuses a live-only one).
std::vector<std::string> StrategiesFor(const scenario::Scenario& scenario,
                                       const RunOptions& options);
// The scenario's live-only strategies a virtual run leaves out (empty for live runs and when
// options.strategies is given). The virtual engine says so in a note and in the report's
// environment ("skipped_strategies"), never silently.
std::vector<std::string> SkippedStrategies(const scenario::Scenario& scenario,
                                           const RunOptions& options);
// The run's traffic duration: options.duration_s, else clients.durationSeconds.
double RunDurationS(const scenario::Scenario& scenario, const RunOptions& options);
// The RunInfo for a recorder of this run (bucket width about duration/100 on a 1-2-5 grid).
RunInfo MakeRunInfo(const scenario::Scenario& scenario, const RunOptions& options);

// The live engine's entry point (sim/live provides one, e.g. k8slb::sim::live::RunLive).
using LiveRunner = std::function<absl::StatusOr<RunSummary>(
    const scenario::Scenario&, const RunOptions&, RunRecorder&)>;

// The virtual-time engine: a deterministic discrete-event simulation (see virtual_engine.cc).
// Refuses live_only scenarios, and live-only strategies named in options.strategies, with
// FailedPrecondition; skips the scenario's own live-only strategies with a note (StrategiesFor).
absl::StatusOr<RunSummary> RunVirtual(const scenario::Scenario& scenario,
                                      const RunOptions& options, RunRecorder& recorder);

}  // namespace k8slb::sim

#endif  // K8SLB_SIM_ENGINE_ENGINE_H_
