// Discovery benchmarks:
//   latency  reaction latency on loopback from a change applied in the fake API server to the
//            snapshot callback, p50/p99/max over N changes (default 300);
//   sync     initial sync of a Service with E endpoints in S slices (default 100,000 / 1,000):
//            wall time to the first published snapshot and the client's peak RSS. The server runs
//            in a forked child so the client's getrusage() covers the client only.
//   fakeapi-latency  the latency measurement against fakeapi over HTTPS.
//   nesting  memory of a hostile JSON value of --bytes '[' characters, as a watch line or (--list)
//            a list page (nesting_bench.cc).
//   outage, reconnect, probe  recovery after an API outage (outage_bench.cc).
//   churn    memory over --events slice events: leak or allocator retention (churn_bench.cc).
// Usage: k8slb_discovery_bench [latency|sync|fakeapi-latency|all] [--changes N] [--endpoints E] [--slices S]
//        k8slb_discovery_bench nesting [--bytes N] [--list] [--flat]
//        k8slb_discovery_bench outage [--outage-s 5,15,60] [--trials N] [backoff flags]
//        k8slb_discovery_bench reconnect [--clients 1000] [--outage-s 30] [backoff flags]
//        k8slb_discovery_bench probe
//        k8slb_discovery_bench churn [--events 74000] [--channel]
//   backoff flags: --backoff-initial-ms MS --backoff-max-ms MS --backoff-jitter F (default: the library's)
// Prints one human-readable line per measurement and a JSON line ("json: {...}").
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "bench_util.h"
#include "k8slb/discovery.h"
#include "scripted_server.h"
#include "util/percentile.h"
#include "fakeapi/server/fake_api_server.h"

namespace {

using k8slb::testing::Ep;
using k8slb::testing::FakeEndpoint;
using k8slb::testing::SliceApiModel;
using Clock = std::chrono::steady_clock;
using k8slb::util::Percentile;

k8slb::DiscoveryOptions Options(const std::string& url) {
  k8slb::DiscoveryOptions o;
  o.config.server = url;
  o.config.allow_plain_http = true;
  o.target = *k8slb::ParseTarget("kubernetes:///web:http");
  o.log = [](k8slb::LogLevel level, const std::string& m) {
    if (level >= k8slb::LogLevel::kWarning) std::fprintf(stderr, "discovery: %s\n", m.c_str());
  };
  return o;
}

int RunLatency(int changes) {
  SliceApiModel api({});
  for (int s = 0; s < 10; ++s) {
    std::vector<FakeEndpoint> eps;
    for (int e = 0; e < 10; ++e) eps.push_back(Ep("10.1." + std::to_string(s) + "." + std::to_string(e)));
    api.Upsert("web-" + std::to_string(s), eps);
  }
  std::mutex mu;
  std::condition_variable cv;
  size_t last_size = 0;
  Clock::time_point last_at;
  uint64_t callbacks = 0;
  auto w = k8slb::StartServiceWatcher(Options(api.url()), [&](const auto& set) {
    auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mu);
    last_size = set->size();
    last_at = now;
    ++callbacks;
    cv.notify_all();
  });
  if (!w.ok() || !(*w)->WaitForSync(std::chrono::seconds(10)).ok()) {
    std::fprintf(stderr, "latency: watcher did not sync\n");
    return 1;
  }
  std::vector<double> ms;
  // Each change toggles slice web-0 between 10 and 11 endpoints, so every change alters the set.
  for (int i = 0; i < changes; ++i) {
    std::vector<FakeEndpoint> eps;
    for (int e = 0; e < 10; ++e) eps.push_back(Ep("10.1.0." + std::to_string(e)));
    const bool grow = i % 2 == 0;
    if (grow) eps.push_back(Ep("10.1.0.200"));
    const size_t want = grow ? 101 : 100;
    uint64_t before;
    {
      std::lock_guard<std::mutex> lock(mu);
      before = callbacks;
    }
    const auto t0 = Clock::now();
    api.Upsert("web-0", eps);
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(5),
                     [&] { return callbacks > before && last_size == want; })) {
      std::fprintf(stderr, "latency: change %d not observed within 5 s\n", i);
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(last_at - t0).count());
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const double p50 = Percentile(ms, 0.50), p99 = Percentile(ms, 0.99),
               max = *std::max_element(ms.begin(), ms.end());
  std::printf("reaction latency over %d changes (100 endpoints, loopback http): p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
              changes, p50, p99, max);
  std::printf("json: {\"bench\":\"reaction_latency\",\"changes\":%d,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f}\n",
              changes, p50, p99, max);
  return 0;
}

