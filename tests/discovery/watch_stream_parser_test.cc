#include "discovery/watch_stream_parser.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scripted_server.h"

namespace k8slb::discovery {
namespace {

using k8slb::testing::SliceJson;

std::string Event(const std::string& type, const std::string& name, uint64_t rv) {
  return absl::StrCat("{\"type\":\"", type, "\",\"object\":",
                      SliceJson(name, "web", rv, {k8slb::testing::Ep("10.0.0.1"), k8slb::testing::Ep("10.0.0.2", false)}),
                      "}");
}

std::string Bookmark(uint64_t rv) {
  return absl::StrCat(
      "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"EndpointSlice\",\"apiVersion\":"
      "\"discovery.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"",
      rv, "\",\"creationTimestamp\":null},\"addressType\":\"\",\"endpoints\":null,\"ports\":null}}");
}

// A comparable summary of what the handler saw.
std::string Summary(const absl::StatusOr<WatchEvent>& e) {
  if (!e.ok()) return absl::StrCat("error:", e.status().code() == absl::StatusCode::kDataLoss);
  return absl::StrCat(std::string(WatchEventTypeName(e->type)), "/", e->resource_version, "/",
                      e->slice.metadata.name, "/", e->slice.endpoints.size(), "/", e->status.code);
}

std::vector<std::string> ParseChunks(const std::vector<std::string>& chunks, bool finish = true,
                                     size_t max_line = kDefaultMaxLineBytes) {
  std::vector<std::string> seen;
  WatchStreamParser parser([&](absl::StatusOr<WatchEvent> e) { seen.push_back(Summary(e)); },
                           max_line);
  for (const auto& c : chunks) parser.Feed(c);
  if (finish) parser.Finish();
  return seen;
}

TEST(WatchStreamParser, EventSplitAcrossChunks) {
  std::string line = Event("ADDED", "web-a", 7) + "\n";
  std::vector<std::string> chunks;
  for (size_t i = 0; i < line.size(); i += 5) chunks.push_back(line.substr(i, 5));
  EXPECT_EQ(ParseChunks(chunks, /*finish=*/false),
            std::vector<std::string>{"ADDED/7/web-a/2/0"});
}

TEST(WatchStreamParser, SeveralEventsInOneChunkAndBlankHeartbeats) {
  std::string chunk = "\n" + Event("ADDED", "a", 1) + "\n\r\n  \n" + Event("MODIFIED", "a", 2) +
                      "\n" + Bookmark(5) + "\n" + Event("DELETED", "a", 6) + "\n\n";
  EXPECT_EQ(ParseChunks({chunk}),
            (std::vector<std::string>{"ADDED/1/a/2/0", "MODIFIED/2/a/2/0", "BOOKMARK/5//0/0",
                                      "DELETED/6/a/2/0"}));
}

TEST(WatchStreamParser, FinalLineWithoutNewlineNeedsFinish) {
  std::vector<std::string> seen;
  WatchStreamParser parser([&](absl::StatusOr<WatchEvent> e) { seen.push_back(Summary(e)); });
  parser.Feed(Event("ADDED", "a", 1) + "\n" + Event("ADDED", "b", 2));
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_GT(parser.buffered_bytes(), 0u);
  parser.Finish();
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED/1/a/2/0", "ADDED/2/b/2/0"}));
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(WatchStreamParser, GarbageIsReportedAndSkipped) {
  std::vector<std::string> messages;
  std::vector<std::string> seen;
  WatchStreamParser parser([&](absl::StatusOr<WatchEvent> e) {
    seen.push_back(Summary(e));
    if (!e.ok()) messages.push_back(std::string(e.status().message()));
  });
  parser.Feed("this is not json\n" + Event("ADDED", "a", 1) + "\n[1,2]\n{\"type\":\"ADDED\"}\n" +
              "{\"type\":\"WHAT\",\"object\":{}}\n" +
              "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"},\"endpoints\":7}}\n" +
              "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}\n" + Event("ADDED", "b", 3) +
              "\n");
  EXPECT_EQ(seen, (std::vector<std::string>{"error:1", "ADDED/1/a/2/0", "error:1", "error:1",
                                            "error:1", "error:1", "error:1", "ADDED/3/b/2/0"}));
  EXPECT_EQ(parser.errors(), 6u);
  ASSERT_EQ(messages.size(), 6u);
  EXPECT_NE(messages[0].find("not valid JSON: \"this is not json\""), std::string::npos)
      << messages[0];
  EXPECT_NE(messages[1].find("not a JSON object"), std::string::npos) << messages[1];
  EXPECT_NE(messages[2].find("no \"object\""), std::string::npos) << messages[2];
  EXPECT_NE(messages[3].find("unknown type \"WHAT\""), std::string::npos) << messages[3];
  EXPECT_NE(messages[4].find("invalid EndpointSlice"), std::string::npos) << messages[4];
  EXPECT_NE(messages[5].find("BOOKMARK event without metadata.resourceVersion"), std::string::npos);
}

TEST(WatchStreamParser, ErrorEventCarriesStatus) {
  auto seen = ParseChunks(
      {"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
       "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (5)\",\"reason\":"
       "\"Expired\",\"code\":410}}\n"});
  EXPECT_EQ(seen, std::vector<std::string>{"ERROR///0/410"});
  auto event = ParseWatchEvent(
      "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"message\":\"Too large resource "
      "version: 9, current: 3\",\"reason\":\"Timeout\",\"details\":{\"causes\":[{\"reason\":"
      "\"ResourceVersionTooLarge\"}],\"retryAfterSeconds\":1},\"code\":504}}");
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->status.code, 504);
  EXPECT_EQ(event->status.cause_reason, "ResourceVersionTooLarge");
  EXPECT_EQ(event->status.retry_after_seconds, 1);
}

TEST(WatchStreamParser, OversizedLineIsReportedOnceAndParsingContinues) {
  std::vector<std::string> messages;
  std::vector<std::string> seen;
  WatchStreamParser parser(
      [&](absl::StatusOr<WatchEvent> e) {
        seen.push_back(Summary(e));
        if (!e.ok()) messages.push_back(std::string(e.status().message()));
      },
      /*max_line_bytes=*/4096);
  std::string huge(10000, 'x');
  for (size_t i = 0; i < huge.size(); i += 1000) parser.Feed(huge.substr(i, 1000));
  EXPECT_LE(parser.buffered_bytes(), 4096u);
  parser.Feed("yyy\n" + Event("ADDED", "a", 1) + "\n");
  parser.Feed(std::string(5000, 'z') + "\n" + Event("ADDED", "b", 2) + "\n");
  EXPECT_EQ(seen, (std::vector<std::string>{"error:0", "ADDED/1/a/2/0", "error:0",
                                            "ADDED/2/b/2/0"}));
  EXPECT_NE(messages[0].find("exceeds the limit of 4096 bytes"), std::string::npos);
}

// A deletion needs only the key; the rest of the object may be broken.
TEST(WatchStreamParser, DeletedEventWithAnInvalidObjectStillCarriesItsKey) {
  auto deleted = ParseWatchEvent(
      R"({"type":"DELETED","object":{"metadata":{"name":"web-b","namespace":"team",)"
      R"("resourceVersion":"9"},"addressType":"bogus","endpoints":7}})");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->type, WatchEventType::kDeleted);
  EXPECT_EQ(deleted->slice.Key(), "team/web-b");
  EXPECT_EQ(deleted->resource_version, "9");
  EXPECT_NE(deleted->invalid_object.find("addressType"), std::string::npos) << deleted->invalid_object;
  // Without a name there is nothing to delete; ADDED/MODIFIED stay errors.
  EXPECT_FALSE(ParseWatchEvent(R"({"type":"DELETED","object":{"metadata":{},"addressType":"bogus"}})").ok());
  EXPECT_FALSE(ParseWatchEvent(
                   R"({"type":"MODIFIED","object":{"metadata":{"name":"web-b"},"addressType":"bogus"}})")
                   .ok());
  // A valid DELETED is not marked.
  auto fine = ParseWatchEvent(Event("DELETED", "a", 3));
  ASSERT_TRUE(fine.ok());
  EXPECT_TRUE(fine->invalid_object.empty());
}

