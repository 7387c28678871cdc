// The virtual-time engine: a deterministic discrete-event simulation of clients sending RPCs to
// the pods of one Service under each strategy, while the shared cluster model (fakeapi/model,
// the same code fakeapi serves) plays the scenario's timeline.
//
// What is simulated, and why it is modelled this way:
// - One Cluster, one timeline, one set of pods for all strategies; each strategy has its own
//   clients, connections and per-pod server load, so strategies never affect each other and all
//   see exactly the same cluster history (a fair side-by-side comparison).
// - Watch: every EndpointSlice change reaches watchers `watch_delay_s` later. Watchers are each
//   k8slb client's SliceStore (the library's own code, as in production) and the cluster
//   infrastructure's view (kube-proxy rules for ClusterIP, CoreDNS answers for headless DNS).
//   API faults stop deliveries but never empty a set (fail-static): `disconnect` → reconnect
//   after the library's initial backoff and relist; `expire` → history compacted (the next
//   resume relists); `errors` → open watches are cut at its start (as fakeapi does for the live
//   engine) and every request fails, so the client retries with doubling backoff (initial ..
//   max; 429 retries every 1 s as Retry-After says) counted from the window's start, and relists
//   at the first retry after the errors stop; `stall` → nothing until the stall ends, with a
//   relist at each stall timeout. No other fault brings the watch back inside an errors window
//   (a `disconnect` there cuts nothing that is open, and its reconnect fails like every other
//   request). Backoffs and the stall timeout are DiscoveryOptions' defaults unless the
//   scenario's clients.discovery overrides them.
// - Servers: a pod's service time is meanMs + Exp(jitterMs), times its `slow` factor, stretched
//   by processor sharing beyond kPodParallelism RPCs in flight at that pod (so least-request's
//   in-flight signal has something to see). `errorRate` answers UNAVAILABLE. A crashed pod
//   fails RPCs at once (in-flight ones too); terminating pods serve during drain, then refuse;
//   not-ready pods keep serving existing connections (as real pods do).
// - Connections (gRPC semantics): a connection breaks when its pod's process stops; connecting
//   to a pod that does not serve fails and the subchannel enters TRANSIENT_FAILURE with gRPC's
//   reconnect backoff (1 s × 1.6, max 120 s); RPCs picked onto it fail fast.
// - Outlier ejection and the latency signal (k8slb strategies): the library's OutlierDetector and
//   LatencySignal with their defaults, one detector per client (as one per BalancedChannel), on
//   the virtual clock. Every failure the engine produces is gRPC's UNAVAILABLE
//   (CallOutcome::kUnavailable): a refused or broken connection, a crash, an injected error.
// - clusterip: one connection per client through kube-proxy, which picks a random usable
//   endpoint (honouring PreferClose hints for the client's zone) at connect time only.
//   headless-dns: resolve the ready set at start, round robin over it, re-resolve only when a
//   connection breaks or fails, at most every 30 s (gRPC's DNS resolver min interval).
//   round-robin / least-request / peak-ewma: the library's SliceStore + MakePicker per client,
//   under the library's named policy (kNamedPolicies), with the scenario's clients.slowStart for
//   that strategy (the library's StartSlowStartRamps on each new snapshot, on the virtual clock).
// Determinism: all randomness comes from SplitMix64 streams seeded from (seed, strategy name,
// client); ties in time break by insertion order.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fakeapi/model/cluster.h"
#include "k8slb/call_outcome.h"
#include "k8slb/discovery.h"
#include "k8slb/endpoint_set.h"
#include "k8slb/load_signal.h"
#include "k8slb/outlier_detector.h"
#include "k8slb/picker.h"
#include "k8slb/random.h"
#include "k8slb/slice_store.h"
#include "k8slb/slow_start.h"
#include "k8slb/topology.h"
#include "sim/engine/engine.h"
#include "util/fnv1a.h"
#include "util/splitmix64.h"

namespace k8slb::sim {
namespace {

using scenario::EventKind;

constexpr int kPodParallelism = 4;
constexpr double kFailFastMs = 0.05;          // a refused connect or a fast fail
constexpr int64_t kSubchannelBackoffInitial = 1'000'000'000;
constexpr double kSubchannelBackoffMultiplier = 1.6;
constexpr int64_t kSubchannelBackoffMax = 120'000'000'000;
constexpr int64_t kRetryAfter429 = 1'000'000'000;
constexpr int64_t kDnsMinReresolve = 30'000'000'000;

int64_t ToNanos(double s) { return static_cast<int64_t>(std::llround(s * 1e9)); }
double ToSeconds(int64_t n) { return static_cast<double>(n) / 1e9; }

// The watch's timing: the library's DiscoveryOptions defaults, with the scenario's explicit
// clients.discovery overrides (a run measures what users get unless the scenario says otherwise).
// The engine models one watch shared by the clients, so backoff jitter is not drawn: every retry
// waits its full step, the latest a client of the library would.
struct WatchTiming {
  int64_t backoff_initial;
  int64_t backoff_max;
  int64_t stall_timeout;
};
WatchTiming MakeWatchTiming(const scenario::DiscoveryOverrides& overrides) {
  const DiscoveryOptions defaults;
  auto nanos = [](auto d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); };
  WatchTiming t{nanos(defaults.backoff_initial), nanos(defaults.backoff_max), nanos(defaults.stall_timeout)};
  if (overrides.backoff_initial_s) t.backoff_initial = ToNanos(*overrides.backoff_initial_s);
  if (overrides.backoff_max_s) t.backoff_max = ToNanos(*overrides.backoff_max_s);
  return t;
}

// Simulation draws: SplitMix64 streams (util/splitmix64.h) with an exponential on top.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t Next() { return gen_.Next(); }
  double Uniform01() { return gen_.Uniform01(); }
  uint64_t Below(uint64_t n) { return gen_.Below(n); }
  double Exponential(double mean) { return -mean * std::log1p(-Uniform01()); }

