// Private to k8slb_fakeapi_server: the state behind FakeApiServer and the one Impl that owns it.
// Impl's members are defined by concern:
//   fake_api_server.cc  start, stop, timers (model, scenario, tokens), faults, /fake/ controls
//   handle.cc           one request: authentication, routing, non-resource endpoints, RBAC
//   reads.cc            get, list, watch
//   writes.cc           create, update, patch (merge, strategic, JSON, apply), delete
//
// Locks (absl::Mutex, acquired in this order): model_mu_ (the model, the API store, the watch
// hub, the write in progress; the model's event listener runs under it) may be held while taking
// token_mu_, fault_mu_ or journal_mu_; never the other way round. The clock's and the token
// authority's locks are leaves. Handlers run on the HTTP server's I/O threads, timers on the
// clock's thread (or, with a manual clock, in the request that advances it).
#ifndef K8SLB_FAKEAPI_SERVER_SERVER_IMPL_H_
#define K8SLB_FAKEAPI_SERVER_SERVER_IMPL_H_

#include <atomic>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "fakeapi/api/managed_fields.h"
#include "fakeapi/api/schema.h"
#include "fakeapi/model/cluster.h"
#include "fakeapi/server/api_common.h"
#include "fakeapi/server/api_store.h"
#include "fakeapi/server/authn.h"
#include "fakeapi/server/fake_api_server.h"
#include "fakeapi/server/http_server.h"
#include "fakeapi/server/kube_docs.h"
#include "fakeapi/server/resources.h"
#include "fakeapi/server/server_clock.h"
#include "fakeapi/server/tls.h"
#include "fakeapi/server/watch_hub.h"

namespace k8slb::fakeapi {

using OJson = nlohmann::ordered_json;

// The model's clock: server time since start, times `speed`.
class ModelClock : public Clock {
 public:
  ModelClock(const ServerClock* clock, SteadyTime start, double speed) : clock_(clock), start_(start), speed_(speed) {}
  int64_t NowNanos() const override {
    auto real = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_->Now() - start_);
    return static_cast<int64_t>(static_cast<double>(real.count()) * speed_);
  }
  // The server time at which the model clock reads `nanos`.
  SteadyTime ServerTimeOf(int64_t nanos) const {
    return start_ + std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(nanos) / speed_));
  }

 private:
  const ServerClock* clock_;
  SteadyTime start_;
  double speed_;
};

// A parsed resource URL: /api/v1/... or /apis/G/V/... with optional watch/ and namespaces/NS/.
struct ResourcePath {
  std::string group, version;
  std::string resource;  // as in the URL (may be unknown)
  const ResourceInfo* info = nullptr;
  bool legacy_watch = false;
  bool namespaced_path = false;  // had namespaces/NS
  std::string namespace_name;
  std::string name;
  std::string subresource;
};

// What a request asked for, parsed once.
struct RequestContext {
  HttpRequest* req = nullptr;
  UserInfo user;
  std::vector<std::string> warnings;  // Warning header texts
  bool pretty = false;                // ?pretty=true, or a curl/Wget/browser User-Agent
  std::string manager;                // field manager: ?fieldManager or the User-Agent's program name
  bool dry_run = false;
};

class FakeApiServer::Impl {
 public:
  explicit Impl(FakeApiOptions options) : options_(std::move(options)) {}
  ~Impl() { Stop(); }

  absl::Status Init();
  void Stop();
  HttpResponse Handle(HttpRequest& req);

