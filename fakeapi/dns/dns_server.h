// Cluster DNS over UDP and TCP (RFC 1035 §4.2, RFC 7766) on one address, answering from a
// Catalog (dns_catalog.h). The wire format is parsed and written by ldns.
//
// Behaviour a client sees: one question per query (else FORMERR), opcode QUERY only (else
// NOTIMP), class IN (else REFUSED); messages that do not parse get FORMERR with the query's id,
// responses and fragments shorter than a header are dropped. An OPT record in the query is
// answered with one (UDP payload 4096). Over UDP an answer longer than the client's payload size
// (512 without EDNS) is cut to the records that fit, additional section first, with TC set, so the
// client retries over TCP; TCP answers are whole (up to 65535 bytes) and a connection may carry
// many queries (idle connections close after `tcp_idle_timeout`).
//
// Threading: Start() and Stop() from any one thread; stats() from any thread. The server runs
// one I/O thread of its own; Stop() (also run by the destructor) joins it and is idempotent.
#ifndef K8SLB_FAKEAPI_DNS_DNS_SERVER_H_
#define K8SLB_FAKEAPI_DNS_DNS_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "fakeapi/dns/dns_catalog.h"

namespace k8slb::fake::dns {

struct ServerOptions {
  // HOST:PORT (or [V6]:PORT); port 0 picks one free for both UDP and TCP.
  std::string listen = "127.0.0.1:0";
  // Only loopback addresses unless set (a private network namespace's pod addresses need it).
  bool allow_non_loopback = false;
  size_t max_tcp_connections = 64;
  std::chrono::milliseconds tcp_idle_timeout{10000};
};

struct ServerStats {
  uint64_t udp_queries = 0;
  uint64_t tcp_queries = 0;
  uint64_t truncated = 0;  // UDP answers sent with TC
  uint64_t malformed = 0;  // FORMERR answers and dropped datagrams
};

enum class Transport { kUdp, kTcp };

// The response to one query message, cut to the client's buffer over UDP (with TC, `*truncated`
// set). Empty: send nothing (not a query, or too short to answer).
std::vector<uint8_t> AnswerMessage(const Catalog& catalog, const uint8_t* query, size_t size, Transport transport,
                                   bool* truncated);

class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options, std::shared_ptr<const Catalog> catalog);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::string address() const;  // "127.0.0.1:PORT", "[::1]:PORT"
  uint16_t port() const { return port_; }
  ServerStats stats() const;
  void Stop();

 private:
  Server(ServerOptions options, std::shared_ptr<const Catalog> catalog);
  void Loop();

  const ServerOptions options_;
  const std::shared_ptr<const Catalog> catalog_;
  std::string host_;
  uint16_t port_ = 0;
  int udp_fd_ = -1;
  int tcp_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> udp_queries_{0};
  std::atomic<uint64_t> tcp_queries_{0};
  std::atomic<uint64_t> truncated_{0};
  std::atomic<uint64_t> malformed_{0};
};

}  // namespace k8slb::fake::dns

#endif  // K8SLB_FAKEAPI_DNS_DNS_SERVER_H_
