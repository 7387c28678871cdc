// Modes "outage" and "reconnect": recovery after an API outage, against fakeapi over HTTPS.
//
// outage     one watcher; for each outage length L (--outage-s 5,15,60) and --trials: fakeapi
//            answers 500 to every API request for L seconds and cuts the open watches (as a
//            crashed API server), the Deployment is scaled up 1 s into the outage, and the bench
//            measures the time from the end of the outage until the watcher's set holds the new
//            pods, and the watcher's request rate during the outage after its first 10 s.
// reconnect  --clients watchers (default 1000) through one outage of --outage-s seconds (the
//            first value): the request rate they send in 100 ms buckets from the end of the
//            outage (lists and watches apart; fakeapi receives these), how many relisted, and
//            when each saw the new pods.
// probe      what a cheap readiness probe would see during fakeapi's `errors` fault: /readyz and
//            a list, side by side.
// The backoff is the library's default unless --backoff-initial-ms/--backoff-max-ms/
// --backoff-jitter say otherwise (e.g. 800/30000/0.4 for client-go's 0.8 s → 30 s).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <curl/curl.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench_util.h"
#include "fakeapi/server/fake_api_server.h"
#include "k8slb/discovery.h"
#include "util/percentile.h"

namespace k8slb::bench {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The tree's one percentile definition (nearest rank, util/percentile.h).
double Quantile(std::vector<double> v, double q) { return util::Percentile(std::move(v), q); }

struct Fake {
  std::unique_ptr<fakeapi::FakeApiServer> server;
  KubeConfig config;
  int replicas = 0;
};

absl::StatusOr<Fake> StartFake(int replicas, int io_threads) {
  fakeapi::FakeApiOptions fo;
  fo.cluster.pod_timing.startup_nanos = 50'000'000;  // a new pod is Ready 50 ms after creation
  fo.io_threads = io_threads;
  auto server = fakeapi::FakeApiServer::Start(std::move(fo));
  if (!server.ok()) return server.status();
  absl::Status st;
  (*server)->WithCluster([&](fake::Cluster& c) {
    st = c.CreateService(fake::ServiceConfig{});
    if (!st.ok()) return;
    fake::DeploymentConfig d;
    d.replicas = replicas;
    st = c.CreateDeployment(d, fake::PodStart::kAlreadyRunning);
  });
  if (!st.ok()) return st;
  const std::string kubeconfig = absl::StrCat("/tmp/k8slb-outage-bench-", getpid());
  if (auto s = (*server)->WriteKubeconfig(kubeconfig); !s.ok()) return s;
  auto config = LoadKubeconfig({.path = kubeconfig, .context = ""});
  std::remove(kubeconfig.c_str());
  if (!config.ok()) return config.status();
  Fake f;
  f.server = *std::move(server);
  f.config = *config;
  f.replicas = replicas;
  return f;
}

DiscoveryOptions WatcherOptions(const Fake& fake, const BackoffFlags& b, uint64_t seed) {
  DiscoveryOptions o;
  o.config = fake.config;
  o.target = *ParseTarget("kubernetes:///echo:grpc");
  if (b.initial_ms > 0) o.backoff_initial = milliseconds(b.initial_ms);
  if (b.max_ms > 0) o.backoff_max = milliseconds(b.max_ms);
  if (b.jitter >= 0) o.backoff_jitter = b.jitter;
  o.random = MakeSeededRandom(seed);
  o.log = [](LogLevel, const std::string&) {};
  return o;
}

std::string Describe(const DiscoveryOptions& o) {
  return absl::StrCat("backoff ", o.backoff_initial.count(), " ms -> ", o.backoff_max.count(),
                      " ms, jitter ", o.backoff_jitter);
}

void Scale(fakeapi::FakeApiServer& server, int replicas) {
  server.WithCluster([&](fake::Cluster& c) { (void)c.Scale("default", "echo", replicas); });
}

uint64_t Requests(const DiscoveryStats& s) { return s.list_requests + s.watch_requests; }

}  // namespace

