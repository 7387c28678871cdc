// k8slb_xds_test_client: a grpc++ proxyless xDS client driven line by line, so the tests can run
// the same script against the C++, Node and Python clients (tests/xds/js/client.js and
// tests/xds/py/client.py speak the same protocol).
//
//   k8slb_xds_test_client TARGET [--keeper KEEPER_TARGET] [--idle-timeout-ms N]
//   environment: GRPC_XDS_BOOTSTRAP=FILE (gRPC reads it)
//
// stdin, one command per line; stdout, one JSON line per command:
//   rpc N     N sequential Echo calls (deadline 5 s each) on TARGET:
//             {"ok":K,"failed":F,"pods":{"echo-0":3,...},"errors":["..."]}
//   keeper N  the same on KEEPER_TARGET, a second channel that keeps the xDS stream in use while
//             TARGET's channel is idle (it then unsubscribes its resources, and resubscribes)
//   quit      exit 0
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include <k8slb/proto/echo.grpc.pb.h>

namespace {

nlohmann::json RunRpcs(k8slb::echo::Echo::Stub& stub, int count) {
  int ok = 0;
  int failed = 0;
  std::map<std::string, int> pods;
  std::set<std::string> errors;
  for (int i = 0; i < count; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    k8slb::echo::EchoRequest request;
    request.set_message("xds");
    request.set_request_id(static_cast<uint64_t>(i));
    k8slb::echo::EchoResponse response;
    grpc::Status status = stub.Echo(&ctx, request, &response);
    if (status.ok()) {
      ++ok;
      ++pods[response.pod_name()];
    } else {
      ++failed;
      if (errors.size() < 5) errors.insert(std::to_string(status.error_code()) + ": " + status.error_message());
    }
  }
  return {{"ok", ok}, {"failed", failed}, {"pods", pods}, {"errors", errors}};
}

std::unique_ptr<k8slb::echo::Echo::Stub> Dial(const std::string& target, int idle_timeout_ms) {
  grpc::ChannelArguments args;
  if (idle_timeout_ms > 0) args.SetInt(GRPC_ARG_CLIENT_IDLE_TIMEOUT_MS, idle_timeout_ms);
  auto channel = grpc::CreateCustomChannel("xds:///" + target, grpc::InsecureChannelCredentials(), args);
  return k8slb::echo::Echo::NewStub(channel);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: k8slb_xds_test_client TARGET [--keeper KEEPER_TARGET] [--idle-timeout-ms N]\n";
    return 2;
  }
  std::string target = argv[1];
  std::string keeper_target;
  int idle_timeout_ms = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--keeper") {
      keeper_target = argv[i + 1];
    } else if (flag == "--idle-timeout-ms") {
      idle_timeout_ms = std::atoi(argv[i + 1]);
    } else {
      std::cerr << "k8slb_xds_test_client: unknown flag " << flag << "\n";
      return 2;
    }
  }
  auto stub = Dial(target, idle_timeout_ms);
  std::unique_ptr<k8slb::echo::Echo::Stub> keeper;
  if (!keeper_target.empty()) keeper = Dial(keeper_target, 0);

  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    int count = 0;
    in >> command >> count;
    if (command == "quit") return 0;
    if ((command == "rpc" || (command == "keeper" && keeper)) && count > 0 && count <= 100000) {
      std::cout << RunRpcs(command == "rpc" ? *stub : *keeper, count).dump() << std::endl;
    } else {
      std::cout << nlohmann::json({{"error", "bad command: " + line}}).dump() << std::endl;
    }
  }
  return 0;
}
