// Watch streams with kube-apiserver's semantics (the watch cache's cache_watcher): ADDED events
// for the current state when a watch starts without a resourceVersion (or "0"), only later
// changes from an RV, selector transitions as ADDED/DELETED (a DELETED for an object that left
// the selection carries its previous content with the new RV), BOOKMARKs every interval and
// before the deadline (sent only when the resource's version moved past the watch's start, as
// the cacher does), the end of the stream at the deadline, and meta.k8s.io Tables for kubectl
// (columnDefinitions in full in the first event, empty afterwards).
//
// Timing comes from the ServerClock (deadlines, bookmarks), so a manual clock makes watches
// deterministic; the `delay` fault is in real time. Every stream keeps a record (tag, lines sent
// and when, whether it ended) for GET /fake/state.
//
// Thread-safety: every method must be called with the server's model mutex held, except timer
// callbacks, which take it through `locked` (given at construction) themselves.
#ifndef K8SLB_FAKEAPI_SERVER_WATCH_HUB_H_
#define K8SLB_FAKEAPI_SERVER_WATCH_HUB_H_

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fakeapi/server/api_common.h"
#include "fakeapi/server/api_store.h"
#include "fakeapi/server/http_server.h"
#include "fakeapi/server/kube_docs.h"
#include "fakeapi/server/resources.h"
#include "fakeapi/server/server_clock.h"

namespace k8slb::fakeapi {

struct WatchFilter {
  std::string namespace_name;  // "" = all namespaces
  LabelSelector labels;
  FieldSelector fields;
  bool Matches(const nlohmann::ordered_json& object) const;
};

struct WatchSpec {
  const ResourceInfo* resource = nullptr;
  WatchFilter filter;
  OutputFormat format = OutputFormat::kJson;
  std::optional<uint64_t> from_rv;  // nullopt: ADDED events for the current state first
  bool bookmarks = false;
  SteadyTime deadline{};
  std::string tag;     // X-K8slb-Watch-Tag of the request, for /fake/state
  std::string target;  // the request target
};

class WatchHub {
 public:
  using Locked = std::function<void(const std::function<void()>&)>;
  // `wall_unix`: seconds since the epoch now (Table AGE cells).
  WatchHub(ApiStore* store, ServerClock* clock, Locked locked, std::function<int64_t()> wall_unix,
           std::chrono::milliseconds bookmark_interval);
  ~WatchHub();

  // Starts a stream. OutOfRange: `from_rv` is older than the watch cache (the caller answers
  // 200 with one ERROR event).
  absl::StatusOr<std::shared_ptr<WatchSink>> Start(const WatchSpec& spec);
  // A stream of one ERROR event (a Status), ended at once or after `after`.
  std::shared_ptr<WatchSink> ErrorStream(const WatchSpec& spec, const std::string& status_json,
                                         std::chrono::nanoseconds after = std::chrono::nanoseconds(0));

  // A write was recorded in the store.
  void OnEvent(const ResourceInfo& resource, const ApiEvent& event);

  // Faults.
  void CloseAll();
  void SendMalformed();
  void set_delay(std::chrono::milliseconds delay) { delay_ = delay; }
  int active();
  // Server shutdown: detach every sink and cancel timers.
  void DetachAll();

  // [{"tag", "target", "lines", "times": [seconds], "ended"}] for /fake/state.
  nlohmann::json State() const;

  // `{"type":T,"object":OBJ}\n`.
  static std::string EventLine(std::string_view type, const std::string& object_json);
  // The object with kind and apiVersion first, as watch events and GETs carry it.
  static nlohmann::ordered_json WithTypeMeta(const ResourceInfo& resource, const nlohmann::ordered_json& object);

 private:
  struct Watcher {
    WatchSpec spec;
    std::shared_ptr<WatchSink> sink;
    uint64_t start_rv = 0;
    bool header_sent = false;  // Table: columnDefinitions written
    ServerClock::TimerId deadline_timer = 0;
    ServerClock::TimerId bookmark_timer = 0;
    SteadyTime started{};
    int lines = 0;
    std::vector<double> times;
  };
  struct Delivery {
    std::string_view type;
    bool old_content = false;
  };
  static std::optional<Delivery> Decide(const Watcher& w, fake::ChangeType type, const nlohmann::ordered_json* prev,
                                        const nlohmann::ordered_json& cur);
  std::shared_ptr<const std::string> Line(Watcher& w, const Delivery& d, const ApiEvent& e,
                                          std::shared_ptr<const std::string>* cache);
  void Push(Watcher& w, std::shared_ptr<const std::string> line);
  void ScheduleBookmark(const std::shared_ptr<Watcher>& w, SteadyTime now);
  void Bookmark(const std::shared_ptr<Watcher>& w);
  void Retire(const std::shared_ptr<Watcher>& w);
  uint64_t ResourceRv(const std::string& resource) const;

  ApiStore* store_;
  ServerClock* clock_;
  Locked locked_;
  std::function<int64_t()> wall_unix_;
  std::chrono::milliseconds bookmark_interval_;
  std::chrono::milliseconds delay_{0};
  std::map<std::string, std::vector<std::shared_ptr<Watcher>>> watchers_;  // by resource
  std::map<std::string, uint64_t> last_rv_;  // by resource: the last event dispatched
  std::deque<std::shared_ptr<Watcher>> ended_;  // recent ended streams, for State()
};

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_WATCH_HUB_H_
