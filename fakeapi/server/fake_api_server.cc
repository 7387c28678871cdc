#include "fake_api_server.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api_common.h"
#include "auth.h"
#include "http_server.h"
#include "input/bounded_json.h"
#include "input/numeric_flag.h"
#include "kube_docs.h"
#include "tls.h"
#include "watch_hub.h"

namespace k8slb::fakeapi {
namespace {

using nlohmann::json;
using fake::ResourceKind;

// Model time runs `speed` times faster than the steady clock, from the server's start.
class SpeedClock : public Clock {
 public:
  SpeedClock(SteadyTime start, double speed) : start_(start), speed_(speed) {}
  int64_t NowNanos() const override {
    auto real = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_);
    return static_cast<int64_t>(static_cast<double>(real.count()) * speed_);
  }
  // The steady time at which the model clock reads `nanos`.
  SteadyTime RealTimeOf(int64_t nanos) const {
    return start_ + std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(nanos) / speed_));
  }

 private:
  SteadyTime start_;
  double speed_;
};

bool IsLoopback(const std::string& host) {
  if (host == "::1") return true;
  return absl::StartsWith(host, "127.");
}

GroupResource GroupResourceOf(ResourceKind kind) {
  return GroupResource{std::string(fake::ResourceGroup(kind)), std::string(fake::ResourceName(kind))};
}

// Model errors are already worded as the API words them (cluster.h); map the code.
StatusError FromModel(const absl::Status& s, ResourceKind kind, const std::string& name) {
  GroupResource gr = GroupResourceOf(kind);
  std::string msg(s.message());
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return StatusError{.code = 404, .reason = "NotFound", .message = msg, .details_name = name,
                         .details_resource = gr};
    case absl::StatusCode::kAlreadyExists:
      return StatusError{.code = 409, .reason = "AlreadyExists", .message = msg, .details_name = name,
                         .details_resource = gr};
    case absl::StatusCode::kAborted:
      return StatusError{.code = 409, .reason = "Conflict", .message = msg, .details_name = name,
                         .details_resource = gr};
    case absl::StatusCode::kInvalidArgument:
      return StatusError{.code = 422, .reason = "Invalid", .message = msg, .details_name = name,
                         .details_resource = GroupResource{gr.group, std::string(fake::KindName(kind))}};
    case absl::StatusCode::kFailedPrecondition:
      return BadRequest(msg);
    case absl::StatusCode::kOutOfRange:
      return Expired(msg);
    default:
      return InternalError(msg);
  }
}

std::string ListKind(ResourceKind kind) { return std::string(fake::KindName(kind)) + "List"; }

std::string MetaStr(const json& o, const char* field) {
  if (!o.is_object()) return "";
  auto m = o.find("metadata");
  if (m == o.end() || !m->is_object()) return "";
  auto it = m->find(field);
  if (it == m->end() || !it->is_string()) return "";
  return it->get<std::string>();
}

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

struct ContinueToken {
  uint64_t rv = 0;
  std::string ns, name;  // the last item returned
};

std::string EncodeContinue(const ContinueToken& t) {
  json j = {{"v", "meta.k8s.io/v1"}, {"rv", t.rv}, {"start", t.ns + "/" + t.name}};
  return absl::WebSafeBase64Escape(j.dump());
}

std::optional<ContinueToken> DecodeContinue(const std::string& text) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(text, &raw) && !absl::Base64Unescape(text, &raw)) return std::nullopt;
  json j = input::ParseJson(raw).value_or(json());
  if (!j.is_object() || !j.contains("rv") || !j["rv"].is_number_unsigned() || !j.contains("start") ||
      !j["start"].is_string()) {
    return std::nullopt;
  }
  std::string start = j["start"].get<std::string>();
  size_t slash = start.find('/');
  if (slash == std::string::npos) return std::nullopt;
  return ContinueToken{j["rv"].get<uint64_t>(), start.substr(0, slash), start.substr(slash + 1)};
}

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

// Parsed resource URL: /api/v1/... or /apis/G/V/... with optional watch/ and namespaces/NS/.
struct ResourcePath {
  ServedResource resource;
  bool legacy_watch = false;
  std::string namespace_name;
  std::string name;
  std::string subresource;
};

}  // namespace

// The server's state. Locks: model_mu_ guards cluster_ and hub_ (and the Cluster listener runs
// under it); token_mu_ the current tokens and service-account dirs; fault_mu_ the injected
// failure; timer_mu_ the timer thread's wake-ups. model_mu_ may be held while taking timer_mu_,
// token_mu_ or fault_mu_, never the other way round. Handlers run on the HTTP server's I/O threads.
class FakeApiServer::Impl {
 public:
  explicit Impl(FakeApiOptions options) : options_(std::move(options)) {}
  ~Impl() { Stop(); }

  absl::Status Init();
  void Stop();
  HttpResponse Handle(HttpRequest& req);

  // ---- accessors used by FakeApiServer ----
  FakeApiOptions options_;
  std::string host_;
  uint16_t port_ = 0;
  std::string url_;
  GeneratedTls tls_;

  mutable std::mutex token_mu_;
  std::string admin_token_;
  std::string sa_token_;
  std::vector<std::string> sa_dirs_;
  TokenAuthority authority_;

  mutable std::mutex model_mu_;
  std::shared_ptr<SpeedClock> clock_;
  std::unique_ptr<fake::Cluster> cluster_;
  std::unique_ptr<WatchHub> hub_;

  std::shared_ptr<std::atomic<int64_t>> stalled_until_ = std::make_shared<std::atomic<int64_t>>(0);
  std::mutex fault_mu_;
  int fail_status_ = 0;
  SteadyTime fail_until_{};
  int fail_retry_after_ = 0;

