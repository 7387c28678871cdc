// k8slb-fakeapi: a fake Kubernetes API server for kubectl, the JS / Python clients and k8slb
// (flags in fakeapi/README.md). Runs until SIGINT or SIGTERM.
#include <csignal>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "fakeapi/dns/dns_server.h"
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
  bool allow_loopback_endpoints = false;
  std::string kubeconfig, sa_dir, scenario_file;
  double speed = 1.0;
  std::optional<uint64_t> seed;
  std::optional<int> max_per_slice;
  double token_rotation_s = 0;
  double bookmark_interval_s = 60;
  bool manual_clock = false;
  std::string admin_user = "kubernetes-admin", admin_uid, sa_uid;
  std::string dns_listen;
  int dns_ttl_s = 5;
  app.add_option("--listen", listen, "HOST:PORT to listen on (loopback unless --allow-non-loopback)")
      ->check(k8slb::input::HostPortAddress())
      ->capture_default_str();
  app.add_flag("--http", plain_http, "serve plain HTTP instead of HTTPS (kubectl then sends no token)");
  app.add_flag("--allow-non-loopback", allow_non_loopback, "allow a non-loopback --listen address");
  app.add_flag("--allow-loopback-endpoints", allow_loopback_endpoints,
               "accept loopback addresses (127.0.0.0/8, ::1) in EndpointSlices, which a real API server refuses; "
               "every write this lets through answers with a Warning header");
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
  app.add_flag("--manual-clock", manual_clock,
               "time stands still until POST /fake/clock/advance?seconds=S moves it (deterministic tests)");
  app.add_option("--admin-user", admin_user, "user name of the admin token")->capture_default_str();
  app.add_option("--admin-uid", admin_uid, "uid of the admin user (SelfSubjectReview)");
  app.add_option("--service-account-uid", sa_uid, "uid of the k8slb-client service account user");
  app.add_option("--dns-listen", dns_listen,
                 "also serve cluster DNS (UDP and TCP) on HOST:PORT, answering as CoreDNS's kubernetes plugin")
      ->check(k8slb::input::HostPortAddress());
  app.add_option("--dns-ttl", dns_ttl_s, "TTL of cluster DNS answers in seconds (0..3600)")
      ->check(k8slb::input::IntegerIn(0, 3600))
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
  options.allow_loopback_endpoints = allow_loopback_endpoints;
  options.speed = speed;
  options.seed = seed;
  options.max_endpoints_per_slice = max_per_slice;
  options.token_rotation = std::chrono::milliseconds(static_cast<int64_t>(token_rotation_s * 1000));
  options.bookmark_interval = std::chrono::milliseconds(static_cast<int64_t>(bookmark_interval_s * 1000));
  options.manual_clock = manual_clock;
  options.admin_user = admin_user;
  options.admin_uid = admin_uid;
  options.service_account_uid = sa_uid;
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
  std::unique_ptr<k8slb::fake::dns::Server> dns;
  if (!dns_listen.empty()) {
    auto catalog = k8slb::fake::dns::Catalog::Create({.ttl_seconds = static_cast<uint32_t>(dns_ttl_s)});
    if (!catalog.ok()) return Fail(std::string(catalog.status().message()));
    (*server)->WithCluster([&](k8slb::fake::Cluster& cluster) { k8slb::fake::dns::Catalog::Attach(*catalog, cluster); });
    auto started = k8slb::fake::dns::Server::Start({.listen = dns_listen, .allow_non_loopback = allow_non_loopback},
                                                   *catalog);
    if (!started.ok()) return Fail(std::string(started.status().message()));
    dns = std::move(*started);
  }
  std::cout << "k8slb-fakeapi: serving " << (*server)->url();
  if (!kubeconfig.empty()) std::cout << " (kubeconfig: " << kubeconfig << ")";
  if (dns != nullptr) std::cout << " (dns: " << dns->address() << ")";
  std::cout << "\n";
  if (allow_loopback_endpoints) {
    std::cout << "k8slb-fakeapi: --allow-loopback-endpoints: loopback EndpointSlice addresses are accepted "
                 "(a real API server refuses them)\n";
  }
  std::cout << std::flush;

  int sig = 0;
  sigwait(&signals, &sig);
  std::cout << "k8slb-fakeapi: stopping (signal " << sig << ")\n" << std::flush;
  if (dns != nullptr) dns->Stop();
  (*server)->Stop();
  return 0;
}
