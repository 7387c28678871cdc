// k8slb-echo-server: one echo backend "pod". See --help.
#include <signal.h>
#include <unistd.h>

#include <grpc/support/log.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "echo_server/echo_server.h"
#include "absl/strings/str_cat.h"
#include "input/cli_flags.h"
#include "k8slb/metrics_http.h"
#include "k8slb/version.h"

namespace {

constexpr char kDescription[] = R"(k8slb-echo-server: gRPC echo backend (k8slb.echo.Echo) that names the pod answering.

Serves k8slb.echo.Echo/Echo and the standard grpc.health.v1.Health service. Each response carries
the pod name, zone and address. Prints "listening on ADDRESS" on stdout once serving (useful with
port 0). On SIGTERM or SIGINT: health turns NOT_SERVING, no new calls are accepted, calls in
flight get up to --grace seconds to finish, then the process exits 0.

--orca (or --orca=measured) attaches an ORCA load report (gRFC A51) to every reply, in the
endpoint-load-metrics-bin trailer and its k8slb-load-report-bin mirror (docs/orca.md): process
CPU utilization, requests and errors per second over the last whole second, calls in flight.

--metrics-listen HOST:PORT serves Prometheus /metrics: k8slb_echo_calls_received_total,
k8slb_echo_calls_completed_total, k8slb_echo_calls_in_flight and the process metrics (no pod
label: Prometheus adds the target's own); "metrics on http://HOST:PORT/metrics" goes to stderr.

Exit codes: 0 clean shutdown; 1 cannot serve (e.g. address in use); 2 bad command line.)";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(kDescription, "k8slb-echo-server");
  std::string listen = "0.0.0.0:50051";
  std::string pod_name;
  std::string zone;
  double latency_ms = 0;
  double jitter_ms = 0;
  double error_rate = 0;
  std::string error_code = "unavailable";
  double grace_s = 10;
  uint64_t seed = 1;
  std::string metrics_listen;
  std::string orca = "off";
  app.add_option("--listen", listen, "HOST:PORT to serve on, e.g. 127.0.1.7:50051 (port 0: any free port)")
      ->check(k8slb::input::HostPortAddress())
      ->capture_default_str();
  app.add_option("--pod-name", pod_name, "pod name to report (default: $POD_NAME, else the hostname)");
  // $POD_IP (downward API) replaces a wildcard listen host in the reported address.
  app.add_option("--zone", zone, "zone to report (default: $POD_ZONE)");
  app.add_option("--latency-ms", latency_ms, "mean service time added to every call")
      ->check(k8slb::input::RealIn(0, 3'600'000))
      ->capture_default_str();
  app.add_option("--jitter-ms", jitter_ms, "mean of an exponential jitter added to the latency")
      ->check(k8slb::input::RealIn(0, 3'600'000))
      ->capture_default_str();
  app.add_option("--error-rate", error_rate, "share of calls that fail, in [0, 1]")
      ->check(k8slb::input::RealIn(0, 1))
      ->capture_default_str();
  app.add_option("--error-code", error_code, "gRPC code of injected failures (e.g. unavailable, internal)")
      ->capture_default_str();
  app.add_option("--grace", grace_s, "seconds calls in flight may take to finish after SIGTERM")
      ->check(k8slb::input::RealIn(0, 86400))
      ->capture_default_str();
  app.add_option("--seed", seed, "seed of the latency and error randomness")
      ->check(k8slb::input::UnsignedUpTo(UINT64_MAX))
      ->capture_default_str();
  // A flag with an optional value: --orca means --orca=measured.
  app.add_flag("--orca{measured}", orca, "attach ORCA load reports to replies: off or measured (--orca alone)")
      ->check(CLI::IsMember({"off", "measured"}))
      ->capture_default_str();
  app.add_option("--metrics-listen", metrics_listen,
                 "serve Prometheus /metrics on HOST:PORT (numeric host; port 0: any, printed on stderr)")
      ->check(k8slb::input::HostPortAddress());
  app.set_version_flag("--version", std::string("k8slb-echo-server ") + k8slb::kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "k8slb-echo-server: " << e.what() << " (see --help)\n";
    return 2;
  }

