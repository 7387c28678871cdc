// ClusterMirror: plays a live run's cluster into a real API server (`k8slb-sim run --mode live
// --api-server KUBECONFIG`).
//
// The run's cluster model stays the source of truth: it owns the pods, the Deployment and its
// EndpointSlice controller, and the pods are served locally. The mirror creates the scenario's
// Service without a selector, so the server's own EndpointSlice controller leaves it alone
// (https://kubernetes.io/docs/concepts/services-networking/service/#services-without-selectors),
// and keeps one EndpointSlice per model slice in step with the model, labelled
// `endpointslice.kubernetes.io/managed-by: k8slb-sim` as a custom slice manager should
// (https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/#management) and
// owned by the Service (ownerReferences), so a cluster's garbage collector removes them with it.
// k8slb clients then discover through that server exactly as in a cluster.
//
// Before creating anything it checks, through SelfSubjectAccessReviews when the server serves
// them, that the credentials may do everything the run needs (including the deletes of the
// cleanup), and that the names are free: a Service or slices of that name that another owner
// made are refused, naming them; leftovers of an earlier k8slb-sim run on this machine whose
// process is gone are removed first (with a note). Cleanup() deletes everything it created and
// lists the namespace to prove that nothing of its own is left.
//
// Threading: Create(), WaitIdle() and Cleanup() from the engine's control thread; OnModelEvent()
// from the model's thread (under fakeapi's lock: it only queues); one writer thread of its own
// makes the requests. The destructor stops the writer (it does not clean up).
#ifndef K8SLB_SIM_LIVE_API_MIRROR_H_
#define K8SLB_SIM_LIVE_API_MIRROR_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "fakeapi/model/cluster.h"
#include "k8slb/endpoint_slice.h"
#include "k8slb/kube_config.h"
#include "sim/live/kube_rest.h"

namespace k8slb::sim::live {

// The value of the managed-by labels on what the simulator creates.
inline constexpr char kSimManager[] = "k8slb-sim";

struct MirrorOptions {
  KubeConfig config;  // the user's credentials and server
  std::string namespace_name = "default";
  std::string service_name = "echo";
  int port = 50051;
  std::string port_name = "grpc";
  std::string traffic_distribution;  // "" or "PreferClose"
};

class ClusterMirror {
 public:
  // Checks permissions and names, removes own leftovers, creates the Service. Nothing is left
  // behind on failure. `notes` receives what the user should know (leftovers removed, checks
  // that could not be made).
  static absl::StatusOr<std::unique_ptr<ClusterMirror>> Create(MirrorOptions options,
                                                               std::vector<std::string>* notes);
  ~ClusterMirror();
  ClusterMirror(const ClusterMirror&) = delete;
  ClusterMirror& operator=(const ClusterMirror&) = delete;

  // The model's event listener: queues this Service's slice changes (others are ignored).
  void OnModelEvent(const fake::StoredEvent& event);
  // Queues the current state of a slice (the initial list).
  void Upsert(const EndpointSlice& model_slice);
  // What the mirror writes for a model slice: its endpoints and ports under the same name, with
  // the mirror's labels and owner instead of the model's metadata.
  static EndpointSlice ToApiSlice(const EndpointSlice& model_slice, const MirrorOptions& options,
                                  const std::string& service_uid);
  // Blocks until every queued change is written (or failed), or the timeout.
  bool WaitIdle(std::chrono::milliseconds timeout);

  // The first write that failed (OK when none did); later failures are only counted.
  absl::Status first_error() const;
  uint64_t writes() const;
  uint64_t failures() const;

  // Stops writing, deletes every slice and the Service it created, then lists what is left of
  // its own. Returns a one-line summary; on failure the message says what is left and the
  // kubectl commands that remove it. Idempotent.
  absl::StatusOr<std::string> Cleanup(std::chrono::milliseconds timeout);

 private:
  ClusterMirror(MirrorOptions options, std::unique_ptr<KubeRest> rest);
  void Loop();
  void Queue(const std::string& name, std::optional<EndpointSlice> api_slice)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WriteOne();  // false when nothing was queued
  absl::Status Apply(const std::string& name, const std::optional<EndpointSlice>& api_slice);
  std::string SlicesPath() const;
  std::string SelectorQuery() const;
  std::string CleanupCommands() const;

  MirrorOptions options_;
  std::unique_ptr<KubeRest> rest_;
  std::string service_uid_;
  std::string owner_annotation_;

  mutable absl::Mutex mu_;
  // Latest wanted state per slice name (nullopt: delete), and the names in the order of their
  // first pending change.
  std::map<std::string, std::optional<EndpointSlice>> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool cleaned_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t writes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  // Slices that exist in the server because we created them, with their last resourceVersion.
  // Written by the writer thread, read by Cleanup() after the writer stopped.
  std::map<std::string, std::string> created_ ABSL_GUARDED_BY(mu_);
  std::thread writer_;
};

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_API_MIRROR_H_
