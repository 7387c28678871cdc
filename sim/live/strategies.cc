#include "sim/live/strategies.h"

#include <utility>

#include <grpcpp/grpcpp.h>
#include <k8slb/proto/echo.grpc.pb.h>

#include "absl/strings/str_cat.h"
#include "k8slb/balanced_channel.h"

namespace k8slb::sim::live {

std::shared_ptr<grpc::Channel> MakeIsolatedChannel(const std::string& target,
                                                   const std::string& lb_policy) {
  grpc::ChannelArguments args;
  // Separate client pods never share a connection; without this, grpc's global subchannel pool
  // would let every simulated client ride one TCP connection (and one ClusterIP pinning).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (!lb_policy.empty()) args.SetLoadBalancingPolicyName(lb_policy);
  // Reconnect quickly after a pod goes away, as a real client with default backoff would do
  // within ~1 s; keeps live runs comparable with the virtual engine's reconnect model.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
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
  std::lock_guard<std::mutex> lock(mu_);
  ResolveLocked(now_s_());
}

int HeadlessDnsClient::resolutions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return resolutions_;
}

void HeadlessDnsClient::OnConnectionBroken(const std::string& host) {
  std::lock_guard<std::mutex> lock(mu_);
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
    std::lock_guard<std::mutex> lock(mu_);
    MaybeResolveLocked();
    channel = channel_;
  }
  bool unavailable = true;
  CallOutcome outcome;
  if (channel != nullptr) outcome = EchoOnce(channel, request_id, deadline, &unavailable);
  if (!outcome.ok && unavailable) {
    // A connection failure: ask for re-resolution, rate limited as grpc's DNS resolver does.
    std::lock_guard<std::mutex> lock(mu_);
    reresolve_requested_ = true;
    MaybeResolveLocked();
  }
  return outcome;
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
