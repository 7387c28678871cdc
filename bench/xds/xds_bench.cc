// k8slb_xds_bench: end-to-end figures for k8slb-xds. Both modes run a fake Kubernetes API in
// process (plain HTTP on loopback) and print one table; every loop is bounded in count and time.
//
//   fanout    k8slb-xds runs as a child process (so its memory and CPU are its own); N ADS streams
//             (one channel, hence one connection, each: N clients) subscribe to one Service's
//             ClusterLoadAssignment. Then U times: one EndpointSlice change, and the time until
//             every stream has the new assignment. Prints p50/p99/max over all (stream, update)
//             samples, the child's RSS per stream and its CPU per update.
//   reaction  echo servers on 127.0.2.x; a grpc++ xds:/// channel through an in-process k8slb-xds
//             and a BalancedChannel on the same Service send RPCs back to back. T times a pod is
//             added to the slice; for each client, the time from the slice write to its first RPC
//             answered by the new pod. Prints median and p99 of both, side by side.
#include <grpcpp/grpcpp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <k8slb/proto/echo.grpc.pb.h>
#include <nlohmann/json.hpp>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/mutex.h"
#include "echo_server/echo_server.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "fakeapi/server/fake_api_server.h"
#include "k8slb/balanced_channel.h"
#include "k8slb/client.h"
#include "k8slb/xds/bootstrap.h"
#include "k8slb/xds/server.h"
#include "util/percentile.h"

namespace {

using Clock = std::chrono::steady_clock;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
constexpr char kEds[] = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

using k8slb::util::Percentile;  // nearest rank, as every other figure of the project

nlohmann::json Slice(const std::vector<std::string>& ips, int port) {
  nlohmann::json endpoints = nlohmann::json::array();
  for (size_t i = 0; i < ips.size(); ++i) {
    endpoints.push_back({{"addresses", {ips[i]}},
                         {"conditions", {{"ready", true}, {"serving", true}, {"terminating", false}}},
                         {"zone", "zone-a"},
                         {"targetRef", {{"kind", "Pod"}, {"namespace", "default"}, {"name", "echo-" + std::to_string(i)}}}});
  }
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata", {{"name", "echo-1"}, {"namespace", "default"}, {"labels", {{"kubernetes.io/service-name", "echo"}}}}},
          {"addressType", "IPv4"},
          {"ports", {{{"name", "grpc"}, {"port", port}, {"protocol", "TCP"}}}},
          {"endpoints", endpoints}};
}

void WriteSlice(k8slb::fakeapi::FakeApiServer& api, const nlohmann::json& slice, bool create) {
  api.WithCluster([&](k8slb::fake::Cluster& c) {
    auto r = create ? c.Create(k8slb::fake::ResourceKind::kEndpointSlice, "default", slice)
                    : c.Replace(k8slb::fake::ResourceKind::kEndpointSlice, "default", "echo-1", slice);
    if (!r.ok()) std::cerr << "k8slb_xds_bench: slice write: " << r.status() << "\n";
  });
}

std::unique_ptr<k8slb::fakeapi::FakeApiServer> StartApi() {
  k8slb::fakeapi::FakeApiOptions o;
  o.listen = "127.0.0.1:0";
  o.plain_http = true;
  o.allow_loopback_endpoints = true;  // the bench's pods listen on loopback addresses
  auto api = k8slb::fakeapi::FakeApiServer::Start(o);
  if (!api.ok()) {
    std::cerr << "k8slb_xds_bench: fakeapi: " << api.status() << "\n";
    std::exit(1);
  }
  return *std::move(api);
}

// ---- fanout ----

