// k8slb-xds-example: the smallest proxyless gRPC client of k8slb-xds. It has no Kubernetes code at
// all: gRPC's built-in xDS client (GRPC_XDS_BOOTSTRAP) asks k8slb-xds for the target's
// endpoints and balances across them. Sends --requests echo RPCs and prints one row per pod.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include <k8slb/proto/echo.grpc.pb.h>

#include "k8slb/version.h"

int main(int argc, char** argv) {
  CLI::App app(
      "k8slb-xds-example: sends echo RPCs to xds:///TARGET through gRPC's own xDS client and prints which pod "
      "answered.\nGRPC_XDS_BOOTSTRAP must name a bootstrap file ('k8slb-xds bootstrap' prints one).\n\nExit codes: "
      "0 every RPC succeeded, 1 some failed, 2 bad command line",
      "k8slb-xds-example");
  std::string target = "echo.default:grpc";
  int requests = 100;
  int64_t timeout_ms = 2000;
  app.add_option("--target", target, "xDS Listener name: SERVICE.NAMESPACE:PORT")->capture_default_str();
  app.add_option("--requests", requests, "number of RPCs")->check(CLI::Range(1, 10000000))->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "deadline of each RPC")->check(CLI::PositiveNumber)->capture_default_str();
  app.set_version_flag("--version", std::string("k8slb-xds-example ") + k8slb::kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "k8slb-xds-example: " << e.what() << " (see --help)\n";
    return 2;
  }
  auto channel = grpc::CreateChannel("xds:///" + target, grpc::InsecureChannelCredentials());
  auto stub = k8slb::echo::Echo::NewStub(channel);
  std::map<std::string, int> by_pod;
  std::map<std::string, int> errors;
  for (int i = 0; i < requests; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    k8slb::echo::EchoRequest request;
    request.set_message("hello");
    request.set_request_id(static_cast<uint64_t>(i));
    k8slb::echo::EchoResponse response;
    grpc::Status status = stub->Echo(&ctx, request, &response);
    if (status.ok()) {
      ++by_pod[response.pod_name() + (response.zone().empty() ? "" : "  (" + response.zone() + ")")];
    } else {
      ++errors[status.error_message()];
    }
  }
  for (const auto& [pod, n] : by_pod) std::printf("%-40s %6d %5.1f%%\n", pod.c_str(), n, 100.0 * n / requests);
  int failed = 0;
  for (const auto& [message, n] : errors) {
    std::fprintf(stderr, "k8slb-xds-example: %d RPCs failed: %s\n", n, message.c_str());
    failed += n;
  }
  return failed == 0 ? 0 : 1;
}
