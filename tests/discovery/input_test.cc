// The shared validation of untrusted input (lib/src/input): depth-limited JSON and numeric
// flags. Each rule is checked at its edge (the last accepted value and the first refused one).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "input/bounded_json.h"
#include "input/numeric_flag.h"

namespace k8slb::input {
namespace {

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(BoundedJson, AcceptsUpToTheDepthLimitAndRefusesOneMore) {
  EXPECT_TRUE(ParseJson(Nested(512)).ok());
  auto deep = ParseJson(Nested(513));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().message(),
            "JSON nested deeper than 512 levels (arrays/objects); refusing to parse it");
  EXPECT_TRUE(ParseJson(Nested(3), JsonLimits{.max_depth = 3}).ok());
  EXPECT_FALSE(ParseJson(Nested(4), JsonLimits{.max_depth = 3}).ok());
  // Objects count as well as arrays.
  EXPECT_FALSE(ParseJson(R"({"a":{"b":[{"c":1}]}})", JsonLimits{.max_depth = 3}).ok());
  EXPECT_TRUE(ParseJson(R"({"a":{"b":[1]}})", JsonLimits{.max_depth = 3}).ok());
}

TEST(BoundedJson, AcceptsUpToTheValueLimitAndRefusesOneMore) {
  // [1,2,3] is four values: the array and three numbers.
  EXPECT_TRUE(ParseJson("[1,2,3]", JsonLimits{.max_values = 4}).ok());
  auto many = ParseJson("[1,2,3,4]", JsonLimits{.max_values = 4});
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.status().message(), "JSON holds more than 4 values; refusing to parse it");
  EXPECT_FALSE(ParseJson(R"({"a":{},"b":[]})", JsonLimits{.max_values = 2}).ok());
  EXPECT_TRUE(ParseJson(R"({"a":{},"b":[]})", JsonLimits{.max_values = 3}).ok()) << "keys do not count";
  std::string wide = "[";
  for (int i = 0; i < 2'000'000; ++i) wide += "0,";
  wide += "0]";
  EXPECT_FALSE(ParseJson(wide).ok()) << "the default bounds a document to 1,000,000 values";
  EXPECT_TRUE(ParseJson(wide, JsonLimits{.max_values = 0}).ok()) << "0: no limit";
}

TEST(BoundedJson, ParsesWhatNlohmannParses) {
  const std::string text =
      R"({"kind":"Status","code":410,"ratio":0.5,"big":18446744073709551615,"neg":-3,)"
      R"("list":[true,false,null,"s\u00e9"],"empty":{}})";
  auto ours = ParseJson(text);
  ASSERT_TRUE(ours.ok()) << ours.status();
  EXPECT_EQ(*ours, nlohmann::json::parse(text));
  EXPECT_EQ(ParseJson("  7 ")->get<int>(), 7);
}

TEST(BoundedJson, SyntaxErrorsNameThePositionButNeverQuoteTheInput) {
  auto bad = ParseJson(R"({"token":"tok-secret-123", oops})");
  ASSERT_FALSE(bad.ok());
  const std::string m(bad.status().message());
  EXPECT_EQ(m.rfind("invalid JSON: parse error at line 1, column ", 0), 0u) << m;
  EXPECT_EQ(m.find("tok-secret"), std::string::npos) << m;
  EXPECT_EQ(m.find("json.exception"), std::string::npos) << m;
  auto unterminated = ParseJson(R"(["tok-secret-123)");
  ASSERT_FALSE(unterminated.ok());
  EXPECT_EQ(std::string(unterminated.status().message()).find("tok-secret"), std::string::npos)
      << unterminated.status();
  EXPECT_FALSE(ParseJson("[1] [2]").ok()) << "trailing content is an error";
  EXPECT_FALSE(ParseJson("").ok());
}

TEST(BoundedJson, FilterDropsValuesAsNlohmannsCallbackDoes) {
  int items = 0;
  auto doc = ParseJson(R"({"items":[{"a":1},{"a":2},{"a":3}],"metadata":{"rv":"9"}})",
                       [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
                         if (depth == 2 && event == nlohmann::json::parse_event_t::object_end) {
                           ++items;
                           return false;
                         }
                         return true;
                       });
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(items, 3);
  EXPECT_EQ((*doc)["items"], nlohmann::json::array());
  EXPECT_EQ((*doc)["metadata"]["rv"], "9");
}

TEST(BoundedJson, DepthOfABuiltDocumentWithoutRecursion) {
  nlohmann::json deep = nlohmann::json::array();
  nlohmann::json* cur = &deep;
  for (int i = 1; i < 100000; ++i) {
    cur->push_back(nlohmann::json::array());
    cur = &cur->back();
  }
  EXPECT_EQ(JsonDepth(deep), 100000);
  EXPECT_EQ(JsonDepth(nlohmann::json(5)), 0);
  EXPECT_EQ(JsonDepth(nlohmann::json::parse(R"({"a":[1,{"b":{}}],"c":[]})")), 4);
  // Iterative destruction too (nlohmann ≥ 3.10), so the test itself ends cleanly.
}