// One ADS stream subscribed to echo's assignment: records when each new version arrives and ACKs
// it. Two implementations of the client side, selected by --client-api.
class FanoutStream {
 public:
  virtual ~FanoutStream() = default;
  // Responses so far and the arrival time of the last.
  std::pair<uint64_t, Clock::time_point> Received() {
    absl::MutexLock lock(&mu_);
    return {responses_, last_};
  }
  void Cancel() { context_.TryCancel(); }
  bool Done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }

 protected:
  FanoutStream() {
    request_.set_type_url(kEds);
    request_.add_resource_names("echo.default:grpc");
    request_.mutable_node()->set_id("bench");
  }
  // A response arrived in response_: count it and note what to ACK (the caller then writes NextAck()).
  void Arrived() {
    absl::MutexLock lock(&mu_);
    ++responses_;
    last_ = Clock::now();
    pending_ack_ = Ack{response_.version_info(), response_.nonce()};
  }
  // The previous write finished.
  void WriteFinished() {
    absl::MutexLock lock(&mu_);
    writing_ = false;
  }
  void Finished() {
    absl::MutexLock lock(&mu_);
    done_ = true;
  }
  // The ACK to write now, or null (a write is in flight, or nothing to ACK). One write at a time.
  DiscoveryRequest* NextAck() {
    absl::MutexLock lock(&mu_);
    if (writing_ || !pending_ack_) return nullptr;
    writing_ = true;
    ack_.Clear();
    ack_.set_type_url(kEds);
    ack_.add_resource_names("echo.default:grpc");
    ack_.set_version_info(pending_ack_->version);
    ack_.set_response_nonce(pending_ack_->nonce);
    pending_ack_.reset();
    return &ack_;
  }

  grpc::ClientContext context_;
  DiscoveryRequest request_;
  DiscoveryResponse response_;  // only the read path touches it: one read in flight at a time

 private:
  DiscoveryRequest ack_;
  absl::Mutex mu_;
  uint64_t responses_ ABSL_GUARDED_BY(mu_) = 0;
  Clock::time_point last_ ABSL_GUARDED_BY(mu_);
  struct Ack {
    std::string version;
    std::string nonce;
  };
  std::optional<Ack> pending_ack_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = true;  // the initial request
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// grpc++'s callback API. In grpc++ 1.51 with the epoll1 poller its reactions run on the
// "callback alternative" completion queue, whose threads poll with a 1-s deadline and sleep
// 100 ms after each timeout (src/cpp/common/completion_queue_cc.cc, CallbackAlternativeCQ): a
// client idle for a second sees its next message up to 100 ms late. Kept to show that.
class CallbackStream final : public FanoutStream,
                             public grpc::ClientBidiReactor<DiscoveryRequest, DiscoveryResponse> {
 public:
  explicit CallbackStream(AggregatedDiscoveryService::Stub* ads) {
    ads->async()->StreamAggregatedResources(&context_, this);
    StartWrite(&request_);
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    Arrived();
    if (DiscoveryRequest* ack = NextAck()) StartWrite(ack);
    StartRead(&response_);
  }
  void OnWriteDone(bool ok) override {
    WriteFinished();
    if (!ok) return;
    if (DiscoveryRequest* ack = NextAck()) StartWrite(ack);
  }
  void OnDone(const grpc::Status&) override { Finished(); }
};

// The completion-queue API, driven by threads that block in CompletionQueue::Next with no
// deadline (CqDriver): a message is handled when it arrives, however long the client was idle.
class CqStream final : public FanoutStream {
 public:
  CqStream(AggregatedDiscoveryService::Stub* ads, grpc::CompletionQueue* cq)
      : rpc_(ads->PrepareAsyncStreamAggregatedResources(&context_, cq)) {
    rpc_->StartCall(&start_);
  }
  // One completed operation of this stream (CqDriver's threads; a read and a write may complete
  // on two threads at once).
  void Handle(void* tag, bool ok) {
    if (tag == &start_) {
      if (!ok) return Finish();
      rpc_->Write(request_, &write_);
      rpc_->Read(&response_, &read_);
    } else if (tag == &read_) {
      if (!ok) return Finish();
      Arrived();
      if (DiscoveryRequest* ack = NextAck()) rpc_->Write(*ack, &write_);
      rpc_->Read(&response_, &read_);
    } else if (tag == &write_) {
      WriteFinished();
      if (!ok) return;
      if (DiscoveryRequest* ack = NextAck()) rpc_->Write(*ack, &write_);
    } else if (tag == &finish_) {
      Finished();
    }
  }
  // Each tag's address names the operation; `owner` leads back to the stream.
  struct Tag {
    CqStream* owner;
  };