 private:
  util::SplitMix64 gen_;
};

// A seed derived from two values (the first output of the stream seeded by their mix).
uint64_t Mix(uint64_t a, uint64_t b) { return util::SplitMix64(a ^ (b * util::kSplitMix64Gamma)).Next(); }

// kK8slb: the library's picker under one of its named policies (kNamedPolicies).
enum class StrategyKind { kClusterIp, kHeadlessDns, kK8slb };

StrategyKind KindOf(std::string_view name) {
  if (name == "clusterip") return StrategyKind::kClusterIp;
  if (name == "headless-dns") return StrategyKind::kHeadlessDns;
  return StrategyKind::kK8slb;
}

// The library's policy of a k8slb strategy name (least-request for a name the list lacks).
NamedPolicy PolicyOf(std::string_view name) {
  if (std::optional<NamedPolicy> p = FindNamedPolicy(name)) return *p;
  return *FindNamedPolicy("least-request");
}

// The engine's view of one model pod.
struct SimPod {
  std::string name;
  std::string zone;
  int recorder_id = -1;
  bool serving = false;
  bool crashed = false;
  bool usable = false;
  bool deleted = false;
  double latency_factor = 1.0;
  uint32_t crash_gen = 0;  // bumps on each crash: in-flight RPCs fail
  uint32_t life_gen = 0;   // bumps whenever the process stops: connections break
};

// A gRPC subchannel (one connection to one pod) as a client sees it.
struct SubConn {
  uint32_t gen = UINT32_MAX;  // pod life_gen when connected; UINT32_MAX: not connected
  int64_t fail_until = 0;     // TRANSIENT_FAILURE until then
  int64_t backoff = 0;
  bool retry_scheduled = false;
};

struct Client {
  int in_flight = 0;
  uint64_t pending = 0;  // open-loop arrivals waiting for a concurrency slot
  std::unique_ptr<Rng> rng;
  // clusterip
  int conn_pod = -1;
  SubConn conn;
  // headless-dns and k8slb: per pod index
  std::vector<SubConn> subconns;
  // headless-dns
  std::vector<int> resolved;
  size_t rr = 0;
  int64_t last_resolve = 0;
  bool reresolve_scheduled = false;
  // k8slb
  std::unique_ptr<SliceStore> store;
  std::unique_ptr<OutlierDetector> detector;  // the library's, on the virtual clock
  std::unique_ptr<Picker> picker;
  std::vector<int> endpoint_pod;  // picker's set index → pod index
  std::shared_ptr<RandomSource> pick_random;
  NamedPolicy policy = PolicyOf("least-request");
  // The library's latency recording rule for this policy's signal, on the virtual clock (as
  // BalancedChannel makes one per channel); null for a policy that reads no latency.
  std::unique_ptr<const LatencySignal> latency;
  SlowStartOptions slow_start;  // clients.slowStart of this strategy (off when absent)
};

struct Strategy {
  std::string name;
  StrategyKind kind = StrategyKind::kK8slb;
  int recorder_id = -1;
  std::vector<Client> clients;
  std::vector<int> pod_load;  // server-side in-flight per pod
};

struct Rpc {
  int strategy = 0;
  int client = 0;
  int pod = 0;
  int64_t sent = 0;
  LatencySignal::CallStart latency_start;  // latency policies: LatencySignal::Start once counted
  uint32_t crash_gen = 0;
  bool app_error = false;
  std::shared_ptr<EndpointStats> stats;  // k8slb strategies: in-flight + outlier bookkeeping
};

enum class EvType : uint8_t {
  kArrival,        // a = strategy, b = client
  kComplete,       // a = rpc slot
  kTimeline,       // a = timeline index
  kDeliver,        // a = delivery index
  kWatchResume,    // a = fault generation
  kWatchRelist,    // stall timeout relist; a = fault generation
  kSubRetry,       // a = strategy, b = client, c = pod
  kDnsReresolve,   // a = strategy, b = client
};

struct QEvent {
  int64_t t;
  uint64_t seq;
  EvType type;
  uint32_t a, b, c;
};

struct Later {
  bool operator()(const QEvent& x, const QEvent& y) const {
    return x.t != y.t ? x.t > y.t : x.seq > y.seq;
  }
};

class Simulation {
 public:
  Simulation(const scenario::Scenario& sc, const RunOptions& options, RunRecorder& recorder)
      : sc_(sc), options_(options), recorder_(recorder),
        clock_(std::make_shared<ManualClock>(0)),
        watch_timing_(MakeWatchTiming(sc.clients.discovery)) {}

