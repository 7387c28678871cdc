// Endpoint core benchmarks.
//
//   BM_AtomicFloor/threads:T                one relaxed fetch_add on a shared counter: the floor
//   BM_Pick/<policy>/<endpoints>/threads:T  cost of one Pick() (targets, single thread, same run:
//                                           round robin <= 1.5x the floor, least-request <= 4x the
//                                           floor and <= 40 ns, at 100k <= 1.3x its cost at 100);
//                                           peak_ewma / latency_ewma: least-request over those
//                                           signals (latency_ewma is the default policy), their
//                                           endpoints' last answers seconds old
//   BM_PickAnswered/<policy>/<endpoints>    the same, every endpoint answered 1 ms ago (steady
//                                           traffic) on a manual clock: no clock read
//   BM_SteadyClockRead                      one steady_clock read, what a latency pick adds
//   BM_PickSlowStart/<policy>_<ramping|after>/<endpoints>  Pick() with slow start on: one endpoint
//                                           mid-ramp (the clock is read per pick), or every ramp
//                                           over (no clock read; one relaxed load more)
//
// The figures: build/bench/core/k8slb_core_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
//   --benchmark_filter='BM_AtomicFloor/threads:1|BM_Pick/(round_robin|least_request|peak_ewma)/(100|10000|100000)/real_time/threads:1'
// (medians; record the load average and CPU beside them).
//   BM_PublishWhilePicking/<endpoints>      cost of SliceStore::Apply of one slice event plus
//                                           building the new picker, on a service of N endpoints
//                                           in slices of 100, while another thread picks
//                                           (counter picks_per_s: the picking thread's rate)
//
// Pickers use the production defaults (thread-local random, steady clock). Least-request runs
// with in-flight counts 0..3 (and latencies 1..7 ms) so both the compare and the tie paths are
// exercised.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "k8slb/picker.h"
#include "k8slb/slice_store.h"
#include "k8slb/slow_start.h"

