#include "fakeapi/dns/dns_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

// ldns/common.h defines bool, true and false as macros (true = int 1) unless stdbool.h came first.
#include <stdbool.h>  // NOLINT(modernize-deprecated-headers)
#include <ldns/ldns.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "input/numeric_flag.h"

namespace k8slb::fake::dns {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr uint16_t kEdnsPayload = 4096;  // what we advertise and the most we send over UDP
constexpr size_t kMaxTcpMessage = 65535;
constexpr size_t kMaxTcpPending = 1 << 20;  // unsent bytes per connection before reading pauses

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;
struct RrFree {
  void operator()(ldns_rr* r) const { ldns_rr_free(r); }
};
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;

// The catalog's records as ldns RRs. A record that ldns cannot read is a bug in the catalog;
// it is left out rather than sending a malformed answer.
std::vector<RrPtr> ToRrs(const std::vector<Record>& records) {
  std::vector<RrPtr> out;
  for (const Record& r : records) {
    const char* type = r.type == kTypeA      ? "A"
                       : r.type == kTypeAaaa ? "AAAA"
                       : r.type == kTypeSrv  ? "SRV"
                       : r.type == kTypeSoa  ? "SOA"
                       : r.type == kTypeNs   ? "NS"
                                             : "CNAME";
    const std::string text = absl::StrCat(r.owner, " ", r.ttl, " IN ", type, " ", r.rdata);
    ldns_rr* rr = nullptr;
    if (ldns_rr_new_frm_str(&rr, text.c_str(), r.ttl, nullptr, nullptr) == LDNS_STATUS_OK) out.emplace_back(rr);
  }
  return out;
}

struct Header {
  uint16_t id = 0;
  ldns_pkt_opcode opcode = LDNS_PACKET_QUERY;
  bool rd = false;
  bool edns = false;
};

// One encoding of the response with the first `answers` answer records, the authority section
// and (if `with_additional`) the additional section.
std::vector<uint8_t> Encode(const Header& h, Rcode rcode, bool aa, bool tc, const ldns_rr* question,
                            const std::vector<RrPtr>& answer, size_t answers, const std::vector<RrPtr>& authority,
                            const std::vector<RrPtr>& additional, bool with_additional) {
  PktPtr pkt(ldns_pkt_new());
  ldns_pkt_set_id(pkt.get(), h.id);
  ldns_pkt_set_qr(pkt.get(), true);
  ldns_pkt_set_opcode(pkt.get(), h.opcode);
  ldns_pkt_set_rd(pkt.get(), h.rd);
  ldns_pkt_set_aa(pkt.get(), aa);
  ldns_pkt_set_tc(pkt.get(), tc);
  ldns_pkt_set_rcode(pkt.get(), static_cast<uint8_t>(rcode));
  if (question != nullptr) ldns_pkt_push_rr(pkt.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(question));
  for (size_t i = 0; i < answers; ++i) ldns_pkt_push_rr(pkt.get(), LDNS_SECTION_ANSWER, ldns_rr_clone(answer[i].get()));
  for (const RrPtr& rr : authority) ldns_pkt_push_rr(pkt.get(), LDNS_SECTION_AUTHORITY, ldns_rr_clone(rr.get()));
  if (with_additional) {
    for (const RrPtr& rr : additional) ldns_pkt_push_rr(pkt.get(), LDNS_SECTION_ADDITIONAL, ldns_rr_clone(rr.get()));
  }
  if (h.edns) ldns_pkt_set_edns_udp_size(pkt.get(), kEdnsPayload);
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt.get(), &size) != LDNS_STATUS_OK) return {};
  std::vector<uint8_t> out(wire, wire + size);
  free(wire);  // allocated by ldns with malloc
  return out;
}

std::vector<uint8_t> ErrorOnly(const Header& h, Rcode rcode, const ldns_rr* question) {
  return Encode(h, rcode, false, false, question, {}, 0, {}, {}, false);
}

bool IsLoopback(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in&>(addr).sin_addr.s_addr) >> 24) == 127;
  }
  const auto& a6 = reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(&a6);
}

void SetPort(sockaddr_storage& addr, uint16_t port) {
  if (addr.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in&>(addr).sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6&>(addr).sin6_port = htons(port);
  }
}

uint16_t GetPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return addr.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in&>(addr).sin_port)
                                   : ntohs(reinterpret_cast<sockaddr_in6&>(addr).sin6_port);
}

int OpenSocket(const sockaddr_storage& addr, int type) {
  int fd = socket(addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const socklen_t len = addr.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 || (type == SOCK_STREAM && listen(fd, 64) != 0)) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

}  // namespace

