// Where live pods run: the address plan, the private network namespace (entered as root, and
// through a user namespace as an unprivileged user), the relay that opens its upstream
// connections from the host's namespace, and the refusal (and the explicit loopback opt-in)
// when no namespace can be made.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <utility>

#include <boost/asio.hpp>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sim/live/pod_network.h"
#include "sim/live/tcp_proxy.h"

namespace k8slb::sim::live {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

TEST(PlanPodAddressesTest, MovesLoopbackDefaultsIntoTheBenchmarkingRange) {
  auto plan = PlanPodAddresses("127.0.1.0/24", PodPlacement::kNamespace);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->pod_cidr, "198.18.0.0/24");
  EXPECT_EQ(plan->service_ip, "198.19.0.1");
  EXPECT_NE(plan->note.find("outside 198.18.0.0/15"), std::string::npos) << plan->note;

  auto big = PlanPodAddresses("127.0.0.0/8", PodPlacement::kNamespace);  // large-service
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->pod_cidr, "198.18.0.0/16");  // at most a /16: the proxy keeps 198.19.0.1
  EXPECT_EQ(big->service_ip, "198.19.0.1");
}

TEST(PlanPodAddressesTest, KeepsACidrInsideTheRangeAndAvoidsItForTheProxy) {
  auto kept = PlanPodAddresses("198.18.7.0/24", PodPlacement::kNamespace);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->pod_cidr, "198.18.7.0/24");
  EXPECT_TRUE(kept->note.empty());
  auto upper = PlanPodAddresses("198.19.0.0/16", PodPlacement::kNamespace);
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(upper->service_ip, "198.18.0.1");
  auto all = PlanPodAddresses("198.18.0.0/15", PodPlacement::kNamespace);
  ASSERT_FALSE(all.ok());
  EXPECT_NE(all.status().message().find("use at most a /16"), std::string::npos);
}

TEST(PlanPodAddressesTest, LoopbackPlacementNeedsALoopbackCidr) {
  auto plan = PlanPodAddresses("127.0.211.0/24", PodPlacement::kLoopback);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->pod_cidr, "127.0.211.0/24");
  EXPECT_EQ(plan->service_ip, "127.0.0.2");
  auto bad = PlanPodAddresses("10.1.0.0/16", PodPlacement::kLoopback);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not on loopback"), std::string::npos);
  EXPECT_FALSE(PlanPodAddresses("300.1.0.0/16", PodPlacement::kNamespace).ok());
}

TEST(Ipv4BlockTest, ContainsAndOverlaps) {
  Ipv4Block range = *Ipv4Block::Parse("198.18.0.0/15");
  EXPECT_TRUE(range.Contains(*ParseIpv4("198.19.255.255")));
  EXPECT_FALSE(range.Contains(*ParseIpv4("198.20.0.0")));
  EXPECT_FALSE(range.Contains(*ParseIpv4("198.17.255.255")));
  EXPECT_TRUE(range.Contains(*Ipv4Block::Parse("198.18.4.0/24")));
  EXPECT_FALSE(Ipv4Block::Parse("198.18.4.0/24")->Contains(range));
  EXPECT_TRUE(Ipv4Block::Parse("198.18.4.0/24")->Overlaps(range));
  EXPECT_EQ(Ipv4Block::Parse("198.18.4.77/24")->ToString(), "198.18.4.0/24");
  EXPECT_FALSE(Ipv4Block::Parse("198.18.4.0/33").ok());
  EXPECT_FALSE(Ipv4Block::Parse("198.18.4.0").ok());
}

uint64_t NamespaceInode() {
  struct stat st{};
  EXPECT_EQ(::stat("/proc/thread-self/ns/net", &st), 0);
  return st.st_ino;
}

// A TCP listener on `host`:`port` (0: ephemeral) opened by the calling thread; -1 on failure.
int Listen(const std::string& host, int port, int* bound_port = nullptr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 16) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (bound_port != nullptr) *bound_port = ntohs(a.sin_port);
  return fd;
}

// Connects, sends `text`, returns what comes back until the peer closes ("" on failure).
std::string Exchange(const std::string& host, int port, const std::string& text) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({asio::ip::make_address(host), static_cast<uint16_t>(port)}, ec);
  if (ec) return "";
  asio::write(socket, asio::buffer(text), ec);
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  std::string reply;
  char buf[256];
  while (true) {
    size_t n = socket.read_some(asio::buffer(buf), ec);
    if (ec) break;
    reply.append(buf, n);
  }
  return reply;
}

// Accepts one connection on `fd` and answers "host-side:" + what it read, then closes.
void ServeOnce(int fd) {
  int c = ::accept(fd, nullptr, nullptr);
  if (c < 0) return;
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = ::read(c, buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
  std::string reply = "host-side:" + got;
  (void)!::write(c, reply.data(), reply.size());
  ::close(c);
}

// The namespace is per process; this test enters it (each ctest test is a process of its own).
// A TCP socket bound to ADDRESS:PORT (SO_REUSEADDR when `reuse`), listening when `listen`; the
// errno of the first failing call, 0 on success. Closes the socket before returning.
int TryBind(const char* address, int port, bool reuse, bool listen) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return errno;
  int one = 1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, address, &addr.sin_addr);
  int err = 0;
  if ((reuse && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || (listen && ::listen(fd, 1) != 0)) {
    err = errno;
  }
  ::close(fd);
  return err;
}

