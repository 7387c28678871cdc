#include "sim/live/pod_fleet.h"

#include <algorithm>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "echo_server/echo_server.h"

namespace k8slb::sim::live {

struct PodFleet::PodState {
  fake::PodInfo info;      // the latest state the model reported
  bool recorded = false;   // RecordPod done (address known)
  bool usable = false;     // last usability sent to the recorder
  bool deleted = false;    // kDeleted sent
  // Fleet-thread side.
  std::unique_ptr<echo::EchoServer> server;
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

PodFleet::PodFleet(PodFleetOptions options, const ScenarioClock& clock, RunRecorder& recorder)
    : options_(std::move(options)), recorder_(recorder),
      proxy_random_(options_.seed ^ 0x9e3779b97f4a7c15ULL) {
  thread_ = std::thread([this] { Loop(); });
}

PodFleet::~PodFleet() { Shutdown(); }

void PodFleet::OnPodChange(const fake::PodInfo& pod, double t_s) {
  std::lock_guard<std::mutex> lock(mu_);
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
  cv_.notify_all();
}

void PodFleet::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    std::string name = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    Reconcile(name);
    lock.lock();
    --busy_;
    cv_.notify_all();
  }
}

// Brings the pod's echo server in line with the model's latest state. Fleet thread only; the
// server pointer is only touched here and in Shutdown (after this thread is joined).
void PodFleet::Reconcile(const std::string& name) {
  fake::PodInfo info;
  PodState* state = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
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
  if (!want_running && state->server != nullptr) {
    std::unique_ptr<echo::EchoServer> server = std::move(state->server);
    if (info.crashed) {
      server->Kill();  // crash: connections cut, no drain, no slice change (the model's job)
    } else {
      // The process exits after its preStop drain: SIGTERM semantics, in-flight calls finish.
      server->Shutdown(options_.drain_limit);
    }
    std::vector<std::function<void(const std::string&)>> listeners;
    {
      std::lock_guard<std::mutex> lock(mu_);
      listeners = stopped_listeners_;
    }
    for (const auto& l : listeners) l(info.address);
    return;
  }
  if (want_running && state->server == nullptr) {
    echo::EchoServerOptions opts;
    opts.listen = absl::StrCat(info.address, ":", options_.port);
    opts.pod_name = info.name;
    opts.zone = info.zone;
    opts.latency_ms = options_.latency_mean_ms * info.latency_factor;
    opts.jitter_ms = options_.latency_jitter_ms * info.latency_factor;
    opts.error_rate = options_.error_rate;
    opts.seed = options_.seed ^ std::hash<std::string>{}(info.name);
    auto server = echo::EchoServer::Start(opts);
    std::lock_guard<std::mutex> lock(mu_);
    if (!server.ok()) {
      errors_.push_back(absl::StrCat(info.name, " on ", opts.listen, ": ",
                                     server.status().message()));
      return;
    }
    state->server = std::move(*server);
    state->applied_factor = info.latency_factor;
    ++started_;
    return;
  }
  if (state->server != nullptr && info.latency_factor != state->applied_factor) {
    state->server->SetLatency(options_.latency_mean_ms * info.latency_factor,
                              options_.latency_jitter_ms * info.latency_factor);
    state->applied_factor = info.latency_factor;
  }
}

bool PodFleet::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return stop_ || (queue_.empty() && busy_ == 0); });
}

void PodFleet::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  // Stop the remaining servers concurrently: the run is over, nothing needs a drain.
  std::vector<std::unique_ptr<echo::EchoServer>> servers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, state] : pods_) {
      if (state->server != nullptr) servers.push_back(std::move(state->server));
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
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Backend> out;
  for (const auto& [name, state] : pods_) {  // std::map: sorted by name
    if (Usable(state->info)) out.push_back({state->info.address, options_.port});
  }
  return out;
}

std::optional<Backend> PodFleet::PickForProxy() {
  std::lock_guard<std::mutex> lock(mu_);
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
  return Backend{chosen->address, options_.port};
}

void PodFleet::AddServerStoppedListener(std::function<void(const std::string& host)> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_listeners_.push_back(std::move(listener));
}

int PodFleet::servers_started() const {
  std::lock_guard<std::mutex> lock(mu_);
  return started_;
}

std::vector<std::string> PodFleet::errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return errors_;
}

}  // namespace k8slb::sim::live
