#include "test_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace k8slb::fakeapi::testing {
namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};
void EnsureCurl() { static CurlGlobal g; }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Collect {
  std::string body;
  std::map<std::string, std::string> headers;
};

size_t CollectBody(char* ptr, size_t size, size_t n, void* user) {
  static_cast<Collect*>(user)->body.append(ptr, size * n);
  return size * n;
}

size_t CollectHeader(char* ptr, size_t size, size_t n, void* user) {
  std::string line(ptr, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = Lower(line.substr(0, colon));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(value.begin());
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    static_cast<Collect*>(user)->headers[name] = value;
  }
  return size * n;
}

curl_slist* Headers(const FakeApiServer& server, const RequestSpec& spec) {
  curl_slist* h = nullptr;
  if (spec.authorization) {
    h = curl_slist_append(h, ("Authorization: " + *spec.authorization).c_str());
  } else {
    std::string token = spec.token.value_or(server.admin_token());
    if (!token.empty()) h = curl_slist_append(h, ("Authorization: Bearer " + token).c_str());
  }
  h = curl_slist_append(h, ("Accept: " + spec.accept).c_str());
  if (!spec.body.empty() || spec.method == "POST" || spec.method == "PUT" || spec.method == "PATCH") {
    h = curl_slist_append(h, ("Content-Type: " + spec.content_type).c_str());
  }
  return h;
}

void SetCa(CURL* c, curl_blob* blob, const std::string& ca) {
  if (ca.empty()) return;
  blob->data = const_cast<char*>(ca.data());
  blob->len = ca.size();
  blob->flags = CURL_BLOB_COPY;
  curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, blob);
}

}  // namespace

Reply Do(const FakeApiServer& server, const RequestSpec& spec) {
  EnsureCurl();
  CURL* c = curl_easy_init();
  Collect col;
  std::string url = server.url() + spec.path;
  std::string ca = server.ca_pem();
  curl_blob blob{};
  curl_slist* headers = Headers(server, spec);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, spec.method.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (!spec.body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, spec.body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(spec.body.size()));
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &col);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &col);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  SetCa(c, &blob, ca);
  Reply r;
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    r.body = std::move(col.body);
    r.headers = std::move(col.headers);
    r.content_type = r.headers["content-type"];
  } else {
    r.body = curl_easy_strerror(rc);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  return r;
}

Watch::Watch(const FakeApiServer& server, std::string path, std::optional<std::string> token, std::string accept) {
  EnsureCurl();
  std::string url = server.url() + path;
  std::string ca = server.ca_pem();
  RequestSpec spec{.path = path, .token = token, .accept = accept};
  curl_slist* headers = Headers(server, spec);
  thread_ = std::thread([this, url, ca, headers] {
    CURL* c = curl_easy_init();
    curl_blob blob{};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Watch::OnData);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Watch::OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &Watch::OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, this);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 90000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    SetCa(c, &blob, ca);
    curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    std::lock_guard<std::mutex> lock(mu_);
    if (!partial_.empty()) lines_.push_back(partial_ + "<no newline>");
    status_ = code;
    ended_ = true;
    headers_done_ = true;
    cv_.notify_all();
  });
}

Watch::~Watch() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

size_t Watch::OnData(char* ptr, size_t size, size_t n, void* self_ptr) {
  auto* self = static_cast<Watch*>(self_ptr);
  std::lock_guard<std::mutex> lock(self->mu_);
  self->partial_.append(ptr, size * n);
  size_t pos;
  while ((pos = self->partial_.find('\n')) != std::string::npos) {
    self->lines_.push_back(self->partial_.substr(0, pos));
    self->partial_.erase(0, pos + 1);
  }
  self->cv_.notify_all();
  return size * n;
}

size_t Watch::OnHeader(char* ptr, size_t size, size_t n, void* self_ptr) {
  auto* self = static_cast<Watch*>(self_ptr);
  std::string line(ptr, size * n);
  std::lock_guard<std::mutex> lock(self->mu_);
  if (line.rfind("HTTP/", 0) == 0 && line.size() > 12) self->status_ = std::atol(line.c_str() + 9);
  if (Lower(line).rfind("content-type:", 0) == 0) {
    std::string v = line.substr(13);
    while (!v.empty() && v.front() == ' ') v.erase(v.begin());
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
    self->content_type_ = v;
  }
  if (line == "\r\n") {
    self->headers_done_ = true;
    self->cv_.notify_all();
  }
  return size * n;
}

