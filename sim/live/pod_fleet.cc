#include "sim/live/pod_fleet.h"

#include <algorithm>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "echo_server/echo_server.h"

namespace k8slb::sim::live {

// One pod. `info`, `recorded`, `usable`, `deleted` and `served_before` are guarded by the
// fleet's mutex; `servers` and `applied_factor` belong to the fleet thread (and to Shutdown()
// after that thread is joined), except that ServedCounts() reads the servers' counters under the
// mutex while the fleet thread swaps the pointers under it too.
struct PodFleet::PodState {
  fake::PodInfo info;      // the latest state the model reported
  bool recorded = false;   // RecordPod done (address known)
  bool usable = false;     // last usability sent to the recorder
  bool deleted = false;    // kDeleted sent
  std::map<int, uint64_t> served_before;  // calls answered by servers already stopped, per port
  std::map<int, std::unique_ptr<echo::EchoServer>> servers;  // port → server, while running
  double applied_factor = 1.0;
};

namespace {

// Usable = the slice's `ready` condition: the Pod is Ready and not terminating (and still exists).
bool Usable(const fake::PodInfo& pod) {
  return pod.ready && !pod.terminating && !pod.deleted_nanos.has_value() && !pod.address.empty();
}

// kube-proxy's fallback when no endpoint is ready: serving (Pod Ready) and terminating.
bool ServingTerminating(const fake::PodInfo& pod) {
  return pod.ready && pod.terminating && !pod.deleted_nanos.has_value() && !pod.address.empty();
}

}  // namespace

PodFleet::PodFleet(PodFleetOptions options, RunRecorder& recorder)
    : options_(std::move(options)), recorder_(recorder),
      proxy_random_(options_.seed ^ 0x9e3779b97f4a7c15ULL) {
  thread_ = std::thread([this] { Loop(); });
}

PodFleet::~PodFleet() { Shutdown(); }

void PodFleet::OnPodChange(const fake::PodInfo& pod, double t_s) {
  absl::MutexLock lock(&mu_);
  if (stop_) return;
  auto& slot = pods_[pod.name];
  if (slot == nullptr) slot = std::make_unique<PodState>();
  PodState& state = *slot;
  state.info = pod;
  if (!state.recorded && !pod.address.empty()) {
    state.recorded = true;
    // created_s: when the fleet first sees the pod (the listener fires at the change; pods that
    // exist before the run are reported with t_s = 0).
    recorder_.RecordPod({.name = pod.name, .address = pod.address, .zone = pod.zone, .created_s = t_s});
  }
  bool usable = Usable(pod);
  if (usable != state.usable) {
    state.usable = usable;
    recorder_.UpdatePod(pod.name, usable ? PodChange::kReady : PodChange::kUnready, t_s);
  }
  if (pod.deleted_nanos.has_value() && !state.deleted) {
    state.deleted = true;
    recorder_.UpdatePod(pod.name, PodChange::kDeleted, t_s);
  }
  queue_.push_back(pod.name);
}

void PodFleet::Loop() {
  while (true) {
    std::string name;
    {
      absl::MutexLock lock(&mu_);
      auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&work));
      if (stop_) return;
      name = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    Reconcile(name);
    absl::MutexLock lock(&mu_);
    --busy_;
  }
}