  absl::StatusOr<RunSummary> Run();

 private:
  // --- setup
  absl::Status Setup();
  int PodIndex(const fake::PodInfo& info);
  void OnPod(const fake::PodInfo& info);
  void OnStoredEvent(const fake::StoredEvent& ev);
  // --- queue
  void Push(int64_t t, EvType type, uint32_t a = 0, uint32_t b = 0, uint32_t c = 0) {
    queue_.push(QEvent{t, seq_++, type, a, b, c});
  }
  // --- watch / views
  void Deliver(const SliceEvent& ev);
  void Relist();
  void RebuildInfraViews();
  void RebuildPicker(Client& c);
  void ApplyFault(const scenario::Event& ev);
  // --- traffic
  void Arrive(int s, int c);
  void Send(int s, int c);
  void StartRpc(int s, int c, int pod, std::shared_ptr<EndpointStats> stats);
  void FailFast(int s, int c, int pod, const std::shared_ptr<EndpointStats>& stats);
  void Complete(uint32_t slot);
  void ClientSlotFreed(int s, int c);
  void DrainPending(int s, int c);
  void NoteFailure(Client& cl, EndpointStats* stats);
  void NoteSuccess(Client& cl, EndpointStats& stats, LatencySignal::CallStart start);
  // Tries to use a subchannel to `pod`; true when it is (now) connected.
  bool Connect(int s, int c, SubConn& sub, int pod, bool k8slb);
  void ScheduleSubRetry(int s, int c, int pod, SubConn& sub);
  void SendClusterIp(int s, int c);
  void SendDns(int s, int c);
  void SendK8slb(int s, int c);
  void RequestReresolve(int s, int c);
  void Resolve(Client& cl);
  int64_t now() const { return now_; }
  double now_s() const { return ToSeconds(now_); }

  const scenario::Scenario& sc_;
  const RunOptions& options_;
  RunRecorder& recorder_;
  std::shared_ptr<ManualClock> clock_;
  const WatchTiming watch_timing_;
  std::unique_ptr<fake::Cluster> cluster_;
  int64_t now_ = 0;
  int64_t end_ = 0;
  int64_t watch_delay_ = 0;
  std::priority_queue<QEvent, std::vector<QEvent>, Later> queue_;
  uint64_t seq_ = 0;
  uint64_t events_processed_ = 0;
  uint64_t rpcs_ = 0;

  std::vector<SimPod> pods_;
  std::unordered_map<std::string, int> pod_by_name_;
  std::vector<Strategy> strategies_;
  std::vector<Rpc> rpcs_slab_;
  std::vector<uint32_t> free_slots_;

  // Watch state shared by every watcher (one API server).
  std::vector<SliceEvent> deliveries_;
  bool watch_up_ = true;
  uint64_t fault_gen_ = 0;
  // The current errors window: when its retries began, when it ends, and the first retry that
  // succeeds (no watch or list gets through before then, whatever other fault happens).
  int64_t errors_start_ = 0;
  int64_t errors_until_ = 0;
  int64_t errors_resume_at_ = 0;
  // Infrastructure views (kube-proxy, CoreDNS), fed like any watcher.
  std::unique_ptr<SliceStore> infra_;
  std::vector<int> proxy_candidates_;  // kube-proxy's choice set for the client zone
  std::vector<int> dns_answer_;        // ready pods, as headless DNS answers
  std::vector<std::string> notes_;
};

