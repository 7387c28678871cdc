// Protocol tests for k8slb-fakeapi against the running server (in-process, port 0, HTTPS), one
// or more per API behaviour fakeapi/README.md lists, plus the
// fault-injection controls, the scale subresource and graceful pod deletion.
#include <gtest/gtest.h>

#include <set>

#include "fakeapi/server/api_common.h"
#include "fakeapi/server/fake_api_server.h"
#include "fakeapi/server/http_server.h"
#include "test_client.h"

namespace k8slb::fakeapi {
namespace {

using nlohmann::json;
using testing::Do;
using testing::Reply;
using testing::Eventually;
using testing::Get;
using testing::MakeScenario;
using testing::Watch;
using namespace std::chrono_literals;

constexpr char kSlices[] = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
constexpr char kAllSlices[] = "/apis/discovery.k8s.io/v1/endpointslices";

std::unique_ptr<FakeApiServer> StartServer(int replicas = 3, FakeApiOptions options = {}) {
  options.scenario = MakeScenario(replicas);
  auto server = FakeApiServer::Start(std::move(options));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

std::string ListRv(const FakeApiServer& s, const std::string& path = kSlices) {
  Reply r = Get(s, path);
  return r.Json()["metadata"]["resourceVersion"].get<std::string>();
}

// A slice that the test owns (not controller-managed), labelled for selector tests.
std::string SliceJson(const std::string& name, const std::string& role, const std::string& ip) {
  json j = {{"apiVersion", "discovery.k8s.io/v1"},
            {"kind", "EndpointSlice"},
            {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/service-name", "manual"}, {"role", role}}}}},
            {"addressType", "IPv4"},
            {"endpoints", json::array({{{"addresses", {ip}}, {"conditions", {{"ready", true}}}}})},
            {"ports", json::array({{{"name", "grpc"}, {"port", 50051}, {"protocol", "TCP"}}})}};
  return j.dump();
}

Reply CreateSlice(const FakeApiServer& s, const std::string& name, const std::string& role, const std::string& ip) {
  return Do(s, {.method = "POST", .path = kSlices, .body = SliceJson(name, role, ip)});
}

Reply PatchLabels(const FakeApiServer& s, const std::string& name, const std::string& role) {
  return Do(s, {.method = "PATCH",
                .path = std::string(kSlices) + "/" + name,
                .body = json({{"metadata", {{"labels", {{"role", role}}}}}}).dump(),
                .content_type = "application/merge-patch+json"});
}

std::vector<std::string> Types(const std::vector<json>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.is_object() ? e.value("type", "?") : "<bad json>");
  return out;
}

// ---- pure helpers ----

TEST(ApiCommon, BoolParamsFollowApimachinery) {  // checklist 1
  EXPECT_TRUE(ParseBoolParam(std::string("true")));
  EXPECT_TRUE(ParseBoolParam(std::string("True")));
  EXPECT_TRUE(ParseBoolParam(std::string("1")));
  EXPECT_TRUE(ParseBoolParam(std::string("")));
  EXPECT_TRUE(ParseBoolParam(std::string("yes")));
  EXPECT_FALSE(ParseBoolParam(std::nullopt));
  EXPECT_FALSE(ParseBoolParam(std::string("0")));
  EXPECT_FALSE(ParseBoolParam(std::string("false")));
  EXPECT_FALSE(ParseBoolParam(std::string("FaLsE")));
}

TEST(ApiCommon, LabelSelectorGrammar) {
  std::map<std::string, std::string> labels = {{"app", "echo"}, {"tier", "web"}, {"kubernetes.io/service-name", "echo"}};
  auto match = [&](const std::string& text) {
    auto sel = LabelSelector::Parse(text);
    EXPECT_TRUE(sel.ok()) << text << ": " << sel.status();
    return sel.ok() && sel->Matches(labels);
  };
  EXPECT_TRUE(match(""));
  EXPECT_TRUE(match("app=echo"));
  EXPECT_TRUE(match("app==echo,tier=web"));
  EXPECT_TRUE(match("kubernetes.io/service-name=echo"));
  EXPECT_FALSE(match("app!=echo"));
  EXPECT_TRUE(match("app in (echo, other)"));
  EXPECT_FALSE(match("app notin (echo)"));
  EXPECT_TRUE(match("tier,!missing"));
  EXPECT_FALSE(match("missing"));
  EXPECT_TRUE(match("missing!=x"));
  EXPECT_FALSE(LabelSelector::Parse("app in echo").ok());
  EXPECT_FALSE(LabelSelector::Parse("a=b,,").ok());
}

TEST(ApiCommon, ForbiddenWording) {  // checklist 10
  RequestAttributes a{.user = "system:serviceaccount:default:probe", .verb = "list", .api_group = "discovery.k8s.io",
                      .resource = "endpointslices", .namespace_name = "default"};
  EXPECT_EQ(Forbidden(a).message,
            "endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:default:probe\" cannot list "
            "resource \"endpointslices\" in API group \"discovery.k8s.io\" in the namespace \"default\"");
  a.namespace_name = "";
  a.verb = "watch";
  EXPECT_EQ(Forbidden(a).message,
            "endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:default:probe\" cannot watch "
            "resource \"endpointslices\" in API group \"discovery.k8s.io\" at the cluster scope");
}

TEST(WatchSinkTest, OrdersDelaysStallsAndDropsSlowConsumers) {
  WatchSink sink;
  auto now = std::chrono::steady_clock::now();
  auto line = [](const char* t) { return std::make_shared<const std::string>(t); };
  sink.Push(line("a\n"), now);
  sink.Push(line("b\n"), now + 1s);
  sink.Push(line("c\n"), now);
  // Stalled: nothing, wait until the stall ends.
  auto next = sink.TakeNext(now, now + 2s);
  EXPECT_EQ(next.kind, WatchSink::NextKind::kWaitUntil);
  next = sink.TakeNext(now, {});
  ASSERT_EQ(next.kind, WatchSink::NextKind::kData);
  EXPECT_EQ(*next.data, "a\n");
  // "b" is delayed: "c", queued after it, must wait too (a line never overtakes another).
  next = sink.TakeNext(now, {});
  EXPECT_EQ(next.kind, WatchSink::NextKind::kWaitUntil);
  next = sink.TakeNext(now + 1s, {});
  ASSERT_EQ(next.kind, WatchSink::NextKind::kData);
  EXPECT_EQ(*next.data, "b\n");
  next = sink.TakeNext(now + 1s, {});
  ASSERT_EQ(next.kind, WatchSink::NextKind::kData);
  EXPECT_EQ(*next.data, "c\n");
  EXPECT_EQ(sink.TakeNext(now + 1s, {}).kind, WatchSink::NextKind::kNone);
  // A consumer that falls too far behind is ended.
  for (size_t i = 0; i <= 100000; ++i) sink.Push(line("x\n"), now);
  EXPECT_TRUE(sink.done());
  EXPECT_EQ(sink.TakeNext(now, {}).kind, WatchSink::NextKind::kEnd);
}

// ---- server ----

TEST(FakeApi, VersionReportsMinor32) {  // checklist 12
  auto s = StartServer();
  Reply r = Get(*s, "/version?timeout=5s");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["major"], "1");
  EXPECT_EQ(r.Json()["minor"], "32");
}

TEST(FakeApi, UnknownPathIsPlainText404AndMissingObjectIsStatus) {  // checklist 20
  auto s = StartServer();
  Reply r = Get(*s, "/no/such/path");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "404 page not found\n");
  EXPECT_NE(r.content_type.find("text/plain"), std::string::npos);
  r = Get(*s, std::string(kSlices) + "/foo");
  EXPECT_EQ(r.status, 404);
  json j = r.Json();
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["apiVersion"], "v1");
  EXPECT_EQ(j["status"], "Failure");
  EXPECT_EQ(j["reason"], "NotFound");
  EXPECT_EQ(j["code"], 404);
  EXPECT_EQ(j["message"], "endpointslices.discovery.k8s.io \"foo\" not found");
  EXPECT_EQ(j["details"]["name"], "foo");
  EXPECT_EQ(j["details"]["group"], "discovery.k8s.io");
  EXPECT_EQ(j["details"]["kind"], "endpointslices");
}

