#include "discovery/watch_support.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace k8slb::discovery {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesToMaxWithJitterAndResetsAfterHealthyPeriod) {
  auto clock = std::make_shared<ManualClock>(0);
  // Scripted randomness: Uniform(400) of 0 → factor 0.8; of ~max → ~1.2.
  Backoff b(milliseconds(800), milliseconds(30000), milliseconds(120000),
            MakeScriptedRandom({0}), clock);
  std::vector<int64_t> delays;
  for (int i = 0; i < 8; ++i) {
    delays.push_back(b.NextDelay().count());
    clock->AdvanceNanos(1'000'000'000);  // failures 1 s apart: not healthy
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{640, 1280, 2560, 5120, 10240, 20480, 24000, 24000}));
  // Healthy for longer than reset_after: back to the initial step.
  clock->AdvanceNanos(121'000'000'000);
  EXPECT_EQ(b.NextDelay().count(), 640);
  EXPECT_EQ(b.current_step().count(), 1600);
}

TEST(Backoff, JitterStaysWithinBoundsAndNeverExceedsMax) {
  auto clock = std::make_shared<ManualClock>(0);
  Backoff b(milliseconds(800), milliseconds(30000), milliseconds(120000),
            MakeScriptedRandom({~uint64_t{0}}), clock);
  EXPECT_EQ(b.NextDelay().count(), 959);  // 800 * 1.199
  for (int i = 0; i < 10; ++i) EXPECT_LE(b.NextDelay().count(), 30000);
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
