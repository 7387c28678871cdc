// Reads: get, list and watch, with kube-apiserver 1.32's resourceVersion semantics
// (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions) as recorded:
//   list, resourceVersion unset        a consistent read (etcd): the latest state, paginated by
//                                      limit/continue; metadata.resourceVersion = etcd's revision
//   list, resourceVersion=0            the watch cache: every match, limit ignored, no continue
//   list, resourceVersion=N (no match) NotOlderThan from the cache without limit (a 3 s wait, then
//      or NotOlderThan                 504, when N is past the cache); with limit: Exact semantics
//   list, resourceVersionMatch=Exact   the state at N from etcd history (410 when compacted, 500
//                                      for a future revision)
//   watch, resourceVersion unset       ADDED for the current state, then changes (a consistent
//                                      start, as a production server with etcd 3.5 gives it; the
//                                      recorded etcd-3.4 server waits 3 s when the cache lags)
//   watch, resourceVersion=0           ADDED for the cached state, then changes
//   watch, resourceVersion=N           changes after N (an ERROR 410 event when N is older than the
//                                      watch cache window)
//   allowWatchBookmarks with RV unset or 0, and sendInitialEvents with bookmarks: the WatchList
//   path, which this build answers as the recorded server does without the RequestWatchProgress
//   storage feature: one ERROR event (500) and the end of the stream; sendInitialEvents without
//   bookmarks: the recorded 3 s wait and ERROR (504) when the resource's cache lags etcd.
// Query parameters are decoded and validated in the server's order: content negotiation (406),
// decoding (400), ListOptions validation (422), then storage (500, 504, 410).
#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "fakeapi/api/go_json.h"
#include "fakeapi/api/yaml_json.h"
#include "fakeapi/server/server_impl.h"