absl::Status Simulation::Setup() {
  end_ = ToNanos(RunDurationS(sc_, options_));
  watch_delay_ = ToNanos(std::max(0.0, options_.watch_delay_s));
  scenario::Scenario model_sc = sc_;
  model_sc.seed = options_.seed;
  auto cluster = fake::Cluster::FromScenario(model_sc, clock_);
  if (!cluster.ok()) {
    return absl::Status(cluster.status().code(),
                        absl::StrCat("cluster model: ", cluster.status().message()));
  }
  cluster_ = std::move(*cluster);
  for (const auto& info : cluster_->Pods()) OnPod(info);
  cluster_->SubscribePods([this](const fake::PodInfo& info) { OnPod(info); });
  cluster_->Subscribe([this](const fake::StoredEvent& ev) { OnStoredEvent(ev); });

  SliceStoreOptions store_options{.service_name = sc_.service.name,
                                  .namespace_name = sc_.service.namespace_name,
                                  .port = sc_.service.port_name.empty()
                                              ? PortSelector::ByNumber(sc_.service.port)
                                              : PortSelector::ByName(sc_.service.port_name)};
  const auto slices = cluster_->Slices(sc_.service.namespace_name, sc_.service.name);
  infra_ = std::make_unique<SliceStore>(store_options);
  infra_->Replace(slices);
  RebuildInfraViews();

  const std::vector<std::string> names = StrategiesFor(sc_, options_);
  strategies_.resize(names.size());
  for (size_t si = 0; si < names.size(); ++si) {
    Strategy& st = strategies_[si];
    st.name = names[si];
    st.kind = KindOf(st.name);
    st.recorder_id = recorder_.StrategyId(st.name);
    if (st.recorder_id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("strategy ", st.name, " is not in the recorder's run info"));
    }
    st.pod_load.assign(pods_.size(), 0);
    st.clients.resize(sc_.clients.count);
    const uint64_t strategy_seed = Mix(options_.seed, util::Fnv1a64(st.name));
    for (int ci = 0; ci < sc_.clients.count; ++ci) {
      Client& cl = st.clients[ci];
      const uint64_t client_seed = Mix(strategy_seed, static_cast<uint64_t>(ci) + 1);
      cl.rng = std::make_unique<Rng>(client_seed);
      if (st.kind != StrategyKind::kClusterIp) cl.subconns.resize(pods_.size());
      if (st.kind == StrategyKind::kK8slb) {
        cl.store = std::make_unique<SliceStore>(store_options);
        cl.store->Replace(slices);
        cl.detector = std::make_unique<OutlierDetector>(OutlierDetectionOptions{}, clock_,
                                                        absl::StrCat(st.name, "/", ci));
        cl.pick_random = MakeSeededRandom(Mix(client_seed, 0x9e37));
        cl.policy = PolicyOf(st.name);
        if (RecordsLatency(cl.policy.load_signal)) {
          cl.latency = std::make_unique<const LatencySignal>(kDefaultLatencyDecay, clock_, cl.policy.load_signal);
        }
        if (auto it = sc_.clients.slow_start.find(st.name); it != sc_.clients.slow_start.end()) {
          cl.slow_start = it->second;
        }
        RebuildPicker(cl);
      } else if (st.kind == StrategyKind::kHeadlessDns) {
        Resolve(cl);
      }
      // Traffic: open loop at rate_rps with a random phase, or closed loop at concurrency.
      if (sc_.clients.rate_rps > 0) {
        const double phase = cl.rng->Uniform01() / sc_.clients.rate_rps;
        Push(ToNanos(phase), EvType::kArrival, si, ci);
      } else {
        for (int k = 0; k < sc_.clients.concurrency; ++k) Push(0, EvType::kArrival, si, ci);
      }
    }
  }
  for (size_t i = 0; i < sc_.timeline.size(); ++i) {
    if (sc_.timeline[i].t_s <= ToSeconds(end_)) {
      Push(ToNanos(sc_.timeline[i].t_s), EvType::kTimeline, i);
    }
  }
  return absl::OkStatus();
}

int Simulation::PodIndex(const fake::PodInfo& info) {
  auto it = pod_by_name_.find(info.name);
  if (it != pod_by_name_.end()) return it->second;
  const int idx = static_cast<int>(pods_.size());
  SimPod p;
  p.name = info.name;
  p.zone = info.zone;
  recorder_.RecordPod({.name = info.name, .address = info.address, .zone = info.zone,
                       .created_s = ToSeconds(info.created_nanos)});
  p.recorder_id = recorder_.PodId(info.name);
  pods_.push_back(std::move(p));
  pod_by_name_.emplace(info.name, idx);
  for (Strategy& st : strategies_) {
    st.pod_load.resize(pods_.size(), 0);
    if (st.kind == StrategyKind::kClusterIp) continue;  // one connection, no per-pod state
    for (Client& cl : st.clients) cl.subconns.resize(pods_.size());
  }
  return idx;
}

void Simulation::OnPod(const fake::PodInfo& info) {
  const int idx = PodIndex(info);
  SimPod& p = pods_[idx];
  if (!info.address.empty()) {
    recorder_.RecordPod({.name = info.name, .address = info.address, .zone = info.zone,
                         .created_s = ToSeconds(info.created_nanos)});
  }
  p.zone = info.zone;
  const bool was_serving = p.serving;
  if (info.crashed && !p.crashed) ++p.crash_gen;
  p.crashed = info.crashed;
  p.serving = info.serving && !info.crashed && !info.deleted_nanos;
  if (was_serving && !p.serving) ++p.life_gen;
  p.latency_factor = info.latency_factor;
  const bool usable = info.ready && !info.terminating && !info.deleted_nanos;
  const double t = now_s();
  if (usable != p.usable) {
    recorder_.UpdatePod(info.name, usable ? PodChange::kReady : PodChange::kUnready, t);
    p.usable = usable;
  }
  if (info.deleted_nanos && !p.deleted) {
    p.deleted = true;
    recorder_.UpdatePod(info.name, PodChange::kDeleted, t);
  }
}

void Simulation::OnStoredEvent(const fake::StoredEvent& ev) {
  if (ev.kind != fake::ResourceKind::kEndpointSlice || !ev.slice) return;
  if (ev.namespace_name != sc_.service.namespace_name) return;
  if (!watch_up_) return;  // the resume relists; nothing is lost
  SliceEvent se;
  se.type = ev.type == fake::ChangeType::kAdded      ? SliceEventType::kAdded
            : ev.type == fake::ChangeType::kModified ? SliceEventType::kModified
                                                     : SliceEventType::kDeleted;
  se.slice = *ev.slice;
  deliveries_.push_back(std::move(se));
  Push(now_ + watch_delay_, EvType::kDeliver, static_cast<uint32_t>(deliveries_.size() - 1));
}

void Simulation::Deliver(const SliceEvent& ev) {
  infra_->Apply(ev);
  for (Strategy& st : strategies_) {
    if (st.kind != StrategyKind::kK8slb) continue;
    for (Client& cl : st.clients) {
      if (cl.store->Apply(ev)) RebuildPicker(cl);
    }
  }
  RebuildInfraViews();
}

