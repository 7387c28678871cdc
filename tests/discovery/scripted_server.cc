#include "scripted_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace k8slb::testing {
namespace {

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string PercentDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 410: return "Gone";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

}  // namespace

std::string HttpRequest::Query(const std::string& key) const {
  auto it = query.find(key);
  return it == query.end() ? std::string() : it->second;
}

std::string HttpRequest::Authorization() const {
  auto it = headers.find("authorization");
  return it == headers.end() ? std::string() : it->second;
}

bool ResponseWriter::WriteAll(std::string_view data) {
  if (gone_ || closed_) return false;
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      gone_ = true;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void ResponseWriter::Send(int status, std::string_view body, std::string_view content_type,
                          const std::vector<std::pair<std::string, std::string>>& extra_headers) {
  responded_ = true;
  std::string head = absl::StrCat("HTTP/1.1 ", status, " ", Reason(status),
                                  "\r\nContent-Type: ", std::string(content_type),
                                  "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n");
  for (const auto& [k, v] : extra_headers) absl::StrAppend(&head, k, ": ", v, "\r\n");
  head += "\r\n";
  WriteAll(head);
  WriteAll(body);
}

void ResponseWriter::StartStream(int status, std::string_view content_type) {
  responded_ = true;
  WriteAll(absl::StrCat("HTTP/1.1 ", status, " ", Reason(status), "\r\nContent-Type: ",
                        std::string(content_type),
                        "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"));
}

bool ResponseWriter::Chunk(std::string_view data) {
  if (data.empty()) return !gone_;
  std::ostringstream size;
  size << std::hex << data.size();
  return WriteAll(size.str() + "\r\n" + std::string(data) + "\r\n");
}

void ResponseWriter::EndStream() {
  WriteAll("0\r\n\r\n");
  closed_ = true;
}

void ResponseWriter::Abort() {
  ::shutdown(fd_, SHUT_RDWR);
  closed_ = true;
}

bool ResponseWriter::SleepFor(std::chrono::milliseconds d) {
  const int64_t end = SteadyNanos() + std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  while (true) {
    if (stopping_->load() || gone_) return false;
    const int64_t left_ms = (end - SteadyNanos()) / 1000000;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left_ms, 0, 10)));
    if (r > 0) {
      char buf[256];
      ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        gone_ = true;
        return false;
      }
    }
    if (left_ms <= 0) return true;
  }
}

ScriptedServer::ScriptedServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    throw std::runtime_error("scripted server: bind/listen on 127.0.0.1:0 failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

ScriptedServer::~ScriptedServer() { Stop(); }

std::string ScriptedServer::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

void ScriptedServer::Stop() {
  if (stopping_.exchange(true)) {
    if (accept_thread_.joinable()) accept_thread_.join();
    return;
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  std::list<std::thread> connections;
  {
    absl::MutexLock lock(&mu_);
    connections.swap(connections_);
  }
  for (auto& t : connections) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void ScriptedServer::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 10) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    absl::MutexLock lock(&mu_);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

void ScriptedServer::Serve(int fd) {
  std::string buf;
  char tmp[4096];
  while (buf.find("\r\n\r\n") == std::string::npos && !stopping_.load()) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10) <= 0) continue;
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) break;
    buf.append(tmp, static_cast<size_t>(n));
    if (buf.size() > (1 << 20)) break;
  }
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string::npos) {
    ::close(fd);
    return;
  }
  HttpRequest req;
  req.received_nanos = SteadyNanos();
  std::vector<std::string> lines = absl::StrSplit(buf.substr(0, end), "\r\n");
  std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
  if (first.size() >= 2) {
    req.method = first[0];
    req.target = first[1];
  }
  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) {
    for (absl::string_view kv : absl::StrSplit(req.target.substr(q + 1), '&', absl::SkipEmpty())) {
      size_t eq = kv.find('=');
      req.query[PercentDecode(kv.substr(0, eq))] =
          eq == std::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1));
    }
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    req.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back(req);
  }
  ResponseWriter w(fd, &stopping_);
  handler_(req, w);
  if (!w.responded()) w.Send(500, "{\"kind\":\"Status\",\"code\":500,\"message\":\"no script\"}");
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

