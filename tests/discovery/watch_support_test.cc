#include "discovery/watch_support.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "discovery/files.h"
#include "k8slb/discovery.h"

namespace k8slb::discovery {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesToTheCapAndResetsAfterAHealthyPeriod) {
  auto clock = std::make_shared<ManualClock>(0);
  // Scripted randomness: Uniform(1001) of 0 → u = 0 → the full step.
  Backoff b(milliseconds(250), milliseconds(1600), 0.5, milliseconds(120000),
            MakeScriptedRandom({0}), clock);
  std::vector<int64_t> delays;
  for (int i = 0; i < 7; ++i) {
    delays.push_back(b.NextDelay().count());
    clock->AdvanceNanos(1'000'000'000);  // failures 1 s apart: not healthy
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{250, 500, 1000, 1600, 1600, 1600, 1600}));
  // Healthy for longer than reset_after: back to the initial step.
  clock->AdvanceNanos(121'000'000'000);
  EXPECT_EQ(b.NextDelay().count(), 250);
  EXPECT_EQ(b.current_step().count(), 500);
}

TEST(Backoff, JitterTakesAtMostItsShareOffTheStep) {
  auto clock = std::make_shared<ManualClock>(0);
  // ~0 → Uniform(1001) = 1000 → u = 1: the shortest delay, (1 - jitter) · step.
  Backoff half(milliseconds(250), milliseconds(1600), 0.5, milliseconds(120000),
               MakeScriptedRandom({~uint64_t{0}}), clock);
  std::vector<int64_t> delays;
  for (int i = 0; i < 5; ++i) delays.push_back(half.NextDelay().count());
  EXPECT_EQ(delays, (std::vector<int64_t>{125, 250, 500, 800, 800}));
  Backoff full(milliseconds(1000), milliseconds(1000), 1.0, milliseconds(120000),
               MakeScriptedRandom({~uint64_t{0}}), clock);
  EXPECT_EQ(full.NextDelay().count(), 0);  // full jitter reaches 0
}

// The rule behind the defaults: however long an outage lasts, a client sleeps at most
// backoff_max before its next attempt, so it is back within that (plus one request) after the
// server returns; and during the outage it sends no more than one request per second on
// average after the first 10 s. client-go's 0.8 s → 30 s would sleep up to 30 s.
TEST(Backoff, DefaultsBoundRecoveryAndRequestRateOverAnHourLongOutage) {
  const DiscoveryOptions defaults;
  auto clock = std::make_shared<ManualClock>(0);
  Backoff b(defaults.backoff_initial, defaults.backoff_max, defaults.backoff_jitter,
            defaults.backoff_reset_after, MakeSeededRandom(42), clock);
  int64_t now_ms = 0, longest_ms = 0, requests_after_10s = 0;
  while (now_ms < 3'600'000) {
    const int64_t d = b.NextDelay().count();
    longest_ms = std::max(longest_ms, d);
    clock->AdvanceNanos(d * 1'000'000);
    now_ms += d;
    if (now_ms > 10'000) ++requests_after_10s;
  }
  EXPECT_LE(longest_ms, 1600) << "a client must be back within 2 s of the server";
  const double rate = static_cast<double>(requests_after_10s) / 3590.0;
  EXPECT_LE(rate, 1.0) << "requests per second during the outage";
  EXPECT_GE(rate, 0.5);
}

TEST(TokenSource, RereadsAtMostEveryPeriodAndOnForce) {
  auto clock = std::make_shared<ManualClock>(0);
  std::string dir = std::filesystem::temp_directory_path() / "k8slb-token-XXXXXX";
  dir = mkdtemp(dir.data());
  std::string file = dir + "/token";
  std::ofstream(file) << "tok-one\n";
  TokenSource t("", file, std::chrono::seconds(60), clock);
  EXPECT_EQ(t.Get(), "tok-one");
  std::ofstream(file) << "tok-two";
  clock->AdvanceNanos(59'000'000'000);
  EXPECT_EQ(t.Get(), "tok-one");  // within the period: cached
  EXPECT_EQ(t.reads(), 1u);
  clock->AdvanceNanos(1'000'000'000);
  EXPECT_EQ(t.Get(), "tok-two");
  std::ofstream(file) << "tok-three";
  ASSERT_TRUE(t.ForceReload().ok());  // a 401 re-reads at once
  EXPECT_EQ(t.Get(), "tok-three");
  std::filesystem::remove(file);
  EXPECT_FALSE(t.ForceReload().ok());
  EXPECT_EQ(t.Get(), "tok-three");  // a failed re-read keeps the last token
  EXPECT_EQ(t.Redact("Bearer tok-three, was tok-two"), "Bearer <redacted>, was <redacted>");
  std::filesystem::remove_all(dir);
}

// A token that straddles the cut of a message leaves no fragment: redaction runs on the whole
// text first.
TEST(TokenSource, RedactedPrefixRemovesATokenThatStraddlesTheCut) {
  TokenSource t("tok-0123456789abcdef", "", std::chrono::seconds(60), MakeSteadyClock());
  const std::string body = std::string(195, 'x') + "tok-0123456789abcdef and more";
  const std::string cut = t.RedactedPrefix(body, 200);
  EXPECT_LE(cut.size(), 200u);
  EXPECT_EQ(cut.find("tok-"), std::string::npos) << cut;
  EXPECT_EQ(cut, std::string(195, 'x') + "<reda");
  EXPECT_EQ(t.RedactedPrefix("no secret here", 6), "no sec");
}

std::string MakeTempDir() {
  std::string dir = std::filesystem::temp_directory_path() / "k8slb-token-XXXXXX";
  return mkdtemp(dir.data());
}

// /dev/zero used to end in std::bad_alloc (the file was read whole), a FIFO blocked the watcher
// thread for good.
TEST(TokenSource, RefusesDevicesFifosAndHugeFilesWithoutBlocking) {
  auto clock = std::make_shared<ManualClock>(0);
  TokenSource zero("", "/dev/zero", std::chrono::seconds(60), clock);
  absl::Status s = zero.ForceReload();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("/dev/zero is not a regular file (a character device)"),
            std::string::npos)
      << s;
  const std::string dir = MakeTempDir();
  const std::string fifo = dir + "/token";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  TokenSource pipe("", fifo, std::chrono::seconds(60), clock);
  s = pipe.ForceReload();  // returns at once: no writer is needed to refuse a FIFO
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("is not a regular file (a FIFO)"), std::string::npos) << s;
  std::filesystem::remove(fifo);
  std::ofstream(fifo) << std::string(kMaxTokenFileBytes + 1, 'a');
  TokenSource huge("", fifo, std::chrono::seconds(60), clock);
  s = huge.ForceReload();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("is larger than 65536 bytes"), std::string::npos) << s;
  std::filesystem::remove_all(dir);
}

TEST(Messages, UnauthorizedAndForbiddenAreExact) {
  EXPECT_EQ(UnauthorizedMessage("watch", "default", "/sa/token", true),
            "401 Unauthorized: the API server refused to watch endpointslices in namespace "
            "\"default\": the bearer token from /sa/token was rejected, also after re-reading the "
            "file; check that the service account token is mounted and not expired; retrying "
            "with backoff");
  const std::string forbidden = ForbiddenMessage("list", "team-a", "User \"x\" cannot list");
  EXPECT_EQ(forbidden.rfind("403 Forbidden: missing permission to list resource "
                            "\"endpointslices\" in API group \"discovery.k8s.io\" in namespace "
                            "\"team-a\" (server: User \"x\" cannot list)",
                            0),
            0u);
  EXPECT_NE(forbidden.find("kind: Role, metadata: {name: k8slb-endpointslice-reader, namespace: "
                           "team-a}, rules: [{apiGroups: [discovery.k8s.io], resources: "
                           "[endpointslices], verbs: [list, watch]}]"),
            std::string::npos);
  EXPECT_NE(forbidden.find("kubectl create role k8slb-endpointslice-reader -n team-a "
                           "--verb=list,watch --resource=endpointslices.discovery.k8s.io"),
            std::string::npos);
}

}  // namespace
}  // namespace k8slb::discovery