TEST(FakeApi, DiscoveryNegotiatesByAccept) {  // checklist 11
  auto s = StartServer();
  const std::string agg =
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;"
      "v=v2beta1;as=APIGroupDiscoveryList,application/json";
  Reply r = Do(*s, {.path = "/apis?timeout=32s", .accept = agg});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  json j = r.Json();
  EXPECT_EQ(j["kind"], "APIGroupDiscoveryList");
  bool found = false;
  for (const auto& item : j["items"]) {
    for (const auto& v : item["versions"]) {
      for (const auto& res : v["resources"]) {
        if (res["resource"] == "endpointslices") {
          found = true;
          EXPECT_EQ(res["responseKind"]["kind"], "EndpointSlice");
          EXPECT_EQ(res["scope"], "Namespaced");
        }
      }
    }
  }
  EXPECT_TRUE(found);
  // v2beta1 only (kubectl 1.29).
  r = Do(*s, {.path = "/api", .accept = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
                                        "application/json"});
  EXPECT_EQ(r.content_type, "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList");
  EXPECT_EQ(r.Json()["apiVersion"], "apidiscovery.k8s.io/v2beta1");
  // Legacy.
  r = Do(*s, {.path = "/apis", .accept = "application/json, */*"});
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.Json()["kind"], "APIGroupList");
  r = Get(*s, "/api");
  EXPECT_EQ(r.Json()["kind"], "APIVersions");
  r = Get(*s, "/apis/discovery.k8s.io/v1");
  EXPECT_EQ(r.Json()["kind"], "APIResourceList");
  EXPECT_EQ(r.Json()["resources"][0]["name"], "endpointslices");
  json apps = Get(*s, "/apis/apps/v1").Json();
  bool scale = false;
  for (const auto& res : apps["resources"]) scale |= res["name"] == "deployments/scale";
  EXPECT_TRUE(scale);
  r = Get(*s, "/api/v1");
  EXPECT_EQ(r.Json()["groupVersion"], "v1");
}

TEST(FakeApi, ListShapeAndResourceVersions) {  // checklist 6, 8, 9
  auto s = StartServer(3);
  Reply r = Get(*s, kSlices);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  json j = r.Json();
  EXPECT_EQ(j["kind"], "EndpointSliceList");
  EXPECT_EQ(j["apiVersion"], "discovery.k8s.io/v1");
  ASSERT_TRUE(j["items"].is_array());
  ASSERT_FALSE(j["items"].empty());
  uint64_t list_rv = std::stoull(j["metadata"]["resourceVersion"].get<std::string>());
  size_t endpoints = 0;
  for (const auto& item : j["items"]) {
    EXPECT_LE(std::stoull(item["metadata"]["resourceVersion"].get<std::string>()), list_rv);
    ASSERT_TRUE(item["endpoints"].is_array());
    EXPECT_TRUE(item.contains("addressType"));
    endpoints += item["endpoints"].size();
  }
  EXPECT_EQ(endpoints, 3u);
  // An empty namespace: items [] (never null).
  r = Get(*s, "/apis/discovery.k8s.io/v1/namespaces/empty/endpointslices");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.Json()["items"].is_array());
  EXPECT_TRUE(r.Json()["items"].empty());
  // RVs are global and increase; DELETED carries a new RV.
  ASSERT_EQ(CreateSlice(*s, "manual-a", "x", "198.18.2.1").status, 201);
  uint64_t after_create = std::stoull(ListRv(*s));
  EXPECT_GT(after_create, list_rv);
  Watch w(*s, std::string(kSlices) + "?watch=1&resourceVersion=" + std::to_string(after_create));
  ASSERT_TRUE(w.WaitHeaders());
  ASSERT_EQ(Do(*s, {.method = "DELETE", .path = std::string(kSlices) + "/manual-a"}).status, 200);
  ASSERT_TRUE(w.WaitLines(1));
  json ev = w.events()[0];
  EXPECT_EQ(ev["type"], "DELETED");
  EXPECT_GT(std::stoull(ev["object"]["metadata"]["resourceVersion"].get<std::string>()), after_create);
  EXPECT_EQ(ev["object"]["kind"], "EndpointSlice");  // watch objects carry kind/apiVersion
  EXPECT_EQ(ev["object"]["apiVersion"], "discovery.k8s.io/v1");
}

