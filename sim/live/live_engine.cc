#include "sim/live/live_engine.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "fakeapi/dns/dns_catalog.h"
#include "fakeapi/dns/dns_server.h"
#include "fakeapi/model/cluster.h"
#include "fakeapi/server/fake_api_server.h"
#include "k8slb/balanced_channel.h"
#include "k8slb/kube_config.h"
#include "sim/live/api_mirror.h"
#include "sim/live/external_api.h"
#include "sim/live/external_client.h"
#include "sim/live/interrupt.h"
#include "sim/live/load_generator.h"
#include "sim/live/pod_fleet.h"
#include "sim/live/pod_network.h"
#include "sim/live/strategies.h"
#include "sim/live/tcp_proxy.h"

namespace k8slb::sim::live {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A private temporary folder for the service-account files (token, ca.crt, namespace); removed
// when the run ends.
class TempDir {
 public:
  static absl::StatusOr<TempDir> Create() {
    std::string pattern = (fs::temp_directory_path() / "k8slb-live-XXXXXX").string();
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("live: cannot create a temporary folder from ",
                                              pattern));
    }
    return TempDir(std::string(buf.data()));
  }
  TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, "")) {}
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Collects the library's log lines (discovery and channel warnings during API faults) so they do
// not tear the progress bar; the run's notes summarize them. Thread-safe.
class LogCollector {
 public:
  void Add(LogLevel level, const std::string& message) {
    if (level < LogLevel::kWarning) return;
    absl::MutexLock lock(&mu_);
    ++count_;
    last_ = message;
  }
  std::optional<std::string> Summary() const {
    absl::MutexLock lock(&mu_);
    if (count_ == 0) return std::nullopt;
    return absl::StrCat("k8slb clients logged ", count_, " warnings/errors; last: ", last_);
  }

 private:
  mutable absl::Mutex mu_;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_ ABSL_GUARDED_BY(mu_);
};

// A one-line progress bar on stderr when it is a terminal and the caller gave no callback.
// Control thread only.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  void Show(double fraction, const std::string& what) {
    if (!enabled_) return;
    constexpr int kWidth = 30;
    int filled = static_cast<int>(std::clamp(fraction, 0.0, 1.0) * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kWidth - filled), '.');
    std::fprintf(stderr, "\r[%s] %3d%% %s\033[K", bar.c_str(), static_cast<int>(fraction * 100),
                 what.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  void Finish() {
    if (enabled_ && shown_) std::fprintf(stderr, "\n");
  }

 private:
  bool enabled_;
  bool shown_ = false;
};

std::string TargetFor(const scenario::ServiceSpec& service) {
  std::string port = service.port_name.empty() ? std::to_string(service.port) : service.port_name;
  return absl::StrCat("kubernetes:///", service.name, ".", service.namespace_name, ":", port);
}

// The headless twin of the scenario's Service that the grpc-dns clients resolve: same selector
// and port, clusterIP None, so the cluster DNS answers with one A record per ready endpoint of
// the slices the model's EndpointSlice controller writes for it (the same pods, at the same
// instants, as the scenario's Service's slices).
std::string HeadlessServiceName(const scenario::ServiceSpec& service) {
  return absl::StrCat(service.name, "-headless");
}

std::string ProgramServiceName(const scenario::ServiceSpec& service, const scenario::ExternalStrategy& x) {
  return absl::StrCat(service.name, "-", x.name);
}

// An external strategy's Service: headless too (its clients may dial its DNS name or discover
// its slices), named SERVICE-STRATEGY, on a port of its own that only its clients use, so the
// pods' servers count its RPCs apart from every other strategy's.
nlohmann::json HeadlessServiceObject(const scenario::ServiceSpec& service, const std::string& name, int port_number) {
  nlohmann::json port = {{"port", port_number}, {"targetPort", port_number}, {"protocol", "TCP"}};
  if (!service.port_name.empty()) port["name"] = service.port_name;
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", service.namespace_name}}},
          {"spec",
           {{"clusterIP", "None"},
            {"clusterIPs", nlohmann::json::array({"None"})},
            {"selector", {{"app", service.name}}},
            {"ports", nlohmann::json::array({port})}}}};
}