  std::unique_ptr<HttpServer> http_;

  std::mutex rng_mu_;
  std::mt19937_64 rng_;

  // Timer thread.
  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  bool stopping_ = false;
  bool timer_kick_ = false;
  std::thread timer_thread_;
  size_t next_scenario_event_ = 0;
  SteadyTime next_rotation_{};
  std::chrono::milliseconds rotation_period_{0};

  std::atomic<bool> stopped_{false};

  void KickTimer() {
    std::lock_guard<std::mutex> lock(timer_mu_);
    timer_kick_ = true;
    timer_cv_.notify_all();
  }
  void TimerLoop();
  void ApplyScenarioEvents(int64_t now_nanos);

  std::string RandomToken(const char* prefix) {
    std::lock_guard<std::mutex> lock(rng_mu_);
    return absl::StrCat(prefix, absl::Hex(rng_(), absl::kZeroPad16), absl::Hex(rng_(), absl::kZeroPad16));
  }
  int64_t NowUnix() const {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // Faults.
  void CloseAllWatches() {
    std::lock_guard<std::mutex> lock(model_mu_);
    hub_->CloseAll();
  }
  void ExpireHistory() {
    std::lock_guard<std::mutex> lock(model_mu_);
    cluster_->ExpireHistory();
    hub_->Prune();
  }
  void FailRequests(int status, std::chrono::milliseconds duration, int retry_after) {
    std::lock_guard<std::mutex> lock(fault_mu_);
    fail_status_ = status;
    fail_until_ = std::chrono::steady_clock::now() + duration;
    fail_retry_after_ = retry_after;
  }
  void StallStreams(std::chrono::milliseconds duration) {
    SteadyTime until = std::chrono::steady_clock::now() + duration;
    stalled_until_->store(std::chrono::duration_cast<std::chrono::nanoseconds>(until.time_since_epoch()).count());
  }
  void DelayEvents(std::chrono::milliseconds delay) {
    std::lock_guard<std::mutex> lock(model_mu_);
    hub_->set_delay(delay);
  }
  void SendMalformed() {
    std::lock_guard<std::mutex> lock(model_mu_);
    hub_->SendMalformed();
  }
  void JumpRv(uint64_t delta) {
    std::lock_guard<std::mutex> lock(model_mu_);
    cluster_->JumpResourceVersion(delta);
    hub_->Prune();
    hub_->CloseAll();
  }
  std::string RotateToken();

  // Request handling pieces.
  std::optional<HttpResponse> InjectedFailure();
  HttpResponse HandleControl(HttpRequest& req);
  std::optional<HttpResponse> HandleDiscovery(const HttpRequest& req, const std::vector<std::string>& segs);
  HttpResponse HandleResource(HttpRequest& req, const TokenGrant& grant, const ResourcePath& rp);
  HttpResponse List(const HttpRequest& req, const ResourcePath& rp, const LabelSelector& labels,
                    const FieldSelector& fields, OutputFormat format);
  HttpResponse Watch(const HttpRequest& req, const ResourcePath& rp, LabelSelector labels, FieldSelector fields,
                     OutputFormat format);
  HttpResponse Get(const ResourcePath& rp, OutputFormat format);
  HttpResponse Mutate(HttpRequest& req, const ResourcePath& rp);
  HttpResponse Scale(HttpRequest& req, const ResourcePath& rp);
  HttpResponse ObjectResponse(int status, const json& object, ResourceKind kind, OutputFormat format);
};

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
  rng_.seed(seed);

  // The model, on a speed-scaled clock starting now; creationTimestamps use the real start time.
  SteadyTime start = std::chrono::steady_clock::now();
  clock_ = std::make_shared<SpeedClock>(start, options_.speed);
  fake::ClusterOptions copts =
      options_.scenario ? fake::Cluster::OptionsFromScenario(*options_.scenario) : options_.cluster;
  copts.seed = seed;
  copts.epoch_unix_seconds = NowUnix();
  if (options_.max_endpoints_per_slice) copts.max_endpoints_per_slice = *options_.max_endpoints_per_slice;
  absl::StatusOr<std::unique_ptr<fake::Cluster>> cluster =
      options_.scenario ? fake::Cluster::FromScenario(*options_.scenario, copts, clock_)
                        : fake::Cluster::Create(copts, clock_);
  if (!cluster.ok()) return cluster.status();
  cluster_ = std::move(*cluster);
  hub_ = std::make_unique<WatchHub>(cluster_.get(), [this] { return NowUnix(); });
  cluster_->Subscribe([this](const fake::StoredEvent& ev) { hub_->OnEvent(ev); });

  // Tokens: the configured table, or an admin plus the client's service account (RBAC: list,
  // watch, get endpointslices in its namespace, as a Role + RoleBinding would grant).
  admin_token_ = RandomToken("admin-");
  sa_token_ = RandomToken("sa-");
  if (options_.tokens) {
    for (const auto& g : *options_.tokens) authority_.Add(g);
  }
  authority_.Add(TokenGrant{.token = admin_token_,
                            .user = "kubernetes-admin",
                            .groups = {"system:masters", "system:authenticated"},
                            .superuser = true});
  const std::string& sa_ns = options_.service_account_namespace;
  authority_.Add(TokenGrant{
      .token = sa_token_,
      .user = absl::StrCat("system:serviceaccount:", sa_ns, ":", options_.service_account_name),
      .groups = {"system:serviceaccounts", "system:serviceaccounts:" + sa_ns, "system:authenticated"},
      .rules = {RbacRule{.verbs = {"get", "list", "watch"},
                         .api_groups = {"discovery.k8s.io"},
                         .resources = {"endpointslices"},
                         .namespace_name = sa_ns}}});
  rotation_period_ = options_.token_rotation;
  if (rotation_period_.count() == 0 && options_.scenario && options_.scenario->token_rotation_s > 0) {
    rotation_period_ = std::chrono::milliseconds(
        static_cast<int64_t>(options_.scenario->token_rotation_s * 1000.0 / options_.speed));
  }
  if (rotation_period_.count() > 0) next_rotation_ = start + rotation_period_;

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
  timer_thread_ = std::thread([this] { TimerLoop(); });
  return absl::OkStatus();
}