TEST(FakeApi, BoolWatchParamVariants) {  // checklist 1
  auto s = StartServer(2);
  for (const char* v : {"true", "True", "1", ""}) {
    Watch w(*s, std::string(kSlices) + "?watch=" + v + "&timeoutSeconds=5");
    ASSERT_TRUE(w.WaitLines(1)) << "watch=" << v;
    EXPECT_EQ(w.events()[0]["type"], "ADDED") << "watch=" << v;
  }
  for (const char* v : {"false", "FALSE", "0"}) {
    Reply r = Get(*s, std::string(kSlices) + "?watch=" + v);
    EXPECT_EQ(r.Json()["kind"], "EndpointSliceList") << "watch=" << v;
  }
}

TEST(FakeApi, WatchStreamIsOneEventPerChunkWithNewlines) {  // checklist 2
  FakeApiOptions o;
  o.plain_http = true;
  auto s = StartServer(3, o);
  std::string req = std::string("GET ") + kSlices +
                    "?watch=true HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nAccept-Encoding: gzip\r\n\r\n";
  std::string raw = testing::RawHttp(
      s->port(), req, [](const std::string& got) { return got.find("\r\n\r\n") != std::string::npos && got.size() > 400; },
      5s);
  size_t header_end = raw.find("\r\n\r\n");
  ASSERT_NE(header_end, std::string::npos) << raw;
  std::string headers = raw.substr(0, header_end);
  EXPECT_NE(headers.find("Transfer-Encoding: chunked"), std::string::npos) << headers;
  EXPECT_EQ(headers.find("Content-Encoding"), std::string::npos);
  EXPECT_EQ(headers.find("Content-Length"), std::string::npos);
  // Read until the three synthetic ADDED are in.
  raw = testing::RawHttp(
      s->port(), req,
      [](const std::string& got) {
        size_t h = got.find("\r\n\r\n");
        if (h == std::string::npos) return false;
        bool last;
        auto chunks = testing::DecodeChunks(got.substr(h + 4), &last);
        return chunks && !chunks->empty();
      },
      5s);
  bool last = false;
  auto chunks = testing::DecodeChunks(raw.substr(raw.find("\r\n\r\n") + 4), &last);
  ASSERT_TRUE(chunks.has_value());
  ASSERT_FALSE(chunks->empty());
  for (const auto& c : *chunks) {
    ASSERT_FALSE(c.empty());
    EXPECT_EQ(c.back(), '\n');
    EXPECT_EQ(c.find('\n'), c.size() - 1) << "one event per chunk";
    EXPECT_FALSE(json::parse(c, nullptr, false).is_discarded());
  }
}

TEST(FakeApi, HeadersFlushedBeforeFirstEvent) {  // checklist 2
  auto s = StartServer(1);
  std::string rv = ListRv(*s);
  Watch w(*s, std::string(kSlices) + "?watch=true&resourceVersion=" + rv);
  ASSERT_TRUE(w.WaitHeaders(3s));
  EXPECT_EQ(w.status(), 200);
  EXPECT_TRUE(w.lines().empty());
  EXPECT_EQ(w.content_type(), "application/json");
}

TEST(FakeApi, WatchFromUnsetZeroOrEmptyRvSendsSyntheticAdded) {  // checklist 3, 17
  auto s = StartServer(3);
  size_t n = Get(*s, kSlices).Json()["items"].size();
  for (std::string q : {"?watch=true", "?watch=true&resourceVersion=0", "?watch=true&resourceVersion="}) {
    Watch w(*s, std::string(kSlices) + q);
    ASSERT_TRUE(w.WaitLines(n)) << q;
    for (const auto& e : w.events()) EXPECT_EQ(e["type"], "ADDED") << q;
  }
}

TEST(FakeApi, WatchFromRvSendsOnlyLaterChanges) {  // checklist 3
  auto s = StartServer(3);
  std::string rv = ListRv(*s);
  Watch w(*s, std::string(kSlices) + "?watch=true&resourceVersion=" + rv);
  ASSERT_TRUE(w.WaitHeaders());
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(w.lines().empty()) << "no replay of current state for RV=N";
  s->WithCluster([](fake::Cluster& c) { ASSERT_TRUE(c.Scale("default", "echo", 4).ok()); });
  ASSERT_TRUE(w.WaitLines(1, 10s));
  json e = w.events()[0];
  EXPECT_TRUE(e["type"] == "MODIFIED" || e["type"] == "ADDED") << e;
  EXPECT_GT(std::stoull(e["object"]["metadata"]["resourceVersion"].get<std::string>()), std::stoull(rv));
  // A re-watch from a recent RV replays exactly the changes after it.
  std::string mid = e["object"]["metadata"]["resourceVersion"];
  Watch again(*s, std::string(kSlices) + "?watch=true&resourceVersion=" + rv);
  ASSERT_TRUE(again.WaitLines(1));
  EXPECT_EQ(again.events()[0]["object"]["metadata"]["resourceVersion"], mid);
}

TEST(FakeApi, TooOldRvGivesErrorEventThenClose) {  // checklist 4
  auto s = StartServer(2);
  std::string old_rv = ListRv(*s);
  ASSERT_EQ(CreateSlice(*s, "manual-a", "x", "198.18.2.1").status, 201);
  s->ExpireHistory();
  Watch w(*s, std::string(kSlices) + "?watch=true&resourceVersion=" + old_rv);
  ASSERT_TRUE(w.WaitEnd(5s)) << "the stream must close after the ERROR event";
  EXPECT_EQ(w.status(), 200);
  auto events = w.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ERROR");
  json st = events[0]["object"];
  EXPECT_EQ(st["kind"], "Status");
  EXPECT_EQ(st["apiVersion"], "v1");
  EXPECT_EQ(st["status"], "Failure");
  EXPECT_EQ(st["reason"], "Expired");
  EXPECT_EQ(st["code"], 410);
  EXPECT_EQ(st["message"].get<std::string>().rfind("too old resource version: " + old_rv, 0), 0u) << st;
}

