// XdsServer: k8slb-xds as a library. Serves the EndpointSlices of Kubernetes Services to
// proxyless gRPC clients (any language: xds:///svc.ns:port targets) over the xDS aggregated
// discovery service, state of the world, v3, with the library's discovery, SliceStore and
// condition rules (union of slices, dedup, nil ready is ready, serving+terminating only when
// nothing is ready, port by name). See docs/xds.md for the resources and their semantics.
//
// Threading: Start() from any thread; the server runs on gRPC's callback threads and one thread
// per watched Service (the library's ServiceWatcher). stats(), address() and port() are
// thread-safe. Shutdown() (also run by the destructor) may be called once from any thread but
// the server's own; it ends every stream and stops every watch.
#ifndef K8SLB_XDS_SERVER_H_
#define K8SLB_XDS_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "k8slb/discovery.h"
#include "k8slb/endpoint_source.h"
#include "k8slb/kube_config.h"
#include "k8slb/target.h"

namespace grpc {
class ServerCredentials;
}

namespace k8slb::xds {

// Where a watched Service port's snapshots come from. Production: discovery against the
// Kubernetes API (the default); tests and embedders may supply their own sources.
using EndpointSourceFactory = std::function<absl::StatusOr<std::shared_ptr<EndpointSource>>(
    const std::string& namespace_name, const Target& target)>;

struct XdsServerOptions {
  std::string listen = "127.0.0.1:18000";  // HOST:PORT; port 0 picks a free one
  std::shared_ptr<grpc::ServerCredentials> credentials;  // null: insecure (plaintext)
  // Used by the default source factory, and for names without a namespace (its
  // default_namespace).
  KubeConfig config;
  // Namespaces whose Services may be served; empty: every namespace. A name in another
  // namespace is answered as "does not exist".
  std::vector<std::string> namespaces;
  // Discovery tuning for the default factory (config, target and log are filled in).
  DiscoveryOptions discovery;
  // null: one ServiceWatcher per Service port through the Kubernetes API (MakeDiscoverySource).
  EndpointSourceFactory source_factory;
  // A watch no stream uses any more is stopped after this long.
  std::chrono::milliseconds idle_watch_grace{60000};
  // Threads that help a source's publishing thread push one change to its streams (each push
  // runs that stream's HTTP/2 write on the calling thread); 0: the publishing thread alone.
  int notify_threads = 1;
  LogSink log;  // null: warnings and errors to stderr
};

struct XdsServerStats {
  int64_t streams_active = 0;
  uint64_t streams_total = 0;
  uint64_t requests = 0;
  uint64_t responses = 0;
  uint64_t acks = 0;
  uint64_t nacks = 0;
  uint64_t stale_requests = 0;
  uint64_t pushes = 0;  // responses sent because a Service changed
  size_t services_watched = 0;
  size_t services_synced = 0;
  uint64_t assignments_built = 0;
};

class XdsServer {
 public:
  // Binds and starts serving. Errors: bad listen address, port in use.
  static absl::StatusOr<std::unique_ptr<XdsServer>> Start(XdsServerOptions options);
  ~XdsServer();
  XdsServer(const XdsServer&) = delete;
  XdsServer& operator=(const XdsServer&) = delete;

  // "127.0.0.1:18000": the bound address with the real port.
  std::string address() const;
  int port() const;
  XdsServerStats stats() const;
  // Stops accepting streams, ends the open ones (after `grace` at most) and stops every watch.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(1000));

  class Impl;

 private:
  explicit XdsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace k8slb::xds

#endif  // K8SLB_XDS_SERVER_H_
