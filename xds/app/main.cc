// k8slb-xds: serves Kubernetes EndpointSlices to proxyless gRPC clients over xDS (ADS, state of
// the world, v3), and prints bootstrap files for them. See --help and docs/xds.md.
#include <pthread.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "input/cli_flags.h"
#include "k8slb/kube_config.h"
#include "k8slb/metrics_http.h"
#include "k8slb/version.h"
#include "k8slb/xds/bootstrap.h"
#include "k8slb/xds/server.h"

namespace {

constexpr char kDescription[] = R"(k8slb-xds: serves the pods of Kubernetes Services to proxyless gRPC clients over xDS.

A client in any language dials xds:///SERVICE.NAMESPACE:PORT (PORT: the Service's port name or
number; the library's target grammar) with GRPC_XDS_BOOTSTRAP naming a bootstrap file that points
at this server ('k8slb-xds bootstrap' prints one). k8slb-xds watches the Service's EndpointSlices
and answers with a Listener, a Cluster and a ClusterLoadAssignment of the usable endpoints: ready
ones HEALTHY, or serving+terminating ones DRAINING when none is ready; one locality per zone, the
client's zone (its bootstrap node locality) at priority 0 and the others at priority 1.

Kubernetes configuration (the choice is printed on stderr):
  default                in-cluster (service account) when running in a pod, else the kubeconfig
  --kubeconfig/--context  a kubeconfig file and context
  --server [--token-file] [--ca-file]  explicit API server
It needs list and watch on discovery.k8s.io endpointslices in the namespaces it serves.

--metrics-listen HOST:PORT serves Prometheus /metrics: k8slb_xds_streams_active, _streams_total,
_requests_total, _responses_total, _acks_total, _nacks_total, _pushes_total, _services_watched,
_services_synced and the process metrics; "metrics on http://HOST:PORT/metrics" goes to stderr.

Exit codes:
  0  stopped by SIGINT/SIGTERM (or bootstrap printed)
  1  cannot serve (e.g. --listen address in use)
  2  bad command line
  3  configuration error)";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(kDescription, "k8slb-xds");
  app.require_subcommand(0, 1);
  std::string listen = "127.0.0.1:18000";
  std::string kubeconfig;
  std::string context;
  std::string server;
  std::string token_file;
  std::string ca_file;
  bool insecure_skip_tls_verify = false;
  std::vector<std::string> namespaces;
  bool all_namespaces = false;
  double idle_watch_grace_s = 60;
  double stats_interval_s = 0;
  int notify_threads = 1;
  bool verbose = false;
  std::string metrics_listen;
  // Numbers and addresses are checked as text before CLI11 converts them (input/cli_flags.h).
  app.add_option("--listen", listen, "HOST:PORT to serve ADS on (0.0.0.0:18000 in a pod)")
      ->check(k8slb::input::HostPortAddress())
      ->capture_default_str();
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)");
  app.add_option("--context", context, "kubeconfig context (default: current-context)");
  app.add_option("--server", server, "explicit API server URL, e.g. https://127.0.0.1:6443");
  app.add_option("--token-file", token_file, "bearer token file for --server (re-read on rotation)");
  app.add_option("--ca-file", ca_file, "CA bundle (PEM) for --server");
  app.add_flag("--insecure-skip-tls-verify", insecure_skip_tls_verify, "do not verify the --server certificate");
  auto* ns_opt = app.add_option("--namespace", namespaces,
                                "a namespace whose Services may be served (repeatable; default: the "
                                "configuration's namespace)");
  app.add_flag("--all-namespaces", all_namespaces, "serve Services of every namespace")->excludes(ns_opt);
  app.add_option("--idle-watch-grace", idle_watch_grace_s,
                 "seconds a Service's watch outlives its last client stream")
      ->check(k8slb::input::RealIn(0, 86400))
      ->capture_default_str();
  app.add_option("--stats-interval", stats_interval_s, "print a stats line on stderr every N seconds (0: never)")
      ->check(k8slb::input::RealIn(0, 86400))
      ->capture_default_str();
  app.add_option("--notify-threads", notify_threads,
                 "threads that help a watch's thread push one change to many streams (0: none)")
      ->check(k8slb::input::IntegerIn(0, 64))
      ->capture_default_str();
  app.add_option("--metrics-listen", metrics_listen,
                 "serve Prometheus /metrics on HOST:PORT (numeric host; port 0: any, printed on stderr)")
      ->check(k8slb::input::HostPortAddress());
  app.add_flag("--verbose", verbose, "log every watch and stream event (info level)");

  auto* bootstrap_cmd = app.add_subcommand("bootstrap", "print a gRPC xDS bootstrap file (GRPC_XDS_BOOTSTRAP) for a client");
  k8slb::xds::BootstrapOptions bootstrap;
  bootstrap_cmd->add_option("--xds-server", bootstrap.server, "k8slb-xds address as the client reaches it, HOST:PORT")
      ->required();
  bootstrap_cmd->add_option("--zone", bootstrap.zone, "the client's zone: its endpoints get priority 0");
  bootstrap_cmd->add_option("--region", bootstrap.region, "the client's region (informational)");
  bootstrap_cmd->add_option("--node-id", bootstrap.node_id, "xDS node id (shown in k8slb-xds logs)")
      ->capture_default_str();
  app.set_version_flag("--version", std::string("k8slb-xds ") + k8slb::kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --help-all, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "k8slb-xds: " << e.what() << " (see --help)\n";
    return 2;
  }

  if (bootstrap_cmd->parsed()) {
    auto text = k8slb::xds::MakeBootstrap(bootstrap);
    if (!text.ok()) {
      std::cerr << "k8slb-xds bootstrap: " << text.status().message() << "\n";
      return 2;
    }
    std::cout << *text;
    return 0;
  }

  if (!server.empty() && (!kubeconfig.empty() || !context.empty())) {
    std::cerr << "k8slb-xds: --server excludes --kubeconfig/--context\n";
    return 2;
  }
  absl::StatusOr<k8slb::KubeConfig> config = k8slb::LoadKubeConfigFromFlags(
      {.server = server, .token_file = token_file, .ca_file = ca_file,
       .insecure_skip_tls_verify = insecure_skip_tls_verify, .kubeconfig = kubeconfig, .context = context});
  if (!config.ok()) {
    std::cerr << "k8slb-xds: kubernetes configuration: " << config.status().message() << "\n";
    return 3;
  }
  std::cerr << "k8slb-xds: using " << config->description << "\n";

  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Debian builds Abseil without NDEBUG, so by default every absl::Mutex acquisition (gRPC's
  // own locks included) also updates Abseil's lock-order graph for deadlock detection: about
  // 7 % of k8slb-xds's CPU when it pushes an update to 1,000 streams. The tests keep the
  // detection; the server binary does not need it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  k8slb::xds::XdsServerOptions options;
  options.listen = listen;
  options.config = *config;
  if (!all_namespaces) {
    options.namespaces = namespaces.empty() ? std::vector<std::string>{config->default_namespace} : namespaces;
  }
  options.idle_watch_grace = std::chrono::milliseconds(static_cast<int64_t>(idle_watch_grace_s * 1000));
  options.notify_threads = notify_threads;
  options.log = [verbose](k8slb::LogLevel level, const std::string& line) {
    if (verbose || level >= k8slb::LogLevel::kWarning) std::cerr << line << "\n";
  };
  auto xds = k8slb::xds::XdsServer::Start(std::move(options));
  if (!xds.ok()) {
    std::cerr << "k8slb-xds: " << xds.status().message() << "\n";
    return 1;
  }
  std::cerr << "k8slb-xds: serving ADS on " << (*xds)->address() << " (namespaces: "
            << (all_namespaces ? std::string("all")
                               : (namespaces.empty() ? config->default_namespace : CLI::detail::join(namespaces)))
            << ")\n";

  std::unique_ptr<k8slb::MetricsServer> metrics;
  if (!metrics_listen.empty()) {
    k8slb::xds::XdsServer* server_ptr = xds->get();
    auto served = k8slb::MetricsServer::Start({.listen = metrics_listen}, [server_ptr] {
      const k8slb::xds::XdsServerStats st = server_ptr->stats();
      std::string out;
      auto family = [&out](const char* name, const char* type, const char* help, auto value) {
        absl::StrAppend(&out, "# HELP k8slb_xds_", name, " ", help, "\n# TYPE k8slb_xds_", name, " ", type,
                        "\nk8slb_xds_", name, " ", value, "\n");
      };
      family("streams_active", "gauge", "ADS streams open.", st.streams_active);
      family("streams_total", "counter", "ADS streams accepted.", st.streams_total);
      family("requests_total", "counter", "Discovery requests received.", st.requests);
      family("responses_total", "counter", "Discovery responses sent.", st.responses);
      family("acks_total", "counter", "Requests that acknowledged a response.", st.acks);
      family("nacks_total", "counter", "Requests that rejected a response.", st.nacks);
      family("stale_requests_total", "counter", "Requests answering an older response (ignored).", st.stale_requests);
      family("pushes_total", "counter", "Responses sent because a Service changed.", st.pushes);
      family("services_watched", "gauge", "Services whose EndpointSlices are watched.", st.services_watched);
      family("services_synced", "gauge", "Watched Services whose first list completed.", st.services_synced);
      family("assignments_built_total", "counter", "ClusterLoadAssignments built.", st.assignments_built);
      return out + k8slb::RenderProcessMetrics();
    });
    if (!served.ok()) {
      std::cerr << "k8slb-xds: --metrics-listen: " << served.status().message() << "\n";
      return served.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    metrics = *std::move(served);
    std::cerr << "k8slb-xds: metrics on " << metrics->url() << "\n";
  }

  absl::Notification stop;
  std::thread stats_thread;
  if (stats_interval_s > 0) {
    stats_thread = std::thread([&] {
      const auto period = absl::Milliseconds(static_cast<int64_t>(stats_interval_s * 1000));
      while (!stop.WaitForNotificationWithTimeout(period)) {
        auto s = (*xds)->stats();
        std::cerr << "k8slb-xds: streams " << s.streams_active << " (" << s.streams_total << " total), services "
                  << s.services_synced << "/" << s.services_watched << " synced, responses " << s.responses
                  << " (pushes " << s.pushes << "), acks " << s.acks << ", nacks " << s.nacks << "\n";
      }
    });
  }
  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "k8slb-xds: stopping (signal " << sig << ")\n";
  stop.Notify();
  if (stats_thread.joinable()) stats_thread.join();
  metrics.reset();  // its renderer reads the xDS server
  (*xds)->Shutdown(std::chrono::milliseconds(1000));
  return 0;
}
