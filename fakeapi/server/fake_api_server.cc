#include "fakeapi/server/fake_api_server.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fakeapi/api/codec.h"
#include "fakeapi/api/managed_fields.h"
#include "fakeapi/api/yaml_json.h"
#include "fakeapi/server/server_impl.h"
#include "input/numeric_flag.h"

namespace k8slb::fakeapi {
namespace {

bool IsLoopback(const std::string& host) {
  if (host == "::1") return true;
  return absl::StartsWith(host, "127.");
}

bool CidrIsLoopback(const std::string& cidr) { return absl::StartsWith(cidr, "127."); }

absl::Status WriteFileAtomic(const std::string& path, const std::string& content, mode_t mode) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
    out << content;
    if (!out.flush()) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  ::chmod(tmp.c_str(), mode);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// The fields of a model object the API object takes from the model (identity), the rest comes
// from the write that caused the event.
void TakeIdentity(OJson& api_object, const nlohmann::json& model_object, uint64_t rv) {
  OJson& meta = api_object["metadata"];
  if (model_object.contains("metadata")) {
    const nlohmann::json& m = model_object["metadata"];
    for (const char* f : {"uid", "creationTimestamp", "name"}) {
      if (m.contains(f) && m[f].is_string() && !m[f].get<std::string>().empty()) meta[f] = m[f].get<std::string>();
    }
  }
  // What the registry assigns that the model allocates: a Service's cluster IPs.
  if (model_object.contains("spec") && model_object["spec"].is_object() && api_object.contains("spec")) {
    const nlohmann::json& spec = model_object["spec"];
    for (const char* f : {"clusterIP", "clusterIPs"}) {
      if (spec.contains(f) && !api_object["spec"].contains(f)) api_object["spec"][f] = OJson::parse(spec[f].dump());
    }
  }
  api::SetResourceVersion(api_object, std::to_string(rv));
}

// A simulated write to an object a client wrote: the client's fields stay, the model's
// simulated ones (status; a Deployment's replicas as scaled; a pod's deletion) are taken.
OJson MergeSimulated(const OJson& prev, const OJson& model, fake::ResourceKind kind) {
  if (kind == fake::ResourceKind::kEndpointSlice) return model;
  OJson out = prev;
  if (model.contains("status")) out["status"] = model["status"]; else out.erase("status");
  if (kind == fake::ResourceKind::kDeployment && model.contains("spec") && model["spec"].contains("replicas")) {
    out["spec"]["replicas"] = model["spec"]["replicas"];
  }
  if (kind == fake::ResourceKind::kDeployment && model.contains("metadata") && model["metadata"].contains("generation")) {
    out["metadata"]["generation"] = model["metadata"]["generation"];
  }
  if (kind == fake::ResourceKind::kPod && model.contains("metadata")) {
    for (const char* f : {"deletionTimestamp", "deletionGracePeriodSeconds"}) {
      if (model["metadata"].contains(f)) out["metadata"][f] = model["metadata"][f];
    }
    if (model.contains("spec") && model["spec"].contains("nodeName")) out["spec"]["nodeName"] = model["spec"]["nodeName"];
  }
  return out;
}

// The manager a real cluster's components write as (metadata.managedFields of their objects).
std::string ModelManager(fake::ResourceKind kind) {
  switch (kind) {
    case fake::ResourceKind::kPod:
      return "kubelet";
    default:
      return "kube-controller-manager";
  }
}

}  // namespace

std::string MetaStr(const OJson& o, const char* field) {
  if (!o.is_object()) return "";
  auto m = o.find("metadata");
  if (m == o.end() || !m->is_object()) return "";
  auto it = m->find(field);
  if (it == m->end() || !it->is_string()) return "";
  return it->get<std::string>();
}

GroupResource GroupResourceOf(const ResourceInfo& r) { return GroupResource{r.group, r.resource}; }

std::string ManagerFromUserAgent(const std::string& user_agent) {
  // fieldmanager's default: the User-Agent up to the first '/'.
  std::string m = user_agent.substr(0, user_agent.find('/'));
  return m.size() > 128 ? m.substr(0, 128) : m;
}

std::string WarningHeader(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (c == '"' || c == '\\') escaped.push_back('\\');
    escaped.push_back(c);
  }
  return absl::StrCat("299 - \"", escaped, "\"");
}

// ---- Impl: time, ids ----

std::string FakeApiServer::Impl::RandomToken(const char* prefix) {
  absl::MutexLock lock(&rng_mu_);
  return absl::StrCat(prefix, absl::Hex(rng_(), absl::kZeroPad16), absl::Hex(rng_(), absl::kZeroPad16));
}

