// Integration tests of the discovery client against the fake API server (fakeapi/server) over
// HTTPS: kubeconfig and in-cluster configuration, TLS verification, token rotation, and a
// rapidcheck property driving random fault schedules through the fake's fault-injection API:
// once the faults stop, the published set equals the fake's truth within a bounded time.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fakeapi/server/fake_api_server.h"
#include "k8slb/discovery.h"
#include "k8slb/slice_store.h"

namespace k8slb {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "k8slb-int-XXXXXX").string();
    path_ = mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<fakeapi::FakeApiServer> StartFake(int replicas, uint64_t seed = 1) {
  fakeapi::FakeApiOptions o;
  o.cluster.pod_timing.startup_nanos = 100'000'000;
  o.cluster.pod_timing.termination_grace_nanos = 300'000'000;
  o.cluster.pod_timing.drain_nanos = 50'000'000;
  o.bookmark_interval = milliseconds(200);
  o.token_grace = milliseconds(200);
  o.seed = seed;
  auto server = fakeapi::FakeApiServer::Start(std::move(o));
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    return nullptr;
  }
  absl::Status status;
  (*server)->WithCluster([&](fake::Cluster& c) {
    status = c.CreateService(fake::ServiceConfig{});
    if (!status.ok()) return;
    fake::DeploymentConfig d;
    d.replicas = replicas;
    status = c.CreateDeployment(d, fake::PodStart::kAlreadyRunning);
  });
  EXPECT_TRUE(status.ok()) << status;
  return *std::move(server);
}

// The fake's truth, through the same semantics (a fresh SliceStore over its current slices).
std::vector<std::string> Truth(fakeapi::FakeApiServer& server) {
  std::vector<EndpointSlice> slices;
  server.WithCluster([&](fake::Cluster& c) { slices = c.Slices("default", "echo"); });
  SliceStore store(SliceStoreOptions{.service_name = "echo",
                                     .namespace_name = "default",
                                     .port = PortSelector::ByName("grpc")});
  store.Replace(slices);
  std::vector<std::string> out;
  const std::shared_ptr<const EndpointSet> set = store.Current();  // alive for the whole loop
  for (const auto& e : set->endpoints()) out.push_back(e.HostPort());
  return out;
}

std::vector<std::string> Published(const ServiceWatcher& w) {
  std::vector<std::string> out;
  const std::shared_ptr<const EndpointSet> set = w.Current();  // alive for the whole loop
  for (const auto& e : set->endpoints()) out.push_back(e.HostPort());
  return out;
}

bool EventuallyEqualsTruth(fakeapi::FakeApiServer& server, const ServiceWatcher& w,
                           milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (Published(w) == Truth(server)) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return Published(w) == Truth(server);
}

DiscoveryOptions Options(KubeConfig config) {
  DiscoveryOptions o;
  o.config = std::move(config);
  o.target = *ParseTarget("kubernetes:///echo:grpc");
  o.backoff_initial = milliseconds(20);
  o.backoff_max = milliseconds(300);
  o.backoff_reset_after = milliseconds(3000);
  o.stall_timeout = milliseconds(1500);
  o.random = MakeSeededRandom(11);
  o.log = [](LogLevel, const std::string&) {};
  return o;
}

TEST(FakeApiIntegration, HttpsKubeconfigFollowsScaleAndDeletes) {
  auto server = StartFake(3);
  ASSERT_NE(server, nullptr);
  TempDir dir;
  ASSERT_TRUE(server->WriteKubeconfig(dir.path() + "/config").ok());
  auto config = LoadKubeconfig({.path = dir.path() + "/config", .context = ""});
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->server.rfind("https://", 0), 0u);
  auto w = StartServiceWatcher(Options(*config));
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->WaitForSync(milliseconds(10000)).ok()) << (*w)->stats().last_error;
  EXPECT_TRUE(EventuallyEqualsTruth(*server, **w, milliseconds(5000)));
  EXPECT_EQ((*w)->Current()->size(), 3u);
  server->WithCluster([](fake::Cluster& c) { ASSERT_TRUE(c.Scale("default", "echo", 6).ok()); });
  EXPECT_TRUE(EventuallyEqualsTruth(*server, **w, milliseconds(5000)));
  ASSERT_TRUE(
      [&] {
        const auto end = std::chrono::steady_clock::now() + milliseconds(5000);
        while (std::chrono::steady_clock::now() < end) {
          if ((*w)->Current()->size() == 6) return true;
          std::this_thread::sleep_for(milliseconds(10));
        }
        return false;
      }())
      << "scaled pods become ready and show up";
  std::string victim;
  server->WithCluster([&](fake::Cluster& c) {
    for (const auto& p : c.Pods()) {
      if (!p.deleted_nanos && !p.terminating) victim = p.name;
    }
    ASSERT_TRUE(c.DeletePod("default", victim).ok());
  });
  EXPECT_TRUE(EventuallyEqualsTruth(*server, **w, milliseconds(5000)));
  EXPECT_TRUE((*w)->stats().last_error.empty()) << (*w)->stats().last_error;
}

