// The report library: the one rule (Validate) and the report.json reader and writer built on
// it, with every refusal naming its field; the timeline CSV format; report folders; the
// strategy-name list.
#include <sys/stat.h>
#include <sys/types.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "report/folder.h"
#include "report/json.h"
#include "report/schema.h"
#include "report/timeline_csv.h"
#include "report_test_util.h"

namespace k8slb::report {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::SmallReport;
using testing::TempDir;

std::string Message(const absl::Status& st) { return std::string(st.message()); }

TEST(Schema, SmallReportIsValidAndRoundTripsByteForByte) {
  const Report r = SmallReport();
  ASSERT_TRUE(Validate(r).ok()) << Validate(r);
  const std::string json = ToJson(r);
  auto back = ParseJson(json, "r.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ToJson(*back), json);
  EXPECT_EQ(back->environment.at("pod_network"), "loopback");
  EXPECT_EQ(back->strategies[1].new_pod_first_rpc->never, 1u);
  EXPECT_FALSE(back->strategies[1].imbalance.has_value());
  EXPECT_FALSE(back->pods[0].usable[0].second.has_value());
}

TEST(Schema, StrategyNamesAreOneList) {
  EXPECT_TRUE(IsKnownStrategy("least-request"));
  EXPECT_FALSE(IsKnownStrategy("least_request"));
  EXPECT_EQ(StrategyIndex("clusterip"), 0);
  EXPECT_EQ(StrategyIndex("least-request"), 3);
  EXPECT_EQ(StrategyIndex("nope"), -1);
  EXPECT_EQ(KnownStrategiesList(),
            "clusterip, headless-dns, round-robin, least-request, xds, grpc-dns, peak-ewma, latency-ewma, orca-weighted");
  EXPECT_TRUE(IsLiveOnlyStrategy("xds"));
  EXPECT_TRUE(IsLiveOnlyStrategy("grpc-dns"));
  EXPECT_FALSE(IsLiveOnlyStrategy("round-robin"));
  EXPECT_TRUE(IsOptInStrategy("peak-ewma"));
  EXPECT_FALSE(IsOptInStrategy("latency-ewma"));
  EXPECT_TRUE(IsOptInStrategy("orca-weighted"));
  EXPECT_FALSE(IsOptInStrategy("least-request"));
  EXPECT_EQ(DefaultStrategies(), (std::vector<std::string>{"clusterip", "headless-dns", "round-robin",
                                                           "least-request", "latency-ewma"}));
  EXPECT_EQ(TimelineFileName("round-robin"), "timeline-round-robin.csv");
}

// One bad edit of a valid report.json and the message it must give.
struct BadCase {
  const char* name;
  std::function<void(Json&)> edit;
  const char* message;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadJson : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadJson, NamesTheField) {
  Json j = Json::parse(ToJson(SmallReport()));
  GetParam().edit(j);
  auto r = ParseJson(j.dump(1), "r.json");
  ASSERT_FALSE(r.ok()) << "accepted: " << j.dump();
  EXPECT_EQ(Message(r.status()), std::string("r.json: ") + GetParam().message);
}

const uint64_t k2p53 = uint64_t{1} << 53;

INSTANTIATE_TEST_SUITE_P(
    Cases, BadJson,
    ::testing::Values(
        // The crashes of a corrupt report in the dashboard, now refused by the reader.
        BadCase{"HugeDuration", [](Json& j) { j["duration_s"] = 1e308; },
                "duration_s: must be between 0 and 1e+06 s, got 1e+308"},
        BadCase{"TinyBucket", [](Json& j) { j["timeline_bucket_s"] = 1e-300; },
                "timeline_bucket_s: must be between 0.001 and 3600 s, got 1e-300"},
        BadCase{"BillionSeconds", [](Json& j) { j["duration_s"] = 1e9; },
                "duration_s: must be between 0 and 1e+06 s, got 1e+09"},
        BadCase{"TooManyBuckets",
                [](Json& j) {
                  j["duration_s"] = 2000;
                  j["timeline_bucket_s"] = 0.01;
                },
                "duration_s: 2000 s in buckets of 0.01 s (timeline_bucket_s) is 2e+05 buckets, more than "
                "the limit of 100000"},
        BadCase{"NegativeDuration", [](Json& j) { j["duration_s"] = -1; },
                "duration_s: must be between 0 and 1e+06 s, got -1"},
        BadCase{"ZeroBucket", [](Json& j) { j["timeline_bucket_s"] = 0; },
                "timeline_bucket_s: must be between 0.001 and 3600 s, got 0"},
        BadCase{"EventBeyondHorizon", [](Json& j) { j["events"][0]["t_s"] = 2e5; },
                "events[0].t_s: 200000 s is beyond the report's time limit of 100000 s"},
        BadCase{"NegativeCreated", [](Json& j) { j["pods"][2]["created_s"] = -3; },
                "pods[2].created_s: must not be negative, got -3"},
        BadCase{"UsableBackwards", [](Json& j) { j["pods"][1]["usable"][0] = {4.0, 1.0}; },
                "pods[1].usable[0]: ends (1 s) before it starts (4 s)"},
        BadCase{"UsableNotAPair", [](Json& j) { j["pods"][1]["usable"][0] = {4.0}; },
                "pods[1].usable[0]: expected a [start, end or null] pair, got [4.0]"},
        BadCase{"DuplicatePod", [](Json& j) { j["pods"][1]["name"] = "echo-0"; },
                "pods[1].name: pod \"echo-0\" appears twice"},
        BadCase{"PodNameWithComma", [](Json& j) { j["pods"][0]["name"] = "a,b"; },
                "pods[0].name: pod name \"a,b\" contains a comma, quote or line break"},
        BadCase{"Format2", [](Json& j) { j["format"] = 2; },
                "format: unsupported format 2 (this reader reads format 1)"},
        BadCase{"Mode", [](Json& j) { j["mode"] = "fast"; }, "mode: expected \"virtual\" or \"live\", got \"fast\""},
        BadCase{"MissingSeed", [](Json& j) { j.erase("seed"); }, "seed: missing (a required field)"},
        BadCase{"MissingP999", [](Json& j) { j["strategies"][0]["latency_ms"].erase("p999"); },
                "strategies[0].latency_ms.p999: missing (a required field)"},
        BadCase{"NullP999", [](Json& j) { j["strategies"][0]["latency_ms"]["p999"] = nullptr; },
                "strategies[0].latency_ms.p999: expected a number, got null"},
        BadCase{"NegativeLatency", [](Json& j) { j["strategies"][1]["latency_ms"]["p50"] = -0.5; },
                "strategies[1].latency_ms.p50: must be a finite non-negative number, got -0.5"},
        BadCase{"NegativeCount", [](Json& j) { j["strategies"][0]["rpcs"]["ok"] = -1; },
                "strategies[0].rpcs.ok: expected a non-negative integer, got -1"},
        BadCase{"FractionalCount", [](Json& j) { j["strategies"][0]["rpcs"]["failed"] = 0.5; },
                "strategies[0].rpcs.failed: expected a non-negative integer, got 0.5"},
        BadCase{"CountBeyond2p53", [](Json& j) { j["strategies"][0]["rpcs"]["ok"] = k2p53 + 1; },
                "strategies[0].rpcs.ok: 9007199254740993 is beyond the count limit of 2^53"},
        BadCase{"CountsAddUpBeyond2p53",
                [](Json& j) {
                  j["strategies"][1]["per_pod"]["echo-1"] = k2p53;
                  j["strategies"][1]["per_pod"]["echo-2"] = k2p53;
                },
                "strategies[1].per_pod: the counts add up to more than 2^53"},
        BadCase{"PodsUsedBeyondPerPod", [](Json& j) { j["strategies"][1]["pods_used"] = 4; },
                "strategies[1].pods_used: must be between 0 and the number of per_pod entries (3), got 4"},
        BadCase{"ReactionNeverMissing",
                [](Json& j) { j["strategies"][0]["reaction_s"]["new_pod_first_rpc"].erase("never"); },
                "strategies[0].reaction_s.new_pod_first_rpc.never: missing (a required field)"},
        BadCase{"DuplicateStrategy", [](Json& j) { j["strategies"][1]["name"] = "least-request"; },
                "strategies[1].name: strategy \"least-request\" appears twice"},
        BadCase{"CsvOutsideTheFolder", [](Json& j) { j["strategies"][0]["timeline_csv"] = "../x.csv"; },
                "strategies[0].timeline_csv: must be a file name inside the report folder, got \"../x.csv\""},
        BadCase{"EnvironmentNotStrings", [](Json& j) { j["environment"]["pods"] = 3; },
                "environment.pods: expected a string, got 3"},
        BadCase{"StrategiesNotAnArray", [](Json& j) { j["strategies"] = "all"; },
                "strategies: expected an array, got \"all\""}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

TEST(Json, BytesThatAreNotUtf8AreWrittenAsReplacementCharacters) {
  Report r = SmallReport();
  r.events[0].detail = "evict \xC5";  // a truncated two-byte sequence
  const std::string json = ToJson(r);
  auto back = ParseJson(json, "r.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->events[0].detail, "evict \xEF\xBF\xBD");
}

TEST(Json, UnknownFieldsAreIgnoredAndOptionalOnesDefault) {
  Json j = Json::parse(ToJson(SmallReport()));
  j["future"] = {{"nested", {1, 2, 3}}};
  j["strategies"][0]["also_future"] = true;
  j.erase("scenario_file");
  j.erase("environment");
  j["pods"][0].erase("usable");
  j["pods"][0].erase("zone");
  j["strategies"][0].erase("per_pod_failed");
  j["strategies"][0].erase("timeline_csv");
  j["strategies"][0].erase("imbalance");
  j["strategies"][0].erase("reaction_s");
  auto r = ParseJson(j.dump(), "r.json");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->scenario_file, "");
  EXPECT_TRUE(r->pods[0].usable.empty());
  EXPECT_EQ(r->strategies[0].timeline_csv, "timeline-least-request.csv");
  EXPECT_FALSE(r->strategies[0].new_pod_first_rpc.has_value());
}

TEST(Json, NumbersTooLargeForADoubleAreNamed) {
  std::string text = ToJson(SmallReport());
  const std::string from = "\"duration_s\": 10.0";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "\"duration_s\": 1e400");
  auto r = ParseJson(text, "r.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Message(r.status()), "r.json: invalid JSON: number overflow parsing '1e400'");
}

TEST(Json, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  auto r = ParseJson(deep, "r.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Message(r.status()), "r.json: JSON nested deeper than 32 levels (arrays/objects); refusing to parse it");
  // Brackets inside strings do not count.
  Json j = Json::parse(ToJson(SmallReport()));
  j["events"][0]["detail"] = std::string(100, '[');
  EXPECT_TRUE(ParseJson(j.dump(), "r.json").ok());
}

TEST(Json, InvalidJsonNamesLineAndColumn) {
  auto r = ParseJson("{\n  \"format\": 1,\n  \"mode\": virtual\n}", "r.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Message(r.status()).rfind("r.json: invalid JSON: parse error at line 3, column 11", 0), 0u)
      << r.status();
  EXPECT_EQ(Message(ParseJson("[]", "r.json").status()), "r.json: (top level): expected an object, got []");
}

TEST(Json, TooLargeIsRefusedUnread) {
  const std::string big(kMaxJsonBytes + 1, ' ');
  auto r = ParseJson(big, "r.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Message(r.status()), "r.json: too large (67108865 bytes; the limit is 67108864)");
}

TEST(Json, LoadJsonRefusesWhatIsNotARegularFile) {
  TempDir dir;
  const fs::path fifo = dir.path() / "report.json";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto r = LoadJson(dir.path());  // would block forever if it opened the FIFO
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Message(r.status()), fifo.string() + ": not a regular file");
  EXPECT_EQ(Message(LoadJson("/dev/zero").status()), "/dev/zero: not a regular file");
  EXPECT_EQ(LoadJson(dir.path() / "nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(Folder, WriterRefusesAnInvalidReportAndWritesNothing) {
  TempDir dir;
  Report r = SmallReport();
  r.duration_s = std::numeric_limits<double>::infinity();
  const absl::Status st = WriteReportJson(dir.path(), r);
  EXPECT_EQ(Message(st), "refusing to write an invalid report: duration_s: must be between 0 and 1e+06 s, got inf");
  EXPECT_FALSE(fs::exists(dir.path() / "report.json"));
  r = SmallReport();
  ASSERT_TRUE(WriteReportJson(dir.path(), r).ok());
  EXPECT_FALSE(fs::exists(dir.path() / "report.json.tmp"));
  auto back = LoadJson(dir.path());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ToJson(*back), ToJson(r));
}

TEST(Folder, LoadFolderReadsJsonAndTimelines) {
  TempDir dir;
  const Report r = SmallReport();
  ASSERT_TRUE(WriteReportJson(dir.path(), r).ok());
  std::string lr(kTimelineHeader);
  lr += "\n";
  AppendTimelineRow(&lr, 0, "echo-0", 120, 0, 1.0, 2.0);
  AppendTimelineRow(&lr, 1, "echo-1", 60, 0, 1.0, 2.0);
  AppendTimelineRow(&lr, 2, "echo-2", 120, 0, 1.0, 2.0);
  AppendTimelineRow(&lr, 3, std::string(kNoPod), 0, 2, NAN, NAN);
  ASSERT_TRUE(AppendToFile(dir.path() / "timeline-least-request.csv", lr, true).ok());
  std::string ci(kTimelineHeader);
  ci += "\n";
  AppendTimelineRow(&ci, 0.5, "echo-0", 300, 0, 1.0, 2.0);
  ASSERT_TRUE(AppendToFile(dir.path() / "timeline-clusterip.csv", ci, true).ok());
  auto folder = LoadFolder(dir.path());
  ASSERT_TRUE(folder.ok()) << folder.status();
  const Timeline& tl = (*folder)->strategies[0].timeline;
  EXPECT_EQ(tl.row_count, 4u);
  EXPECT_EQ(tl.total, 302u);
  EXPECT_EQ(tl.pod_names.back(), "(none)");
  EXPECT_TRUE((*folder)->warnings.empty()) << (*folder)->warnings.front();
}

TEST(TimelineCsv, WriterFormat) {
  std::string out;
  AppendTimelineRow(&out, 12.5, "echo-3", 210, 1, 1.23456, 9.87654);
  AppendTimelineRow(&out, 0, "(none)", 0, 4, NAN, NAN);
  EXPECT_EQ(out, "12.5,echo-3,210,1,1.235,9.877\n0,(none),0,4,,\n");
}

absl::Status FeedAll(TimelineCsvReader& r, const std::string& text) {
  size_t used = 0;
  return r.Feed(text, true, &used);
}

TEST(TimelineCsv, RowsBeyondTheLimitsNameTheirLine) {
  TimelineCsvReader far("t.csv", 100);
  EXPECT_EQ(Message(FeedAll(far, "t_s,pod,ok,failed,p50_ms,p99_ms\n0,a,1,0,1,2\n101,a,1,0,1,2\n")),
            "t.csv:3: t_s 101 s is beyond the report's time limit of 100 s");
  EXPECT_EQ(far.timeline().row_count, 1u);  // the good row before it is kept
  TimelineCsvReader sum("t.csv", 100);
  EXPECT_EQ(Message(FeedAll(sum, "t_s,pod,ok,failed,p50_ms,p99_ms\n0,a,9007199254740992,0,1,2\n1,a,1,0,1,2\n")),
            "t.csv:3: the counts of the timeline add up to more than 2^53");
  TimelineCsvReader big("t.csv", 100);
  EXPECT_EQ(Message(FeedAll(big, "t_s,pod,ok,failed,p50_ms,p99_ms\n0,a,9007199254740993,0,1,2\n")),
            "t.csv:2: field \"ok\" is not a non-negative integer up to 2^53: \"9007199254740993\"");
  TimelineCsvReader nan("t.csv", 100);
  EXPECT_EQ(Message(FeedAll(nan, "t_s,pod,ok,failed,p50_ms,p99_ms\nnan,a,1,0,1,2\n")),
            "t.csv:2: field \"t_s\" is not a non-negative number: \"nan\"");
  TimelineCsvReader lat("t.csv", 100);
  EXPECT_EQ(Message(FeedAll(lat, "t_s,pod,ok,failed,p50_ms,p99_ms\n0,a,1,0,-1,2\n")),
            "t.csv:2: field \"p50_ms\" is not empty or a non-negative number: \"-1\"");
}

TEST(TimelineCsv, AnEndlessLineIsRefusedNotBuffered) {
  TimelineCsvReader r("t.csv", 100);
  size_t used = 0;
  const std::string line = "t_s,pod,ok,failed,p50_ms,p99_ms\n" + std::string(kMaxTimelineLine + 1, '9');
  const absl::Status st = r.Feed(line, /*final=*/false, &used);
  EXPECT_EQ(Message(st), "t.csv:2: line longer than 4096 bytes");
  EXPECT_EQ(used, kTimelineHeader.size() + 1);  // the header line only
}

TEST(TimelineCsv, HalfARowWaitsUnlessFinal) {
  TimelineCsvReader r("t.csv", 100);
  size_t used = 0;
  const std::string text = "t_s,pod,ok,failed,p50_ms,p99_ms\n0,a,1,0,1,2\n0.5,a,2";
  ASSERT_TRUE(r.Feed(text, false, &used).ok());
  EXPECT_EQ(used, text.size() - 7);
  EXPECT_EQ(r.timeline().row_count, 1u);
  // The caller feeds again from where the reader stopped.
  const std::string rest = text.substr(used) + ",0,1,2\n";
  ASSERT_TRUE(r.Feed(rest, true, &used).ok());
  EXPECT_EQ(used, rest.size());
  EXPECT_EQ(r.timeline().row_count, 2u);
  EXPECT_EQ(r.timeline().total, 3u);
}

}  // namespace
}  // namespace k8slb::report