int Watch::OnProgress(void* self_ptr, long long, long long, long long, long long) {
  return static_cast<Watch*>(self_ptr)->stop_.load() ? 1 : 0;
}

bool Watch::WaitLines(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return lines_.size() >= n || ended_; });
  return lines_.size() >= n;
}

bool Watch::WaitEnd(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return ended_; });
}

bool Watch::WaitHeaders(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return headers_done_; });
}

std::vector<std::string> Watch::lines() {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

std::vector<nlohmann::json> Watch::events() {
  std::vector<nlohmann::json> out;
  for (const auto& l : lines()) out.push_back(nlohmann::json::parse(l, nullptr, false));
  return out;
}

long Watch::status() {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

std::string Watch::content_type() {
  std::lock_guard<std::mutex> lock(mu_);
  return content_type_;
}

bool Watch::ended() {
  std::lock_guard<std::mutex> lock(mu_);
  return ended_;
}

std::string RawHttp(uint16_t port, const std::string& request, const std::function<bool(const std::string&)>& done,
                    std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return out;
  }
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (!done(out)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::optional<std::vector<std::string>> DecodeChunks(const std::string& body, bool* saw_last_chunk) {
  std::vector<std::string> chunks;
  *saw_last_chunk = false;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find("\r\n", pos);
    if (eol == std::string::npos) break;  // partial chunk header: stop here
    std::string size_text = body.substr(pos, eol - pos);
    size_t semi = size_text.find(';');
    if (semi != std::string::npos) size_text = size_text.substr(0, semi);
    char* end = nullptr;
    unsigned long size = std::strtoul(size_text.c_str(), &end, 16);
    if (size_text.empty() || *end != '\0') return std::nullopt;
    if (size == 0) {
      *saw_last_chunk = true;
      break;
    }
    if (eol + 2 + size + 2 > body.size()) break;  // incomplete chunk: stop
    chunks.push_back(body.substr(eol + 2, size));
    if (body.compare(eol + 2 + size, 2, "\r\n") != 0) return std::nullopt;
    pos = eol + 2 + size + 2;
  }
  return chunks;
}

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                         std::chrono::milliseconds timeout) {
  std::string out_file = MakeTempDir("proc") + "/out";
  ProcessResult result;
  {
    BackgroundProcess p(argv, env, out_file);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int code = -1;
    while (std::chrono::steady_clock::now() < deadline) {
      if (p.Exited(&code)) {
        result.exit_code = code;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    result.out = p.Output();
  }
  return result;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv,
                                     const std::map<std::string, std::string>& env, const std::string& output_file)
    : output_file_(output_file) {
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::setpgid(0, 0);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);  // its own process group: kubectl dispatcher and its child
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
}

std::string BackgroundProcess::Output() const { return ReadFile(output_file_); }

bool BackgroundProcess::WaitFor(const std::string& text, std::chrono::milliseconds timeout) {
  return Eventually([&] { return Output().find(text) != std::string::npos; }, timeout);
}

bool BackgroundProcess::Exited(int* code) {
  if (reaped_) {
    *code = exit_code_;
    return true;
  }
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    ::kill(-pid_, SIGKILL);  // leftovers in its group
    *code = exit_code_;
    return true;
  }
  return false;
}

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/k8slb-fakeapi-" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* dir = ::mkdtemp(buf.data());
  return dir ? std::string(dir) : std::string("/tmp");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

scenario::Scenario MakeScenario(int replicas, int max_endpoints_per_slice) {
  scenario::Scenario s;
  s.name = "fakeapi-test";
  s.pods.replicas = replicas;
  s.pods.startup_s = 0.2;
  s.pods.drain_s = 0.2;
  s.pods.termination_grace_s = 2;
  s.cluster.max_endpoints_per_slice = max_endpoints_per_slice;
  s.cluster.zones = {"zone-a", "zone-b"};
  s.cluster.pod_cidr = "198.18.1.0/24";  // a real API server refuses loopback endpoints
  s.timeline.clear();
  return s;
}

bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace k8slb::fakeapi::testing