std::string FakeApiServer::Impl::NewUid() {
  absl::MutexLock lock(&rng_mu_);
  uint64_t a = rng_(), b = rng_();
  // A version-4 UUID from the seeded generator.
  a = (a & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;
  b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", a >> 32, (a >> 16) & 0xFFFF, a & 0xFFFF, b >> 48,
                         b & 0xFFFFFFFFFFFFULL);
}

std::string FakeApiServer::Impl::RandomSuffix() {
  // The alphabet of apimachinery's generated names (no vowels, no confusable digits).
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  absl::MutexLock lock(&rng_mu_);
  std::string out;
  for (int i = 0; i < 5; ++i) out.push_back(kAlphabet[rng_() % (sizeof(kAlphabet) - 1)]);
  return out;
}

int64_t FakeApiServer::Impl::NowUnix() const {
  return start_unix_ + std::chrono::duration_cast<std::chrono::seconds>(clock_->Now() - start_).count();
}

std::string FakeApiServer::Impl::NowRfc3339() const { return Rfc3339(NowUnix()); }

// ---- Impl: start and stop ----

absl::Status FakeApiServer::Impl::Init() {
  if (!(options_.speed > 0)) return absl::InvalidArgumentError("speed must be > 0");
  auto hp = ParseListenAddress(options_.listen);
  if (!hp.ok()) return hp.status();
  host_ = hp->first;
  if (!options_.allow_non_loopback && !IsLoopback(host_)) {
    return absl::InvalidArgumentError(absl::StrCat("refusing to listen on non-loopback address ", host_,
                                                   " (pass --allow-non-loopback to allow it)"));
  }
  uint64_t seed = options_.seed.value_or(options_.scenario ? options_.scenario->seed : 1);
  {
    absl::MutexLock lock(&rng_mu_);
    rng_.seed(seed);
  }
  clock_ = std::make_unique<ServerClock>(options_.manual_clock);
  start_ = clock_->Now();
  start_unix_ = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                    .count();
  model_clock_ = std::make_shared<ModelClock>(clock_.get(), start_, options_.speed);

  fake::ClusterOptions copts =
      options_.scenario ? fake::Cluster::OptionsFromScenario(*options_.scenario) : options_.cluster;
  if (!options_.allow_loopback_endpoints && CidrIsLoopback(copts.pod_cidr)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pod CIDR ", copts.pod_cidr,
        " is in the loopback range, which a real API server refuses in EndpointSlices (422 \"may not be in the "
        "loopback range\"); give pods addresses from another range (e.g. 198.18.0.0/15) or pass "
        "--allow-loopback-endpoints"));
  }
  copts.seed = seed;
  copts.epoch_unix_seconds = start_unix_;
  if (options_.max_endpoints_per_slice) copts.max_endpoints_per_slice = *options_.max_endpoints_per_slice;
  absl::StatusOr<std::unique_ptr<fake::Cluster>> cluster =
      options_.scenario ? fake::Cluster::FromScenario(*options_.scenario, copts, model_clock_)
                        : fake::Cluster::Create(copts, model_clock_);
  if (!cluster.ok()) return cluster.status();
  {
    absl::MutexLock lock(&model_mu_);
    cluster_ = std::move(*cluster);
    store_ = std::make_unique<ApiStore>(cluster_->resource_version());
    hub_ = std::make_unique<WatchHub>(
        store_.get(), clock_.get(),
        [this](const std::function<void()>& fn) {
          absl::MutexLock l(&model_mu_);
          fn();
        },
        [this] { return NowUnix(); }, options_.bookmark_interval);
    // The model's objects at start (a scenario's Service, Deployment, pods and slices).
    for (const ResourceInfo& r : ServedResources()) {
      if (!r.model_kind) continue;
      for (const auto& item : cluster_->List(*r.model_kind, "").items) {
        fake::StoredEvent ev;
        ev.kind = *r.model_kind;
        ev.type = fake::ChangeType::kAdded;
        ev.object = item;
        ev.namespace_name = item->contains("metadata") ? (*item)["metadata"].value("namespace", "") : "";
        ev.name = item->contains("metadata") ? (*item)["metadata"].value("name", "") : "";
        uint64_t rv = 0;
        if (item->contains("metadata")) (void)absl::SimpleAtoi((*item)["metadata"].value("resourceVersion", "0"), &rv);
        ev.resource_version = rv;
        OnModelEvent(ev);
      }
    }
    cluster_->Subscribe([this](const fake::StoredEvent& ev) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      // Listeners run inside the model's mutating calls, which hold model_mu_.
      OnModelEvent(ev);
    });
  }

  // Tokens: the configured table, an admin and the client's service account.
  {
    absl::MutexLock lock(&token_mu_);
    admin_token_ = RandomToken("admin-");
    sa_token_ = RandomToken("sa-");
    if (options_.tokens) {
      for (const auto& g : *options_.tokens) authority_.Add(g);
    }
    authority_.Add(TokenGrant{.token = admin_token_,
                              .user = options_.admin_user,
                              .groups = {"system:masters", "system:authenticated"},
                              .superuser = true,
                              .uid = options_.admin_uid});
    const std::string& sa_ns = options_.service_account_namespace;
    authority_.Add(TokenGrant{
        .token = sa_token_,
        .user = absl::StrCat("system:serviceaccount:", sa_ns, ":", options_.service_account_name),
        .groups = {"system:serviceaccounts", "system:serviceaccounts:" + sa_ns, "system:authenticated"},
        .uid = options_.service_account_uid});
  }
  {
    absl::MutexLock lock(&model_mu_);
    BootstrapObjectsLocked();
    RescheduleModelLocked();
  }
  rotation_period_ = options_.token_rotation;
  if (rotation_period_.count() == 0 && options_.scenario && options_.scenario->token_rotation_s > 0) {
    rotation_period_ = std::chrono::milliseconds(
        static_cast<int64_t>(options_.scenario->token_rotation_s * 1000.0 / options_.speed));
  }
  if (rotation_period_.count() > 0) ScheduleRotation();

  HttpServerOptions hopts;
  hopts.host = host_;
  hopts.port = hp->second;
  hopts.threads = options_.io_threads;
  hopts.stalled_until_ns = stalled_until_;
  if (!options_.plain_http) {
    std::vector<std::string> ips = {"127.0.0.1"};
    if (host_ != "127.0.0.1" && host_ != "0.0.0.0" && host_ != "::") ips.push_back(host_);
    if (host_ == "::" || host_ == "::1") ips.push_back("::1");
    auto tls = GenerateTls(ips, {"kubernetes.default.svc", "kubernetes.default", "kubernetes", "localhost"});
    if (!tls.ok()) return tls.status();
    tls_ = std::move(*tls);
    hopts.tls = TlsMaterial{tls_.server_cert_pem, tls_.server_key_pem};
  }
  auto http = HttpServer::Start(hopts, [this](HttpRequest& req) { return Handle(req); });
  if (!http.ok()) return http.status();
  http_ = std::move(*http);
  port_ = http_->port();
  std::string url_host = host_ == "0.0.0.0" ? "127.0.0.1" : host_ == "::" ? "::1" : host_;
  if (url_host.find(':') != std::string::npos) url_host = "[" + url_host + "]";
  url_ = absl::StrCat(options_.plain_http ? "http://" : "https://", url_host, ":", port_);
  return absl::OkStatus();
}

