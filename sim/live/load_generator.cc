#include "sim/live/load_generator.h"

#include <algorithm>
#include <utility>

namespace k8slb::sim::live {

LoadGenerator::LoadGenerator(LoadOptions options, const ScenarioClock& clock,
                             RunRecorder& recorder, CallFunction call)
    : options_(std::move(options)), clock_(clock), recorder_(recorder), call_(std::move(call)) {
  strategy_id_ = recorder_.StrategyId(options_.strategy);
}

LoadGenerator::~LoadGenerator() {
  Stop();
  Join();
}

void LoadGenerator::Start() {
  int workers = std::max(1, options_.concurrency);
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { Worker(); });
}

void LoadGenerator::Stop() { stop_.store(true); }

void LoadGenerator::Join() {
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void LoadGenerator::Worker() {
  const int no_pod = recorder_.PodId(RunRecorder::kNoPod);
  // Sleep in short steps so Stop() is honoured within ~50 ms even between slow slots.
  constexpr auto kMaxSleep = std::chrono::milliseconds(50);
  while (!stop_.load(std::memory_order_relaxed)) {
    double due_s = options_.start_s;
    uint64_t slot = next_slot_.fetch_add(1, std::memory_order_relaxed);
    if (options_.rate_rps > 0) due_s += static_cast<double>(slot) / options_.rate_rps;
    if (due_s >= options_.end_s) return;
    auto due = clock_.ToWall(due_s);
    while (!stop_.load(std::memory_order_relaxed)) {
      auto now = std::chrono::steady_clock::now();
      if (now >= due) break;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(due - now, kMaxSleep));
    }
    if (stop_.load(std::memory_order_relaxed)) return;
    // Closed loop: the slot is "now".
    auto sent_at = std::chrono::steady_clock::now();
    double t_s = clock_.ToScenarioS(sent_at);
    if (t_s >= options_.end_s) return;
    auto deadline = std::chrono::system_clock::now() + options_.rpc_timeout;
    CallOutcome outcome = call_(slot, deadline);
    double latency_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent_at)
            .count();
    sent_.fetch_add(1, std::memory_order_relaxed);
    if (!outcome.ok) failed_.fetch_add(1, std::memory_order_relaxed);
    int pod_id = outcome.pod.empty() ? no_pod : recorder_.PodId(outcome.pod);
    if (strategy_id_ >= 0) recorder_.RecordRpc(strategy_id_, t_s, pod_id, outcome.ok, latency_ms);
  }
}

}  // namespace k8slb::sim::live