// Loopback pods listen on ports their run holds: a server of the run (SO_REUSEADDR, as gRPC's)
// binds them on a pod address, nobody else does, and a second run gets other ports.
TEST(PortReservationTest, HoldsConsecutivePortsThatOnlyReusingServersBind) {
  auto first = PortReservation::Reserve(3);
  ASSERT_TRUE(first.ok()) << first.status();
  const int port = first->first();
  ASSERT_GT(port, 0);
  for (int p = port; p < port + 3; ++p) {
    EXPECT_EQ(TryBind("127.0.220.9", p, /*reuse=*/true, /*listen=*/true), 0) << p;
    EXPECT_EQ(TryBind("127.0.220.9", p, /*reuse=*/false, /*listen=*/false), EADDRINUSE) << p;
  }
  auto second = PortReservation::Reserve(3);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->first() + 2 < port || second->first() > port + 2)
      << second->first() << " overlaps " << port;
  *first = std::move(*second);  // releases the first run's ports
  EXPECT_EQ(TryBind("127.0.220.9", port, /*reuse=*/false, /*listen=*/false), 0);
  EXPECT_FALSE(PortReservation::Reserve(0).ok());
}

TEST(PodNamespaceTest, PodsBindAnyBenchmarkingAddressAndTheHostSideStaysOutside) {
  const uint64_t host_inode = NamespaceInode();
  // A server in the host's namespace, on the host's loopback.
  int host_port = 0;
  int host_fd = Listen("127.0.0.1", 0, &host_port);
  ASSERT_GE(host_fd, 0);
  if (auto why = PodNamespaceUnavailable()) {
    ::close(host_fd);
    GTEST_SKIP() << "no private network namespace here: " << *why;
  }
  absl::StatusOr<PodNamespace*> ns = PodNamespace::Enter();
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_TRUE((*ns)->CallerInside());
  EXPECT_NE(NamespaceInode(), host_inode);
  EXPECT_EQ(*PodNamespace::Enter(), *ns);  // one per process

  // Any address of 198.18.0.0/15 can be bound and reached; outside it nothing is local.
  for (const char* address : {"198.18.0.1", "198.18.200.7", "198.19.255.254"}) {
    int port = 0;
    int fd = Listen(address, 0, &port);
    ASSERT_GE(fd, 0) << address;
    std::thread server([fd] { ServeOnce(fd); });
    EXPECT_EQ(Exchange(address, port, "hi"), "host-side:hi") << address;
    server.join();
    ::close(fd);
  }
  EXPECT_EQ(Listen("198.20.0.1", 0), -1);
  // The host's loopback is not reachable from inside: the namespace has a loopback of its own.
  EXPECT_EQ(Exchange("127.0.0.1", host_port, "hi"), "");

  // The host side: its thread stayed outside, so a relay listening inside on the very same
  // address and port reaches the host's server.
  std::promise<uint64_t> outside;
  asio::post((*ns)->HostSide()->context(), [&outside] { outside.set_value(NamespaceInode()); });
  EXPECT_EQ(outside.get_future().get(), host_inode);
  PinningTcpProxy relay({.listen_host = "127.0.0.1",
                         .listen_port = host_port,
                         .pick = [host_port]() -> std::optional<Backend> {
                           return Backend{"127.0.0.1", host_port};
                         },
                         .on_pinned = nullptr,
                         .io = (*ns)->HostSide()});
  ASSERT_TRUE(relay.Start().ok());
  std::thread host_server([host_fd] { ServeOnce(host_fd); });
  EXPECT_EQ(Exchange("127.0.0.1", host_port, "through"), "host-side:through");
  host_server.join();
  relay.Stop();
  ::close(host_fd);
}

// A paused relay forwards nothing until the pause ends; CloseAll cuts what is open.
TEST(PinningTcpProxyTest, PauseHoldsBytesAndCloseAllCutsConnections) {
  int port = 0;
  int fd = Listen("127.0.0.1", 0, &port);
  ASSERT_GE(fd, 0);
  PinningTcpProxy relay({.listen_host = "127.0.0.1",
                         .listen_port = 0,
                         .pick = [port]() -> std::optional<Backend> { return Backend{"127.0.0.1", port}; },
                         .on_pinned = nullptr,
                         .io = nullptr});
  ASSERT_TRUE(relay.Start().ok());
  relay.Pause(milliseconds(600000));  // far longer than the test
  absl::Mutex mu;
  std::string received;
  bool server_done = false;
  std::thread server([&] {
    int c = ::accept(fd, nullptr, nullptr);
    char buf[64];
    ssize_t n;
    while ((n = ::read(c, buf, sizeof(buf))) > 0) {
      absl::MutexLock lock(&mu);
      received.append(buf, static_cast<size_t>(n));
    }
    ::close(c);
    absl::MutexLock lock(&mu);
    server_done = true;
  });
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(relay.port())});
  asio::write(socket, asio::buffer(std::string("held")));
  {
    // While paused nothing arrives, however long we look (here: a generous half second).
    absl::MutexLock lock(&mu);
    auto arrived = [&]() { return !received.empty(); };
    EXPECT_FALSE(mu.AwaitWithTimeout(absl::Condition(&arrived), absl::Milliseconds(500)));
  }
  relay.Pause(milliseconds(0));  // the end of the stall: the held bytes go through
  {
    absl::MutexLock lock(&mu);
    auto arrived = [&]() { return received == "held"; };
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&arrived), absl::Seconds(30))) << received;
  }
  relay.CloseAll();
  boost::system::error_code ec;
  char buf[16];
  socket.read_some(asio::buffer(buf), ec);  // both sides are closed by CloseAll
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  server.join();
  EXPECT_TRUE(server_done);
  relay.Stop();
  ::close(fd);
}


}  // namespace
}  // namespace k8slb::sim::live