void FakeApiServer::Impl::Stop() {
  if (stopped_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    stopping_ = true;
    timer_cv_.notify_all();
  }
  if (timer_thread_.joinable()) timer_thread_.join();
  if (hub_) {
    std::lock_guard<std::mutex> lock(model_mu_);
    hub_->DetachAll();
  }
  if (http_) http_->Stop();
  if (hub_) {
    // A watch may have started between the detach above and the I/O threads stopping.
    std::lock_guard<std::mutex> lock(model_mu_);
    hub_->DetachAll();
  }
}

void FakeApiServer::Impl::ApplyScenarioEvents(int64_t now_nanos) {
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
        cluster_->ExpireHistory();
        hub_->Prune();
        break;
      case fake::TimelineEventKind::kErrors:
        FailRequests(ev.status, real(ev.duration_s), 1);
        break;
      case fake::TimelineEventKind::kStall:
        StallStreams(real(ev.duration_s));
        break;
      default:
        if (absl::Status s = cluster_->ApplyScenarioEvent(ev); !s.ok()) {
          std::cerr << "k8slb-fakeapi: scenario event \"" << ev.Describe() << "\" at t=" << ev.t_s
                    << "s failed: " << s.message() << "\n";
        }
    }
  }
}

void FakeApiServer::Impl::TimerLoop() {
  // Lock order: model_mu_ and timer_mu_ are never held together here (handlers kick the timer
  // while holding model_mu_).
  while (true) {
    {
      std::lock_guard<std::mutex> lock(timer_mu_);
      if (stopping_) return;
    }
    SteadyTime wake = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    {
      std::lock_guard<std::mutex> model_lock(model_mu_);
      int64_t now_nanos = clock_->NowNanos();
      cluster_->RunDue();
      ApplyScenarioEvents(now_nanos);
      if (auto next = cluster_->NextTimerNanos()) wake = std::min(wake, clock_->RealTimeOf(*next));
      if (options_.scenario && next_scenario_event_ < options_.scenario->timeline.size()) {
        int64_t due = static_cast<int64_t>(options_.scenario->timeline[next_scenario_event_].t_s * 1e9);
        wake = std::min(wake, clock_->RealTimeOf(due));
      }
    }
    if (rotation_period_.count() > 0) {
      if (std::chrono::steady_clock::now() >= next_rotation_) {
        RotateToken();
        next_rotation_ = std::chrono::steady_clock::now() + rotation_period_;
      }
      wake = std::min(wake, next_rotation_);
    }
    std::unique_lock<std::mutex> lock(timer_mu_);
    timer_cv_.wait_until(lock, wake, [this] { return stopping_ || timer_kick_; });
    timer_kick_ = false;
  }
}

std::string FakeApiServer::Impl::RotateToken() {
  std::string fresh = RandomToken("sa-");
  std::vector<std::string> dirs;
  {
    std::lock_guard<std::mutex> lock(token_mu_);
    authority_.Rotate(sa_token_, fresh, std::chrono::steady_clock::now() + options_.token_grace);
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

std::optional<HttpResponse> FakeApiServer::Impl::InjectedFailure() {
  std::lock_guard<std::mutex> lock(fault_mu_);
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
      e = StatusError{.code = 503, .reason = "ServiceUnavailable", .message = "the server is currently unable to handle the request"};
      break;
    case 504:
      e = Timeout("request did not complete within the allowed duration", std::max(1, fail_retry_after_));
      break;
    default:
      e = StatusError{.code = fail_status_, .reason = "InternalError", .message = "injected fault"};
  }
  if (fail_retry_after_ > 0) e.retry_after_s = fail_retry_after_;
  return StatusResponse(e);
}

HttpResponse FakeApiServer::Impl::HandleControl(HttpRequest& req) {
  if (req.method != "POST" && !(req.method == "GET" && req.path == "/fake/state")) {
    return StatusResponse(StatusError{.code = 405, .reason = "MethodNotAllowed", .message = "use POST"});
  }
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
  if (p == "/fake/state") {
    std::lock_guard<std::mutex> lock(model_mu_);
    json j = {{"resourceVersion", std::to_string(cluster_->resource_version())},
              {"oldestWatchableResourceVersion", std::to_string(cluster_->oldest_watchable_rv())},
              {"watches", hub_->active()}};
    return JsonResponse(200, j.dump());
  }
  if (p == "/fake/faults/close-watches") {
    CloseAllWatches();
  } else if (p == "/fake/faults/expire") {
    ExpireHistory();
  } else if (p == "/fake/faults/errors") {
    auto status = integer("status", 429, 400, 599);
    auto seconds = num("seconds", 5);
    auto retry = integer("retryAfter", 1, 0, 86400);
    if (!status.ok()) return bad(status.status());
    if (!seconds.ok()) return bad(seconds.status());
    if (!retry.ok()) return bad(retry.status());
    FailRequests(static_cast<int>(*status), std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000)),
                 static_cast<int>(*retry));
  } else if (p == "/fake/faults/stall") {
    auto seconds = num("seconds", 10);
    if (!seconds.ok()) return bad(seconds.status());
    StallStreams(std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000)));
  } else if (p == "/fake/faults/delay") {
    auto ms = num("ms", 0, 3'600'000);
    if (!ms.ok()) return bad(ms.status());
    DelayEvents(std::chrono::milliseconds(static_cast<int64_t>(*ms)));
  } else if (p == "/fake/faults/malformed") {
    SendMalformed();
  } else if (p == "/fake/faults/rv-jump") {
    auto delta = integer("delta", 1000, 1, int64_t{1} << 40);
    if (!delta.ok()) return bad(delta.status());
    JumpRv(static_cast<uint64_t>(*delta));
  } else if (p == "/fake/rotate-token") {
    std::string token = RotateToken();
    return JsonResponse(200, json({{"ok", true}, {"token", token}}).dump());
  } else {
    return PageNotFound();
  }
  return JsonResponse(200, R"({"ok":true})");
}

