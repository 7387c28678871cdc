// ServiceRegistry: one EndpointSource (a discovery watch) per Service port that some ADS stream
// needs, shared by every stream, with the serialized ClusterLoadAssignment cached per snapshot
// and client zone (built once, whatever the number of streams).
//
// Threading. Acquire/Release/Assignment/Describe may be called from any thread (gRPC's callback
// threads). Sources publish on their own threads; the registry then calls the observers of that
// service outside the registry's lock, on the publisher's thread and, when there are many, on
// `notify_threads` helper threads as well; observers must not block. A
// janitor thread notices first syncs that changed nothing (an empty Service publishes no
// snapshot) and stops the sources no stream has used for `idle_grace`: a source is never
// destroyed on its own publishing thread or under a stream's lock.
//
// Fail-static: an assignment is served only once its source has synced, and a source keeps its
// last snapshot through API errors (the watcher retries, it does not clear), so an outage of the
// Kubernetes API never turns into an empty assignment.
#ifndef K8SLB_XDS_SRC_SERVICE_REGISTRY_H_
#define K8SLB_XDS_SRC_SERVICE_REGISTRY_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "k8slb/discovery.h"
#include "k8slb/endpoint_source.h"
#include "resources.h"

namespace k8slb::xds {

// Notified after a service's assignment may have changed (a new snapshot, or the first sync).
class ServiceObserver {
 public:
  virtual ~ServiceObserver() = default;
  virtual void OnServiceChanged(const ServiceKey& key) = 0;
};

using SourceFactory = std::function<absl::StatusOr<std::shared_ptr<EndpointSource>>(const ServiceKey& key)>;

struct ServiceRegistryOptions {
  SourceFactory factory;
  // A source no stream uses is stopped after this long (a client that reconnects or an idle
  // channel that resubscribes finds it still warm).
  std::chrono::milliseconds idle_grace{60000};
  // How often the janitor looks for first syncs and idle sources.
  std::chrono::milliseconds janitor_period{50};
  // Threads that help the publishing thread notify one snapshot's observers. Each notification
  // builds and starts that stream's write, and gRPC runs the HTTP/2 write (the sendmsg) on the
  // calling thread: with 1,000 streams one thread would issue every write in turn. 0: the
  // publishing thread notifies alone.
  int notify_threads = 1;
  // A snapshot with fewer observers is notified by the publishing thread alone (a hand-off
  // costs more than a few writes).
  size_t parallel_notify_min = 64;
  LogSink log;
};

// One serialized ClusterLoadAssignment, shared by every stream that sends it.
struct CachedAssignment {
  uint64_t set_version = 0;
  size_t endpoints = 0;
  std::shared_ptr<const std::string> bytes;  // serialized ClusterLoadAssignment
};

struct RegistryStats {
  size_t services = 0;        // sources alive
  size_t synced = 0;          // of which synced
  uint64_t assignments_built = 0;
  uint64_t notifications = 0;  // observer calls
};

// Runs a batch of calls on the caller's thread and `helpers` threads of its own, and returns
// once every call has returned. One batch at a time (a second caller waits for the first).
class NotifyPool {
 public:
  explicit NotifyPool(int helpers);
  ~NotifyPool();  // joins the helpers
  NotifyPool(const NotifyPool&) = delete;
  NotifyPool& operator=(const NotifyPool&) = delete;

  // Calls fn(i) for every i in [0, count), each once, on any of the threads.
  void Run(size_t count, const std::function<void(size_t)>& fn) ABSL_LOCKS_EXCLUDED(run_mu_, mu_);

 private:
  void HelperLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Claims and runs items of the current batch until none is left.
  void Work() ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex run_mu_;  // held by the caller of Run for its whole batch
  absl::Mutex mu_;
  const std::function<void(size_t)>* fn_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t count_ ABSL_GUARDED_BY(mu_) = 0;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  size_t done_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> helpers_;
};

class ServiceRegistry {
 public:
  explicit ServiceRegistry(ServiceRegistryOptions options);
  ~ServiceRegistry();  // stops every source and the janitor
  ServiceRegistry(const ServiceRegistry&) = delete;
  ServiceRegistry& operator=(const ServiceRegistry&) = delete;

  // Counts a use of `key` by `observer` (one per stream; idempotent per pair) and starts the
  // source if needed. A factory error is logged once and leaves the service without data.
  void Acquire(const ServiceKey& key, const std::shared_ptr<ServiceObserver>& observer);
  void Release(const ServiceKey& key, const ServiceObserver* observer);

  // The current assignment for a client in `zone`, or nullopt while the source has not synced
  // (or could not start).
  std::optional<CachedAssignment> Assignment(const ServiceKey& key, const std::string& zone);

  RegistryStats stats() const;

 private:
  struct Entry;

  void OnPublish(const std::string& name);
  void Notify(const std::shared_ptr<Entry>& entry);
  void JanitorLoop();
  // Unsubscribes and destroys the entry's source (never on its publishing thread).
  void StopEntry(Entry& entry) ABSL_LOCKS_EXCLUDED(mu_);
  void Log(LogLevel level, const std::string& message) const;

  const ServiceRegistryOptions options_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);  // by key.Name()
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t assignments_built_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t notifications_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<NotifyPool> notify_pool_;  // null when notify_threads is 0
  std::thread janitor_;
};

}  // namespace k8slb::xds

#endif  // K8SLB_XDS_SRC_SERVICE_REGISTRY_H_
