// LoadGenerator: drives one scenario client (clients: rate, concurrency, duration) against one
// strategy in real time, and records every RPC into the RunRecorder.
//
// Open loop when rate_rps > 0: the n-th RPC is due at scenario time n / rate_rps (wall time
// n / (rate_rps * speed)); `concurrency` worker threads claim due slots in order, so when the
// backends are fast the schedule is exact, and when all workers are busy it degrades to a closed
// loop at `concurrency` (the same rule as the virtual engine's client model). rate_rps == 0 is a
// closed loop at `concurrency`.
//
// Threading: Start() and Join() from the engine's control thread; the `call` function runs on the
// worker threads concurrently and must be thread-safe. Stop() may be called from any thread.
#ifndef K8SLB_SIM_LIVE_LOAD_GENERATOR_H_
#define K8SLB_SIM_LIVE_LOAD_GENERATOR_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "sim/engine/recorder.h"

namespace k8slb::sim::live {

// What one RPC did. `pod` is the answering pod (EchoResponse.pod_name) or, on failure, the pod
// the strategy sent it to when known; empty = unknown (recorded as RunRecorder::kNoPod).
struct CallOutcome {
  bool ok = false;
  std::string pod;
};

// Performs one RPC with the given wall-clock deadline.
using CallFunction =
    std::function<CallOutcome(uint64_t request_id, std::chrono::system_clock::time_point deadline)>;

// Maps wall time to scenario seconds (shared by every generator of a run).
class ScenarioClock {
 public:
  ScenarioClock(std::chrono::steady_clock::time_point start, double speed)
      : start_(start), speed_(speed) {}
  double NowS() const { return ToScenarioS(std::chrono::steady_clock::now()); }
  double ToScenarioS(std::chrono::steady_clock::time_point t) const {
    return std::chrono::duration<double>(t - start_).count() * speed_;
  }
  std::chrono::steady_clock::time_point ToWall(double scenario_s) const {
    return start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(scenario_s / speed_));
  }
  double speed() const { return speed_; }

 private:
  std::chrono::steady_clock::time_point start_;
  double speed_;
};

struct LoadOptions {
  std::string strategy;   // recorder strategy name
  double rate_rps = 100;  // per client, in scenario time; 0 = closed loop
  int concurrency = 4;
  double start_s = 0;     // scenario time of the first RPC
  double end_s = 30;      // no RPC is sent at or after this scenario time
  std::chrono::milliseconds rpc_timeout{2000};  // wall-clock deadline per RPC
};

class LoadGenerator {
 public:
  LoadGenerator(LoadOptions options, const ScenarioClock& clock, RunRecorder& recorder,
                CallFunction call);
  ~LoadGenerator();  // stops and joins
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  void Start();
  void Stop();  // no new RPCs; in-flight ones finish (bounded by rpc_timeout)
  void Join();

  uint64_t sent() const { return sent_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  void Worker();

  LoadOptions options_;
  const ScenarioClock& clock_;
  RunRecorder& recorder_;
  CallFunction call_;
  int strategy_id_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> next_slot_{0};
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> failed_{0};
  std::vector<std::thread> workers_;
};

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_LOAD_GENERATOR_H_