void Simulation::Relist() {
  const auto slices = cluster_->Slices(sc_.service.namespace_name, sc_.service.name);
  infra_->Replace(slices);
  for (Strategy& st : strategies_) {
    if (st.kind != StrategyKind::kK8slb) continue;
    for (Client& cl : st.clients) {
      if (cl.store->Replace(slices)) RebuildPicker(cl);
    }
  }
  RebuildInfraViews();
}

void Simulation::RebuildInfraViews() {
  const auto set = infra_->Current();
  proxy_candidates_.clear();
  dns_answer_.clear();
  // kube-proxy on the clients' node reads the hints by the library's rule (topology.h).
  const TopologyChoice topology =
      ChooseTopology(set->endpoints(), ClientTopology{.zone = sc_.clients.zone, .node = sc_.clients.node});
  std::vector<uint32_t>::const_iterator preferred = topology.preferred.begin();
  for (size_t k = 0; k < set->endpoints().size(); ++k) {
    const Endpoint& ep = set->endpoints()[k];
    const bool is_preferred = preferred != topology.preferred.end() && *preferred == k;
    if (is_preferred) ++preferred;
    auto it = pod_by_name_.find(ep.pod_name);
    if (it == pod_by_name_.end()) continue;
    if (ep.ready) dns_answer_.push_back(it->second);
    if (topology.mode == TopologyMode::kAll || is_preferred) proxy_candidates_.push_back(it->second);
  }
}

void Simulation::RebuildPicker(Client& cl) {
  PickerOptions po;
  po.policy = cl.policy.policy;
  po.load_signal = cl.policy.load_signal;
  po.latency_decay = kDefaultLatencyDecay;
  po.client_zone = sc_.clients.zone;
  po.client_node = sc_.clients.node;
  po.topology_spill = sc_.clients.topology_spill;
  po.random = cl.pick_random;
  po.clock = clock_;
  po.slow_start = cl.slow_start;
  auto set = cl.store->Current();
  if (cl.slow_start.enabled()) {
    // The library's rule on the virtual clock: endpoints new since the last picker start a ramp.
    StartSlowStartRamps(cl.picker != nullptr ? &cl.picker->set() : nullptr, *set, clock_->NowNanos());
  }
  cl.endpoint_pod.clear();
  cl.endpoint_pod.reserve(set->size());
  for (const Endpoint& ep : set->endpoints()) {
    auto it = pod_by_name_.find(ep.pod_name);
    cl.endpoint_pod.push_back(it == pod_by_name_.end() ? -1 : it->second);
  }
  cl.detector->SetEndpoints(set);
  cl.picker = MakePicker(std::move(set), po);
}

