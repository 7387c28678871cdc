// End to end: BalancedChannel::Create(target, KubeConfig) against the in-process fake Kubernetes
// API over HTTPS (kubeconfig with the generated CA and a bearer token), with real echo servers
// playing the model's pods. A small "kubelet" loop starts an echo server for every pod the model
// says is serving and stops it (gracefully) once the model says the process exited, so scaling,
// rolling updates and API outages go through the real discovery path: list + watch → SliceStore →
// EndpointSet → BalancedChannel.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <curl/curl.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <ctime>
#include <fstream>

#include <nlohmann/json.hpp>

#include "fakeapi/server/fake_api_server.h"
#include "k8slb/kube_config.h"
#include "report/prometheus_text.h"
#include "test_pods.h"

namespace k8slb::testing {
namespace {

using std::chrono::milliseconds;

// Serves every model pod that is `serving` with an echo server on pod IP : port.
class Kubelet {
 public:
  Kubelet(fakeapi::FakeApiServer& api, int port) : api_(api), port_(port) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Kubelet() {
    stop_.store(true);
    thread_.join();
    for (auto& t : stoppers_) t.join();
    absl::MutexLock lock(&mu_);
    for (auto& [name, server] : servers_) server->Kill();
  }
  std::vector<std::string> Running() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> names;
    for (auto& [name, server] : servers_) names.push_back(name);
    return names;
  }
  int start_failures() const { return start_failures_.load(); }