namespace k8slb::fakeapi {
namespace {

// The namespace objects live in: /api/v1/namespaces/NS names the Namespace NS itself (its
// request namespace is NS, as requestinfo.go sets it for authorization), which is cluster-scoped.
std::string ScopeNamespace(const ResourcePath& rp) {
  return rp.info->namespaced ? rp.namespace_name : std::string();
}


constexpr auto kTooLargeWait = std::chrono::seconds(3);

std::vector<std::string> KnownFieldSelectors(const ResourceInfo& r) {
  if (r.resource == "pods") {
    return {"metadata.name",       "metadata.namespace",     "spec.nodeName",    "spec.restartPolicy",
            "spec.schedulerName",  "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
            "status.podIP",        "status.nominatedNodeName"};
  }
  if (r.resource == "namespaces") return {"metadata.name", "status.phase"};
  if (r.resource == "services") return {"metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"};
  return {"metadata.name", "metadata.namespace"};
}

std::string FieldSelectorMessage(const ResourceInfo& r, const std::string& field) {
  if (r.resource == "pods" || r.resource == "namespaces" || r.resource == "services") {
    return absl::StrCat("field label not supported: ", field);
  }
  return DefaultFieldSelectorMessage(field);
}

std::string FieldValue(const OJson& o, const std::string& field) {
  const OJson* cur = &o;
  for (absl::string_view part : absl::StrSplit(field, '.')) {
    if (!cur->is_object()) return "";
    auto it = cur->find(std::string(part));
    if (it == cur->end()) return "";
    cur = &*it;
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_boolean()) return cur->get<bool>() ? "true" : "false";
  if (cur->is_number()) return cur->dump();
  return "";
}

std::map<std::string, std::string> LabelsOf(const OJson& o) {
  std::map<std::string, std::string> out;
  if (!o.contains("metadata") || !o["metadata"].contains("labels")) return out;
  const OJson& labels = o["metadata"]["labels"];
  if (!labels.is_object()) return out;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

// strconv.ParseInt's error text.
std::string ParseIntError(const std::string& text) {
  return absl::StrCat("strconv.ParseInt: parsing ", api::GoQuote(text), ": invalid syntax");
}

StatusError TooLargeResourceVersion(uint64_t want, uint64_t current) {
  return StatusError{.code = 504,
                     .reason = "Timeout",
                     .message = absl::StrCat("Timeout: Too large resource version: ", want, ", current: ", current),
                     .details = StatusDetails{.causes = {{.reason = "ResourceVersionTooLarge",
                                                          .message = "Too large resource version"}},
                                              .retry_after_s = 1},
                     .retry_after_header = 1};
}

StatusError WatchProgressDisabled() {
  return StatusError{.code = 500,
                     .reason = "InternalError",
                     .message = "a watch stream was requested by the client but the required storage feature "
                                "RequestWatchProgress is disabled"};
}

std::string EncodeContinue(uint64_t rv, const std::string& start) {
  OJson token = {{"v", "meta.k8s.io/v1"}, {"rv", static_cast<int64_t>(rv)}, {"start", start}};
  return absl::WebSafeBase64Escape(api::GoJson(token));
}

struct ContinueToken {
  int64_t rv = 0;
  std::string start;
};

// storage.DecodeContinue.
absl::StatusOr<ContinueToken> DecodeContinue(const std::string& text) {
  std::string data;
  // base64.RawURLEncoding: no padding, URL alphabet.
  bool valid = !text.empty() && text.find('=') == std::string::npos &&
               text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
                   std::string::npos &&
               text.size() % 4 != 1;
  if (!valid || !absl::WebSafeBase64Unescape(text, &data)) {
    size_t bad = text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    if (bad == std::string::npos) bad = text.size() - text.size() % 4;
    return absl::InvalidArgumentError(
        absl::StrCat("continue key is not valid: illegal base64 data at input byte ", bad));
  }
  auto doc = api::ParseGoJson(data);
  if (!doc.ok()) return absl::InvalidArgumentError(absl::StrCat("continue key is not valid: ", doc.status().message()));
  const OJson& j = doc->value;
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("continue key is not valid: json: cannot unmarshal ",
                                                   j.is_array() ? "array" : j.is_string() ? "string" : "number",
                                                   " into Go value of type storage.continueToken"));
  }
  if (j.value("v", "") != "meta.k8s.io/v1") {
    return absl::InvalidArgumentError("continue key is not valid: server does not recognize this encoded version");
  }
  ContinueToken t;
  if (j.contains("rv") && j["rv"].is_number_integer()) t.rv = j["rv"].get<int64_t>();
  t.start = j.value("start", "");
  if (t.rv == 0) {
    return absl::InvalidArgumentError(
        "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
  }
  if (t.start.empty()) {
    return absl::InvalidArgumentError("continue key is not valid: encoded start key empty (version meta.k8s.io/v1)");
  }
  return t;
}

}  // namespace

// The list options of a request, decoded (400 on bad syntax) and validated (422).
struct ListQuery {
  LabelSelector labels;
  FieldSelector fields;
  std::optional<int64_t> limit;
  std::string continue_token;
  std::optional<std::string> resource_version;  // as given ("" = unset)
  std::string rv_match;
  std::optional<bool> send_initial_events;
  bool allow_bookmarks = false;
  std::optional<int64_t> timeout_seconds;
  std::string include_object;  // Table rows: "Metadata" (default), "None", "Object"
};

namespace {

std::optional<HttpResponse> DecodeListQuery(const HttpRequest& req, const ResourceInfo& r, bool watch, ListQuery* q) {
  if (auto ls = req.Param("labelSelector")) {
    auto parsed = LabelSelector::Parse(*ls);
    if (!parsed.ok()) return StatusResponse(BadRequest(std::string(parsed.status().message())));
    q->labels = std::move(*parsed);
  }
  if (auto fs = req.Param("fieldSelector")) {
    auto parsed = FieldSelector::Parse(*fs, KnownFieldSelectors(r),
                                       [&](const std::string& f) { return FieldSelectorMessage(r, f); });
    if (!parsed.ok()) return StatusResponse(BadRequest(std::string(parsed.status().message())));
    q->fields = std::move(*parsed);
  }
  if (auto l = req.Param("limit"); l && !l->empty()) {
    int64_t v;
    if (!absl::SimpleAtoi(*l, &v)) return StatusResponse(BadRequest(ParseIntError(*l)));
    if (v > 0) q->limit = v;
  }
  if (auto t = req.Param("timeoutSeconds"); t && !t->empty()) {
    int64_t v;
    if (!absl::SimpleAtoi(*t, &v)) return StatusResponse(BadRequest(ParseIntError(*t)));
    q->timeout_seconds = v;
  }
  q->continue_token = req.Param("continue").value_or("");
  if (auto rv = req.Param("resourceVersion"); rv && !rv->empty()) q->resource_version = *rv;
  q->rv_match = req.Param("resourceVersionMatch").value_or("");
  if (auto s = req.Param("sendInitialEvents")) q->send_initial_events = ParseBoolParam(s);
  q->allow_bookmarks = ParseBoolParam(req.Param("allowWatchBookmarks"));
  q->include_object = req.Param("includeObject").value_or("");

  // apimachinery internalversion/validation ValidateListOptions.
  api::FieldErrorList errs;
  const std::string& match = q->rv_match;
  if (watch) {
    if (q->send_initial_events && match != "NotOlderThan") {
      errs.push_back(api::Forbidden("resourceVersionMatch",
                                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"));
    }
    if (!match.empty()) {
      if (!q->send_initial_events) {
        errs.push_back(api::Forbidden("resourceVersionMatch",
                                      "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"));
      }
      if (match != "NotOlderThan") {
        errs.push_back(api::NotSupported("resourceVersionMatch", api::GoValue::String(match), {"NotOlderThan"}));
      }
      if (!q->continue_token.empty()) {
        errs.push_back(api::Forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"));
      }
    }
  } else {
    if (!match.empty()) {
      if (!q->resource_version) {
        errs.push_back(
            api::Forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided"));
      }
      if (!q->continue_token.empty()) {
        errs.push_back(api::Forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"));
      }
      if (match != "Exact" && match != "NotOlderThan") {
        errs.push_back(
            api::NotSupported("resourceVersionMatch", api::GoValue::String(match), {"Exact", "NotOlderThan", ""}));
      }
      if (match == "Exact" && q->resource_version == "0") {
        errs.push_back(api::Forbidden("resourceVersionMatch",
                                      "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""));
      }
    }
    if (q->send_initial_events) {
      errs.push_back(api::Forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"));
    }
  }
  if (!errs.empty()) return StatusResponse(InvalidObject("meta.k8s.io", "ListOptions", "", errs));
  return std::nullopt;
}

// The storage layer's parse of a resourceVersion (500 with no reason, as recorded).
std::optional<HttpResponse> ParseRv(const std::optional<std::string>& text, uint64_t* out) {
  *out = 0;
  if (!text) return std::nullopt;
  if (!absl::SimpleAtoi(*text, out) || (*text)[0] == '+' || (*text)[0] == '-') {
    return StatusResponse(PlainInternalError(absl::StrCat("resourceVersion: Invalid value: ", api::GoQuote(*text),
                                                          ": strconv.ParseUint: parsing ", api::GoQuote(*text),
                                                          ": invalid syntax")));
  }
  return std::nullopt;
}

void AddCacheControl(HttpResponse& r) {
  for (const auto& [k, v] : r.headers) {
    if (absl::EqualsIgnoreCase(k, "Cache-Control")) return;
  }
  r.headers.insert(r.headers.begin(), {"Cache-Control", "no-cache, private"});
}

}  // namespace

HttpResponse FakeApiServer::Impl::HandleRead(RequestContext& ctx, const ResourcePath& rp) {
  const HttpRequest& req = *ctx.req;
  bool watch = rp.legacy_watch || ParseBoolParam(req.Param("watch"));
  Negotiated n = NegotiateOutput(req.HeaderOr("Accept"), watch);
  if (!n.acceptable) {
    if (watch) {
      StatusError e{.code = 406,
                    .reason = "NotAcceptable",
                    .message = "only the following media types are accepted: application/json;stream=watch, "
                               "application/vnd.kubernetes.protobuf;stream=watch"};
      HttpResponse r;
      r.status = 406;
      if (absl::StrContains(req.HeaderOr("Accept"), "yaml")) {
        r.content_type = "application/yaml";
        r.body = api::GoYaml(StatusObject(e));
      } else {
        r.body = api::GoJson(StatusObject(e)) + "\n";
      }
      return r;
    }
    return NotAcceptableObject();
  }
  if (watch) return Watch(ctx, rp, n.format);
  if (rp.name.empty()) return List(ctx, rp, n.format);
  return Get(ctx, rp, n.format);
}

HttpResponse FakeApiServer::Impl::WaitForResourceVersion(RequestContext& ctx, const ResourcePath& rp, uint64_t rv,
                                                         std::function<HttpResponse()> retry) {
  auto deferred = std::make_shared<DeferredResponse>();
  std::string tag = ctx.req->HeaderOr("X-K8slb-Watch-Tag");
  SteadyTime due = clock_->Now() + kTooLargeWait;
  {
    absl::MutexLock lock(&fault_mu_);
    held_.push_back(Pending{tag, due});
  }
  std::string resource = rp.info->resource;
  clock_->Schedule(due, [this, deferred, retry, tag, due, rv, resource] {
    {
      absl::MutexLock lock(&fault_mu_);
      for (auto it = held_.begin(); it != held_.end(); ++it) {
        if (it->tag == tag && it->due == due) {
          held_.erase(it);
          break;
        }
      }
    }
    uint64_t current;
    {
      absl::MutexLock lock(&model_mu_);
      current = store_->ResourceRv(resource);
    }
    HttpResponse r = current >= rv ? retry() : StatusResponse(TooLargeResourceVersion(rv, current));
    AddCacheControl(r);
    deferred->Complete(std::move(r));
  });
  HttpResponse r;
  r.deferred = deferred;
  return r;
}

HttpResponse FakeApiServer::Impl::Get(RequestContext& ctx, const ResourcePath& rp, OutputFormat format) {
  const HttpRequest& req = *ctx.req;
  std::optional<std::string> rv_text;
  if (auto rv = req.Param("resourceVersion"); rv && !rv->empty()) rv_text = *rv;
  uint64_t rv = 0;
  if (auto bad = ParseRv(rv_text, &rv)) return *bad;
  std::string include = req.Param("includeObject").value_or("");
  auto answer = [this, ctx, rp, format, include]() -> HttpResponse {
    ObjectPtr object;
    {
      absl::MutexLock lock(&model_mu_);
      object = store_->Get(rp.info->resource, ScopeNamespace(rp), rp.name);
    }
    if (rp.subresource == "scale") {
      // registry/apps/deployment/storage: the not-found names the subresource.
      GroupResource gr = GroupResourceOf(*rp.info);
      gr.resource += "/scale";
      if (!object) return StatusResponse(NotFound(gr, rp.name));
      return ObjectResponse(ctx, 200, ScaleOf(rp, *object), OutputFormat::kJson);
    }
    if (!object) return StatusResponse(NotFound(GroupResourceOf(*rp.info), rp.name));
    OJson body;
    if (format == OutputFormat::kTable) {
      OJson row = TableRow(*rp.info, *object, NowUnix());
      if (include == "None") row["object"] = nullptr;
      if (include == "Object") row["object"] = WatchHub::WithTypeMeta(*rp.info, *object);
      OJson rows = OJson::array();
      rows.push_back(std::move(row));
      body = MakeTable(*rp.info, MetaStr(*object, "resourceVersion"), std::move(rows), true);
    } else if (format == OutputFormat::kPartialMetadata) {
      body = OJson{{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", (*object)["metadata"]}};
    } else {
      body = WatchHub::WithTypeMeta(*rp.info, *object);
    }
    return ObjectResponse(ctx, 200, body, format);
  };
  if (rv > 0) {
    uint64_t current;
    {
      absl::MutexLock lock(&model_mu_);
      current = store_->ResourceRv(rp.info->resource);
    }
    if (rv > current) return WaitForResourceVersion(ctx, rp, rv, answer);
  }
  return answer();
}

HttpResponse FakeApiServer::Impl::List(RequestContext& ctx, const ResourcePath& rp, OutputFormat format) {
  const HttpRequest& req = *ctx.req;
  ListQuery q;
  if (auto bad = DecodeListQuery(req, *rp.info, /*watch=*/false, &q)) return *bad;
  if (!q.continue_token.empty() && q.resource_version && *q.resource_version != "0") {
    return StatusResponse(BadRequest("specifying resource version is not allowed when using continue"));
  }
  uint64_t rv = 0;
  if (auto bad = ParseRv(q.resource_version, &rv)) return *bad;
  std::optional<ContinueToken> cont;
  if (!q.continue_token.empty()) {
    auto t = DecodeContinue(q.continue_token);
    if (!t.ok()) return StatusResponse(BadRequest(absl::StrCat("invalid continue token: ", t.status().message())));
    cont = *t;
  }

  // Where the list is read: the watch cache (latest cached state) or etcd (at a revision).
  enum class Source { kCache, kEtcdLatest, kEtcdAt };
  Source source;
  uint64_t at = 0;
  bool use_limit = true;
  if (cont) {
    source = Source::kEtcdAt;
    at = static_cast<uint64_t>(cont->rv);
  } else if (!q.resource_version) {
    source = Source::kEtcdLatest;
  } else if (rv == 0) {
    source = Source::kCache;
    use_limit = false;
  } else if (q.rv_match == "Exact" || (q.rv_match.empty() && q.limit)) {
    source = Source::kEtcdAt;
    at = rv;
  } else {
    source = Source::kCache;
    use_limit = false;
  }

  auto answer = [this, ctx, rp, format, q, source, at, use_limit, cont]() -> HttpResponse {
    std::vector<ObjectPtr> items;
    uint64_t list_rv;
    {
      absl::MutexLock lock(&model_mu_);
      uint64_t global = cluster_->resource_version();
      if (source == Source::kEtcdAt) {
        if (at > global) {
          return StatusResponse(PlainInternalError("etcdserver: mvcc: required revision is a future revision"));
        }
        auto state = store_->StateAt(rp.info->resource, ScopeNamespace(rp), at);
        if (!state.ok()) {
          if (cont) {
            // The 410 carries a token to continue from the start key at the latest revision.
            StatusError e = Expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a "
                "new list without the continue parameter, or use the continue token in this response to retrieve "
                "the remainder of the results. Continuing with the provided token results in an inconsistent list "
                "- objects that were created, modified, or deleted between the time the first chunk was returned "
                "and now may show up in the list.");
            OJson status = StatusObject(e);
            OJson token = {{"v", "meta.k8s.io/v1"}, {"rv", -1}, {"start", cont->start}};
            status["metadata"] = {{"continue", absl::WebSafeBase64Escape(api::GoJson(token))}};
            HttpResponse r;
            r.status = 410;
            r.body = api::GoJson(status) + "\n";
            return r;
          }
          return StatusResponse(Expired("The resourceVersion for the provided list is too old."));
        }
        items = std::move(*state);
        list_rv = at;
      } else if (source == Source::kEtcdLatest) {
        items = store_->List(rp.info->resource, ScopeNamespace(rp));
        list_rv = global;
      } else {
        items = store_->List(rp.info->resource, ScopeNamespace(rp));
        list_rv = store_->ResourceRv(rp.info->resource);
      }
    }
    // Filter, then page by key (namespace/name, or name within one namespace).
    std::vector<ObjectPtr> matched;
    for (const ObjectPtr& o : items) {
      if (!q.labels.Matches(LabelsOf(*o))) continue;
      if (!q.fields.Matches([&](const std::string& f) { return FieldValue(*o, f); })) continue;
      matched.push_back(o);
    }
    auto key_of = [&](const OJson& o) {
      return rp.namespaced_path || !rp.info->namespaced ? MetaStr(o, "name")
                                                       : absl::StrCat(MetaStr(o, "namespace"), "/", MetaStr(o, "name"));
    };
    std::vector<ObjectPtr> page;
    std::string next_continue;
    std::optional<int64_t> remaining;
    size_t start = 0;
    if (cont) {
      while (start < matched.size() && key_of(*matched[start]) < cont->start) ++start;
    }
    if (use_limit && q.limit && static_cast<int64_t>(matched.size() - start) > *q.limit) {
      size_t end = start + static_cast<size_t>(*q.limit);
      page.assign(matched.begin() + static_cast<ptrdiff_t>(start), matched.begin() + static_cast<ptrdiff_t>(end));
      next_continue = EncodeContinue(list_rv, key_of(*page.back()) + std::string(1, '\0'));
      if (q.labels.empty() && q.fields.empty()) remaining = static_cast<int64_t>(matched.size() - end);
    } else {
      page.assign(matched.begin() + static_cast<ptrdiff_t>(start), matched.end());
    }

    OJson meta = {{"resourceVersion", std::to_string(list_rv)}};
    if (!next_continue.empty()) meta["continue"] = next_continue;
    if (remaining) meta["remainingItemCount"] = *remaining;
    OJson body;
    if (format == OutputFormat::kTable) {
      OJson rows = OJson::array();
      int64_t now = NowUnix();
      for (const ObjectPtr& o : page) {
        OJson row = TableRow(*rp.info, *o, now);
        if (q.include_object == "None") row["object"] = nullptr;
        if (q.include_object == "Object") row["object"] = WatchHub::WithTypeMeta(*rp.info, *o);
        rows.push_back(std::move(row));
      }
      body = MakeTable(*rp.info, std::to_string(list_rv), std::move(rows), true);
      if (!next_continue.empty()) body["metadata"]["continue"] = next_continue;
      if (remaining) body["metadata"]["remainingItemCount"] = *remaining;
    } else if (format == OutputFormat::kPartialMetadata) {
      OJson list = OJson::array();
      for (const ObjectPtr& o : page) {
        list.push_back({{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", (*o)["metadata"]}});
      }
      body = {{"kind", "PartialObjectMetadataList"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", meta}, {"items", list}};
    } else {
      OJson list = OJson::array();
      for (const ObjectPtr& o : page) list.push_back(*o);
      body = {{"kind", rp.info->kind + "List"}, {"apiVersion", rp.info->GroupVersion()}, {"metadata", meta}, {"items", list}};
    }
    return ObjectResponse(ctx, 200, body, format);
  };

  if (source == Source::kCache && rv > 0) {
    uint64_t current;
    {
      absl::MutexLock lock(&model_mu_);
      current = store_->ResourceRv(rp.info->resource);
    }
    if (rv > current) return WaitForResourceVersion(ctx, rp, rv, answer);
  }
  return answer();
}

HttpResponse FakeApiServer::Impl::Watch(RequestContext& ctx, const ResourcePath& rp, OutputFormat format) {
  const HttpRequest& req = *ctx.req;
  ListQuery q;
  if (auto bad = DecodeListQuery(req, *rp.info, /*watch=*/true, &q)) return *bad;
  uint64_t rv = 0;
  if (auto bad = ParseRv(q.resource_version, &rv)) return *bad;

  WatchSpec spec;
  spec.resource = rp.info;
  spec.filter.namespace_name = ScopeNamespace(rp);
  spec.filter.labels = q.labels;
  spec.filter.fields = q.fields;
  if (!rp.name.empty()) {
    // A watch of one object (the legacy /watch/.../NAME path) is a field selector on its name.
    auto pinned = FieldSelector::Parse(absl::StrCat("metadata.name=", rp.name), {"metadata.name"},
                                       [](const std::string& f) { return DefaultFieldSelectorMessage(f); });
    if (pinned.ok()) spec.filter.fields = *pinned;
  }
  spec.format = format == OutputFormat::kTable ? OutputFormat::kTable : OutputFormat::kJson;
  spec.bookmarks = q.allow_bookmarks;
  spec.tag = req.HeaderOr("X-K8slb-Watch-Tag");
  spec.target = req.target;
  SteadyTime now = clock_->Now();
  if (q.timeout_seconds && *q.timeout_seconds > 0) {
    spec.deadline = now + std::chrono::seconds(*q.timeout_seconds);
  } else {
    int64_t min_s = options_.default_watch_timeout.count();
    uint64_t jitter;
    {
      absl::MutexLock lock(&rng_mu_);
      jitter = rng_();
    }
    spec.deadline = now + std::chrono::seconds(min_s + (min_s > 0 ? static_cast<int64_t>(jitter % min_s) : 0));
  }
  HttpResponse r;
  r.status = 200;
  r.content_type = "application/json";

  absl::MutexLock lock(&model_mu_);
  // The WatchList path (sendInitialEvents, or allowWatchBookmarks from "now"): refused at once
  // as the recorded server does without the RequestWatchProgress storage feature.
  bool rv_unset_or_zero = !q.resource_version || rv == 0;
  if ((q.send_initial_events.value_or(false) && q.allow_bookmarks) ||
      (!q.send_initial_events && q.allow_bookmarks && rv_unset_or_zero)) {
    r.stream = hub_->ErrorStream(spec, StatusJson(WatchProgressDisabled()));
    return r;
  }
  if (q.send_initial_events == false) {
    // sendInitialEvents=false: only changes, from the given version (or from now).
    spec.from_rv = q.resource_version ? rv : store_->ResourceRv(rp.info->resource);
  } else if (q.send_initial_events == true && rv_unset_or_zero) {
    // A watch-list request without bookmarks: the cache must first reach etcd's revision, which
    // the recorded server (etcd 3.4, no progress requests) waits 3 s for and then gives up on
    // with an ERROR event, unless the resource's own last write is etcd's last write.
    uint64_t global = cluster_->resource_version();
    uint64_t cache = store_->ResourceRv(rp.info->resource);
    if (cache < global) {
      if (spec.deadline <= now + kTooLargeWait) {
        r.stream = hub_->ErrorStream(spec, "", spec.deadline - now);
      } else {
        r.stream = hub_->ErrorStream(spec, StatusJson(TooLargeResourceVersion(global, cache)), kTooLargeWait);
      }
      return r;
    }
  } else if (q.resource_version && rv != 0) {
    spec.from_rv = rv;
  }
  // resourceVersion unset or 0: ADDED for the current state, then changes. (Unset asks for a
  // consistent start; a production server with etcd 3.5 gets it at once through a progress
  // request, which is what this server does; see tests/fidelity/deviations.json.)
  auto sink = hub_->Start(spec);
  if (!sink.ok()) {
    r.stream = hub_->ErrorStream(spec, StatusJson(Expired(std::string(sink.status().message()))));
    return r;
  }
  r.stream = *sink;
  return r;
}

}  // namespace k8slb::fakeapi
