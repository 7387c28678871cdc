#include "report_test_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

namespace k8slb::report::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "k8slb-report-test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << tmpl;
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void WriteText(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) ADD_FAILURE() << "cannot write " << file;
}

void AppendText(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::app);
  out << text;
  if (!out) ADD_FAILURE() << "cannot append to " << file;
}

void ReplaceText(const fs::path& file, const std::string& text) {
  const fs::path tmp = file.string() + ".tmp";
  WriteText(tmp, text);
  fs::rename(tmp, file);
}

Report SmallReport() {
  Report r;
  r.scenario = "small";
  r.scenario_file = "scenarios/small.yaml";
  r.mode = "virtual";
  r.seed = 3;
  r.complete = true;
  r.duration_s = 10;
  r.timeline_bucket_s = 1;
  r.environment = {{"pod_network", "loopback"}};
  r.events = {{.t_s = 4, .kind = "evict", .detail = "evict echo-1"}};
  r.pods = {
      {.name = "echo-0", .address = "127.0.1.1", .zone = "zone-a", .created_s = 0, .ready_s = 0.5,
       .deleted_s = std::nullopt, .usable = {{0.5, std::nullopt}}},
      {.name = "echo-1", .address = "127.0.1.2", .zone = "zone-b", .created_s = 0, .ready_s = 0.5,
       .deleted_s = 6.0, .usable = {{0.5, 4.0}}},
      {.name = "echo-2", .address = "127.0.1.3", .zone = "zone-a", .created_s = 2, .ready_s = 2.5,
       .deleted_s = std::nullopt, .usable = {{2.5, std::nullopt}}},
  };
  StrategyReport lr;
  lr.name = "least-request";
  lr.ok = 300;
  lr.failed = 2;
  lr.per_pod = {{"echo-0", 120}, {"echo-1", 60}, {"echo-2", 120}};
  lr.per_pod_failed = {{std::string(kNoPod), 2}};
  lr.latency_ms = {.p50 = 1.25, .p99 = 3.5, .p999 = 7.75};
  lr.imbalance = 1.0;
  lr.pods_used = 3;
  lr.new_pod_first_rpc = ReactionStats{.count = 1, .never = 0, .p50 = 0.004, .max = 0.004};
  lr.removed_pod_last_rpc = ReactionStats{.count = 1, .never = 0, .p50 = 0.002, .max = 0.002};
  lr.timeline_csv = TimelineFileName(lr.name);
  StrategyReport ci;
  ci.name = "clusterip";
  ci.ok = 300;
  ci.per_pod = {{"echo-0", 300}, {"echo-1", 0}, {"echo-2", 0}};
  ci.latency_ms = {.p50 = 1, .p99 = 2, .p999 = 4};
  ci.imbalance = std::nullopt;
  ci.pods_used = 1;
  ci.new_pod_first_rpc = ReactionStats{.count = 0, .never = 1, .p50 = 0, .max = 0};
  ci.timeline_csv = TimelineFileName(ci.name);
  r.strategies = {lr, ci};
  return r;
}

}  // namespace k8slb::report::testing