// Every pod is a real gRPC server in this process and every client channel connects to it here,
// so both ends of each connection count against RLIMIT_NOFILE: about pods × clients × channel
// strategies × 2, plus a few descriptors per server. large-service (650 pods × 10 clients) needs
// ~40k, above common defaults. Raise the limit as far as allowed (root: up to fs.nr_open), and
// fail up front with the numbers rather than with accept4 errors mid-run.
absl::Status EnsureFileDescriptors(const scenario::Scenario& scenario, const std::vector<std::string>& strategies) {
  int max_pods = scenario.pods.replicas;
  for (const scenario::Event& e : scenario.timeline) {
    if (e.kind == scenario::EventKind::kScale) max_pods = std::max(max_pods, e.replicas);
  }
  max_pods += std::max(1, max_pods / 10);  // rollout surge and pods still terminating
  // clusterip connects through the proxy (one connection per client); the others dial every pod.
  const uint64_t per_pod_channels = static_cast<uint64_t>(
      std::count_if(strategies.begin(), strategies.end(), [](const std::string& s) { return s != "clusterip"; }));
  const uint64_t needed =
      static_cast<uint64_t>(max_pods) * (static_cast<uint64_t>(scenario.clients.count) * per_pod_channels * 2 + 6) + 2048;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return absl::OkStatus();  // unknown: try anyway
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= needed) return absl::OkStatus();
  rlimit raised = limit;
  raised.rlim_cur = needed;
  if (raised.rlim_max != RLIM_INFINITY && raised.rlim_max < needed) raised.rlim_max = needed;
  if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return absl::OkStatus();
  // Not allowed to raise the hard limit: take what the hard limit allows, then judge.
  raised = limit;
  raised.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &raised);
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "live: this scenario needs about ", needed, " open files (", max_pods, " pods x ",
      scenario.clients.count, " clients x ", per_pod_channels, " per-pod strategies, both ends in this process); the limit is ",
      limit.rlim_cur, ": raise `ulimit -n`, use fewer pods or clients, or run it with --mode virtual"));
}

// Where the pods run: the namespace when it can be made, else loopback only by explicit opt-in.
struct Placement {
  PodPlacement placement = PodPlacement::kNamespace;
  PodNamespace* pods_namespace = nullptr;  // set with kNamespace
  std::string why;                         // how it was chosen, for the report
};

absl::StatusOr<Placement> ChoosePlacement(const RunOptions& options) {
  using PodNetwork = RunOptions::PodNetwork;
  if (options.pod_network == PodNetwork::kLoopback) {
    if (!options.allow_loopback_endpoints) {
      return absl::InvalidArgumentError(
          "live: pods on loopback addresses need --allow-loopback-endpoints (a real API server "
          "refuses loopback endpoint addresses, so such a run shows what no cluster can)");
    }
    return Placement{PodPlacement::kLoopback, nullptr, "--pod-network loopback"};
  }
  absl::StatusOr<PodNamespace*> ns = PodNamespace::Enter();
  if (ns.ok()) return Placement{PodPlacement::kNamespace, *ns, (*ns)->Describe()};
  if (!options.pod_network.has_value() && options.allow_loopback_endpoints) {
    return Placement{PodPlacement::kLoopback, nullptr,
                     absl::StrCat("--allow-loopback-endpoints, because ", ns.status().message())};
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "live: ", ns.status().message(),
      ". Without a namespace the pods would listen on loopback addresses, which a real API "
      "server refuses: pass --allow-loopback-endpoints to run them there anyway (fakeapi then "
      "accepts them and the report records it), or run as root"));
}

// What the run's timeline does to the API when it is a user's server (the relay can cut and
// pause connections; errors and compaction need a server we run).
std::optional<std::string> ApplyApiFault(const scenario::Event& event, PinningTcpProxy* relay,
                                         double speed) {
  switch (event.kind) {
    case scenario::EventKind::kDisconnect:
      if (relay == nullptr) break;
      relay->CloseAll();
      return std::nullopt;
    case scenario::EventKind::kStall:
      if (relay == nullptr) break;
      relay->Pause(milliseconds(static_cast<int64_t>(event.duration_s * 1000.0 / speed)));
      return std::nullopt;
    case scenario::EventKind::kErrors:
    case scenario::EventKind::kExpire:
      break;
    default:
      return std::nullopt;  // not an API fault
  }
  return absl::StrCat("live: the ", std::string(scenario::EventKindName(event.kind)), " API fault at t=",
                      event.t_s, "s was not injected: the API server is not the simulator's");
}

}  // namespace