TEST(NumericFlag, RealsMustBeFiniteDecimalNumbersInRange) {
  EXPECT_EQ(*ParseDoubleFlag("--duration", "2.5", 0, 10), 2.5);
  EXPECT_EQ(*ParseDoubleFlag("--duration", " 1e3 ", 0, 1e7), 1000.0);
  EXPECT_EQ(*ParseDoubleFlag("--duration", "10", 0, 10), 10.0);
  for (const char* bad : {"nan", "NaN", "inf", "-inf", "infinity", "0x10", "", "1,5", "ten", "1e999"}) {
    EXPECT_FALSE(ParseDoubleFlag("--duration", bad, 0, 1e7).ok()) << bad;
  }
  EXPECT_EQ(ParseDoubleFlag("--duration", "nan", 0, 1e7).status().message(),
            "--duration: \"nan\" is not a number");
  EXPECT_EQ(ParseDoubleFlag("--duration", "1e999", 0, 1e7).status().message(),
            "--duration: \"1e999\" is not a finite number");
  EXPECT_EQ(ParseDoubleFlag("--duration", "1e99", 0, 1e7).status().message(),
            "--duration: \"1e99\" is out of range; must be within [0, 10000000]");
  EXPECT_EQ(ParseDoubleFlag("--error-rate", "1.01", 0, 1).status().message(),
            "--error-rate: \"1.01\" is out of range; must be within [0, 1]");
  EXPECT_EQ(ParseDoubleFlag("", "-1", 0, 1).status().message(),
            "\"-1\" is out of range; must be within [0, 1]");
  EXPECT_TRUE(CheckDoubleFlag("--speed", 2, 0.01, 1000).ok());
  EXPECT_EQ(CheckDoubleFlag("--speed", INFINITY, 0.01, 1000).message(),
            "--speed: inf is not a finite number");
  EXPECT_FALSE(CheckDoubleFlag("--speed", NAN, 0.01, 1000).ok());
}

TEST(NumericFlag, IntegersRefuseFractionsExponentsAndOverflow) {
  EXPECT_EQ(*ParseIntFlag("--requests", "100", 0, 1'000'000'000), 100);
  EXPECT_EQ(*ParseIntFlag("--requests", "-5", -10, 10), -5);
  EXPECT_EQ(ParseIntFlag("--requests", "99999999999999999999", 0, 1'000'000'000).status().message(),
            "--requests: \"99999999999999999999\" is out of range; must be within [0, 1000000000]");
  EXPECT_EQ(ParseIntFlag("--requests", "1e3", 0, 1000).status().message(),
            "--requests: \"1e3\" is not an integer");
  EXPECT_FALSE(ParseIntFlag("--requests", "2.0", 0, 1000).ok());
  EXPECT_FALSE(ParseIntFlag("--requests", "", 0, 1000).ok());
  EXPECT_FALSE(ParseIntFlag("--requests", "1001", 0, 1000).ok());
  EXPECT_EQ(*ParseUintFlag("--seed", "18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(ParseUintFlag("--seed", "18446744073709551616").ok());
  EXPECT_FALSE(ParseUintFlag("--seed", "-1").ok());
}

TEST(NumericFlag, HostPortRefusesPortsOutside16Bits) {
  auto v4 = ParseHostPortFlag("--listen", "127.0.0.1:50051");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 50051);
  auto v6 = ParseHostPortFlag("--listen", "[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  EXPECT_EQ(ParseHostPortFlag("--listen", ":65535")->port, 65535);
  EXPECT_EQ(ParseHostPortFlag("--listen", "127.0.0.1:99999").status().message(),
            "--listen: the port in \"127.0.0.1:99999\" must be within [0, 65535]");
  EXPECT_EQ(ParseHostPortFlag("--listen", "127.0.0.1:4294967297").status().message(),
            "--listen: the port in \"127.0.0.1:4294967297\" must be a number within [0, 65535]");
  EXPECT_FALSE(ParseHostPortFlag("--listen", "127.0.0.1:-1").ok());
  EXPECT_FALSE(ParseHostPortFlag("--listen", "127.0.0.1").ok());
  EXPECT_FALSE(ParseHostPortFlag("--listen", "::1:80").ok());
  EXPECT_FALSE(ParseHostPortFlag("--listen", "127.0.0.1:0", /*allow_zero_port=*/false).ok());
}

}  // namespace
}  // namespace k8slb::input