TEST(FakeApi, BookmarksArePeriodicAndWatchable) {  // checklist 5
  FakeApiOptions o;
  o.bookmark_interval = 300ms;
  auto s = StartServer(2, o);
  std::string rv = ListRv(*s);
  Watch w(*s, std::string(kSlices) + "?watch=True&allowWatchBookmarks=True&labelSelector=none%3Dx&resourceVersion=" +
                  rv);
  // Without a change past the watch's RV the cacher sends no bookmark (recorded); a write the
  // selector does not match moves it.
  ASSERT_TRUE(w.WaitHeaders());
  std::this_thread::sleep_for(800ms);
  EXPECT_TRUE(w.lines().empty());
  ASSERT_EQ(CreateSlice(*s, "moves-rv", "x", "198.18.2.9").status, 201);
  ASSERT_TRUE(w.WaitLines(2, 5s));
  json b = w.events()[0];
  EXPECT_EQ(b["type"], "BOOKMARK");
  EXPECT_EQ(b["object"]["kind"], "EndpointSlice");
  std::string brv = b["object"]["metadata"]["resourceVersion"];
  EXPECT_GT(std::stoull(brv), std::stoull(rv));
  // A bookmark's RV can be watched from.
  Watch from_bookmark(*s, std::string(kSlices) + "?watch=true&resourceVersion=" + brv);
  ASSERT_TRUE(from_bookmark.WaitHeaders());
  std::this_thread::sleep_for(200ms);
  for (const auto& e : from_bookmark.events()) EXPECT_NE(e["type"], "ERROR");
  // Without allowWatchBookmarks: none.
  Watch plain(*s, std::string(kSlices) + "?watch=true&labelSelector=none%3Dx&resourceVersion=" + rv);
  std::this_thread::sleep_for(800ms);
  EXPECT_TRUE(plain.lines().empty());
}

TEST(FakeApi, BookmarkBeforeDeadlineAndTimeoutSeconds) {  // checklist 16
  auto s = StartServer(1);
  std::string rv = ListRv(*s);
  auto start = std::chrono::steady_clock::now();
  Watch w(*s, std::string(kSlices) + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion=" + rv);
  ASSERT_TRUE(w.WaitEnd(10s));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 2500ms);
  EXPECT_LT(took, 8s);
  // Nothing changed after the watch's RV: no bookmark before the deadline either (recorded).
  EXPECT_TRUE(w.events().empty());
}

TEST(FakeApi, SelectorTransitionsAreAddedAndDeleted) {  // checklist 7
  auto s = StartServer(1);
  ASSERT_EQ(CreateSlice(*s, "manual-a", "blue", "198.18.2.1").status, 201);
  std::string rv = ListRv(*s);
  Watch w(*s, std::string(kSlices) + "?watch=true&labelSelector=role%3Dblue&resourceVersion=" + rv);
  ASSERT_TRUE(w.WaitHeaders());
  ASSERT_EQ(PatchLabels(*s, "manual-a", "green").status, 200);
  ASSERT_EQ(PatchLabels(*s, "manual-a", "blue").status, 200);
  ASSERT_EQ(PatchLabels(*s, "manual-a", "blue2").status, 200);
  ASSERT_TRUE(w.WaitLines(3));
  auto ev = w.events();
  EXPECT_EQ(Types(ev), (std::vector<std::string>{"DELETED", "ADDED", "DELETED"}));
  // DELETED on a transition carries the old content (still matching) with the new RV.
  EXPECT_EQ(ev[0]["object"]["metadata"]["labels"]["role"], "blue");
  EXPECT_GT(std::stoull(ev[0]["object"]["metadata"]["resourceVersion"].get<std::string>()), std::stoull(rv));
  // Set-based selectors work too, and label changes within the set are MODIFIED.
  Watch set(*s, std::string(kSlices) + "?watch=true&labelSelector=role+in+(blue2,%20red)");
  ASSERT_TRUE(set.WaitLines(1));
  EXPECT_EQ(set.events()[0]["type"], "ADDED");
  ASSERT_EQ(PatchLabels(*s, "manual-a", "red").status, 200);
  ASSERT_TRUE(set.WaitLines(2));
  EXPECT_EQ(set.events()[1]["type"], "MODIFIED");
}

TEST(FakeApi, StatusBodiesForAuthErrors) {  // checklist 10, 14
  auto s = StartServer(1);
  Reply r = Do(*s, {.path = kSlices, .token = "nope"});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body,
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})"
            "\n");
  // No token: anonymous auth (on by default in kube-apiserver) makes it system:anonymous, then 403.
  r = Do(*s, {.path = kSlices, .token = ""});
  EXPECT_EQ(r.status, 403) << "HTTPS without a token";
  EXPECT_EQ(r.Json()["message"],
            "endpointslices.discovery.k8s.io is forbidden: User \"system:anonymous\" cannot list resource "
            "\"endpointslices\" in API group \"discovery.k8s.io\" in the namespace \"default\"");
  // The health endpoints answer anonymous requests.
  EXPECT_EQ(Do(*s, {.path = "/healthz", .token = ""}).status, 200);
  // Case-insensitive scheme (python in-cluster sends "bearer").
  r = Do(*s, {.path = kSlices, .authorization = "bearer " + s->service_account_token()});
  EXPECT_EQ(r.status, 200);
  r = Do(*s, {.path = kSlices, .authorization = "BEARER " + s->service_account_token()});
  EXPECT_EQ(r.status, 200);
  // The service account may list slices in its namespace, but not cluster-wide, and not pods.
  std::string sa = s->service_account_token();
  r = Do(*s, {.path = kAllSlices, .token = sa});
  EXPECT_EQ(r.status, 403);
  json j = r.Json();
  EXPECT_EQ(j["reason"], "Forbidden");
  EXPECT_EQ(j["code"], 403);
  EXPECT_EQ(j["message"],
            "endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:default:k8slb-client\" cannot "
            "list resource \"endpointslices\" in API group \"discovery.k8s.io\" at the cluster scope");
  EXPECT_EQ(j["details"]["group"], "discovery.k8s.io");
  EXPECT_EQ(j["details"]["kind"], "endpointslices");
  r = Do(*s, {.path = "/api/v1/namespaces/default/pods/echo-0", .token = sa});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Json()["message"],
            "pods \"echo-0\" is forbidden: User \"system:serviceaccount:default:k8slb-client\" cannot get resource "
            "\"pods\" in API group \"\" in the namespace \"default\"");
  // list-only grant: the list works, the watch gets 403 with verb watch.
  s->AddToken(TokenGrant{.token = "list-only", .user = "lister",
                         .rules = {RbacRule{.verbs = {"list"}, .api_groups = {"discovery.k8s.io"},
                                            .resources = {"endpointslices"}, .namespace_name = "default"}}});
  EXPECT_EQ(Do(*s, {.path = kSlices, .token = "list-only"}).status, 200);
  r = Do(*s, {.path = std::string(kSlices) + "?watch=true", .token = "list-only"});
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.Json()["message"].get<std::string>().find("cannot watch resource"), std::string::npos);
  // Discovery is open to every authenticated user.
  EXPECT_EQ(Do(*s, {.path = "/apis", .token = "list-only"}).status, 200);
}