int RunOutage(const std::vector<int>& outages_s, int trials, const BackoffFlags& flags) {
  auto fake = StartFake(3, 2);
  if (!fake.ok()) {
    std::fprintf(stderr, "outage: %s\n", std::string(fake.status().message()).c_str());
    return 1;
  }
  int replicas = fake->replicas;
  std::mutex mu;
  size_t seen_size = 0;
  Clock::time_point seen_at;
  DiscoveryOptions options = WatcherOptions(*fake, flags, 1);
  auto w = StartServiceWatcher(options, [&](const std::shared_ptr<const EndpointSet>& set) {
    std::lock_guard<std::mutex> lock(mu);
    seen_size = set->size();
    seen_at = Clock::now();
  });
  if (!w.ok() || !(*w)->WaitForSync(std::chrono::seconds(20)).ok()) {
    std::fprintf(stderr, "outage: the watcher did not sync\n");
    return 1;
  }
  std::printf("outage: %s; machine: %u cores; load %s\n", Describe(options).c_str(),
              std::thread::hardware_concurrency(), LoadAverage().c_str());
  for (int outage_s : outages_s) {
    std::vector<double> recovery_ms, rates;
    for (int t = 0; t < trials; ++t) {
      const auto t0 = Clock::now();
      fake->server->FailRequests(500, std::chrono::seconds(outage_s), 0);
      fake->server->CloseAllWatches();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      replicas += 1;
      Scale(*fake->server, replicas);
      const auto back = t0 + std::chrono::seconds(outage_s);
      uint64_t at_10s = 0;
      if (outage_s > 10) {
        std::this_thread::sleep_until(t0 + std::chrono::seconds(10));
        at_10s = Requests((*w)->stats());
      }
      std::this_thread::sleep_until(back);
      const uint64_t at_back = Requests((*w)->stats());
      if (outage_s > 10) rates.push_back(static_cast<double>(at_back - at_10s) / (outage_s - 10));
      // Wait (up to 60 s) for the new pod.
      Clock::time_point at;
      bool ok = false;
      while (Clock::now() < back + std::chrono::seconds(60)) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (seen_size == static_cast<size_t>(replicas)) {
            ok = true;
            at = seen_at;
            break;
          }
        }
        std::this_thread::sleep_for(milliseconds(2));
      }
      if (!ok) {
        std::fprintf(stderr, "outage: the new pod was not seen within 60 s after the outage\n");
        return 1;
      }
      recovery_ms.push_back(Ms(at - back));
      std::this_thread::sleep_for(milliseconds(500));
    }
    std::printf(
        "outage %3d s x %d: new pods used %.0f ms (median), %.0f ms (max) after the API is back; "
        "requests during the outage after 10 s: %.2f/s (median)%s\n",
        outage_s, trials, Quantile(recovery_ms, 0.5),
        *std::max_element(recovery_ms.begin(), recovery_ms.end()), Quantile(rates, 0.5),
        outage_s > 10 ? "" : " (n/a: outage <= 10 s)");
    std::printf(
        "json: {\"bench\":\"outage_recovery\",\"outage_s\":%d,\"trials\":%d,\"recovery_median_ms\":%.1f,"
        "\"recovery_max_ms\":%.1f,\"rate_after_10s_per_s\":%.3f,\"backoff_initial_ms\":%lld,"
        "\"backoff_max_ms\":%lld,\"backoff_jitter\":%.2f,\"load\":\"%s\"}\n",
        outage_s, trials, Quantile(recovery_ms, 0.5),
        *std::max_element(recovery_ms.begin(), recovery_ms.end()), Quantile(rates, 0.5),
        static_cast<long long>(options.backoff_initial.count()),
        static_cast<long long>(options.backoff_max.count()), options.backoff_jitter, LoadAverage().c_str());
  }
  return 0;
}