namespace k8slb {
namespace {

std::vector<EndpointSlice> MakeService(int endpoints) {
  std::vector<EndpointSlice> slices;
  for (int i = 0; i < endpoints; i += 100) {
    EndpointSlice s;
    s.metadata.name = "echo-" + std::to_string(i / 100);
    s.metadata.namespace_name = "default";
    s.metadata.labels[std::string(kServiceNameLabel)] = "echo";
    s.ports.push_back(SlicePort{.name = "grpc", .port = 50051, .protocol = "TCP", .app_protocol = {}});
    for (int j = i; j < std::min(endpoints, i + 100); ++j) {
      SliceEndpoint e;
      e.addresses = {"10." + std::to_string(j / 65536) + "." + std::to_string(j / 256 % 256) + "." +
                     std::to_string(j % 256)};
      e.conditions.ready = true;
      e.zone = j % 2 ? "zone-a" : "zone-b";
      e.hint_zones = {*e.zone};
      e.target_ref = ObjectReference{.kind = "Pod", .namespace_name = "default",
                                     .name = "echo-" + std::to_string(j), .uid = ""};
      s.endpoints.push_back(std::move(e));
    }
    slices.push_back(std::move(s));
  }
  return slices;
}

SliceStoreOptions EchoOptions() {
  return {.service_name = "echo", .namespace_name = "default", .port = PortSelector::ByName("grpc")};
}

struct PickFixture {
  std::unique_ptr<SliceStore> store;
  std::unique_ptr<Picker> picker;
};

// Which clock a latency policy's picker reads. kSteady: the real clock, and the stamps age from
// the fixture's creation on (seconds old within a run, so the decay on read goes through
// std::exp). kAnswered: a manual clock held 1 ms after every endpoint's last answer, as under
// steady traffic (the decay is then the cheap polynomial), and no clock read, which
// BM_SteadyClockRead measures apart.
enum class PickClock { kSteady, kAnswered };

// Built once per (policy, size, clock) outside the timed region and shared by the benchmark's
// threads.
const Picker& GetPicker(PickPolicy policy, LoadSignal signal, int endpoints, bool zone,
                        PickClock clock = PickClock::kSteady) {
  static absl::Mutex mu;
  static std::map<std::tuple<PickPolicy, LoadSignal, int, bool, PickClock>, PickFixture> fixtures;  // under mu
  absl::MutexLock lock(&mu);
  PickFixture& f = fixtures[{policy, signal, endpoints, zone, clock}];
  if (f.picker == nullptr) {
    f.store = std::make_unique<SliceStore>(EchoOptions());
    f.store->Replace(MakeService(endpoints));
    int i = 0;
    const int64_t now = MakeSteadyClock()->NowNanos();
    const std::shared_ptr<const EndpointSet> set = f.store->Current();
    for (const Endpoint& e : set->endpoints()) {
      e.stats->in_flight.store(i % 4);
      e.stats->latency_ewma_nanos.store(1e6 * (1 + i % 7));
      e.stats->latency_stamp_nanos.store(now);  // the cost decays on read from here
      ++i;
    }
    std::shared_ptr<Clock> picker_clock;
    if (clock == PickClock::kAnswered) picker_clock = std::make_shared<ManualClock>(now + 1'000'000);
    f.picker = MakePicker(f.store->Current(),
                          PickerOptions{.policy = policy,
                                        .load_signal = signal,
                                        .client_zone = zone ? std::optional<std::string>("zone-a") : std::nullopt,
                                        .random = nullptr, .clock = picker_clock, .seed = 1});
  }
  return *f.picker;
}

void BM_Pick(benchmark::State& state, PickPolicy policy, LoadSignal signal, bool zone) {
  const Picker& picker = GetPicker(policy, signal, static_cast<int>(state.range(0)), zone);
  for (auto _ : state) benchmark::DoNotOptimize(picker.Pick());
  state.SetItemsProcessed(state.iterations());
}

// The default policy under steady traffic (every endpoint answered 1 ms ago), without the clock
// read; add BM_SteadyClockRead for the whole pick.
void BM_PickAnswered(benchmark::State& state, LoadSignal signal) {
  const Picker& picker = GetPicker(PickPolicy::kLeastRequest, signal, static_cast<int>(state.range(0)), false,
                                   PickClock::kAnswered);
  for (auto _ : state) benchmark::DoNotOptimize(picker.Pick());
  state.SetItemsProcessed(state.iterations());
}

// One read of the steady clock: what a latency policy's pick adds to BM_PickAnswered.
void BM_SteadyClockRead(benchmark::State& state) {
  const std::shared_ptr<Clock> clock = MakeSteadyClock();
  for (auto _ : state) benchmark::DoNotOptimize(clock->NowNanos());
  state.SetItemsProcessed(state.iterations());
}

void PickArgs(benchmark::internal::Benchmark* b) {
  for (int n : {1, 10, 100, 1000, 10000, 100000}) b->Arg(n);
  b->Threads(1)->Threads(2)->UseRealTime();
}

BENCHMARK_CAPTURE(BM_Pick, round_robin, PickPolicy::kRoundRobin, LoadSignal::kInFlight, false)->Apply(PickArgs);
BENCHMARK_CAPTURE(BM_Pick, least_request, PickPolicy::kLeastRequest, LoadSignal::kInFlight, false)->Apply(PickArgs);
BENCHMARK_CAPTURE(BM_Pick, zone_least_request, PickPolicy::kLeastRequest, LoadSignal::kInFlight, true)
    ->Arg(1000)->Arg(100000)->Threads(1)->UseRealTime();
BENCHMARK_CAPTURE(BM_Pick, peak_ewma, PickPolicy::kLeastRequest, LoadSignal::kPeakEwmaLatency, false)
    ->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000)->Threads(1)->UseRealTime();
// The default policy (kDefaultPolicyName): the pair's latencies decayed on read, one clock read.
BENCHMARK_CAPTURE(BM_Pick, latency_ewma, PickPolicy::kLeastRequest, LoadSignal::kLatencyEwma, false)
    ->Arg(100)->Arg(1000)->Arg(100000)->Threads(1)->UseRealTime();
BENCHMARK_CAPTURE(BM_PickAnswered, latency_ewma, LoadSignal::kLatencyEwma)
    ->Arg(100)->Arg(1000)->Arg(100000)->Threads(1)->UseRealTime();
BENCHMARK_CAPTURE(BM_PickAnswered, peak_ewma, LoadSignal::kPeakEwmaLatency)->Arg(100)->Arg(100000)->Threads(1)->UseRealTime();
BENCHMARK(BM_SteadyClockRead)->UseRealTime();

// Slow start enabled (a 1 h window, linear, 10 % floor), with one endpoint in the middle of its
// ramp (`ramping`), or with every ramp over (the picker then reads no clock): the cost of slow
// start beside BM_Pick's (slow start off) and BM_AtomicFloor in the same run.
const Picker& GetSlowStartPicker(PickPolicy policy, int endpoints, bool ramping) {
  static absl::Mutex mu;
  static std::map<std::tuple<PickPolicy, int, bool>, PickFixture> fixtures;  // under mu
  absl::MutexLock lock(&mu);
  PickFixture& f = fixtures[{policy, endpoints, ramping}];
  if (f.picker == nullptr) {
    f.store = std::make_unique<SliceStore>(EchoOptions());
    f.store->Replace(MakeService(endpoints));
    const std::shared_ptr<const EndpointSet> set = f.store->Current();
    int i = 0;
    for (const Endpoint& e : set->endpoints()) e.stats->in_flight.store(i++ % 4);
    const std::chrono::nanoseconds window = std::chrono::hours(1);
    const int64_t now = MakeSteadyClock()->NowNanos();
    set->endpoints()[set->size() / 2].stats->ready_since_nanos.store(ramping ? now - window.count() / 2
                                                                             : now - 2 * window.count());
    PickerOptions options{.policy = policy, .client_zone = std::nullopt, .random = nullptr, .clock = nullptr, .seed = 1};
    options.slow_start = SlowStartOptions{.window = window, .aggression = 1.0, .min_weight = 0.1};
    f.picker = MakePicker(set, options);
  }
  return *f.picker;
}

void BM_PickSlowStart(benchmark::State& state, PickPolicy policy, bool ramping) {
  const Picker& picker = GetSlowStartPicker(policy, static_cast<int>(state.range(0)), ramping);
  for (auto _ : state) benchmark::DoNotOptimize(picker.Pick());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_PickSlowStart, round_robin_ramping, PickPolicy::kRoundRobin, true)
    ->Arg(100)->Arg(100000)->Threads(1)->UseRealTime();
BENCHMARK_CAPTURE(BM_PickSlowStart, round_robin_after, PickPolicy::kRoundRobin, false)
    ->Arg(100)->Arg(100000)->Threads(1)->UseRealTime();
BENCHMARK_CAPTURE(BM_PickSlowStart, least_request_ramping, PickPolicy::kLeastRequest, true)
    ->Arg(100)->Arg(100000)->Threads(1)->UseRealTime();
BENCHMARK_CAPTURE(BM_PickSlowStart, least_request_after, PickPolicy::kLeastRequest, false)
    ->Arg(100)->Arg(100000)->Threads(1)->UseRealTime();

// The floor a pick is measured against: one relaxed fetch_add on a shared counter (round robin's
// only write), in the same run, so ratios hold on any CPU. Targets: round robin <= 1.5x,
// least-request <= 4x of it.
void BM_AtomicFloor(benchmark::State& state) {
  static std::atomic<uint64_t> counter{0};
  for (auto _ : state) benchmark::DoNotOptimize(counter.fetch_add(1, std::memory_order_relaxed));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AtomicFloor)->Threads(1)->Threads(2)->UseRealTime();

// Cost breakdown: one draw from the default (thread-local) and the seeded (shared atomic) source.
void BM_RandomNext(benchmark::State& state, bool thread_local_source) {
  static std::shared_ptr<RandomSource> tl = MakeThreadLocalRandom(1);
  static std::shared_ptr<RandomSource> seeded = MakeSeededRandom(1);
  RandomSource& r = thread_local_source ? *tl : *seeded;
  for (auto _ : state) benchmark::DoNotOptimize(r.Next());
}
BENCHMARK_CAPTURE(BM_RandomNext, thread_local, true);
BENCHMARK_CAPTURE(BM_RandomNext, seeded, false);

// One MODIFIED event (an endpoint of the first slice flips ready) per iteration, the new picker
// built from the new snapshot and published to a picking thread through an atomic shared_ptr.
void BM_PublishWhilePicking(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  SliceStore store(EchoOptions());
  std::vector<EndpointSlice> slices = MakeService(n);
  store.Replace(slices);
  std::atomic<std::shared_ptr<const Picker>> current(std::shared_ptr<const Picker>(
      MakePicker(store.Current(), PickerOptions{.policy = PickPolicy::kLeastRequest, .client_zone = {},
                                                .random = nullptr, .clock = nullptr, .seed = 1})));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> picks{0};
  std::thread picker_thread([&] {
    uint64_t local = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      std::shared_ptr<const Picker> p = current.load();
      for (int i = 0; i < 256; ++i) benchmark::DoNotOptimize(p->Pick());
      local += 256;
    }
    picks.store(local);
  });

  SliceEvent flip{.type = SliceEventType::kModified, .slice = slices.front()};
  bool ready = true;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    ready = !ready;
    flip.slice.endpoints[0].conditions.ready = ready;
    store.Apply(flip);
    current.store(std::shared_ptr<const Picker>(
        MakePicker(store.Current(), PickerOptions{.policy = PickPolicy::kLeastRequest, .client_zone = {},
                                                  .random = nullptr, .clock = nullptr, .seed = 1})));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stop.store(true);
  picker_thread.join();
  state.counters["picks_per_s"] = static_cast<double>(picks.load()) / seconds;
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PublishWhilePicking)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace k8slb

BENCHMARK_MAIN();
