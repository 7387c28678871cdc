#include "k8slb/xds/server.h"

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <atomic>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "ads_stream.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "service_registry.h"

namespace k8slb::xds {

namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;

class AdsService final : public AggregatedDiscoveryService::CallbackService {
 public:
  explicit AdsService(const AdsContext* context) : context_(context) {}

  grpc::ServerBidiReactor<DiscoveryRequest, DiscoveryResponse>* StreamAggregatedResources(
      grpc::CallbackServerContext* server_context) override {
    // Owned by gRPC until OnDone, which deletes it.
    return new AdsStream(context_, next_id_.fetch_add(1, std::memory_order_relaxed) + 1, server_context->peer());
  }

 private:
  const AdsContext* const context_;
  std::atomic<uint64_t> next_id_{0};
};

// Splits "host:port" only to report the bound address; gRPC validates the listen string.
std::string HostOf(const std::string& listen) {
  size_t colon = listen.rfind(':');
  return colon == std::string::npos ? listen : listen.substr(0, colon);
}

}  // namespace

class XdsServer::Impl {
 public:
  explicit Impl(XdsServerOptions options) : options_(std::move(options)) {}

  absl::Status Start() {
    if (!options_.log) {
      options_.log = [](LogLevel level, const std::string& line) {
        if (level >= LogLevel::kWarning) std::cerr << line << "\n";
      };
    }
    EndpointSourceFactory factory = options_.source_factory;
    if (!factory) {
      factory = [this](const std::string& namespace_name, const Target& target) {
        DiscoveryOptions discovery = options_.discovery;
        discovery.config = options_.config;
        discovery.target = target;
        discovery.target.namespace_name = namespace_name;
        discovery.log = options_.log;
        return MakeDiscoverySource(std::move(discovery));
      };
    }
    registry_ = std::make_unique<ServiceRegistry>(ServiceRegistryOptions{
        .factory =
            [factory](const ServiceKey& key) {
              return factory(key.namespace_name, Target{.service = key.service,
                                                        .namespace_name = key.namespace_name,
                                                        .port = key.port});
            },
        .idle_grace = options_.idle_watch_grace,
        .janitor_period = std::chrono::milliseconds(50),
        .notify_threads = options_.notify_threads,
        .log = options_.log,
    });
    context_.registry = registry_.get();
    context_.default_namespace = options_.config.default_namespace.empty() ? "default"
                                                                            : options_.config.default_namespace;
    context_.namespaces = options_.namespaces;
    context_.counters = &counters_;
    context_.log = options_.log;
    service_ = std::make_unique<AdsService>(&context_);

    // grpc.health.v1 for readiness probes (SERVING while the server runs).
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    auto credentials = options_.credentials ? options_.credentials : grpc::InsecureServerCredentials();
    builder.AddListeningPort(options_.listen, credentials, &port_);
    // BDP probing sizes the receive window for bulk downloads; k8slb-xds only receives small
    // requests, and each probe costs a PING round trip per connection after every request (a
    // push to N streams is answered by N ACKs).
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0) {
      server_.reset();
      registry_.reset();
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", options_.listen, " (address in use, or not a valid HOST:PORT)"));
    }
    address_ = absl::StrCat(HostOf(options_.listen), ":", port_);
    return absl::OkStatus();
  }

  void Shutdown(std::chrono::milliseconds grace) {
    absl::MutexLock lock(&shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + grace);
      server_->Wait();
    }
    registry_.reset();
  }

  XdsServerStats Stats() const {
    XdsServerStats stats;
    stats.streams_active = counters_.streams_active.load(std::memory_order_relaxed);
    stats.streams_total = counters_.streams_total.load(std::memory_order_relaxed);
    stats.requests = counters_.requests.load(std::memory_order_relaxed);
    stats.responses = counters_.responses.load(std::memory_order_relaxed);
    stats.acks = counters_.acks.load(std::memory_order_relaxed);
    stats.nacks = counters_.nacks.load(std::memory_order_relaxed);
    stats.stale_requests = counters_.stale.load(std::memory_order_relaxed);
    stats.pushes = counters_.pushes.load(std::memory_order_relaxed);
    absl::MutexLock lock(&shutdown_mu_);
    if (registry_) {
      RegistryStats registry = registry_->stats();
      stats.services_watched = registry.services;
      stats.services_synced = registry.synced;
      stats.assignments_built = registry.assignments_built;
    }
    return stats;
  }

  const std::string& address() const { return address_; }
  int port() const { return port_; }

 private:
  XdsServerOptions options_;
  AdsCounters counters_;
  AdsContext context_;
  std::unique_ptr<ServiceRegistry> registry_;
  std::unique_ptr<AdsService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  mutable absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

absl::StatusOr<std::unique_ptr<XdsServer>> XdsServer::Start(XdsServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  absl::Status status = impl->Start();
  if (!status.ok()) return status;
  return std::unique_ptr<XdsServer>(new XdsServer(std::move(impl)));
}

XdsServer::XdsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
XdsServer::~XdsServer() { impl_->Shutdown(std::chrono::milliseconds(0)); }

std::string XdsServer::address() const { return impl_->address(); }
int XdsServer::port() const { return impl_->port(); }
XdsServerStats XdsServer::stats() const { return impl_->Stats(); }
void XdsServer::Shutdown(std::chrono::milliseconds grace) { impl_->Shutdown(grace); }

}  // namespace k8slb::xds
