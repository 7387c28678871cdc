// Mode "churn": memory of a watcher over --events slice events (default 74,000), each replacing
// one endpoint of one of 10 slices with a new pod IP, as a rolling stream of pod churn. The server
// runs in a forked child. Every 10,000 events it prints the resident set (VmRSS) and the bytes
// malloc has handed out and not got back (mallinfo2().uordblks): if the second stays flat while
// the first grows, the growth is allocator retention, not a leak. With --channel the watcher is a
// BalancedChannel's (as in k8slb-client): every new pod IP also gets a gRPC channel and every
// removed one loses it. The pods are one gRPC server (every method UNIMPLEMENTED; the HTTP/2
// handshake completes, so every channel gets a real transport) listening on 0.0.0.0:8080, and the pod IPs 10.x.y.z must
// be local: run it in a private network namespace (it refuses to start otherwise, so it never
// dials out):
//   unshare -n sh -c 'ip link set lo up && ip route add local 10.0.0.0/8 dev lo &&
//     build/bench/discovery/k8slb_discovery_bench churn --channel'
// Run it under heaptrack to list what is still allocated at the end:
//   heaptrack build/bench/discovery/k8slb_discovery_bench churn --events 74000
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "bench_util.h"
#include "k8slb/balanced_channel.h"
#include "k8slb/discovery.h"
#include "k8slb/metrics.h"
#include "scripted_server.h"

namespace k8slb::bench {

namespace {

// True when 10.0.0.1 is an address of this network namespace (bind succeeds only for local ones).
bool PodAddressesAreLocal() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  ::inet_pton(AF_INET, "10.0.0.1", &a.sin_addr);
  const bool local = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return local;
}

}  // namespace

int RunChurn(int events, bool channel) {
  if (channel && !PodAddressesAreLocal()) {
    std::fprintf(stderr,
                 "churn --channel: 10.0.0.0/8 is not local here; run it in a private network namespace:\n"
                 "  unshare -n sh -c 'ip link set lo up && ip route add local 10.0.0.0/8 dev lo && %s'\n",
                 "build/bench/discovery/k8slb_discovery_bench churn --channel");
    return 2;
  }
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
  // Either a watcher alone or a BalancedChannel (which runs its own) over the same server.
  std::unique_ptr<ServiceWatcher> watcher;
  std::shared_ptr<BalancedChannel> balanced;
  std::unique_ptr<grpc::Server> pods;
  grpc::CallbackGenericService unimplemented;
  if (channel) {
    grpc::ServerBuilder builder;
    builder.RegisterCallbackGenericService(&unimplemented);
    builder.AddListeningPort("0.0.0.0:8080", grpc::InsecureServerCredentials());
    pods = builder.BuildAndStart();
    if (pods == nullptr) {
      std::fprintf(stderr, "churn: cannot listen on 0.0.0.0:8080\n");
      return 1;
    }
    BalancedChannelOptions bo;
    bo.policy = PickPolicy::kRoundRobin;
    bo.log = o.log;
    auto c = BalancedChannel::Create("kubernetes:///web:http", o.config, bo);
    if (!c.ok()) {
      std::fprintf(stderr, "churn: %s\n", std::string(c.status().message()).c_str());
      return 1;
    }
    balanced = *std::move(c);
    if (!balanced->WaitForEndpoints(std::chrono::milliseconds(20'000)).ok()) return 1;
  } else {
    auto w = StartServiceWatcher(o);
    if (!w.ok() || !(*w)->WaitForSync(std::chrono::seconds(20)).ok()) return 1;
    watcher = *std::move(w);
  }
  auto stats_now = [&]() -> DiscoveryStats {
    if (watcher) return watcher->stats();
    return balanced->Metrics().discovery.value_or(DiscoveryStats{});
  };
  auto in_use = [] { return static_cast<double>(mallinfo2().uordblks) / 1024.0; };
  std::printf("churn: %d events over %d slices of %d endpoints, %s; load %s\n", events, kSlices, kPerSlice,
              channel ? "BalancedChannel (a gRPC channel per endpoint)" : "ServiceWatcher alone", LoadAverage().c_str());
  const long rss0 = ProcStatusKb("VmRSS");
  const double heap0 = in_use();
  std::printf("churn: after sync      RSS %8.1f KiB, malloc in use %8.1f KiB\n", static_cast<double>(rss0), heap0);
  if (!server->Signal()) return 1;
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t next_mark = 10'000;
  long rss_last = rss0;
  double heap_last = heap0;
  uint64_t applied = 0;
  while ((applied = stats_now().events_applied) < static_cast<uint64_t>(events)) {
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(600)) {
      std::fprintf(stderr, "churn: only %llu events in 600 s\n", static_cast<unsigned long long>(applied));
      return 1;
    }
    if (applied >= next_mark) {
      rss_last = ProcStatusKb("VmRSS");
      heap_last = in_use();
      std::printf("churn: %6llu events  RSS %8.1f KiB, malloc in use %8.1f KiB\n",
                  static_cast<unsigned long long>(applied), static_cast<double>(rss_last), heap_last);
      next_mark += 10'000;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(channel ? 5 : 1));
  }
  rss_last = ProcStatusKb("VmRSS");
  heap_last = in_use();
  const DiscoveryStats stats = stats_now();
  if (watcher) watcher->Stop();
  watcher.reset();
  balanced.reset();
  if (pods) pods->Shutdown();
  pods.reset();
  const double heap_after_stop = in_use();
  const long rss_after_stop = ProcStatusKb("VmRSS");
  // gRPC tears connections down on its own threads after the channels are gone: look again later.
  std::this_thread::sleep_for(std::chrono::seconds(channel ? 8 : 0));
  const double heap_later = in_use();
  // What the allocator keeps for reuse (free chunks in per-thread arenas) is not a leak: giving
  // it back shows how much of the resident growth it was.
  malloc_trim(0);
  const long rss_after_trim = ProcStatusKb("VmRSS");
  server->Finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("churn: %d events in %.1f s (%llu relists): RSS %+.1f B/event, malloc in use %+.1f B/event; "
              "after Stop() malloc in use %.1f KiB (%.1f KiB at sync; %.1f KiB %d s later), RSS %ld KiB, %ld KiB after "
              "malloc_trim\n",
              events, secs, static_cast<unsigned long long>(stats.relists),
              static_cast<double>(rss_last - rss0) * 1024.0 / events, (heap_last - heap0) * 1024.0 / events,
              heap_after_stop, heap0, heap_later, channel ? 8 : 0, rss_after_stop, rss_after_trim);
  std::printf("json: {\"bench\":\"churn\",\"channel\":%s,\"events\":%d,\"rss_growth_b_per_event\":%.1f,\"heap_growth_b_per_event\":%.1f,"
              "\"load\":\"%s\"}\n",
              channel ? "true" : "false", events, static_cast<double>(rss_last - rss0) * 1024.0 / events,
              (heap_last - heap0) * 1024.0 / events, LoadAverage().c_str());
  return 0;
}

}  // namespace k8slb::bench
