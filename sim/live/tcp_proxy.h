// TCP forwarding for the live engine: the ClusterIP stand-in and the API relay.
//
// PinningTcpProxy listens on one address and, like kube-proxy, pins each accepted connection to
// one backend chosen at accept time (the `pick` callback); bytes are then copied both ways, an
// end of stream is passed on as a half-close, and both sockets are closed when both directions
// have ended or either side fails. It balances connections, not requests: a gRPC
// channel holds one HTTP/2 connection, so every RPC of that channel lands on the same pod (see
// https://kubernetes.io/blog/2018/11/07/grpc-load-balancing-on-kubernetes-without-tears/).
// The same forwarder relays a user's API server into the pods' network namespace: there its
// listener is opened inside the namespace (by the thread calling Start()) while the upstream
// connections are opened on an IoThread that stays in the host's namespace, because a socket
// keeps the network namespace it was created in. CloseAll() and Pause() replay the `disconnect`
// and `stall` API faults on such a relay.
//
// Threading: Start()/Stop() from one owner thread; CloseAll(), Pause() and the counters from any
// thread. `pick` and `on_pinned` run on the I/O thread and must be thread-safe and quick. Stop()
// closes the listener and every open connection and returns when no handler can touch the
// proxy's callbacks any more.
#ifndef K8SLB_SIM_LIVE_TCP_PROXY_H_
#define K8SLB_SIM_LIVE_TCP_PROXY_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace k8slb::sim::live {

struct Backend {
  std::string host;  // IPv4 literal
  int port = 0;
};

// One thread running an io_context until Stop() or destruction. The thread is created by
// Create()'s caller, so it starts in that caller's network namespace and with its signal mask.
// context() handlers run on that thread only. Thread-safe.
class IoThread {
 public:
  static std::shared_ptr<IoThread> Create();
  ~IoThread();  // stops and joins
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;
  boost::asio::io_context& context();
  void Stop();

 private:
  struct Impl;
  IoThread();
  std::unique_ptr<Impl> impl_;
};

struct TcpProxyOptions {
  std::string listen_host = "127.0.0.2";
  int listen_port = 0;  // 0: ephemeral (see port())
  // Chooses the backend of a new connection; nullopt refuses it (no ready endpoint: the client
  // sees the connection closed, as with an empty iptables chain).
  std::function<std::optional<Backend>()> pick;
  // Observes each pinning (the backend chosen); may be empty.
  std::function<void(const Backend&)> on_pinned;
  // Where connections to backends are opened and all I/O runs. Null: a thread of the proxy's
  // own, created by Start() (so in the caller's namespace).
  std::shared_ptr<IoThread> io;
};

class PinningTcpProxy {
 public:
  explicit PinningTcpProxy(TcpProxyOptions options);
  ~PinningTcpProxy();  // stops
  PinningTcpProxy(const PinningTcpProxy&) = delete;
  PinningTcpProxy& operator=(const PinningTcpProxy&) = delete;

  absl::Status Start();
  void Stop();

  // Cuts every open connection now (both sides closed); the listener keeps accepting.
  void CloseAll();
  // Forwards no byte in either direction until `duration` from now (replacing an earlier pause;
  // 0 ends it); then catches up.
  void Pause(std::chrono::milliseconds duration);

  int port() const { return port_; }
  std::string address() const;  // "host:port"
  uint64_t connections_accepted() const;
  uint64_t connections_failed() const;  // backend connect failures

  struct Shared;  // implementation detail (tcp_proxy.cc)

 private:
  TcpProxyOptions options_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<IoThread> own_io_;
  int port_ = 0;
  uint64_t accepted_after_stop_ = 0;  // the counters as Stop() left them
  uint64_t failed_after_stop_ = 0;
};

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_TCP_PROXY_H_
