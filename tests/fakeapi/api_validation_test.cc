// The API machinery's validators (fakeapi/api): Go-compatible address parsing and ranges, the
// apimachinery name/label messages, and EndpointSlice validation. The exact 422 bodies are also
// compared against the recorded real server by tests/fidelity; these cases pin the rules that the
// corpus shows only once or not at all.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakeapi/api/field_error.h"
#include "fakeapi/api/validation.h"

namespace k8slb::fakeapi::api {
namespace {

using Json = nlohmann::json;

Json Slice(const std::string& type, const Json& addresses) {
  return Json{{"metadata", {{"name", "s"}, {"namespace", "default"}}},
              {"addressType", type},
              {"endpoints", Json::array({{{"addresses", addresses}}})}};
}

std::vector<std::string> Messages(const FieldErrorList& errors) {
  std::vector<std::string> out;
  for (const FieldError& e : errors) out.push_back(e.Message());
  return out;
}

TEST(ParseIpSloppy, ReadsAsGoDoes) {
  EXPECT_TRUE(ParseIpSloppy("198.18.1.1")->is_v4);
  EXPECT_TRUE(ParseIpSloppy("198.018.001.001"));  // leading zeros are decimal, not refused
  EXPECT_EQ(ParseIpSloppy("010.0.0.1")->bytes[12], 10);
  EXPECT_FALSE(ParseIpSloppy("198.18.1"));
  EXPECT_FALSE(ParseIpSloppy("198.18.1.256"));
  EXPECT_FALSE(ParseIpSloppy("198.18.1.1/32"));
  EXPECT_FALSE(ParseIpSloppy("1.2.3.4:80"));
  EXPECT_FALSE(ParseIpSloppy("not-an-ip"));
  EXPECT_FALSE(ParseIpSloppy(""));
  EXPECT_FALSE(ParseIpSloppy("fe80::1%eth0"));  // zones are refused
  EXPECT_FALSE(ParseIpSloppy("2001:db8::1")->is_v4);
  EXPECT_TRUE(ParseIpSloppy("2001:0DB8:0000:0000::0001"));
  EXPECT_TRUE(ParseIpSloppy("::ffff:198.18.1.1")->is_v4);  // IPv4-mapped counts as IPv4 (To4)
}

TEST(SpecialRanges, AreTheOnesTheServerRefuses) {
  auto ranges = [](const char* ip) { return SpecialRanges(*ParseIpSloppy(ip)); };
  EXPECT_EQ(ranges("127.5.0.1"), std::vector<SpecialIp>{SpecialIp::kLoopback});
  EXPECT_EQ(ranges("::1"), std::vector<SpecialIp>{SpecialIp::kLoopback});
  EXPECT_EQ(ranges("::ffff:127.0.0.1"), std::vector<SpecialIp>{SpecialIp::kLoopback});
  EXPECT_EQ(ranges("0.0.0.0"), std::vector<SpecialIp>{SpecialIp::kUnspecified});
  EXPECT_EQ(ranges("::"), std::vector<SpecialIp>{SpecialIp::kUnspecified});
  EXPECT_EQ(ranges("169.254.9.9"), std::vector<SpecialIp>{SpecialIp::kLinkLocal});
  EXPECT_EQ(ranges("febf::1"), std::vector<SpecialIp>{SpecialIp::kLinkLocal});
  EXPECT_TRUE(ranges("fec0::1").empty());
  EXPECT_EQ(ranges("224.0.0.251"), std::vector<SpecialIp>{SpecialIp::kLinkLocalMulticast});
  EXPECT_EQ(ranges("ff02::fb"), std::vector<SpecialIp>{SpecialIp::kLinkLocalMulticast});
  EXPECT_TRUE(ranges("224.0.1.1").empty());
  EXPECT_TRUE(ranges("239.1.1.1").empty());
  EXPECT_TRUE(ranges("255.255.255.255").empty());
  EXPECT_TRUE(ranges("198.18.0.1").empty());
}

TEST(ValidateEndpointSlice, AddressErrorsFollowTheAddressType) {
  EndpointSliceRules strict;
  EXPECT_EQ(Messages(ValidateEndpointSlice(Slice("IPv4", {"198.18.1"}), strict).errors),
            (std::vector<std::string>{
                "endpoints[0].addresses[0]: Invalid value: \"198.18.1\": must be a valid IPv4 address",
                "endpoints[0].addresses[0]: Invalid value: \"198.18.1\": must be a valid IP address"}));
  EXPECT_EQ(Messages(ValidateEndpointSlice(Slice("IPv4", {"2001:db8::1"}), strict).errors),
            (std::vector<std::string>{
                "endpoints[0].addresses[0]: Invalid value: \"2001:db8::1\": must be a valid IPv4 address"}));
  EXPECT_EQ(Messages(ValidateEndpointSlice(Slice("IPv6", {"::ffff:127.0.0.1"}), strict).errors),
            (std::vector<std::string>{
                "endpoints[0].addresses[0]: Invalid value: \"::ffff:127.0.0.1\": must be a valid IPv6 address",
                "endpoints[0].addresses[0]: Invalid value: \"::ffff:127.0.0.1\": may not be in the loopback range "
                "(127.0.0.0/8, ::1/128)"}));
  EXPECT_EQ(Messages(ValidateEndpointSlice(Slice("IPv6", {"::"}), strict).errors),
            (std::vector<std::string>{"endpoints[0].addresses[0]: Invalid value: \"::\": may not be unspecified (::)"}));
  EXPECT_TRUE(ValidateEndpointSlice(Slice("IPv4", {"198.18.1.1", "198.18.1.1"}), strict).ok());
  EXPECT_TRUE(ValidateEndpointSlice(Slice("FQDN", {"pod.example.com"}), strict).ok());
  EXPECT_EQ(Messages(ValidateEndpointSlice(Slice("FQDN", {"pod"}), strict).errors),
            (std::vector<std::string>{"endpoints[0].addresses[0]: Invalid value: \"pod\": should be a domain with at "
                                      "least two segments separated by dots"}));
}

TEST(ValidateEndpointSlice, LoopbackIsWaivedOnlyWhenAllowed) {
  Json slice = Slice("IPv4", {"127.0.0.1", "169.254.0.1"});
  ValidationResult strict = ValidateEndpointSlice(slice, {});
  EXPECT_EQ(strict.errors.size(), 2u);
  EXPECT_TRUE(strict.waived.empty());
  ValidationResult lenient = ValidateEndpointSlice(slice, {.allow_loopback = true});
  ASSERT_EQ(lenient.errors.size(), 1u);
  EXPECT_EQ(lenient.errors[0].field, "endpoints[0].addresses[1]");
  ASSERT_EQ(lenient.waived.size(), 1u);
  EXPECT_EQ(lenient.waived[0].value.text, "127.0.0.1");
}

TEST(ValidateEndpointSlice, PortsAreNotRangeCheckedButNamesAndProtocolsAre) {
  Json slice = Slice("IPv4", {"198.18.1.1"});
  slice["ports"] = Json::array({{{"name", "a"}, {"protocol", "TCP"}, {"port", 0}},
                                {{"name", "b"}, {"protocol", "TCP"}, {"port", -1}},
                                {{"name", "c"}, {"protocol", "TCP"}, {"port", 70000}}});
  EXPECT_TRUE(ValidateEndpointSlice(slice, {}).ok());
  slice["ports"] = Json::array({{{"name", "p"}, {"protocol", "TCP"}},
                                {{"name", "p"}, {"protocol", "HTTP"}},
                                {{"name", "x"}}});
  EXPECT_EQ(Messages(ValidateEndpointSlice(slice, {}).errors),
            (std::vector<std::string>{
                "ports[1].name: Duplicate value: \"p\"",
                "ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "ports[2].protocol: Required value"}));
}

TEST(ValidateEndpointSlice, LimitsAndHints) {
  Json slice = Slice("IPv4", {"198.18.1.1"});
  Json zones = Json::array();
  for (int i = 0; i < 9; ++i) zones.push_back({{"name", "zone-" + std::to_string(i)}});
  slice["endpoints"][0]["hints"] = {{"forZones", zones}};
  EXPECT_EQ(Messages(ValidateEndpointSlice(slice, {}).errors),
            (std::vector<std::string>{"endpoints[0].hints.forZones: Too many: 9: must have at most 8 items"}));
  slice["endpoints"][0]["hints"] = {{"forZones", Json::array({{{"name", "a"}}, {{"name", "a"}}})}};
  EXPECT_EQ(Messages(ValidateEndpointSlice(slice, {}).errors),
            (std::vector<std::string>{"endpoints[0].hints.forZones[1].name: Duplicate value: \"a\""}));
  Json many = Json::array();
  for (int i = 0; i < 101; ++i) many.push_back("198.18.2." + std::to_string(i % 250 + 1));
  EXPECT_EQ(Messages(ValidateEndpointSlice(Slice("IPv4", many), {}).errors),
            (std::vector<std::string>{"endpoints[0].addresses: Too many: 101: must have at most 100 items"}));
}

TEST(ValidateEndpointSlice, UpdateKeepsTheAddressType) {
  Json old = Slice("IPv4", {"198.18.1.1"});
  Json updated = old;
  updated["addressType"] = "FQDN";
  updated["endpoints"][0]["addresses"][0] = "a.example.com";
  EXPECT_EQ(Messages(ValidateEndpointSliceUpdate(updated, old, {}).errors),
            (std::vector<std::string>{"addressType: Invalid value: \"FQDN\": field is immutable"}));
}

TEST(Names, ApimachineryMessages) {
  EXPECT_EQ(IsDNS1123Label("pod.a"), std::vector<std::string>{"must not contain dots"});
  EXPECT_EQ(IsDNS1123Label(std::string(64, 'a')), std::vector<std::string>{"must be no more than 63 characters"});
  EXPECT_EQ(IsQualifiedName("a/b/c").size(), 1u);
  EXPECT_EQ(IsQualifiedName("/x"), std::vector<std::string>{"prefix part must be non-empty"});
  EXPECT_TRUE(IsQualifiedName("kubernetes.io/h2c").empty());
  EXPECT_TRUE(IsValidLabelValue("").empty());
  EXPECT_EQ(IsValidLabelValue("b c").size(), 1u);
  FieldErrorList meta = ValidateObjectMeta(Json{{"metadata", {{"name", "Bad_Name"}, {"namespace", "default"}}}}, true);
  ASSERT_EQ(meta.size(), 1u);
  EXPECT_EQ(meta[0].field, "metadata.name");
  EXPECT_EQ(ValidateObjectMeta(Json{{"metadata", {{"namespace", "default"}}}}, true)[0].Message(),
            "metadata.name: Required value: name or generateName is required");
}

TEST(FieldErrors, AggregateLikeApimachinery) {
  FieldErrorList one = {Invalid("a", GoValue::String("x"), "bad")};
  EXPECT_EQ(AggregateMessage(one), "a: Invalid value: \"x\": bad");
  FieldErrorList two = {one[0], Required("b", ""), one[0]};
  EXPECT_EQ(AggregateMessage(two), "[a: Invalid value: \"x\": bad, b: Required value]");
  EXPECT_EQ(GoQuote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\x01\"");
}

}  // namespace
}  // namespace k8slb::fakeapi::api
