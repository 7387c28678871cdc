// Discovery: list + watch of a Service's EndpointSlices, feeding a SliceStore and publishing
// EndpointSet snapshots. Needs no gRPC: any RPC stack can consume the snapshots.
//
// StartServiceWatcher() spawns one watcher thread per ServiceWatcher (one per watched service):
// the watch is a long blocking HTTP stream, and one thread keeps the control flow of
// list → watch → relist → backoff readable. Callbacks run on that thread and must not block.
// Current(), stats() and Stop() are thread-safe. Stop() returns within ~100 ms even mid-transfer.
#ifndef K8SLB_DISCOVERY_H_
#define K8SLB_DISCOVERY_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "k8slb/endpoint_set.h"
#include "k8slb/kube_config.h"
#include "k8slb/random.h"
#include "k8slb/target.h"

namespace k8slb {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
// Routes k8slb's log lines; default writes warning and above to stderr.
using LogSink = std::function<void(LogLevel level, const std::string& message)>;

struct DiscoveryStats {
  std::string resource_version;
  int64_t last_sync_unix_ms = 0;  // last successful list or event; 0 = never
  uint64_t events_applied = 0;
  uint64_t bookmarks = 0;
  uint64_t relists = 0;
  uint64_t reconnects = 0;
  uint64_t errors = 0;
  uint64_t list_requests = 0;     // HTTP requests sent, answered or not
  uint64_t watch_requests = 0;
  uint64_t endpoint_set_version = 0;
  size_t endpoints = 0;
  bool synced = false;            // the first list has completed
  std::string last_error;         // empty when healthy; never contains the token
};

struct DiscoveryOptions {
  KubeConfig config;
  Target target;
  // Retry after a failed request (connection refused, 5xx, a broken stream): the step doubles
  // from backoff_initial to backoff_max and each delay is uniform in
  // [(1 - backoff_jitter) · step, step]; a failure after backoff_reset_after of health starts
  // again from backoff_initial. The cap bounds recovery: once the API server is back, a client
  // is watching again within backoff_max (plus one request), however long the outage lasted,
  // while it sends at most one request per (1 - backoff_jitter) · backoff_max during one
  // (defaults: within 1.6 s; at most 1.25 requests/s, 0.83/s on average). After an outage the
  // watch resumes from the last resourceVersion (no relist) whenever the server still has it.
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_max{1600};
  double backoff_jitter = 0.5;
  std::chrono::milliseconds backoff_reset_after{120000};
  // Persistent 401 (after re-reading the token) and 403: a configuration problem, retried slowly
  // so that a fix (a rotated token, a new RoleBinding) is noticed within this.
  std::chrono::milliseconds auth_retry{30000};
  // A watch with no bytes at all (not even a bookmark) for this long is dropped and resumed.
  std::chrono::milliseconds stall_timeout{90000};
  // Deadline of each list page: a server that trickles a response cannot hold discovery longer.
  std::chrono::milliseconds list_timeout{30000};
  std::chrono::milliseconds connect_timeout{5000};
  // Watch timeoutSeconds is random in [min, max).
  int watch_timeout_min_seconds = 300;
  int watch_timeout_max_seconds = 600;
  // A watch event line longer than this is reported and skipped (bounds memory on a broken
  // stream). etcd stores no object above 1.5 MiB by default
  // (https://etcd.io/docs/v3.5/dev-guide/limit/), about 3 MiB as JSON: 16 MiB leaves a wide
  // margin. Every JSON document from the server is also parsed with nesting and size limits.
  size_t max_event_bytes = size_t{16} << 20;
  LogSink log;  // null: warnings and errors to stderr
  std::shared_ptr<RandomSource> random;  // null: seeded from time
  std::shared_ptr<Clock> clock;          // null: steady clock
};

class ServiceWatcher {
 public:
  using SnapshotCallback = std::function<void(const std::shared_ptr<const EndpointSet>&)>;

  virtual ~ServiceWatcher() = default;  // stops
  // The last published snapshot (never null; empty before the first sync).
  virtual std::shared_ptr<const EndpointSet> Current() const = 0;
  virtual DiscoveryStats stats() const = 0;
  // Blocks until the first successful list or the timeout; returns the last error on timeout.
  virtual absl::Status WaitForSync(std::chrono::milliseconds timeout) = 0;
  virtual void Stop() = 0;
};

// Starts watching. `on_snapshot` (may be null) runs on the watcher thread after every change.
absl::StatusOr<std::unique_ptr<ServiceWatcher>> StartServiceWatcher(
    DiscoveryOptions options, ServiceWatcher::SnapshotCallback on_snapshot = nullptr);

}  // namespace k8slb

#endif  // K8SLB_DISCOVERY_H_