  k8slb::echo::EchoServerOptions options;
  options.listen = listen;
  if (pod_name.empty()) {
    if (const char* env = std::getenv("POD_NAME"); env != nullptr && *env != '\0') {
      pod_name = env;
    } else {
      char host[256] = {0};
      if (gethostname(host, sizeof host - 1) == 0) pod_name = host;
    }
  }
  if (zone.empty()) {
    if (const char* env = std::getenv("POD_ZONE"); env != nullptr) zone = env;
  }
  // In a pod the Deployment listens on 0.0.0.0; report the pod IP (downward API) instead.
  if (const char* ip = std::getenv("POD_IP"); ip != nullptr && *ip != '\0') {
    std::string host = listen.substr(0, listen.rfind(':'));
    if (host == "0.0.0.0" || host == "[::]" || host.empty()) options.advertised_host = ip;
  }
  options.pod_name = pod_name;
  options.zone = zone;
  options.latency_ms = latency_ms;
  options.jitter_ms = jitter_ms;
  options.error_rate = error_rate;
  options.seed = seed;
  options.orca = orca == "measured" ? k8slb::echo::EchoServerOptions::Orca::kMeasured
                                    : k8slb::echo::EchoServerOptions::Orca::kOff;
  auto code = k8slb::echo::ParseStatusCode(error_code);
  if (!code.ok()) {
    std::cerr << "k8slb-echo-server: --error-code: " << code.status().message() << "\n";
    return 2;
  }
  options.error_code = *code;

  // gRPC's own log lines would turn a bind failure into a multi-line report; the one-line reason
  // below says it. GRPC_VERBOSITY=debug (or any value) keeps them.
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function([](gpr_log_func_args*) {});

  // Block the stop signals before gRPC starts its threads, so only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = k8slb::echo::EchoServer::Start(options);
  if (!server.ok()) {
    bool usage = server.status().code() == absl::StatusCode::kInvalidArgument;
    std::cerr << "k8slb-echo-server: " << server.status().message() << "\n";
    return usage ? 2 : 1;
  }
  std::unique_ptr<k8slb::MetricsServer> metrics;
  if (!metrics_listen.empty()) {
    k8slb::echo::EchoServer* echo = server->get();
    auto served = k8slb::MetricsServer::Start({.listen = metrics_listen}, [echo] {
      return absl::StrCat("# HELP k8slb_echo_calls_received_total Calls that reached the echo handler.\n",
                          "# TYPE k8slb_echo_calls_received_total counter\n",
                          "k8slb_echo_calls_received_total ", echo->received(), "\n",
                          "# HELP k8slb_echo_calls_completed_total Calls answered (OK or injected error).\n",
                          "# TYPE k8slb_echo_calls_completed_total counter\n",
                          "k8slb_echo_calls_completed_total ", echo->completed(), "\n",
                          "# HELP k8slb_echo_calls_in_flight Calls started and not answered yet.\n",
                          "# TYPE k8slb_echo_calls_in_flight gauge\n",
                          "k8slb_echo_calls_in_flight ", echo->in_flight(), "\n") +
             k8slb::RenderProcessMetrics();
    });
    if (!served.ok()) {
      std::cerr << "k8slb-echo-server: --metrics-listen: " << served.status().message() << "\n";
      return served.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    metrics = *std::move(served);
    std::cerr << "k8slb-echo-server: metrics on " << metrics->url() << "\n";
  }
  std::cout << "listening on " << (*server)->address() << " pod=" << pod_name << " zone=" << zone << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "k8slb-echo-server: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ": draining for up to " << grace_s
            << " s\n";
  (*server)->Shutdown(std::chrono::milliseconds(static_cast<int64_t>(grace_s * 1000)));
  std::cerr << "k8slb-echo-server: served " << (*server)->completed() << " calls\n";
  metrics.reset();  // its renderer reads the echo server: stop it first
  return 0;
}
