// consumer: balances a few RPCs over the pods of a Kubernetes Service with an installed k8slb,
// then prints how many RPCs each pod answered.
//
//   consumer [TARGET [RPCS]]     TARGET default kubernetes:///echo.default:grpc, RPCS default 30
//
// The API server comes from the environment as for kubectl: in a pod its service account, else
// $KUBECONFIG or ~/.kube/config. Exit codes: 0 every RPC succeeded, 1 some failed, 2 bad
// arguments, 3 no configuration or no endpoints.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>

#include "echo.grpc.pb.h"
#include "k8slb/balanced_channel.h"
#include "k8slb/client.h"
#include "k8slb/kube_config.h"
#include "k8slb/version.h"

int main(int argc, char** argv) {
  const std::string target = argc > 1 ? argv[1] : "kubernetes:///echo.default:grpc";
  int rpcs = 30;
  if (argc > 2) {
    try {
      rpcs = std::stoi(argv[2]);
    } catch (const std::exception&) {
      rpcs = 0;
    }
  }
  if (argc > 3 || rpcs < 1 || rpcs > 100000) {
    std::fprintf(stderr, "usage: consumer [TARGET [RPCS]] (RPCS in 1..100000)\n");
    return 2;
  }

  absl::StatusOr<k8slb::KubeConfig> config = k8slb::LoadAutoConfig();
  if (!config.ok()) {
    std::fprintf(stderr, "consumer: %s\n", std::string(config.status().message()).c_str());
    return 3;
  }
  auto channel = k8slb::BalancedChannel::Create(target, *config);
  if (!channel.ok()) {
    std::fprintf(stderr, "consumer: %s\n", std::string(channel.status().message()).c_str());
    return 3;
  }
  if (absl::Status ready = (*channel)->WaitForEndpoints(std::chrono::seconds(10)); !ready.ok()) {
    std::fprintf(stderr, "consumer: %s\n", std::string(ready.message()).c_str());
    return 3;
  }

  k8slb::Client<k8slb::echo::Echo> client(*channel);
  std::map<std::string, int> per_pod;
  int failed = 0;
  for (int i = 0; i < rpcs; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    k8slb::echo::EchoRequest request;
    request.set_message("hello from consumer");
    request.set_request_id(static_cast<uint64_t>(i));
    k8slb::echo::EchoResponse response;
    grpc::Status status = client.With(ctx)->Echo(&ctx, request, &response);  // one pick per call
    if (status.ok()) {
      per_pod[response.pod_name()]++;
    } else {
      ++failed;
      std::fprintf(stderr, "consumer: RPC %d failed: code %d: %s\n", i, static_cast<int>(status.error_code()),
                   status.error_message().c_str());
    }
  }

  std::printf("k8slb %s: %d RPCs to %s, %d failed\n", k8slb::kVersion, rpcs, target.c_str(), failed);
  for (const auto& [pod, count] : per_pod) std::printf("%-24s %d\n", pod.c_str(), count);
  return failed == 0 ? 0 : 1;
}
