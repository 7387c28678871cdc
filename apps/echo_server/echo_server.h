// EchoServer: the k8slb echo backend (k8slb.echo.Echo), as a library so k8slb-echo-server, the
// tests and the live simulator run the same code; each instance plays one pod.
//
// Every response names the pod, zone and address that served it. Latency model: each call waits
// latency_ms + an exponential jitter with mean jitter_ms (timer based: a waiting call holds no
// thread); a share error_rate of calls fails with error_code. The standard grpc.health.v1 service
// reports SERVING until shutdown begins. With ORCA on, every reply (OK or injected error) carries
// a load report in its endpoint-load-metrics-bin trailer (gRFC A51; k8slb/orca_server.h).
//
// Threading: Start() from any thread. Set*() and the counters are thread-safe and take effect for
// calls that start afterwards. Shutdown()/Kill() may be called once from any thread (not from a
// handler); the destructor calls Kill() if neither was called.
#ifndef K8SLB_APPS_ECHO_SERVER_ECHO_SERVER_H_
#define K8SLB_APPS_ECHO_SERVER_ECHO_SERVER_H_

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "k8slb/orca.h"

namespace k8slb::echo {

struct EchoServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one (see address())
  std::string pod_name;
  std::string zone;
  double latency_ms = 0;
  double jitter_ms = 0;
  double error_rate = 0;  // [0, 1]
  grpc::StatusCode error_code = grpc::StatusCode::UNAVAILABLE;
  uint64_t seed = 1;
  std::shared_ptr<grpc::ServerCredentials> credentials;  // null: insecure
  // Host reported in responses and address() when listening on a wildcard (e.g. the pod IP for
  // --listen 0.0.0.0:50051); empty: the listen host.
  std::string advertised_host;
  // Per-call ORCA load reports. kMeasured: a ServerLoadTracker's (process CPU utilization,
  // requests and errors per second over the last whole second, calls in flight). kFixed:
  // orca_report as given, on every reply (tests and demos that need a known load).
  enum class Orca { kOff, kMeasured, kFixed };
  Orca orca = Orca::kOff;
  OrcaLoadReport orca_report;  // kFixed only
};

class EchoServer {
 public:
  // Binds and starts serving. Errors: invalid options, address in use or not bindable.
  static absl::StatusOr<std::unique_ptr<EchoServer>> Start(EchoServerOptions options);
  ~EchoServer();

  // The bound address with the real port, e.g. "127.0.1.7:50051".
  const std::string& address() const;
  int port() const;
  const std::string& pod_name() const;

  void SetLatency(double latency_ms, double jitter_ms);
  void SetErrorRate(double error_rate);

  // Graceful: health turns NOT_SERVING, no new calls are accepted, calls in flight finish; those
  // still running after `grace` are cancelled. Blocks until done.
  void Shutdown(std::chrono::milliseconds grace);
  // A crash, as far as clients can tell: stops at once, cancelling calls in flight.
  void Kill();

  uint64_t received() const;   // calls that reached the handler
  uint64_t completed() const;  // calls answered (OK or injected error)
  int64_t in_flight() const;

  class Impl;

 private:
  explicit EchoServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "unavailable", "internal", ... (case-insensitive gRPC code names) → code.
absl::StatusOr<grpc::StatusCode> ParseStatusCode(std::string_view name);

}  // namespace k8slb::echo

#endif  // K8SLB_APPS_ECHO_SERVER_ECHO_SERVER_H_
