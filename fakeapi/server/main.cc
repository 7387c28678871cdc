// k8slb-fakeapi: a fake Kubernetes API server for kubectl, the JS / Python clients and k8slb
// (flags as fixed in design.md "Interfaces"). Runs until SIGINT or SIGTERM.
#include <csignal>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "fakeapi/scenario/cluster_scenario_yaml.h"
#include "fakeapi/server/fake_api_server.h"
#include "input/cli_flags.h"
#include "k8slb/version.h"

namespace {

int Fail(const std::string& message) {
  std::cerr << "k8slb-fakeapi: " << message << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"k8slb-fakeapi: a fake Kubernetes API server (EndpointSlices, Pods, Deployments, Services) "
               "driven by the k8slb cluster model"};
  std::string listen = "127.0.0.1:6443";
  bool plain_http = false;
  bool allow_non_loopback = false;
  std::string kubeconfig, sa_dir, scenario_file;
  double speed = 1.0;
  std::optional<uint64_t> seed;
  std::optional<int> max_per_slice;
  double token_rotation_s = 0;
  double bookmark_interval_s = 60;
  app.add_option("--listen", listen, "HOST:PORT to listen on (loopback unless --allow-non-loopback)")
      ->check(k8slb::input::HostPortAddress())
      ->capture_default_str();
  app.add_flag("--http", plain_http, "serve plain HTTP instead of HTTPS (kubectl then sends no token)");
  app.add_flag("--allow-non-loopback", allow_non_loopback, "allow a non-loopback --listen address");
  app.add_option("--write-kubeconfig", kubeconfig, "write a kubeconfig (admin token, CA embedded) to FILE");
  app.add_option("--serviceaccount-dir", sa_dir,
                 "write token, ca.crt and namespace for the k8slb-client service account to DIR");
  app.add_option("--scenario", scenario_file, "replay this scenario file (YAML) in real time");
  app.add_option("--speed", speed, "model time runs this many times faster than real time")
      ->check(k8slb::input::RealIn(0.001, 10000))
      ->capture_default_str();
  app.add_option("--seed", seed, "random seed (default: the scenario's, else 1)")
      ->check(k8slb::input::UnsignedUpTo(UINT64_MAX));
  app.add_option("--max-endpoints-per-slice", max_per_slice, "EndpointSlice controller limit (1..1000)")
      ->check(k8slb::input::IntegerIn(1, 1000));
  app.add_option("--token-rotation", token_rotation_s,
                 "rotate the service-account token every SECONDS (0 = never; old token valid 60 s more)")
      ->check(k8slb::input::RealIn(0, 365 * 86400.0));
  app.add_option("--bookmark-interval", bookmark_interval_s, "seconds between watch BOOKMARK events")
      ->check(k8slb::input::RealIn(0.001, 86400))
      ->capture_default_str();
  app.set_version_flag("--version", std::string("k8slb-fakeapi ") + k8slb::kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Fail(e.what());
  }
  if (!(speed > 0)) return Fail("--speed must be > 0");
  if (max_per_slice && (*max_per_slice < 1 || *max_per_slice > 1000)) {
    return Fail("--max-endpoints-per-slice must be in 1..1000");
  }
  if (token_rotation_s < 0) return Fail("--token-rotation must be >= 0");
  if (!(bookmark_interval_s > 0)) return Fail("--bookmark-interval must be > 0");

  k8slb::fakeapi::FakeApiOptions options;
  options.listen = listen;
  options.plain_http = plain_http;
  options.allow_non_loopback = allow_non_loopback;
  options.speed = speed;
  options.seed = seed;
  options.max_endpoints_per_slice = max_per_slice;
  options.token_rotation = std::chrono::milliseconds(static_cast<int64_t>(token_rotation_s * 1000));
  options.bookmark_interval = std::chrono::milliseconds(static_cast<int64_t>(bookmark_interval_s * 1000));
  if (!scenario_file.empty()) {
    auto scenario = k8slb::fake::LoadClusterScenario(scenario_file);
    if (!scenario.ok()) return Fail(std::string(scenario.status().message()));
    options.scenario = std::move(*scenario);
  }

  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = k8slb::fakeapi::FakeApiServer::Start(std::move(options));
  if (!server.ok()) return Fail(std::string(server.status().message()));
  if (!kubeconfig.empty()) {
    if (auto s = (*server)->WriteKubeconfig(kubeconfig); !s.ok()) return Fail(std::string(s.message()));
  }
  if (!sa_dir.empty()) {
    if (auto s = (*server)->WriteServiceAccountDir(sa_dir); !s.ok()) return Fail(std::string(s.message()));
  }
  std::cout << "k8slb-fakeapi: serving " << (*server)->url();
  if (!kubeconfig.empty()) std::cout << " (kubeconfig: " << kubeconfig << ")";
  std::cout << "\n" << std::flush;

  int sig = 0;
  sigwait(&signals, &sig);
  std::cout << "k8slb-fakeapi: stopping (signal " << sig << ")\n" << std::flush;
  (*server)->Stop();
  return 0;
}