TEST(FakeApi, TooManyRequestsCarriesRetryAfter) {  // checklist 15
  auto s = StartServer(1);
  s->FailRequests(429, 2s, 3);
  Reply r = Get(*s, kSlices);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers["retry-after"], "3");
  EXPECT_EQ(r.Json()["reason"], "TooManyRequests");
  EXPECT_EQ(r.Json()["code"], 429);
  EXPECT_EQ(r.Json()["details"]["retryAfterSeconds"], 3);
  EXPECT_TRUE(Eventually([&] { return Get(*s, kSlices).status == 200; }, 5s));
  s->FailRequests(500, 1s, 0);
  r = Get(*s, kSlices);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.Json()["reason"], "InternalError");
}

TEST(FakeApi, LimitAndContinuePageWithoutDuplicates) {  // checklist 18
  auto s = StartServer(25, [] {
    FakeApiOptions o;
    o.max_endpoints_per_slice = 2;
    return o;
  }());
  json full = Get(*s, kSlices).Json();
  size_t total = full["items"].size();
  ASSERT_GE(total, 10u);
  std::set<std::string> seen;
  std::string cont;
  std::string first_rv;
  for (int page = 0; page < 100; ++page) {
    std::string path = std::string(kSlices) + "?limit=3" + (cont.empty() ? "" : "&continue=" + cont);
    json j = Get(*s, path).Json();
    if (first_rv.empty()) first_rv = j["metadata"]["resourceVersion"];
    EXPECT_EQ(j["metadata"]["resourceVersion"], first_rv) << "list RV constant across pages";
    EXPECT_LE(j["items"].size(), 3u);
    for (const auto& item : j["items"]) {
      EXPECT_TRUE(seen.insert(item["metadata"]["name"].get<std::string>()).second) << "duplicate";
    }
    if (page == 0) {
      // A change between pages does not leak into later pages (consistent snapshot).
      ASSERT_EQ(CreateSlice(*s, "zzz-new", "x", "198.18.2.9").status, 201);
    }
    if (!j["metadata"].contains("continue")) break;
    cont = j["metadata"]["continue"];
  }
  EXPECT_EQ(seen.size(), total);
  EXPECT_EQ(seen.count("zzz-new"), 0u);
  // RV=0 ignores limit (watch cache behaviour).
  EXPECT_EQ(Get(*s, std::string(kSlices) + "?limit=3&resourceVersion=0").Json()["items"].size(), total + 1);
  // An expired continue token: 410.
  json j = Get(*s, std::string(kSlices) + "?limit=3").Json();
  std::string token = j["metadata"]["continue"];
  ASSERT_EQ(CreateSlice(*s, "bbb-new", "x", "198.18.2.10").status, 201);
  s->ExpireHistory();
  Reply r = Get(*s, std::string(kSlices) + "?limit=3&continue=" + token);
  EXPECT_EQ(r.status, 410);
  EXPECT_EQ(r.Json()["reason"], "Expired");
}

TEST(FakeApi, FieldSelectors) {  // checklist 19
  auto s = StartServer(2);
  Reply r = Get(*s, std::string(kSlices) + "?fieldSelector=spec.foo%3Dbar");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["reason"], "BadRequest");
  EXPECT_EQ(r.Json()["message"],
            "\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"");
  std::string name = Get(*s, kSlices).Json()["items"][0]["metadata"]["name"];
  json j = Get(*s, std::string(kAllSlices) + "?fieldSelector=metadata.name%3D" + name).Json();
  ASSERT_EQ(j["items"].size(), 1u);
  EXPECT_EQ(j["items"][0]["metadata"]["name"], name);
  j = Get(*s, std::string(kAllSlices) + "?fieldSelector=metadata.namespace%3Dother").Json();
  EXPECT_TRUE(j["items"].empty());
}

TEST(FakeApi, TableOutputForKubectl) {  // checklist 13
  auto s = StartServer(3);
  const std::string table_accept =
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
      "application/json";
  for (const char* path : {kSlices, "/api/v1/namespaces/default/pods", "/apis/apps/v1/namespaces/default/deployments"}) {
    Reply r = Do(*s, {.path = std::string(path) + "?limit=500", .accept = table_accept});
    ASSERT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.content_type, "application/json") << "kube-apiserver 1.32 labels Tables plain JSON";
    json t = r.Json();
    EXPECT_EQ(t["kind"], "Table");
    ASSERT_FALSE(t["columnDefinitions"].empty());
    EXPECT_EQ(t["columnDefinitions"][0]["name"], "Name");
    ASSERT_FALSE(t["rows"].empty());
    EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    EXPECT_EQ(t["rows"][0]["object"]["metadata"]["namespace"], "default");
    EXPECT_EQ(t["rows"][0]["cells"].size(), t["columnDefinitions"].size());
  }
  // Watch: columnDefinitions in full only in the first event, null afterwards (recorded).
  std::string rv = ListRv(*s);
  Watch w(*s, std::string(kSlices) + "?watch=true&resourceVersion=0", std::nullopt, table_accept);
  ASSERT_TRUE(w.WaitLines(1));
  s->WithCluster([](fake::Cluster& c) { ASSERT_TRUE(c.Scale("default", "echo", 5).ok()); });
  ASSERT_TRUE(w.WaitLines(2, 10s));
  auto ev = w.events();
  EXPECT_EQ(ev[0]["object"]["kind"], "Table");
  EXPECT_TRUE(ev[0]["object"].contains("columnDefinitions"));
  ASSERT_TRUE(ev[1]["object"].contains("columnDefinitions"));
  EXPECT_TRUE(ev[1]["object"]["columnDefinitions"].is_null());
  EXPECT_EQ(ev[1]["object"]["rows"].size(), 1u);
  // Plain JSON when asked.
  EXPECT_EQ(Get(*s, kSlices).Json()["kind"], "EndpointSliceList");
}

