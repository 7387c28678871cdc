// Throughput driver for the virtual-time engine: runs bench-1000-pods.yaml (1,000 pods, 10 clients
// at 10,000 RPC/s for 100 s = 10 million RPCs, with a scale-up and evictions) and prints wall
// time, CPU time and RPCs per second, median of --repeat runs. The machine may be shared: CPU
// time (user+sys) is the figure that does not depend on other load.
//   sim_bench [--scenario FILE] [--strategies a,b] [--duration S] [--repeat N]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "sim/engine/engine.h"
#include "sim/engine/recorder.h"
#include "sim/scenario/scenario.h"
#include "util/percentile.h"

namespace {

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

double Median(std::vector<double> v) { return k8slb::util::Percentile(std::move(v), 0.5); }

}  // namespace

int main(int argc, char** argv) {
  std::string file = K8SLB_BENCH_SCENARIO;
  std::string strategies;
  double duration = 0;
  int repeat = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sim_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--scenario") {
      file = value();
    } else if (a == "--strategies") {
      strategies = value();
    } else if (a == "--duration") {
      duration = std::atof(value().c_str());
    } else if (a == "--repeat") {
      repeat = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: sim_bench [--scenario FILE] [--strategies a,b] [--duration S] "
                  "[--repeat N]\n");
      return 0;
    } else {
      std::fprintf(stderr, "sim_bench: unknown argument %s (see --help)\n", a.c_str());
      return 2;
    }
  }
  auto sc = k8slb::scenario::LoadScenario(file);
  if (!sc.ok()) {
    std::fprintf(stderr, "sim_bench: %s\n", std::string(sc.status().message()).c_str());
    return 2;
  }
  k8slb::sim::RunOptions options;
  options.seed = sc->seed;
  if (!strategies.empty()) {
    for (auto s : absl::StrSplit(strategies, ',')) options.strategies.emplace_back(s);
  }
  if (duration > 0) options.duration_s = duration;
  std::vector<double> walls, cpus, rates;
  uint64_t rpcs = 0;
  for (int r = 0; r < repeat; ++r) {
    k8slb::sim::RunRecorder recorder(k8slb::sim::MakeRunInfo(*sc, options));
    const double cpu0 = CpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    auto summary = k8slb::sim::RunVirtual(*sc, options, recorder);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = CpuSeconds() - cpu0;
    if (!summary.ok()) {
      std::fprintf(stderr, "sim_bench: %s\n", std::string(summary.status().message()).c_str());
      return 1;
    }
    // The report is part of the job (percentiles, reaction times).
    const auto report = recorder.Snapshot(summary->scenario_s, true);
    rpcs = summary->rpcs;
    walls.push_back(wall);
    cpus.push_back(cpu);
    rates.push_back(static_cast<double>(rpcs) / wall);
    std::printf("run %d: %llu RPCs over %zu pods, %llu events, wall %.2f s, cpu %.2f s, "
                "%.2f M RPC/s (wall)\n",
                r + 1, static_cast<unsigned long long>(rpcs), report.pods.size(),
                static_cast<unsigned long long>(summary->sim_events), wall, cpu,
                rates.back() / 1e6);
  }
  std::printf("median of %d: wall %.2f s, cpu %.2f s, %.2f M RPC/s; 10M RPCs would take "
              "%.2f s wall\n",
              repeat, Median(walls), Median(cpus), Median(rates) / 1e6,
              1e7 / Median(rates));
  return 0;
}