double CpuMs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

// The same reaction latency against fakeapi over HTTPS: each change makes one ready pod
// not-ready for 40 ms (a readiness-probe failure), measured until the callback shows N-1
// endpoints; then the pod recovers (not measured).
int RunFakeApiLatency(int changes) {
  constexpr int kPods = 20;
  k8slb::fakeapi::FakeApiOptions fo;
  fo.cluster.pod_timing.startup_nanos = 1'000'000;
  auto server = k8slb::fakeapi::FakeApiServer::Start(std::move(fo));
  if (!server.ok()) {
    std::fprintf(stderr, "fakeapi: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::vector<std::string> pods;
  (*server)->WithCluster([&](k8slb::fake::Cluster& c) {
    (void)c.CreateService(k8slb::fake::ServiceConfig{});
    k8slb::fake::DeploymentConfig d;
    d.replicas = kPods;
    (void)c.CreateDeployment(d, k8slb::fake::PodStart::kAlreadyRunning);
    for (const auto& p : c.Pods()) pods.push_back(p.name);
  });
  std::string kubeconfig = "/tmp/k8slb-bench-kubeconfig-" + std::to_string(getpid());
  if (!(*server)->WriteKubeconfig(kubeconfig).ok()) return 1;
  auto config = k8slb::LoadKubeconfig({.path = kubeconfig, .context = ""});
  std::remove(kubeconfig.c_str());
  if (!config.ok()) return 1;
  auto opts = Options("");
  opts.config = *config;
  opts.target = *k8slb::ParseTarget("kubernetes:///echo:grpc");
  std::mutex mu;
  std::condition_variable cv;
  size_t last_size = 0;
  Clock::time_point last_at;
  auto w = k8slb::StartServiceWatcher(opts, [&](const auto& set) {
    auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mu);
    last_size = set->size();
    last_at = now;
    cv.notify_all();
  });
  if (!w.ok() || !(*w)->WaitForSync(std::chrono::seconds(10)).ok()) return 1;
  auto wait_size = [&](size_t want, Clock::time_point* at) {
    std::unique_lock<std::mutex> lock(mu);
    bool ok = cv.wait_for(lock, std::chrono::seconds(5), [&] { return last_size == want; });
    if (at != nullptr) *at = last_at;
    return ok;
  };
  if (!wait_size(kPods, nullptr)) return 1;
  std::vector<double> ms;
  for (int i = 0; i < changes; ++i) {
    const std::string& pod = pods[static_cast<size_t>(i) % pods.size()];
    const auto t0 = Clock::now();
    (*server)->WithCluster([&](k8slb::fake::Cluster& c) {
      (void)c.SetPodNotReady("default", pod, 40'000'000);
    });
    Clock::time_point at;
    if (!wait_size(kPods - 1, &at) || !wait_size(kPods, nullptr)) {
      std::fprintf(stderr, "fakeapi latency: change %d not observed\n", i);
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(at - t0).count());
  }
  const double p50 = Percentile(ms, 0.50), p99 = Percentile(ms, 0.99),
               max = *std::max_element(ms.begin(), ms.end());
  std::printf("reaction latency via fakeapi over %d changes (%d pods, loopback https): p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
              changes, kPods, p50, p99, max);
  std::printf("json: {\"bench\":\"reaction_latency_fakeapi\",\"changes\":%d,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f}\n",
              changes, p50, p99, max);
  return 0;
}

long MaxRssKb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

int RunSync(int endpoints, int slices) {
  auto server = k8slb::bench::ForkedServer::Start([&](const k8slb::bench::ForkedServer::Child& child) {
    SliceApiModel api({});
    const int per = endpoints / slices;
    for (int s = 0; s < slices; ++s) {
      std::vector<FakeEndpoint> eps;
      for (int e = 0; e < per; ++e) {
        const int n = s * per + e;
        eps.push_back(Ep("10." + std::to_string(n >> 16) + "." + std::to_string((n >> 8) & 255) +
                         "." + std::to_string(n & 255)));
      }
      api.Upsert("web-" + std::to_string(s), eps);
    }
    child.Ready(api.server().port());
    child.Wait();  // until the client is done
  });
  if (server == nullptr) return 1;
  const int port = server->port();
  const long rss_before = MaxRssKb();
  const double cpu_before = CpuMs();
  std::atomic<size_t> size{0};
  const auto t0 = Clock::now();
  auto w = k8slb::StartServiceWatcher(Options("http://127.0.0.1:" + std::to_string(port)),
                                      [&](const auto& set) { size = set->size(); });
  const bool ok = w.ok() && (*w)->WaitForSync(std::chrono::seconds(120)).ok();
  const double sync_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const long rss_after = MaxRssKb();
  const double cpu_ms = CpuMs() - cpu_before;
  const size_t got = ok ? (*w)->Current()->size() : 0;
  if (w.ok()) (*w)->Stop();
  server->Finish();
  if (!ok || got != static_cast<size_t>(endpoints)) {
    std::fprintf(stderr, "sync: failed (synced=%d, endpoints=%zu)\n", ok, got);
    return 1;
  }
  std::printf("initial sync of %d endpoints in %d slices: %.1f ms wall (server included), client CPU %.1f ms, client peak RSS %.1f MiB (%.1f MiB before)\n",
              endpoints, slices, sync_ms, cpu_ms, rss_after / 1024.0, rss_before / 1024.0);
  std::printf("json: {\"bench\":\"initial_sync\",\"endpoints\":%d,\"slices\":%d,\"sync_ms\":%.1f,\"client_cpu_ms\":%.1f,\"peak_rss_mib\":%.1f,\"rss_before_mib\":%.1f}\n",
              endpoints, slices, sync_ms, cpu_ms, rss_after / 1024.0, rss_before / 1024.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "all";
  int changes = 300, endpoints = 100000, slices = 1000;
  size_t bytes = 2'000'000;
  bool list_page = false, flat = false, channel = false;
  std::vector<int> outages_s;
  int trials = 5, clients = 1000, events = 74'000;
  k8slb::bench::BackoffFlags backoff;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> int {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (a == "latency" || a == "sync" || a == "all" || a == "fakeapi-latency" || a == "nesting" ||
        a == "outage" || a == "reconnect" || a == "probe" || a == "churn") {
      mode = a;
    } else if (a == "--changes") {
      changes = next();
    } else if (a == "--endpoints") {
      endpoints = next();
    } else if (a == "--slices") {
      slices = next();
    } else if (a == "--bytes") {
      if (i + 1 >= argc) return 2;
      bytes = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--list") {
      list_page = true;
    } else if (a == "--flat") {
      flat = true;
    } else if (a == "--channel") {
      channel = true;
    } else if (a == "--outage-s") {
      if (i + 1 >= argc) return 2;
      for (absl::string_view part : absl::StrSplit(argv[++i], ',')) outages_s.push_back(std::atoi(std::string(part).c_str()));
    } else if (a == "--trials") {
      trials = next();
    } else if (a == "--events") {
      events = next();
    } else if (a == "--clients") {
      clients = next();
    } else if (a == "--backoff-initial-ms") {
      backoff.initial_ms = next();
    } else if (a == "--backoff-max-ms") {
      backoff.max_ms = next();
    } else if (a == "--backoff-jitter") {
      if (i + 1 >= argc) return 2;
      backoff.jitter = std::atof(argv[++i]);
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: %s [latency|sync|fakeapi-latency|all] [--changes N] [--endpoints E] [--slices S]\n", argv[0]);
      return 0;
    } else {
      std::fprintf(stderr, "unknown argument %s (try --help)\n", a.c_str());
      return 2;
    }
  }
  if (changes < 1 || slices < 1 || endpoints < slices) {
    std::fprintf(stderr, "need changes ≥ 1 and endpoints ≥ slices ≥ 1\n");
    return 2;
  }
  if (mode == "nesting") return k8slb::bench::RunNesting(bytes, list_page, flat);
  if (mode == "outage") return k8slb::bench::RunOutage(outages_s.empty() ? std::vector<int>{5, 15, 60} : outages_s, trials, backoff);
  if (mode == "reconnect") return k8slb::bench::RunReconnect(clients, outages_s.empty() ? 30 : outages_s[0], backoff);
  if (mode == "probe") return k8slb::bench::RunProbe();
  if (mode == "churn") return k8slb::bench::RunChurn(events, channel);
  int rc = 0;
  // sync first: it forks, which is safest before this process has started any threads.
  if (mode == "sync" || mode == "all") rc |= RunSync(endpoints, slices);
  if (mode == "latency" || mode == "all") rc |= RunLatency(changes);
  if (mode == "fakeapi-latency" || mode == "all") rc |= RunFakeApiLatency(changes);
  return rc;
}