std::optional<HttpResponse> FakeApiServer::Impl::HandleDiscovery(const HttpRequest& req,
                                                                 const std::vector<std::string>& segs) {
  if (req.method != "GET") return std::nullopt;
  if (segs.size() == 1 && (segs[0] == "api" || segs[0] == "apis")) {
    DiscoveryFormat f = NegotiateDiscovery(req.accept);
    HttpResponse r = JsonResponse(200, DiscoveryRootJson(segs[0] == "api", f));
    r.content_type = DiscoveryContentType(f);
    r.headers.emplace_back("Vary", "Accept");
    return r;
  }
  if (segs.size() == 2 && segs[0] == "api" && segs[1] == "v1") return JsonResponse(200, ApiResourceListJson("", "v1"));
  if (segs.size() == 2 && segs[0] == "apis" && IsServedGroupVersion(segs[1], "v1")) {
    return JsonResponse(200, ApiGroupJson(segs[1]));
  }
  if (segs.size() == 3 && segs[0] == "apis" && IsServedGroupVersion(segs[1], segs[2])) {
    return JsonResponse(200, ApiResourceListJson(segs[1], segs[2]));
  }
  return std::nullopt;
}

HttpResponse FakeApiServer::Impl::Handle(HttpRequest& req) {
  const std::string& path = req.path;
  std::vector<std::string> segs = absl::StrSplit(path, '/', absl::SkipEmpty());

  // Health and version are public (system:public-info-viewer).
  if (path == "/healthz" || path == "/livez" || path == "/readyz") {
    HttpResponse r;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "ok";
    return r;
  }
  if (path == "/version" || path == "/version/") return JsonResponse(200, VersionJson());

  // Authentication. Over plain HTTP kubectl sends no token (§4.2), so an anonymous request there
  // acts as the admin; over HTTPS it is 401.
  std::optional<TokenGrant> grant;
  if (!req.authorization.empty()) {
    grant = authority_.Authenticate(req.authorization, std::chrono::steady_clock::now());
    if (!grant) return StatusResponse(Unauthorized());
  } else if (options_.plain_http) {
    grant = TokenGrant{.token = "", .user = "system:anonymous", .superuser = true};
  } else {
    return StatusResponse(Unauthorized());
  }

  if (!segs.empty() && segs[0] == "fake") {
    if (!grant->superuser) {
      return StatusResponse(StatusError{.code = 403, .reason = "Forbidden",
                                        .message = absl::StrCat("User \"", grant->user, "\" cannot post path \"",
                                                                path, "\"")});
    }
    return HandleControl(req);
  }
  if (auto failure = InjectedFailure()) return *failure;

  if (auto doc = HandleDiscovery(req, segs)) return *doc;

  // Resource paths.
  if (segs.empty() || (segs[0] != "api" && segs[0] != "apis")) return PageNotFound();
  size_t i;
  std::string group, version;
  if (segs[0] == "api") {
    if (segs.size() < 2) return PageNotFound();
    version = segs[1];
    i = 2;
  } else {
    if (segs.size() < 3) return PageNotFound();
    group = segs[1];
    version = segs[2];
    i = 3;
  }
  ResourcePath rp;
  if (i < segs.size() && segs[i] == "watch") {
    rp.legacy_watch = true;
    ++i;
  }
  if (i + 1 < segs.size() && segs[i] == "namespaces") {
    rp.namespace_name = segs[i + 1];
    i += 2;
  }
  if (i >= segs.size()) return PageNotFound();
  auto served = FindResource(group, version, segs[i]);
  if (!served) return PageNotFound();
  rp.resource = *served;
  ++i;
  if (i < segs.size()) rp.name = segs[i++];
  if (i < segs.size()) rp.subresource = segs[i++];
  if (i < segs.size()) return PageNotFound();
  if (!rp.subresource.empty() && !(rp.resource.kind == ResourceKind::kDeployment && rp.subresource == "scale")) {
    return PageNotFound();
  }
  return HandleResource(req, *grant, rp);
}

