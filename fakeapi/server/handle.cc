// One request, from the top: authentication, impersonation, authorization and routing, and the
// documents that are not stored objects (health, version, discovery, OpenAPI, the OIDC issuer
// document). The order is kube-apiserver's handler chain (k8s.io/apiserver/pkg/server/config.go
// DefaultBuildHandlerChain): authentication (401 for a bad token, anonymous otherwise),
// impersonation, authorization (403 with RBAC's wording, before the path is even known to exist),
// then the route (404 text for unknown paths, 404 Status for unknown resources of known groups,
// 405 for methods a resource does not serve). Every answer carries Cache-Control
// "no-cache, private" unless the route set its own.
#include <algorithm>
#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "fakeapi/api/yaml_json.h"
#include "fakeapi/server/openapi.h"
#include "fakeapi/server/rbac.h"
#include "fakeapi/server/server_impl.h"

namespace k8slb::fakeapi {
namespace {

bool HasHeader(const HttpResponse& r, absl::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (absl::EqualsIgnoreCase(k, name)) return true;
  }
  return false;
}

// strconv.ParseBool.
std::optional<bool> GoParseBool(const std::string& s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") return false;
  return std::nullopt;
}

// handlers/responsewriters isPrettyPrint: ?pretty=<bool>, else a curl, Wget or browser agent.
bool IsPretty(const HttpRequest& req) {
  if (auto p = req.Param("pretty"); p && !p->empty()) return GoParseBool(*p).value_or(false);
  std::string ua = req.HeaderOr("User-Agent");
  return absl::StartsWith(ua, "curl") || absl::StartsWith(ua, "Wget") || absl::StartsWith(ua, "Mozilla/5.0");
}

// An HTTP date (RFC 7231 IMF-fixdate) of a unix time.
std::string HttpDate(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// The Expires header of an immutable OpenAPI document (Go's time.Format with "UTC").
std::string ExpiresDate(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S UTC", &tm);
  return buf;
}

HttpResponse JsonBody(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace

HttpResponse NotAcceptableObject() {
  StatusError e{.code = 406,
                .reason = "NotAcceptable",
                .message = "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, "
                           "application/vnd.kubernetes.protobuf",
                .details = StatusDetails{}};
  return JsonBody(406, api::GoJson(StatusObject(e), true));
}

HttpResponse FakeApiServer::Impl::ObjectResponse(const RequestContext& ctx, int status, const OJson& body,
                                                 OutputFormat format) {
  HttpResponse r;
  r.status = status;
  r.content_type = ContentTypeOf(format == OutputFormat::kYaml ? OutputFormat::kYaml : OutputFormat::kJson);
  if (format == OutputFormat::kYaml) {
    r.body = api::GoYaml(body);
  } else if (ctx.pretty) {
    r.body = api::GoJson(body, true);
  } else {
    r.body = api::GoJson(body) + "\n";
  }
  return r;
}

bool FakeApiServer::Impl::Allowed(const UserInfo& user, const RequestAttributes& attrs) {
  if (user.superuser) return true;
  absl::MutexLock lock(&model_mu_);
  RbacObjects objects = [this](const std::string& resource, const std::string& ns) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return store_->List(resource, ns);
  };
  return Authorize(user, attrs, objects).allowed;
}

HttpResponse FakeApiServer::Impl::Handle(HttpRequest& req) {
  RequestContext ctx;
  ctx.req = &req;
  ctx.pretty = IsPretty(req);
  HttpResponse resp = Route(req, ctx);
  if (!HasHeader(resp, "Cache-Control")) resp.headers.insert(resp.headers.begin(), {"Cache-Control", "no-cache, private"});
  for (const std::string& w : ctx.warnings) resp.headers.emplace_back("Warning", WarningHeader(w));
  if (!absl::StartsWith(req.path, "/fake/")) Journal(req, resp.status, resp.content_type);
  return resp;
}

HttpResponse FakeApiServer::Impl::Route(HttpRequest& req, RequestContext& ctx) {
  const std::string& path = req.path;
  std::vector<std::string> segs = absl::StrSplit(path, '/', absl::SkipEmpty());

  // The OIDC discovery document is public (served before authentication's 401, as the issuer
  // discovery handler is anonymous-readable).
  std::optional<std::string> authorization = req.Header("Authorization");
  Authentication auth = authority_.Authenticate(authorization, clock_->Now());
  if (auth.result == Authentication::Result::kUnauthorized) return StatusResponse(Unauthorized());
  ctx.user = auth.user;
  ctx.warnings = auth.warnings;
  // Over plain HTTP kubectl sends no token; the fake then treats an anonymous request as the
  // admin (documented in fakeapi/README.md: plain HTTP is for loopback experiments only).
  if (options_.plain_http && !authorization) {
    ctx.user = authority_.Impersonate(options_.admin_user, {"system:masters"});
    ctx.user.superuser = true;
    ctx.user.anonymous = false;
  }

  // Impersonation (apiserver filters/impersonation.go): the requester needs the impersonate verb
  // on users (and groups); only system:masters has it here unless RBAC grants it.
  if (auto as_user = req.Header("Impersonate-User")) {
    std::vector<std::string> groups;
    for (const auto& [k, v] : req.headers) {
      if (absl::EqualsIgnoreCase(k, "Impersonate-Group")) groups.push_back(v);
    }
    RequestAttributes ia{.user = ctx.user.name, .verb = "impersonate", .api_group = "", .resource = "users",
                         .name = *as_user};
    if (!Allowed(ctx.user, ia)) return StatusResponse(Forbidden(ia));
    for (const std::string& g : groups) {
      RequestAttributes ga{.user = ctx.user.name, .verb = "impersonate", .api_group = "", .resource = "groups",
                           .name = g};
      if (!Allowed(ctx.user, ga)) return StatusResponse(Forbidden(ga));
    }
    ctx.user = authority_.Impersonate(*as_user, groups);
  }

  // The fake's own controls: admins only.
  if (!segs.empty() && segs[0] == "fake") {
    if (!ctx.user.superuser) {
      RequestAttributes a{.user = ctx.user.name, .verb = absl::AsciiStrToLower(req.method), .path = path};
      return StatusResponse(Forbidden(a));
    }
    return HandleControl(req);
  }

  if (path == "/.well-known/openid-configuration") {
    HttpResponse r;
    r.headers.emplace_back("Cache-Control", "public, max-age=3600");
    r.body = api::GoJson(OJson{{"issuer", "https://kubernetes.default.svc.cluster.local"},
                               {"jwks_uri", absl::StrCat(url_, "/openid/v1/jwks")},
                               {"response_types_supported", {"id_token"}},
                               {"subject_types_supported", {"public"}},
                               {"id_token_signing_alg_values_supported", {"RS256"}}});
    return r;
  }

  if (auto failure = InjectedFailure()) return *failure;

  // Resource requests: /api/v1/... and /apis/G/V/... with at least a resource segment.
  bool resource_request = (segs.size() >= 3 && segs[0] == "api") || (segs.size() >= 4 && segs[0] == "apis");
  if (!resource_request) {
    RequestAttributes a{.user = ctx.user.name, .verb = absl::AsciiStrToLower(req.method), .path = path};
    if (a.verb == "head") a.verb = "get";
    if (!Allowed(ctx.user, a)) return StatusResponse(Forbidden(a));
    if (auto r = NonResource(req, ctx, segs)) return *r;
    return PageNotFound();
  }

  // requestinfo.go: [watch/] [namespaces/NS/] resource [/name [/subresource]].
  ResourcePath rp;
  size_t i;
  if (segs[0] == "api") {
    rp.version = segs[1];
    i = 2;
  } else {
    rp.group = segs[1];
    rp.version = segs[2];
    i = 3;
  }
  if (i < segs.size() && segs[i] == "watch") {
    rp.legacy_watch = true;
    ++i;
  }
  std::vector<std::string> parts(segs.begin() + static_cast<ptrdiff_t>(i), segs.end());
  if (!parts.empty() && parts[0] == "namespaces" && parts.size() > 1) {
    rp.namespace_name = parts[1];
    rp.namespaced_path = true;
    if (parts.size() > 2 && parts[2] != "status" && parts[2] != "finalize") {
      parts.erase(parts.begin(), parts.begin() + 2);
    } else {
      rp.namespaced_path = false;  // /api/v1/namespaces/NS[/status]: the Namespace object itself
    }
  }
  if (parts.empty()) return PageNotFound();
  rp.resource = parts[0];
  if (parts.size() > 1) rp.name = parts[1];
  if (parts.size() > 2) rp.subresource = parts[2];
  bool too_deep = parts.size() > 3;

  std::string verb;
  std::string method = req.method;
  bool watch_param = ParseBoolParam(req.Param("watch"));
  if (method == "GET" || method == "HEAD") {
    if (rp.legacy_watch || watch_param) {
      verb = "watch";
    } else {
      verb = rp.name.empty() ? "list" : "get";
    }
  } else if (method == "POST") {
    verb = "create";
  } else if (method == "PUT") {
    verb = "update";
  } else if (method == "PATCH") {
    verb = "patch";
  } else if (method == "DELETE") {
    verb = rp.name.empty() ? "deletecollection" : "delete";
  } else {
    verb = absl::AsciiStrToLower(method);
  }
  RequestAttributes attrs{.user = ctx.user.name,
                          .verb = verb,
                          .api_group = rp.group,
                          .resource = rp.resource,
                          .subresource = rp.subresource,
                          .namespace_name = rp.namespace_name,
                          .name = rp.name};
  // A list or watch pinned to one name by a field selector is authorized as that name.
  if ((verb == "list" || verb == "watch") && rp.name.empty()) {
    if (auto fs = req.Param("fieldSelector")) {
      auto parsed = FieldSelector::Parse(*fs, {"metadata.name", "metadata.namespace"},
                                         [](const std::string& f) { return DefaultFieldSelectorMessage(f); });
      if (parsed.ok()) {
        if (auto pinned = parsed->PinnedName()) attrs.name = *pinned;
      }
    }
  }
  if (!Allowed(ctx.user, attrs)) {
    RequestAttributes shown = attrs;
    shown.name = rp.name;
    return StatusResponse(Forbidden(shown));
  }

  // Routing.
  bool known_gv = rp.group.empty() ? rp.version == "v1" : IsServedGroupVersion(rp.group, rp.version);
  if (!known_gv) {
    if (!rp.group.empty() && IsServedGroup(rp.group)) return StatusResponse(NotFoundResource());
    return PageNotFound();
  }
  rp.info = FindServed(rp.group, rp.version, rp.resource);
  if (rp.info == nullptr || too_deep) return StatusResponse(NotFoundResource());
  if (rp.info->namespaced != rp.namespaced_path) {
    if (!rp.info->namespaced) return StatusResponse(NotFoundResource());
    // A namespaced resource at the cluster-scope path: lists and watches across namespaces only.
    if (!rp.name.empty() && verb != "watch") {
      if (method == "GET") return StatusResponse(NotFoundResource());
      return StatusResponse(MethodNotAllowed());
    }
    if (method != "GET") return StatusResponse(MethodNotAllowed());
  }
  if (!rp.subresource.empty()) {
    bool known = false;
    for (const SubresourceInfo& s : rp.info->subresources) known = known || s.name == rp.subresource;
    if (!known) return StatusResponse(NotFoundResource());
  }
  if (method == "HEAD" || method == "OPTIONS") return StatusResponse(MethodNotAllowed());
  bool named = !rp.name.empty();
  if ((named && method == "POST") || (!named && (method == "PUT" || method == "PATCH"))) {
    return StatusResponse(MethodNotAllowed());
  }
  const std::vector<std::string>* verbs = &rp.info->verbs;
  if (!rp.subresource.empty()) {
    for (const SubresourceInfo& s : rp.info->subresources) {
      if (s.name == rp.subresource) verbs = &s.verbs;
    }
  }
  std::string served_verb = verb == "watch" && rp.legacy_watch && named ? "watch" : verb;
  if (std::find(verbs->begin(), verbs->end(), served_verb) == verbs->end()) {
    return StatusResponse(MethodNotAllowed());
  }

  ctx.dry_run = false;
  if (method == "GET") return HandleRead(ctx, rp);
  return HandleWrite(ctx, rp);
}

std::optional<HttpResponse> FakeApiServer::Impl::NonResource(HttpRequest& req, RequestContext& ctx,
                                                            const std::vector<std::string>& segs) {
  const std::string& path = req.path;
  if (req.method != "GET" && req.method != "HEAD") {
    if (path == "/healthz" || path == "/livez" || path == "/readyz" || path == "/version" ||
        absl::StartsWith(path, "/api") || absl::StartsWith(path, "/openapi")) {
      return StatusResponse(MethodNotAllowed());
    }
    return std::nullopt;
  }
  if (path == "/healthz" || path == "/livez" || path == "/readyz") {
    std::vector<std::string> excluded;
    for (const auto& [k, v] : req.query) {
      if (k == "exclude") excluded.push_back(v);
    }
    bool verbose = false;
    for (const auto& [k, v] : req.query) verbose = verbose || k == "verbose";
    HttpResponse r;
    r.content_type = "text/plain; charset=utf-8";
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.body = HealthBody(path.substr(1), verbose, excluded);
    return r;
  }
  if (path == "/version" || path == "/version/") return JsonBody(200, VersionJson());
  if (path == "/") return JsonBody(200, api::GoJson(RootPaths(), true));
  if (segs.empty()) return std::nullopt;
  if (segs[0] == "openapi") return ServeOpenApi(req, segs);
  std::string server_address = absl::StrCat(host_ == "0.0.0.0" ? "127.0.0.1" : host_, ":", port_);
  if (segs[0] == "api" || segs[0] == "apis") {
    bool core = segs[0] == "api";
    if (segs.size() == 1) {
      DiscoveryFormat f = NegotiateDiscovery(req.HeaderOr("Accept"));
      if (f == DiscoveryFormat::kNotAcceptable) {
        StatusError e{.code = 406,
                      .reason = "NotAcceptable",
                      .message = "only the following media types are accepted: application/json, application/yaml, "
                                 "application/vnd.kubernetes.protobuf"};
        return JsonBody(406, api::GoJson(StatusObject(e), true));
      }
      OJson doc = DiscoveryRoot(core, f, server_address);
      HttpResponse r;
      r.content_type = DiscoveryContentType(f);
      if (f == DiscoveryFormat::kLegacy && absl::StrContains(req.HeaderOr("Accept"), "application/yaml") &&
          !absl::StrContains(req.HeaderOr("Accept"), "application/json")) {
        r.content_type = "application/yaml";
        r.body = api::GoYaml(doc);
        return r;
      }
      r.body = ctx.pretty ? api::GoJson(doc, true) : api::GoJson(doc) + "\n";
      if (f == DiscoveryFormat::kAggregatedV2 || f == DiscoveryFormat::kAggregatedV2Beta1) {
        // Aggregated discovery is cacheable: its ETag is the hash of the v2 document.
        OJson v2 = f == DiscoveryFormat::kAggregatedV2 ? doc : DiscoveryRoot(core, DiscoveryFormat::kAggregatedV2, server_address);
        r.headers.emplace_back("Cache-Control", "public");
        r.headers.emplace_back("Etag", absl::StrCat("\"", Sha512Hex(api::GoJson(v2)), "\""));
        r.headers.emplace_back("Vary", "Accept");
      }
      return r;
    }
    if (core) {
      if (segs.size() == 2 && segs[1] == "v1") return JsonBody(200, api::GoJson(ApiResourceList("", "v1")) + "\n");
      return std::nullopt;
    }
    if (segs.size() == 2) {
      if (!IsServedGroup(segs[1])) return std::nullopt;
      return JsonBody(200, api::GoJson(ApiGroup(segs[1])) + "\n");
    }
    if (segs.size() == 3) {
      if (IsServedGroupVersion(segs[1], segs[2])) {
        return JsonBody(200, api::GoJson(ApiResourceList(segs[1], segs[2])) + "\n");
      }
      if (IsServedGroup(segs[1])) return StatusResponse(NotFoundResource());
      return std::nullopt;
    }
  }
  return std::nullopt;
}

HttpResponse FakeApiServer::Impl::ServeOpenApi(HttpRequest& req, const std::vector<std::string>& segs) {
  int64_t now = NowUnix();
  auto with_common = [&](HttpResponse r) {
    r.headers.insert(r.headers.begin(), {"Accept-Ranges", "bytes"});
    r.headers.emplace_back("Last-Modified", HttpDate(start_unix_));
    return r;
  };
  if (segs.size() == 2 && segs[1] == "v2") {
    const OpenApiDocument& doc = OpenApiV2();
    HttpResponse r;
    r.body = doc.json;
    r.headers.emplace_back("Etag", absl::StrCat("\"", doc.hash, "\""));
    r.headers.emplace_back("Vary", "Accept-Encoding");
    r.headers.emplace_back("Vary", "Accept");
    return with_common(std::move(r));
  }
  if (segs.size() == 2 && segs[1] == "v3") {
    HttpResponse r;
    r.content_type = "text/plain; charset=utf-8";
    r.body = OpenApiV3Index();
    return with_common(std::move(r));
  }
  if (segs.size() >= 3 && segs[1] == "v3") {
    std::string key = absl::StrJoin(std::vector<std::string>(segs.begin() + 2, segs.end()), "/");
    const auto& docs = OpenApiV3Documents();
    auto it = docs.find(key);
    if (it == docs.end()) {
      HttpResponse r;
      r.status = 404;
      r.content_type = "";
      return r;
    }
    const OpenApiDocument& doc = it->second;
    std::string etag = absl::StrCat("\"", doc.hash, "\"");
    auto hash = req.Param("hash");
    if (hash && *hash != doc.hash) {
      HttpResponse r;
      r.status = 301;
      r.headers.emplace_back("Etag", etag);
      r.headers.emplace_back("Location", absl::StrCat("/openapi/v3/", key, "?hash=", doc.hash));
      r.headers.emplace_back("Vary", "Accept");
      return r;
    }
    HttpResponse r;
    r.body = doc.json;
    if (hash) r.headers.emplace_back("Cache-Control", "public, immutable");
    r.headers.emplace_back("Etag", etag);
    if (hash) r.headers.emplace_back("Expires", ExpiresDate(now + 365 * 24 * 3600));
    r.headers.emplace_back("Vary", "Accept");
    return with_common(std::move(r));
  }
  return PageNotFound();
}

}  // namespace k8slb::fakeapi