TEST(FakeApi, SendInitialEventsEndsWithMarkedBookmark) {  // §2.2 WatchList
  auto s = StartServer(2);
  Reply r = Get(*s, std::string(kSlices) + "?watch=true&sendInitialEvents=true");
  EXPECT_EQ(r.status, 422) << "needs resourceVersionMatch=NotOlderThan";
  EXPECT_EQ(r.Json()["message"],
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires "
            "setting resourceVersionMatch to NotOlderThan");
  // The recorded server (etcd without progress requests) refuses the watch-list stream with one
  // ERROR event at once, so a client-go reflector falls back to list+watch without waiting.
  Watch w(*s, std::string(kSlices) +
                  "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan");
  ASSERT_TRUE(w.WaitEnd(5s));
  auto ev = w.events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["type"], "ERROR");
  EXPECT_EQ(ev[0]["object"]["kind"], "Status");
}

TEST(FakeApi, ExactListAndTooLargeResourceVersion) {  // §2.2 table, §2.4 too-new RV
  auto s = StartServer(1);
  std::string before = ListRv(*s);
  ASSERT_EQ(CreateSlice(*s, "manual-a", "x", "198.18.2.1").status, 201);
  // Exact list at the older RV does not contain the new slice; a current list does.
  json old_list =
      Get(*s, std::string(kSlices) + "?resourceVersionMatch=Exact&resourceVersion=" + before).Json();
  EXPECT_EQ(old_list["metadata"]["resourceVersion"], before);
  for (const auto& item : old_list["items"]) EXPECT_NE(item["metadata"]["name"], "manual-a");
  EXPECT_EQ(Get(*s, kSlices).Json()["items"].size(), old_list["items"].size() + 1);
  // A list at a future RV waits (3 s) for the cache to catch up, then 504 (recorded).
  Reply r = Get(*s, std::string(kSlices) + "?resourceVersion=999999999");
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.Json()["reason"], "Timeout");
  EXPECT_EQ(r.Json()["details"]["causes"][0]["reason"], "ResourceVersionTooLarge");
  EXPECT_FALSE(r.headers["retry-after"].empty());
}

TEST(FakeApi, LegacyWatchPathAndAllNamespaces) {
  auto s = StartServer(2);
  Watch legacy(*s, "/apis/discovery.k8s.io/v1/watch/namespaces/default/endpointslices");
  ASSERT_TRUE(legacy.WaitLines(1));
  EXPECT_EQ(legacy.events()[0]["type"], "ADDED");
  Watch all(*s, std::string(kAllSlices) + "?watch=true");
  ASSERT_TRUE(all.WaitLines(1));
  EXPECT_EQ(all.events()[0]["type"], "ADDED");
  std::string name = Get(*s, kSlices).Json()["items"][0]["metadata"]["name"];
  Watch named(*s, "/apis/discovery.k8s.io/v1/watch/namespaces/default/endpointslices/" + name);
  ASSERT_TRUE(named.WaitLines(1));
  EXPECT_EQ(named.events()[0]["object"]["metadata"]["name"], name);
}

TEST(FakeApi, CreateReplacePatchDeleteSlices) {
  auto s = StartServer(1);
  Reply r = CreateSlice(*s, "manual-a", "blue", "198.18.2.1");
  ASSERT_EQ(r.status, 201) << r.body;
  json obj = r.Json();
  EXPECT_EQ(CreateSlice(*s, "manual-a", "blue", "198.18.2.1").Json()["reason"], "AlreadyExists");
  // Replace with a stale resourceVersion: 409 Conflict.
  json stale = obj;
  stale["metadata"]["resourceVersion"] = "1";
  r = Do(*s, {.method = "PUT", .path = std::string(kSlices) + "/manual-a", .body = stale.dump()});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.Json()["reason"], "Conflict");
  obj["endpoints"].push_back({{"addresses", {"198.18.2.2"}}});
  r = Do(*s, {.method = "PUT", .path = std::string(kSlices) + "/manual-a", .body = obj.dump()});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["endpoints"].size(), 2u);
  r = PatchLabels(*s, "manual-a", "green");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["metadata"]["labels"]["role"], "green");
  r = Do(*s, {.method = "DELETE", .path = std::string(kSlices) + "/manual-a"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Get(*s, std::string(kSlices) + "/manual-a").status, 404);
}

