// The internal utility target's one copy of SplitMix64, FNV-1a and the string_view bridge, checked
// against published reference values (Vigna's splitmix64.c; the FNV test suite at
// http://www.isthe.com/chongo/tech/comp/fnv/), so a drifted constant fails here.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "util/fnv1a.h"
#include "util/splitmix64.h"
#include "util/string_view.h"

namespace k8slb::util {
namespace {

TEST(SplitMix64Test, MatchesTheReferenceSequence) {
  SplitMix64 g(0);
  EXPECT_EQ(g.Next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(g.Next(), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(g.Next(), 0x06c45d188009454fULL);
  // The mix alone is the output for state = seed + gamma.
  EXPECT_EQ(SplitMix64Mix(kSplitMix64Gamma), 0xe220a8397b1dcdafULL);
}

TEST(SplitMix64Test, BelowAndUniformStayInRange) {
  SplitMix64 g(42);
  for (int i = 0; i < 10000; ++i) {
    EXPECT_LT(g.Below(7), 7u);
    double u = g.Uniform01();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
  EXPECT_EQ(SplitMix64(5).Below(1), 0u);
}

TEST(Fnv1a64Test, MatchesTheReferenceValues) {
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
  // Bytes above 0x7f hash as unsigned.
  EXPECT_EQ(Fnv1a64(std::string_view("\xff", 1)), (kFnv1a64Offset ^ 0xffULL) * kFnv1a64Prime);
  static_assert(Fnv1a64("a") == 0xaf63dc4c8601ec8cULL, "usable in constant expressions");
}

TEST(StringViewBridgeTest, RoundTripsWithoutCopying) {
  std::string s = "k8slb";
  absl::string_view a = AbslView(s);
  EXPECT_EQ(a.data(), s.data());
  EXPECT_EQ(a.size(), s.size());
  std::string_view back = StdView(a);
  EXPECT_EQ(back.data(), s.data());
  EXPECT_EQ(absl::StrCat(AbslView(std::string_view("x")), "y"), "xy");
}

}  // namespace
}  // namespace k8slb::util
