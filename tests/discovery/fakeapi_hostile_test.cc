// The fake API server refuses hostile request bodies instead of crashing: JSON nested hundreds of
// thousands deep in a create, a merge patch or a JSON patch value used to overflow its stack
// (every later step walks the document recursively), and fault-injection parameters such as
// status=nan reached float-to-int casts.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "fakeapi/server/fake_api_server.h"

namespace k8slb {
namespace {

struct Reply {
  long status = 0;
  std::string body;
};

Reply Send(const std::string& url, const std::string& method, const std::string& body,
           const std::string& content_type = "application/json") {
  Reply reply;
  CURL* easy = curl_easy_init();
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_slist* headers = curl_slist_append(nullptr, ("Content-Type: " + content_type).c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  if (method != "GET") {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, s * n);
    return s * n;
  });
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT, 60L);
  if (curl_easy_perform(easy) == CURLE_OK) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  return reply;
}

std::unique_ptr<fakeapi::FakeApiServer> StartPlain() {
  fakeapi::FakeApiOptions o;
  o.plain_http = true;  // anonymous requests act as the admin over http
  auto s = fakeapi::FakeApiServer::Start(std::move(o));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

std::string Arrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

constexpr char kSlices[] = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";

std::string Slice(const std::string& name, const std::string& extra_field = "") {
  return absl::StrCat(
      R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":")", name,
      R"(","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4",)",
      extra_field.empty() ? "" : absl::StrCat(R"("x":)", extra_field, ","),
      R"("endpoints":[{"addresses":["10.0.0.1"]}],"ports":[{"name":"http","port":80}]})");
}

TEST(FakeApiHostile, DeeplyNestedBodiesAreRefusedAndTheServerStaysUp) {
  auto server = StartPlain();
  ASSERT_NE(server, nullptr);
  const std::string base = server->url();
  Reply r = Send(base + kSlices, "POST", Slice("web-a"));
  ASSERT_EQ(r.status, 201) << r.body;

  r = Send(base + kSlices, "POST", Slice("web-deep", Arrays(300'000)));
  EXPECT_EQ(r.status, 400) << r.body.substr(0, 300);
  // The server answers in kube-apiserver's words (Go's decoder: "exceeded max depth").
  EXPECT_NE(r.body.find("exceeded max depth"), std::string::npos) << r.body.substr(0, 300);

  std::string merge = R"({"metadata":{"annotations":)";
  for (int i = 0; i < 100'000; ++i) merge += R"({"a":)";
  merge += "1" + std::string(100'000, '}') + "}}";
  r = Send(absl::StrCat(base, kSlices, "/web-a"), "PATCH", merge, "application/merge-patch+json");
  EXPECT_EQ(r.status, 400) << r.body.substr(0, 300);

  const std::string json_patch =
      absl::StrCat(R"([{"op":"add","path":"/metadata/annotations","value":)", Arrays(1'000'000), "}]");
  r = Send(absl::StrCat(base, kSlices, "/web-a"), "PATCH", json_patch, "application/json-patch+json");
  EXPECT_EQ(r.status, 400) << r.body.substr(0, 300);

  EXPECT_EQ(Send(base + "/version", "GET", "").status, 200) << "the server survived";
  EXPECT_EQ(Send(absl::StrCat(base, kSlices, "/web-a"), "GET", "").status, 200);
}

// Values each within the limit can still stack up inside one JSON patch: the patched object is
// checked as a whole before anything walks it.
TEST(FakeApiHostile, JsonPatchCannotStackNestingBeyondTheLimit) {
  auto server = StartPlain();
  ASSERT_NE(server, nullptr);
  const std::string base = server->url();
  ASSERT_EQ(Send(base + kSlices, "POST", Slice("web-a")).status, 201);
  const std::string path = absl::StrCat(base, kSlices, "/web-a");
  // 300 levels at /x, then 300 more at its innermost array: 600 > 512.
  std::string inner = "/x";
  for (int i = 0; i < 299; ++i) inner += "/0";
  const std::string patch = absl::StrCat(R"([{"op":"add","path":"/x","value":)", Arrays(300), "},",
                                         R"({"op":"add","path":")", inner, R"(/0","value":)",
                                         Arrays(300), "}]");
  Reply r = Send(path, "PATCH", patch, "application/json-patch+json");
  EXPECT_EQ(r.status, 422) << r.body.substr(0, 300);
  // Refused as a whole (the same patch without the second level is accepted below).
  const std::string shallow = absl::StrCat(R"([{"op":"add","path":"/x","value":)", Arrays(300), "}]");
  EXPECT_EQ(Send(path, "PATCH", shallow, "application/json-patch+json").status, 200);
}

TEST(FakeApiHostile, FaultParametersMustBeFiniteNumbersInRange) {
  auto server = StartPlain();
  ASSERT_NE(server, nullptr);
  const std::string base = server->url() + "/fake/faults/";
  for (const char* bad : {"errors?status=nan", "errors?status=500.5", "errors?status=700",
                          "errors?status=500&seconds=1e300", "errors?status=500&seconds=inf",
                          "errors?retryAfter=-1", "delay?ms=nan", "stall?seconds=nan",
                          "rv-jump?delta=1e3"}) {
    Reply r = Send(base + bad, "POST", "");
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
  }
  Reply r = Send(base + "errors?status=nan", "POST", "");
  EXPECT_NE(r.body.find("query parameter status: \\\"nan\\\" is not an integer"), std::string::npos) << r.body;
  EXPECT_EQ(Send(base + "errors?status=503&seconds=0.2", "POST", "").status, 200);
}

}  // namespace
}  // namespace k8slb