TEST(WatchStreamParser, QuotesBadLinesOnlyAfterTheRedactorRanOnTheWholeLine) {
  std::vector<std::string> seen_texts;
  Redactor redact = [&](std::string_view text, size_t max_chars) {
    seen_texts.emplace_back(text);
    std::string out(text);
    for (size_t at; (at = out.find("SECRET-TOKEN")) != std::string::npos;) out.replace(at, 12, "<redacted>");
    return out.substr(0, max_chars);
  };
  const std::string line = std::string(90, 'y') + "SECRET-TOKEN{broken";
  auto e = ParseWatchEvent(line, redact);
  ASSERT_FALSE(e.ok());
  const std::string m(e.status().message());
  EXPECT_EQ(m.find("SECRET"), std::string::npos) << m;
  EXPECT_NE(m.find(std::string(90, 'y') + "<redac"), std::string::npos) << m;
  ASSERT_FALSE(seen_texts.empty());
  EXPECT_EQ(seen_texts.front(), line) << "the redactor sees the whole line, not the cut";
}

TEST(WatchStreamParser, NestingBeyondTheLimitIsAnErrorThatSaysSo) {
  auto e = ParseWatchEvent(std::string(100000, '['));
  ASSERT_FALSE(e.ok());
  EXPECT_NE(std::string(e.status().message()).find("nested deeper than 512 levels"), std::string::npos)
      << e.status();
}