 private:
  void Finish() { rpc_->Finish(&status_, &finish_); }

  std::unique_ptr<grpc::ClientAsyncReaderWriter<DiscoveryRequest, DiscoveryResponse>> rpc_;
  grpc::Status status_;
  Tag start_{this};
  Tag read_{this};
  Tag write_{this};
  Tag finish_{this};
};

// Threads that drain one completion queue for CqStreams until it is shut down and empty.
class CqDriver {
 public:
  explicit CqDriver(int threads) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        void* tag = nullptr;
        bool ok = false;
        while (cq_.Next(&tag, &ok)) static_cast<CqStream::Tag*>(tag)->owner->Handle(tag, ok);
      });
    }
  }
  ~CqDriver() { Drain(); }
  // Shuts the queue down and waits until every operation on it has been delivered: call it once
  // every stream is cancelled, before the streams are destroyed. Idempotent.
  void Drain() {
    if (threads_.empty()) return;
    cq_.Shutdown();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  grpc::CompletionQueue* cq() { return &cq_; }

 private:
  grpc::CompletionQueue cq_;
  std::vector<std::thread> threads_;
};

long ReadRssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

double ReadCpuMs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt
  long utime = 0, stime = 0;
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// This process's CPU (user+sys, every thread), in ms: the client side of the fan-out.
double SelfCpuMs() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto ms = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1000.0 + static_cast<double>(t.tv_usec) / 1000.0; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

// How long the clients sit idle: after every stream has its first assignment, and between updates.
struct FanoutPacing {
  int idle_ms = 1000;
  int gap_ms = 200;
};