HttpResponse FakeApiServer::Impl::HandleResource(HttpRequest& req, const TokenGrant& grant, const ResourcePath& rp) {
  GroupResource gr{rp.resource.group, rp.resource.resource};
  bool watch = rp.legacy_watch || ParseBoolParam(req.Param("watch"));

  // Selectors (collection requests, named watches).
  LabelSelector labels;
  FieldSelector fields;
  if (auto ls = req.Param("labelSelector"); ls && !ls->empty()) {
    auto parsed = LabelSelector::Parse(*ls);
    if (!parsed.ok()) return StatusResponse(BadRequest(std::string(parsed.status().message())));
    labels = std::move(*parsed);
  }
  std::string field_text = req.Param("fieldSelector").value_or("");
  if (watch && !rp.name.empty()) {
    // A watch on a named path watches that one object.
    field_text = absl::StrCat(field_text.empty() ? "" : field_text + ",", "metadata.name=", rp.name);
  }
  if (!field_text.empty()) {
    auto parsed = FieldSelector::Parse(field_text, {"metadata.name", "metadata.namespace"},
                                       DefaultFieldSelectorMessage);
    if (!parsed.ok()) return StatusResponse(BadRequest(std::string(parsed.status().message())));
    fields = std::move(*parsed);
  }

  // Request attributes (requestinfo.go) and RBAC.
  RequestAttributes attrs;
  attrs.user = grant.user;
  attrs.api_group = rp.resource.group;
  attrs.resource = rp.resource.resource;
  attrs.subresource = rp.subresource;
  attrs.namespace_name = rp.namespace_name;
  attrs.name = rp.name;
  if (req.method == "GET") {
    attrs.verb = watch ? "watch" : (rp.name.empty() ? "list" : "get");
    if (rp.name.empty()) {
      if (auto pinned = fields.PinnedName()) attrs.name = *pinned;
    }
  } else if (req.method == "POST") {
    attrs.verb = "create";
  } else if (req.method == "PUT") {
    attrs.verb = "update";
  } else if (req.method == "PATCH") {
    attrs.verb = "patch";
  } else if (req.method == "DELETE") {
    attrs.verb = rp.name.empty() ? "deletecollection" : "delete";
  } else {
    return StatusResponse(MethodNotSupported(gr, req.method));
  }
  if (!TokenAuthority::Allowed(grant, attrs)) return StatusResponse(Forbidden(attrs));

  OutputFormat format = NegotiateOutput(req.accept);
  if (req.method == "GET") {
    if (!rp.subresource.empty()) return Scale(req, rp);
    if (watch) return Watch(req, rp, std::move(labels), std::move(fields), format);
    if (!rp.name.empty()) return Get(rp, format);
    return List(req, rp, labels, fields, format);
  }
  if (rp.namespace_name.empty()) {
    // Every served resource is namespaced: writes need a namespace in the path.
    return StatusResponse(MethodNotSupported(gr, attrs.verb));
  }
  if (!rp.subresource.empty()) return Scale(req, rp);
  return Mutate(req, rp);
}

HttpResponse FakeApiServer::Impl::ObjectResponse(int status, const json& object, ResourceKind kind,
                                                 OutputFormat format) {
  if (format == OutputFormat::kTable) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    rows.push_back(TableRow(kind, object, NowUnix()));
    HttpResponse r = JsonResponse(status, MakeTable(kind, MetaStr(object, "resourceVersion"), rows, true).dump());
    r.content_type = kTableContentType;
    return r;
  }
  return JsonResponse(status, object.dump());
}

HttpResponse FakeApiServer::Impl::Get(const ResourcePath& rp, OutputFormat format) {
  std::shared_ptr<const json> object;
  {
    std::lock_guard<std::mutex> lock(model_mu_);
    auto got = cluster_->Get(rp.resource.kind, rp.namespace_name, rp.name);
    if (!got.ok()) return StatusResponse(FromModel(got.status(), rp.resource.kind, rp.name));
    object = *got;
  }
  return ObjectResponse(200, *object, rp.resource.kind, format);
}

