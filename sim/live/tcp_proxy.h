// PinningTcpProxy: the live engine's stand-in for a ClusterIP Service. It listens on a virtual IP
// on loopback (e.g. 127.0.0.2:50051) and, like kube-proxy, pins each accepted TCP connection to
// one backend chosen at accept time (the `pick` callback, normally a random ready pod); bytes
// are then copied both ways until either side closes, and then both are closed. It balances
// connections, not requests: a gRPC channel holds one HTTP/2 connection, so every RPC of that
// channel lands on the same pod (the problem k8slb exists for, issue 6).
//
// Threading: Start()/Stop() from one owner thread. The proxy runs its own I/O thread; `pick` is
// called on it and must be thread-safe and quick. connections_accepted() etc. may be read from any
// thread. Stop() closes the listener and every open connection, and joins the thread.
#ifndef K8SLB_SIM_LIVE_TCP_PROXY_H_
#define K8SLB_SIM_LIVE_TCP_PROXY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace k8slb::sim::live {

struct Backend {
  std::string host;  // IPv4 literal on loopback
  int port = 0;
};

struct TcpProxyOptions {
  std::string listen_host = "127.0.0.2";
  int listen_port = 0;  // 0: ephemeral (see port())
  // Chooses the backend of a new connection; nullopt refuses it (no ready endpoint: the client
  // sees the connection closed, as with an empty iptables chain).
  std::function<std::optional<Backend>()> pick;
  // Observes each pinning (the backend chosen); may be empty.
  std::function<void(const Backend&)> on_pinned;
};

class PinningTcpProxy {
 public:
  explicit PinningTcpProxy(TcpProxyOptions options);
  ~PinningTcpProxy();  // stops
  PinningTcpProxy(const PinningTcpProxy&) = delete;
  PinningTcpProxy& operator=(const PinningTcpProxy&) = delete;

  absl::Status Start();
  void Stop();

  int port() const { return port_; }
  std::string address() const;  // "host:port"
  uint64_t connections_accepted() const { return accepted_.load(); }
  uint64_t connections_failed() const { return failed_.load(); }  // backend connect failures

 private:
  struct Impl;
  TcpProxyOptions options_;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_TCP_PROXY_H_
