#include "sim/live/external_client.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "sim/live/pod_fleet.h"

extern char** environ;

namespace k8slb::sim::live {

std::string ExpandPlaceholders(const std::string& arg, const std::map<std::string, std::string>& values) {
  std::vector<std::pair<std::string, std::string>> pairs(values.begin(), values.end());
  return absl::StrReplaceAll(arg, pairs);
}

absl::StatusOr<std::unique_ptr<ExternalClient>> ExternalClient::Start(const ExternalLaunch& launch) {
  if (launch.argv.empty()) return absl::InvalidArgumentError("empty command");
  // The environment: ours, with launch.env replacing or adding entries.
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    if (launch.env.count(key) == 0) env_strings.push_back(entry);
  }
  for (const auto& [key, value] : launch.env) env_strings.push_back(absl::StrCat(key, "=", value));
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = launch.argv;
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, launch.log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group (Stop() signals the whole program, children included; a terminal's
  // Ctrl-C reaches only k8slb-sim, which then stops it), with the signal mask and actions a
  // fresh program expects (this process blocks SIGINT/SIGTERM in its threads).
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot run ", launch.argv[0], ": ", std::strerror(rc)));
  }
  return std::unique_ptr<ExternalClient>(new ExternalClient(pid, launch.log_path));
}

ExternalClient::~ExternalClient() { Stop(std::chrono::milliseconds(1000)); }

void ExternalClient::Reaped(int wait_status) {
  if (WIFEXITED(wait_status)) {
    ended_ = absl::StrCat("exited with status ", WEXITSTATUS(wait_status));
    failed_ = WEXITSTATUS(wait_status) != 0 && !stopping_;
  } else if (WIFSIGNALED(wait_status)) {
    ended_ = absl::StrCat("killed by signal ", WTERMSIG(wait_status), " (", strsignal(WTERMSIG(wait_status)), ")");
    failed_ = !stopping_;
  } else {
    ended_ = "ended";
  }
}

std::optional<std::string> ExternalClient::Exited() {
  if (ended_) return ended_;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) Reaped(status);
  if (r < 0 && errno == ECHILD) ended_ = "gone (reaped elsewhere)";
  return ended_;
}

