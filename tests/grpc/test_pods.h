// Helpers for the gRPC tests: echo "pods" in-process on 127.0.1.x (port 0, so parallel test
// processes never collide), endpoints for them, and a closed-loop traffic generator.
#ifndef K8SLB_TESTS_GRPC_TEST_PODS_H_
#define K8SLB_TESTS_GRPC_TEST_PODS_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <k8slb/proto/echo.grpc.pb.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "echo_server/echo_server.h"
#include "k8slb/balanced_channel.h"
#include "k8slb/client.h"
#include "k8slb/endpoint_source.h"

namespace k8slb::testing {

using Clock = std::chrono::steady_clock;
using EchoClient = Client<echo::Echo>;

inline std::unique_ptr<echo::EchoServer> StartPod(const std::string& name, int ip_last_octet, double latency_ms = 0) {
  echo::EchoServerOptions o;
  o.listen = "127.0.1." + std::to_string(ip_last_octet) + ":0";
  o.pod_name = name;
  o.zone = "zone-a";
  o.latency_ms = latency_ms;
  auto server = echo::EchoServer::Start(o);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

inline Endpoint EndpointOf(const echo::EchoServer& server, std::vector<std::string> hint_zones = {}) {
  Endpoint e;
  const std::string& addr = server.address();
  e.address = addr.substr(0, addr.rfind(':'));
  e.port = server.port();
  e.pod_name = server.pod_name();
  e.pod_namespace = "default";
  e.hint_zones = std::move(hint_zones);
  return e;
}

inline std::vector<Endpoint> EndpointsOf(const std::vector<std::unique_ptr<echo::EchoServer>>& pods) {
  std::vector<Endpoint> out;
  for (const auto& p : pods) {
    if (p != nullptr) out.push_back(EndpointOf(*p));
  }
  return out;
}

inline BalancedChannelOptions TestOptions(PickPolicy policy = PickPolicy::kLeastRequest) {
  BalancedChannelOptions o;
  o.policy = policy;
  o.client_zone = "";  // ignore K8SLB_ZONE from the environment
  o.client_node = "";  // and K8SLB_NODE
  o.connectivity_poll = std::chrono::milliseconds(100);
  o.seed = 42;
  return o;
}

// One finished RPC as the traffic generator saw it.
struct Result {
  Clock::time_point start;
  Clock::time_point end;
  std::string pod;
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
};

// Closed-loop traffic: `threads` workers each send one unary Echo after the other until Stop().
// Construct, Stop() and destroy on one thread; results() and count() from any thread.
class Traffic {
 public:
  Traffic(EchoClient& client, int threads, std::chrono::milliseconds rpc_deadline = std::chrono::milliseconds(3000),
          std::chrono::microseconds pause = std::chrono::microseconds(0))
      : client_(client), deadline_(rpc_deadline), pause_(pause) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this, i] { Run(i); });
  }
  ~Traffic() { Stop(); }
  void Stop() {
    stop_.store(true);
    for (auto& w : workers_) {
      if (w.joinable()) w.join();
    }
  }
  std::vector<Result> results() {
    absl::MutexLock lock(&mu_);
    return results_;
  }
  size_t count() {
    absl::MutexLock lock(&mu_);
    return results_.size();
  }

 private:
  void Run(int worker) {
    uint64_t id = 0;
    // Bounded: every test stops the traffic within seconds; the cap only guards a hung test.
    for (int n = 0; n < 2000000 && !stop_.load(); ++n) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
      echo::EchoRequest req;
      req.set_message("hi");
      req.set_request_id(++id);
      echo::EchoResponse resp;
      Result r;
      r.start = Clock::now();
      grpc::Status s = client_.With(ctx)->Echo(&ctx, req, &resp);
      r.end = Clock::now();
      r.code = s.error_code();
      r.message = s.error_message();
      r.pod = s.ok() ? resp.pod_name() : "";
      {
        absl::MutexLock lock(&mu_);
        results_.push_back(std::move(r));
      }
      if (pause_.count() > 0) std::this_thread::sleep_for(pause_);
    }
    (void)worker;
  }

  EchoClient& client_;
  std::chrono::milliseconds deadline_;
  std::chrono::microseconds pause_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::vector<Result> results_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
};

inline std::map<std::string, int> CountByPod(const std::vector<Result>& results) {
  std::map<std::string, int> counts;
  for (const Result& r : results) {
    if (r.code == grpc::StatusCode::OK) ++counts[r.pod];
  }
  return counts;
}

inline int Failures(const std::vector<Result>& results) {
  int n = 0;
  for (const Result& r : results) n += r.code != grpc::StatusCode::OK;
  return n;
}

// Polls `condition` every 5 ms up to `timeout`.
template <typename F>
bool WaitFor(F condition, std::chrono::milliseconds timeout) {
  auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

}  // namespace k8slb::testing

#endif  // K8SLB_TESTS_GRPC_TEST_PODS_H_
