// A small HTTP/1.1 server (Boost.Beast over Asio) with optional TLS and chunked streams, used by
// FakeApiServer. It knows nothing about Kubernetes: every request goes to one handler function,
// which answers at once, later (a DeferredResponse the server completes from a timer), or with a
// WatchSink that the connection then drains as one HTTP chunk per pushed line (headers flushed
// first, one event per chunk, no gzip), until the sink finishes or the peer goes away. Timing of
// streams (deadlines, bookmarks) is the caller's: the connection only writes what is pushed.
//
// Threading: Start() spawns `threads` I/O threads; each connection runs on its own strand and the
// handler is called on that strand (so handlers run concurrently and must be thread-safe).
// WatchSink and DeferredResponse are thread-safe. Stop() may be called from any thread except an
// I/O thread; it joins them.
#ifndef K8SLB_FAKEAPI_SERVER_HTTP_SERVER_H_
#define K8SLB_FAKEAPI_SERVER_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "fakeapi/server/server_clock.h"

namespace k8slb::fakeapi {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // percent-decoded path
  std::vector<std::pair<std::string, std::string>> query;  // decoded ('+' is a space), in order
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, in order
  std::string body;

  // The first value of a query parameter, or nullopt when absent.
  std::optional<std::string> Param(std::string_view name) const;
  // The first header of that name (case-insensitive), or nullopt.
  std::optional<std::string> Header(std::string_view name) const;
  std::string HeaderOr(std::string_view name, std::string def = "") const { return Header(name).value_or(def); }
};

// A queue of stream chunks between producers (the watch machinery, any thread) and one connection
// (which drains it on its strand). The connection writes items in order, never before their
// `not_before` time and never while the server-wide stall clock says "stalled".
class WatchSink {
 public:
  enum class NextKind { kNone, kData, kWaitUntil, kEnd };
  struct Next {
    NextKind kind = NextKind::kNone;
    std::shared_ptr<const std::string> data;
    SteadyTime wait_until{};
  };

  // Producer side (any thread). Queues one chunk (one watch event line, '\n'-terminated).
  void Push(std::shared_ptr<const std::string> data, SteadyTime not_before);
  // Ends the stream cleanly (terminating chunk) once queued items are written.
  void Finish();
  // True once finished or once the peer went away: producers may drop the sink.
  bool done() const;
  bool finished() const;

  // Consumer side (the connection's strand).
  void Attach(std::function<void()> wake);
  // Detaches the wake-up callback (server shutdown); later pushes are dropped.
  void Detach();
  void MarkClosed();
  Next TakeNext(SteadyTime now, SteadyTime stalled_until);

 private:
  static constexpr size_t kMaxQueuedItems = 100000;
  struct Item {
    std::shared_ptr<const std::string> data;
    SteadyTime not_before;
  };
  void WakeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::deque<Item> items_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_needed_ ABSL_GUARDED_BY(mu_) = true;
  std::function<void()> wake_ ABSL_GUARDED_BY(mu_);
};

struct HttpResponse;

// An answer given later (e.g. after the 3 s a real server waits for a too-new resourceVersion):
// the handler returns it unfilled; a timer or another request completes it once.
class DeferredResponse {
 public:
  void Complete(HttpResponse response);
  // Consumer side: `wake` runs (once) when the answer is there, possibly at once.
  void OnReady(std::function<void()> wake);
  std::optional<HttpResponse> Take();

 private:
  absl::Mutex mu_;
  std::unique_ptr<HttpResponse> value_ ABSL_GUARDED_BY(mu_);
  std::function<void()> wake_ ABSL_GUARDED_BY(mu_);
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";  // "" = no Content-Type header
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // in order; names may repeat
  std::shared_ptr<WatchSink> stream;      // when set, a chunked stream; `body` is ignored
  std::shared_ptr<DeferredResponse> deferred;  // when set, the answer comes later
  bool close_without_response = false;    // drop the connection without answering
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