void ExternalClient::Stop(std::chrono::milliseconds grace) {
  if (Exited()) return;
  stopping_ = true;
  ::kill(-pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (!Exited() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (Exited()) return;
  ::kill(-pid_, SIGKILL);
  int status = 0;
  if (::waitpid(pid_, &status, 0) == pid_) Reaped(status);
}

std::string ExternalClient::LogTail(size_t max_bytes) const {
  std::ifstream in(log_path_, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  if (text.empty()) return "(no output)";
  return absl::StrReplaceAll(text, {{"\n", " | "}});
}

ExternalStrategyRunner::ExternalStrategyRunner(std::vector<const scenario::ExternalStrategy*> strategies,
                                               std::vector<int> ports, RunRecorder& recorder)
    : recorder_(recorder) {
  for (size_t i = 0; i < strategies.size(); ++i) {
    Program p;
    p.def = strategies[i];
    p.port = ports[i];
    programs_.push_back(std::move(p));
  }
}

ExternalStrategyRunner::~ExternalStrategyRunner() { Stop(); }

void ExternalStrategyRunner::Start(const ProgramContext& ctx) {
  const scenario::Scenario& sc = *ctx.scenario;
  for (Program& p : programs_) {
    const std::string service = absl::StrCat(sc.service.name, "-", p.def->name);
    const std::string port_ref = sc.service.port_name.empty() ? std::to_string(p.port) : sc.service.port_name;
    std::map<std::string, std::string> values = {
        {"{rps}", absl::StrFormat("%g", sc.clients.rate_rps * ctx.speed)},
        {"{duration}", absl::StrFormat("%g", ctx.duration_s / ctx.speed)},
        {"{concurrency}", std::to_string(sc.clients.concurrency)},
        {"{target}", absl::StrCat("kubernetes:///", service, ".", sc.service.namespace_name, ":", port_ref)},
        {"{dns_target}", absl::StrCat("dns://", ctx.dns_address, "/", service, ".", sc.service.namespace_name,
                                      ".svc.", ctx.dns_zone, ":", p.port)},
        {"{port}", std::to_string(p.port)},
        {"{kubeconfig}", ctx.kubeconfig}};
    recorder_.SetEnvironment(absl::StrCat("external.", p.def->name),
                             absl::StrCat(absl::StrJoin(p.def->command, " "), " (", sc.clients.count,
                                          " client(s); Service ", service, " port ", p.port, ")"));
    for (int ci = 0; ci < sc.clients.count; ++ci) {
      values["{client}"] = std::to_string(ci);
      ExternalLaunch launch;
      for (const std::string& arg : p.def->command) launch.argv.push_back(ExpandPlaceholders(arg, values));
      launch.env = p.def->env;
      launch.env["KUBECONFIG"] = ctx.kubeconfig;
      launch.log_path = absl::StrCat(ctx.log_dir, "/", p.def->name, "-", ci, ".log");
      if (ci == 0) p.command = absl::StrJoin(launch.argv, " ");
      absl::StatusOr<std::unique_ptr<ExternalClient>> started = ExternalClient::Start(launch);
      if (!started.ok()) {
        p.problems.push_back(absl::StrCat("client ", ci, " could not start: ", started.status().message()));
        continue;
      }
      p.clients.push_back(std::move(*started));
      p.ended_noted.push_back(false);
    }
  }
}

void ExternalStrategyRunner::Sample(const PodFleet& fleet, double t_s) {
  if (programs_.empty()) return;
  last_t_s_ = t_s;
  const std::map<std::string, std::map<int, uint64_t>> counts = fleet.ServedCounts();
  for (Program& p : programs_) {
    for (const auto& [pod, per_port] : counts) {
      auto it = per_port.find(p.port);
      if (it == per_port.end()) continue;
      uint64_t& seen = p.seen[pod];
      if (it->second > seen) {
        recorder_.RecordServed(p.def->name, t_s, pod, it->second - seen);
        p.served += it->second - seen;
        seen = it->second;
      }
    }
    for (size_t i = 0; i < p.clients.size(); ++i) {
      if (p.ended_noted[i]) continue;
      std::optional<std::string> how = p.clients[i]->Exited();
      if (!how || !p.clients[i]->Failed()) continue;
      p.ended_noted[i] = true;
      p.problems.push_back(absl::StrCat("client ", i, " ", *how, absl::StrFormat(" at t=%.1f s", t_s),
                                        ", before the run ended; its output: ", p.clients[i]->LogTail(400)));
    }
  }
}

void ExternalStrategyRunner::Stop() {
  for (Program& p : programs_) {
    for (auto& c : p.clients) c->Stop(std::chrono::milliseconds(3000));
  }
}

void ExternalStrategyRunner::Report(std::vector<std::string>* notes) {
  for (Program& p : programs_) {
    const std::string who = absl::StrCat("live: external strategy ", p.def->name, ": ");
    for (const std::string& problem : p.problems) notes->push_back(who + problem);
    if (p.served == 0) {
      std::string note = absl::StrCat(who, "no RPC reached a pod on its port ", p.port,
                                      " (its clients never sent, or not to {target} / {dns_target})");
      if (!p.clients.empty()) absl::StrAppend(&note, "; client 0's output: ", p.clients[0]->LogTail(400));
      notes->push_back(std::move(note));
    } else {
      notes->push_back(absl::StrCat(who, p.served, " RPCs counted by the pods' servers on port ", p.port, " (",
                                    p.command, ")"));
    }
  }
}

uint64_t ExternalStrategyRunner::served() const {
  uint64_t total = 0;
  for (const Program& p : programs_) total += p.served;
  return total;
}

}  // namespace k8slb::sim::live