TEST(FakeApi, ScaleSubresourceAndGracefulPodDelete) {
  auto s = StartServer(2);
  const std::string scale = "/apis/apps/v1/namespaces/default/deployments/echo/scale";
  Reply r = Get(*s, scale);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["kind"], "Scale");
  EXPECT_EQ(r.Json()["spec"]["replicas"], 2);
  const std::string hash_before =
      Get(*s, "/api/v1/namespaces/default/pods").Json()["items"][0]["metadata"]["labels"].value("pod-template-hash", "");
  ASSERT_FALSE(hash_before.empty());
  r = Do(*s, {.method = "PATCH", .path = scale, .body = R"({"spec":{"replicas":4}})",
              .content_type = "application/merge-patch+json"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["spec"]["replicas"], 4);
  auto ready_endpoints = [&] {
    int n = 0;
    json list = Get(*s, kSlices).Json();
    for (const auto& item : list["items"]) {
      for (const auto& e : item["endpoints"]) n += e["conditions"].value("ready", true) ? 1 : 0;
    }
    return n;
  };
  EXPECT_TRUE(Eventually([&] { return ready_endpoints() == 4; }, 10s));
  // A scale is not a template change: every pod keeps the template hash it started with (the
  // deployment controller hashes the stored, defaulted template; a model-built Deployment that came
  // back through the API with its defaults once hashed differently and started a rollout).
  for (const auto& p : Get(*s, "/api/v1/namespaces/default/pods").Json()["items"]) {
    EXPECT_EQ(p["metadata"]["labels"].value("pod-template-hash", ""), hash_before) << p["metadata"]["name"];
  }
  // Delete a pod: terminating first (deletionTimestamp), gone after the drain.
  std::string pod = Get(*s, "/api/v1/namespaces/default/pods").Json()["items"][0]["metadata"]["name"];
  r = Do(*s, {.method = "DELETE", .path = "/api/v1/namespaces/default/pods/" + pod,
              .body = R"({"propagationPolicy":"Background"})"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.Json()["metadata"].contains("deletionTimestamp"));
  EXPECT_TRUE(Eventually([&] { return Get(*s, "/api/v1/namespaces/default/pods/" + pod).status == 404; }, 10s));
  EXPECT_EQ(Get(*s, "/api/v1/namespaces/default/services/echo").status, 200);
  EXPECT_EQ(Get(*s, "/apis/apps/v1/namespaces/default/deployments/echo").Json()["spec"]["replicas"], 4);
}

TEST(FakeApi, FaultCloseStallDelayMalformedRvJump) {
  auto s = StartServer(1);
  std::string rv = ListRv(*s);
  {
    Watch w(*s, std::string(kSlices) + "?watch=true&resourceVersion=" + rv);
    ASSERT_TRUE(w.WaitHeaders());
    ASSERT_TRUE(Eventually([&] { return s->active_watches() == 1; }));
    s->CloseAllWatches();
    EXPECT_TRUE(w.WaitEnd(5s));
  }
  {
    Watch w(*s, std::string(kSlices) + "?watch=true&resourceVersion=" + rv);
    ASSERT_TRUE(w.WaitHeaders());
    s->StallStreams(1500ms);
    ASSERT_EQ(CreateSlice(*s, "manual-a", "x", "198.18.2.1").status, 201);
    std::this_thread::sleep_for(700ms);
    EXPECT_TRUE(w.lines().empty()) << "stalled";
    EXPECT_TRUE(w.WaitLines(1, 5s)) << "delivered after the stall";
  }
  {
    std::string rv2 = ListRv(*s);
    s->DelayEvents(800ms);
    Watch w(*s, std::string(kSlices) + "?watch=true&resourceVersion=" + rv2);
    ASSERT_TRUE(w.WaitHeaders());
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(PatchLabels(*s, "manual-a", "y").status, 200);
    ASSERT_TRUE(w.WaitLines(1, 5s));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 600ms);
    s->DelayEvents(0ms);
  }
  {
    Watch w(*s, std::string(kSlices) + "?watch=true&resourceVersion=" + ListRv(*s));
    ASSERT_TRUE(w.WaitHeaders());
    ASSERT_TRUE(Eventually([&] { return s->active_watches() >= 1; }));
    s->SendMalformedEvent();
    ASSERT_TRUE(w.WaitLines(1));
    EXPECT_TRUE(w.events()[0].is_discarded());
  }
  {
    std::string before = ListRv(*s);
    Watch w(*s, std::string(kSlices) + "?watch=true&resourceVersion=" + before);
    ASSERT_TRUE(w.WaitHeaders());
    s->JumpResourceVersion(1000);
    EXPECT_TRUE(w.WaitEnd(5s));
    EXPECT_GE(std::stoull(ListRv(*s)), std::stoull(before) + 1000);
    Watch old(*s, std::string(kSlices) + "?watch=true&resourceVersion=" + before);
    ASSERT_TRUE(old.WaitEnd(5s));
    ASSERT_EQ(old.events().size(), 1u);
    EXPECT_EQ(old.events()[0]["object"]["code"], 410);
  }
}

TEST(FakeApi, ScenarioTimelineDrivesModelAndApiFaults) {
  // At speed 4: scale at t=0.8 s (0.2 s real), disconnect + 429s at t=8 s (2 s real) for 2 s
  // of scenario time (0.5 s real).
  FakeApiOptions o;
  o.speed = 4;
  o.scenario = MakeScenario(2);
  scenario::Event scale{.t_s = 0.8, .kind = scenario::EventKind::kScale, .replicas = 3};
  scenario::Event disconnect{.t_s = 8, .kind = scenario::EventKind::kDisconnect};
  scenario::Event errors{.t_s = 8, .kind = scenario::EventKind::kErrors, .status = 429, .duration_s = 2};
  o.scenario->timeline = {scale, disconnect, errors};
  auto server = FakeApiServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  auto& s = **server;
  Watch w(s, std::string(kSlices) + "?watch=true");
  ASSERT_TRUE(w.WaitLines(1));
  EXPECT_TRUE(w.WaitEnd(5s)) << "the disconnect event ends the stream";
  // The scale shows in the stream before the disconnect: as MODIFIED, or (when the watch opened
  // after it under load) already in the initial ADDED. Either way the last slice state has 3 pods.
  size_t last_endpoints = 0;
  for (const auto& e : w.events()) {
    if ((e["type"] == "ADDED" || e["type"] == "MODIFIED") && e["object"].contains("endpoints")) {
      last_endpoints = e["object"]["endpoints"].size();
    }
  }
  EXPECT_EQ(last_endpoints, 3u) << "the scale event changed the slice before the disconnect";
  EXPECT_TRUE(Eventually([&] { return Get(s, kSlices).status == 429; }, 3s));
  EXPECT_TRUE(Eventually([&] { return Get(s, kSlices).status == 200; }, 5s));
}

