// Cluster DNS (fakeapi/dns) queried over the network as clients query CoreDNS: raw queries built
// and read with ldns over UDP and TCP, and c-ares (the resolver gRPC's DNS resolver uses) for the
// scale-up. The cluster is the model itself on a manual clock; k8slb-fakeapi's --dns-listen is
// checked through the binary.
#include <arpa/inet.h>
#include <ares.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
// ldns/common.h defines bool, true and false as macros (true = int 1) unless stdbool.h came first.
#include <stdbool.h>  // NOLINT(modernize-deprecated-headers)
#include <ldns/ldns.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "fakeapi/dns/dns_catalog.h"
#include "fakeapi/dns/dns_server.h"
#include "fakeapi/model/cluster.h"
#include "k8slb/random.h"
#include "tests/sim_live/subprocess.h"

namespace k8slb::fake::dns {
namespace {

using nlohmann::json;

// One reply, its records as "owner TTL TYPE rdata" (ldns's presentation of each field).
struct Reply {
  bool received = false;
  int rcode = -1;
  bool aa = false;
  bool tc = false;
  size_t size = 0;
  bool edns = false;
  std::vector<std::string> answer, authority, additional;
};

std::string RrText(const ldns_rr* rr) {
  char* owner = ldns_rdf2str(ldns_rr_owner(rr));
  char* type = ldns_rr_type2str(ldns_rr_get_type(rr));
  std::string out = absl::StrCat(owner, " ", ldns_rr_ttl(rr), " ", type);
  free(owner);
  free(type);
  for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    char* f = ldns_rdf2str(ldns_rr_rdf(rr, i));
    absl::StrAppend(&out, " ", f);
    free(f);
  }
  return out;
}

std::vector<std::string> Section(const ldns_rr_list* list) {
  std::vector<std::string> out;
  for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) out.push_back(RrText(ldns_rr_list_rr(list, i)));
  return out;
}

int Connected(int type, uint16_t port) {
  int fd = socket(AF_INET, type, 0);
  timeval tv{5, 0};  // a bound on a lost reply, not an assertion on speed
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool ReadAll(int fd, uint8_t* out, size_t n) {
  for (size_t got = 0; got < n;) {
    ssize_t r = recv(fd, out + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

Reply Exchange(uint16_t port, const std::vector<uint8_t>& query, Transport transport) {
  Reply reply;
  std::vector<uint8_t> in(65535);
  size_t n = 0;
  if (transport == Transport::kUdp) {
    int fd = Connected(SOCK_DGRAM, port);
    if (fd < 0) return reply;
    send(fd, query.data(), query.size(), 0);
    ssize_t r = recv(fd, in.data(), in.size(), 0);
    close(fd);
    if (r <= 0) return reply;
    n = static_cast<size_t>(r);
  } else {
    int fd = Connected(SOCK_STREAM, port);
    if (fd < 0) return reply;
    std::vector<uint8_t> framed = {static_cast<uint8_t>(query.size() >> 8), static_cast<uint8_t>(query.size())};
    framed.insert(framed.end(), query.begin(), query.end());
    send(fd, framed.data(), framed.size(), 0);
    uint8_t len[2];
    bool ok = ReadAll(fd, len, 2) && ReadAll(fd, in.data(), n = (static_cast<size_t>(len[0]) << 8) | len[1]);
    close(fd);
    if (!ok) return reply;
  }
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, in.data(), n) != LDNS_STATUS_OK) return reply;
  reply.received = true;
  reply.size = n;
  reply.rcode = ldns_pkt_get_rcode(pkt);
  reply.aa = ldns_pkt_aa(pkt);
  reply.tc = ldns_pkt_tc(pkt);
  reply.edns = ldns_pkt_edns(pkt);
  reply.answer = Section(ldns_pkt_answer(pkt));
  reply.authority = Section(ldns_pkt_authority(pkt));
  reply.additional = Section(ldns_pkt_additional(pkt));
  ldns_pkt_free(pkt);
  return reply;
}

std::vector<uint8_t> MakeQuery(const std::string& name, ldns_rr_type type, bool edns = false,
                               ldns_rr_class klass = LDNS_RR_CLASS_IN) {
  ldns_pkt* q = nullptr;
  EXPECT_EQ(ldns_pkt_query_new_frm_str(&q, name.c_str(), type, klass, LDNS_RD), LDNS_STATUS_OK);
  ldns_pkt_set_id(q, 4242);
  if (edns) ldns_pkt_set_edns_udp_size(q, 4096);
  uint8_t* wire = nullptr;
  size_t size = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, q, &size), LDNS_STATUS_OK);
  std::vector<uint8_t> out(wire, wire + size);
  free(wire);
  ldns_pkt_free(q);
  return out;
}

