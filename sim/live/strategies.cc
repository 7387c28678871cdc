#include "sim/live/strategies.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <k8slb/proto/echo.grpc.pb.h>

#include "absl/strings/str_cat.h"
#include "k8slb/balanced_channel.h"
#include "sim/live/pod_fleet.h"

namespace k8slb::sim::live {

namespace {

// grpc.dns_min_time_between_resolutions_ms's default (30 s): gRPC's DNS resolver resolves again
// no sooner than this after the previous resolution
// (https://github.com/grpc/grpc/blob/master/doc/naming.md, GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS).
constexpr double kGrpcDnsMinReresolveS = 30.0;

grpc::ChannelArguments IsolatedChannelArgs(const std::string& lb_policy) {
  grpc::ChannelArguments args;
  // Separate client pods never share a connection; without this, grpc's global subchannel pool
  // would let every simulated client ride one TCP connection (and one ClusterIP pinning).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (!lb_policy.empty()) args.SetLoadBalancingPolicyName(lb_policy);
  return args;
}

}  // namespace

void ApplyDiscoveryOverrides(const scenario::DiscoveryOverrides& overrides,
                             DiscoveryOptions* options) {
  auto millis = [](double seconds) {
    return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000.0)));
  };
  if (overrides.backoff_initial_s) options->backoff_initial = millis(*overrides.backoff_initial_s);
  if (overrides.backoff_max_s) options->backoff_max = millis(*overrides.backoff_max_s);
}

absl::StatusOr<std::unique_ptr<StrategyClient>> MakeStrategyClient(const std::string& strategy,
                                                                   size_t strategy_index,
                                                                   int client_index,
                                                                   StrategyEnvironment& env) {
  if (strategy == "clusterip") return std::make_unique<ClusterIpClient>(env.clusterip_address);
  if (strategy == "headless-dns") {
    PodFleet* fleet = env.fleet;
    const ScenarioClock* clock = env.clock;
    auto dns = std::make_unique<HeadlessDnsClient>([fleet]() { return fleet->ReadyBackends(); },
                                                   [clock]() { return clock->NowS(); });
    HeadlessDnsClient* raw = dns.get();
    // A pod's process stopping breaks this client's connection to it (see OnConnectionBroken).
    // The listener may outlive the client; `clients_alive` turns it off before teardown.
    fleet->AddServerStoppedListener([raw, alive = env.clients_alive](const std::string& host) {
      if (alive->load()) raw->OnConnectionBroken(host);
    });
    return dns;
  }
  if (strategy == "grpc-dns") {
    if (env.dns_target.empty()) {
      return absl::FailedPreconditionError("grpc-dns client: the run has no cluster DNS");
    }
    // gRPC's 30 s minimum between resolutions is wall time; scaled so that it stays 30 s of
    // scenario time when the run is sped up.
    const double speed = env.clock != nullptr ? env.clock->speed() : 1.0;
    const auto min_wall = std::chrono::milliseconds(
        std::max<int64_t>(1, static_cast<int64_t>(std::llround(kGrpcDnsMinReresolveS * 1000.0 / speed))));
    return std::make_unique<GrpcDnsClient>(env.dns_target, min_wall);
  }
  if (std::optional<NamedPolicy> named = FindNamedPolicy(strategy)) {
    BalancedChannelOptions bc;
    bc.policy = named->policy;
    bc.load_signal = named->load_signal;
    bc.client_zone = env.client_zone;
    bc.client_node = env.client_node;
    bc.topology_spill = env.topology_spill;
    bc.seed = env.seed * 1000003 + strategy_index * 1009 + static_cast<uint64_t>(client_index);
    bc.no_endpoint_mode = NoEndpointMode::kWaitForEndpoints;
    bc.log = env.log;
    ApplyDiscoveryOverrides(env.discovery, &bc.discovery);
    if (auto it = env.slow_start.find(strategy); it != env.slow_start.end()) {
      bc.slow_start = it->second;
      // The window is scenario time; the channel's steady clock runs `speed` times slower.
      const double speed = env.clock != nullptr ? env.clock->speed() : 1.0;
      bc.slow_start.window = std::chrono::nanoseconds(
          static_cast<int64_t>(static_cast<double>(bc.slow_start.window.count()) / speed));
    }
    auto channel = BalancedChannel::Create(env.target, env.kube_config, bc);
    if (!channel.ok()) {
      return absl::Status(channel.status().code(),
                          absl::StrCat(strategy, " client: ", channel.status().message()));
    }
    return std::make_unique<K8slbClient>(std::move(*channel));
  }
  if (strategy == "xds") return MakeXdsClient(client_index, env);
  return absl::InvalidArgumentError(absl::StrCat("unknown strategy '", strategy, "'"));
}


std::shared_ptr<grpc::Channel> MakeIsolatedChannel(const std::string& target,
                                                   const std::string& lb_policy) {
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   IsolatedChannelArgs(lb_policy));
}

GrpcDnsClient::GrpcDnsClient(const std::string& dns_target,
                             std::chrono::milliseconds min_reresolve_wall) {
  grpc::ChannelArguments args = IsolatedChannelArgs("round_robin");
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS,
              static_cast<int>(std::min<int64_t>(min_reresolve_wall.count(), INT32_MAX)));
  channel_ = grpc::CreateCustomChannel(dns_target, grpc::InsecureChannelCredentials(), args);
  channel_->GetState(/*try_to_connect=*/true);
}