TEST(FakeApi, ControlEndpointAndTokenRotation) {
  FakeApiOptions o;
  o.token_grace = 1s;
  auto s = StartServer(1, o);
  std::string old_token = s->service_account_token();
  std::string dir = testing::MakeTempDir("sa");
  ASSERT_TRUE(s->WriteServiceAccountDir(dir).ok());
  EXPECT_EQ(testing::ReadFile(dir + "/token"), old_token) << "no trailing newline";
  EXPECT_EQ(testing::ReadFile(dir + "/namespace"), "default");
  EXPECT_EQ(testing::ReadFile(dir + "/ca.crt"), s->ca_pem());
  Reply r = Do(*s, {.method = "POST", .path = "/fake/rotate-token"});
  ASSERT_EQ(r.status, 200) << r.body;
  std::string fresh = r.Json()["token"];
  EXPECT_NE(fresh, old_token);
  EXPECT_EQ(testing::ReadFile(dir + "/token"), fresh);
  EXPECT_EQ(Do(*s, {.path = kSlices, .token = fresh}).status, 200);
  EXPECT_EQ(Do(*s, {.path = kSlices, .token = old_token}).status, 200) << "grace period";
  EXPECT_TRUE(Eventually([&] { return Do(*s, {.path = kSlices, .token = old_token}).status == 401; }, 5s));
  // Non-admin tokens may not use /fake/.
  EXPECT_EQ(Do(*s, {.method = "POST", .path = "/fake/faults/expire", .token = fresh}).status, 403);
  r = Do(*s, {.method = "POST", .path = "/fake/faults/errors?status=429&seconds=1&retryAfter=2"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Get(*s, kSlices).status, 429);
  EXPECT_EQ(Do(*s, {.method = "POST", .path = "/fake/faults/errors?status=abc"}).status, 400);
}

TEST(FakeApi, RefusesNonLoopbackAndBadListen) {
  FakeApiOptions o;
  o.listen = "0.0.0.0:0";
  auto s = FakeApiServer::Start(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("non-loopback"), std::string::npos);
  o.listen = "127.0.0.1:99999";
  EXPECT_FALSE(FakeApiServer::Start(o).ok());
  o.listen = "127.0.0.1";
  EXPECT_FALSE(FakeApiServer::Start(o).ok());
}

TEST(FakeApi, EmptyClusterAcceptsCreates) {
  FakeApiOptions o;
  auto server = FakeApiServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  auto& s = **server;
  EXPECT_TRUE(Get(s, kAllSlices).Json()["items"].empty());
  ASSERT_EQ(CreateSlice(s, "manual-a", "x", "198.18.2.1").status, 201);
  EXPECT_EQ(Get(s, kAllSlices).Json()["items"].size(), 1u);
}

// ---- endpoint addresses: loopback refused like the real server, or accepted with a warning ----

TEST(FakeApi, RefusesLoopbackEndpointsWithTheRealServersBody) {
  auto server = FakeApiServer::Start(FakeApiOptions{});
  ASSERT_TRUE(server.ok()) << server.status();
  Reply r = CreateSlice(**server, "crud-bad-0", "x", "127.0.0.1");
  EXPECT_EQ(r.status, 422);
  // The recorded kube-apiserver 1.32 answer, byte for byte.
  EXPECT_EQ(r.body,
            R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"EndpointSlice.discovery.k8s.io \"crud-bad-0\" is invalid: endpoints[0].addresses[0]: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)","reason":"Invalid","details":{"name":"crud-bad-0","group":"discovery.k8s.io","kind":"EndpointSlice","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)","field":"endpoints[0].addresses[0]"}]},"code":422})json"
            "\n");
  EXPECT_EQ(r.headers.count("warning"), 0u);
  EXPECT_EQ(Get(**server, "/fake/state").Json()["allowLoopbackEndpoints"], false);

  // Updates and patches are checked on the resulting object.
  ASSERT_EQ(CreateSlice(**server, "ok", "x", "198.18.2.1").status, 201);
  json patch = {{"endpoints", json::array({{{"addresses", {"::1"}}}})}};
  r = Do(**server, {.method = "PATCH", .path = std::string(kSlices) + "/ok", .body = patch.dump(),
                    .content_type = "application/merge-patch+json"});
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.Json()["details"]["causes"][0]["message"],
            "Invalid value: \"::1\": must be a valid IPv4 address");
  json doc = Get(**server, std::string(kSlices) + "/ok").Json();
  doc["endpoints"][0]["addresses"][0] = "127.9.9.9";
  r = Do(**server, {.method = "PUT", .path = std::string(kSlices) + "/ok", .body = doc.dump()});
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.Json()["details"]["causes"][0]["field"], "endpoints[0].addresses[0]");
}

TEST(FakeApi, RefusesALoopbackPodCidrUnlessLoopbackEndpointsAreAllowed) {
  FakeApiOptions o;
  o.scenario = MakeScenario(1);
  o.scenario->cluster.pod_cidr = "127.0.1.0/24";
  auto refused = FakeApiServer::Start(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("pod CIDR 127.0.1.0/24 is in the loopback range"), std::string::npos)
      << refused.status();
  o.allow_loopback_endpoints = true;
  auto allowed = FakeApiServer::Start(o);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_TRUE((*allowed)->allow_loopback_endpoints());
}

TEST(FakeApi, AllowLoopbackEndpointsWarnsOnEveryWriteItAffects) {
  FakeApiOptions o;
  o.allow_loopback_endpoints = true;
  auto server = FakeApiServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  FakeApiServer& s = **server;
  EXPECT_EQ(Get(s, "/fake/state").Json()["allowLoopbackEndpoints"], true);

  Reply r = CreateSlice(s, "lo", "x", "127.0.0.5");
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_EQ(r.headers.count("warning"), 1u);
  EXPECT_EQ(r.headers["warning"].rfind("299 - \"endpoints[0].addresses[0]: Invalid value: \\\"127.0.0.5\\\": may not be "
                                       "in the loopback range (127.0.0.0/8, ::1/128)",
                                       0),
            0u)
      << r.headers["warning"];
  EXPECT_NE(r.headers["warning"].find("--allow-loopback-endpoints"), std::string::npos);

  // A write without loopback addresses carries no warning; one that keeps them does.
  EXPECT_EQ(CreateSlice(s, "plain", "x", "198.18.2.1").headers.count("warning"), 0u);
  r = PatchLabels(s, "lo", "y");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.count("warning"), 1u);

  // Only loopback is waived: the other special ranges are still refused.
  r = CreateSlice(s, "ll", "x", "169.254.1.1");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.Json()["details"]["causes"][0]["message"],
            "Invalid value: \"169.254.1.1\": may not be in the link-local range (169.254.0.0/16, fe80::/10)");
}

}  // namespace
}  // namespace k8slb::fakeapi