// Brings the pod's echo servers in line with the model's latest state. Fleet thread only.
void PodFleet::Reconcile(const std::string& name) {
  fake::PodInfo info;
  PodState* state = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto it = pods_.find(name);
    if (it == pods_.end()) return;
    state = it->second.get();
    info = state->info;  // the latest; earlier queued entries for this pod are subsumed
  }
  // The process runs from the pod's creation (a real container binds its port before its
  // readiness probe passes; starting it only at Ready would race the watchers that learn of the
  // pod at that very moment) until it crashes or exits after the preStop drain (terminating and
  // no longer serving), or the pod is gone.
  const bool exited = info.terminating && !info.serving;
  const bool want_running = !info.crashed && !exited && !info.address.empty() &&
                            !info.deleted_nanos.has_value();
  if (!want_running && !state->servers.empty()) {
    std::map<int, std::unique_ptr<echo::EchoServer>> servers;
    {
      absl::MutexLock lock(&mu_);
      servers.swap(state->servers);
    }
    for (auto& [port, server] : servers) {
      if (info.crashed) {
        server->Kill();  // crash: connections cut, no drain, no slice change (the model's job)
      } else {
        // The process exits after its preStop drain: SIGTERM semantics, in-flight calls finish.
        server->Shutdown(options_.drain_limit);
      }
    }
    std::vector<std::function<void(const std::string&)>> listeners;
    {
      absl::MutexLock lock(&mu_);
      for (auto& [port, server] : servers) state->served_before[port] += server->completed();
      listeners = stopped_listeners_;
    }
    for (const auto& l : listeners) l(info.address);
    return;
  }
  if (want_running && state->servers.empty()) {
    std::map<int, std::unique_ptr<echo::EchoServer>> servers;
    for (int port : options_.ports) {
      echo::EchoServerOptions opts;
      opts.listen = absl::StrCat(info.address, ":", port);
      opts.pod_name = info.name;
      opts.zone = info.zone;
      opts.latency_ms = options_.latency_mean_ms * info.latency_factor;
      opts.jitter_ms = options_.latency_jitter_ms * info.latency_factor;
      opts.error_rate = options_.error_rate;
      opts.seed = options_.seed ^ std::hash<std::string>{}(info.name) ^ static_cast<uint64_t>(port);
      auto server = echo::EchoServer::Start(opts);
      if (!server.ok()) {
        absl::MutexLock lock(&mu_);
        errors_.push_back(absl::StrCat(info.name, " on ", opts.listen, ": ", server.status().message()));
        for (auto& [p, s] : servers) s->Kill();
        return;
      }
      servers[port] = std::move(*server);
    }
    absl::MutexLock lock(&mu_);
    state->servers = std::move(servers);
    state->applied_factor = info.latency_factor;
    ++started_;
    return;
  }
  if (!state->servers.empty() && info.latency_factor != state->applied_factor) {
    for (auto& [port, server] : state->servers) {
      server->SetLatency(options_.latency_mean_ms * info.latency_factor,
                         options_.latency_jitter_ms * info.latency_factor);
    }
    state->applied_factor = info.latency_factor;
  }
}

bool PodFleet::WaitIdle(std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stop_ || (queue_.empty() && busy_ == 0);
  };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), absl::FromChrono(timeout));
}

void PodFleet::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  // Stop the remaining servers concurrently: the run is over, nothing needs a drain.
  std::vector<std::unique_ptr<echo::EchoServer>> servers;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, state] : pods_) {
      for (auto& [port, server] : state->servers) {
        state->served_before[port] += server->completed();
        servers.push_back(std::move(server));
      }
      state->servers.clear();
    }
  }
  std::vector<std::future<void>> done;
  done.reserve(servers.size());
  for (auto& s : servers) {
    done.push_back(std::async(std::launch::async, [server = s.get()] { server->Kill(); }));
  }
  for (auto& f : done) f.wait();
}

std::vector<Backend> PodFleet::ReadyBackends() const {
  absl::MutexLock lock(&mu_);
  std::vector<Backend> out;
  for (const auto& [name, state] : pods_) {  // std::map: sorted by name
    if (Usable(state->info)) out.push_back({state->info.address, options_.ports.front()});
  }
  return out;
}

std::optional<Backend> PodFleet::PickForProxy() {
  absl::MutexLock lock(&mu_);
  std::vector<const fake::PodInfo*> ready;
  std::vector<const fake::PodInfo*> fallback;
  for (const auto& [name, state] : pods_) {
    if (Usable(state->info)) ready.push_back(&state->info);
    else if (ServingTerminating(state->info)) fallback.push_back(&state->info);
  }
  const auto& pool = ready.empty() ? fallback : ready;
  if (pool.empty()) return std::nullopt;
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  const fake::PodInfo* chosen = pool[pick(proxy_random_)];
  return Backend{chosen->address, options_.ports.front()};
}

void PodFleet::AddServerStoppedListener(std::function<void(const std::string& host)> listener) {
  absl::MutexLock lock(&mu_);
  stopped_listeners_.push_back(std::move(listener));
}

int PodFleet::servers_started() const {
  absl::MutexLock lock(&mu_);
  return started_;
}

std::vector<std::string> PodFleet::errors() const {
  absl::MutexLock lock(&mu_);
  return errors_;
}

std::map<std::string, std::map<int, uint64_t>> PodFleet::ServedCounts() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::map<int, uint64_t>> out;
  for (const auto& [name, state] : pods_) {
    std::map<int, uint64_t>& counts = out[name];
    for (int port : options_.ports) counts[port] = state->served_before.count(port) ? state->served_before.at(port) : 0;
    for (const auto& [port, server] : state->servers) counts[port] += server->completed();
  }
  return out;
}

}  // namespace k8slb::sim::live
