// The live engine's xds strategy: proxyless grpc++ clients through an in-process k8slb-xds.
//
// Every client channel gets its bootstrap from a channel argument
// (GRPC_ARG_TEST_ONLY_DO_NOT_USE_IN_PROD_XDS_BOOTSTRAP_CONFIG, grpc_types.h) rather than from
// GRPC_XDS_BOOTSTRAP: the environment variable is one per process, so every simulated client
// would share one xDS client and one ADS stream, while the channel argument gives each channel an
// xDS client of its own, which is what separate client pods have. gRPC marks the argument as
// test-only because a process with many channels should share one xDS client; here each channel
// stands for a process of its own.
#include <grpc/grpc.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "k8slb/xds/bootstrap.h"
#include "k8slb/xds/server.h"
#include "sim/live/strategies.h"

namespace k8slb::sim::live {

// The run's k8slb-xds: one XdsServer on a loopback port of the clients' network, watching the
// run's API server with the clients' configuration and discovery settings. Created on the
// engine's control thread; shared (immutable after Start) by the xds clients, which keep it
// alive; the last one to go stops it.
class XdsControlPlane {
 public:
  static absl::StatusOr<std::shared_ptr<XdsControlPlane>> Start(const StrategyEnvironment& env) {
    xds::XdsServerOptions options;
    options.listen = "127.0.0.1:0";
    options.config = env.kube_config;
    ApplyDiscoveryOverrides(env.discovery, &options.discovery);
    options.log = env.log;
    absl::StatusOr<std::unique_ptr<xds::XdsServer>> server = xds::XdsServer::Start(std::move(options));
    if (!server.ok()) {
      return absl::Status(server.status().code(), absl::StrCat("xds: cannot start k8slb-xds: ", server.status().message()));
    }
    return std::shared_ptr<XdsControlPlane>(new XdsControlPlane(std::move(*server)));
  }
  ~XdsControlPlane() { server_->Shutdown(std::chrono::milliseconds(200)); }
  std::string address() const { return server_->address(); }

 private:
  explicit XdsControlPlane(std::unique_ptr<xds::XdsServer> server) : server_(std::move(server)) {}
  std::unique_ptr<xds::XdsServer> server_;
};

namespace {

// One client pod: an xds:/// channel with its own bootstrap (node id, the scenario's zone).
class XdsClient final : public StrategyClient {
 public:
  XdsClient(std::shared_ptr<XdsControlPlane> plane, std::shared_ptr<grpc::Channel> channel, std::string target)
      : plane_(std::move(plane)), channel_(std::move(channel)), target_(std::move(target)) {
    channel_->GetState(/*try_to_connect=*/true);
  }
  CallOutcome Call(uint64_t request_id, std::chrono::system_clock::time_point deadline) override {
    return EchoOnce(channel_, request_id, deadline);
  }
  // Ready once the channel has its resources and a connected endpoint.
  absl::Status WaitReady(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::system_clock::now() + timeout;
    for (;;) {
      const grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
      if (state == GRPC_CHANNEL_READY) return absl::OkStatus();
      if (!channel_->WaitForStateChange(state, deadline)) {
        return absl::DeadlineExceededError(absl::StrCat(target_, ": the channel is not READY (state ",
                                                        static_cast<int>(state), ") via k8slb-xds at ",
                                                        plane_->address()));
      }
    }
  }

 private:
  const std::shared_ptr<XdsControlPlane> plane_;  // declared first: outlives the channel
  const std::shared_ptr<grpc::Channel> channel_;
  const std::string target_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<StrategyClient>> MakeXdsClient(int client_index, StrategyEnvironment& env) {
  const std::string kScheme = "kubernetes:///";
  if (env.target.rfind(kScheme, 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("xds client: target \"", env.target, "\" is not kubernetes:///..."));
  }
  // k8slb-xds takes the library's target grammar as Listener names: the same Service port.
  const std::string target = absl::StrCat("xds:///", env.target.substr(kScheme.size()));
  std::shared_ptr<XdsControlPlane> plane = env.xds.lock();
  if (plane == nullptr) {
    absl::StatusOr<std::shared_ptr<XdsControlPlane>> started = XdsControlPlane::Start(env);
    if (!started.ok()) return started.status();
    plane = *std::move(started);
    env.xds = plane;
  }
  absl::StatusOr<std::string> bootstrap = xds::MakeBootstrap(
      {.server = plane->address(), .node_id = absl::StrCat("sim-xds-", client_index), .zone = env.client_zone, .region = ""});
  if (!bootstrap.ok()) return bootstrap.status();
  grpc::ChannelArguments args;
  // As MakeIsolatedChannel: separate client pods never share a connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetString(GRPC_ARG_TEST_ONLY_DO_NOT_USE_IN_PROD_XDS_BOOTSTRAP_CONFIG, *bootstrap);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  return std::make_unique<XdsClient>(std::move(plane), std::move(channel), target);
}

}  // namespace k8slb::sim::live