TEST(ParseApiStatus, OnlyStatusObjects) {
  auto s = ParseApiStatus(
      "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
      "\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->code, 401);
  EXPECT_EQ(s->message, "Unauthorized");
  EXPECT_FALSE(ParseApiStatus("Too many requests, please try again later.\n").has_value());
  EXPECT_FALSE(ParseApiStatus("{\"kind\":\"EndpointSliceList\"}").has_value());
}

// Any split of a valid stream (with heartbeats and garbage lines) yields the same events as
// feeding it whole.
RC_GTEST_PROP(WatchStreamParserProperty, AnySplitYieldsTheSameEvents, ()) {
  const int n = *rc::gen::inRange(1, 12);
  std::string stream;
  uint64_t rv = 1;
  for (int i = 0; i < n; ++i) {
    const int kind = *rc::gen::inRange(0, 7);
    switch (kind) {
      case 0: stream += Event("ADDED", absl::StrCat("s", i), rv++) + "\n"; break;
      case 1: stream += Event("MODIFIED", absl::StrCat("s", i), rv++) + "\n"; break;
      case 2: stream += Event("DELETED", absl::StrCat("s", i), rv++) + "\n"; break;
      case 3: stream += Bookmark(rv++) + "\n"; break;
      case 4: stream += "\n"; break;
      case 5: stream += "{broken json\n"; break;
      default: stream += "\r\n"; break;
    }
  }
  if (*rc::gen::arbitrary<bool>()) stream += Event("ADDED", "last", rv);  // no final newline
  const auto whole = ParseChunks({stream});
  std::vector<size_t> cuts = *rc::gen::container<std::vector<size_t>>(
      rc::gen::inRange<size_t>(0, stream.size() + 1));
  std::sort(cuts.begin(), cuts.end());
  std::vector<std::string> chunks;
  size_t prev = 0;
  for (size_t c : cuts) {
    chunks.push_back(stream.substr(prev, c - prev));
    prev = c;
  }
  chunks.push_back(stream.substr(prev));
  RC_ASSERT(ParseChunks(chunks) == whole);
  // And byte by byte.
  std::vector<std::string> bytes;
  for (char c : stream) bytes.emplace_back(1, c);
  RC_ASSERT(ParseChunks(bytes) == whole);
}

}  // namespace
}  // namespace k8slb::discovery
