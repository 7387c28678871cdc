// Fans the cluster model's events out to open watch streams, with the real server's semantics
// (reference kubernetes-api.md §2.2, §2.4, checklist 3, 6, 7): synthetic ADDED for RV unset/"0",
// only later changes for RV=N, selector transitions as ADDED/DELETED (DELETED carries the old
// content with the new RV), Table rows with columnDefinitions only in the first event. It also
// reconstructs the state at an older RV (exact list / continue tokens) by undoing history.
//
// Threading: not internally locked. Every call, including OnEvent (the Cluster listener), must be
// made with the server's model mutex held; pushing into a WatchSink is non-blocking.
#ifndef K8SLB_FAKEAPI_SERVER_WATCH_HUB_H_
#define K8SLB_FAKEAPI_SERVER_WATCH_HUB_H_

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "api_common.h"
#include "fakeapi/model/cluster.h"
#include "http_server.h"
#include "kube_docs.h"

namespace k8slb::fakeapi {

struct WatchFilter {
  fake::ResourceKind kind = fake::ResourceKind::kEndpointSlice;
  std::string namespace_name;  // "" = all namespaces
  LabelSelector labels;
  FieldSelector fields;
  bool Matches(const nlohmann::json& object) const;
};

class WatchHub {
 public:
  // `clock_unix` gives wall seconds for Table AGE cells.
  WatchHub(fake::Cluster* cluster, std::function<int64_t()> clock_unix);

  // The Cluster listener.
  void OnEvent(const fake::StoredEvent& event);

  struct StartOptions {
    WatchFilter filter;
    OutputFormat format = OutputFormat::kJson;
    // nullopt: synthetic ADDED for the current state first (RV unset or "0").
    std::optional<uint64_t> from_rv;
    // sendInitialEvents: after the synthetic ADDED, a BOOKMARK with k8s.io/initial-events-end.
    bool initial_events_end_bookmark = false;
  };
  // Registers a watcher and queues its initial events. OutOfRange (410) when from_rv is compacted.
  absl::StatusOr<std::shared_ptr<WatchSink>> Start(const StartOptions& options);

  // Current state of `kind` in `ns` ("" = all) at `rv` (≤ the model's RV), sorted by
  // (namespace, name). OutOfRange when rv is below the compaction point.
  absl::StatusOr<std::vector<std::shared_ptr<const nlohmann::json>>> StateAt(fake::ResourceKind kind,
                                                                             const std::string& ns, uint64_t rv);

  // The object's JSON text, cached while the object is alive (the model's objects are immutable
  // and replaced on every write), so lists and watch events of the same version share one dump.
  // Thread-safe (own mutex): may be called without the model mutex.
  std::shared_ptr<const std::string> Serialized(const std::shared_ptr<const nlohmann::json>& object);

  // Faults.
  void CloseAll();
  void SendMalformed();
  void set_delay(std::chrono::milliseconds delay) { delay_ = delay; }
  int active();
  // Drops prev-object records below the compaction point.
  void Prune();
  // Server shutdown: detach every sink (no more posts to I/O threads).
  void DetachAll();

  // `{"type":T,"object":OBJ}\n` for a JSON watch.
  static std::string JsonEventLine(std::string_view type, const std::string& object_json);
  // A BOOKMARK line for `kind` at `rv`.
  static std::string BookmarkLine(fake::ResourceKind kind, int64_t rv, bool initial_events_end = false);

 private:
  struct Watcher {
    WatchFilter filter;
    OutputFormat format = OutputFormat::kJson;
    std::shared_ptr<WatchSink> sink;
    bool header_sent = false;
  };
  struct Delivery {
    std::string_view type;  // ADDED / MODIFIED / DELETED
    bool old_content = false;  // DELETED on a selector transition: previous object with the new RV
  };
  // Which event (if any) watcher `w` gets for an event whose object changed from `prev` to `cur`.
  static std::optional<Delivery> Decide(const Watcher& w, fake::ChangeType type, const nlohmann::json* prev,
                                        const nlohmann::json& cur);
  std::shared_ptr<const std::string> Line(Watcher& w, const Delivery& d, const fake::StoredEvent& ev,
                                          const nlohmann::json* prev, std::shared_ptr<const std::string>* cache);
  std::shared_ptr<const nlohmann::json> PrevOf(uint64_t rv) const;
  static std::string Key(fake::ResourceKind kind, const nlohmann::json& object);

  fake::Cluster* cluster_;
  std::function<int64_t()> clock_unix_;
  std::vector<std::shared_ptr<Watcher>> watchers_[4];
  // Last object per key (kind|ns/name) and, per event RV, the object before that event.
  std::unordered_map<std::string, std::shared_ptr<const nlohmann::json>> shadow_;
  std::deque<std::pair<uint64_t, std::shared_ptr<const nlohmann::json>>> prev_by_rv_;
  std::chrono::milliseconds delay_{0};

  struct CacheEntry {
    std::weak_ptr<const nlohmann::json> object;
    std::shared_ptr<const std::string> text;
  };
  std::mutex cache_mu_;
  std::unordered_map<const nlohmann::json*, CacheEntry> cache_;
  uint64_t events_since_sweep_ = 0;
};

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_WATCH_HUB_H_