absl::StatusOr<RunSummary> RunLive(const scenario::Scenario& scenario_in, const RunOptions& options,
                                   RunRecorder& recorder) {
  auto wall_start = std::chrono::steady_clock::now();
  if (!(options.speed > 0) || options.speed > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("live: --speed must be in (0, 1000], got ", options.speed));
  }
  scenario::Scenario scenario = scenario_in;
  scenario.seed = options.seed;  // the cluster model's random choices follow the run's seed
  const double duration_s = options.duration_s.value_or(scenario.clients.duration_s);
  if (!(duration_s > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("live: duration must be > 0 s, got ", duration_s));
  }
  scenario.clients.duration_s = duration_s;
  const std::vector<std::string> strategies = StrategiesFor(scenario, options);
  // External strategies (client programs): each gets a Service port of its own (see
  // HeadlessServiceObject), after the scenario's.
  std::vector<const scenario::ExternalStrategy*> programs;
  std::vector<int> program_ports;
  for (const auto& name : strategies) {
    if (const scenario::ExternalStrategy* x = scenario.FindExternal(name)) {
      const int port = scenario.service.port + 1 + static_cast<int>(programs.size());
      if (port > 65535) {
        return absl::InvalidArgumentError(absl::StrCat("live: external strategy ", name, " needs port ", port,
                                                       " (Service port + 1 + its index), above 65535"));
      }
      programs.push_back(x);
      program_ports.push_back(port);
      continue;
    }
    if (!IsKnownStrategy(name)) {
      return absl::InvalidArgumentError(absl::StrCat("live: unknown strategy '", name, "'"));
    }
  }
  if (!programs.empty() && !options.api_server_kubeconfig.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "live --api-server: external strategies (", programs.front()->name,
        ") run only against the in-process fakeapi (their Services exist only in its model)"));
  }
  if (absl::Status fds = EnsureFileDescriptors(scenario, strategies); !fds.ok()) return fds;
  const bool external = !options.api_server_kubeconfig.empty();

  // --- Where the pods run. First, while this process may still be single-threaded (a user
  // namespace needs that), and before anything opens a socket.
  absl::StatusOr<Placement> placement = ChoosePlacement(options);
  if (!placement.ok()) return placement.status();
  absl::StatusOr<PodAddressPlan> plan = PlanPodAddresses(scenario.cluster.pod_cidr, placement->placement);
  if (!plan.ok()) return absl::InvalidArgumentError(absl::StrCat("live: ", plan.status().message()));
  scenario.cluster.pod_cidr = plan->pod_cidr;
  const bool loopback = placement->placement == PodPlacement::kLoopback;
  // Loopback pods share the host's addresses with every other run on the machine (another
  // worktree's tests, say): they listen on ports this run holds instead of the scenario's fixed
  // port, the Service's port and its slices follow. Declared before the pods, so held until
  // they are gone.
  std::optional<PortReservation> loopback_ports;
  if (loopback) {
    absl::StatusOr<PortReservation> reserved =
        PortReservation::Reserve(1 + static_cast<int>(program_ports.size()));
    if (!reserved.ok()) {
      return absl::Status(reserved.status().code(), absl::StrCat("live: loopback pods: ", reserved.status().message()));
    }
    loopback_ports.emplace(std::move(*reserved));
    scenario.service.port = loopback_ports->first();
    for (size_t i = 0; i < program_ports.size(); ++i) {
      program_ports[i] = scenario.service.port + 1 + static_cast<int>(i);
    }
  }

  RunSummary summary;
  summary.notes.push_back(absl::StrCat(
      "live: the ", strategies.size(),
      " strategies ran concurrently on one cluster and one set of echo servers (same timeline "
      "for all), each with its own ",
      scenario.clients.count, " client(s) and connections"));
  if (loopback) {
    const std::string warning = absl::StrCat(
        "live: pods listen on the host's loopback (", plan->pod_cidr, " port ", scenario.service.port,
        ", held for this run; ", placement->why,
        "); loopback endpoint addresses are allowed in this run, which a real API server refuses");
    std::fprintf(stderr, "k8slb-sim: %s\n", warning.c_str());
    summary.notes.push_back(warning);
  } else {
    summary.notes.push_back(absl::StrCat("live: pods listen in a ", placement->why, " at ",
                                         plan->pod_cidr, "; the ClusterIP proxy at ", plan->service_ip));
  }
  if (!plan->note.empty()) summary.notes.push_back(absl::StrCat("live: ", plan->note));
  recorder.SetEnvironment("pod_network",
                          absl::StrCat(loopback ? "loopback" : "namespace", " ", plan->pod_cidr,
                                       " (", placement->why, ")"));
  recorder.SetEnvironment("loopback_endpoints_allowed", loopback ? "true" : "false");
  if (loopback) recorder.SetEnvironment("pod_port", absl::StrCat(scenario.service.port, " (held for this run)"));

  // SIGINT/SIGTERM from here on stop the run cleanly (and remove what it made in an API server).
  InterruptWatcher interrupts;
  auto interrupted = [&interrupts]() { return interrupts.signal() != 0; };

  // --- A user's API server: reach it (a relay into the namespace) before anything else listens.
  std::optional<ExternalApi> external_api;
  if (external) {
    absl::StatusOr<ExternalApi> connected =
        ConnectExternalApi(options.api_server_kubeconfig, placement->pods_namespace);
    if (!connected.ok()) return connected.status();
    external_api = std::move(*connected);
    recorder.SetEnvironment("api_server", absl::StrCat(external_api->description,
                                                       "; Service and EndpointSlices managed by ",
                                                       kSimManager));
    if (scenario.token_rotation_s > 0) {
      summary.notes.push_back("live: tokenRotationSeconds applies only to the in-process fakeapi; "
                              "the user's API server keeps its own credentials");
    }
  } else {
    recorder.SetEnvironment("api_server", loopback ? "in-process k8slb-fakeapi (loopback endpoints allowed)"
                                                   : "in-process k8slb-fakeapi");
  }

  auto sa_dir = TempDir::Create();
  if (!sa_dir.ok()) return sa_dir.status();

  // --- fakeapi with the scenario; time 0 of the scenario is its start. With --api-server it
  // only runs the cluster model and the timeline (nobody connects to it).
  fakeapi::FakeApiOptions api_options;
  api_options.listen = "127.0.0.1:0";
  api_options.scenario = scenario;
  api_options.speed = options.speed;
  api_options.seed = options.seed;
  api_options.service_account_namespace = scenario.service.namespace_name;
  // The echo servers listen on loopback addresses, which fakeapi refuses by default as a real
  // API server does; this keeps the live engine working until its pods move off loopback.
  api_options.allow_loopback_endpoints = true;
  // Fast bookmarks keep a long live run's watch streams visibly alive.
  api_options.bookmark_interval = milliseconds(5000);
  if (scenario.token_rotation_s > 0) {
    // Old tokens must expire within the run, or rotation would test nothing: half a period of
    // grace (in wall time), as a kubelet-rotated token stops working some time after rotation.
    api_options.token_grace = milliseconds(
        static_cast<int64_t>(scenario.token_rotation_s * 500.0 / options.speed));
  }

  ScenarioClock clock(std::chrono::steady_clock::now(), options.speed);
  PodFleetOptions fleet_options;
  fleet_options.ports = {scenario.service.port};
  fleet_options.ports.insert(fleet_options.ports.end(), program_ports.begin(), program_ports.end());
  fleet_options.latency_mean_ms = scenario.pods.latency.mean_ms;
  fleet_options.latency_jitter_ms = scenario.pods.latency.jitter_ms;
  fleet_options.error_rate = scenario.pods.error_rate;
  fleet_options.seed = options.seed;
  PodFleet fleet(fleet_options, recorder);
  // Declared before the server: the model's listeners point at both, so they must outlive it.
  std::unique_ptr<ClusterMirror> mirror;

  auto api = fakeapi::FakeApiServer::Start(api_options);
  if (!api.ok()) {
    return absl::Status(api.status().code(),
                        absl::StrCat("live: cannot start fakeapi: ", api.status().message()));
  }
  std::unique_ptr<fakeapi::FakeApiServer> server = std::move(*api);
  // Teardown order matters: the model's listeners point at `fleet` and `mirror`, so the server
  // (and its timer thread) stops first. Every exit path after this point runs it.
  auto stop_all = [&]() {
    server->Stop();
    fleet.Shutdown();
    if (external_api && external_api->relay) external_api->relay->Stop();
  };
  // Removes what the run made in the user's API server; its summary (or failure) becomes a note.
  auto clean_api = [&]() -> absl::Status {
    if (mirror == nullptr) return absl::OkStatus();
    absl::StatusOr<std::string> cleaned = mirror->Cleanup(milliseconds(15000));
    mirror.reset();
    if (!cleaned.ok()) return cleaned.status();
    summary.notes.push_back(absl::StrCat("live: ", *cleaned));
    return absl::OkStatus();
  };
  auto fail = [&](absl::Status status) -> absl::Status {
    server->Stop();
    absl::Status cleaned = clean_api();
    stop_all();
    if (!cleaned.ok()) {
      return absl::Status(status.code(), absl::StrCat(status.message(), "; and ", cleaned.message()));
    }
    return status;
  };

  server->WithCluster([&](fake::Cluster& cluster) {
    cluster.SubscribePods([&fleet, &clock](const fake::PodInfo& pod) {
      fleet.OnPodChange(pod, clock.NowS());
    });
    // Pods that exist when the run starts: part of the cluster "before t=0".
    for (const fake::PodInfo& pod : cluster.Pods()) fleet.OnPodChange(pod, 0.0);
  });
  if (!fleet.WaitIdle(milliseconds(10000))) {
    return fail(absl::DeadlineExceededError("live: echo servers did not start within 10 s"));
  }
  if (auto errors = fleet.errors(); !errors.empty()) {
    return fail(absl::UnavailableError(absl::StrCat("live: echo server failed to start: ", errors[0])));
  }

  // --- The API the clients use.
  KubeConfig config;
  if (external) {
    MirrorOptions mirror_options;
    mirror_options.config = external_api->config;
    mirror_options.namespace_name = scenario.service.namespace_name;
    mirror_options.service_name = scenario.service.name;
    mirror_options.port = scenario.service.port;
    mirror_options.port_name = scenario.service.port_name;
    mirror_options.traffic_distribution = scenario.service.traffic_distribution;
    absl::StatusOr<std::unique_ptr<ClusterMirror>> made =
        ClusterMirror::Create(mirror_options, &summary.notes);
    if (!made.ok()) {
      return fail(absl::Status(made.status().code(),
                               absl::StrCat("live --api-server: ", made.status().message())));
    }
    mirror = std::move(*made);
    server->WithCluster([&](fake::Cluster& cluster) {
      ClusterMirror* m = mirror.get();
      cluster.Subscribe([m](const fake::StoredEvent& event) { m->OnModelEvent(event); });
      for (const EndpointSlice& slice :
           cluster.Slices(scenario.service.namespace_name, scenario.service.name)) {
        m->Upsert(slice);
      }
    });
    if (!mirror->WaitIdle(milliseconds(15000))) {
      return fail(absl::DeadlineExceededError(absl::StrCat(
          "live --api-server: the EndpointSlices were not written to ", external_api->config.server,
          " within 15 s")));
    }
    if (absl::Status st = mirror->first_error(); !st.ok()) {
      return fail(absl::Status(st.code(), absl::StrCat("live --api-server: ", st.message())));
    }
    config = external_api->config;
  } else {
    if (absl::Status st = server->WriteServiceAccountDir(sa_dir->path()); !st.ok()) return fail(st);
    config.source = ConfigSource::kExplicit;
    config.server = server->url();
    config.default_namespace = scenario.service.namespace_name;
    config.token_file = (fs::path(sa_dir->path()) / "token").string();
    config.ca_data = server->ca_pem();
    // Re-read the token often: token-rotation scenarios rotate in scaled time.
    config.token_reload_seconds = 5;
    config.description = absl::StrCat("live run: fakeapi at ", server->url());
  }

  // --- ClusterIP: the proxy on the run's virtual IP.
  PinningTcpProxy proxy({.listen_host = plan->service_ip,
                         .listen_port = 0,
                         .pick = [&fleet]() { return fleet.PickForProxy(); },
                         .on_pinned = nullptr,
                         .io = nullptr});
  const bool needs_proxy = std::find(strategies.begin(), strategies.end(), "clusterip") != strategies.end();
  if (needs_proxy) {
    if (absl::Status st = proxy.Start(); !st.ok()) return fail(st);
  }

  // --- Cluster DNS (fakeapi/dns) for the grpc-dns clients: a headless twin of the Service in
  // the model, and a DNS server on this namespace's loopback (or the host's, with loopback pods).
  const bool needs_dns =
      !programs.empty() || std::find(strategies.begin(), strategies.end(), "grpc-dns") != strategies.end();
  std::unique_ptr<fake::dns::Server> dns_server;
  std::string dns_target;
  std::string dns_zone;
  if (needs_dns) {
    absl::StatusOr<std::shared_ptr<fake::dns::Catalog>> catalog = fake::dns::Catalog::Create({});
    if (!catalog.ok()) return fail(catalog.status());
    absl::Status created;
    server->WithCluster([&](fake::Cluster& cluster) {
      fake::dns::Catalog::Attach(*catalog, cluster);
      created = cluster.Create(fake::ResourceKind::kService, scenario.service.namespace_name,
                               HeadlessServiceObject(scenario.service, HeadlessServiceName(scenario.service),
                                                     scenario.service.port))
                    .status();
      for (size_t i = 0; i < programs.size() && created.ok(); ++i) {
        created = cluster.Create(fake::ResourceKind::kService, scenario.service.namespace_name,
                                 HeadlessServiceObject(scenario.service, ProgramServiceName(scenario.service, *programs[i]),
                                                       program_ports[i]))
                      .status();
      }
    });
    if (!created.ok()) {
      return fail(absl::Status(created.code(), absl::StrCat("live: cannot create the headless Services "
                                                            "for grpc-dns and external strategies: ",
                                                            created.message())));
    }
    absl::StatusOr<std::unique_ptr<fake::dns::Server>> started =
        fake::dns::Server::Start({.listen = "127.0.0.1:0"}, *catalog);
    if (!started.ok()) {
      return fail(absl::Status(started.status().code(),
                               absl::StrCat("live: cannot start the cluster DNS: ", started.status().message())));
    }
    dns_server = std::move(*started);
    const std::string name = absl::StrCat(HeadlessServiceName(scenario.service), ".",
                                          scenario.service.namespace_name, ".svc.",
                                          (*catalog)->options().zone);
    dns_target = absl::StrCat("dns://", dns_server->address(), "/", name, ":", scenario.service.port);
    dns_zone = (*catalog)->options().zone;
    recorder.SetEnvironment("cluster_dns", absl::StrCat(dns_server->address(), " (", name, ", TTL ",
                                                        (*catalog)->options().ttl_seconds, " s)"));
  }

  // --- Clients: clients.count per strategy.
  auto logs = std::make_shared<LogCollector>();
  StrategyEnvironment env;
  env.target = TargetFor(scenario.service);
  env.kube_config = config;
  env.discovery = scenario.clients.discovery;
  env.slow_start = scenario.clients.slow_start;
  env.topology_spill = scenario.clients.topology_spill;
  env.client_zone = scenario.clients.zone.value_or("");
  env.client_node = scenario.clients.node.value_or("");
  env.clusterip_address = needs_proxy ? proxy.address() : "";
  env.dns_target = dns_target;
  env.clock = &clock;
  env.fleet = &fleet;
  env.log = [logs](LogLevel level, const std::string& message) { logs->Add(level, message); };
  env.seed = options.seed;
  std::vector<std::unique_ptr<StrategyClient>> clients;
  std::vector<std::unique_ptr<LoadGenerator>> generators;
  std::vector<std::pair<StrategyClient*, std::string>> client_strategy;
  auto stop_clients = [&]() {
    for (auto& g : generators) g->Stop();
    generators.clear();
    env.clients_alive->store(false);
    fleet.WaitIdle(milliseconds(5000));
    clients.clear();  // k8slb channels stop their discovery here
    proxy.Stop();
    if (dns_server != nullptr) dns_server->Stop();
  };
  for (size_t si = 0; si < strategies.size(); ++si) {
    if (scenario.FindExternal(strategies[si]) != nullptr) continue;  // started below
    for (int ci = 0; ci < scenario.clients.count; ++ci) {
      absl::StatusOr<std::unique_ptr<StrategyClient>> client =
          MakeStrategyClient(strategies[si], si, ci, env);
      if (!client.ok()) {
        stop_clients();
        return fail(absl::Status(client.status().code(), absl::StrCat("live: ", client.status().message())));
      }
      client_strategy.emplace_back(client->get(), strategies[si]);
      clients.push_back(std::move(*client));
    }
  }
  // Clients start sending once they could (k8slb: after their first list, as a real client's
  // readiness would wait).
  for (auto& [client, name] : client_strategy) {
    if (absl::Status st = client->WaitReady(milliseconds(10000)); !st.ok()) {
      summary.notes.push_back(absl::StrCat("live: ", name, " client was not ready after 10 s: ",
                                           st.message()));
    }
  }

  // The schedule is anchored at scenario t = 0 as in the virtual engine: slots that fell due
  // during start-up (a few hundred ms at most) are sent at once, so both engines send the same
  // number of RPCs.
  for (auto& [client, name] : client_strategy) {
    LoadOptions load{.strategy = name,
                     .rate_rps = scenario.clients.rate_rps,
                     .concurrency = scenario.clients.concurrency,
                     .start_s = 0,
                     .end_s = duration_s,
                     .rpc_timeout = milliseconds(static_cast<int64_t>(kLiveRpcDeadlineS * 1000))};
    StrategyClient* c = client;
    generators.push_back(std::make_unique<LoadGenerator>(
        load, clock, recorder,
        [c](uint64_t id, std::chrono::system_clock::time_point deadline) {
          return c->Call(id, deadline);
        }));
  }
  for (auto& g : generators) g->Start();
  ExternalStrategyRunner runner(programs, program_ports, recorder);
  if (!programs.empty()) {
    const std::string kubeconfig = (fs::path(sa_dir->path()) / "kubeconfig").string();
    if (absl::Status st = server->WriteKubeconfig(kubeconfig, server->service_account_token(),
                                                  scenario.service.namespace_name);
        !st.ok()) {
      stop_clients();
      return fail(st);
    }
    runner.Start(ProgramContext{.scenario = &scenario,
                                .duration_s = duration_s,
                                .speed = options.speed,
                                .kubeconfig = kubeconfig,
                                .dns_address = dns_server->address(),
                                .dns_zone = dns_zone,
                                .log_dir = sa_dir->path()});
  }

  // --- The control loop: timeline events into the report, progress, incomplete reports.
  ProgressBar bar(!options.on_progress && ::isatty(STDERR_FILENO) == 1);
  size_t next_event = 0;
  PinningTcpProxy* relay = external_api ? external_api->relay.get() : nullptr;
  auto record_events_until = [&](double t_s) {
    while (next_event < scenario.timeline.size() && scenario.timeline[next_event].t_s <= t_s) {
      const scenario::Event& e = scenario.timeline[next_event++];
      recorder.RecordEvent(e.t_s, scenario::EventKindName(e.kind), e.Describe());
      if (external) {
        if (std::optional<std::string> skipped = ApplyApiFault(e, relay, options.speed)) {
          summary.notes.push_back(*skipped);
        }
      }
    }
  };
  auto last_write = std::chrono::steady_clock::now() - std::chrono::seconds(2);
  absl::Status write_error;
  double covered = 0;
  while (!interrupted()) {
    double now_s = clock.NowS();
    covered = std::min(now_s, duration_s);
    record_events_until(covered);
    runner.Sample(fleet, covered);
    uint64_t sent = 0;
    for (auto& g : generators) sent += g->sent();
    std::string what = absl::StrFormat("live %s: t=%.1f/%.0fs, %d RPCs", scenario.name, covered,
                                       duration_s, sent);
    if (options.on_progress) options.on_progress(covered / duration_s, what);
    bar.Show(covered / duration_s, what);
    auto wall_now = std::chrono::steady_clock::now();
    if (!options.out_dir.empty() && wall_now - last_write >= milliseconds(900)) {
      last_write = wall_now;
      absl::Status st = recorder.WriteReport(options.out_dir, /*complete=*/false, covered);
      if (!st.ok() && write_error.ok()) write_error = st;
    }
    if (now_s >= duration_s) break;
    double left_wall = (duration_s - now_s) / options.speed;
    std::this_thread::sleep_for(
        std::min(milliseconds(100), milliseconds(static_cast<int64_t>(left_wall * 1000) + 1)));
  }
  bar.Finish();
  for (auto& g : generators) g->Stop();
  for (auto& g : generators) g->Join();
  if (!interrupted()) record_events_until(duration_s);
  // Their RPCs still in flight finish (or are cut) while they stop; then the last counts.
  runner.Stop();
  runner.Sample(fleet, interrupted() ? covered : duration_s);
  runner.Report(&summary.notes);
  // Every generator has joined, so every call a server answered has reached its client.
  summary.served = fleet.ServedCounts();
  summary.rpcs += runner.served();

  for (auto& g : generators) summary.rpcs += g->sent();
  // No more pod changes, then no listener still running, then the clients can go.
  server->Stop();
  stop_clients();
  if (mirror != nullptr) {
    if (mirror->failures() > 0) {
      summary.notes.push_back(absl::StrCat("live: ", mirror->failures(), " of ", mirror->writes(),
                                           " writes to the API server failed; the first: ",
                                           mirror->first_error().message()));
    } else {
      summary.notes.push_back(absl::StrCat("live: ", mirror->writes(), " EndpointSlice writes to ",
                                           external_api->config.server));
    }
  }
  absl::Status cleaned = clean_api();
  stop_all();

  if (!write_error.ok()) {
    summary.notes.push_back(absl::StrCat("live: writing the incomplete report failed: ",
                                         write_error.message()));
  }
  if (auto s = logs->Summary()) summary.notes.push_back(*s);
  if (needs_proxy) {
    summary.notes.push_back(absl::StrCat("live: clusterip proxy pinned ", proxy.connections_accepted(),
                                         " connection(s); ", proxy.connections_failed(),
                                         " could not reach their pod"));
  }
  if (dns_server != nullptr) {
    const fake::dns::ServerStats dns_stats = dns_server->stats();
    summary.notes.push_back(absl::StrCat("live: cluster DNS at ", dns_server->address(), " answered ",
                                         dns_stats.udp_queries, " UDP and ", dns_stats.tcp_queries,
                                         " TCP queries (grpc-dns: ", dns_target, ")"));
  }
  summary.notes.push_back(absl::StrCat("live: ", fleet.servers_started(),
                                       " echo server(s) started on ", scenario.cluster.pod_cidr,
                                       " port ", scenario.service.port));
  summary.scenario_s = interrupted() ? covered : duration_s;
  summary.wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  if (interrupted()) {
    std::string what = absl::StrCat("live: interrupted by ",
                                    interrupts.signal() == SIGTERM ? "SIGTERM" : "SIGINT",
                                    " at t=", absl::StrFormat("%.1f", covered), "s of ", duration_s,
                                    "s; stopped the clients and pods");
    if (external) {
      absl::StrAppend(&what, cleaned.ok() ? "; removed everything it created in the API server"
                                          : absl::StrCat("; ", cleaned.message()));
    }
    return absl::CancelledError(what);
  }
  if (!cleaned.ok()) return absl::Status(cleaned.code(), absl::StrCat("live: ", cleaned.message()));
  return summary;
}

}  // namespace k8slb::sim::live
