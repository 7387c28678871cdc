// k8slb-client: the reference client. Watches a Service's EndpointSlices, sends echo RPCs balanced
// per call, and prints which pod answered each (json) or a per-pod table. See --help.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <k8slb/proto/echo.grpc.pb.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/load_report.h"
#include "discovery/files.h"
#include "input/cli_flags.h"
#include "k8slb/balanced_channel.h"
#include "k8slb/client.h"
#include "k8slb/kube_config.h"
#include "k8slb/metrics_http.h"
#include "k8slb/picker.h"
#include "k8slb/version.h"

namespace {

constexpr char kDescription[] = R"(k8slb-client: sends echo RPCs to the pods of a Kubernetes Service, balanced per call.

Discovers the pods by watching the Service's EndpointSlices through the Kubernetes API, then sends
k8slb.echo.Echo RPCs (closed loop from --concurrency workers, paced by --rps when given) and prints
which pod answered each one.

Kubernetes configuration (the choice is printed on stderr):
  default                in-cluster (service account) when running in a pod, else the kubeconfig
  --kubeconfig/--context  a kubeconfig file and context
  --server [--token-file] [--ca-file]  explicit API server

Output:
  --output table   one row per pod: pod count share p50_ms p99_ms ('#' lines are comments)
  --output json    {"frontend": ID, "backends": [pod per successful RPC], "failed": N, ...,
                    "start_unix_us": T0, "rpcs": [{"pod", "sent_us", "latency_us", "code"}, ...]}
                   (rpcs in completion order, sent_us counted from T0)

Exit codes:
  0  every RPC succeeded
  1  some RPCs failed (see stderr)
  2  bad command line
  3  configuration error, or no endpoints within --sync-timeout (e.g. RBAC 403: the message says so),
     or --metrics-listen cannot be bound

Metrics (--metrics-listen HOST:PORT): GET /metrics answers the channel's Prometheus series (per-pod
picks, in-flight, failures, ejections; discovery freshness) and the process metrics. Port 0 lets
the kernel choose; the line "k8slb-client: metrics on http://HOST:PORT/metrics" on stderr names the
bound address. With it, SIGINT/SIGTERM end the run early (the output covers the RPCs so far), and
--metrics-linger keeps serving after the run until it elapses or a signal comes.)";

constexpr int64_t kMaxRequests = 1'000'000'000'000;
constexpr double kMaxSeconds = 1e7;  // 115 days: far beyond any run, far below int64 microseconds