void Simulation::ApplyFault(const scenario::Event& ev) {
  ++fault_gen_;
  switch (ev.kind) {
    case EventKind::kDisconnect:
      watch_up_ = false;
      Push(now_ + watch_timing_.backoff_initial, EvType::kWatchResume, fault_gen_);
      break;
    case EventKind::kExpire:
      // Only the history goes: streams that are up stay up; the next resume (after any
      // disconnect) gets 410 Gone and relists, which the engine always does.
      cluster_->ExpireHistory();
      --fault_gen_;
      break;
    case EventKind::kErrors: {
      watch_up_ = false;
      // A window that opens while the client is still retrying the last one extends that outage:
      // its retry schedule goes on from the first window's start (the newest status decides the
      // steps).
      if (now_ >= errors_resume_at_) errors_start_ = now_;
      errors_until_ = std::max(errors_until_, now_ + ToNanos(ev.duration_s));
      int64_t t = errors_start_;
      int64_t backoff = watch_timing_.backoff_initial;
      while (t < errors_until_) {
        t += ev.status == 429 ? kRetryAfter429 : backoff;
        backoff = std::min(backoff * 2, watch_timing_.backoff_max);
      }
      errors_resume_at_ = t;
      Push(t, EvType::kWatchResume, fault_gen_);
      break;
    }
    case EventKind::kStall: {
      watch_up_ = false;
      const int64_t until = now_ + ToNanos(ev.duration_s);
      for (int64_t t = now_ + watch_timing_.stall_timeout; t < until; t += watch_timing_.stall_timeout) {
        Push(t, EvType::kWatchRelist, fault_gen_);
      }
      Push(until, EvType::kWatchResume, fault_gen_);
      break;
    }
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Traffic

void Simulation::Arrive(int s, int c) {
  Strategy& st = strategies_[s];
  Client& cl = st.clients[c];
  if (sc_.clients.rate_rps > 0) {
    const int64_t next = now_ + ToNanos(1.0 / sc_.clients.rate_rps);
    if (next < end_) Push(next, EvType::kArrival, s, c);
    ++cl.pending;
    DrainPending(s, c);
    return;
  }
  Send(s, c);
}

void Simulation::DrainPending(int s, int c) {
  // Each send either takes a slot or fails fast (bounded by `pending`).
  Client& cl = strategies_[s].clients[c];
  while (cl.pending > 0 && cl.in_flight < sc_.clients.concurrency) {
    --cl.pending;
    Send(s, c);
  }
}

void Simulation::Send(int s, int c) {
  switch (strategies_[s].kind) {
    case StrategyKind::kClusterIp: SendClusterIp(s, c); break;
    case StrategyKind::kHeadlessDns: SendDns(s, c); break;
    default: SendK8slb(s, c); break;
  }
}

bool Simulation::Connect(int s, int c, SubConn& sub, int pod, bool k8slb) {
  const SimPod& p = pods_[pod];
  if (sub.gen == p.life_gen && p.serving) return true;
  if (now_ < sub.fail_until) return false;
  if (p.serving) {
    sub.gen = p.life_gen;
    sub.backoff = 0;
    sub.fail_until = 0;
    return true;
  }
  // Connection refused / reset: TRANSIENT_FAILURE with backoff.
  sub.gen = UINT32_MAX;
  sub.backoff = sub.backoff == 0
                    ? kSubchannelBackoffInitial
                    : std::min<int64_t>(static_cast<int64_t>(sub.backoff *
                                                             kSubchannelBackoffMultiplier),
                                        kSubchannelBackoffMax);
  sub.fail_until = now_ + sub.backoff;
  if (k8slb) ScheduleSubRetry(s, c, pod, sub);
  return false;
}

void Simulation::ScheduleSubRetry(int s, int c, int pod, SubConn& sub) {
  if (sub.retry_scheduled) return;
  sub.retry_scheduled = true;
  Push(sub.fail_until, EvType::kSubRetry, s, c, pod);
}

void Simulation::SendClusterIp(int s, int c) {
  Client& cl = strategies_[s].clients[c];
  if (cl.conn_pod >= 0) {
    const SimPod& p = pods_[cl.conn_pod];
    if (cl.conn.gen == p.life_gen && p.serving) {
      StartRpc(s, c, cl.conn_pod, nullptr);
      return;
    }
  }
  // No usable connection. In TRANSIENT_FAILURE backoff, RPCs fail fast (not wait-for-ready).
  if (now_ < cl.conn.fail_until) {
    FailFast(s, c, -1, nullptr);
    return;
  }
  // (Re)connect through the Service VIP: kube-proxy picks a random endpoint from its rules.
  if (proxy_candidates_.empty()) {
    FailFast(s, c, -1, nullptr);
    return;
  }
  const int pod = proxy_candidates_[cl.rng->Below(proxy_candidates_.size())];
  cl.conn_pod = pod;
  cl.conn.gen = UINT32_MAX;
  cl.conn.fail_until = 0;
  if (Connect(s, c, cl.conn, pod, false)) {
    StartRpc(s, c, pod, nullptr);
  } else {
    FailFast(s, c, pod, nullptr);  // refused: the rules still list a dead pod
  }
}

void Simulation::Resolve(Client& cl) {
  cl.last_resolve = now_;
  if (!dns_answer_.empty()) cl.resolved = dns_answer_;  // an empty answer keeps the old list
}

void Simulation::RequestReresolve(int s, int c) {
  Client& cl = strategies_[s].clients[c];
  if (cl.reresolve_scheduled) return;
  cl.reresolve_scheduled = true;
  Push(std::max(now_, cl.last_resolve + kDnsMinReresolve), EvType::kDnsReresolve, s, c);
}

void Simulation::SendDns(int s, int c) {
  Client& cl = strategies_[s].clients[c];
  const size_t n = cl.resolved.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (cl.rr + k) % n;
    const int pod = cl.resolved[i];
    SubConn& sub = cl.subconns[pod];
    const bool was_connected = sub.gen != UINT32_MAX;
    if (Connect(s, c, sub, pod, false)) {
      cl.rr = i + 1;
      StartRpc(s, c, pod, nullptr);
      return;
    }
    // A connection that broke, or a connect that failed: ask the resolver again (rate-limited).
    if (was_connected || sub.fail_until > now_) RequestReresolve(s, c);
  }
  FailFast(s, c, -1, nullptr);  // every address in TRANSIENT_FAILURE: UNAVAILABLE
}

void Simulation::SendK8slb(int s, int c) {
  Client& cl = strategies_[s].clients[c];
  const Endpoint* ep = cl.picker ? cl.picker->Pick() : nullptr;
  if (ep == nullptr) {
    FailFast(s, c, -1, nullptr);
    return;
  }
  const auto& eps = cl.picker->set().endpoints();
  const int pod = cl.endpoint_pod[static_cast<size_t>(ep - eps.data())];
  if (pod < 0) {
    FailFast(s, c, -1, nullptr);
    return;
  }
  SubConn& sub = cl.subconns[pod];
  if (Connect(s, c, sub, pod, true)) {
    ep->stats->connection_failing.store(false, std::memory_order_relaxed);
    StartRpc(s, c, pod, ep->stats);
  } else {
    ep->stats->connection_failing.store(true, std::memory_order_relaxed);
    FailFast(s, c, pod, ep->stats);
  }
}

void Simulation::StartRpc(int s, int c, int pod, std::shared_ptr<EndpointStats> stats) {
  Strategy& st = strategies_[s];
  Client& cl = st.clients[c];
  SimPod& p = pods_[pod];
  ++cl.in_flight;
  const int load = ++st.pod_load[pod];
  double service_ms = sc_.pods.latency.mean_ms;
  if (sc_.pods.latency.jitter_ms > 0) service_ms += cl.rng->Exponential(sc_.pods.latency.jitter_ms);
  service_ms *= p.latency_factor;
  if (load > kPodParallelism) service_ms *= static_cast<double>(load) / kPodParallelism;
  const bool app_error = sc_.pods.error_rate > 0 && cl.rng->Uniform01() < sc_.pods.error_rate;
  LatencySignal::CallStart latency_start;
  if (stats) {
    stats->in_flight.fetch_add(1, std::memory_order_relaxed);
    stats->picks.fetch_add(1, std::memory_order_relaxed);
    if (cl.latency != nullptr) latency_start = cl.latency->Start(*stats);  // the clock is at now_
  }
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(rpcs_slab_.size());
    rpcs_slab_.emplace_back();
  }
  Rpc& r = rpcs_slab_[slot];
  r.strategy = s;
  r.client = c;
  r.pod = pod;
  r.sent = now_;
  r.latency_start = latency_start;
  r.crash_gen = p.crash_gen;
  r.app_error = app_error;
  r.stats = std::move(stats);
  Push(now_ + std::max<int64_t>(1, ToNanos(service_ms / 1000.0)), EvType::kComplete, slot);
}

