// Mode "churn": memory of a watcher over --events slice events (default 74,000), each replacing
// one endpoint of one of 10 slices with a new pod IP, as a rolling stream of pod churn. The server
// runs in a forked child. Every 10,000 events it prints the resident set (VmRSS) and the bytes
// malloc has handed out and not got back (mallinfo2().uordblks): if the second stays flat while
// the first grows, the growth is allocator retention, not a leak. Run it under heaptrack to list
// what is still allocated at the end:
//   heaptrack build/bench/discovery/k8slb_discovery_bench churn --events 74000
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench_util.h"
#include "k8slb/discovery.h"
#include "scripted_server.h"

namespace k8slb::bench {

int RunChurn(int events) {
  constexpr int kSlices = 10, kPerSlice = 10;
  auto server = ForkedServer::Start([&](const ForkedServer::Child& child) {
    testing::SliceApiModel api({});
    auto ip = [](int n) { return absl::StrCat("10.", (n >> 16) & 255, ".", (n >> 8) & 255, ".", n & 255); };
    std::vector<std::vector<testing::FakeEndpoint>> slices(kSlices);
    int next_ip = 1;
    for (int s = 0; s < kSlices; ++s) {
      for (int e = 0; e < kPerSlice; ++e) slices[s].push_back(testing::Ep(ip(next_ip++)));
      api.Upsert(absl::StrCat("web-", s), slices[s]);
    }
    child.Ready(api.server().port());
    if (!child.Wait()) return;  // go
    for (int i = 0; i < events; ++i) {
      auto& eps = slices[static_cast<size_t>(i % kSlices)];
      eps[static_cast<size_t>((i / kSlices) % kPerSlice)] = testing::Ep(ip(next_ip++));
      api.Upsert(absl::StrCat("web-", i % kSlices), eps);
      // No compaction: a client that falls behind must not be sent to a relist, which would skip
      // events (the child's log grows instead: ~1 KB per event).
    }
    child.Wait();  // until the client is done
  });
  if (server == nullptr) return 1;
  const int port = server->port();
  DiscoveryOptions o;
  o.config.server = absl::StrCat("http://127.0.0.1:", port);
  o.config.allow_plain_http = true;
  o.target = *ParseTarget("kubernetes:///web:http");
  o.log = [](LogLevel level, const std::string& m) {
    if (level >= LogLevel::kWarning) std::fprintf(stderr, "churn: %s\n", m.c_str());
  };
  auto w = StartServiceWatcher(o);
  if (!w.ok() || !(*w)->WaitForSync(std::chrono::seconds(20)).ok()) return 1;
  auto in_use = [] { return static_cast<double>(mallinfo2().uordblks) / 1024.0; };
  std::printf("churn: %d events over %d slices of %d endpoints; load %s\n", events, kSlices, kPerSlice,
              LoadAverage().c_str());
  const long rss0 = ProcStatusKb("VmRSS");
  const double heap0 = in_use();
  std::printf("churn: after sync      RSS %8.1f KiB, malloc in use %8.1f KiB\n", static_cast<double>(rss0), heap0);
  if (!server->Signal()) return 1;
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t next_mark = 10'000;
  long rss_last = rss0;
  double heap_last = heap0;
  while ((*w)->stats().events_applied < static_cast<uint64_t>(events)) {
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(600)) {
      std::fprintf(stderr, "churn: only %llu events in 600 s\n",
                   static_cast<unsigned long long>((*w)->stats().events_applied));
      return 1;
    }
    const uint64_t applied = (*w)->stats().events_applied;
    if (applied >= next_mark) {
      rss_last = ProcStatusKb("VmRSS");
      heap_last = in_use();
      std::printf("churn: %6llu events  RSS %8.1f KiB, malloc in use %8.1f KiB\n",
                  static_cast<unsigned long long>(applied), static_cast<double>(rss_last), heap_last);
      next_mark += 10'000;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  rss_last = ProcStatusKb("VmRSS");
  heap_last = in_use();
  const DiscoveryStats stats = (*w)->stats();
  (*w)->Stop();
  w->reset();
  const double heap_after_stop = in_use();
  server->Finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("churn: %d events in %.1f s (%llu relists): RSS %+.1f B/event, malloc in use %+.1f B/event; "
              "after Stop() malloc in use %.1f KiB (%.1f KiB at sync)\n",
              events, secs, static_cast<unsigned long long>(stats.relists),
              static_cast<double>(rss_last - rss0) * 1024.0 / events, (heap_last - heap0) * 1024.0 / events,
              heap_after_stop, heap0);
  std::printf("json: {\"bench\":\"churn\",\"events\":%d,\"rss_growth_b_per_event\":%.1f,\"heap_growth_b_per_event\":%.1f,"
              "\"load\":\"%s\"}\n",
              events, static_cast<double>(rss_last - rss0) * 1024.0 / events, (heap_last - heap0) * 1024.0 / events,
              LoadAverage().c_str());
  return 0;
}

}  // namespace k8slb::bench