void FakeApiServer::Impl::BootstrapObjectsLocked() {
  // What a real cluster has at start: its namespaces, and here the service account k8slb's client
  // runs as with least privilege (list and watch of EndpointSlices in its namespace).
  std::string now = NowRfc3339();
  auto put = [&](const char* resource, const std::string& ns, OJson object) {
    model_mu_.AssertHeld();  // the analysis does not carry the caller's lock into a lambda
    const ResourceInfo* r = nullptr;
    for (const ResourceInfo& info : ServedResources()) {
      if (info.resource == resource) r = &info;
    }
    OJson& meta = object["metadata"];
    std::string name = meta.value("name", "");
    if (!ns.empty()) meta["namespace"] = ns;
    meta["uid"] = NewUid();
    meta["creationTimestamp"] = now;
    uint64_t rv = NextRvLocked();
    api::SetResourceVersion(object, std::to_string(rv));
    const api::TypeDef* type = api::Schema::Builtin().Find(r->schema_id);
    api::ApplyDefaults(*type, object);
    api::NormalizeStored(*type, object);
    auto stored = std::make_shared<const OJson>(api::Encode(*type, object));
    store_->Record(r->resource, fake::ChangeType::kAdded, ns, name, stored, rv, clock_->Now());
  };
  for (const char* ns : {"default", "kube-node-lease", "kube-public", "kube-system"}) {
    put("namespaces", "",
        OJson{{"metadata", {{"name", ns}, {"labels", {{"kubernetes.io/metadata.name", ns}}}}},
              {"spec", {{"finalizers", {"kubernetes"}}}},
              {"status", {{"phase", "Active"}}}});
  }
  const std::string& sa_ns = options_.service_account_namespace;
  if (!store_->Get("namespaces", "", sa_ns)) {
    put("namespaces", "",
        OJson{{"metadata", {{"name", sa_ns}, {"labels", {{"kubernetes.io/metadata.name", sa_ns}}}}},
              {"spec", {{"finalizers", {"kubernetes"}}}},
              {"status", {{"phase", "Active"}}}});
  }
  put("serviceaccounts", sa_ns, OJson{{"metadata", {{"name", options_.service_account_name}}}});
  put("roles", sa_ns,
      OJson{{"metadata", {{"name", "k8slb-endpointslice-reader"}}},
            {"rules", OJson::array({{{"verbs", {"list", "watch"}},
                                     {"apiGroups", {"discovery.k8s.io"}},
                                     {"resources", {"endpointslices"}}}})}});
  put("rolebindings", sa_ns,
      OJson{{"metadata", {{"name", "k8slb-endpointslice-reader"}}},
            {"subjects", OJson::array({{{"kind", "ServiceAccount"}, {"name", options_.service_account_name},
                                        {"namespace", sa_ns}}})},
            {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "k8slb-endpointslice-reader"}}}});
}