std::string Hostname() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) return "unknown";
  return host;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(kDescription, "k8slb-client");
  std::string target = "kubernetes:///echo.default:grpc";
  std::string policy_name(k8slb::kDefaultPolicyName);
  std::string zone;
  std::string node;
  int64_t requests = 0;
  double duration_s = 0;
  double rps = 0;
  int concurrency = 1;
  std::string output = "table";
  std::string client_id;
  std::string kubeconfig;
  std::string context;
  std::string server;
  std::string token_file;
  std::string ca_file;
  bool insecure_skip_tls_verify = false;
  double sync_timeout_s = 10;
  int64_t timeout_ms = 2000;
  std::string message = "hello";
  std::string pod_ca_file;
  std::string authority;
  bool print_metrics = false;
  std::string metrics_listen;
  double metrics_linger_s = 0;

  app.add_option("--target", target, "service to call (kubernetes:///svc.ns:port and the other kuberesolver forms)")
      ->capture_default_str();
  // The library's named policies, the one list the simulator's strategies use too.
  std::vector<std::string> policy_names;
  for (const k8slb::NamedPolicy& p : k8slb::kNamedPolicies) policy_names.emplace_back(p.name);
  app.add_option("--policy", policy_name, absl::StrJoin(policy_names, " | "))
      ->check(CLI::IsMember(policy_names))
      ->capture_default_str();
  app.add_option("--zone", zone, "client zone for topology-aware picking (default: $K8SLB_ZONE)");
  app.add_option("--node", node,
                 "client node for topology-aware picking, hints.forNodes (default: $K8SLB_NODE, set it from "
                 "spec.nodeName)");
  // Every number is checked as text before CLI11 converts it (input/cli_flags.h): NaN, inf, 1e99
  // and integers beyond int64 are refused with a message, never run as a silently wrong value.
  auto* requests_opt = app.add_option("--requests", requests, "number of RPCs (default 100 unless --duration)")
                           ->check(k8slb::input::IntegerIn(0, kMaxRequests));
  auto* duration_opt = app.add_option("--duration", duration_s, "send for this many seconds instead")
                           ->check(k8slb::input::RealIn(0, kMaxSeconds));
  requests_opt->excludes(duration_opt);
  app.add_option("--rps", rps, "target rate over all workers; 0 = as fast as the workers go")
      ->check(k8slb::input::RealIn(0, 1e6))
      ->capture_default_str();
  app.add_option("--concurrency", concurrency, "concurrent workers")
      ->check(k8slb::input::IntegerIn(1, 10000))
      ->capture_default_str();
  app.add_option("--output", output, "table | json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  app.add_option("--client-id", client_id, "the \"frontend\" name in the output (default: hostname)");
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)");
  app.add_option("--context", context, "kubeconfig context (default: current-context)");
  app.add_option("--server", server, "explicit API server URL, e.g. https://127.0.0.1:6443");
  app.add_option("--token-file", token_file, "bearer token file for --server (re-read on rotation)");
  app.add_option("--ca-file", ca_file, "CA bundle (PEM) for --server");
  app.add_flag("--insecure-skip-tls-verify", insecure_skip_tls_verify, "do not verify the --server certificate");
  app.add_option("--sync-timeout", sync_timeout_s, "seconds to wait for the first endpoints")
      ->check(k8slb::input::RealIn(0, 86400))
      ->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "deadline of each RPC")
      ->check(k8slb::input::IntegerIn(1, 86'400'000))
      ->capture_default_str();
  app.add_option("--message", message, "message to echo")->capture_default_str();
  app.add_option("--pod-ca-file", pod_ca_file, "use TLS to the pods, verifying them with this CA bundle (PEM)");
  app.add_option("--authority", authority, "TLS server name / :authority for the pods (default with TLS: svc.ns.svc)");
  app.add_flag("--print-metrics", print_metrics, "print the channel's Prometheus metrics on stderr at the end");
  app.add_option("--metrics-listen", metrics_listen,
                 "serve Prometheus /metrics on HOST:PORT (numeric host; port 0: any, printed on stderr)")
      ->check(k8slb::input::HostPortAddress());
  app.add_option("--metrics-linger", metrics_linger_s,
                 "with --metrics-listen: keep serving this many seconds after the run (a signal ends it)")
      ->check(k8slb::input::RealIn(0, kMaxSeconds));
  app.set_version_flag("--version", std::string("k8slb-client ") + k8slb::kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "k8slb-client: " << e.what() << " (see --help)\n";
    return 2;
  }
  if (requests == 0 && duration_s == 0) requests = 100;
  if (metrics_linger_s > 0 && metrics_listen.empty()) {
    std::cerr << "k8slb-client: --metrics-linger needs --metrics-listen\n";
    return 2;
  }
  // A scraped client is a long-running one: SIGINT/SIGTERM end its run (and linger) in order, so
  // the output is still printed. Blocked here, before any thread starts, and taken by one thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (!metrics_listen.empty()) pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  if (!server.empty() && (!kubeconfig.empty() || !context.empty())) {
    std::cerr << "k8slb-client: --server excludes --kubeconfig/--context\n";
    return 2;
  }
  if (server.empty() && (!token_file.empty() || !ca_file.empty() || insecure_skip_tls_verify)) {
    std::cerr << "k8slb-client: --token-file, --ca-file and --insecure-skip-tls-verify apply to --server only\n";
    return 2;
  }
  const bool plain_http = absl::StartsWithIgnoreCase(server, "http://");
  if (plain_http && !token_file.empty()) {
    // As kubectl, which sends no credentials to a plain-http server: anyone on the path could
    // read the token.
    std::cerr << "k8slb-client: refusing to send the bearer token from " << token_file << " over plain http to "
              << server << "; use an https:// --server (or drop --token-file)\n";
    return 2;
  }
  if (plain_http && (!ca_file.empty() || insecure_skip_tls_verify)) {
    std::cerr << "k8slb-client: --ca-file and --insecure-skip-tls-verify mean nothing over plain http (" << server
              << ")\n";
    return 2;
  }
  absl::StatusOr<k8slb::Target> parsed_target = k8slb::ParseTarget(target);
  if (!parsed_target.ok()) {
    std::cerr << "k8slb-client: --target: " << parsed_target.status().message() << "\n";
    return 2;
  }

  // Kubernetes configuration.
  absl::StatusOr<k8slb::KubeConfig> config = k8slb::LoadKubeConfigFromFlags(
      {.server = server, .token_file = token_file, .ca_file = ca_file,
       .insecure_skip_tls_verify = insecure_skip_tls_verify, .kubeconfig = kubeconfig, .context = context});
  if (!config.ok()) {
    std::cerr << "k8slb-client: kubernetes configuration: " << config.status().message() << "\n";
    return 3;
  }
  std::cerr << "k8slb-client: using " << config->description << "\n";

  k8slb::BalancedChannelOptions options;
  const k8slb::NamedPolicy named = *k8slb::FindNamedPolicy(policy_name);
  options.policy = named.policy;
  options.load_signal = named.load_signal;
  if (!zone.empty()) options.client_zone = zone;
  if (!node.empty()) options.client_node = node;
  if (!authority.empty()) options.authority = authority;
  if (!pod_ca_file.empty()) {
    // Checked now: gRPC would accept any bytes here and fail every handshake later.
    auto pem = k8slb::discovery::ReadBoundedFile(pod_ca_file, k8slb::discovery::kMaxConfigFileBytes,
                                                 k8slb::discovery::FileKind::kRegularOnly);
    absl::Status valid = pem.ok() ? k8slb::discovery::CheckPemCertificates(*pem, "--pod-ca-file " + pod_ca_file)
                                  : pem.status();
    if (!valid.ok()) {
      std::cerr << "k8slb-client: --pod-ca-file: " << valid.message() << "\n";
      return 3;
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *pem;
    options.credentials = grpc::SslCredentials(ssl);
  }
  options.log = [](k8slb::LogLevel level, const std::string& line) {
    if (level >= k8slb::LogLevel::kWarning) std::cerr << line << "\n";
  };
  auto channel = k8slb::BalancedChannel::Create(target, *config, options);
  if (!channel.ok()) {
    // The command line was checked above (the target included): what fails here is the
    // configuration (URL, TLS files, token file).
    std::cerr << "k8slb-client: " << channel.status().message() << "\n";
    return 3;
  }
  std::unique_ptr<k8slb::MetricsServer> metrics;
  if (!metrics_listen.empty()) {
    auto served = k8slb::ServeChannelMetrics({.listen = metrics_listen}, {*channel});
    if (!served.ok()) {
      std::cerr << "k8slb-client: --metrics-listen: " << served.status().message() << "\n";
      return served.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 3;
    }
    metrics = *std::move(served);
    std::cerr << "k8slb-client: metrics on " << metrics->url() << "\n";
  }
  // Set by the signal thread; ends the workers' loops and the linger.
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  std::atomic<bool> stopping{false};
  std::atomic<bool> finished{false};
  std::thread signal_thread;
  if (metrics != nullptr) {
    signal_thread = std::thread([&] {
      const timespec poll{0, 200'000'000};  // how soon the thread notices the program is done
      while (!finished.load()) {
        if (sigtimedwait(&stop_signals, nullptr, &poll) > 0) {
          std::lock_guard<std::mutex> lock(stop_mu);
          stopping.store(true);
          stop_cv.notify_all();
        }
      }
    });
  }
  struct JoinAtExit {
    std::atomic<bool>& finished;
    std::thread& thread;
    ~JoinAtExit() {
      finished.store(true);
      if (thread.joinable()) thread.join();
    }
  } join_signal_thread{finished, signal_thread};
  const auto sync_timeout = std::chrono::milliseconds(static_cast<int64_t>(sync_timeout_s * 1000));
  absl::Status synced;
  if (metrics == nullptr) {
    synced = (*channel)->WaitForEndpoints(sync_timeout);
  } else {
    // In slices, so a signal also ends the wait; the last slice's error carries discovery's.
    const auto sync_end = std::chrono::steady_clock::now() + sync_timeout;
    do {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(sync_end - std::chrono::steady_clock::now());
      synced = (*channel)->WaitForEndpoints(std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(250)));
    } while (!synced.ok() && !stopping.load() && std::chrono::steady_clock::now() < sync_end);
    if (!synced.ok() && stopping.load()) {
      std::cerr << "k8slb-client: stopped by a signal while waiting for endpoints: " << synced.message() << "\n";
      return 3;
    }
  }
  if (!synced.ok()) {
    std::cerr << "k8slb-client: " << synced.message() << "\n";
    return 3;
  }
  std::cerr << "k8slb-client: " << (*channel)->CurrentSet()->size() << " endpoints for " << (*channel)->name() << "\n";

  k8slb::Client<k8slb::echo::Echo> client(*channel);
  using SteadyClock = std::chrono::steady_clock;
  const auto start = SteadyClock::now();
  const int64_t start_unix_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto end = start + std::chrono::microseconds(static_cast<int64_t>(duration_s * 1e6));
  std::atomic<int64_t> next{0};
  std::mutex mu;
  std::vector<k8slb::client::RpcRecord> records;
  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&] {
      std::vector<k8slb::client::RpcRecord> mine;
      for (;;) {
        int64_t k = next.fetch_add(1);
        if (requests > 0 && k >= requests) break;
        if (rps > 0) {
          auto slot = start + std::chrono::microseconds(static_cast<int64_t>(static_cast<double>(k) * 1e6 / rps));
          std::this_thread::sleep_until(slot);
        }
        if (requests == 0 && SteadyClock::now() >= end) break;
        if (stopping.load()) break;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
        k8slb::echo::EchoRequest req;
        req.set_message(message);
        req.set_request_id(static_cast<uint64_t>(k));
        k8slb::echo::EchoResponse resp;
        auto t0 = SteadyClock::now();
        grpc::Status status = client.With(ctx)->Echo(&ctx, req, &resp);
        auto t1 = SteadyClock::now();
        k8slb::client::RpcRecord r;
        r.end_us = std::chrono::duration_cast<std::chrono::microseconds>(t1 - start).count();
        r.latency_us = std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count();
        r.code = status.error_code();
        if (status.ok()) {
          r.pod = resp.pod_name();
        } else {
          r.error = status.error_message();
        }
        mine.push_back(std::move(r));
      }
      std::lock_guard<std::mutex> lock(mu);
      for (auto& r : mine) records.push_back(std::move(r));
    });
  }
  for (auto& w : workers) w.join();

  k8slb::client::LoadReport report;
  report.frontend = client_id.empty() ? Hostname() : client_id;
  report.target = target;
  report.policy = policy_name;
  report.duration_s = std::chrono::duration<double>(SteadyClock::now() - start).count();
  report.start_unix_us = start_unix_us;
  report.records = std::move(records);
  size_t failed = 0;
  for (const auto& r : report.records) {
    if (r.code != 0) {
      if (failed < 5) std::cerr << "k8slb-client: RPC failed: code " << r.code << ": " << r.error << "\n";
      ++failed;
    }
  }
  if (failed > 5) std::cerr << "k8slb-client: ... " << failed << " RPCs failed in total\n";
  std::cout << (output == "json" ? k8slb::client::FormatJson(report) : k8slb::client::FormatTable(report));
  std::cout.flush();
  if (print_metrics) std::cerr << k8slb::RenderPrometheus((*channel)->Metrics());
  if (metrics != nullptr && metrics_linger_s > 0) {
    std::unique_lock<std::mutex> lock(stop_mu);
    stop_cv.wait_for(lock, std::chrono::duration<double>(metrics_linger_s), [&] { return stopping.load(); });
  }
  return failed > 0 ? 1 : 0;
}