TEST(FakeApiIntegration, TlsVerificationIsOnByDefault) {
  auto server = StartFake(1);
  ASSERT_NE(server, nullptr);
  KubeConfig config;
  config.server = server->url();
  config.token = server->admin_token();  // no CA given: the system store cannot verify the fake
  auto w = StartServiceWatcher(Options(config));
  ASSERT_TRUE(w.ok());
  auto status = (*w)->WaitForSync(milliseconds(1500));
  EXPECT_FALSE(status.ok());
  const std::string error = (*w)->stats().last_error;
  EXPECT_TRUE(error.find("SSL") != std::string::npos || error.find("certificate") != std::string::npos)
      << error;
  EXPECT_EQ(error.find(server->admin_token()), std::string::npos);
  EXPECT_TRUE((*w)->Current()->empty());
}

TEST(FakeApiIntegration, CaFromFileOrMemoryAndTlsServerName) {
  auto server = StartFake(2);
  ASSERT_NE(server, nullptr);
  TempDir dir;
  const std::string ca_path = dir.path() + "/ca.crt";
  {
    std::FILE* f = std::fopen(ca_path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(server->ca_pem().c_str(), f);
    std::fclose(f);
  }
  auto sync = [&](KubeConfig config) {
    config.token = server->admin_token();
    auto w = StartServiceWatcher(Options(config));
    EXPECT_TRUE(w.ok()) << w.status();
    if (!w.ok()) return std::string("start failed");
    auto status = (*w)->WaitForSync(milliseconds(3000));
    return status.ok() ? std::string() : (*w)->stats().last_error;
  };
  KubeConfig from_file;
  from_file.server = server->url();
  from_file.ca_file = ca_path;
  EXPECT_EQ(sync(from_file), "");
  KubeConfig from_memory;
  from_memory.server = server->url();
  from_memory.ca_data = server->ca_pem();
  // SNI and the certificate check use tls_server_name; the connection still goes to 127.0.0.1.
  from_memory.tls_server_name = "kubernetes.default.svc";
  EXPECT_EQ(sync(from_memory), "");
  KubeConfig wrong_name = from_memory;
  wrong_name.tls_server_name = "not-the-apiserver.example";
  const std::string error = sync(wrong_name);
  EXPECT_NE(error.find("SSL"), std::string::npos) << error;
}

TEST(FakeApiIntegration, InClusterServiceAccountSurvivesTokenRotation) {
  auto server = StartFake(2);
  ASSERT_NE(server, nullptr);
  TempDir sa;
  ASSERT_TRUE(server->WriteServiceAccountDir(sa.path()).ok());
  const char* old_host = getenv("KUBERNETES_SERVICE_HOST");
  const char* old_port = getenv("KUBERNETES_SERVICE_PORT");
  setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", std::to_string(server->port()).c_str(), 1);
  auto config = LoadInClusterConfig({.service_account_dir = sa.path()});
  if (old_host) setenv("KUBERNETES_SERVICE_HOST", old_host, 1); else unsetenv("KUBERNETES_SERVICE_HOST");
  if (old_port) setenv("KUBERNETES_SERVICE_PORT", old_port, 1); else unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(config.ok()) << config.status();
  config->token_reload_seconds = 3600;  // only a 401 can make it re-read in this test
  auto w = StartServiceWatcher(Options(*config));
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->WaitForSync(milliseconds(10000)).ok()) << (*w)->stats().last_error;
  const std::string old_token = server->service_account_token();
  const std::string new_token = server->RotateToken();
  ASSERT_NE(old_token, new_token);
  std::this_thread::sleep_for(milliseconds(400));  // the grace period of the old token ends
  server->CloseAllWatches();                        // the next request uses the old token: 401
  server->WithCluster([](fake::Cluster& c) { ASSERT_TRUE(c.Scale("default", "echo", 4).ok()); });
  EXPECT_TRUE(EventuallyEqualsTruth(*server, **w, milliseconds(5000)));
  ASSERT_TRUE([&] {
    const auto end = std::chrono::steady_clock::now() + milliseconds(5000);
    while (std::chrono::steady_clock::now() < end) {
      if ((*w)->Current()->size() == 4) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }()) << (*w)->stats().last_error;
}

// Random fault schedules: after the faults stop, the published set converges to the truth, and
// during the faults (the truth keeps at least one ready pod throughout) it never becomes empty
// (fail-static).
RC_GTEST_PROP(FakeApiIntegrationProperty, ConvergesToTruthAfterRandomFaults, ()) {
  const uint64_t seed = *rc::gen::inRange<uint64_t>(1, 1000);
  auto server = StartFake(3, seed);
  RC_ASSERT(server != nullptr);
  TempDir dir;
  RC_ASSERT(server->WriteKubeconfig(dir.path() + "/config").ok());
  auto config = LoadKubeconfig({.path = dir.path() + "/config", .context = ""});
  RC_ASSERT(config.ok());
  auto opts = Options(*config);
  opts.stall_timeout = milliseconds(400);
  auto w = StartServiceWatcher(opts);
  RC_ASSERT(w.ok());
  RC_ASSERT((*w)->WaitForSync(milliseconds(10000)).ok());
  const int steps = *rc::gen::inRange(2, 7);
  milliseconds fault_until{0};
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) {
    const int kind = *rc::gen::inRange(0, 10);
    switch (kind) {
      case 0: {
        const int n = *rc::gen::inRange(1, 6);
        server->WithCluster([&](fake::Cluster& c) { (void)c.Scale("default", "echo", n); });
        break;
      }
      case 1:
        // Deletes a ready pod only while another stays ready, so the truth itself is never empty
        // (a Scale keeps ready pods too: unready ones go first). Were it empty for a moment, the
        // watcher would rightly publish that empty set and, lagging by a few milliseconds, still
        // show it after the replacement pod became ready: not a fail-static violation.
        server->WithCluster([&](fake::Cluster& c) {
          std::vector<std::string> ready;
          for (const auto& p : c.Pods()) {
            if (!p.deleted_nanos && !p.terminating && p.ready) ready.push_back(p.name);
          }
          if (ready.size() >= 2) (void)c.DeletePod("default", ready.front());
        });
        break;
      case 2: server->CloseAllWatches(); break;
      case 3: server->ExpireHistory(); server->CloseAllWatches(); break;
      case 4: {
        const int status = *rc::gen::element(500, 503, 504, 429);
        server->FailRequests(status, milliseconds(300), status == 429 ? 1 : 0);
        fault_until = std::max(fault_until, milliseconds(300 + (status == 429 ? 1000 : 0)));
        break;
      }
      case 5: server->StallStreams(milliseconds(600)); break;
      case 6: server->SendMalformedEvent(); break;
      case 7: server->JumpResourceVersion(*rc::gen::inRange<uint64_t>(1, 100000)); break;
      case 8: server->DelayEvents(milliseconds(*rc::gen::inRange(0, 50))); break;
      default: break;
    }
    std::this_thread::sleep_for(milliseconds(*rc::gen::inRange(0, 200)));
    RC_ASSERT(!Truth(*server).empty());  // the schedule keeps a ready pod (see case 1)
    RC_ASSERT(!(*w)->Current()->empty());
  }
  server->DelayEvents(milliseconds(0));
  // Faults end at most fault_until (+ the stall, 600 ms) after they were injected.
  std::this_thread::sleep_for(std::max(milliseconds(0), fault_until + milliseconds(600) -
                                                            std::chrono::duration_cast<milliseconds>(
                                                                std::chrono::steady_clock::now() - t0)));
  // Generous: under sanitizers on a loaded 2-core machine a relist and the pod lifecycle are slow;
  // the wait ends as soon as the two agree.
  const bool converged = EventuallyEqualsTruth(*server, **w, milliseconds(20000));
  if (!converged) {
    const DiscoveryStats st = (*w)->stats();
    RC_LOG() << "published: " << absl::StrJoin(Published(**w), ",") << "\ntruth: " << absl::StrJoin(Truth(*server), ",")
             << "\nwatcher: rv " << st.resource_version << ", events " << st.events_applied << ", relists "
             << st.relists << ", reconnects " << st.reconnects << ", errors " << st.errors << ", last error \""
             << st.last_error << "\"\n";
  }
  RC_ASSERT(converged);
}

}  // namespace
}  // namespace k8slb