HttpResponse FakeApiServer::Impl::List(const HttpRequest& req, const ResourcePath& rp, const LabelSelector& labels,
                                       const FieldSelector& fields, OutputFormat format) {
  ResourceKind kind = rp.resource.kind;
  auto rv_param = ParseResourceVersionParam(req.Param("resourceVersion"));
  if (!rv_param.ok()) return StatusResponse(BadRequest(std::string(rv_param.status().message())));
  std::optional<int64_t> rv = *rv_param;
  int64_t limit = 0;
  if (auto l = req.Param("limit"); l && !l->empty()) {
    if (!absl::SimpleAtoi(*l, &limit) || limit < 0) {
      return StatusResponse(BadRequest(absl::StrCat("invalid limit \"", *l, "\"")));
    }
  }
  std::string match = req.Param("resourceVersionMatch").value_or("");
  if (!match.empty() && match != "NotOlderThan" && match != "Exact") {
    return StatusResponse(BadRequest(absl::StrCat("resourceVersionMatch: Unsupported value: \"", match,
                                                  "\": supported values: \"Exact\", \"NotOlderThan\"")));
  }
  if (!match.empty() && !rv) {
    return StatusResponse(BadRequest(
        "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"));
  }
  std::optional<ContinueToken> cont;
  if (auto c = req.Param("continue"); c && !c->empty()) {
    if (rv && *rv != 0) {
      return StatusResponse(BadRequest("specifying resource version is not allowed when using continue"));
    }
    cont = DecodeContinue(*c);
    if (!cont) return StatusResponse(BadRequest("continue key is not valid: incorrect encoded start resourceVersion"));
  }
  // The watch cache serves RV="0" from memory and ignores limit (§2.2); so do we.
  bool paginate = limit > 0 && !(rv && *rv == 0 && !cont);

  std::vector<std::shared_ptr<const json>> items;
  uint64_t list_rv = 0;
  {
    std::lock_guard<std::mutex> lock(model_mu_);
    uint64_t current = cluster_->resource_version();
    if (cont) {
      auto state = hub_->StateAt(kind, rp.namespace_name, cont->rv);
      if (!state.ok()) {
        return StatusResponse(Expired(
            "The provided continue parameter is too old to display a consistent list result. You can start a new "
            "list without the continue parameter, or use the continue token in this response to retrieve the "
            "remainder of the results. Continuing with the provided token results in an inconsistent list - "
            "objects that were created, modified, or deleted between the time the first chunk was returned and now "
            "may show up in the list."));
      }
      items = std::move(*state);
      list_rv = cont->rv;
    } else if (rv && static_cast<uint64_t>(*rv) > current) {
      StatusError e = Timeout(absl::StrCat("Too large resource version: ", *rv, ", current: ", current), 1);
      e.causes.push_back({.reason = "ResourceVersionTooLarge", .message = "Too large resource version"});
      return StatusResponse(e);
    } else if (rv && *rv != 0 && (match == "Exact" || (paginate && match.empty()))) {
      auto state = hub_->StateAt(kind, rp.namespace_name, static_cast<uint64_t>(*rv));
      if (!state.ok()) return StatusResponse(FromModel(state.status(), kind, ""));
      items = std::move(*state);
      list_rv = static_cast<uint64_t>(*rv);
    } else {
      fake::ListResult list = cluster_->List(kind, rp.namespace_name);
      items = std::move(list.items);
      list_rv = list.resource_version;
    }
  }
  WatchFilter filter{kind, rp.namespace_name, labels, fields};
  std::vector<std::shared_ptr<const json>> selected;
  selected.reserve(items.size());
  for (auto& item : items) {
    if (!filter.Matches(*item)) continue;
    if (cont) {
      std::pair<std::string, std::string> key{MetaStr(*item, "namespace"), MetaStr(*item, "name")};
      if (key <= std::make_pair(cont->ns, cont->name)) continue;
    }
    selected.push_back(std::move(item));
  }
  std::string next_continue;
  size_t remaining = 0;
  if (paginate && selected.size() > static_cast<size_t>(limit)) {
    remaining = selected.size() - static_cast<size_t>(limit);
    selected.resize(static_cast<size_t>(limit));
    next_continue = EncodeContinue(
        ContinueToken{list_rv, MetaStr(*selected.back(), "namespace"), MetaStr(*selected.back(), "name")});
  }

  if (format == OutputFormat::kTable) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    int64_t now = NowUnix();
    for (const auto& item : selected) rows.push_back(TableRow(kind, *item, now));
    nlohmann::ordered_json table = MakeTable(kind, std::to_string(list_rv), std::move(rows), true);
    if (!next_continue.empty()) {
      table["metadata"]["continue"] = next_continue;
      table["metadata"]["remainingItemCount"] = remaining;
    }
    HttpResponse r = JsonResponse(200, table.dump());
    r.content_type = kTableContentType;
    return r;
  }
  nlohmann::ordered_json meta = {{"resourceVersion", std::to_string(list_rv)}};
  if (!next_continue.empty()) {
    meta["continue"] = next_continue;
    meta["remainingItemCount"] = remaining;
  }
  std::string body;
  body.reserve(selected.size() * 512 + 128);
  absl::StrAppend(&body, "{\"kind\":\"", ListKind(kind), "\",\"apiVersion\":\"", std::string(fake::ApiVersion(kind)),
                  "\",\"metadata\":", meta.dump(), ",\"items\":[");
  for (size_t k = 0; k < selected.size(); ++k) {
    if (k > 0) body.push_back(',');
    body += *hub_->Serialized(selected[k]);
  }
  body += "]}";
  return JsonResponse(200, std::move(body));
}

HttpResponse FakeApiServer::Impl::Watch(const HttpRequest& req, const ResourcePath& rp, LabelSelector labels,
                                        FieldSelector fields, OutputFormat format) {
  ResourceKind kind = rp.resource.kind;
  auto rv_param = ParseResourceVersionParam(req.Param("resourceVersion"));
  if (!rv_param.ok()) return StatusResponse(BadRequest(std::string(rv_param.status().message())));
  int64_t timeout_s = 0;
  if (auto t = req.Param("timeoutSeconds"); t && !t->empty()) {
    if (!absl::SimpleAtoi(*t, &timeout_s) || timeout_s < 0) {
      return StatusResponse(BadRequest(absl::StrCat("invalid timeoutSeconds \"", *t, "\"")));
    }
  }
  bool bookmarks = ParseBoolParam(req.Param("allowWatchBookmarks"));
  bool send_initial = ParseBoolParam(req.Param("sendInitialEvents"));
  std::string match = req.Param("resourceVersionMatch").value_or("");
  if (send_initial) {
    // WatchList (§2.2): needs NotOlderThan and bookmarks.
    if (match != "NotOlderThan") {
      return StatusResponse(BadRequest(
          "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"));
    }
    if (!bookmarks) {
      return StatusResponse(BadRequest("allowWatchBookmarks: Required value: sendInitialEvents requires "
                                       "setting allowWatchBookmarks to true"));
    }
  } else if (!match.empty()) {
    return StatusResponse(BadRequest("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
                                     "unless sendInitialEvents is provided"));
  }

  WatchHub::StartOptions start;
  start.filter = WatchFilter{kind, rp.namespace_name, std::move(labels), std::move(fields)};
  start.format = format;
  std::optional<int64_t> rv = *rv_param;
  if (rv && *rv != 0 && !send_initial) start.from_rv = static_cast<uint64_t>(*rv);
  start.initial_events_end_bookmark = send_initial;

  std::shared_ptr<WatchSink> sink;
  {
    std::lock_guard<std::mutex> lock(model_mu_);
    uint64_t current = cluster_->resource_version();
    if (rv && static_cast<uint64_t>(*rv) > current) {
      StatusError e = Timeout(absl::StrCat("Too large resource version: ", *rv, ", current: ", current), 1);
      e.causes.push_back({.reason = "ResourceVersionTooLarge", .message = "Too large resource version"});
      return StatusResponse(e);
    }
    auto started = hub_->Start(start);
    if (started.ok()) {
      sink = *started;
    } else {
      // Too old: HTTP 200, one ERROR event, then the stream ends (§2.4, checklist 4).
      sink = std::make_shared<WatchSink>();
      StatusError e = FromModel(started.status(), kind, "");
      sink->Push(std::make_shared<const std::string>(WatchHub::JsonEventLine("ERROR", StatusJson(e))), 0,
                 std::chrono::steady_clock::now());
      sink->Finish();
    }
  }
  HttpResponse r;
  r.status = 200;
  r.content_type = format == OutputFormat::kTable ? kTableContentType : "application/json";
  r.stream = sink;
  std::chrono::milliseconds lifetime;
  if (timeout_s > 0) {
    lifetime = std::chrono::seconds(timeout_s);
  } else {
    std::lock_guard<std::mutex> lock(rng_mu_);
    auto base = std::chrono::duration_cast<std::chrono::milliseconds>(options_.default_watch_timeout);
    lifetime = base + std::chrono::milliseconds(rng_() % std::max<int64_t>(1, base.count()));
  }
  r.stream_options.deadline = std::chrono::steady_clock::now() + lifetime;
  if (bookmarks) {
    r.stream_options.bookmark_interval = options_.bookmark_interval;
    r.stream_options.bookmark_before_deadline = true;
    r.stream_options.make_bookmark = [kind](int64_t rv) { return WatchHub::BookmarkLine(kind, rv); };
  }
  return r;
}

