// ConnectivityWatcher: the thread that follows every endpoint channel's gRPC connectivity state
// for one BalancedChannel and turns it into the pickers' eligibility: TRANSIENT_FAILURE (and
// SHUTDOWN) set EndpointStats::connection_failing, READY clears it, CONNECTING and IDLE keep the
// last verdict; IDLE also reconnects at once so the endpoint stays warm and a dead pod is seen
// before RPCs reach it.
//
// Watch() may be called from any thread (the control thread calls it for each new channel); the
// state is followed on the watcher's own thread until the endpoint is marked removed or the
// watcher is destroyed. Watches are re-armed every `poll`, which bounds how long the destructor
// waits for that thread.
#ifndef K8SLB_SRC_GRPC_CONNECTIVITY_WATCHER_H_
#define K8SLB_SRC_GRPC_CONNECTIVITY_WATCHER_H_

#include <grpc/grpc.h>
#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "grpc/endpoint_conn.h"
#include "k8slb/metrics.h"

namespace k8slb::internal {

// Applies one observed state to the endpoint (the eligibility rule above).
void ApplyConnectivity(EndpointConn& conn, grpc_connectivity_state state);
Connectivity ToConnectivity(int grpc_state);

class ConnectivityWatcher {
 public:
  explicit ConnectivityWatcher(std::chrono::milliseconds poll);
  ~ConnectivityWatcher();  // stops following and joins the thread
  ConnectivityWatcher(const ConnectivityWatcher&) = delete;
  ConnectivityWatcher& operator=(const ConnectivityWatcher&) = delete;

  // Asks the channel to connect, applies its current state, and follows it from then on.
  void Watch(const std::shared_ptr<EndpointConn>& conn);

 private:
  struct WatchTag {
    std::shared_ptr<EndpointConn> conn;
    grpc_connectivity_state last;
    // Released when the tag is handed to the completion queue, acquired when it comes back. The
    // queue orders the two in fact, but inside uninstrumented gRPC, where ThreadSanitizer cannot
    // see it; this pair makes the hand-off between the arming thread and the loop visible.
    std::atomic<bool> armed{false};
  };
  void Arm(WatchTag* tag);
  void Loop();

  const std::chrono::milliseconds poll_;
  grpc::CompletionQueue cq_;
  grpc::Alarm wake_;
  char wake_tag_ = 0;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int> outstanding_{0};  // armed watches not yet retired
  std::thread thread_;
};

}  // namespace k8slb::internal

#endif  // K8SLB_SRC_GRPC_CONNECTIVITY_WATCHER_H_
