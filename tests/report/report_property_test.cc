// Fuzz-style properties of the report readers:
//   - every report the rule accepts survives ToJson -> ParseJson unchanged;
//   - a valid report.json mangled at random (numbers swapped for extreme ones, bytes cut,
//     inserted or repeated, deep nesting) never crashes the reader, and whatever it accepts
//     obeys the rule, so a viewer's bucket count stays within kMaxBuckets;
//   - random CSV bytes fed in random pieces never crash the timeline reader, and what it keeps
//     stays within the horizon and the count limit;
//   - following a growing CSV cut anywhere reads the same rows as one read of the whole file.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "report/folder.h"
#include "report/json.h"
#include "report/schema.h"
#include "report/timeline_csv.h"
#include "report_test_util.h"

namespace k8slb::report {
namespace {

namespace fs = std::filesystem;

// Printable ASCII text (strings that are not UTF-8 are rewritten by ToJson; a unit test covers
// them).
rc::Gen<std::string> Text() { return rc::gen::container<std::string>(rc::gen::inRange<char>(' ', '~')); }

// A number generator that also hits 0 and the edges.
rc::Gen<double> Seconds(double max) {
  return rc::gen::oneOf(rc::gen::just(0.0), rc::gen::just(max),
                        rc::gen::map(rc::gen::inRange(0, 1'000'000),
                                     [max](int v) { return max * v / 1e6; }));
}

rc::Gen<uint64_t> Count() {
  return rc::gen::oneOf(rc::gen::just<uint64_t>(0), rc::gen::inRange<uint64_t>(0, 1'000'000),
                        rc::gen::just<uint64_t>(kMaxCount / 64));
}

Report RandomValidReport() {
  Report r;
  r.scenario = *rc::gen::element<std::string>("steady", "rolling-update", "x");
  r.scenario_file = *rc::gen::element<std::string>("", "scenarios/steady.yaml");
  r.mode = *rc::gen::element<std::string>("virtual", "live");
  r.seed = *rc::gen::arbitrary<uint64_t>();
  r.complete = *rc::gen::arbitrary<bool>();
  r.timeline_bucket_s = *rc::gen::element(0.001, 0.1, 0.5, 1.0, 10.0, 3600.0);
  const double horizon = TimeHorizon(r.timeline_bucket_s);
  r.duration_s = *Seconds(horizon);
  const int env = *rc::gen::inRange(0, 3);
  for (int i = 0; i < env; ++i) r.environment["k" + std::to_string(i)] = *Text();
  const int events = *rc::gen::inRange(0, 5);
  for (int i = 0; i < events; ++i) {
    r.events.push_back({.t_s = *Seconds(horizon), .kind = "scale", .detail = *Text()});
  }
  std::stable_sort(r.events.begin(), r.events.end(), [](const Event& a, const Event& b) { return a.t_s < b.t_s; });
  const int pods = *rc::gen::inRange(0, 6);
  for (int i = 0; i < pods; ++i) {
    Pod p;
    p.name = "echo-" + std::to_string(i);
    p.zone = *rc::gen::element<std::string>("", "zone-a");
    p.created_s = *Seconds(horizon);
    if (*rc::gen::arbitrary<bool>()) p.ready_s = *Seconds(horizon);
    if (*rc::gen::arbitrary<bool>()) p.deleted_s = *Seconds(horizon);
    double start = *Seconds(horizon / 2);
    const int intervals = *rc::gen::inRange(0, 3);
    for (int k = 0; k < intervals; ++k) {
      const double end = start + *Seconds(horizon / 8);
      p.usable.emplace_back(start, *rc::gen::arbitrary<bool>() ? std::optional<double>(end) : std::nullopt);
      start = end;
    }
    r.pods.push_back(std::move(p));
  }
  const int strategies = *rc::gen::inRange(0, 4);
  for (int i = 0; i < strategies; ++i) {
    StrategyReport s;
    s.name = std::string(kStrategyNames[i]);
    s.ok = *Count();
    s.failed = *Count();
    for (int p = 0; p < pods; ++p) {
      if (*rc::gen::arbitrary<bool>()) s.per_pod["echo-" + std::to_string(p)] = *Count();
    }
    if (*rc::gen::arbitrary<bool>()) s.per_pod_failed[std::string(kNoPod)] = *Count();
    s.latency_ms = {.p50 = *Seconds(10), .p99 = *Seconds(100), .p999 = *Seconds(1000)};
    if (*rc::gen::arbitrary<bool>()) s.imbalance = 1 + *Seconds(10);
    s.pods_used = *rc::gen::inRange(0, static_cast<int>(s.per_pod.size()) + 1);
    if (*rc::gen::arbitrary<bool>()) {
      s.new_pod_first_rpc = ReactionStats{.count = *Count(), .never = *Count(), .p50 = *Seconds(1), .max = *Seconds(5)};
    }
    if (*rc::gen::arbitrary<bool>()) {
      s.removed_pod_last_rpc = ReactionStats{.count = *Count(), .never = 0, .p50 = *Seconds(1), .max = *Seconds(5)};
    }
    s.timeline_csv = TimelineFileName(s.name);
    r.strategies.push_back(std::move(s));
  }
  return r;
}

RC_GTEST_PROP(ReportProperty, EveryValidReportRoundTrips, ()) {
  const Report r = RandomValidReport();
  RC_ASSERT(Validate(r).ok());
  const std::string json = ToJson(r);
  auto back = ParseJson(json, "r.json");
  RC_ASSERT(back.ok());
  RC_ASSERT(ToJson(*back) == json);
}

// The rule's promise to a viewer, checked on whatever a reader accepted.
void AssertBounded(const Report& r) {
  RC_ASSERT(Validate(r).ok());
  RC_ASSERT(std::isfinite(r.duration_s));
  RC_ASSERT(r.timeline_bucket_s >= kMinBucketS);
  RC_ASSERT(std::ceil(r.duration_s / r.timeline_bucket_s) <= static_cast<double>(kMaxBuckets));
  for (const auto& e : r.events) RC_ASSERT(e.t_s <= TimeHorizon(r.timeline_bucket_s));
  for (const auto& s : r.strategies) {
    RC_ASSERT(s.ok <= kMaxCount);
    RC_ASSERT(s.failed <= kMaxCount);
  }
}

// Replaces the number token that starts at or after `at` with `with`.
std::string ReplaceNumber(const std::string& text, size_t at, const std::string& with) {
  const size_t begin = text.find_first_of("-0123456789", at);
  if (begin == std::string::npos) return text;
  size_t end = begin;
  while (end < text.size() && std::string_view("-+.eE0123456789").find(text[end]) != std::string_view::npos) ++end;
  return text.substr(0, begin) + with + text.substr(end);
}

void MangleAndParse(std::string text) {
  const int edits = *rc::gen::inRange(1, 6);
  for (int i = 0; i < edits; ++i) {
    const size_t at = *rc::gen::inRange<size_t>(0, text.size() + 1);
    switch (*rc::gen::inRange(0, 5)) {
      case 0:
        text = ReplaceNumber(text, at,
                             *rc::gen::element<std::string>("1e308", "-1", "1e-300", "1e9", "1e400", "-0",
                                                            "18446744073709551616", "9007199254740993", "0.5",
                                                            "100000", "3600.5", "NaN", "[]", "null", "\"x\""));
        break;
      case 1: {
        const size_t len = *rc::gen::inRange<size_t>(0, 40);
        text.erase(std::min(at, text.size()), len);
        break;
      }
      case 2:
        text.insert(std::min(at, text.size()), *rc::gen::arbitrary<std::string>());
        break;
      case 3:
        text.insert(std::min(at, text.size()), std::string(*rc::gen::inRange(1, 100), '['));
        break;
      default: {
        const size_t from = std::min(at, text.size());
        const size_t len = std::min<size_t>(*rc::gen::inRange<size_t>(1, 200), text.size() - from);
        text.insert(from, text.substr(from, len));
        break;
      }
    }
  }
  auto r = ParseJson(text, "r.json");
  if (r.ok()) {
    AssertBounded(*r);
  } else {
    RC_ASSERT(std::string(r.status().message()).rfind("r.json: ", 0) == 0);
  }
}

RC_GTEST_PROP(ReportProperty, MangledJsonNeverCrashesAndWhatIsAcceptedIsBounded, ()) {
  const std::string text = ToJson(RandomValidReport());
  for (int i = 0; i < 20; ++i) MangleAndParse(text);
}

RC_GTEST_PROP(ReportProperty, RandomCsvBytesNeverCrashAndStayBounded, ()) {
  const double horizon = *rc::gen::element(10.0, 1e5);
  std::string text = "t_s,pod,ok,failed,p50_ms,p99_ms\n";
  // Mostly CSV-looking noise: digits, separators, signs, exponents, names, line breaks.
  const auto noise = *rc::gen::container<std::vector<char>>(
      rc::gen::element('0', '1', '9', ',', ',', '\n', '\n', '.', '-', 'e', 'a', '"', '\r', ' ', 'n'));
  text.append(noise.begin(), noise.end());
  TimelineCsvReader reader("t.csv", horizon);
  // Bytes become available in random amounts, as a live run appends them.
  size_t pos = 0, available = 0;
  while (true) {
    available = std::min(text.size(), available + *rc::gen::inRange<size_t>(1, text.size() + 1));
    const bool final = available == text.size();
    size_t used = 0;
    const absl::Status st = reader.Feed(std::string_view(text).substr(pos, available - pos), final, &used);
    RC_ASSERT(used <= available - pos);
    if (!st.ok()) {
      RC_ASSERT(std::string(st.message()).rfind("t.csv", 0) == 0);
      break;
    }
    pos += used;
    if (final) break;
  }
  const Timeline& tl = reader.timeline();
  RC_ASSERT(tl.total <= kMaxCount);
  uint64_t sum = 0;
  double last = -1;
  tl.ForEachRow([&](const TimelineRow& row) {
    RC_ASSERT(row.t_s >= 0 && row.t_s <= horizon);
    RC_ASSERT(row.t_s >= last);
    last = row.t_s;
    RC_ASSERT(static_cast<size_t>(row.pod) < tl.pod_names.size());
    sum += row.ok + row.failed;
  });
  RC_ASSERT(sum == tl.total);
}

std::string FollowJson(bool complete) {
  return std::string("{\"format\":1,\"scenario\":\"p\",\"mode\":\"live\",\"seed\":1,\"complete\":") +
         (complete ? "true" : "false") +
         ",\"duration_s\":0,\"timeline_bucket_s\":0.5,\"events\":[],\"pods\":[],\"strategies\":[{\"name\":\"s\","
         "\"rpcs\":{\"ok\":0,\"failed\":0},\"per_pod\":{},\"latency_ms\":{\"p50\":0,\"p99\":0,\"p999\":0},"
         "\"pods_used\":0}]}";
}

std::vector<std::tuple<double, std::string, uint64_t, uint64_t>> Rows(const Report& r) {
  std::vector<std::tuple<double, std::string, uint64_t, uint64_t>> out;
  const Timeline& tl = r.strategies[0].timeline;
  tl.ForEachRow([&](const TimelineRow& row) {
    out.emplace_back(row.t_s, tl.pod_names[static_cast<size_t>(row.pod)], row.ok, row.failed);
  });
  return out;
}

RC_GTEST_PROP(ReportFollowProperty, ChunkedAppendsReadLikeOneFile, ()) {
  // A CSV of up to 40 buckets with up to 6 pods each.
  const int buckets = *rc::gen::inRange(1, 40);
  std::ostringstream csv;
  csv << kTimelineHeader << "\n";
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
  testing::ReplaceText(dir.path() / "report.json", FollowJson(false));
  const fs::path file = dir.path() / "timeline-s.csv";
  testing::WriteText(file, "");
  FolderReader follower(dir.path(), ReadMode::kFollow);
  size_t written = 0;
  for (size_t cut : cuts) {
    testing::AppendText(file, text.substr(written, cut - written));
    written = cut;
    RC_ASSERT(follower.Poll().ok());
  }
  testing::ReplaceText(dir.path() / "report.json", FollowJson(true));  // the run ends
  RC_ASSERT(follower.Poll().ok());

  auto whole = LoadFolder(dir.path());
  RC_ASSERT(whole.ok());
  RC_ASSERT(Rows(*follower.snapshot()) == Rows(**whole));
  RC_ASSERT(follower.snapshot()->strategies[0].timeline.row_count == (*whole)->strategies[0].timeline.row_count);
}

}  // namespace
}  // namespace k8slb::report
