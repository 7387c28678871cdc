// k8slb_grpc_bench: end-to-end numbers for BalancedChannel, against in-process echo pods on
// 127.0.1.x.
//
//  1. overhead: unary echo QPS and p50/p99 through BalancedChannel (least-request and round robin)
//     vs a native grpc++ channel ("ipv4:a,b,c" + round_robin) to the same pods, same closed-loop
//     load generator, same concurrency; rounds alternate and medians are reported.
//  2. tail: one pod 10x slower; p50/p99 and the slow pod's share under every named policy
//     (kNamedPolicies), beside the same policies on a second fleet of equal pods in the same
//     rounds (the tail's floor: what the policy's p99 would be with no slow pod).
//  3. scale-up: time from publishing a snapshot with a new pod to its first answered RPC.
//  4. bigset (only with --only bigset): a SliceStore source publishes one snapshot of N endpoints
//     (a relist: one Replace of N/100 slices), then at once a one-endpoint change, on the bench
//     thread, which plays discovery's watcher thread. Reported: how long each publish held that
//     thread, how late the second event was published (measured from when it was ready, i.e.
//     when the big one started), the same publishes on a store nobody follows (the store's own
//     share), how long until the channel could pick from all N, and resident memory. Endpoints are
//     127.1.x.y:1, where nothing listens: every channel is made and fails to connect, so the
//     figures are the channel layer's own. One round per process (RSS does not shrink after).
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <k8slb/proto/echo.grpc.pb.h>

#include "absl/synchronization/mutex.h"
#include "echo_server/echo_server.h"
#include "k8slb/balanced_channel.h"
#include "k8slb/client.h"
#include "k8slb/endpoint_source.h"
#include "k8slb/slice_store.h"

namespace {

using SteadyClock = std::chrono::steady_clock;
std::chrono::milliseconds g_ewma_decay{10000};
using k8slb::echo::Echo;
using k8slb::echo::EchoRequest;
using k8slb::echo::EchoResponse;

struct RunResult {
  double qps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double p999_ms = 0;
  uint64_t failures = 0;
  std::map<std::string, uint64_t> per_pod;
  uint64_t total = 0;
};

double Pct(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size()));
  return static_cast<double>(v[std::min(i, v.size() - 1)]) / 1000.0;
}

// `call(response)` performs one unary RPC. Closed loop: `threads` workers for `seconds`.
RunResult Run(const std::function<grpc::Status(EchoResponse*)>& call, int threads, double seconds) {
  std::atomic<bool> measuring{false};
  std::atomic<bool> stop{false};
  absl::Mutex mu;
  std::vector<int64_t> latencies;  // under mu until the workers are joined
  RunResult result;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      std::vector<int64_t> mine;
      std::map<std::string, uint64_t> pods;
      uint64_t failures = 0;
      mine.reserve(200000);
      while (!stop.load(std::memory_order_relaxed)) {
        EchoResponse resp;
        auto t0 = SteadyClock::now();
        grpc::Status s = call(&resp);
        auto t1 = SteadyClock::now();
        if (!measuring.load(std::memory_order_relaxed)) continue;
        if (!s.ok()) {
          ++failures;
          continue;
        }
        mine.push_back(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
        ++pods[resp.pod_name()];
      }
      absl::MutexLock lock(&mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
      for (auto& [p, n] : pods) result.per_pod[p] += n;
      result.failures += failures;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // warm-up
  measuring.store(true);
  auto t0 = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6)));
  measuring.store(false);
  auto elapsed = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  stop.store(true);
  for (auto& w : workers) w.join();
  std::sort(latencies.begin(), latencies.end());
  result.total = latencies.size();
  result.qps = static_cast<double>(latencies.size()) / elapsed;
  result.p50_ms = Pct(latencies, 50);
  result.p99_ms = Pct(latencies, 99);
  result.p999_ms = Pct(latencies, 99.9);
  return result;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::vector<std::unique_ptr<k8slb::echo::EchoServer>> StartPods(int n, int first_octet, double latency_ms) {
  std::vector<std::unique_ptr<k8slb::echo::EchoServer>> pods;
  for (int i = 0; i < n; ++i) {
    k8slb::echo::EchoServerOptions o;
    o.listen = "127.0.1." + std::to_string(first_octet + i) + ":0";
    o.pod_name = "echo-" + std::to_string(i);
    o.latency_ms = latency_ms;
    auto s = k8slb::echo::EchoServer::Start(o);
    if (!s.ok()) {
      std::fprintf(stderr, "k8slb_grpc_bench: %s\n", std::string(s.status().message()).c_str());
      std::exit(1);
    }
    pods.push_back(*std::move(s));
  }
  return pods;
}

