#include "k8slb/target.h"

#include <gtest/gtest.h>

namespace k8slb {
namespace {

struct Case {
  const char* text;
  const char* service;
  std::optional<std::string> ns;
  std::optional<std::string> port_name;
  std::optional<int32_t> port_number;
};

TEST(ParseTarget, AcceptsEveryDocumentedForm) {
  const Case cases[] = {
      {"kubernetes:///svc", "svc", std::nullopt, std::nullopt, std::nullopt},
      {"kubernetes:///svc:8080", "svc", std::nullopt, std::nullopt, 8080},
      {"kubernetes:///svc:grpc", "svc", std::nullopt, "grpc", std::nullopt},
      {"kubernetes:///svc.ns:grpc", "svc", "ns", "grpc", std::nullopt},
      {"kubernetes:///svc.ns", "svc", "ns", std::nullopt, std::nullopt},
      {"kubernetes:///svc.ns.svc.cluster.local:50051", "svc", "ns", std::nullopt, 50051},
      {"kubernetes://ns/svc:50051", "svc", "ns", std::nullopt, 50051},
      {"kubernetes://ns/svc", "svc", "ns", std::nullopt, std::nullopt},
      {"kubernetes://svc.ns:50051", "svc", "ns", std::nullopt, 50051},
      {"kubernetes://svc.ns:50051/", "svc", "ns", std::nullopt, 50051},
      {"svc.ns", "svc", "ns", std::nullopt, std::nullopt},
      {"svc.ns:grpc", "svc", "ns", "grpc", std::nullopt},
      {"echo.default.svc.cluster.local:50051", "echo", "default", std::nullopt, 50051},
      {"echo.default.svc:50051", "echo", "default", std::nullopt, 50051},
      {"my-svc.team-a.svc.corp.example:http-2", "my-svc", "team-a", "http-2", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto t = ParseTarget(c.text);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->service, c.service);
    EXPECT_EQ(t->namespace_name, c.ns);
    EXPECT_EQ(t->port.name, c.port_name);
    EXPECT_EQ(t->port.number, c.port_number);
  }
}

TEST(ParseTarget, ErrorsNameTheProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty"},
      {"kubernetes:///", "no service name"},
      {"kubernetes:///svc:", "empty port"},
      {"kubernetes:///svc:0", "out of range"},
      {"kubernetes:///svc:70000", "out of range"},
      {"kubernetes:///Svc", "service name \"Svc\""},
      {"kubernetes:///1svc", "service name \"1svc\""},
      {"kubernetes:///svc.Bad_ns", "namespace \"Bad_ns\""},
      {"kubernetes:///svc.ns.pod.cluster.local", "expected \"svc\" after the namespace"},
      {"kubernetes:///svc:this-port-name-is-long", "not a valid port name"},
      {"kubernetes:///svc:-x", "not a valid port name"},
      {"kubernetes://a/svc.b", "two namespaces"},
      {"kubernetes://ns/a/b", "single service name"},
      {"dns:///svc.ns", "unsupported scheme \"dns\""},
      {"svc", "must name the namespace"},
      {"localhost:50051", "must name the namespace"},
      {"svc.ns/x", "unexpected '/'"},
      {"svc .ns", "whitespace"},
  };
  for (const auto& [text, fragment] : cases) {
    SCOPED_TRACE(text);
    auto t = ParseTarget(text);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(fragment), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find("invalid target"), std::string::npos);
  }
}

TEST(ParseTarget, ServiceDnsNameUsesDefaultNamespaceOnlyWhenUnset) {
  EXPECT_EQ(ParseTarget("kubernetes:///echo:50051")->ServiceDnsName("prod"), "echo.prod.svc");
  EXPECT_EQ(ParseTarget("kubernetes:///echo.web:50051")->ServiceDnsName("prod"), "echo.web.svc");
}

}  // namespace
}  // namespace k8slb
