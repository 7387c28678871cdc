// The live timeline (docs/report-format.md, "Provisional rows"): a run driven with an injected
// clock (RPCs recorded when they finish, filed under their send time, reports written every
// second of that clock) and followed by report::FolderReader as the dashboard follows it. Checks
// that every bucket shows within one bucket of its RPCs, that it turns final within its
// straggler window (which follows the run's latencies, bounded by the deadline), that final rows
// never change, and that the header's totals and the charts' rows agree in every snapshot, even
// when the reader sees a CSV newer than its report.json.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <queue>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "report/folder.h"
#include "sim/engine/recorder.h"

namespace k8slb::sim {
namespace {

namespace fs = std::filesystem;

RunInfo LiveInfo(double bucket_s, double deadline_s) {
  RunInfo info;
  info.scenario = "live-unit";
  info.mode = "live";
  info.timeline_bucket_s = bucket_s;
  info.call_deadline_s = deadline_s;
  info.strategies = {"round-robin", "least-request"};
  return info;
}

std::string TempDir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("k8slb-live-timeline-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir.string();
}

// The header (report.json's totals) and the charts (the timeline's rows) of one snapshot.
void ExpectHeaderAndChartsAgree(const report::Report& r, const std::string& when) {
  for (const auto& s : r.strategies) {
    uint64_t ok = 0, failed = 0;
    std::map<std::string, uint64_t> per_pod;
    s.timeline.ForEachRow([&](const report::TimelineRow& row) {
      ok += row.ok;
      failed += row.failed;
      per_pod[s.timeline.pod_names[static_cast<size_t>(row.pod)]] += row.ok;
    });
    EXPECT_EQ(ok, s.ok) << s.name << " " << when;
    EXPECT_EQ(failed, s.failed) << s.name << " " << when;
    for (const auto& [pod, n] : s.per_pod) {
      EXPECT_EQ(per_pod[pod], n) << s.name << " pod " << pod << " " << when;
    }
  }
}

struct Finish {
  double end_s;
  double sent_s;
  std::string pod;
  bool ok;
  double latency_ms;
  bool operator>(const Finish& o) const { return end_s > o.end_s; }
};

TEST(LiveTimeline, ShownWithinABucketFinalWithinItsWindowAndAlwaysInAgreement) {
  constexpr double kBucket = 0.5;
  constexpr double kDeadline = 2.0;
  const std::string dir = TempDir("follow");
  RunRecorder rec(LiveInfo(kBucket, kDeadline));
  const std::vector<std::string> pods = {"echo-0", "echo-1", "echo-2"};
  for (const auto& p : pods) {
    rec.RecordPod({.name = p, .address = "", .zone = "", .created_s = 0});
    rec.UpdatePod(p, PodChange::kReady, 0);
  }
  report::FolderReader reader(dir, report::ReadMode::kFollow);
  std::priority_queue<Finish, std::vector<Finish>, std::greater<Finish>> in_flight;
  // Final rows seen so far, per strategy: a later snapshot must start with exactly these.
  std::map<std::string, std::vector<report::TimelineRow>> final_seen;
  std::map<std::pair<double, std::string>, uint64_t> provisional_seen;  // (t, strategy) → ok so far
  int next = 0;
  int snapshots = 0;
  for (int tick = 1; tick <= 12; ++tick) {
    const double now = tick * 1.0;
    // 200 RPCs/s per strategy: 10-16 ms each, one in 50 fails, and one (sent at 6.035 s) takes
    // 1.2 s, a straggler that ends after its bucket is final; recorded in order of their end, up
    // to `now`.
    for (; next * 0.005 < now; ++next) {
      const double sent = next * 0.005;
      const bool slow = next == 1207;
      const double latency_ms = slow ? 1200 : 10 + (next % 7);
      in_flight.push({sent + latency_ms / 1000, sent, pods[next % 3], next % 50 != 3, latency_ms});
    }
    while (!in_flight.empty() && in_flight.top().end_s <= now) {
      const Finish f = in_flight.top();
      in_flight.pop();
      rec.RecordRpc("round-robin", f.sent_s, f.pod, f.ok, f.latency_ms);
      rec.RecordRpc("least-request", f.sent_s, f.pod, f.ok, f.latency_ms * 2);
    }
    ASSERT_TRUE(rec.WriteReport(dir, /*complete=*/false, now).ok());
    auto changed = reader.Poll();
    ASSERT_TRUE(changed.ok()) << changed.status();
    auto r = reader.snapshot();
    ASSERT_NE(r, nullptr);
    ++snapshots;
    const std::string when = "at t=" + std::to_string(now);
    ExpectHeaderAndChartsAgree(*r, when);
    for (const auto& s : r->strategies) {
      ASSERT_TRUE(s.straggler_window_s.has_value()) << when;
      const double window = *s.straggler_window_s;
      // The window follows the latencies (p99.9 of 10-16 ms, or 20-32 ms): far below the 5 s
      // constant of old, and never beyond the deadline.
      EXPECT_LE(window, 0.2) << s.name << " " << when;
      EXPECT_GE(window, 0.05) << s.name << " " << when;
      // Lag of what is shown: the bucket of the newest finished RPCs is there.
      const double newest_sent = now - 0.016 * (s.name == "least-request" ? 2 : 1);
      EXPECT_GE(s.timeline.max_t_s, std::floor(newest_sent / kBucket) * kBucket) << s.name << " " << when;
      // Lag of what is final: at most the window plus one bucket.
      ASSERT_TRUE(s.timeline.provisional_from_s.has_value()) << when;
      const double final_s = *s.timeline.provisional_from_s;
      EXPECT_GE(final_s, now - window - kBucket - 1e-9) << s.name << " " << when;
      EXPECT_LE(final_s, now) << s.name << " " << when;
      // Rows: final ones first (before final_s), then the provisional ones (from final_s on).
      std::vector<report::TimelineRow> finals;
      s.timeline.ForEachRow([&](const report::TimelineRow& row) {
        if (row.provisional) {
          EXPECT_GE(row.t_s, final_s) << s.name << " " << when;
          auto& seen = provisional_seen[{row.t_s, s.name + "/" + s.timeline.pod_names[row.pod]}];
          EXPECT_GE(row.ok, seen) << "a provisional count only grows";
          seen = row.ok;
        } else {
          EXPECT_LT(row.t_s, final_s) << s.name << " " << when;
          EXPECT_TRUE(finals.empty() || finals.back().t_s <= row.t_s);
          finals.push_back(row);
        }
      });
      const auto& before = final_seen[s.name];
      ASSERT_GE(finals.size(), before.size()) << when;
      for (size_t i = 0; i < before.size(); ++i) {
        EXPECT_EQ(finals[i].t_s, before[i].t_s) << "final rows never change " << when;
        EXPECT_EQ(finals[i].ok, before[i].ok) << "final rows never change " << when;
        EXPECT_EQ(finals[i].failed, before[i].failed) << "final rows never change " << when;
      }
      for (const auto& row : finals) {
        // A provisional count seen earlier for a bucket is at most its final count.
        auto it = provisional_seen.find({row.t_s, s.name + "/" + s.timeline.pod_names[row.pod]});
        if (it != provisional_seen.end()) {
          EXPECT_LE(it->second, row.ok);
        }
      }
      final_seen[s.name] = finals;
    }
  }
  EXPECT_EQ(snapshots, 12);
  // The stragglers sent before t=10.8 have finished; the rest finish before the complete write.
  while (!in_flight.empty()) {
    const Finish f = in_flight.top();
    in_flight.pop();
    rec.RecordRpc("round-robin", f.sent_s, f.pod, f.ok, f.latency_ms);
    rec.RecordRpc("least-request", f.sent_s, f.pod, f.ok, f.latency_ms * 2);
  }
  ASSERT_TRUE(rec.WriteReport(dir, /*complete=*/true, 12.0).ok());
  ASSERT_TRUE(reader.Poll().ok());
  auto last = reader.snapshot();
  ASSERT_TRUE(last->complete);
  EXPECT_TRUE(last->warnings.empty()) << last->warnings.front();
  ExpectHeaderAndChartsAgree(*last, "complete");
  for (const auto& s : last->strategies) {
    EXPECT_FALSE(s.timeline.provisional_from_s.has_value()) << "a complete report is final";
    EXPECT_TRUE(s.provisional.empty());
    EXPECT_EQ(s.ok + s.failed, static_cast<uint64_t>(next));
    s.timeline.ForEachRow([&](const report::TimelineRow& row) { EXPECT_FALSE(row.provisional); });
  }
  fs::remove_all(dir);
}

TEST(LiveTimeline, StragglerWindowFollowsLatenciesBoundedByTheDeadline) {
  struct Case {
    double latency_ms;
    double deadline_s;
    double latency_scale;
    int rpcs;
    double want;
  } cases[] = {
      {100, 2, 1, 1000, 0.4},    // 4 × p99.9
      {1, 2, 1, 1000, 0.05},     // the floor: the time from an RPC's end to its record
      {900, 2, 1, 1000, 2.0},    // 3.6 s capped at the deadline
      {900, 0, 1, 1000, 3.6},    // deadline unknown: capped at 5 s only
      {5000, 0, 1, 1000, 5.0},
      {100, 20, 10, 1000, 4.0},  // a live run at 10x: latencies are wall time
      {0, 2, 1, 0, 2.0},         // nothing observed yet: the deadline
  };
  for (const Case& c : cases) {
    RunInfo info = LiveInfo(0.5, c.deadline_s);
    info.latency_scale = c.latency_scale;
    RunRecorder rec(info);
    for (int i = 0; i < c.rpcs; ++i) rec.RecordRpc("round-robin", i * 0.001, "echo-0", true, c.latency_ms);
    const auto r = rec.Snapshot(1.0, /*complete=*/false);
    ASSERT_TRUE(r.strategies[0].straggler_window_s.has_value());
    // The histogram's midpoints are within 1% of the latency.
    EXPECT_NEAR(*r.strategies[0].straggler_window_s, c.want, c.want * 0.011)
        << c.latency_ms << " ms, deadline " << c.deadline_s << " s, scale " << c.latency_scale;
  }
}

TEST(LiveTimeline, ReaderShowsTheCsvAsItsReportJsonCountedIt) {
  // The writer appends the CSV, then replaces report.json: a reader can poll in between and see
  // rows that its report.json does not count yet. They wait for the next report.json.
  const std::string dir = TempDir("race");
  RunRecorder rec(LiveInfo(0.5, 2.0));
  for (int i = 0; i < 400; ++i) rec.RecordRpc("round-robin", i * 0.01, "echo-" + std::to_string(i % 2), true, 5);
  ASSERT_TRUE(rec.WriteReport(dir, false, 4.0).ok());
  const fs::path json = fs::path(dir) / "report.json";
  const fs::path old_json = fs::path(dir) / "old.json";
  fs::copy_file(json, old_json);
  for (int i = 400; i < 800; ++i) rec.RecordRpc("round-robin", i * 0.01, "echo-" + std::to_string(i % 2), true, 5);
  ASSERT_TRUE(rec.WriteReport(dir, false, 8.0).ok());
  // The moment between the two files of the second write: new CSV rows, old report.json.
  fs::copy_file(old_json, json, fs::copy_options::overwrite_existing);
  report::FolderReader reader(dir, report::ReadMode::kFollow);
  ASSERT_TRUE(reader.Poll().ok());
  auto r = reader.snapshot();
  ExpectHeaderAndChartsAgree(*r, "old report.json, newer CSV");
  EXPECT_EQ(r->strategies[0].ok, 400u);
  // Then the second report.json: everything agrees again, with more rows.
  ASSERT_TRUE(rec.WriteReport(dir, false, 8.0).ok());
  ASSERT_TRUE(reader.Poll().ok());
  r = reader.snapshot();
  ExpectHeaderAndChartsAgree(*r, "new report.json");
  EXPECT_EQ(r->strategies[0].ok, 800u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace k8slb::sim