void FakeApiServer::Impl::Stop() {
  if (stopped_.exchange(true)) return;
  if (clock_) clock_->Stop();
  {
    absl::MutexLock lock(&model_mu_);
    if (hub_) hub_->DetachAll();
  }
  if (http_) http_->Stop();
  {
    // A watch may have started between the detach above and the I/O threads stopping.
    absl::MutexLock lock(&model_mu_);
    if (hub_) hub_->DetachAll();
  }
}

// ---- model events and timers ----

void FakeApiServer::Impl::OnModelEvent(const fake::StoredEvent& ev) {
  const ResourceInfo* r = FindServedModel(ev.kind);
  if (r == nullptr) return;
  const api::TypeDef* type = api::Schema::Builtin().Find(r->schema_id);
  ObjectPtr prev = store_->Get(r->resource, ev.namespace_name, ev.name);
  OJson object;
  if (pending_ && pending_->resource == r && pending_->ns == ev.namespace_name && pending_->name == ev.name &&
      ev.type != fake::ChangeType::kDeleted && !pending_->deleting) {
    object = pending_->object;
    TakeIdentity(object, *ev.object, ev.resource_version);
  } else if (ev.type == fake::ChangeType::kDeleted && prev) {
    object = *prev;
    api::SetResourceVersion(object, std::to_string(ev.resource_version));
  } else {
    // A write of the simulation (controller, kubelet, Deployment controller): the model's object,
    // in API form, keeping what the model does not hold, with its managed fields.
    OJson model = OJson::parse(ev.object->dump());
    model.erase("kind");
    model.erase("apiVersion");
    auto decoded = api::Decode(*type, model);
    object = decoded.ok() ? decoded->object : model;
    if (prev && ev.type == fake::ChangeType::kModified) {
      OJson base = *prev;
      if (base.contains("metadata")) base["metadata"].erase("managedFields");
      object = MergeSimulated(base, object, ev.kind);
    }
    api::ApplyDefaults(*type, object);
    api::NormalizeStored(*type, object);
    object = api::Encode(*type, object);
    OJson& meta = object["metadata"];
    if (prev && prev->contains("metadata")) {
      const OJson& pm = (*prev)["metadata"];
      for (const char* f : {"finalizers", "deletionTimestamp", "deletionGracePeriodSeconds"}) {
        if (pm.contains(f) && !meta.contains(f)) meta[f] = pm[f];
      }
    }
    std::vector<api::ManagerEntry> managers;
    if (prev && prev->contains("metadata") && (*prev)["metadata"].contains("managedFields")) {
      auto decoded_managers = api::DecodeManagedFields(nlohmann::json::parse((*prev)["metadata"]["managedFields"].dump()));
      if (decoded_managers.ok()) managers = std::move(*decoded_managers);
    }
    OJson before = prev ? *prev : api::Encode(*type, OJson::object());
    managers = api::UpdateManagers(*type, std::move(managers), before, object, ModelManager(ev.kind),
                                   r->GroupVersion(), NowRfc3339(),
                                   api::StripSet(r->has_status ? std::vector<api::FieldPath>{{api::PathElement{.name = "status"}}}
                                                               : std::vector<api::FieldPath>{}));
    meta.erase("managedFields");
    if (!managers.empty()) {
      // managedFields sits after the fields Go declares before it (ownerReferences, finalizers).
      OJson ordered = OJson::object();
      for (auto it = meta.begin(); it != meta.end(); ++it) ordered[it.key()] = it.value();
      ordered["managedFields"] = api::EncodeManagedFields(managers);
      meta = api::Encode(*api::Schema::Builtin().Find("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"), ordered);
    }
    api::SetResourceVersion(object, std::to_string(ev.resource_version));
  }
  auto stored = std::make_shared<const OJson>(std::move(object));
  if (pending_ && pending_->resource == r && pending_->ns == ev.namespace_name && pending_->name == ev.name) {
    pending_->stored = stored;
  }
  store_->Record(r->resource, ev.type, ev.namespace_name, ev.name, stored, ev.resource_version, clock_->Now());
  ApiEvent e{ev.resource_version, ev.type, ev.namespace_name, ev.name, stored, prev, clock_->Now()};
  hub_->OnEvent(*r, e);
}