// The rdata of the answer records of one type, sorted: what a resolver hands its caller.
std::vector<std::string> Rdata(const std::vector<std::string>& records, const std::string& type) {
  std::vector<std::string> out;
  for (const std::string& r : records) {
    std::vector<std::string> f = absl::StrSplit(r, absl::MaxSplits(' ', 3));
    if (f.size() == 4 && f[2] == type) out.push_back(f[3]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

constexpr char kSoa[] = "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local.";

// A cluster with Service "echo" (ClusterIP, port "grpc" 50051), a headless "echo-headless" over
// the same pods, Deployment "echo" with `replicas` ready pods (10.1.0.1, .2, ...), and the DNS
// server on an ephemeral loopback port.
struct Fixture {
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(0);
  std::unique_ptr<Cluster> cluster;
  std::shared_ptr<Catalog> catalog;
  std::unique_ptr<Server> server;

  explicit Fixture(int replicas, uint32_t ttl = 5, bool publish_not_ready = false) {
    auto c = Cluster::Create(ClusterOptions{.pod_cidr = "10.1.0.0/16"}, clock);
    EXPECT_TRUE(c.ok()) << c.status();
    cluster = std::move(*c);
    EXPECT_TRUE(cluster->CreateService(ServiceConfig{}).ok());
    json headless = {{"metadata", {{"name", "echo-headless"}}},
                     {"spec",
                      {{"clusterIP", "None"},
                       {"selector", {{"app", "echo"}}},
                       {"ports", json::array({{{"name", "grpc"}, {"port", 50051}, {"protocol", "TCP"}}})}}}};
    if (publish_not_ready) headless["spec"]["publishNotReadyAddresses"] = true;
    auto created = cluster->Create(ResourceKind::kService, "default", headless);
    EXPECT_TRUE(created.ok()) << created.status();
    EXPECT_TRUE(cluster->CreateDeployment(DeploymentConfig{.replicas = replicas}, PodStart::kAlreadyRunning).ok());
    auto cat = Catalog::Create({.ttl_seconds = ttl});
    EXPECT_TRUE(cat.ok());
    catalog = *cat;
    Catalog::Attach(catalog, *cluster);
    auto s = Server::Start({}, catalog);
    EXPECT_TRUE(s.ok()) << s.status();
    server = std::move(*s);
  }

  std::string ClusterIp() const {
    auto svc = cluster->Get(ResourceKind::kService, "default", "echo");
    return svc.ok() ? (*svc)->at("spec").value("clusterIP", "") : "";
  }
  Reply Ask(const std::string& name, ldns_rr_type type, Transport t = Transport::kUdp, bool edns = false) {
    return Exchange(server->port(), MakeQuery(name, type, edns), t);
  }
  // Advances model time until every pending timer has run (pods started, drains ended).
  void Settle(int64_t max_nanos = 120'000'000'000) {
    for (auto next = cluster->NextTimerNanos(); next && *next <= max_nanos; next = cluster->NextTimerNanos()) {
      clock->SetNanos(std::max(clock->NowNanos(), *next));
      cluster->RunDue();
    }
  }
};

std::vector<std::string> Addresses(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back(absl::StrCat("10.1.0.", i));
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ClusterDns, ClusterIpServiceAnswersItsClusterIpOverUdpAndTcp) {
  Fixture f(3);
  for (Transport t : {Transport::kUdp, Transport::kTcp}) {
    Reply r = f.Ask("echo.default.svc.cluster.local.", LDNS_RR_TYPE_A, t);
    ASSERT_TRUE(r.received);
    EXPECT_EQ(r.rcode, LDNS_RCODE_NOERROR);
    EXPECT_TRUE(r.aa);
    EXPECT_FALSE(r.tc);
    ASSERT_EQ(r.answer.size(), 1u);
    EXPECT_EQ(r.answer[0], "echo.default.svc.cluster.local. 5 A " + f.ClusterIp());
  }
  EXPECT_GE(f.server->stats().udp_queries, 1u);
  EXPECT_GE(f.server->stats().tcp_queries, 1u);
}

TEST(ClusterDns, HeadlessServiceAnswersEveryReadyEndpointAndFollowsReadiness) {
  Fixture f(3);
  Reply r = f.Ask("echo-headless.default.svc.cluster.local.", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.rcode, LDNS_RCODE_NOERROR);
  EXPECT_EQ(Rdata(r.answer, "A"), Addresses(1, 3));
  for (const std::string& rec : r.answer) EXPECT_EQ(rec.rfind("echo-headless.default.svc.cluster.local. 5 A ", 0), 0u);

  ASSERT_TRUE(f.cluster->SetPodNotReady("default", "echo-1", 30'000'000'000).ok());
  EXPECT_EQ(Rdata(f.Ask("echo-headless.default.svc.cluster.local.", LDNS_RR_TYPE_A).answer, "A"),
            (std::vector<std::string>{"10.1.0.1", "10.1.0.3"}));
  // The ClusterIP name does not change with readiness.
  EXPECT_EQ(Rdata(f.Ask("echo.default.svc.cluster.local.", LDNS_RR_TYPE_A).answer, "A"),
            (std::vector<std::string>{f.ClusterIp()}));
}

TEST(ClusterDns, PublishNotReadyAddressesKeepsNotReadyEndpoints) {
  Fixture f(3, 5, /*publish_not_ready=*/true);
  ASSERT_TRUE(f.cluster->SetPodNotReady("default", "echo-1", 30'000'000'000).ok());
  EXPECT_EQ(Rdata(f.Ask("echo-headless.default.svc.cluster.local.", LDNS_RR_TYPE_A).answer, "A"), Addresses(1, 3));
}

TEST(ClusterDns, HeadlessWithoutReadyEndpointsIsNxDomain) {
  Fixture f(1);
  ASSERT_TRUE(f.cluster->SetPodNotReady("default", "echo-0", 30'000'000'000).ok());
  Reply r = f.Ask("echo-headless.default.svc.cluster.local.", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.rcode, LDNS_RCODE_NXDOMAIN);
  EXPECT_TRUE(r.answer.empty());
}

TEST(ClusterDns, SrvForNamedPorts) {
  Fixture f(2);
  Reply c = f.Ask("_grpc._tcp.echo.default.svc.cluster.local.", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(c.rcode, LDNS_RCODE_NOERROR);
  EXPECT_EQ(c.answer, (std::vector<std::string>{
                          "_grpc._tcp.echo.default.svc.cluster.local. 5 SRV 0 100 50051 echo.default.svc.cluster.local."}));
  EXPECT_EQ(c.additional, (std::vector<std::string>{"echo.default.svc.cluster.local. 5 A " + f.ClusterIp()}));

  Reply h = f.Ask("_grpc._tcp.echo-headless.default.svc.cluster.local.", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(Rdata(h.answer, "SRV"),
            (std::vector<std::string>{"0 50 50051 10-1-0-1.echo-headless.default.svc.cluster.local.",
                                      "0 50 50051 10-1-0-2.echo-headless.default.svc.cluster.local."}));
  std::vector<std::string> extra = h.additional;
  std::sort(extra.begin(), extra.end());
  EXPECT_EQ(extra, (std::vector<std::string>{"10-1-0-1.echo-headless.default.svc.cluster.local. 5 A 10.1.0.1",
                                             "10-1-0-2.echo-headless.default.svc.cluster.local. 5 A 10.1.0.2"}));
  // The SRV target names resolve.
  EXPECT_EQ(Rdata(f.Ask("10-1-0-2.echo-headless.default.svc.cluster.local.", LDNS_RR_TYPE_A).answer, "A"),
            (std::vector<std::string>{"10.1.0.2"}));
  // A port name or protocol the Service does not have.
  EXPECT_EQ(f.Ask("_http._tcp.echo.default.svc.cluster.local.", LDNS_RR_TYPE_SRV).rcode, LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(f.Ask("_grpc._udp.echo.default.svc.cluster.local.", LDNS_RR_TYPE_SRV).rcode, LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(f.Ask("_grpc._quic.echo.default.svc.cluster.local.", LDNS_RR_TYPE_SRV).rcode, LDNS_RCODE_NXDOMAIN);
}

TEST(ClusterDns, NxDomainAndNoDataCarryTheZoneSoa) {
  Fixture f(1);
  auto has_soa = [](const Reply& r) {
    return r.authority.size() == 1 && r.authority[0].rfind(kSoa, 0) == 0 &&
           absl::EndsWith(r.authority[0], " 7200 1800 86400 5");
  };
  Reply missing = f.Ask("nope.default.svc.cluster.local.", LDNS_RR_TYPE_A);
  EXPECT_EQ(missing.rcode, LDNS_RCODE_NXDOMAIN);
  EXPECT_TRUE(missing.aa);
  EXPECT_TRUE(missing.answer.empty());
  EXPECT_TRUE(has_soa(missing)) << ::testing::PrintToString(missing.authority);

  Reply no_ns = f.Ask("echo.elsewhere.svc.cluster.local.", LDNS_RR_TYPE_A);
  EXPECT_EQ(no_ns.rcode, LDNS_RCODE_NXDOMAIN);
  EXPECT_TRUE(has_soa(no_ns));

  // Existing names without records of the type: NOERROR, empty answer, SOA.
  for (const auto& [name, type] : std::vector<std::pair<std::string, ldns_rr_type>>{
           {"echo.default.svc.cluster.local.", LDNS_RR_TYPE_AAAA},
           {"echo.default.svc.cluster.local.", LDNS_RR_TYPE_TXT},
           {"default.svc.cluster.local.", LDNS_RR_TYPE_A},
           {"echo-headless.default.svc.cluster.local.", LDNS_RR_TYPE_AAAA}}) {
    Reply r = f.Ask(name, type);
    EXPECT_EQ(r.rcode, LDNS_RCODE_NOERROR) << name;
    EXPECT_TRUE(r.answer.empty()) << name;
    EXPECT_TRUE(has_soa(r)) << name << ::testing::PrintToString(r.authority);
  }
  Reply soa = f.Ask("cluster.local.", LDNS_RR_TYPE_SOA);
  ASSERT_EQ(soa.answer.size(), 1u);
  EXPECT_EQ(soa.answer[0].rfind(kSoa, 0), 0u);

  Reply outside = f.Ask("example.com.", LDNS_RR_TYPE_A);
  EXPECT_EQ(outside.rcode, LDNS_RCODE_REFUSED);
  EXPECT_FALSE(outside.aa);
}

TEST(ClusterDns, AnswersFollowServiceDeletion) {
  Fixture f(1);
  EXPECT_EQ(f.Ask("echo.default.svc.cluster.local.", LDNS_RR_TYPE_A).rcode, LDNS_RCODE_NOERROR);
  ASSERT_TRUE(f.cluster->Delete(ResourceKind::kService, "default", "echo").ok());
  EXPECT_EQ(f.Ask("echo.default.svc.cluster.local.", LDNS_RR_TYPE_A).rcode, LDNS_RCODE_NXDOMAIN);
}

TEST(ClusterDns, TtlIsConfigurable) {
  Fixture f(1, /*ttl=*/30);
  Reply r = f.Ask("echo.default.svc.cluster.local.", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.answer, (std::vector<std::string>{"echo.default.svc.cluster.local. 30 A " + f.ClusterIp()}));
  Reply n = f.Ask("nope.default.svc.cluster.local.", LDNS_RR_TYPE_A);
  ASSERT_EQ(n.authority.size(), 1u);
  EXPECT_TRUE(absl::EndsWith(n.authority[0], " 86400 30")) << n.authority[0];
  EXPECT_FALSE(Catalog::Create({.ttl_seconds = 3601}).ok());
}

TEST(ClusterDns, LongAnswerIsTruncatedOverUdpAndWholeOverTcp) {
  Fixture f(80);
  Reply udp = f.Ask("echo-headless.default.svc.cluster.local.", LDNS_RR_TYPE_A);
  EXPECT_TRUE(udp.tc);
  EXPECT_LE(udp.size, 512u);
  EXPECT_LT(udp.answer.size(), 80u);
  EXPECT_GT(udp.answer.size(), 0u);
  Reply tcp = f.Ask("echo-headless.default.svc.cluster.local.", LDNS_RR_TYPE_A, Transport::kTcp);
  EXPECT_FALSE(tcp.tc);
  EXPECT_EQ(Rdata(tcp.answer, "A"), Addresses(1, 80));
  // With EDNS the client's 4096-byte buffer holds all 80 over UDP.
  Reply edns = f.Ask("echo-headless.default.svc.cluster.local.", LDNS_RR_TYPE_A, Transport::kUdp, true);
  EXPECT_FALSE(edns.tc);
  EXPECT_TRUE(edns.edns);
  EXPECT_EQ(edns.answer.size(), 80u);
  EXPECT_GE(f.server->stats().truncated, 1u);
}

TEST(ClusterDns, NamesAreCaseInsensitiveAndAnswersKeepTheQuestionSpelling) {
  Fixture f(1);
  Reply r = f.Ask("Echo.DEFAULT.svc.Cluster.Local.", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.answer, (std::vector<std::string>{"Echo.DEFAULT.svc.Cluster.Local. 5 A " + f.ClusterIp()}));
}

TEST(ClusterDns, PodRecordsInExistingNamespaces) {
  Fixture f(1);
  EXPECT_EQ(Rdata(f.Ask("10-1-0-1.default.pod.cluster.local.", LDNS_RR_TYPE_A).answer, "A"),
            (std::vector<std::string>{"10.1.0.1"}));
  EXPECT_EQ(f.Ask("10-1-0-1.nowhere.pod.cluster.local.", LDNS_RR_TYPE_A).rcode, LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(f.Ask("not-an-ip.default.pod.cluster.local.", LDNS_RR_TYPE_A).rcode, LDNS_RCODE_NXDOMAIN);
}

TEST(ClusterDns, BadQueriesGetErrorsNamingTheirKind) {
  Fixture f(1);
  // Two questions: FORMERR.
  std::vector<uint8_t> q = MakeQuery("echo.default.svc.cluster.local.", LDNS_RR_TYPE_A);
  std::vector<uint8_t> two = q;
  two[5] = 2;  // QDCOUNT = 2, second question missing: does not parse
  Reply r = Exchange(f.server->port(), two, Transport::kUdp);
  ASSERT_TRUE(r.received);
  EXPECT_EQ(r.rcode, LDNS_RCODE_FORMERR);
  // Opcode STATUS (2): NOTIMP.
  std::vector<uint8_t> status = q;
  status[2] = static_cast<uint8_t>((status[2] & 0x87) | (2 << 3));
  EXPECT_EQ(Exchange(f.server->port(), status, Transport::kTcp).rcode, LDNS_RCODE_NOTIMPL);
  // Class CH: REFUSED.
  EXPECT_EQ(Exchange(f.server->port(), MakeQuery("echo.default.svc.cluster.local.", LDNS_RR_TYPE_A, false,
                                                 LDNS_RR_CLASS_CH),
                     Transport::kUdp)
                .rcode,
            LDNS_RCODE_REFUSED);
  EXPECT_GE(f.server->stats().malformed, 1u);
  // The server still answers afterwards.
  EXPECT_EQ(f.Ask("echo.default.svc.cluster.local.", LDNS_RR_TYPE_A).answer.size(), 1u);
}

TEST(ClusterDns, RefusesNonLoopbackUnlessAllowed) {
  auto catalog = Catalog::Create({});
  ASSERT_TRUE(catalog.ok());
  auto s = Server::Start({.listen = "0.0.0.0:0"}, *catalog);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("not a loopback address"), std::string::npos) << s.status();
  EXPECT_FALSE(Server::Start({.listen = "127.0.0.1:99999"}, *catalog).ok());
}

// --- c-ares: the resolver library gRPC's DNS resolver is built on -------------------------

struct CaresResult {
  bool done = false;
  int status = ARES_ENOTFOUND;
  std::vector<std::string> addresses;
};

std::vector<std::string> CaresLookup(uint16_t port, const std::string& name, int* status) {
  ares_channel channel = nullptr;
  ares_options opts{};
  opts.flags = ARES_FLAG_NOSEARCH;
  opts.timeout = 2000;
  opts.tries = 3;
  EXPECT_EQ(ares_init_options(&channel, &opts, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES), ARES_SUCCESS);
  EXPECT_EQ(ares_set_servers_ports_csv(channel, absl::StrCat("127.0.0.1:", port).c_str()), ARES_SUCCESS);
  CaresResult result;
  ares_query(
      channel, name.c_str(), 1 /* C_IN */, 1 /* T_A */,
      [](void* arg, int st, int, unsigned char* abuf, int alen) {
        auto* r = static_cast<CaresResult*>(arg);
        r->done = true;
        r->status = st;
        if (st != ARES_SUCCESS) return;
        ares_addrttl ttls[256];
        int n = 256;
        hostent* host = nullptr;
        r->status = ares_parse_a_reply(abuf, alen, &host, ttls, &n);
        if (host != nullptr) ares_free_hostent(host);
        for (int i = 0; r->status == ARES_SUCCESS && i < n; ++i) {
          char text[INET_ADDRSTRLEN];
          inet_ntop(AF_INET, &ttls[i].ipaddr, text, sizeof(text));
          r->addresses.push_back(text);
        }
      },
      &result);
  while (!result.done) {
    fd_set read_fds, write_fds;
    FD_ZERO(&read_fds);
    FD_ZERO(&write_fds);
    int nfds = ares_fds(channel, &read_fds, &write_fds);
    if (nfds == 0) break;
    timeval tv{};
    timeval* wait = ares_timeout(channel, nullptr, &tv);
    select(nfds, &read_fds, &write_fds, nullptr, wait);
    ares_process(channel, &read_fds, &write_fds);
  }
  ares_destroy(channel);
  *status = result.status;
  std::sort(result.addresses.begin(), result.addresses.end());
  return result.addresses;
}

TEST(ClusterDns, CaresClientSeesAScaleUp) {
  ASSERT_EQ(ares_library_init(ARES_LIB_INIT_ALL), ARES_SUCCESS);
  Fixture f(3);
  int status = 0;
  EXPECT_EQ(CaresLookup(f.server->port(), "echo-headless.default.svc.cluster.local", &status), Addresses(1, 3));
  EXPECT_EQ(status, ARES_SUCCESS);
  // Scale to 40: the new pods appear once ready, and 40 records no longer fit 512 bytes, so
  // c-ares gets TC over UDP and asks again over TCP.
  ASSERT_TRUE(f.cluster->Scale("default", "echo", 40).ok());
  EXPECT_EQ(CaresLookup(f.server->port(), "echo-headless.default.svc.cluster.local", &status), Addresses(1, 3))
      << "pods not ready yet must not be published";
  f.Settle();
  EXPECT_EQ(CaresLookup(f.server->port(), "echo-headless.default.svc.cluster.local", &status), Addresses(1, 40));
  EXPECT_EQ(status, ARES_SUCCESS);
  EXPECT_GE(f.server->stats().tcp_queries, 1u);
  EXPECT_EQ(CaresLookup(f.server->port(), "nope.default.svc.cluster.local", &status), std::vector<std::string>{});
  EXPECT_EQ(status, ARES_ENOTFOUND);
  ares_library_cleanup();
}

// --- k8slb-fakeapi --dns-listen ---------------------------------------------------------

TEST(ClusterDnsBinary, FakeApiServesDnsForItsScenario) {
  auto proc = testing::Subprocess::Start({K8SLB_FAKEAPI_BINARY, "--http", "--listen", "127.0.0.1:0", "--allow-loopback-endpoints", "--scenario",
                                          K8SLB_SOURCE_DIR "/scenarios/steady.yaml", "--dns-listen",
                                          "127.0.0.1:0", "--dns-ttl", "7"});
  ASSERT_TRUE(proc.ok()) << proc.status();
  ASSERT_TRUE((*proc)->WaitForOutput("(dns: 127.0.0.1:", std::chrono::seconds(30))) << (*proc)->err();
  std::string out = (*proc)->out();
  size_t at = out.find("(dns: 127.0.0.1:") + std::string("(dns: 127.0.0.1:").size();
  const auto port = static_cast<uint16_t>(std::stoi(out.substr(at)));
  Reply r = Exchange(port, MakeQuery("echo.default.svc.cluster.local.", LDNS_RR_TYPE_A), Transport::kTcp);
  EXPECT_EQ(r.rcode, LDNS_RCODE_NOERROR);
  ASSERT_EQ(r.answer.size(), 1u);
  EXPECT_EQ(r.answer[0].rfind("echo.default.svc.cluster.local. 7 A ", 0), 0u) << r.answer[0];
  (*proc)->Signal(SIGTERM);
  EXPECT_EQ((*proc)->Wait(std::chrono::seconds(30)).exit_code, 0);
}

TEST(ClusterDnsBinary, BadDnsFlagsExitTwoNamingTheFlag) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--dns-ttl", "3601"}, {"--dns-ttl", "-1"}, {"--dns-listen", "nonsense"}, {"--dns-listen", "0.0.0.0:0"}}) {
    std::vector<std::string> argv = {K8SLB_FAKEAPI_BINARY, "--http", "--listen", "127.0.0.1:0"};
    if (args[0] == "--dns-ttl") argv.insert(argv.end(), {"--dns-listen", "127.0.0.1:0"});
    argv.insert(argv.end(), args.begin(), args.end());
    testing::ProcessResult r = testing::RunProcess(argv, {}, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_NE(r.err.find(args[1] == "0.0.0.0:0" ? "loopback" : "--dns-"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace k8slb::fake::dns