std::vector<HttpRequest> ScriptedServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

size_t ScriptedServer::request_count() const {
  absl::MutexLock lock(&mu_);
  return requests_.size();
}

bool ScriptedServer::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return requests_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::FromChrono(timeout));
}

// --- SliceApiModel ------------------------------------------------------------------------------

std::string SliceJson(const std::string& name, const std::string& service, uint64_t rv,
                      const std::vector<FakeEndpoint>& endpoints, int port,
                      const std::string& port_name, bool with_type_meta) {
  nlohmann::json j;
  if (with_type_meta) {
    j["kind"] = "EndpointSlice";
    j["apiVersion"] = "discovery.k8s.io/v1";
  }
  j["metadata"] = {{"name", name},
                   {"namespace", "default"},
                   {"resourceVersion", std::to_string(rv)},
                   {"labels", {{"kubernetes.io/service-name", service}}}};
  j["addressType"] = "IPv4";
  j["endpoints"] = nlohmann::json::array();
  for (const auto& e : endpoints) {
    nlohmann::json ep;
    ep["addresses"] = {e.ip};
    ep["conditions"] = nlohmann::json::object();
    if (e.ready) ep["conditions"]["ready"] = *e.ready;
    if (e.serving) ep["conditions"]["serving"] = *e.serving;
    if (e.terminating) ep["conditions"]["terminating"] = *e.terminating;
    if (!e.zone.empty()) ep["zone"] = e.zone;
    j["endpoints"].push_back(ep);
  }
  j["ports"] = {{{"name", port_name}, {"port", port}, {"protocol", "TCP"}}};
  return j.dump();
}

SliceApiModel::SliceApiModel(Options options)
    : options_(std::move(options)),
      server_([this](const HttpRequest& req, ResponseWriter& w) { Handle(req, w); }) {}

SliceApiModel::~SliceApiModel() {
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
  }
  server_.Stop();
}

uint64_t SliceApiModel::Upsert(const std::string& name, const std::vector<FakeEndpoint>& endpoints) {
  absl::MutexLock lock(&mu_);
  const uint64_t rv = ++rv_;
  const bool existed = slices_.count(name) > 0;
  slices_[name] = {rv, endpoints};
  events_.push_back({rv, existed ? "MODIFIED" : "ADDED",
                     SliceJson(name, options_.service, rv, endpoints)});
  return rv;
}

uint64_t SliceApiModel::Delete(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = slices_.find(name);
  if (it == slices_.end()) return rv_;
  const uint64_t rv = ++rv_;
  events_.push_back({rv, "DELETED", SliceJson(name, options_.service, rv, it->second.second)});
  slices_.erase(it);
  return rv;
}

void SliceApiModel::Compact() {
  absl::MutexLock lock(&mu_);
  compacted_rv_ = rv_;
  events_.clear();
}

void SliceApiModel::ResetResourceVersion(uint64_t rv) {
  absl::MutexLock lock(&mu_);
  rv_ = rv;
  compacted_rv_ = rv;
  events_.clear();
  for (auto& [name, s] : slices_) s.first = rv;
  ++watch_epoch_;
}

void SliceApiModel::SetFault(Fault fault) {
  absl::MutexLock lock(&mu_);
  fault_ = std::move(fault);
}

void SliceApiModel::EndWatches() {
  absl::MutexLock lock(&mu_);
  ++watch_epoch_;
}

uint64_t SliceApiModel::resource_version() const {
  absl::MutexLock lock(&mu_);
  return rv_;
}