void Simulation::NoteFailure(Client& cl, EndpointStats* stats) {
  if (stats != nullptr) cl.detector->Record(*stats, CallOutcome::kUnavailable);
}

void Simulation::NoteSuccess(Client& cl, EndpointStats& stats, LatencySignal::CallStart start) {
  if (cl.latency != nullptr) cl.latency->Record(stats, start, CallOutcome::kSuccess);
  cl.detector->Record(stats, CallOutcome::kSuccess);
}

void Simulation::FailFast(int s, int c, int pod, const std::shared_ptr<EndpointStats>& stats) {
  ++rpcs_;
  const Strategy& st = strategies_[s];
  const int rec_pod = pod >= 0 ? pods_[pod].recorder_id
                               : recorder_.PodId(RunRecorder::kNoPod);
  recorder_.RecordRpc(st.recorder_id, now_s(), rec_pod, false, kFailFastMs);
  if (stats) NoteFailure(strategies_[s].clients[c], stats.get());
  // The client's slot is free again at once; closed-loop clients back off for the fast-fail
  // latency so a dead cluster does not spin at one instant.
  if (sc_.clients.rate_rps <= 0) {
    const int64_t next = now_ + ToNanos(kFailFastMs / 1000.0);
    if (next < end_) Push(next, EvType::kArrival, s, c);
  }
}

void Simulation::Complete(uint32_t slot) {
  Rpc r = std::move(rpcs_slab_[slot]);
  rpcs_slab_[slot].stats.reset();
  free_slots_.push_back(slot);
  Strategy& st = strategies_[r.strategy];
  const SimPod& p = pods_[r.pod];
  --st.pod_load[r.pod];
  const bool failed = r.app_error || p.crash_gen != r.crash_gen;
  ++rpcs_;
  recorder_.RecordRpc(st.recorder_id, ToSeconds(r.sent), p.recorder_id, !failed,
                      ToSeconds(now_ - r.sent) * 1000.0);
  if (r.stats) {
    r.stats->in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (failed) {
      NoteFailure(st.clients[r.client], r.stats.get());
    } else {
      NoteSuccess(st.clients[r.client], *r.stats, r.latency_start);
    }
  }
  if (p.crash_gen != r.crash_gen && st.kind == StrategyKind::kHeadlessDns) {
    RequestReresolve(r.strategy, r.client);
  }
  ClientSlotFreed(r.strategy, r.client);
}

void Simulation::ClientSlotFreed(int s, int c) {
  Client& cl = strategies_[s].clients[c];
  --cl.in_flight;
  if (now_ >= end_) return;
  if (sc_.clients.rate_rps > 0) {
    DrainPending(s, c);
  } else {
    Send(s, c);
  }
}