void FakeApiServer::Impl::RescheduleModelLocked() {
  std::optional<SteadyTime> due;
  if (auto next = cluster_->NextTimerNanos()) due = model_clock_->ServerTimeOf(*next);
  if (options_.scenario && next_scenario_event_ < options_.scenario->timeline.size()) {
    int64_t t = static_cast<int64_t>(options_.scenario->timeline[next_scenario_event_].t_s * 1e9);
    SteadyTime s = model_clock_->ServerTimeOf(t);
    if (!due || s < *due) due = s;
  }
  if (model_timer_ != 0 && due && *due == model_timer_due_) return;
  if (model_timer_ != 0) clock_->Cancel(model_timer_);
  model_timer_ = 0;
  if (!due) return;
  model_timer_due_ = *due;
  model_timer_ = clock_->Schedule(*due, [this] { OnModelTimer(); });
}

void FakeApiServer::Impl::OnModelTimer() {
  absl::MutexLock lock(&model_mu_);
  model_timer_ = 0;
  int64_t now = model_clock_->NowNanos();
  cluster_->RunDue();
  ApplyScenarioEventsLocked(now);
  RescheduleModelLocked();
}

void FakeApiServer::Impl::ApplyScenarioEventsLocked(int64_t now_nanos) {
  if (!options_.scenario) return;
  const auto& timeline = options_.scenario->timeline;
  while (next_scenario_event_ < timeline.size()) {
    const fake::TimelineEvent& ev = timeline[next_scenario_event_];
    int64_t due = static_cast<int64_t>(ev.t_s * 1e9);
    if (due > now_nanos) break;
    ++next_scenario_event_;
    auto real = [&](double seconds) {
      return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0 / options_.speed));
    };
    switch (ev.kind) {
      case fake::TimelineEventKind::kDisconnect:
        hub_->CloseAll();
        break;
      case fake::TimelineEventKind::kExpire:
        store_->Expire(cluster_->resource_version());
        break;
      case fake::TimelineEventKind::kErrors: {
        // An outage: open watches end too (else a client whose watch stays open would not see
        // it), and every request meanwhile fails. The virtual engine models the same.
        hub_->CloseAll();
        absl::MutexLock f(&fault_mu_);
        fail_status_ = ev.status;
        fail_until_ = std::chrono::steady_clock::now() + real(ev.duration_s);
        fail_retry_after_ = 1;
        break;
      }
      case fake::TimelineEventKind::kStall: {
        SteadyTime until = std::chrono::steady_clock::now() + real(ev.duration_s);
        stalled_until_->store(std::chrono::duration_cast<std::chrono::nanoseconds>(until.time_since_epoch()).count());
        break;
      }
      default:
        if (absl::Status s = cluster_->ApplyScenarioEvent(ev); !s.ok()) {
          std::cerr << "k8slb-fakeapi: scenario event \"" << ev.Describe() << "\" at t=" << ev.t_s
                    << "s failed: " << s.message() << "\n";
        }
    }
  }
}

void FakeApiServer::Impl::ScheduleRotation() {
  clock_->Schedule(clock_->Now() + rotation_period_, [this] {
    RotateToken();
    ScheduleRotation();
  });
}

std::string FakeApiServer::Impl::RotateToken() {
  std::string fresh = RandomToken("sa-");
  std::vector<std::string> dirs;
  {
    absl::MutexLock lock(&token_mu_);
    authority_.Rotate(sa_token_, fresh, clock_->Now() + options_.token_grace);
    sa_token_ = fresh;
    dirs = sa_dirs_;
  }
  for (const auto& dir : dirs) {
    if (absl::Status s = WriteFileAtomic(dir + "/token", fresh, 0644); !s.ok()) {
      std::cerr << "k8slb-fakeapi: token rotation: " << s.message() << "\n";
    }
  }
  return fresh;
}

