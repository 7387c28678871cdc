// The echo backend: identity in responses, health service, error injection, graceful shutdown.
#include "echo_server/echo_server.h"

#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include "test_pods.h"

namespace k8slb::testing {
namespace {

using std::chrono::milliseconds;

grpc::Status CallEcho(const std::string& address, echo::EchoResponse* resp, milliseconds deadline = milliseconds(5000)) {
  auto stub = echo::Echo::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  echo::EchoRequest req;
  req.set_message("ping");
  req.set_request_id(99);
  return stub->Echo(&ctx, req, resp);
}

TEST(EchoServerTest, AnswersWithPodIdentity) {
  echo::EchoServerOptions o;
  o.listen = "127.0.1.40:0";
  o.pod_name = "echo-7";
  o.zone = "zone-c";
  auto server = echo::EchoServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->address(), "127.0.1.40:" + std::to_string((*server)->port()));
  echo::EchoResponse resp;
  ASSERT_TRUE(CallEcho((*server)->address(), &resp).ok());
  EXPECT_EQ(resp.message(), "ping");
  EXPECT_EQ(resp.request_id(), 99u);
  EXPECT_EQ(resp.pod_name(), "echo-7");
  EXPECT_EQ(resp.zone(), "zone-c");
  EXPECT_EQ(resp.address(), (*server)->address());
  EXPECT_EQ((*server)->received(), 1u);
  EXPECT_EQ((*server)->completed(), 1u);
}

TEST(EchoServerTest, ServesTheStandardHealthService) {
  auto server = StartPod("h", 41);
  grpc::GenericStub stub(grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(5000));
  grpc::CompletionQueue cq;
  grpc::ByteBuffer request;  // HealthCheckRequest{service: ""}: the empty message
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  auto call = stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", request, &cq);
  call->StartCall();
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes += std::string(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST(EchoServerTest, InjectsErrorsWithTheConfiguredCode) {
  echo::EchoServerOptions o;
  o.listen = "127.0.1.42:0";
  o.pod_name = "bad";
  o.error_rate = 1.0;
  o.error_code = grpc::StatusCode::INTERNAL;
  auto server = echo::EchoServer::Start(o);
  ASSERT_TRUE(server.ok());
  echo::EchoResponse resp;
  grpc::Status s = CallEcho((*server)->address(), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_NE(s.error_message().find("bad"), std::string::npos);
  (*server)->SetErrorRate(0);
  EXPECT_TRUE(CallEcho((*server)->address(), &resp).ok());
}

TEST(EchoServerTest, GracefulShutdownFinishesCallsInFlight) {
  auto server = StartPod("drain", 43, /*latency_ms=*/300);
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i) {
    callers.emplace_back([&] {
      echo::EchoResponse resp;
      if (CallEcho(server->address(), &resp).ok()) ++ok;
    });
  }
  ASSERT_TRUE(WaitFor([&] { return server->received() == 3; }, milliseconds(5000)));
  server->Shutdown(milliseconds(5000));
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok.load(), 3);
  echo::EchoResponse resp;
  EXPECT_FALSE(CallEcho(server->address(), &resp, milliseconds(500)).ok());
}

TEST(EchoServerTest, GracePeriodBoundsShutdown) {
  auto server = StartPod("stuck", 44, /*latency_ms=*/20000);
  grpc::Status status;
  std::thread caller([&] {
    echo::EchoResponse resp;
    status = CallEcho(server->address(), &resp, milliseconds(30000));
  });
  ASSERT_TRUE(WaitFor([&] { return server->received() == 1; }, milliseconds(5000)));
  auto start = Clock::now();
  server->Shutdown(milliseconds(200));
  EXPECT_LT(Clock::now() - start, milliseconds(10000));
  caller.join();
  EXPECT_FALSE(status.ok());
}

TEST(EchoServerTest, RejectsBadOptionsWithOneClearMessage) {
  echo::EchoServerOptions o;
  o.error_rate = 2;
  EXPECT_EQ(echo::EchoServer::Start(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.error_rate = 0;
  o.listen = "no-port";
  auto s = echo::EchoServer::Start(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("HOST:PORT"), std::string::npos);
  // The same address twice: the second cannot bind.
  auto first = StartPod("a", 45);
  o.listen = first->address();
  auto second = echo::EchoServer::Start(o);
  EXPECT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on"), std::string::npos);
}

TEST(EchoServerTest, ParsesStatusCodeNames) {
  EXPECT_EQ(*echo::ParseStatusCode("UNAVAILABLE"), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(*echo::ParseStatusCode("resource-exhausted"), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_FALSE(echo::ParseStatusCode("nope").ok());
}

}  // namespace
}  // namespace k8slb::testing