HttpResponse FakeApiServer::Impl::Mutate(HttpRequest& req, const ResourcePath& rp) {
  ResourceKind kind = rp.resource.kind;
  GroupResource gr{rp.resource.group, rp.resource.resource};
  json body;
  if (req.method != "DELETE") {
    // Depth-limited: the model, patches and dump() walk the document recursively, so unbounded
    // nesting would overflow the stack.
    absl::StatusOr<json> parsed = input::ParseJson(req.body);
    if (!parsed.ok()) {
      return StatusResponse(BadRequest(absl::StrCat("the body of the request was in an unknown format - accepted "
                                                    "media types include: application/json (",
                                                    parsed.status().message(), ")")));
    }
    body = *std::move(parsed);
  }
  absl::StatusOr<std::shared_ptr<const json>> result;
  int ok_status = 200;
  {
    std::lock_guard<std::mutex> lock(model_mu_);
    if (req.method == "POST") {
      if (!rp.name.empty()) return StatusResponse(MethodNotSupported(gr, "create"));
      if (!body.is_object()) return StatusResponse(BadRequest("the request body must be a JSON object"));
      result = cluster_->Create(kind, rp.namespace_name, body);
      ok_status = 201;
    } else if (rp.name.empty()) {
      return StatusResponse(MethodNotSupported(gr, req.method == "DELETE" ? "deletecollection" : "update"));
    } else if (req.method == "PUT") {
      if (!body.is_object()) return StatusResponse(BadRequest("the request body must be a JSON object"));
      result = cluster_->Replace(kind, rp.namespace_name, rp.name, body);
    } else if (req.method == "PATCH") {
      std::string ct = absl::AsciiStrToLower(req.content_type);
      if (absl::StartsWith(ct, "application/merge-patch+json") ||
          absl::StartsWith(ct, "application/strategic-merge-patch+json")) {
        // Strategic merge on these objects' maps is a JSON merge patch; list merge keys are not modelled.
        result = cluster_->MergePatch(kind, rp.namespace_name, rp.name, body);
      } else if (absl::StartsWith(ct, "application/json-patch+json")) {
        auto current = cluster_->Get(kind, rp.namespace_name, rp.name);
        if (!current.ok()) return StatusResponse(FromModel(current.status(), kind, rp.name));
        json patched;
        try {
          patched = (*current)->patch(body);
        } catch (const std::exception& e) {
          return StatusResponse(StatusError{.code = 422, .reason = "Invalid", .message = e.what()});
        }
        // Each patch may add a value as deep as the parse allows: bound the result as well.
        if (input::JsonDepth(patched) > input::kDefaultMaxJsonDepth) {
          return StatusResponse(StatusError{
              .code = 422, .reason = "Invalid",
              .message = absl::StrCat("the patched object is nested deeper than ", input::kDefaultMaxJsonDepth,
                                      " levels")});
        }
        result = cluster_->Replace(kind, rp.namespace_name, rp.name, patched);
      } else {
        return StatusResponse(UnsupportedMediaType(req.content_type));
      }
    } else {  // DELETE
      result = cluster_->Delete(kind, rp.namespace_name, rp.name);
    }
  }
  KickTimer();
  if (!result.ok()) {
    std::string name = rp.name.empty() ? MetaStr(body, "name") : rp.name;
    return StatusResponse(FromModel(result.status(), kind, name));
  }
  return JsonResponse(ok_status, (*result)->dump());
}