CallOutcome GrpcDnsClient::Call(uint64_t request_id, std::chrono::system_clock::time_point deadline) {
  return EchoOnce(channel_, request_id, deadline);
}

absl::Status GrpcDnsClient::WaitReady(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::system_clock::now() + timeout;
  while (true) {
    grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
    if (state == GRPC_CHANNEL_READY) return absl::OkStatus();
    if (std::chrono::system_clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("grpc-dns channel is not READY (state ", state, ")"));
    }
    channel_->WaitForStateChange(state, deadline);
  }
}

CallOutcome EchoOnce(const std::shared_ptr<grpc::Channel>& channel, uint64_t request_id,
                     std::chrono::system_clock::time_point deadline, bool* unavailable) {
  // Stubs are cheap (a pointer to the channel); one per call keeps this free of shared state.
  echo::Echo::Stub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(deadline);
  echo::EchoRequest request;
  request.set_message("sim");
  request.set_request_id(request_id);
  echo::EchoResponse response;
  grpc::Status status = stub.Echo(&context, request, &response);
  if (unavailable != nullptr) *unavailable = status.error_code() == grpc::StatusCode::UNAVAILABLE;
  CallOutcome outcome;
  outcome.ok = status.ok();
  if (status.ok()) outcome.pod = response.pod_name();
  return outcome;
}

ClusterIpClient::ClusterIpClient(const std::string& vip_address)
    : channel_(MakeIsolatedChannel(absl::StrCat("ipv4:", vip_address), "pick_first")) {
  channel_->GetState(/*try_to_connect=*/true);
}

CallOutcome ClusterIpClient::Call(uint64_t request_id,
                                  std::chrono::system_clock::time_point deadline) {
  return EchoOnce(channel_, request_id, deadline);
}

HeadlessDnsClient::HeadlessDnsClient(std::function<std::vector<Backend>()> resolve,
                                     std::function<double()> now_s, double min_reresolve_s)
    : resolve_(std::move(resolve)), now_s_(std::move(now_s)), min_reresolve_s_(min_reresolve_s) {
  absl::MutexLock lock(&mu_);
  ResolveLocked(now_s_());
}

int HeadlessDnsClient::resolutions() const {
  absl::MutexLock lock(&mu_);
  return resolutions_;
}

void HeadlessDnsClient::OnConnectionBroken(const std::string& host) {
  absl::MutexLock lock(&mu_);
  for (const Backend& b : resolved_) {
    if (b.host == host) reresolve_requested_ = true;
  }
}

void HeadlessDnsClient::MaybeResolveLocked() {
  double now = now_s_();
  if (reresolve_requested_ && now - last_resolve_s_ >= min_reresolve_s_) ResolveLocked(now);
}

void HeadlessDnsClient::ResolveLocked(double now_s) {
  last_resolve_s_ = now_s;
  reresolve_requested_ = false;
  ++resolutions_;
  std::vector<Backend> backends = resolve_();
  if (backends.empty()) {
    // An empty answer keeps the old list (grpc keeps its last good addresses on an empty DNS
    // result rather than failing every call).
    return;
  }
  resolved_ = backends;
  std::string target = "ipv4:";
  for (size_t i = 0; i < backends.size(); ++i) {
    absl::StrAppend(&target, i == 0 ? "" : ",", backends[i].host, ":", backends[i].port);
  }
  channel_ = MakeIsolatedChannel(target, "round_robin");
  channel_->GetState(/*try_to_connect=*/true);
}

CallOutcome HeadlessDnsClient::Call(uint64_t request_id,
                                    std::chrono::system_clock::time_point deadline) {
  std::shared_ptr<grpc::Channel> channel;
  {
    absl::MutexLock lock(&mu_);
    MaybeResolveLocked();
    channel = channel_;
  }
  bool unavailable = true;
  CallOutcome outcome;
  if (channel != nullptr) outcome = EchoOnce(channel, request_id, deadline, &unavailable);
  if (!outcome.ok && unavailable) {
    // A connection failure: ask for re-resolution, rate limited as grpc's DNS resolver does.
    absl::MutexLock lock(&mu_);
    reresolve_requested_ = true;
    MaybeResolveLocked();
  }
  return outcome;
}

absl::Status K8slbClient::WaitReady(std::chrono::milliseconds timeout) {
  return channel_->WaitForEndpoints(timeout);
}

CallOutcome K8slbClient::Call(uint64_t request_id, std::chrono::system_clock::time_point deadline) {
  CallOutcome outcome;
  absl::StatusOr<PickedChannel> picked = channel_->Pick(deadline);
  if (!picked.ok()) return outcome;  // no endpoint: recorded under "(none)"
  // The pod the call went to, also when it fails (report per_pod_failed).
  outcome.pod = picked->handle.pod_name();
  echo::Echo::Stub stub(picked->channel);
  grpc::ClientContext context;
  context.set_deadline(deadline);
  echo::EchoRequest request;
  request.set_message("sim");
  request.set_request_id(request_id);
  echo::EchoResponse response;
  grpc::Status status = stub.Echo(&context, request, &response);
  picked->handle.Done();
  outcome.ok = status.ok();
  if (status.ok() && !response.pod_name().empty()) outcome.pod = response.pod_name();
  return outcome;
}

}  // namespace k8slb::sim::live
