// k8slb_fakeapi_bench: end-to-end performance driver for k8slb-fakeapi.
//   1. fan-out: N concurrent watchers (raw sockets, one epoll loop); one slice change must reach
//      all of them; reports p50/p99/max delivery latency over R changes (goal p99 <= 100 ms).
//   2. list: a Service with E endpoints (E/100 slices); the time to answer a full list (goal
//      <= 1 s for 100,000 endpoints), median of 5.
//   3. memory: resident-set growth per endpoint when the E-endpoint cluster is built.
// Not a test: prints numbers. Usage: k8slb_fakeapi_bench [--watchers N] [--rounds R]
// [--endpoints E]. The server runs plain HTTP here so the clients (same process, same 2 cores)
// spend no CPU on TLS; the protocol and real-client tests cover HTTPS.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "fakeapi/server/fake_api_server.h"
#include "sim/scenario/scenario.h"
#include "util/percentile.h"

namespace {

using Clock = std::chrono::steady_clock;
using k8slb::util::Percentile;
using k8slb::fakeapi::FakeApiOptions;
using k8slb::fakeapi::FakeApiServer;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool SendAll(int fd, const std::string& s) {
  size_t sent = 0;
  while (sent < s.size()) {
    ssize_t n = ::send(fd, s.data() + sent, s.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// A full GET over plain HTTP; returns the body size (Content-Length framing).
size_t HttpGetBodySize(uint16_t port, const std::string& path) {
  int fd = Connect(port);
  if (fd < 0) return 0;
  SendAll(fd, "GET " + path + " HTTP/1.1\r\nHost: b\r\nAccept: application/json\r\nConnection: close\r\n\r\n");
  std::string buf;
  char tmp[1 << 16];
  ssize_t n;
  while ((n = ::recv(fd, tmp, sizeof(tmp), 0)) > 0) buf.append(tmp, static_cast<size_t>(n));
  ::close(fd);
  size_t h = buf.find("\r\n\r\n");
  return h == std::string::npos ? 0 : buf.size() - h - 4;
}

int FanOut(int watchers, int rounds) {
  FakeApiOptions o;
  o.plain_http = true;  // measure the server, not the bench's TLS clients on the same 2 cores
  o.scenario = k8slb::scenario::Scenario{};
  o.scenario->pods.replicas = 10;
  o.io_threads = 2;
  auto server = FakeApiServer::Start(o);
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    return 1;
  }
  FakeApiServer& s = **server;
  std::string rv = std::to_string(s.resource_version());
  std::string req = "GET /apis/discovery.k8s.io/v1/namespaces/default/endpointslices?watch=true&resourceVersion=" + rv +
                    " HTTP/1.1\r\nHost: b\r\nAccept: application/json\r\n\r\n";
  std::vector<pollfd> fds;
  for (int i = 0; i < watchers; ++i) {
    int fd = Connect(s.port());
    if (fd < 0 || !SendAll(fd, req)) {
      std::cerr << "connect " << i << " failed\n";
      return 1;
    }
    fds.push_back(pollfd{fd, POLLIN, 0});
  }
  auto wait_until = Clock::now() + std::chrono::seconds(60);
  while (s.active_watches() < watchers && Clock::now() < wait_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::cout << "fan-out: " << s.active_watches() << " watchers registered\n";
  // One epoll loop reads every watcher (poll() over 1,000 fds would cost the bench more than the server).
  int ep = ::epoll_create1(0);
  for (size_t i = 0; i < fds.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fds[i].fd, &ev);
  }
  char buf[1 << 16];
  std::vector<epoll_event> ready(1024);
  auto drain = [&](int quiet_ms) {
    while (::epoll_wait(ep, ready.data(), static_cast<int>(ready.size()), quiet_ms) > 0) {
      for (auto& p : fds) ::recv(p.fd, buf, sizeof(buf), MSG_DONTWAIT);
    }
  };
  drain(300);  // response headers
  std::vector<double> all;
  for (int r = 0; r < rounds; ++r) {
    std::vector<double> got(fds.size(), -1);
    size_t remaining = fds.size();
    auto t0 = Clock::now();
    s.WithCluster([&](k8slb::fake::Cluster& c) {
      nlohmann::json slice = {
          {"metadata", {{"name", "bench-" + std::to_string(r)}, {"labels", {{"kubernetes.io/service-name", "bench"}}}}},
          {"addressType", "IPv4"},
          {"endpoints", nlohmann::json::array({{{"addresses", {"127.0.3.1"}}}})},
          {"ports", nlohmann::json::array()}};
      (void)c.Create(k8slb::fake::ResourceKind::kEndpointSlice, "default", slice);
    });
    auto deadline = t0 + std::chrono::seconds(10);
    while (remaining > 0 && Clock::now() < deadline) {
      int n = ::epoll_wait(ep, ready.data(), static_cast<int>(ready.size()), 100);
      auto now = Clock::now();
      for (int k = 0; k < n; ++k) {
        size_t i = ready[static_cast<size_t>(k)].data.u32;
        ssize_t got_bytes = ::recv(fds[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (got_bytes > 0 && got[i] < 0) {
          got[i] = Ms(now - t0);
          --remaining;
        }
      }
    }
    for (double g : got) all.push_back(g < 0 ? 10000.0 : g);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    drain(0);
  }
  ::close(ep);
  std::printf("fan-out: %d watchers x %d changes: delivery latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              watchers, rounds, Percentile(all, 0.5), Percentile(all, 0.99), Percentile(all, 1.0));
  for (auto& p : fds) ::close(p.fd);
  s.Stop();
  return 0;
}

int BigList(int endpoints) {
  long rss0 = RssKb();
  FakeApiOptions o;
  o.plain_http = true;
  o.scenario = k8slb::scenario::Scenario{};
  o.scenario->pods.replicas = endpoints;
  o.scenario->cluster.pod_cidr = "10.0.0.0/8";  // room for 100k pod addresses (never dialled here)
  auto t0 = Clock::now();
  auto server = FakeApiServer::Start(o);
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    return 1;
  }
  double build_ms = Ms(Clock::now() - t0);
  long rss1 = RssKb();
  FakeApiServer& s = **server;
  std::vector<double> times;
  size_t bytes = 0;
  for (int i = 0; i < 5; ++i) {
    auto t = Clock::now();
    bytes = HttpGetBodySize(s.port(), "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices");
    times.push_back(Ms(Clock::now() - t));
  }
  std::printf("list: %d endpoints: cluster built in %.0f ms; full list %.1f MB in median %.0f ms (min %.0f, max %.0f)\n",
              endpoints, build_ms, static_cast<double>(bytes) / 1e6, Percentile(times, 0.5), Percentile(times, 0),
              Percentile(times, 1.0));
  std::printf("memory: resident set +%.1f MB for %d endpoints = %.0f bytes per endpoint (model + server, incl. pods)\n",
              static_cast<double>(rss1 - rss0) / 1024.0, endpoints,
              static_cast<double>(rss1 - rss0) * 1024.0 / endpoints);
  s.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int watchers = 1000, rounds = 20, endpoints = 100000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    int value = std::atoi(argv[i + 1]);
    if (flag == "--watchers") {
      watchers = value;
    } else if (flag == "--rounds") {
      rounds = value;
    } else if (flag == "--endpoints") {
      endpoints = value;
    } else {
      std::cerr << "k8slb_fakeapi_bench: unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (int rc = BigList(endpoints); rc != 0) return rc;
  return FanOut(watchers, rounds);
}
