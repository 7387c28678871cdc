// ExternalClient: one simulated client of an external strategy (a scenario's
// `{name, command, env}`): the command as a child process of its own process group, its stdout and
// stderr in one log file, stopped with SIGTERM (then SIGKILL after a grace period) when the run
// ends. The live engine counts its RPCs on the pods' servers, so any program in any language
// works without parsing its output.
//
// The child inherits the calling thread's network namespace (the pods' one, see pod_network.h),
// this process's environment plus `env`, a clean signal mask and default signal actions.
//
// Threading: Start() from any thread; the object's methods from one thread at a time.
#ifndef K8SLB_SIM_LIVE_EXTERNAL_CLIENT_H_
#define K8SLB_SIM_LIVE_EXTERNAL_CLIENT_H_

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/engine/recorder.h"
#include "sim/live/load_generator.h"
#include "sim/scenario/scenario.h"

namespace k8slb::sim::live {

struct ExternalLaunch {
  std::vector<std::string> argv;          // argv[0] is looked up on $PATH unless it has a '/'
  std::map<std::string, std::string> env;  // set in the child's environment (replacing)
  std::string log_path;                    // stdout and stderr, created or truncated
};

// `arg` with every {key} of `values` replaced (keys include the braces: "{rps}").
std::string ExpandPlaceholders(const std::string& arg, const std::map<std::string, std::string>& values);

class ExternalClient {
 public:
  // Spawns the process. Errors: the log cannot be created, or the program cannot be executed
  // (not found, not executable), with the reason.
  static absl::StatusOr<std::unique_ptr<ExternalClient>> Start(const ExternalLaunch& launch);
  ~ExternalClient();  // Stop(1 s) if still running
  ExternalClient(const ExternalClient&) = delete;
  ExternalClient& operator=(const ExternalClient&) = delete;

  // nullopt while it runs; else how it ended ("exited with status 1", "killed by signal 9").
  // Never blocks.
  std::optional<std::string> Exited();
  // True once it ended with a non-zero status or a signal it was not sent by Stop().
  bool Failed() const { return failed_; }
  // SIGTERM to its process group, SIGKILL after `grace`; waits for it. Idempotent.
  void Stop(std::chrono::milliseconds grace);
  // The last `max_bytes` of its output, on one line (newlines shown as " | ").
  std::string LogTail(size_t max_bytes) const;

 private:
  ExternalClient(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  void Reaped(int wait_status);

  pid_t pid_;
  std::string log_path_;
  std::optional<std::string> ended_;
  bool stopping_ = false;
  bool failed_ = false;
};

class PodFleet;

// What the external strategies' commands are told (their placeholders, see scenario.h).
struct ProgramContext {
  const scenario::Scenario* scenario = nullptr;
  double duration_s = 0;  // scenario seconds
  double speed = 1;
  std::string kubeconfig;   // path
  std::string dns_address;  // the cluster DNS, "127.0.0.1:PORT"
  std::string dns_zone;     // "cluster.local"
  std::string log_dir;      // where each client's output goes (STRATEGY-N.log)
};

// The external strategies of one live run: starts clients.count processes of each, records the
// RPCs the pods' servers answered on each strategy's own port (server-side truth: any language
// works, nothing parses the programs' output), stops them, and turns what went wrong into notes
// that name the strategy (a program that cannot start, ends with an error, or never sends).
// The other strategies' results are never touched.
//
// Threading: one thread (the engine's control thread).
class ExternalStrategyRunner {
 public:
  // `ports[i]` is the Service port of `strategies[i]`.
  ExternalStrategyRunner(std::vector<const scenario::ExternalStrategy*> strategies, std::vector<int> ports,
                         RunRecorder& recorder);
  ~ExternalStrategyRunner();  // Stop()

  void Start(const ProgramContext& context);
  // Records the RPCs served on each strategy's port since the previous call, at t_s; notices
  // programs that ended.
  void Sample(const PodFleet& fleet, double t_s);
  // Stops every program (SIGTERM, SIGKILL after 3 s). Idempotent.
  void Stop();
  // One note per problem, and one per strategy with its server-side total.
  void Report(std::vector<std::string>* notes);
  uint64_t served() const;

 private:
  struct Program {
    const scenario::ExternalStrategy* def = nullptr;
    int port = 0;
    std::string command;  // as started (client 0), for notes
    std::vector<std::unique_ptr<ExternalClient>> clients;
    std::vector<std::string> problems;
    std::vector<bool> ended_noted;
    std::map<std::string, uint64_t> seen;  // pod -> served on `port` at the previous sample
    uint64_t served = 0;
  };
  RunRecorder& recorder_;
  std::vector<Program> programs_;
  double last_t_s_ = 0;
};

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_EXTERNAL_CLIENT_H_