// ---- faults and controls ----

std::optional<HttpResponse> FakeApiServer::Impl::InjectedFailure() {
  absl::MutexLock lock(&fault_mu_);
  if (fail_status_ == 0 || std::chrono::steady_clock::now() >= fail_until_) return std::nullopt;
  StatusError e;
  switch (fail_status_) {
    case 429:
      e = TooManyRequests(std::max(1, fail_retry_after_));
      break;
    case 500:
      e = InternalError("injected fault");
      break;
    case 503:
      e = StatusError{.code = 503, .reason = "ServiceUnavailable",
                      .message = "the server is currently unable to handle the request"};
      break;
    case 504:
      e = Timeout("request did not complete within the allowed duration", std::max(1, fail_retry_after_));
      break;
    default:
      e = StatusError{.code = fail_status_, .reason = "InternalError", .message = "injected fault"};
  }
  if (fail_retry_after_ > 0) e.retry_after_header = fail_retry_after_;
  return StatusResponse(e);
}

void FakeApiServer::Impl::Journal(const HttpRequest& req, int status, const std::string& content_type) {
  absl::MutexLock lock(&journal_mu_);
  journal_.push_back(JournalEntry{next_journal_seq_++, req.method, req.target, req.HeaderOr("User-Agent"),
                                  req.HeaderOr("Accept"), req.HeaderOr("Content-Type"), content_type, status});
  while (journal_.size() > 2000) journal_.pop_front();
}

