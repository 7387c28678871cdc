#include "fixtures.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"

namespace k8slb::dashboard::testing {
namespace fs = std::filesystem;

fs::path BasicFixture() { return fs::path(K8SLB_GUI_TEST_DATA) / "basic"; }

void CopyBasicFixture(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(BasicFixture())) {
    fs::copy_file(entry.path(), dir / entry.path().filename(), fs::copy_options::overwrite_existing);
  }
}

std::string ReadText(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void EditFile(const fs::path& file, const std::string& from, const std::string& to) {
  std::string text = ReadText(file);
  const auto pos = text.find(from);
  if (pos == std::string::npos) {
    ADD_FAILURE() << "\"" << from << "\" not in " << file;
    return;
  }
  text.replace(pos, from.size(), to);
  WriteText(file, text);
}

std::string PodName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "pod-%03d", i);
  return buf;
}

void WriteManyPodsReport(const fs::path& dir, const ManyPodsOptions& o) {
  using nlohmann::json;
  static const char* const kZones[] = {"zone-a", "zone-b", "zone-c"};
  json pods = json::array();
  for (int i = 0; i < o.pods; ++i) {
    pods.push_back({{"name", PodName(i)},
                    {"address", "127.0.2." + std::to_string(i % 250 + 1)},
                    {"zone", kZones[i % 3]},
                    {"created_s", 0.0},
                    {"ready_s", 0.5},
                    {"deleted_s", nullptr}});
  }
  json strategies = json::array();
  auto served = [&](const std::string& strategy, int i) -> int {
    if (strategy != "least-request") return 5;
    if (!o.ten_hot_pods) return i + 1;
    return i >= o.pods - 10 ? 100 + (i - (o.pods - 10)) : 1;
  };
  for (const std::string name : {"least-request", "round-robin"}) {
    const std::string csv_name = "timeline-" + name + ".csv";
    std::ostringstream csv;
    csv << "t_s,pod,ok,failed,p50_ms,p99_ms\n";
    json per_pod = json::object();
    int64_t total = 0;
    for (int b = 0; b < o.buckets; ++b) {
      for (int i = 0; i < o.pods; ++i) {
        const int ok = served(name, i);
        csv << b << ".0," << PodName(i) << "," << ok << ",0,1.0,2.0\n";
      }
    }
    for (int i = 0; i < o.pods; ++i) {
      const int64_t n = static_cast<int64_t>(served(name, i)) * o.buckets;
      per_pod[PodName(i)] = n;
      total += n;
    }
    WriteText(dir / csv_name, csv.str());
    strategies.push_back({{"name", name},
                          {"rpcs", {{"ok", total}, {"failed", 0}}},
                          {"per_pod", per_pod},
                          {"latency_ms", {{"p50", 1.0}, {"p99", 2.0}, {"p999", 3.0}}},
                          {"pods_used", o.pods},
                          {"timeline_csv", csv_name}});
  }
  json report = {{"format", 1},
                 {"scenario", "many-pods"},
                 {"mode", "virtual"},
                 {"seed", 3},
                 {"complete", o.complete},
                 {"duration_s", static_cast<double>(o.buckets)},
                 {"timeline_bucket_s", 1.0},
                 {"events", json::array({{{"t_s", 1.0}, {"kind", "scale"}, {"detail", "scale to many"}}})},
                 {"pods", pods},
                 {"strategies", strategies}};
  WriteText(dir / "report.json", report.dump(1));
}

}  // namespace k8slb::dashboard::testing