std::vector<std::string> SliceApiModel::ReadyIps() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [name, s] : slices_) {
    for (const auto& e : s.second) {
      if (e.ready.value_or(true)) out.push_back(e.ip);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void SliceApiModel::Handle(const HttpRequest& req, ResponseWriter& w) {
  Fault fault;
  {
    absl::MutexLock lock(&mu_);
    fault = fault_;
  }
  if (fault && fault(req, w)) return;
  const std::string want =
      absl::StrCat("/apis/discovery.k8s.io/v1/namespaces/", options_.namespace_name,
                   "/endpointslices");
  if (req.path != want) {
    w.Send(404, "404 page not found", "text/plain");
    return;
  }
  if (req.IsWatch()) {
    ServeWatch(req, w);
  } else {
    ServeList(req, w);
  }
}

void SliceApiModel::ServeList(const HttpRequest& req, ResponseWriter& w) {
  std::string body;
  {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> items;
    for (const auto& [name, s] : slices_) {
      items.push_back(SliceJson(name, options_.service, s.first, s.second, 8080, "http",
                                /*with_type_meta=*/false));
    }
    body = absl::StrCat(
        "{\"kind\":\"EndpointSliceList\",\"apiVersion\":\"discovery.k8s.io/v1\",\"metadata\":"
        "{\"resourceVersion\":\"",
        rv_, "\"},\"items\":[", absl::StrJoin(items, ","), "]}");
  }
  (void)req;
  w.Send(200, body);
}

void SliceApiModel::ServeWatch(const HttpRequest& req, ResponseWriter& w) {
  uint64_t from = 0;
  try {
    from = std::stoull(req.Query("resourceVersion").empty() ? "0" : req.Query("resourceVersion"));
  } catch (...) {
    w.Send(400, "{\"kind\":\"Status\",\"code\":400,\"message\":\"bad resourceVersion\"}");
    return;
  }
  const bool bookmarks = req.Query("allowWatchBookmarks") == "true";
  int timeout_s = 1800;
  if (req.HasQuery("timeoutSeconds")) timeout_s = std::stoi(req.Query("timeoutSeconds"));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  if (options_.watch_duration.count() > 0) {
    deadline = std::min(deadline, std::chrono::steady_clock::now() + options_.watch_duration);
  }
  w.StartStream(200);
  uint64_t epoch;
  {
    absl::MutexLock lock(&mu_);
    epoch = watch_epoch_;
    if (from > rv_) {
      // Too new (e.g. the server restarted with a fresh store): the real server answers 504 after
      // a wait; as an ERROR event here, which the client must also turn into a relist.
      w.Chunk(absl::StrCat(
          "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
          "\"status\":\"Failure\",\"message\":\"Too large resource version: ",
          from, ", current: ", rv_,
          "\",\"reason\":\"Timeout\",\"details\":{\"causes\":[{\"reason\":\"ResourceVersionTooLarge\","
          "\"message\":\"Too large resource version\"}],\"retryAfterSeconds\":1},\"code\":504}}\n"));
      w.EndStream();
      return;
    }
    if (options_.compaction && from < compacted_rv_) {
      w.Chunk(absl::StrCat(
          "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
          "\"status\":\"Failure\",\"message\":\"too old resource version: ",
          from, " (", compacted_rv_, ")\",\"reason\":\"Expired\",\"code\":410}}\n"));
      w.EndStream();
      return;
    }
  }
  uint64_t sent = from;
  auto last_bookmark = std::chrono::steady_clock::now();
  while (true) {
    std::vector<std::string> out;
    {
      absl::MutexLock lock(&mu_);
      auto news = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return closing_ || watch_epoch_ != epoch || (!events_.empty() && events_.back().rv > sent);
      };
      mu_.AwaitWithTimeout(absl::Condition(&news), absl::Milliseconds(5));
      if (closing_ || watch_epoch_ != epoch) break;
      for (const auto& e : events_) {
        if (e.rv > sent) {
          out.push_back(absl::StrCat("{\"type\":\"", e.type, "\",\"object\":", e.object_json, "}\n"));
          sent = e.rv;
        }
      }
      if (bookmarks && options_.bookmark_interval.count() > 0 &&
          std::chrono::steady_clock::now() - last_bookmark >= options_.bookmark_interval) {
        last_bookmark = std::chrono::steady_clock::now();
        sent = std::max(sent, rv_);
        out.push_back(absl::StrCat(
            "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"EndpointSlice\",\"apiVersion\":"
            "\"discovery.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"",
            sent, "\"}}}\n"));
      }
    }
    for (const auto& line : out) {
      if (!w.Chunk(line)) return;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    if (!w.SleepFor(std::chrono::milliseconds(0))) return;
  }
  w.EndStream();
}

}  // namespace k8slb::testing
