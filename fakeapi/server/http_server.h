// A small HTTP/1.1 server (Boost.Beast over Asio) with optional TLS and chunked streams, used by
// FakeApiServer. It knows nothing about Kubernetes: every request goes to one handler function,
// which answers with a complete response or with a WatchSink that the connection then drains as
// one HTTP chunk per pushed line (reference kubernetes-api.md §2.4: headers flushed first, one
// event per chunk, no gzip).
//
// Threading: Start() spawns `threads` I/O threads; each connection runs on its own strand and the
// handler is called on that strand (so handlers run concurrently and must be thread-safe). Stop()
// may be called from any thread except an I/O thread; it joins them.
#ifndef K8SLB_FAKEAPI_SERVER_HTTP_SERVER_H_
#define K8SLB_FAKEAPI_SERVER_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace k8slb::fakeapi {

using SteadyTime = std::chrono::steady_clock::time_point;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // percent-decoded path
  std::vector<std::pair<std::string, std::string>> query;  // decoded ('+' is a space), in order
  std::string accept;
  std::string authorization;
  std::string content_type;
  std::string user_agent;
  std::string body;

  // The first value of a query parameter, or nullopt when absent.
  std::optional<std::string> Param(std::string_view name) const;
};

// A queue of stream chunks between producers (the watch hub, any thread) and one connection
// (which drains it on its strand). Thread-safe. The connection writes items in order, never before
// their `not_before` time and never while the server-wide stall clock says "stalled".
class WatchSink {
 public:
  enum class NextKind { kNone, kData, kWaitUntil, kEnd };
  struct Next {
    NextKind kind = NextKind::kNone;
    std::shared_ptr<const std::string> data;
    SteadyTime wait_until{};
  };

  // Producer side (any thread).
  // Queues one chunk (one watch event line, '\n'-terminated) carrying resourceVersion `rv`.
  void Push(std::shared_ptr<const std::string> data, int64_t rv, SteadyTime not_before);
  // Records that the watcher has seen everything up to `rv` without sending anything (the event
  // did not match its selector); bookmarks use it.
  void Progress(int64_t rv);
  // Ends the stream cleanly (terminating chunk) once queued items are written.
  void Finish();
  // True once finished or once the peer went away: producers may drop the sink.
  bool done() const;
  int64_t progress_rv() const;

  // Consumer side (the connection's strand).
  void Attach(std::function<void()> wake);
  // Detaches the wake-up callback (server shutdown); later pushes are dropped.
  void Detach();
  void MarkClosed();
  // Queues a bookmark made from the current progress RV (so it never overtakes queued events).
  void PushBookmark(const std::function<std::string(int64_t)>& make, SteadyTime now);
  Next TakeNext(SteadyTime now, SteadyTime stalled_until);

 private:
  static constexpr size_t kMaxQueuedItems = 100000;
  struct Item {
    std::shared_ptr<const std::string> data;
    SteadyTime not_before;
  };
  void WakeLocked();

  mutable std::mutex mu_;
  std::deque<Item> items_;
  int64_t progress_rv_ = 0;
  bool finished_ = false;
  bool closed_ = false;
  bool wake_needed_ = true;
  std::function<void()> wake_;
};

struct StreamOptions {
  SteadyTime deadline{};                      // the stream ends cleanly here
  std::chrono::milliseconds bookmark_interval{0};  // 0: no bookmarks
  bool bookmark_before_deadline = false;      // one BOOKMARK about 2 s before the deadline
  std::function<std::string(int64_t rv)> make_bookmark;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<WatchSink> stream;  // when set, a chunked stream; `body` is ignored
  StreamOptions stream_options;
};

using HttpHandler = std::function<HttpResponse(HttpRequest&)>;

struct TlsMaterial {
  std::string cert_chain_pem;
  std::string key_pem;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::optional<TlsMaterial> tls;  // nullopt: plain HTTP
  int threads = 2;
  // Shared stall clock (steady_clock nanoseconds since epoch): streams write nothing before it.
  std::shared_ptr<std::atomic<int64_t>> stalled_until_ns;
};

class HttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, HttpHandler handler);
  virtual ~HttpServer() = default;
  virtual uint16_t port() const = 0;
  virtual void Stop() = 0;
};

// Percent-decodes `in`; when `plus_is_space`, '+' becomes ' ' (query strings, WHATWG forms).
std::string PercentDecode(std::string_view in, bool plus_is_space);

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_HTTP_SERVER_H_