int Fanout(const std::string& xds_binary, int streams, int updates, int endpoints, bool client_bdp_probe,
           const FanoutPacing& pacing, bool callback_api) {
  auto api = StartApi();
  std::vector<std::string> ips;
  for (int i = 0; i < endpoints; ++i) ips.push_back("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
  WriteSlice(*api, Slice(ips, 50051), true);

  // A free port for the child: bind port 0, read it, release it (loopback; the child binds it
  // right after).
  int port = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::perror("k8slb_xds_bench: a free loopback port");
      return 1;
    }
    port = ntohs(addr.sin_port);
    ::close(fd);
  }
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  pid_t child = ::fork();
  if (child == 0) {
    ::execl(xds_binary.c_str(), xds_binary.c_str(), "--server", api->url().c_str(), "--listen", listen.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto probe = grpc::CreateChannel(listen, grpc::InsecureChannelCredentials());
  if (!probe->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20))) {
    std::cerr << "k8slb_xds_bench: k8slb-xds did not start on " << listen << "\n";
    ::kill(child, SIGKILL);
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const long rss0 = ReadRssKb(child);

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<AggregatedDiscoveryService::Stub>> stubs;
  // Declared before the streams: destroyed after them, once their calls have ended.
  std::optional<CqDriver> driver;
  if (!callback_api) driver.emplace(2);  // grpc++'s callback queue has 2 threads on 2 cores too
  std::vector<std::unique_ptr<FanoutStream>> all;
  for (int i = 0; i < streams; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("k8slb.bench.channel", i);  // distinct args: no shared subchannel
    // gRPC clients probe BDP by default: after data arrives they PING the server, which must
    // read it and answer. --client-bdp-probe=false leaves that out (cheaper, less realistic).
    if (!client_bdp_probe) args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    channels.push_back(grpc::CreateCustomChannel(listen, grpc::InsecureChannelCredentials(), args));
    stubs.push_back(AggregatedDiscoveryService::NewStub(channels.back()));
    if (callback_api) {
      all.push_back(std::make_unique<CallbackStream>(stubs.back().get()));
    } else {
      all.push_back(std::make_unique<CqStream>(stubs.back().get(), driver->cq()));
    }
  }
  // On every way out: end the calls, then let the driver deliver their last operations before
  // the streams are destroyed.
  absl::Cleanup end_streams = [&] {
    for (auto& s : all) s->Cancel();
    if (driver) driver->Drain();
  };
  auto wait_all = [&](uint64_t count, std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    for (;;) {
      int behind = 0;
      for (auto& s : all) behind += s->Received().first < count;
      if (behind == 0) return true;
      if (Clock::now() > deadline) {
        std::cerr << "k8slb_xds_bench: " << behind << " streams without response " << count << "\n";
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  bool ok = wait_all(1, std::chrono::seconds(60));
  std::this_thread::sleep_for(std::chrono::milliseconds(pacing.idle_ms));
  const long rss1 = ReadRssKb(child);

  std::vector<double> latencies;
  std::vector<double> update_p99;
  const double cpu0 = ReadCpuMs(child);
  const double self0 = SelfCpuMs();
  for (int u = 0; ok && u < updates; ++u) {
    std::vector<std::string> next = ips;
    next[static_cast<size_t>(u) % next.size()] = "10.2.0." + std::to_string(u % 250 + 1);  // a pod replaced
    const auto t0 = Clock::now();
    WriteSlice(*api, Slice(next, 50051), false);
    ok = wait_all(static_cast<uint64_t>(u) + 2, std::chrono::seconds(30));
    std::vector<double> these;
    for (auto& s : all) {
      these.push_back(std::chrono::duration<double, std::milli>(s->Received().second - t0).count());
    }
    update_p99.push_back(Percentile(these, 0.99));
    latencies.insert(latencies.end(), these.begin(), these.end());
    std::this_thread::sleep_for(std::chrono::milliseconds(pacing.gap_ms));
  }
  const double cpu1 = ReadCpuMs(child);
  const double self1 = SelfCpuMs();
  for (auto& s : all) s->Cancel();
  for (int i = 0; i < 200 && !std::all_of(all.begin(), all.end(), [](auto& s) { return s->Done(); }); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(child, SIGTERM);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!ok) return 1;

  std::printf("k8slb-xds fan-out: %d ADS streams (one connection each), %d slice updates, %d endpoints,"
              " client BDP probe %s, client API %s\n",
              streams, updates, endpoints, client_bdp_probe ? "on" : "off", callback_api ? "callback" : "cq");
  std::printf("  slice write -> every stream has the new assignment (ms): p50 %.1f  p99 %.1f  max %.1f"
              "  (median of per-update p99: %.1f)\n",
              Percentile(latencies, 0.5), Percentile(latencies, 0.99), Percentile(latencies, 1.0),
              Percentile(update_p99, 0.5));
  // The first update follows the longer idle time; printed apart, since a grpc++ client process
  // that has been idle wakes up late (docs/xds.md, "The first update").
  if (updates > 1) {
    std::printf("  per update p99 (ms): first %.1f, later ones median %.1f max %.1f  (idle %d ms before the first,"
                " %d ms between)\n",
                update_p99.front(), Percentile(std::vector<double>(update_p99.begin() + 1, update_p99.end()), 0.5),
                *std::max_element(update_p99.begin() + 1, update_p99.end()), pacing.idle_ms, pacing.gap_ms);
  }
  std::printf("  k8slb-xds RSS: %ld KiB idle, %ld KiB with the streams: %.1f KiB per stream\n", rss0, rss1,
              static_cast<double>(rss1 - rss0) / streams);
  std::printf("  k8slb-xds CPU per update (user+sys, all %d streams): %.1f ms (%.1f us per stream)\n", streams,
              (cpu1 - cpu0) / updates, (cpu1 - cpu0) * 1000.0 / updates / streams);
  // The clients share the machine's cores with k8slb-xds: their CPU bounds how fast a push can
  // land on every stream here.
  std::printf("  the %d client streams (this process) CPU per update: %.1f ms\n", streams, (self1 - self0) / updates);
  return 0;
}

// ---- reaction ----

struct Loop {
  std::atomic<bool> stop{false};
  absl::Mutex mu;
  std::vector<std::pair<Clock::time_point, std::string>> answers ABSL_GUARDED_BY(mu);
  std::thread thread;
  // First answer from `pod` ending after t0, or nullopt.
  std::optional<double> FirstFrom(const std::string& pod, Clock::time_point t0) {
    absl::MutexLock lock(&mu);
    for (const auto& [t, p] : answers) {
      if (t >= t0 && p == pod) return std::chrono::duration<double, std::milli>(t - t0).count();
    }
    return std::nullopt;
  }
  void Clear() {
    absl::MutexLock lock(&mu);
    answers.clear();
  }
};

template <typename Call>
void RunLoop(Loop* loop, Call call) {
  for (int n = 0; n < 10'000'000 && !loop->stop.load(); ++n) {
    std::string pod = call();
    {
      absl::MutexLock lock(&loop->mu);
      if (!pod.empty()) loop->answers.emplace_back(Clock::now(), pod);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

int Reaction(int trials) {
  auto api = StartApi();
  std::vector<std::unique_ptr<k8slb::echo::EchoServer>> pods;
  int port = 0;
  std::vector<std::string> ips;
  for (int i = 0; i < 5; ++i) {
    k8slb::echo::EchoServerOptions o;
    o.listen = "127.0.2." + std::to_string(i + 1) + ":" + std::to_string(port);
    o.pod_name = "echo-" + std::to_string(i);
    auto s = k8slb::echo::EchoServer::Start(o);
    if (!s.ok()) {
      std::cerr << "k8slb_xds_bench: echo server: " << s.status() << "\n";
      return 1;
    }
    if (i == 0) port = (*s)->port();
    ips.push_back("127.0.2." + std::to_string(i + 1));
    pods.push_back(*std::move(s));
  }
  std::vector<std::string> base(ips.begin(), ips.begin() + 4);
  WriteSlice(*api, Slice(base, port), true);

  k8slb::KubeConfig config;
  config.server = api->url();
  config.allow_plain_http = true;
  config.description = "bench";
  k8slb::xds::XdsServerOptions xo;
  xo.listen = "127.0.0.1:0";
  xo.config = config;
  auto xds = k8slb::xds::XdsServer::Start(xo);
  if (!xds.ok()) {
    std::cerr << "k8slb_xds_bench: " << xds.status() << "\n";
    return 1;
  }
  auto bootstrap = k8slb::xds::MakeBootstrap({.server = (*xds)->address(), .node_id = "bench", .zone = "", .region = ""});
  ::setenv("GRPC_XDS_BOOTSTRAP_CONFIG", bootstrap->c_str(), 1);
  auto xds_stub = k8slb::echo::Echo::NewStub(grpc::CreateChannel("xds:///echo.default:grpc", grpc::InsecureChannelCredentials()));
  k8slb::BalancedChannelOptions bo;
  bo.policy = k8slb::PickPolicy::kRoundRobin;
  bo.client_zone = "";
  auto balanced = k8slb::BalancedChannel::Create("kubernetes:///echo.default:grpc", config, bo);
  if (!balanced.ok()) {
    std::cerr << "k8slb_xds_bench: " << balanced.status() << "\n";
    return 1;
  }
  k8slb::Client<k8slb::echo::Echo> client(*balanced);
  auto echo_call = [](auto&& invoke) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    k8slb::echo::EchoRequest req;
    k8slb::echo::EchoResponse resp;
    return invoke(ctx, req, resp).ok() ? resp.pod_name() : std::string();
  };
  Loop xds_loop;
  Loop k8slb_loop;
  xds_loop.thread = std::thread([&] {
    RunLoop(&xds_loop, [&] {
      return echo_call([&](grpc::ClientContext& c, auto& q, auto& r) { return xds_stub->Echo(&c, q, &r); });
    });
  });
  k8slb_loop.thread = std::thread([&] {
    RunLoop(&k8slb_loop, [&] {
      return echo_call([&](grpc::ClientContext& c, auto& q, auto& r) { return client.With(c)->Echo(&c, q, &r); });
    });
  });
  std::this_thread::sleep_for(std::chrono::seconds(3));  // both warm: every base pod connected

  std::vector<double> xds_ms;
  std::vector<double> k8slb_ms;
  int missed = 0;
  for (int t = 0; t < trials; ++t) {
    xds_loop.Clear();
    k8slb_loop.Clear();
    const auto t0 = Clock::now();
    WriteSlice(*api, Slice(ips, port), false);  // echo-4 joins
    std::optional<double> a, b;
    for (int i = 0; i < 1000 && !(a && b); ++i) {  // at most 10 s
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      a = xds_loop.FirstFrom("echo-4", t0);
      b = k8slb_loop.FirstFrom("echo-4", t0);
    }
    if (a && b) {
      xds_ms.push_back(*a);
      k8slb_ms.push_back(*b);
    } else {
      ++missed;
    }
    WriteSlice(*api, Slice(base, port), false);  // and leaves
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  }
  xds_loop.stop = true;
  k8slb_loop.stop = true;
  xds_loop.thread.join();
  k8slb_loop.thread.join();
  std::printf("slice change -> first RPC on the new pod, %zu trials (%d missed), 5 pods, RPCs back to back:\n",
              xds_ms.size(), missed);
  std::printf("  %-28s median %7.1f ms   p99 %7.1f ms\n", "grpc++ 1.51 xDS via k8slb-xds", Percentile(xds_ms, 0.5),
              Percentile(xds_ms, 0.99));
  std::printf("  %-28s median %7.1f ms   p99 %7.1f ms\n", "k8slb BalancedChannel", Percentile(k8slb_ms, 0.5),
              Percentile(k8slb_ms, 0.99));
  std::printf("  ratio (xDS / BalancedChannel) of medians: %.2f\n",
              Percentile(xds_ms, 0.5) / std::max(0.001, Percentile(k8slb_ms, 0.5)));
  (*xds)->Shutdown(std::chrono::milliseconds(0));
  return missed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("k8slb_xds_bench: k8slb-xds fan-out and reaction figures (see the file's header)", "k8slb_xds_bench");
  app.require_subcommand(1);
  auto* fanout = app.add_subcommand("fanout", "N ADS streams on one k8slb-xds; one slice change reaches every stream");
  int streams = 1000;
  int updates = 20;
  int endpoints = 10;
  std::string binary = K8SLB_XDS_BINARY;
  fanout->add_option("--streams", streams)->check(CLI::Range(1, 20000))->capture_default_str();
  fanout->add_option("--updates", updates)->check(CLI::Range(1, 1000))->capture_default_str();
  fanout->add_option("--endpoints", endpoints)->check(CLI::Range(1, 10000))->capture_default_str();
  fanout->add_option("--xds-binary", binary)->capture_default_str();
  bool client_bdp_probe = true;
  fanout->add_option("--client-bdp-probe", client_bdp_probe, "the bench clients' HTTP/2 BDP probe (gRPC's default: on)")
      ->capture_default_str();
  FanoutPacing pacing;
  fanout->add_option("--idle-ms", pacing.idle_ms, "idle time after every stream has its first assignment")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  fanout->add_option("--gap-ms", pacing.gap_ms, "idle time after each update")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  std::string client_api = "cq";
  fanout->add_option("--client-api", client_api,
                     "the bench clients' grpc++ API: cq (threads block in CompletionQueue::Next) or callback"
                     " (reactors; grpc++ 1.51 polls them with a 1-s deadline and sleeps 100 ms after a timeout)")
      ->check(CLI::IsMember({"cq", "callback"}))
      ->capture_default_str();
  auto* reaction = app.add_subcommand("reaction", "slice change -> first RPC on the new pod: grpc++ xDS vs BalancedChannel");
  int trials = 20;
  reaction->add_option("--trials", trials)->check(CLI::Range(1, 1000))->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Two sockets per stream (both ends) plus the child's: raise the soft limit to the hard one.
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  // Debian's Abseil is built without NDEBUG: its Mutex deadlock detection would add to the
  // clients' CPU on the same cores as k8slb-xds (which turns it off too).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (fanout->parsed()) return Fanout(binary, streams, updates, endpoints, client_bdp_probe, pacing, client_api == "callback");
  return Reaction(trials);
}