HttpResponse FakeApiServer::Impl::HandleControl(HttpRequest& req) {
  auto json_response = [](const nlohmann::json& j) {
    HttpResponse r;
    r.body = j.dump();
    return r;
  };
  // Finite and in range (input/numeric_flag.h): NaN or 1e300 would reach float-to-int casts.
  auto num = [&](const char* name, double def, double max = 7 * 86400.0) -> absl::StatusOr<double> {
    auto v = req.Param(name);
    if (!v) return def;
    return input::ParseDoubleFlag(absl::StrCat("query parameter ", name), *v, 0, max);
  };
  auto integer = [&](const char* name, int64_t def, int64_t min, int64_t max) -> absl::StatusOr<int64_t> {
    auto v = req.Param(name);
    if (!v) return def;
    return input::ParseIntFlag(absl::StrCat("query parameter ", name), *v, min, max);
  };
  auto bad = [](const absl::Status& s) { return StatusResponse(BadRequest(std::string(s.message()))); };
  const std::string& p = req.path;
  if (req.method == "GET" && p == "/fake/state") {
    nlohmann::json j;
    {
      absl::MutexLock lock(&model_mu_);
      j = {{"resourceVersion", std::to_string(cluster_->resource_version())},
           {"oldestWatchableResourceVersion",
            std::to_string(store_->OldestWatchableRv("endpointslices") > 0 ? store_->OldestWatchableRv("endpointslices") - 1 : 0)},
           {"compactedResourceVersion", std::to_string(store_->compacted_rv())},
           {"watches", hub_->active()},
           {"watchStreams", hub_->State()},
           {"allowLoopbackEndpoints", options_.allow_loopback_endpoints},
           {"manualClock", options_.manual_clock}};
    }
    nlohmann::json held = nlohmann::json::array();
    {
      absl::MutexLock lock(&fault_mu_);
      for (const Pending& h : held_) {
        held.push_back({{"tag", h.tag}, {"due", std::chrono::duration<double>(h.due - start_).count()}});
      }
    }
    j["pendingRequests"] = held;
    return json_response(j);
  }
  if (req.method == "GET" && p == "/fake/clock") {
    return json_response({{"now", clock_->SecondsSinceStart()}, {"manual", options_.manual_clock}});
  }
  if (req.method == "GET" && p == "/fake/requests") {
    uint64_t since = 0;
    if (auto s = req.Param("since"); s && !absl::SimpleAtoi(*s, &since)) {
      return StatusResponse(BadRequest("since must be a sequence number"));
    }
    nlohmann::json list = nlohmann::json::array();
    uint64_t next;
    {
      absl::MutexLock lock(&journal_mu_);
      for (const JournalEntry& e : journal_) {
        if (e.seq <= since) continue;
        list.push_back({{"seq", e.seq}, {"method", e.method}, {"target", e.target}, {"userAgent", e.user_agent},
                        {"accept", e.accept}, {"requestContentType", e.content_type},
                        {"contentType", e.response_content_type}, {"status", e.status}});
      }
      next = next_journal_seq_ - 1;
    }
    return json_response({{"requests", list}, {"next", next}});
  }
  if (req.method != "POST") {
    return StatusResponse(StatusError{.code = 405, .reason = "MethodNotAllowed", .message = "use POST"});
  }
  if (p == "/fake/clock/advance") {
    if (!options_.manual_clock) return StatusResponse(BadRequest("the clock is not manual (start with --manual-clock)"));
    auto seconds = num("seconds", 0);
    if (!seconds.ok()) return bad(seconds.status());
    clock_->Advance(std::chrono::nanoseconds(static_cast<int64_t>(*seconds * 1e9)));
    return json_response({{"now", clock_->SecondsSinceStart()}});
  }
  if (p == "/fake/faults/close-watches") {
    absl::MutexLock lock(&model_mu_);
    hub_->CloseAll();
  } else if (p == "/fake/faults/expire") {
    absl::MutexLock lock(&model_mu_);
    store_->Expire(cluster_->resource_version());
  } else if (p == "/fake/faults/compact") {
    absl::MutexLock lock(&model_mu_);
    store_->Compact(cluster_->resource_version());
  } else if (p == "/fake/faults/errors") {
    auto status = integer("status", 429, 400, 599);
    auto seconds = num("seconds", 5);
    auto retry = integer("retryAfter", 1, 0, 86400);
    if (!status.ok()) return bad(status.status());
    if (!seconds.ok()) return bad(seconds.status());
    if (!retry.ok()) return bad(retry.status());
    absl::MutexLock lock(&fault_mu_);
    fail_status_ = static_cast<int>(*status);
    fail_until_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000));
    fail_retry_after_ = static_cast<int>(*retry);
  } else if (p == "/fake/faults/stall") {
    auto seconds = num("seconds", 10);
    if (!seconds.ok()) return bad(seconds.status());
    SteadyTime until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000));
    stalled_until_->store(std::chrono::duration_cast<std::chrono::nanoseconds>(until.time_since_epoch()).count());
  } else if (p == "/fake/faults/delay") {
    auto ms = num("ms", 0, 3'600'000);
    if (!ms.ok()) return bad(ms.status());
    absl::MutexLock lock(&model_mu_);
    hub_->set_delay(std::chrono::milliseconds(static_cast<int64_t>(*ms)));
  } else if (p == "/fake/faults/malformed") {
    absl::MutexLock lock(&model_mu_);
    hub_->SendMalformed();
  } else if (p == "/fake/faults/rv-jump") {
    auto delta = integer("delta", 1000, 1, int64_t{1} << 40);
    if (!delta.ok()) return bad(delta.status());
    absl::MutexLock lock(&model_mu_);
    cluster_->JumpResourceVersion(static_cast<uint64_t>(*delta));
    store_->Expire(cluster_->resource_version());
    hub_->CloseAll();
  } else if (p == "/fake/rotate-token") {
    std::string token = RotateToken();
    return json_response({{"ok", true}, {"token", token}});
  } else {
    return PageNotFound();
  }
  HttpResponse r;
  r.body = R"({"ok":true})";
  return r;
}

// ---- FakeApiServer ----

FakeApiServer::FakeApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FakeApiServer::~FakeApiServer() { Stop(); }

absl::StatusOr<std::unique_ptr<FakeApiServer>> FakeApiServer::Start(FakeApiOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<FakeApiServer>(new FakeApiServer(std::move(impl)));
}

std::string FakeApiServer::url() const { return impl_->url_; }
uint16_t FakeApiServer::port() const { return impl_->port_; }
std::string FakeApiServer::ca_pem() const { return impl_->tls_.ca_cert_pem; }
std::string FakeApiServer::admin_token() const {
  absl::MutexLock lock(&impl_->token_mu_);
  return impl_->admin_token_;
}
std::string FakeApiServer::service_account_token() const {
  absl::MutexLock lock(&impl_->token_mu_);
  return impl_->sa_token_;
}

absl::Status FakeApiServer::WriteKubeconfig(const std::string& path, const std::string& token,
                                            const std::string& namespace_name) const {
  std::string tok = token.empty() ? admin_token() : token;
  std::string cluster = absl::StrCat("    server: ", impl_->url_, "\n");
  if (!impl_->options_.plain_http) {
    absl::StrAppend(&cluster, "    certificate-authority-data: ", absl::Base64Escape(impl_->tls_.ca_cert_pem), "\n");
  }
  std::string text = absl::StrCat("apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n", cluster,
                                  "users:\n- name: fake-user\n  user:\n    token: ", tok,
                                  "\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake-user\n"
                                  "    namespace: ",
                                  namespace_name, "\ncurrent-context: fake\npreferences: {}\n");
  return WriteFileAtomic(path, text, 0600);
}

