#include "xds_test_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace k8slb::xds::testing {

EchoPods::EchoPods(const std::vector<std::string>& zones) {
  for (size_t i = 0; i < zones.size(); ++i) {
    echo::EchoServerOptions o;
    o.listen = "127.0.2." + std::to_string(i + 1) + ":" + std::to_string(port_);
    o.pod_name = "echo-" + std::to_string(i);
    o.zone = zones[i];
    auto server = echo::EchoServer::Start(o);
    if (!server.ok()) return;
    if (i == 0) port_ = (*server)->port();
    pods_.push_back({o.pod_name, "127.0.2." + std::to_string(i + 1), zones[i]});
    servers_.push_back(*std::move(server));
  }
  ok_ = true;
}

EchoPods::~EchoPods() {
  for (auto& server : servers_) {
    if (server) server->Kill();
  }
}

void EchoPods::Kill(size_t i) {
  if (servers_.at(i)) servers_[i]->Kill();
  servers_[i].reset();
}

nlohmann::json SliceJson(const std::string& name, const std::string& service, const EchoPods& pods,
                         const std::vector<SliceEndpoint>& endpoints) {
  nlohmann::json list = nlohmann::json::array();
  for (const SliceEndpoint& e : endpoints) {
    const auto& pod = pods.pod(e.pod);
    nlohmann::json conditions = nlohmann::json::object();
    if (e.ready) conditions["ready"] = *e.ready;
    if (e.serving) conditions["serving"] = *e.serving;
    if (e.terminating) conditions["terminating"] = *e.terminating;
    list.push_back({{"addresses", {pod.address}},
                    {"conditions", conditions},
                    {"zone", pod.zone},
                    {"targetRef", {{"kind", "Pod"}, {"namespace", "default"}, {"name", pod.name}}}});
  }
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"kubernetes.io/service-name", service}}}}},
          {"addressType", "IPv4"},
          {"ports", {{{"name", "grpc"}, {"port", pods.port()}, {"protocol", "TCP"}}}},
          {"endpoints", list}};
}

ClientProcess::ClientProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  log_file_ = MakeTempDir("client") + "/stderr";
  int to_child[2];
  int from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) return;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], 1);
    int log = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(log, 2);
    ::close(to_child[1]);
    ::close(from_child[0]);
    ::setpgid(0, 0);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  in_fd_ = to_child[1];
  out_fd_ = from_child[0];
}

ClientProcess::~ClientProcess() {
  if (in_fd_ >= 0) ::close(in_fd_);
  if (out_fd_ >= 0) ::close(out_fd_);
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

std::optional<nlohmann::json> ClientProcess::Command(const std::string& line, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  std::string text = line + "\n";
  if (::write(in_fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t eol = buffer_.find('\n');
    if (eol != std::string::npos) {
      std::string answer = buffer_.substr(0, eol);
      buffer_.erase(0, eol + 1);
      auto json = nlohmann::json::parse(answer, nullptr, false);
      if (json.is_discarded()) continue;  // a stray non-JSON line (a library's notice)
      return json;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd fd{.fd = out_fd_, .events = POLLIN, .revents = 0};
    int r = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (r <= 0) continue;
    char chunk[4096];
    ssize_t n = ::read(out_fd_, chunk, sizeof chunk);
    if (n <= 0) return std::nullopt;  // the process exited
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

std::string ClientProcess::Log() const {
  std::ifstream in(log_file_);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  return text.size() > 4000 ? "..." + text.substr(text.size() - 4000) : text;
}

std::set<std::string> Round::PodSet() const {
  std::set<std::string> out;
  for (const auto& [pod, n] : pods) out.insert(pod);
  return out;
}

std::optional<Round> ParseRound(const std::optional<nlohmann::json>& answer) {
  if (!answer || !answer->contains("ok")) return std::nullopt;
  Round round;
  round.ok = (*answer)["ok"].get<int>();
  round.failed = (*answer)["failed"].get<int>();
  for (auto& [pod, n] : (*answer)["pods"].items()) round.pods[pod] = n.get<int>();
  for (auto& e : (*answer)["errors"]) round.errors.push_back(e.get<std::string>());
  return round;
}

std::vector<Round> Converge(ClientProcess& client, const std::set<std::string>& expected, int per_round,
                            std::chrono::milliseconds timeout, const std::string& command) {
  std::vector<Round> rounds;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto round = ParseRound(client.Command(command + " " + std::to_string(per_round), std::chrono::seconds(60)));
    if (!round) break;
    rounds.push_back(*round);
    if (round->failed == 0 && round->PodSet() == expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return rounds;
}

std::string Describe(const std::vector<Round>& rounds) {
  std::ostringstream out;
  out << rounds.size() << " rounds";
  size_t first = rounds.size() > 4 ? rounds.size() - 4 : 0;
  for (size_t i = first; i < rounds.size(); ++i) {
    out << "\n  round " << i << ": ok " << rounds[i].ok << " failed " << rounds[i].failed << " pods {";
    for (const auto& [pod, n] : rounds[i].pods) out << pod << ":" << n << " ";
    out << "}";
    for (const auto& e : rounds[i].errors) out << "\n    error " << e;
  }
  return out.str();
}

std::string MakeTempDir(const std::string& tag) {
  std::string pattern = "/tmp/k8slb-xds-" + tag + "-XXXXXX";
  char* dir = ::mkdtemp(pattern.data());
  return dir ? std::string(dir) : std::string("/tmp");
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

}  // namespace k8slb::xds::testing