 private:
  void Loop() {
    // Bounded by the test: stop_ ends it; the count cap guards a hung test (20 ms × 30000 = 10 min).
    for (int n = 0; n < 30000 && !stop_.load(); ++n) {
      std::vector<fake::PodInfo> pods;
      api_.WithCluster([&](fake::Cluster& c) { pods = c.Pods(); });
      std::set<std::string> want;
      std::map<std::string, fake::PodInfo> by_name;
      for (const auto& p : pods) {
        // The process runs from scheduling (address assigned) until it exits (terminating and
        // no longer serving) or crashes, so it listens before the pod turns Ready, as a real
        // readiness probe guarantees.
        bool exited = p.terminating && !p.serving;
        if (!p.address.empty() && !p.crashed && !exited && !p.deleted_nanos.has_value()) want.insert(p.name);
        by_name[p.name] = p;
      }
      std::vector<std::unique_ptr<echo::EchoServer>> stopping;
      {
        absl::MutexLock lock(&mu_);
        for (auto it = servers_.begin(); it != servers_.end();) {
          if (want.count(it->first) == 0) {
            stopping_started_ = true;
            stopping.push_back(std::move(it->second));
            it = servers_.erase(it);
          } else {
            ++it;
          }
        }
      }
      // The model's process exit: in-flight calls get the grace period, as after SIGTERM. In the
      // background, so the loop keeps starting new pods; a new pod that reuses the address of one
      // still stopping fails to bind and is retried on the next pass.
      for (auto& s : stopping) {
        stoppers_.emplace_back([server = std::shared_ptr<echo::EchoServer>(std::move(s))] {
          server->Shutdown(milliseconds(2000));
        });
      }
      {
        absl::MutexLock lock(&mu_);
        for (const std::string& name : want) {
          if (servers_.count(name) != 0) continue;
          echo::EchoServerOptions o;
          o.listen = by_name[name].address + ":" + std::to_string(port_);
          o.pod_name = name;
          o.zone = by_name[name].zone;
          o.latency_ms = 1;
          auto server = echo::EchoServer::Start(o);
          if (server.ok()) {
            servers_.emplace(name, *std::move(server));
          } else if (!stopping_started_) {
            ++start_failures_;
          }
        }
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

  fakeapi::FakeApiServer& api_;
  const int port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> start_failures_{0};
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<echo::EchoServer>> servers_ ABSL_GUARDED_BY(mu_);
  bool stopping_started_ = false;  // loop thread only: after the first stop, bind races are expected
  std::vector<std::thread> stoppers_;  // loop thread only until joined in the destructor
  std::thread thread_;
};

struct Cluster {
  std::unique_ptr<fakeapi::FakeApiServer> api;
  std::string kubeconfig;
  ~Cluster() {
    if (!kubeconfig.empty()) std::filesystem::remove(kubeconfig);
  }
};

// A fake API server with Service + Deployment "echo" (port name grpc) whose pods live in `cidr`.
std::unique_ptr<Cluster> StartCluster(const std::string& cidr, int port, int replicas,
                                      std::optional<std::vector<fakeapi::TokenGrant>> tokens = std::nullopt) {
  fakeapi::FakeApiOptions o;
  o.listen = "127.0.0.1:0";
  o.cluster.pod_cidr = cidr;
  o.allow_loopback_endpoints = true;  // the echo servers listen on loopback (refused by default)
  // The model turns a pod Ready this long after its address is assigned, without asking the
  // Kubelet above; 600 ms leaves the Kubelet's loop time to have the echo server listening first
  // even under sanitizers on a loaded machine (at 150 ms an ASan run once saw a Ready pod refuse).
  o.cluster.pod_timing.startup_nanos = 600'000'000;
  o.cluster.pod_timing.drain_nanos = 300'000'000;
  o.cluster.pod_timing.termination_grace_nanos = 2'000'000'000;
  o.bookmark_interval = milliseconds(1000);
  o.tokens = std::move(tokens);
  auto api = fakeapi::FakeApiServer::Start(o);
  EXPECT_TRUE(api.ok()) << api.status();
  if (!api.ok()) return nullptr;
  auto cluster = std::make_unique<Cluster>();
  cluster->api = *std::move(api);
  absl::Status status;
  cluster->api->WithCluster([&](fake::Cluster& c) {
    fake::ServiceConfig svc;
    svc.port = port;
    status = c.CreateService(svc);
    if (!status.ok()) return;
    fake::DeploymentConfig dep;
    dep.replicas = replicas;
    dep.container_port = port;
    status = c.CreateDeployment(dep, fake::PodStart::kAlreadyRunning);
  });
  EXPECT_TRUE(status.ok()) << status;
  cluster->kubeconfig = (std::filesystem::temp_directory_path() /
                         ("k8slb-grpc-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(port) + ".yaml"))
                            .string();
  EXPECT_TRUE(cluster->api->WriteKubeconfig(cluster->kubeconfig).ok());
  return cluster;
}

std::set<std::string> ServingPods(fakeapi::FakeApiServer& api) {
  std::set<std::string> out;
  api.WithCluster([&](fake::Cluster& c) {
    for (const auto& p : c.Pods()) {
      if (p.ready && !p.terminating && !p.deleted_nanos.has_value()) out.insert(p.name);
    }
  });
  return out;
}

TEST(EndToEndFakeApiTest, BalancesAcrossPodsAndFollowsScaleRolloutAndOutage) {
  constexpr int kPort = 50051;
  auto cluster = StartCluster("127.0.78.0/24", kPort, 5);
  ASSERT_NE(cluster, nullptr);
  Kubelet kubelet(*cluster->api, kPort);
  ASSERT_TRUE(WaitFor([&] { return kubelet.Running().size() == 5; }, milliseconds(10000)));
  ASSERT_EQ(kubelet.start_failures(), 0) << "127.0.78.x:" << kPort << " is taken on this machine";

  auto config = LoadKubeconfig(KubeconfigOptions{.path = cluster->kubeconfig, .context = ""});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.rfind("https://", 0), 0u);
  BalancedChannelOptions options = TestOptions();
  options.discovery.backoff_initial = milliseconds(100);
  options.discovery.backoff_max = milliseconds(500);
  auto channel = BalancedChannel::Create("kubernetes:///echo.default:grpc", *config, options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  ASSERT_TRUE((*channel)->WaitForEndpoints(milliseconds(10000)).ok());
  EXPECT_EQ((*channel)->name(), "default/echo:grpc");
  EXPECT_EQ((*channel)->CurrentSet()->size(), 5u);

  EchoClient client(*channel);
  Traffic traffic(client, 3, milliseconds(5000), std::chrono::microseconds(300));
  std::this_thread::sleep_for(milliseconds(500));
  {
    auto counts = CountByPod(traffic.results());
    EXPECT_EQ(counts.size(), 5u);
  }

  // Scale up: the new pod gets traffic.
  size_t before_scale = traffic.count();
  cluster->api->WithCluster([](fake::Cluster& c) { ASSERT_TRUE(c.Scale("default", "echo", 6).ok()); });
  ASSERT_TRUE(WaitFor([&] { return (*channel)->CurrentSet()->size() == 6; }, milliseconds(10000)));
  std::this_thread::sleep_for(milliseconds(300));
  {
    auto results = traffic.results();
    std::vector<Result> after(results.begin() + static_cast<long>(before_scale), results.end());
    EXPECT_EQ(CountByPod(after).size(), 6u);
  }

  // Rolling update (maxSurge 1, maxUnavailable 0): every pod replaced, no RPC fails.
  std::set<std::string> old_pods = ServingPods(*cluster->api);
  cluster->api->WithCluster([](fake::Cluster& c) { ASSERT_TRUE(c.Rollout("default", "echo", 1, 0).ok()); });
  ASSERT_TRUE(WaitFor(
      [&] {
        std::set<std::string> now = ServingPods(*cluster->api);
        for (const auto& p : now) {
          if (old_pods.count(p) != 0) return false;
        }
        return now.size() == 6;
      },
      milliseconds(20000)));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto set = (*channel)->CurrentSet();
        if (set->size() != 6) return false;
        for (const Endpoint& e : set->endpoints()) {
          if (old_pods.count(e.pod_name) != 0) return false;
        }
        return true;
      },
      milliseconds(10000)));
  std::this_thread::sleep_for(milliseconds(300));
  size_t before_outage = traffic.count();

  // API outage: watches closed, every request 503 for 1.5 s. RPCs keep flowing (fail-static).
  cluster->api->FailRequests(503, milliseconds(1500), 0);
  cluster->api->CloseAllWatches();
  std::this_thread::sleep_for(milliseconds(1000));
  auto stats = (*channel)->Metrics().discovery;
  ASSERT_TRUE(stats.has_value());
  traffic.Stop();

  auto results = traffic.results();
  EXPECT_GT(results.size() - before_outage, 50u);
  EXPECT_EQ(Failures(results), 0);
  int printed = 0;
  for (const Result& r : results) {
    if (r.code != grpc::StatusCode::OK && printed++ < 5) ADD_FAILURE() << r.message;
  }
  std::set<std::string> used_late;
  for (size_t i = before_outage; i < results.size(); ++i) used_late.insert(results[i].pod);
  EXPECT_EQ(used_late.size(), 6u);
  for (const auto& p : used_late) EXPECT_EQ(old_pods.count(p), 0u) << p;
  std::cout << "[ measure ] " << results.size() << " RPCs through scale-up, rollout and API outage, "
            << Failures(results) << " failed\n";
}

TEST(EndToEndFakeApiTest, ForbiddenTokenYieldsTheDiscoveryErrorAtTheDeadline) {
  fakeapi::TokenGrant denied;
  denied.token = "denied-token";
  denied.user = "system:serviceaccount:default:nobody";
  auto cluster = StartCluster("127.0.79.0/24", 50051, 1, std::vector<fakeapi::TokenGrant>{denied});
  ASSERT_NE(cluster, nullptr);
  KubeConfig config;
  config.source = ConfigSource::kExplicit;
  config.server = cluster->api->url();
  config.token = "denied-token";
  config.ca_data = cluster->api->ca_pem();
  config.description = "test";
  BalancedChannelOptions options = TestOptions();
  options.log = [](LogLevel, const std::string&) {};
  options.discovery.log = options.log;
  auto channel = BalancedChannel::Create("kubernetes:///echo.default:grpc", config, options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  EchoClient client(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(1500));
  echo::EchoResponse resp;
  echo::EchoRequest req;
  grpc::Status s = client.With(ctx)->Echo(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(s.error_message().find("no endpoints for default/echo:grpc"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("403"), std::string::npos) << s.error_message();
  std::cout << "[ message ] " << s.error_message() << "\n";
}

#ifdef K8SLB_CLIENT_BINARY
// Runs `command` (stderr merged), returns its exit code and output.
std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(EndToEndFakeApiTest, ClientBinaryPrintsPerPodTableAndJson) {
  auto cluster = StartCluster("127.0.80.0/24", 50051, 5);
  ASSERT_NE(cluster, nullptr);
  Kubelet kubelet(*cluster->api, 50051);
  ASSERT_TRUE(WaitFor([&] { return kubelet.Running().size() == 5; }, milliseconds(10000)));
  ASSERT_EQ(kubelet.start_failures(), 0);
  const std::string base = std::string(K8SLB_CLIENT_BINARY) + " --kubeconfig " + cluster->kubeconfig +
                           " --target kubernetes:///echo.default:grpc --client-id e2e --sync-timeout 10";
  auto [code, out] = RunCommand(base + " --requests 500 --concurrency 4 --output table");
  std::cout << out;
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("k8slb-client: using kubeconfig"), std::string::npos) << out;
  int rows = 0;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) rows += line.rfind("echo-", 0) == 0;
  EXPECT_EQ(rows, 5) << out;

  auto [jcode, jout] = RunCommand(base + " --requests 20 --policy round-robin --output json 2>/dev/null");
  std::cout << jout;
  EXPECT_EQ(jcode, 0) << jout;
  // RunCommand merges stderr (the start-up lines) into the output: the JSON is the line with "{".
  std::string json_line;
  std::istringstream jlines(jout);
  for (std::string l; std::getline(jlines, l);) {
    if (l.rfind("{", 0) == 0) json_line = l;
  }
  const nlohmann::json j = nlohmann::json::parse(json_line, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object() && j.contains("backends") && j.contains("rpcs")) << jout;
  EXPECT_EQ(j["frontend"], "e2e");
  ASSERT_EQ(j["backends"].size(), 20u) << jout;
  ASSERT_EQ(j["rpcs"].size(), 20u) << jout;
  std::set<std::string> pods;
  int64_t last_end = 0;
  for (size_t i = 0; i < 20; ++i) {
    const nlohmann::json& rpc = j["rpcs"][i];
    EXPECT_EQ(rpc["pod"], j["backends"][i]) << "rpcs and backends in the same (completion) order";
    EXPECT_EQ(rpc["code"], 0);
    EXPECT_GE(rpc["sent_us"].get<int64_t>(), 0);
    EXPECT_GT(rpc["latency_us"].get<int64_t>(), 0);
    const int64_t end = rpc["sent_us"].get<int64_t>() + rpc["latency_us"].get<int64_t>();
    EXPECT_GE(end, last_end) << "completion order";
    last_end = end;
    pods.insert(rpc["pod"].get<std::string>());
  }
  EXPECT_EQ(pods.size(), 5u) << "round robin over the five pods";
  EXPECT_GT(j["start_unix_us"].get<int64_t>(), 1'700'000'000'000'000) << "wall clock of the run's start";
}

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// `k8slb-client --metrics-listen 127.0.0.1:0`: the bound address on stderr, then GET /metrics
// (while it lingers after the run) has one series per pod whose counts are the client's own JSON
// output, discovery's freshness and the client process's metrics; SIGTERM ends the linger, exit 0.
// A port the kernel reports free on `host` now (every pod of a Deployment listens on the same
// container port, so port 0 cannot be given to each pod itself).
int KernelChosenPort(const char* host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, host, &addr.sin_addr);
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// Starts `args` with stdout and stderr to `out_path` (and `envp`, or this process's environment);
// returns the pid, or -1.
pid_t SpawnWithOutput(std::vector<std::string> args, const std::string& out_path, char* const* envp = environ) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&files, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &files, nullptr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&files);
  return rc == 0 ? pid : -1;
}

#ifdef K8SLB_DASHBOARD_BINARY
// `k8slb-dashboard --scrape URL --screenshot` on the offscreen platform against the running
// client: the PNG has the requested size, and what it was drawn from (--state-json) has every
// pod the client used with the client's own counts, one rate series per pod, and no banner.
void ExpectDashboardScrapeDrawsEveryPod(const std::string& url, const std::map<std::string, int>& answered) {
  const std::string base = (std::filesystem::temp_directory_path() / ("k8slb-scrape-" + std::to_string(::getpid()))).string();
  const std::string png = base + ".png", state = base + ".json", log = base + ".log";
  std::vector<std::string> args = {K8SLB_DASHBOARD_BINARY, "--scrape", url, "--scrape-interval", "0.2",
                                   "--scrape-rounds", "4", "--screenshot", png, "--state-json", state,
                                   "--size", "1000x700"};
  std::vector<std::string> env_strings = {"QT_QPA_PLATFORM=offscreen"};
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).rfind("QT_QPA_PLATFORM=", 0) != 0) env_strings.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = SpawnWithOutput(args, log, envp.data());
  ASSERT_GT(pid, 0);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);  // bounded by the dashboard's own round deadline
  std::ifstream log_in(log);
  const std::string output((std::istreambuf_iterator<char>(log_in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << output;
  // PNG: signature, then the IHDR chunk's big-endian width and height at bytes 16..23.
  std::ifstream png_in(png, std::ios::binary);
  std::string head(24, '\0');
  png_in.read(head.data(), 24);
  ASSERT_EQ(png_in.gcount(), 24) << output;
  EXPECT_EQ(head.substr(1, 3), "PNG");
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(head[at + i]);
    return v;
  };
  EXPECT_EQ(be32(16), 1000u);
  EXPECT_EQ(be32(20), 700u);
  std::ifstream state_in(state);
  const nlohmann::json j = nlohmann::json::parse(state_in, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object() && j.contains("strategies")) << output;
  ASSERT_EQ(j["strategies"].size(), 1u) << j.dump();
  const auto& s = j["strategies"][0];
  EXPECT_EQ(s["name"], "default/echo:grpc");
  int total = 0;
  std::map<std::string, int> drawn;
  for (const auto& [pod, n] : s["per_pod"].items()) drawn[pod] = n.get<int>();
  for (const auto& [pod, n] : answered) total += n;
  EXPECT_EQ(drawn, answered) << j.dump();
  EXPECT_EQ(s["ok"], total);
  EXPECT_EQ(s["failed"], 0);
  EXPECT_EQ(s["timeline_ok"], total) << "the charts' rows hold every counted RPC";
  EXPECT_EQ(j["pods"], static_cast<int>(answered.size()));
  ASSERT_EQ(j["rate_charts"].size(), 1u);
  EXPECT_EQ(j["rate_charts"][0]["series"], static_cast<int>(answered.size())) << "one series per pod";
  EXPECT_EQ(j["banner"], "") << "the source answered every scrape";
  EXPECT_NE(j["header"].get<std::string>().find("1 of 1 answering"), std::string::npos) << j["header"];
  for (const auto& f : {png, state, log}) std::filesystem::remove(f);
}
#endif

TEST(EndToEndFakeApiTest, ClientBinaryServesMetricsThatMatchItsOwnCounts) {
  const int port = KernelChosenPort("127.0.81.1");
  ASSERT_GT(port, 0);
  auto cluster = StartCluster("127.0.81.0/24", port, 5);
  ASSERT_NE(cluster, nullptr);
  Kubelet kubelet(*cluster->api, port);
  ASSERT_TRUE(WaitFor([&] { return kubelet.Running().size() == 5; }, milliseconds(10000)));
  ASSERT_EQ(kubelet.start_failures(), 0);
  const std::string out_path = cluster->kubeconfig + ".client-out";
  const double test_start = static_cast<double>(std::time(nullptr));
  std::vector<std::string> args = {K8SLB_CLIENT_BINARY, "--kubeconfig", cluster->kubeconfig,
                                   "--target", "kubernetes:///echo.default:grpc", "--sync-timeout", "30",
                                   "--requests", "60", "--concurrency", "2", "--policy", "round-robin",
                                   "--output", "json", "--metrics-listen", "127.0.0.1:0",
                                   "--metrics-linger", "300"};
  const pid_t pid = SpawnWithOutput(args, out_path);
  ASSERT_GT(pid, 0);
  struct Reap {
    pid_t pid;
    std::string path;
    ~Reap() {
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
      std::filesystem::remove(path);
    }
  } reap{pid, out_path};

  // The run is over once the JSON line is out; the client then lingers, serving /metrics.
  std::string url, json_line, output;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::ifstream in(out_path);
        output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        std::istringstream lines(output);
        for (std::string l; std::getline(lines, l);) {
          const std::string prefix = "k8slb-client: metrics on ";
          if (l.rfind(prefix, 0) == 0) url = l.substr(prefix.size());
          if (l.rfind("{", 0) == 0) json_line = l;
        }
        return !url.empty() && !json_line.empty();
      },
      milliseconds(120000)))
      << output;
  EXPECT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
  EXPECT_EQ(url.find("127.0.0.1:0/"), std::string::npos) << "the bound port is printed: " << url;
  const nlohmann::json j = nlohmann::json::parse(json_line, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object() && j.contains("backends")) << output;
  std::map<std::string, int> answered;
  for (const auto& pod : j["backends"]) ++answered[pod.get<std::string>()];
  ASSERT_EQ(j["failed"], 0) << output;
  ASSERT_EQ(answered.size(), 5u) << output;

  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  ASSERT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
  ASSERT_EQ(status, 200);
  auto scrape = report::ParsePrometheusText(body);
  ASSERT_TRUE(scrape.ok()) << scrape.status() << "\n" << body;
  auto value = [&](const std::string& name, std::map<std::string, std::string> labels) {
    auto found = scrape->Find(name, labels);
    EXPECT_EQ(found.size(), 1u) << name << "\n" << body;
    return found.empty() ? -1.0 : found.front()->value;
  };
  const std::map<std::string, std::string> channel = {{"channel", "default/echo:grpc"}};
  EXPECT_EQ(scrape->Find("k8slb_endpoint_picks_total").size(), 5u) << body;
  for (const auto& [pod, count] : answered) {
    std::map<std::string, std::string> l = {{"channel", "default/echo:grpc"}, {"pod", pod}};
    EXPECT_EQ(value("k8slb_endpoint_picks_total", l), count) << pod;
    EXPECT_EQ(value("k8slb_endpoint_successes_total", l), count) << pod;
    EXPECT_EQ(value("k8slb_endpoint_failures_total", l), 0) << pod;
    EXPECT_EQ(value("k8slb_endpoint_in_flight", l), 0) << pod;
    EXPECT_EQ(value("k8slb_endpoint_ejected", l), 0) << pod;
  }
  EXPECT_EQ(value("k8slb_channel_endpoints", channel), 5);
  EXPECT_EQ(value("k8slb_discovery_synced", channel), 1);
  auto rv = scrape->Find("k8slb_discovery_resource_version_info", channel);
  ASSERT_EQ(rv.size(), 1u) << body;
  EXPECT_FALSE(rv.front()->labels.at("resource_version").empty());
  const double staleness = value("k8slb_discovery_staleness_seconds", channel);
  EXPECT_GE(staleness, 0);
  EXPECT_LT(staleness, 600);
  // The process metrics are the client's: it started after this test did.
  const double started = value("process_start_time_seconds", {});
  EXPECT_GE(started, test_start - 1);
  EXPECT_LE(started, static_cast<double>(std::time(nullptr)) + 1);
  EXPECT_GT(value("process_resident_memory_bytes", {}), 1 << 20);
  EXPECT_GE(value("process_cpu_seconds_total", {}), 0);
#ifdef K8SLB_DASHBOARD_BINARY
  ExpectDashboardScrapeDrawsEveryPod(url, answered);
#endif

  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  reap.pid = 0;
  EXPECT_TRUE(WIFEXITED(wstatus)) << "SIGTERM ends the linger; the client exits on its own";
  EXPECT_EQ(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1, 0);
}
#endif

}  // namespace
}  // namespace k8slb::testing