absl::Status FakeApiServer::WriteServiceAccountDir(const std::string& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  {
    absl::MutexLock lock(&impl_->token_mu_);
    if (absl::Status s = WriteFileAtomic(dir + "/token", impl_->sa_token_, 0644); !s.ok()) return s;
    if (std::find(impl_->sa_dirs_.begin(), impl_->sa_dirs_.end(), dir) == impl_->sa_dirs_.end()) {
      impl_->sa_dirs_.push_back(dir);
    }
  }
  if (absl::Status s = WriteFileAtomic(dir + "/ca.crt", impl_->tls_.ca_cert_pem, 0644); !s.ok()) return s;
  return WriteFileAtomic(dir + "/namespace", impl_->options_.service_account_namespace, 0644);
}

void FakeApiServer::WithCluster(const std::function<void(fake::Cluster&)>& fn) {
  absl::MutexLock lock(&impl_->model_mu_);
  fn(*impl_->cluster_);
  impl_->RescheduleModelLocked();
}

uint64_t FakeApiServer::resource_version() const {
  absl::MutexLock lock(&impl_->model_mu_);
  return impl_->cluster_->resource_version();
}

int FakeApiServer::active_watches() const {
  absl::MutexLock lock(&impl_->model_mu_);
  return impl_->hub_->active();
}

bool FakeApiServer::allow_loopback_endpoints() const { return impl_->options_.allow_loopback_endpoints; }

void FakeApiServer::AdvanceClock(std::chrono::nanoseconds d) { impl_->clock_->Advance(d); }

void FakeApiServer::CloseAllWatches() {
  absl::MutexLock lock(&impl_->model_mu_);
  impl_->hub_->CloseAll();
}

void FakeApiServer::ExpireHistory() {
  absl::MutexLock lock(&impl_->model_mu_);
  impl_->store_->Expire(impl_->cluster_->resource_version());
}

void FakeApiServer::FailRequests(int status, std::chrono::milliseconds duration, int retry_after_s) {
  absl::MutexLock lock(&impl_->fault_mu_);
  impl_->fail_status_ = status;
  impl_->fail_until_ = std::chrono::steady_clock::now() + duration;
  impl_->fail_retry_after_ = retry_after_s;
}

void FakeApiServer::StallStreams(std::chrono::milliseconds duration) {
  SteadyTime until = std::chrono::steady_clock::now() + duration;
  impl_->stalled_until_->store(std::chrono::duration_cast<std::chrono::nanoseconds>(until.time_since_epoch()).count());
}

void FakeApiServer::DelayEvents(std::chrono::milliseconds delay) {
  absl::MutexLock lock(&impl_->model_mu_);
  impl_->hub_->set_delay(delay);
}

void FakeApiServer::SendMalformedEvent() {
  absl::MutexLock lock(&impl_->model_mu_);
  impl_->hub_->SendMalformed();
}

void FakeApiServer::JumpResourceVersion(uint64_t delta) {
  absl::MutexLock lock(&impl_->model_mu_);
  impl_->cluster_->JumpResourceVersion(delta);
  impl_->store_->Expire(impl_->cluster_->resource_version());
  impl_->hub_->CloseAll();
}

std::string FakeApiServer::RotateToken() { return impl_->RotateToken(); }
void FakeApiServer::AddToken(TokenGrant grant) { impl_->authority_.Add(std::move(grant)); }
void FakeApiServer::Stop() { impl_->Stop(); }

absl::StatusOr<std::pair<std::string, uint16_t>> ParseListenAddress(const std::string& listen) {
  std::string host, port_text;
  if (absl::StartsWith(listen, "[")) {
    size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("--listen \"", listen, "\": expected [IPv6]:PORT"));
    }
    host = listen.substr(1, close - 1);
    port_text = listen.substr(close + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--listen \"", listen, "\": expected HOST:PORT"));
    }
    host = listen.substr(0, colon);
    port_text = listen.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  if (host.empty()) return absl::InvalidArgumentError(absl::StrCat("--listen \"", listen, "\": empty host"));
  int port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--listen \"", listen, "\": port \"", port_text,
                                                   "\" is not a number in 0..65535"));
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

}  // namespace k8slb::fakeapi