k8slb::Endpoint EndpointOf(const k8slb::echo::EchoServer& s) {
  k8slb::Endpoint e;
  e.address = s.address().substr(0, s.address().rfind(':'));
  e.port = s.port();
  e.pod_name = s.pod_name();
  return e;
}

std::shared_ptr<k8slb::BalancedChannel> Balanced(std::shared_ptr<k8slb::EndpointSource> source,
                                                 k8slb::PickPolicy policy,
                                                 k8slb::LoadSignal signal = k8slb::LoadSignal::kInFlight) {
  k8slb::BalancedChannelOptions o;
  o.policy = policy;
  o.load_signal = signal;
  o.ewma_decay = g_ewma_decay;
  o.client_zone = "";
  o.connectivity_poll = std::chrono::milliseconds(200);
  auto ch = k8slb::BalancedChannel::Create(std::move(source), o);
  if (!ch.ok()) std::exit(1);
  return *ch;
}

std::function<grpc::Status(EchoResponse*)> BalancedCall(k8slb::Client<Echo>& client) {
  return [&client](EchoResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    EchoRequest req;
    req.set_message("bench");
    return client->Echo(&ctx, req, resp);
  };
}

std::function<grpc::Status(EchoResponse*)> StubCall(Echo::Stub& stub) {
  return [&stub](EchoResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    EchoRequest req;
    req.set_message("bench");
    return stub.Echo(&ctx, req, resp);
  };
}

// Resident and peak resident memory of this process, in MiB (Linux /proc/self/status).
std::pair<double, double> RssMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  double rss = 0;
  double hwm = 0;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::stod(line.substr(6)) / 1024.0;
    if (line.rfind("VmHWM:", 0) == 0) hwm = std::stod(line.substr(6)) / 1024.0;
  }
  return {rss, hwm};
}

std::vector<k8slb::EndpointSlice> BigService(int endpoints) {
  std::vector<k8slb::EndpointSlice> slices;
  for (int i = 0; i < endpoints; i += 100) {
    k8slb::EndpointSlice s;
    s.metadata.name = "big-" + std::to_string(i / 100);
    s.metadata.namespace_name = "default";
    s.metadata.labels[std::string(k8slb::kServiceNameLabel)] = "big";
    k8slb::SlicePort port;
    port.name = "grpc";
    port.port = 1;
    s.ports.push_back(port);
    for (int j = i; j < std::min(endpoints, i + 100); ++j) {
      k8slb::SliceEndpoint e;
      e.addresses = {"127." + std::to_string(1 + j / 65536) + "." + std::to_string(j / 256 % 256) + "." +
                     std::to_string(j % 256)};
      e.conditions.ready = true;
      e.target_ref = k8slb::ObjectReference{"Pod", "default", "big-" + std::to_string(j), ""};
      s.endpoints.push_back(std::move(e));
    }
    slices.push_back(std::move(s));
  }
  return slices;
}