HttpResponse FakeApiServer::Impl::Scale(HttpRequest& req, const ResourcePath& rp) {
  auto make_scale = [](const json& d) {
    nlohmann::ordered_json meta = {{"name", MetaStr(d, "name")},
                                   {"namespace", MetaStr(d, "namespace")},
                                   {"uid", MetaStr(d, "uid")},
                                   {"resourceVersion", MetaStr(d, "resourceVersion")},
                                   {"creationTimestamp", MetaStr(d, "creationTimestamp")}};
    int64_t spec = d.contains("spec") ? d["spec"].value("replicas", 0) : 0;
    int64_t status = d.contains("status") ? d["status"].value("replicas", 0) : 0;
    std::string selector;
    if (d.contains("spec") && d["spec"].contains("selector") && d["spec"]["selector"].contains("matchLabels")) {
      for (auto it = d["spec"]["selector"]["matchLabels"].begin(); it != d["spec"]["selector"]["matchLabels"].end();
           ++it) {
        if (!selector.empty()) selector += ",";
        selector += it.key() + "=" + (it.value().is_string() ? it.value().get<std::string>() : "");
      }
    }
    nlohmann::ordered_json s = {{"kind", "Scale"},
                                {"apiVersion", "autoscaling/v1"},
                                {"metadata", meta},
                                {"spec", {{"replicas", spec}}},
                                {"status", {{"replicas", status}, {"selector", selector}}}};
    return s;
  };
  ResourceKind kind = ResourceKind::kDeployment;
  std::lock_guard<std::mutex> lock(model_mu_);
  auto current = cluster_->Get(kind, rp.namespace_name, rp.name);
  if (!current.ok()) return StatusResponse(FromModel(current.status(), kind, rp.name));
  if (req.method == "GET") return JsonResponse(200, make_scale(**current).dump());
  if (req.method != "PUT" && req.method != "PATCH") {
    return StatusResponse(MethodNotSupported(GroupResource{"apps", "deployments/scale"}, req.method));
  }
  absl::StatusOr<json> parsed = input::ParseJson(req.body);
  if (!parsed.ok()) {
    return StatusResponse(
        BadRequest(absl::StrCat("the body of the request was in an unknown format (", parsed.status().message(), ")")));
  }
  json body = *std::move(parsed);
  json desired;
  if (req.method == "PUT") {
    desired = body;
    std::string want_rv = MetaStr(body, "resourceVersion");
    if (!want_rv.empty() && want_rv != MetaStr(**current, "resourceVersion")) {
      return StatusResponse(Conflict(GroupResource{"apps", "deployments"}, rp.name));
    }
  } else {
    desired = json::parse(make_scale(**current).dump());
    std::string ct = absl::AsciiStrToLower(req.content_type);
    try {
      if (absl::StartsWith(ct, "application/json-patch+json")) {
        desired = desired.patch(body);
      } else {
        desired.merge_patch(body);
      }
    } catch (const std::exception& e) {
      return StatusResponse(StatusError{.code = 422, .reason = "Invalid", .message = e.what()});
    }
  }
  if (!desired.contains("spec") || !desired["spec"].contains("replicas") ||
      !desired["spec"]["replicas"].is_number_integer() || desired["spec"]["replicas"].get<int64_t>() < 0) {
    return StatusResponse(Invalid("Scale.autoscaling", rp.name,
                                  "spec.replicas: Invalid value: must be greater than or equal to 0"));
  }
  int replicas = static_cast<int>(desired["spec"]["replicas"].get<int64_t>());
  if (absl::Status s = cluster_->Scale(rp.namespace_name, rp.name, replicas); !s.ok()) {
    return StatusResponse(FromModel(s, kind, rp.name));
  }
  KickTimer();
  auto after = cluster_->Get(kind, rp.namespace_name, rp.name);
  if (!after.ok()) return StatusResponse(FromModel(after.status(), kind, rp.name));
  return JsonResponse(200, make_scale(**after).dump());
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
  std::lock_guard<std::mutex> lock(impl_->token_mu_);
  return impl_->admin_token_;
}
std::string FakeApiServer::service_account_token() const {
  std::lock_guard<std::mutex> lock(impl_->token_mu_);
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
    std::lock_guard<std::mutex> lock(impl_->token_mu_);
    if (absl::Status s = WriteFileAtomic(dir + "/token", impl_->sa_token_, 0644); !s.ok()) return s;
    if (std::find(impl_->sa_dirs_.begin(), impl_->sa_dirs_.end(), dir) == impl_->sa_dirs_.end()) {
      impl_->sa_dirs_.push_back(dir);
    }
  }
  if (absl::Status s = WriteFileAtomic(dir + "/ca.crt", impl_->tls_.ca_cert_pem, 0644); !s.ok()) return s;
  return WriteFileAtomic(dir + "/namespace", impl_->options_.service_account_namespace, 0644);
}

void FakeApiServer::WithCluster(const std::function<void(fake::Cluster&)>& fn) {
  {
    std::lock_guard<std::mutex> lock(impl_->model_mu_);
    fn(*impl_->cluster_);
  }
  impl_->KickTimer();
}

uint64_t FakeApiServer::resource_version() const {
  std::lock_guard<std::mutex> lock(impl_->model_mu_);
  return impl_->cluster_->resource_version();
}

int FakeApiServer::active_watches() const {
  std::lock_guard<std::mutex> lock(impl_->model_mu_);
  return impl_->hub_->active();
}

void FakeApiServer::CloseAllWatches() { impl_->CloseAllWatches(); }
void FakeApiServer::ExpireHistory() { impl_->ExpireHistory(); }
void FakeApiServer::FailRequests(int status, std::chrono::milliseconds duration, int retry_after_s) {
  impl_->FailRequests(status, duration, retry_after_s);
}
void FakeApiServer::StallStreams(std::chrono::milliseconds duration) { impl_->StallStreams(duration); }
void FakeApiServer::DelayEvents(std::chrono::milliseconds delay) { impl_->DelayEvents(delay); }
void FakeApiServer::SendMalformedEvent() { impl_->SendMalformed(); }
void FakeApiServer::JumpResourceVersion(uint64_t delta) { impl_->JumpRv(delta); }
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
