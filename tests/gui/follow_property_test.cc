// Property: however a live run's CSV bytes arrive (cut anywhere, even inside a number or before
// a newline), following it poll by poll yields exactly the rows of one read of the whole file.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <sstream>

#include "fixtures.h"
#include "model/dashboard_model.h"
#include "model/report.h"

namespace k8slb::dashboard {
namespace {

namespace fs = std::filesystem;

std::string ReportJson(bool complete) {
  return std::string("{\"format\":1,\"scenario\":\"p\",\"mode\":\"live\",\"seed\":1,\"complete\":") +
         (complete ? "true" : "false") +
         ",\"timeline_bucket_s\":0.5,\"events\":[],\"pods\":[],\"strategies\":[{\"name\":\"s\",\"rpcs\":{\"ok\":0,"
         "\"failed\":0},\"per_pod\":{},\"latency_ms\":{\"p50\":0,\"p99\":0}}]}";
}

std::vector<std::tuple<double, std::string, int64_t, int64_t>> Rows(const Report& r) {
  std::vector<std::tuple<double, std::string, int64_t, int64_t>> out;
  const StrategyTimeline& tl = r.strategies[0].timeline;
  tl.ForEachRow([&](const TimelineRow& row) {
    out.emplace_back(row.t_s, tl.pod_names[static_cast<size_t>(row.pod)], row.ok, row.failed);
  });
  return out;
}

RC_GTEST_PROP(ReportFollowProperty, ChunkedAppendsReadLikeOneFile, ()) {
  // A CSV of up to 40 buckets with up to 6 pods each.
  const int buckets = *rc::gen::inRange(1, 40);
  std::ostringstream csv;
  csv << "t_s,pod,ok,failed,p50_ms,p99_ms\n";
  for (int b = 0; b < buckets; ++b) {
    const int pods = *rc::gen::inRange(0, 6);
    for (int p = 0; p < pods; ++p) {
      csv << b * 0.5 << ",pod-" << p << "," << *rc::gen::inRange(0, 100000) << "," << *rc::gen::inRange(0, 50)
          << ",1.5,2.5\n";
    }
  }
  const std::string text = csv.str();
  std::vector<size_t> cuts = *rc::gen::container<std::vector<size_t>>(rc::gen::inRange<size_t>(0, text.size()));
  cuts.push_back(text.size());
  std::sort(cuts.begin(), cuts.end());

  testing::TempDir dir;
  testing::ReplaceText(dir.path() / "report.json", ReportJson(false));
  const fs::path file = dir.path() / "timeline-s.csv";
  testing::WriteText(file, "");
  ReportReader follower(dir.path(), ReadMode::kFollow);
  size_t written = 0;
  for (size_t cut : cuts) {
    testing::AppendText(file, text.substr(written, cut - written));
    written = cut;
    auto polled = follower.Poll();
    RC_ASSERT(polled.ok());
  }
  testing::ReplaceText(dir.path() / "report.json", ReportJson(true));  // the run ends
  RC_ASSERT(follower.Poll().ok());

  auto whole = LoadReport(dir.path());
  RC_ASSERT(whole.ok());
  RC_ASSERT(Rows(*follower.snapshot()) == Rows(**whole));
  RC_ASSERT(follower.snapshot()->strategies[0].timeline.row_count == (*whole)->strategies[0].timeline.row_count);
}

}  // namespace
}  // namespace k8slb::dashboard