absl::StatusOr<RunSummary> Simulation::Run() {
  const auto wall_start = std::chrono::steady_clock::now();
  if (auto st = Setup(); !st.ok()) return st;
  int last_percent = -1;
  // The model's next timer only changes through calls into the model (RunDue, events), so it is
  // cached and refreshed after each such call rather than asked for on every event.
  std::optional<int64_t> timer = cluster_->NextTimerNanos();
  while (true) {
    const bool have_event = !queue_.empty();
    if (!have_event && (!timer || *timer > end_)) break;
    // Model timers run before queue events at the same instant (their effects are "now").
    if (timer && *timer <= end_ && (!have_event || *timer <= queue_.top().t)) {
      now_ = std::max(now_, *timer);
      clock_->SetNanos(now_);
      cluster_->RunDue();
      timer = cluster_->NextTimerNanos();
      ++events_processed_;
      continue;
    }
    const QEvent ev = queue_.top();
    queue_.pop();
    now_ = std::max(now_, ev.t);
    clock_->SetNanos(now_);
    ++events_processed_;
    if ((events_processed_ & 0xffff) == 0 && options_.on_progress) {
      const int percent = static_cast<int>(100.0 * std::min(now_, end_) / std::max<int64_t>(1, end_));
      if (percent != last_percent) {
        last_percent = percent;
        options_.on_progress(percent / 100.0, "simulating");
      }
    }
    switch (ev.type) {
      case EvType::kArrival:
        if (now_ < end_) Arrive(ev.a, ev.b);
        break;
      case EvType::kComplete:
        Complete(ev.a);
        break;
      case EvType::kTimeline: {
        const scenario::Event& e = sc_.timeline[ev.a];
        std::string detail = e.Describe();
        const absl::Status st = cluster_->ApplyScenarioEvent(e);
        if (absl::IsUnimplemented(st)) {
          ApplyFault(e);
        } else if (!st.ok()) {
          detail = absl::StrCat(detail, " (not applied: ", st.message(), ")");
          notes_.push_back(absl::StrCat("t=", e.t_s, "s ", detail));
        }
        recorder_.RecordEvent(e.t_s, EventKindName(e.kind), detail);
        timer = cluster_->NextTimerNanos();
        break;
      }
      case EvType::kDeliver:
        if (now_ <= end_) Deliver(deliveries_[ev.a]);
        deliveries_[ev.a].slice = EndpointSlice();  // free it
        break;
      case EvType::kWatchResume:
        if (ev.a != fault_gen_ || watch_up_) break;
        if (now_ < errors_resume_at_) {
          // A later fault's reconnect (a disconnect, a stall's end) inside an errors window fails
          // like every request there; the watch comes back with the errors' own retry.
          Push(errors_resume_at_, EvType::kWatchResume, fault_gen_);
          break;
        }
        watch_up_ = true;
        Relist();
        break;
      case EvType::kWatchRelist:
        if (ev.a == fault_gen_ && !watch_up_ && now_ >= errors_resume_at_) Relist();
        break;
      case EvType::kSubRetry: {
        Client& cl = strategies_[ev.a].clients[ev.b];
        SubConn& sub = cl.subconns[ev.c];
        sub.retry_scheduled = false;
        if (now_ >= end_ || pods_[ev.c].deleted) break;
        auto set = cl.store->Current();
        const auto& eps = set->endpoints();
        bool in_set = false;
        for (size_t i = 0; i < eps.size(); ++i) {
          if (cl.endpoint_pod.size() > i && cl.endpoint_pod[i] == static_cast<int>(ev.c)) {
            in_set = true;
            if (Connect(ev.a, ev.b, sub, ev.c, true)) {
              eps[i].stats->connection_failing.store(false, std::memory_order_relaxed);
            }
            break;
          }
        }
        // Out of the set for now (not ready, e.g. a crashed pod restarting): BalancedChannel
        // connects to it again when it returns, so keep the attempts going until then; without
        // this the endpoint would come back still marked failing and never be tried.
        if (!in_set) {
          sub.fail_until = now_ + std::max<int64_t>(sub.backoff, kSubchannelBackoffInitial);
          ScheduleSubRetry(ev.a, ev.b, static_cast<int>(ev.c), sub);
        }
        break;
      }
      case EvType::kDnsReresolve: {
        Client& cl = strategies_[ev.a].clients[ev.b];
        cl.reresolve_scheduled = false;
        if (now_ < end_) Resolve(cl);
        break;
      }
    }
  }
  if (options_.on_progress) options_.on_progress(1.0, "done");
  RunSummary summary;
  summary.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start)
                       .count();
  summary.scenario_s = ToSeconds(end_);
  summary.rpcs = rpcs_;
  summary.sim_events = events_processed_;
  summary.notes = std::move(notes_);
  return summary;
}

}  // namespace

absl::StatusOr<RunSummary> RunVirtual(const scenario::Scenario& scenario,
                                      const RunOptions& options, RunRecorder& recorder) {
  if (scenario.live_only) {
    return absl::FailedPreconditionError(absl::StrCat(
        "scenario ", scenario.name,
        " is live-only (it exercises real API-server behaviour); run it with --mode live"));
  }
  for (const auto& name : StrategiesFor(scenario, options)) {
    if (scenario.FindExternal(name) != nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "strategy ", name, " is an external client program, which only the live engine runs; run it with --mode live"));
    }
    if (!IsKnownStrategy(name)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown strategy ", name));
    }
    if (IsLiveOnlyStrategy(name)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "strategy ", name, " runs real clients that the virtual engine does not model; run it with --mode live"));
    }
  }
  const std::vector<std::string> skipped = SkippedStrategies(scenario, options);
  if (!skipped.empty() && StrategiesFor(scenario, options).empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "every strategy of scenario ", scenario.name, " (", absl::StrJoin(skipped, ", "),
        ") runs real clients that the virtual engine does not model; run it with --mode live"));
  }
  if (!skipped.empty()) {
    recorder.SetEnvironment("skipped_strategies", absl::StrJoin(skipped, ","));
  }
  Simulation sim(scenario, options, recorder);
  absl::StatusOr<RunSummary> summary = sim.Run();
  if (summary.ok()) {
    for (const auto& name : skipped) {
      summary->notes.push_back(absl::StrCat(
          "strategy ", name, " skipped: it runs real clients that the virtual engine does not model "
          "(live only; run the scenario with --mode live to include it)"));
    }
  }
  return summary;
}

}  // namespace k8slb::sim