int RunReconnect(int clients, int outage_s, const BackoffFlags& flags) {
  // Each watcher holds a socket, a curl wakeup pair and a thread; fakeapi a socket per watch.
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  const rlim_t want = static_cast<rlim_t>(clients) * 6 + 256;
  if (nofile.rlim_cur < want) {
    nofile.rlim_cur = std::min(want, nofile.rlim_max);
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (nofile.rlim_cur < want) {
    std::fprintf(stderr, "reconnect: need %llu open files, the hard limit is %llu\n",
                 static_cast<unsigned long long>(want), static_cast<unsigned long long>(nofile.rlim_max));
    return 1;
  }
  auto fake = StartFake(3, 2);
  if (!fake.ok()) {
    std::fprintf(stderr, "reconnect: %s\n", std::string(fake.status().message()).c_str());
    return 1;
  }
  const size_t target = static_cast<size_t>(fake->replicas + 1);
  std::vector<std::unique_ptr<ServiceWatcher>> watchers;
  std::vector<std::atomic<int64_t>> seen_ns(static_cast<size_t>(clients));
  for (auto& s : seen_ns) s = 0;
  DiscoveryOptions shown;
  const auto start = Clock::now();
  for (int i = 0; i < clients; ++i) {
    DiscoveryOptions o = WatcherOptions(*fake, flags, 1000 + static_cast<uint64_t>(i));
    shown = o;
    auto* slot = &seen_ns[static_cast<size_t>(i)];
    auto w = StartServiceWatcher(o, [slot, target](const std::shared_ptr<const EndpointSet>& set) {
      if (set->size() == target && slot->load() == 0) {
        slot->store(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
      }
    });
    if (!w.ok()) {
      std::fprintf(stderr, "reconnect: watcher %d: %s\n", i, std::string(w.status().message()).c_str());
      return 1;
    }
    watchers.push_back(*std::move(w));
    if (i % 50 == 49) std::this_thread::sleep_for(milliseconds(100));  // no start-up stampede
  }
  for (auto& w : watchers) {
    if (!w->WaitForSync(std::chrono::seconds(120)).ok()) {
      std::fprintf(stderr, "reconnect: a watcher did not sync\n");
      return 1;
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::printf("reconnect: %d watchers synced in %.1f s; %s; outage %d s; machine: %u cores; load %s\n", clients,
              Ms(Clock::now() - start) / 1000, Describe(shown).c_str(), outage_s,
              std::thread::hardware_concurrency(), LoadAverage().c_str());
  auto totals = [&] {
    uint64_t lists = 0, watches = 0;
    for (auto& w : watchers) {
      DiscoveryStats s = w->stats();
      lists += s.list_requests;
      watches += s.watch_requests;
    }
    return std::pair{lists, watches};
  };
  const auto before = totals();
  const auto t0 = Clock::now();
  fake->server->FailRequests(500, std::chrono::seconds(outage_s), 0);
  fake->server->CloseAllWatches();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  Scale(*fake->server, static_cast<int>(target));
  const auto back = t0 + std::chrono::seconds(outage_s);
  std::this_thread::sleep_until(back - std::chrono::seconds(std::min(outage_s, 10)));
  const auto late = totals();
  std::this_thread::sleep_until(back);
  const auto at_back = totals();
  const double during_rate = static_cast<double>((at_back.first + at_back.second) - (late.first + late.second)) /
                             std::min(outage_s, 10);
  // 100 ms buckets for 5 s from the end of the outage.
  std::vector<std::pair<uint64_t, uint64_t>> buckets;
  auto prev = at_back;
  for (int b = 0; b < 50; ++b) {
    std::this_thread::sleep_until(back + milliseconds(100 * (b + 1)));
    auto now = totals();
    buckets.emplace_back(now.first - prev.first, now.second - prev.second);
    prev = now;
  }
  std::this_thread::sleep_for(std::chrono::seconds(10));
  const auto after = totals();
  const int64_t back_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(back.time_since_epoch()).count();
  std::vector<double> seen_ms;
  int missing = 0;
  std::map<std::string, int> missing_errors;  // what the watchers that never caught up last saw
  for (size_t i = 0; i < seen_ns.size(); ++i) {
    if (seen_ns[i].load() == 0) {
      ++missing;
      ++missing_errors[watchers[i]->stats().last_error.substr(0, 160)];
    } else {
      seen_ms.push_back(static_cast<double>(seen_ns[i].load() - back_ns) / 1e6);
    }
  }
  for (const auto& [error, count] : missing_errors) {
    std::printf("reconnect: %d watchers never caught up; last error: %s\n", count,
                error.empty() ? "(none)" : error.c_str());
  }
  uint64_t peak = 0;
  std::vector<std::string> profile;
  for (auto& [l, wt] : buckets) {
    peak = std::max(peak, l + wt);
    profile.push_back(absl::StrCat(l + wt));
  }
  const uint64_t relists = after.first - at_back.first;
  std::printf("reconnect: during the last %d s of the outage %.0f requests/s in total (%.2f per watcher)\n",
              std::min(outage_s, 10), during_rate, during_rate / clients);
  std::printf("reconnect: requests per 100 ms after the API is back: %s\n", absl::StrJoin(profile, " ").c_str());
  std::printf("reconnect: peak %llu requests in 100 ms (%.0f/s); lists after the outage: %llu; watches: %llu\n",
              static_cast<unsigned long long>(peak), peak * 10.0, static_cast<unsigned long long>(relists),
              static_cast<unsigned long long>(after.second - at_back.second));
  std::printf("reconnect: new pods seen %.0f ms (median), %.0f ms (p99), %.0f ms (max) after the API is back; "
              "%d watchers never saw them\n",
              Quantile(seen_ms, 0.5), Quantile(seen_ms, 0.99),
              seen_ms.empty() ? 0 : *std::max_element(seen_ms.begin(), seen_ms.end()), missing);
  std::printf(
      "json: {\"bench\":\"reconnect\",\"clients\":%d,\"outage_s\":%d,\"rate_during_per_s\":%.1f,"
      "\"peak_per_100ms\":%llu,\"relists\":%llu,\"profile_per_100ms\":[%s],\"seen_median_ms\":%.1f,"
      "\"seen_p99_ms\":%.1f,\"seen_max_ms\":%.1f,\"missing\":%d,\"load\":\"%s\"}\n",
      clients, outage_s, during_rate, static_cast<unsigned long long>(peak),
      static_cast<unsigned long long>(relists), absl::StrJoin(profile, ",").c_str(), Quantile(seen_ms, 0.5),
      Quantile(seen_ms, 0.99), seen_ms.empty() ? 0 : *std::max_element(seen_ms.begin(), seen_ms.end()), missing,
      LoadAverage().c_str());
  (void)before;
  for (auto& w : watchers) w->Stop();
  return missing == 0 ? 0 : 1;
}

namespace {

long Get(const std::string& url, const std::string& token, const std::string& ca) {
  CURL* easy = curl_easy_init();
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_slist* headers = curl_slist_append(nullptr, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_blob blob{const_cast<char*>(ca.data()), ca.size(), CURL_BLOB_COPY};
  curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, +[](char*, size_t s, size_t n, void*) { return s * n; });
  long status = 0;
  if (curl_easy_perform(easy) == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  return status;
}

}  // namespace

int RunProbe() {
  auto fake = StartFake(3, 2);
  if (!fake.ok()) return 1;
  const std::string base = fake->server->url();
  const std::string list = base + "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
  const std::string token = fake->server->admin_token(), ca = fake->server->ca_pem();
  const long readyz_before = Get(base + "/readyz", token, ca), list_before = Get(list, token, ca);
  fake->server->FailRequests(500, std::chrono::seconds(5), 0);
  const long readyz_during = Get(base + "/readyz", token, ca), list_during = Get(list, token, ca);
  std::printf("probe: before the fault /readyz %ld, list %ld; during fakeapi's errors fault /readyz %ld, list %ld\n",
              readyz_before, list_before, readyz_during, list_during);
  std::printf("json: {\"bench\":\"probe\",\"readyz_during\":%ld,\"list_during\":%ld}\n", readyz_during, list_during);
  return 0;
}

}  // namespace k8slb::bench
