// Test helpers for fakeapi: a libcurl client for single requests and streaming watches against a
// FakeApiServer (HTTPS with its CA), a raw-socket client to see chunk framing, subprocess running
// with hard timeouts, and a small scenario builder. Each helper bounds every wait.
#ifndef K8SLB_TESTS_FAKEAPI_TEST_CLIENT_H_
#define K8SLB_TESTS_FAKEAPI_TEST_CLIENT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fakeapi/server/fake_api_server.h"
#include "sim/scenario/scenario.h"

namespace k8slb::fakeapi::testing {

struct Reply {
  long status = 0;
  std::string content_type;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
};

struct RequestSpec {
  std::string method = "GET";
  std::string path;
  std::string body;
  std::optional<std::string> token;          // nullopt: the admin token; "": no Authorization header
  std::optional<std::string> authorization;  // overrides the header entirely
  std::string accept = "application/json";
  std::string content_type = "application/json";
};

Reply Do(const FakeApiServer& server, const RequestSpec& spec);
inline Reply Get(const FakeApiServer& server, const std::string& path) { return Do(server, {.path = path}); }

// A watch (or any streaming GET) read on a background thread, line by line.
class Watch {
 public:
  Watch(const FakeApiServer& server, std::string path, std::optional<std::string> token = std::nullopt,
        std::string accept = "application/json");
  ~Watch();
  // Waits until at least `n` lines arrived (true) or the stream ended / timeout (false).
  bool WaitLines(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits until the server ends the stream.
  bool WaitEnd(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits until the status line / headers arrived.
  bool WaitHeaders(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::vector<std::string> lines();
  // Parsed lines (a line that is not JSON becomes a discarded value).
  std::vector<nlohmann::json> events();
  long status();
  std::string content_type();
  bool ended();

 private:
  static size_t OnData(char* ptr, size_t size, size_t n, void* self);
  static size_t OnHeader(char* ptr, size_t size, size_t n, void* self);
  static int OnProgress(void* self, long long, long long, long long, long long);

  std::mutex mu_;
  std::condition_variable cv_;
  std::string partial_;
  std::vector<std::string> lines_;
  bool headers_done_ = false;
  bool ended_ = false;
  long status_ = 0;
  std::string content_type_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Raw HTTP/1.1 over a plain TCP socket (server started with plain_http): sends `request` and
// returns every byte received until `done(bytes)` is true, the peer closes, or the timeout.
std::string RawHttp(uint16_t port, const std::string& request, const std::function<bool(const std::string&)>& done,
                    std::chrono::milliseconds timeout);
// Splits a chunked body (after the header block) into its chunks; nullopt if framing is broken.
std::optional<std::vector<std::string>> DecodeChunks(const std::string& body, bool* saw_last_chunk);

struct ProcessResult {
  int exit_code = -1;  // -1: killed by the timeout
  std::string out;     // stdout and stderr interleaved
};
// Runs argv with env additions, killing it after `timeout`.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                         std::chrono::milliseconds timeout);

// A background process whose output goes to a file; killed (by its pid) on destruction.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                    const std::string& output_file);
  ~BackgroundProcess();
  std::string Output() const;
  // Polls the output until it contains `text`.
  bool WaitFor(const std::string& text, std::chrono::milliseconds timeout);
  bool Exited(int* code);

 private:
  int pid_ = -1;
  std::string output_file_;
  bool reaped_ = false;
  int exit_code_ = -1;
};

std::string MakeTempDir(const std::string& prefix);
std::string ReadFile(const std::string& path);

// The shipped-scenario shape: Service + Deployment "echo" in "default", `replicas` pods, fast pods.
scenario::Scenario MakeScenario(int replicas, int max_endpoints_per_slice = 100);

// Polls `pred` every 20 ms up to `timeout`.
bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace k8slb::fakeapi::testing

#endif  // K8SLB_TESTS_FAKEAPI_TEST_CLIENT_H_