  // ---- fake_api_server.cc ----
  void RescheduleModelLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(model_mu_);
  void OnModelTimer();
  void ApplyScenarioEventsLocked(int64_t now_nanos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(model_mu_);
  void OnModelEvent(const fake::StoredEvent& ev) ABSL_EXCLUSIVE_LOCKS_REQUIRED(model_mu_);
  void BootstrapObjectsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(model_mu_);
  std::string RotateToken();
  void ScheduleRotation();
  std::optional<HttpResponse> InjectedFailure();
  HttpResponse HandleControl(HttpRequest& req);
  std::string RandomToken(const char* prefix);
  std::string NewUid();
  std::string RandomSuffix();
  int64_t NowUnix() const;
  std::string NowRfc3339() const;
  void Journal(const HttpRequest& req, int status, const std::string& content_type);

  // ---- handle.cc ----
  HttpResponse Route(HttpRequest& req, RequestContext& ctx);
  std::optional<HttpResponse> NonResource(HttpRequest& req, RequestContext& ctx, const std::vector<std::string>& segs);
  HttpResponse ServeOpenApi(HttpRequest& req, const std::vector<std::string>& segs);
  bool Allowed(const UserInfo& user, const RequestAttributes& attrs) ABSL_LOCKS_EXCLUDED(model_mu_);
  std::string Rfc3339Now() const { return NowRfc3339(); }
  // Body in the negotiated format, pretty when asked, with the server's trailing newline.
  HttpResponse ObjectResponse(const RequestContext& ctx, int status, const OJson& body, OutputFormat format);

  // ---- reads.cc ----
  HttpResponse HandleRead(RequestContext& ctx, const ResourcePath& rp);
  HttpResponse Get(RequestContext& ctx, const ResourcePath& rp, OutputFormat format);
  HttpResponse List(RequestContext& ctx, const ResourcePath& rp, OutputFormat format);
  HttpResponse Watch(RequestContext& ctx, const ResourcePath& rp, OutputFormat format);
  // A too-new resourceVersion: the real server waits up to 3 s for it, then answers 504.
  HttpResponse WaitForResourceVersion(RequestContext& ctx, const ResourcePath& rp, uint64_t rv,
                                      std::function<HttpResponse()> retry);

  // ---- writes.cc ----
  HttpResponse HandleWrite(RequestContext& ctx, const ResourcePath& rp);
  HttpResponse Create(RequestContext& ctx, const ResourcePath& rp);
  HttpResponse Update(RequestContext& ctx, const ResourcePath& rp);
  HttpResponse Patch(RequestContext& ctx, const ResourcePath& rp);
  HttpResponse Apply(RequestContext& ctx, const ResourcePath& rp);
  HttpResponse Delete(RequestContext& ctx, const ResourcePath& rp);
  HttpResponse DeleteCollection(RequestContext& ctx, const ResourcePath& rp);
  HttpResponse Scale(RequestContext& ctx, const ResourcePath& rp);
  HttpResponse Review(RequestContext& ctx, const ResourcePath& rp);
  HttpResponse DeleteOneLocked(RequestContext& ctx, const ResourcePath& rp, const ObjectPtr& old, const OJson& options,
                               const std::string& policy, std::optional<int64_t> grace)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(model_mu_);
  OJson ScaleOf(const ResourcePath& rp, const OJson& deployment);
  // 409/500 for a resourceVersion or uid in an update's object that does not match the stored one.
  std::optional<HttpResponse> CheckUpdatePreconditions(const ResourcePath& rp, const OJson& desired,
                                                       const OJson& current);
  // The common end of every write: defaults, system fields, validation, generation, managed
  // fields, the no-op check and storage (model or store). `managers`: set by apply.
  struct WriteOutcome {
    std::optional<HttpResponse> error;
    ObjectPtr object;  // the stored object (or what would be stored, on dry run)
    bool created = false;
  };
  WriteOutcome Commit(RequestContext& ctx, const ResourcePath& rp, const ObjectPtr& old, OJson desired,
                      const std::string& operation, std::optional<std::vector<api::ManagerEntry>> managers,
                      const std::string& subresource) ABSL_EXCLUSIVE_LOCKS_REQUIRED(model_mu_);
  absl::Status StoreLocked(const ResourcePath& rp, fake::ChangeType type, const ObjectPtr& old, OJson object,
                           ObjectPtr* stored) ABSL_EXCLUSIVE_LOCKS_REQUIRED(model_mu_);
  // A new etcd revision for a write the model does not make.
  uint64_t NextRvLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(model_mu_);

  // ---- state ----
  FakeApiOptions options_;
  std::string host_;
  uint16_t port_ = 0;
  std::string url_;
  GeneratedTls tls_;
  std::unique_ptr<ServerClock> clock_;
  SteadyTime start_{};
  int64_t start_unix_ = 0;

  mutable absl::Mutex token_mu_;
  std::string admin_token_ ABSL_GUARDED_BY(token_mu_);
  std::string sa_token_ ABSL_GUARDED_BY(token_mu_);
  std::vector<std::string> sa_dirs_ ABSL_GUARDED_BY(token_mu_);
  TokenAuthority authority_;
  std::chrono::milliseconds rotation_period_{0};

  mutable absl::Mutex model_mu_;
  std::shared_ptr<ModelClock> model_clock_;
  std::unique_ptr<fake::Cluster> cluster_ ABSL_GUARDED_BY(model_mu_);
  std::unique_ptr<ApiStore> store_ ABSL_GUARDED_BY(model_mu_);
  std::unique_ptr<WatchHub> hub_ ABSL_GUARDED_BY(model_mu_);
  size_t next_scenario_event_ ABSL_GUARDED_BY(model_mu_) = 0;
  ServerClock::TimerId model_timer_ ABSL_GUARDED_BY(model_mu_) = 0;
  SteadyTime model_timer_due_ ABSL_GUARDED_BY(model_mu_){};
  // The write in progress: the model's event for it is recorded with this exact object.
  struct PendingWrite {
    const ResourceInfo* resource = nullptr;
    std::string ns, name;
    OJson object;
    ObjectPtr stored;  // set by OnModelEvent
    // A delete: the model's answer (a pod it marks terminating) is its own object, not `object`.
    bool deleting = false;
  };
  std::optional<PendingWrite> pending_ ABSL_GUARDED_BY(model_mu_);

  std::shared_ptr<std::atomic<int64_t>> stalled_until_ = std::make_shared<std::atomic<int64_t>>(0);
  absl::Mutex fault_mu_;
  int fail_status_ ABSL_GUARDED_BY(fault_mu_) = 0;
  SteadyTime fail_until_ ABSL_GUARDED_BY(fault_mu_){};
  int fail_retry_after_ ABSL_GUARDED_BY(fault_mu_) = 0;
  // Requests held back by a timed wait, for /fake/state (tag, due).
  struct Pending {
    std::string tag;
    SteadyTime due;
  };
  std::vector<Pending> held_ ABSL_GUARDED_BY(fault_mu_);

  absl::Mutex journal_mu_;
  struct JournalEntry {
    uint64_t seq;
    std::string method, target, user_agent, accept, content_type, response_content_type;
    int status;
  };
  std::deque<JournalEntry> journal_ ABSL_GUARDED_BY(journal_mu_);
  uint64_t next_journal_seq_ ABSL_GUARDED_BY(journal_mu_) = 1;

  std::unique_ptr<HttpServer> http_;

  absl::Mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_);

  std::atomic<bool> stopped_{false};
};

// Helpers shared by the handler files.
std::string MetaStr(const OJson& o, const char* field);
GroupResource GroupResourceOf(const ResourceInfo& r);
// "Bearer X" etc. as the journal and errors need; the program name of a User-Agent ("kubectl"
// of "kubectl/v1.32.4 (linux/amd64) ...").
std::string ManagerFromUserAgent(const std::string& user_agent);
// `Warning: 299 - "text"`.
std::string WarningHeader(const std::string& text);
// The 406 of content negotiation of an object (pretty, no trailing newline, as the server's
// fallback writer produces it).
HttpResponse NotAcceptableObject();

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_SERVER_IMPL_H_
