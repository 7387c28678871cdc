// Serving metrics over HTTP: MetricsServer answers GET /metrics with Prometheus text exposition
// format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/), so a Prometheus
// server, `curl` or `k8slb-dashboard --scrape` can read a running service. ServeChannelMetrics() is
// the one call a service that links BalancedChannel needs: its channels' families (metrics.h) and
// the process metrics, under the names the Prometheus client libraries use.
//
// The server is small on purpose: one thread, HTTP/1.1 with keep-alive, GET and HEAD of one path
// (404 elsewhere, 405 for other methods), requests of at most 8 KiB, at most 64 connections, idle
// connections closed after 30 s. Memory is bounded by those limits and the rendered text.
//
// Threading: Start()/ServeChannelMetrics() from any thread. The renderer runs on the server's own
// thread, once per scrape, so it must be thread-safe with respect to the rest of the program
// (BalancedChannel::Metrics() is). address()/url()/scrapes() from any thread. The destructor stops
// the server (open connections are closed) and joins its thread; do not destroy it from inside the
// renderer.
#ifndef K8SLB_METRICS_HTTP_H_
#define K8SLB_METRICS_HTTP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace k8slb {

class BalancedChannel;

struct MetricsServerOptions {
  // HOST:PORT with a numeric host ("127.0.0.1:9464", "0.0.0.0:9464", "[::1]:9464"); port 0 lets
  // the kernel choose (see address()).
  std::string listen = "127.0.0.1:0";
  std::string path = "/metrics";  // must start with '/'
};

// Returns the exposition text of every family to serve (each ends with "\n").
using MetricsRenderer = std::function<std::string()>;

class MetricsServer {
 public:
  // Binds and starts serving. Errors: InvalidArgument for a bad listen address or path (the
  // message names it), Unavailable when the address cannot be bound (in use, not local).
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const MetricsServerOptions& options,
                                                              MetricsRenderer render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The bound address with the real port, "127.0.0.1:43127" ("[::1]:43127" for IPv6).
  const std::string& address() const;
  // "http://" + address() + path.
  std::string url() const;
  // Scrapes answered with 200 so far.
  uint64_t scrapes() const;

  class Impl;

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The process families of the Prometheus client libraries' process collector, read from /proc:
// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_start_time_seconds, process_open_fds, process_max_fds. A value /proc does not give is
// left out (never reported as 0).
std::string RenderProcessMetrics();

// Serves RenderPrometheus(every channel's Metrics()) followed by RenderProcessMetrics(). The
// server keeps the channels alive until it is destroyed.
absl::StatusOr<std::unique_ptr<MetricsServer>> ServeChannelMetrics(
    const MetricsServerOptions& options, std::vector<std::shared_ptr<BalancedChannel>> channels);

}  // namespace k8slb

#endif  // K8SLB_METRICS_HTTP_H_