std::vector<uint8_t> AnswerMessage(const Catalog& catalog, const uint8_t* query, size_t size, Transport transport,
                                   bool* truncated) {
  *truncated = false;
  if (size < kHeaderSize || (query[2] & 0x80) != 0) return {};  // no header, or a response
  Header h;
  h.id = static_cast<uint16_t>((query[0] << 8) | query[1]);
  h.opcode = static_cast<ldns_pkt_opcode>((query[2] >> 3) & 0x0f);
  h.rd = (query[2] & 0x01) != 0;
  ldns_pkt* parsed = nullptr;
  if (ldns_wire2pkt(&parsed, query, size) != LDNS_STATUS_OK) return ErrorOnly(h, Rcode::kFormErr, nullptr);
  PktPtr pkt(parsed);
  h.edns = ldns_pkt_edns(pkt.get());
  // The client's buffer: over UDP 512 bytes without EDNS (RFC 1035 §2.3.4), else its OPT payload
  // size (RFC 6891 §6.2.5) up to what we advertise.
  size_t max_size = kMaxTcpMessage;
  if (transport == Transport::kUdp) {
    max_size = h.edns ? std::clamp<size_t>(ldns_pkt_edns_udp_size(pkt.get()), 512, kEdnsPayload) : 512;
  }
  if (h.opcode != LDNS_PACKET_QUERY) return ErrorOnly(h, Rcode::kNotImp, nullptr);
  ldns_rr_list* questions = ldns_pkt_question(pkt.get());
  if (ldns_rr_list_rr_count(questions) != 1) return ErrorOnly(h, Rcode::kFormErr, nullptr);
  const ldns_rr* q = ldns_rr_list_rr(questions, 0);
  if (ldns_rr_get_class(q) != LDNS_RR_CLASS_IN) return ErrorOnly(h, Rcode::kRefused, q);

  char* owner = ldns_rdf2str(ldns_rr_owner(q));
  if (owner == nullptr) return ErrorOnly(h, Rcode::kServFail, q);
  Answer answer = catalog.Resolve(owner, static_cast<uint16_t>(ldns_rr_get_type(q)));
  free(owner);  // allocated by ldns with malloc

  const std::vector<RrPtr> an = ToRrs(answer.answer), ns = ToRrs(answer.authority), ar = ToRrs(answer.additional);
  std::vector<uint8_t> out = Encode(h, answer.rcode, answer.authoritative, false, q, an, an.size(), ns, ar, true);
  if (out.size() <= max_size) return out;
  // Too long for the client's buffer: drop the additional section, then as many answers as needed
  // (the largest prefix that fits), and set TC so the client retries over TCP.
  *truncated = true;
  size_t lo = 0, hi = an.size();
  while (lo < hi) {
    size_t mid = (lo + hi + 1) / 2;
    if (Encode(h, answer.rcode, answer.authoritative, true, q, an, mid, ns, ar, false).size() <= max_size) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return Encode(h, answer.rcode, answer.authoritative, true, q, an, lo, ns, ar, false);
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options, std::shared_ptr<const Catalog> catalog) {
  if (catalog == nullptr) return absl::InvalidArgumentError("dns server: no catalog");
  absl::StatusOr<input::HostPort> hp = input::ParseHostPortFlag("--dns-listen", options.listen);
  if (!hp.ok()) return hp.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(hp->port);
  if (int rc = getaddrinfo(hp->host.empty() ? nullptr : hp->host.c_str(), port_text.c_str(), &hints, &found);
      rc != 0 || found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dns-listen ", options.listen, ": cannot resolve host: ", gai_strerror(rc)));
  }
  sockaddr_storage addr{};
  std::memcpy(&addr, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (!options.allow_non_loopback && !IsLoopback(addr)) {
    return absl::InvalidArgumentError(absl::StrCat("--dns-listen ", options.listen,
                                                   ": not a loopback address (allow it explicitly to serve there)"));
  }
  std::unique_ptr<Server> server(new Server(std::move(options), std::move(catalog)));
  char host[INET6_ADDRSTRLEN] = {};
  inet_ntop(addr.ss_family,
            addr.ss_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in&>(addr).sin_addr)
                                      : static_cast<const void*>(&reinterpret_cast<sockaddr_in6&>(addr).sin6_addr),
            host, sizeof(host));
  server->host_ = host;
  // UDP and TCP on one port: with port 0 the kernel picks the UDP port, which TCP may find taken;
  // then try again with another.
  for (int attempt = 0; attempt < 16; ++attempt) {
    server->udp_fd_ = OpenSocket(addr, SOCK_DGRAM);
    if (server->udp_fd_ < 0) break;
    sockaddr_storage tcp_addr = addr;
    SetPort(tcp_addr, GetPort(server->udp_fd_));
    server->tcp_fd_ = OpenSocket(tcp_addr, SOCK_STREAM);
    if (server->tcp_fd_ >= 0) break;
    close(server->udp_fd_);
    server->udp_fd_ = -1;
    if (hp->port != 0) break;
  }
  if (server->udp_fd_ < 0 || server->tcp_fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("--dns-listen ", server->options_.listen, ": cannot listen on UDP and TCP: ", strerror(errno)));
  }
  server->port_ = GetPort(server->udp_fd_);
  if (pipe2(server->wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError(absl::StrCat("dns server: pipe: ", strerror(errno)));
  }
  server->thread_ = std::thread([s = server.get()]() { s->Loop(); });
  return server;
}

Server::Server(ServerOptions options, std::shared_ptr<const Catalog> catalog)
    : options_(std::move(options)), catalog_(std::move(catalog)) {}

Server::~Server() {
  Stop();
  for (int fd : {udp_fd_, tcp_fd_, wake_[0], wake_[1]}) {
    if (fd >= 0) close(fd);
  }
}

std::string Server::address() const {
  return host_.find(':') != std::string::npos ? absl::StrCat("[", host_, "]:", port_) : absl::StrCat(host_, ":", port_);
}

ServerStats Server::stats() const {
  return ServerStats{udp_queries_.load(), tcp_queries_.load(), truncated_.load(), malformed_.load()};
}

void Server::Stop() {
  if (stopped_.exchange(true)) return;
  if (wake_[1] >= 0) {
    char c = 1;
    [[maybe_unused]] ssize_t n = write(wake_[1], &c, 1);
  }
  if (thread_.joinable()) thread_.join();
}

void Server::Loop() {
  struct Connection {
    int fd = -1;
    std::vector<uint8_t> in;
    std::vector<uint8_t> out;
    size_t out_sent = 0;
    std::chrono::steady_clock::time_point last_active;
  };
  std::vector<Connection> conns;
  std::vector<pollfd> fds;
  std::vector<uint8_t> buf(kMaxTcpMessage + 2);
  auto answer = [this](const uint8_t* data, size_t size, Transport transport) {
    bool truncated = false;
    std::vector<uint8_t> out = AnswerMessage(*catalog_, data, size, transport, &truncated);
    if (truncated) ++truncated_;
    if (out.empty() || (out.size() >= 4 && (out[3] & 0x0f) == static_cast<uint8_t>(Rcode::kFormErr))) ++malformed_;
    return out;
  };
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    fds.clear();
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({udp_fd_, POLLIN, 0});
    fds.push_back({tcp_fd_, static_cast<short>(conns.size() < options_.max_tcp_connections ? POLLIN : 0), 0});
    int timeout_ms = -1;
    for (const Connection& c : conns) {
      short events = 0;
      if (c.out.size() - c.out_sent < kMaxTcpPending) events |= POLLIN;
      if (c.out_sent < c.out.size()) events |= POLLOUT;
      fds.push_back({c.fd, events, 0});
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.last_active + options_.tcp_idle_timeout - now);
      int ms = static_cast<int>(std::max<int64_t>(0, left.count()) + 1);
      timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) return;
    if (fds[1].revents & POLLIN) {
      // A bounded batch per wake-up, so TCP clients are served between UDP bursts.
      for (int i = 0; i < 64; ++i) {
        sockaddr_storage from{};
        socklen_t from_len = sizeof(from);
        ssize_t n = recvfrom(udp_fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n < 0) break;
        ++udp_queries_;
        std::vector<uint8_t> out = answer(buf.data(), static_cast<size_t>(n), Transport::kUdp);
        if (!out.empty()) {
          sendto(udp_fd_, out.data(), out.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), from_len);
        }
      }
    }
    if (fds[2].revents & POLLIN) {
      while (conns.size() < options_.max_tcp_connections) {
        int fd = accept4(tcp_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        conns.push_back(Connection{fd, {}, {}, 0, now});
      }
    }
    for (size_t i = 0; i < conns.size(); ++i) {
      if (3 + i >= fds.size()) break;  // accepted in this round: polled next round
      Connection& c = conns[i];
      const short rev = fds[3 + i].revents;
      bool close_it = (rev & (POLLERR | POLLNVAL)) != 0;
      if (!close_it && (rev & (POLLIN | POLLHUP))) {
        ssize_t n = recv(c.fd, buf.data(), buf.size(), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
          close_it = true;
        } else if (n > 0) {
          c.last_active = now;
          c.in.insert(c.in.end(), buf.begin(), buf.begin() + n);
          // Each message is a 2-byte length and the message (RFC 1035 §4.2.2).
          size_t at = 0;
          while (c.in.size() - at >= 2) {
            size_t len = (static_cast<size_t>(c.in[at]) << 8) | c.in[at + 1];
            if (c.in.size() - at - 2 < len) break;
            ++tcp_queries_;
            std::vector<uint8_t> out = answer(c.in.data() + at + 2, len, Transport::kTcp);
            at += 2 + len;
            if (out.empty()) continue;
            c.out.push_back(static_cast<uint8_t>(out.size() >> 8));
            c.out.push_back(static_cast<uint8_t>(out.size() & 0xff));
            c.out.insert(c.out.end(), out.begin(), out.end());
          }
          c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(at));
        }
      }
      if (!close_it && c.out_sent < c.out.size()) {
        ssize_t n = send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
          close_it = true;
        } else if (n > 0) {
          c.out_sent += static_cast<size_t>(n);
          c.last_active = now;
          if (c.out_sent == c.out.size()) {
            c.out.clear();
            c.out_sent = 0;
          }
        }
      }
      if (!close_it && now - c.last_active >= options_.tcp_idle_timeout) close_it = true;
      if (close_it) {
        close(c.fd);
        c.fd = -1;
      }
    }
    conns.erase(std::remove_if(conns.begin(), conns.end(), [](const Connection& c) { return c.fd < 0; }), conns.end());
  }
}

}  // namespace k8slb::fake::dns
