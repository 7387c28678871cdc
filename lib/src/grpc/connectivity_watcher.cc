#include "grpc/connectivity_watcher.h"

namespace k8slb::internal {

void ApplyConnectivity(EndpointConn& conn, grpc_connectivity_state state) {
  conn.connectivity.store(static_cast<int>(state), std::memory_order_relaxed);
  // TRANSIENT_FAILURE: the connection failed; skip the endpoint while others are usable. READY
  // clears it. CONNECTING and IDLE keep the last verdict: a reconnect attempt proves nothing yet.
  if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
    conn.stats->connection_failing.store(true, std::memory_order_relaxed);
  } else if (state == GRPC_CHANNEL_READY) {
    conn.stats->connection_failing.store(false, std::memory_order_relaxed);
  }
}

Connectivity ToConnectivity(int state) {
  switch (static_cast<grpc_connectivity_state>(state)) {
    case GRPC_CHANNEL_IDLE:
      return Connectivity::kIdle;
    case GRPC_CHANNEL_CONNECTING:
      return Connectivity::kConnecting;
    case GRPC_CHANNEL_READY:
      return Connectivity::kReady;
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return Connectivity::kTransientFailure;
    case GRPC_CHANNEL_SHUTDOWN:
      return Connectivity::kShutdown;
  }
  return Connectivity::kIdle;
}

ConnectivityWatcher::ConnectivityWatcher(std::chrono::milliseconds poll)
    : poll_(poll), thread_([this] { Loop(); }) {}

ConnectivityWatcher::~ConnectivityWatcher() {
  shutting_down_.store(true);
  // Wakes the loop; it shuts the queue down once every armed watch has come back (each comes back
  // within poll_, when its deadline passes).
  wake_.Set(&cq_, std::chrono::system_clock::now(), &wake_tag_);
  thread_.join();
}

void ConnectivityWatcher::Watch(const std::shared_ptr<EndpointConn>& conn) {
  // Connect now, so the first RPC does not pay the handshake.
  grpc_connectivity_state state = conn->channel->GetState(/*try_to_connect=*/true);
  ApplyConnectivity(*conn, state);
  outstanding_.fetch_add(1);
  auto* tag = new WatchTag;
  tag->conn = conn;
  tag->last = state;
  Arm(tag);
}

void ConnectivityWatcher::Arm(WatchTag* tag) {
  // Everything read from the tag is read before the release: once armed, the loop may change or
  // delete it. The channel outlives the call (the caller holds the endpoint).
  grpc::Channel& channel = *tag->conn->channel;
  const grpc_connectivity_state last = tag->last;
  tag->armed.store(true, std::memory_order_release);
  channel.NotifyOnStateChange(last, std::chrono::system_clock::now() + poll_, &cq_, tag);
}

void ConnectivityWatcher::Loop() {
  void* tag = nullptr;
  bool ok = false;
  // The queue is shut down here only after the destructor's wake-up came back: the destructor
  // sets the alarm on the queue, and an alarm set on a queue already shut down aborts the process
  // (grpc_cq_begin_op's assertion). Deciding on shutting_down_ alone raced with that Set.
  bool woken = false;
  bool cq_shut = false;
  auto shut_down_once = [&] {
    if (!cq_shut) cq_.Shutdown();
    cq_shut = true;
  };
  while (cq_.Next(&tag, &ok)) {
    if (tag == &wake_tag_) {
      woken = true;
      if (outstanding_.load() == 0) shut_down_once();
      continue;
    }
    auto* watch = static_cast<WatchTag*>(tag);
    watch->armed.load(std::memory_order_acquire);
    grpc_connectivity_state state = watch->conn->channel->GetState(false);
    ApplyConnectivity(*watch->conn, state);
    if (shutting_down_.load() || watch->conn->removed.load()) {
      delete watch;
      if (outstanding_.fetch_sub(1) == 1 && woken) shut_down_once();
      continue;
    }
    // IDLE: the server closed the connection (GOAWAY, max age) or it idled; reconnect at once so
    // the endpoint stays warm and a dead pod is detected (TRANSIENT_FAILURE) before RPCs hit it.
    if (state == GRPC_CHANNEL_IDLE) state = watch->conn->channel->GetState(true);
    watch->last = state;
    Arm(watch);
  }
}

}  // namespace k8slb::internal
