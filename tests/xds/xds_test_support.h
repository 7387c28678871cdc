// Helpers for the k8slb-xds tests: echo "pods" on 127.0.2.x sharing one port (as the pods of one
// EndpointSlice do), EndpointSlice JSON for them, and client processes (grpc++, Node, Python)
// driven line by line. Every wait is bounded.
#ifndef K8SLB_TESTS_XDS_XDS_TEST_SUPPORT_H_
#define K8SLB_TESTS_XDS_XDS_TEST_SUPPORT_H_

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "echo_server/echo_server.h"

namespace k8slb::xds::testing {

// Echo servers echo-0..N-1 on 127.0.2.1..N, all on one port. The port is chosen by binding
// 127.0.2.1:0 first, so concurrent test processes (which all bind 127.0.2.1 first) never pick
// the same port and never collide on the other addresses.
class EchoPods {
 public:
  struct Pod {
    std::string name;
    std::string address;
    std::string zone;
  };
  // zones[i] is pod i's zone.
  explicit EchoPods(const std::vector<std::string>& zones);
  ~EchoPods();
  int port() const { return port_; }
  const Pod& pod(size_t i) const { return pods_.at(i); }
  size_t size() const { return pods_.size(); }
  // Stops pod i at once (a crash as clients see it); its slice entry stays.
  void Kill(size_t i);
  bool ok() const { return ok_; }

 private:
  std::vector<Pod> pods_;
  std::vector<std::unique_ptr<echo::EchoServer>> servers_;
  int port_ = 0;
  bool ok_ = false;
};

struct SliceEndpoint {
  size_t pod;  // index into EchoPods
  std::optional<bool> ready = true;
  std::optional<bool> serving = true;
  std::optional<bool> terminating = false;
};

// An EndpointSlice of Service `service` (port name "grpc") listing `endpoints`.
nlohmann::json SliceJson(const std::string& name, const std::string& service, const EchoPods& pods,
                         const std::vector<SliceEndpoint>& endpoints);

// A child process speaking the line protocol of tests/xds/xds_test_client.cc. stderr goes to a
// file shown by Log(). The destructor kills its process group.
class ClientProcess {
 public:
  ClientProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env);
  ~ClientProcess();
  ClientProcess(const ClientProcess&) = delete;
  ClientProcess& operator=(const ClientProcess&) = delete;

  // Sends `line`, returns the JSON answer, or nullopt after `timeout` / if the process died.
  std::optional<nlohmann::json> Command(const std::string& line, std::chrono::milliseconds timeout);
  std::string Log() const;

 private:
  int pid_ = -1;
  int in_fd_ = -1;   // child's stdin
  int out_fd_ = -1;  // child's stdout
  std::string buffer_;
  std::string log_file_;
};

// Which pods answered in a "rpc N" result, and how many failed.
struct Round {
  std::map<std::string, int> pods;
  int ok = 0;
  int failed = 0;
  std::vector<std::string> errors;
  std::set<std::string> PodSet() const;
};
std::optional<Round> ParseRound(const std::optional<nlohmann::json>& answer);

// Sends rounds of `per_round` RPCs until one has no failure and exactly `expected` pods, for at
// most `timeout`. Returns the rounds sent (the last is the converged one when it succeeded).
std::vector<Round> Converge(ClientProcess& client, const std::set<std::string>& expected, int per_round,
                            std::chrono::milliseconds timeout, const std::string& command = "rpc");

std::string Describe(const std::vector<Round>& rounds);
std::string MakeTempDir(const std::string& tag);
void WriteFile(const std::string& path, const std::string& text);

}  // namespace k8slb::xds::testing

#endif  // K8SLB_TESTS_XDS_XDS_TEST_SUPPORT_H_