double MsSince(SteadyClock::time_point t0, SteadyClock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

void BigSet(int n) {
  const k8slb::SliceStoreOptions options{.service_name = "big", .namespace_name = "default",
                                         .port = k8slb::PortSelector::ByName("grpc")};
  std::vector<k8slb::EndpointSlice> slices = BigService(n);
  k8slb::SliceEvent next{.type = k8slb::SliceEventType::kModified, .slice = slices.front()};
  next.slice.endpoints[0].conditions.ready = false;

  // The store's own share: the same two publishes with nobody following.
  k8slb::SliceStore alone(options);
  auto a0 = SteadyClock::now();
  alone.Replace(slices);
  auto a1 = SteadyClock::now();
  alone.Apply(next);
  auto a2 = SteadyClock::now();

  auto before = RssMiB();
  auto store = std::make_shared<k8slb::SliceStore>(options);
  auto channel = Balanced(k8slb::MakeSliceStoreSource(store, "bench/big"), k8slb::PickPolicy::kLeastRequest);
  auto t0 = SteadyClock::now();
  store->Replace(slices);
  auto t1 = SteadyClock::now();
  store->Apply(next);
  auto t2 = SteadyClock::now();
  const size_t want = static_cast<size_t>(n - 1);  // the second event made one endpoint not ready
  auto give_up = t0 + std::chrono::seconds(300);
  while (channel->CurrentSet()->size() != want && SteadyClock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto t3 = SteadyClock::now();
  const size_t got = channel->CurrentSet()->size();
  auto after = RssMiB();
  std::printf("[bigset] %d endpoints in %zu slices, one relist then one endpoint change, on the publishing thread\n", n,
              slices.size());
  std::printf("  %-44s %10.2f ms\n", "big publish held the publishing thread", MsSince(t0, t1));
  std::printf("  %-44s %10.2f ms\n", "next event published after (from ready)", MsSince(t0, t2));
  std::printf("  %-44s %10.2f ms\n", "next event's own publish", MsSince(t1, t2));
  std::printf("  %-44s %10.2f / %.2f ms\n", "same two publishes, store alone", MsSince(a0, a1), MsSince(a1, a2));
  std::printf("  %-44s %10.2f ms (%zu of %zu endpoints)\n", "all endpoints pickable after", MsSince(t0, t3), got, want);
  std::printf("  %-44s %10.1f MiB before, %.1f after, peak %.1f\n\n", "resident memory", before.first, after.first,
              after.second);
}

void PrintRow(const char* name, const std::vector<double>& qps, const std::vector<double>& p50,
              const std::vector<double>& p99) {
  std::printf("  %-28s %10.0f %9.3f %9.3f\n", name, Median(qps), Median(p50), Median(p99));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("k8slb_grpc_bench: BalancedChannel vs native grpc++ round_robin; slow-pod tail; scale-up reaction",
               "k8slb_grpc_bench");
  int pods_n = 5;
  int concurrency = 16;
  double seconds = 2;
  int rounds = 3;
  double slow_base_ms = 2;
  int scale_trials = 20;
  std::string only;
  int64_t ewma_decay_ms = 10000;
  app.add_option("--ewma-decay-ms", ewma_decay_ms, "decay time of the peak-EWMA signal")->capture_default_str();
  app.add_option("--pods", pods_n, "echo pods")->capture_default_str();
  app.add_option("--concurrency", concurrency, "closed-loop workers")->capture_default_str();
  app.add_option("--seconds", seconds, "measured seconds per run")->capture_default_str();
  app.add_option("--rounds", rounds, "alternating rounds per variant (medians reported)")->capture_default_str();
  app.add_option("--slow-base-ms", slow_base_ms, "pod latency in the tail test (the slow pod has 10x)")
      ->capture_default_str();
  app.add_option("--scale-trials", scale_trials, "scale-up trials")->capture_default_str();
  int bigset_endpoints = 10000;
  app.add_option("--bigset-endpoints", bigset_endpoints, "endpoints in the bigset run")->capture_default_str();
  app.add_option("--only", only, "overhead | tail | scaleup (default: all three) | bigset");
  CLI11_PARSE(app, argc, argv);
  g_ewma_decay = std::chrono::milliseconds(ewma_decay_ms);
  if (only == "bigset") {
    BigSet(bigset_endpoints);
    return 0;
  }

  std::printf("k8slb_grpc_bench: %d pods, concurrency %d, %.1f s x %d rounds, %u hardware threads\n", pods_n,
              concurrency, seconds, rounds, std::thread::hardware_concurrency());

  if (only.empty() || only == "overhead") {
    auto pods = StartPods(pods_n, 101, 0);
    std::vector<k8slb::Endpoint> endpoints;
    std::string native_target = "ipv4:";
    for (size_t i = 0; i < pods.size(); ++i) {
      endpoints.push_back(EndpointOf(*pods[i]));
      native_target += (i > 0 ? "," : "") + pods[i]->address();
    }
    auto source = std::make_shared<k8slb::ManualEndpointSource>("bench/echo");
    source->SetEndpoints(endpoints);
    auto lr_channel = Balanced(source, k8slb::PickPolicy::kLeastRequest);
    auto rr_channel = Balanced(source, k8slb::PickPolicy::kRoundRobin);
    auto le_channel = Balanced(source, k8slb::PickPolicy::kLeastRequest, k8slb::LoadSignal::kLatencyEwma);
    k8slb::Client<Echo> lr(lr_channel);
    k8slb::Client<Echo> rr(rr_channel);
    k8slb::Client<Echo> le(le_channel);
    grpc::ChannelArguments args;
    args.SetLoadBalancingPolicyName("round_robin");
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto native_channel = grpc::CreateCustomChannel(native_target, grpc::InsecureChannelCredentials(), args);
    native_channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto native_stub = Echo::NewStub(native_channel);

    std::vector<double> nq, n50, n99, lq, l50, l99, rq, r50, r99, eq, e50, e99;
    for (int r = 0; r < rounds; ++r) {
      RunResult n = Run(StubCall(*native_stub), concurrency, seconds);
      RunResult l = Run(BalancedCall(lr), concurrency, seconds);
      RunResult b = Run(BalancedCall(rr), concurrency, seconds);
      RunResult e = Run(BalancedCall(le), concurrency, seconds);
      nq.push_back(n.qps), n50.push_back(n.p50_ms), n99.push_back(n.p99_ms);
      lq.push_back(l.qps), l50.push_back(l.p50_ms), l99.push_back(l.p99_ms);
      rq.push_back(b.qps), r50.push_back(b.p50_ms), r99.push_back(b.p99_ms);
      eq.push_back(e.qps), e50.push_back(e.p50_ms), e99.push_back(e.p99_ms);
      std::printf("  round %d: native %.0f qps, least-request %.0f qps, round-robin %.0f qps, latency-ewma %.0f qps "
                  "(failures %lu/%lu/%lu/%lu)\n",
                  r + 1, n.qps, l.qps, b.qps, e.qps, static_cast<unsigned long>(n.failures),
                  static_cast<unsigned long>(l.failures), static_cast<unsigned long>(b.failures),
                  static_cast<unsigned long>(e.failures));
    }
    std::printf("\n[overhead] unary echo, 0 ms service time, medians of %d rounds\n", rounds);
    std::printf("  %-28s %10s %9s %9s\n", "variant", "qps", "p50_ms", "p99_ms");
    PrintRow("native grpc++ round_robin", nq, n50, n99);
    PrintRow("BalancedChannel least-req", lq, l50, l99);
    PrintRow("BalancedChannel round-robin", rq, r50, r99);
    PrintRow("BalancedChannel latency-ewma", eq, e50, e99);
    std::printf("  ratio least-request/native: qps %.3f, p99 %.3f\n", Median(lq) / Median(nq), Median(l99) / Median(n99));
    std::printf("  ratio round-robin/native:   qps %.3f, p99 %.3f\n", Median(rq) / Median(nq), Median(r99) / Median(n99));
    std::printf("  ratio latency-ewma/native:  qps %.3f, p99 %.3f\n\n", Median(eq) / Median(nq), Median(e99) / Median(n99));
  }

  if (only.empty() || only == "tail") {
    // Every named policy on two fleets: one with echo-0 ten times slower, one of equal pods (the
    // tail's floor: the policy's p99 with no slow pod). Each channel has its own endpoint source,
    // so no two share per-endpoint state (in-flight counts, the latency signal); runs alternate
    // policy by policy within each round.
    auto pods = StartPods(pods_n, 121, slow_base_ms);
    pods[0]->SetLatency(slow_base_ms * 10, 0);
    auto equal_pods = StartPods(pods_n, 181, slow_base_ms);
    auto channel_to = [](const std::vector<std::unique_ptr<k8slb::echo::EchoServer>>& fleet, const char* name,
                         const k8slb::NamedPolicy& named) {
      std::vector<k8slb::Endpoint> endpoints;
      for (auto& p : fleet) endpoints.push_back(EndpointOf(*p));
      auto source = std::make_shared<k8slb::ManualEndpointSource>(name);
      source->SetEndpoints(endpoints);
      return Balanced(source, named.policy, named.load_signal);
    };
    struct Variant {
      k8slb::NamedPolicy named;
      std::shared_ptr<k8slb::BalancedChannel> slow_channel, equal_channel;
      std::unique_ptr<k8slb::Client<Echo>> slow, equal;
      std::vector<double> qps, p50, p99, p999, share, equal_p99;
    };
    std::vector<Variant> variants;
    for (const k8slb::NamedPolicy& named : k8slb::kNamedPolicies) {
      Variant v;
      v.named = named;
      v.slow_channel = channel_to(pods, "bench/echo-slow", named);
      v.equal_channel = channel_to(equal_pods, "bench/echo-equal", named);
      v.slow = std::make_unique<k8slb::Client<Echo>>(v.slow_channel);
      v.equal = std::make_unique<k8slb::Client<Echo>>(v.equal_channel);
      variants.push_back(std::move(v));
    }
    std::printf("[tail] pods at %.1f ms, echo-0 at %.1f ms (10x), concurrency %d, medians of %d rounds\n", slow_base_ms,
                slow_base_ms * 10, concurrency, rounds);
    for (int r = 0; r < rounds; ++r) {
      for (Variant& v : variants) {
        RunResult slow = Run(BalancedCall(*v.slow), concurrency, seconds);
        RunResult equal = Run(BalancedCall(*v.equal), concurrency, seconds);
        v.qps.push_back(slow.qps), v.p50.push_back(slow.p50_ms), v.p99.push_back(slow.p99_ms);
        v.p999.push_back(slow.p999_ms);
        v.share.push_back(100.0 * static_cast<double>(slow.per_pod["echo-0"]) /
                          static_cast<double>(std::max<uint64_t>(1, slow.total)));
        v.equal_p99.push_back(equal.p99_ms);
      }
    }
    for (const Variant& v : variants) {
      if (v.named.load_signal == k8slb::LoadSignal::kInFlight) continue;
      for (const auto& e : v.slow_channel->Metrics().endpoints) {
        std::printf("  %s %s: ewma %.3f ms, picks %lu\n", std::string(v.named.name).c_str(), e.pod_name.c_str(),
                    e.latency_ewma_ms, static_cast<unsigned long>(e.picks));
      }
    }
    double rr_p99 = 0;
    for (const Variant& v : variants) {
      if (v.named.policy == k8slb::PickPolicy::kRoundRobin) rr_p99 = Median(v.p99);
    }
    std::printf("  %-14s %10s %9s %9s %9s %11s %12s %13s %11s\n", "policy", "qps", "p50_ms", "p99_ms", "p999_ms",
                "slow_share", "no_slow_p99", "p99/no_slow", "rr_p99/p99");
    for (const Variant& v : variants) {
      std::printf("  %-14s %10.0f %9.3f %9.3f %9.3f %10.2f%% %12.3f %12.2fx %10.2fx\n",
                  std::string(v.named.name).c_str(), Median(v.qps), Median(v.p50), Median(v.p99), Median(v.p999),
                  Median(v.share), Median(v.equal_p99), Median(v.p99) / std::max(1e-9, Median(v.equal_p99)),
                  rr_p99 / std::max(1e-9, Median(v.p99)));
    }
    std::printf("  targets for the default: rr_p99/p99 >= 5, p99/no_slow <= 1.5, slow_share <= 1 %%\n\n");
  }

  if (only.empty() || only == "scaleup") {
    auto pods = StartPods(4, 141, 0);
    std::vector<k8slb::Endpoint> endpoints;
    for (auto& p : pods) endpoints.push_back(EndpointOf(*p));
    auto source = std::make_shared<k8slb::ManualEndpointSource>("bench/echo");
    source->SetEndpoints(endpoints);
    auto channel = Balanced(source, k8slb::PickPolicy::kLeastRequest);
    k8slb::Client<Echo> client(channel);
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t) {
      workers.emplace_back([&] {
        auto call = BalancedCall(client);
        while (!stop.load()) {
          EchoResponse resp;
          call(&resp);
        }
      });
    }
    std::vector<double> reaction_ms;
    for (int trial = 0; trial < scale_trials; ++trial) {
      auto fresh = StartPods(1, 150 + trial % 50, 0);
      std::vector<k8slb::Endpoint> with = endpoints;
      with.push_back(EndpointOf(*fresh[0]));
      auto t0 = SteadyClock::now();
      source->SetEndpoints(with);
      auto deadline = t0 + std::chrono::seconds(5);
      while (fresh[0]->completed() == 0 && SteadyClock::now() < deadline) std::this_thread::yield();
      reaction_ms.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
      source->SetEndpoints(endpoints);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      fresh[0]->Shutdown(std::chrono::milliseconds(1000));
    }
    stop.store(true);
    for (auto& w : workers) w.join();
    std::sort(reaction_ms.begin(), reaction_ms.end());
    std::printf("[scale-up] snapshot with a new pod -> its first answered RPC, %d trials, 4 workers\n", scale_trials);
    std::printf("  median %.2f ms, max %.2f ms\n", Median(reaction_ms), reaction_ms.back());
  }
  return 0;
}
