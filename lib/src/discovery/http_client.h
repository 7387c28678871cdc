// HttpClient: the libcurl transport of one ServiceWatcher. One easy handle per request, driven by
// a private multi handle so the watcher thread can block in curl_multi_poll and still be woken at
// once by Stop() (curl_multi_wakeup) — the progress callback alone only fires about once a
// second on an idle stream, too slow for the ~100 ms shutdown bound of ServiceWatcher::Stop().
//
// Stall detection uses our own last-byte timestamp rather than CURLOPT_LOW_SPEED_*, whose
// one-second granularity and byte-rate semantics do not express "no byte at all for N ms".
// TLS verification is on unless the configuration says insecure_skip_tls_verify; plain http is
// refused unless allow_plain_http. Get() is called by the owning thread only; Wakeup() and
// RequestStop() are thread-safe.
#ifndef K8SLB_DISCOVERY_HTTP_CLIENT_H_
#define K8SLB_DISCOVERY_HTTP_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "k8slb/kube_config.h"
#include "k8slb/random.h"

namespace k8slb::discovery {

enum class HttpOutcome {
  kCompleted,       // the response ended normally (any status code)
  kStopped,         // RequestStop() was called
  kStalled,         // no byte for the stall timeout
  kDeadline,        // the request ran past its deadline
  kAbortedByCaller, // on_data returned false
  kTransportError,  // connect/TLS/read failure (curl error in `error`)
};

struct HttpResult {
  HttpOutcome outcome = HttpOutcome::kTransportError;
  int status = 0;                  // HTTP status; 0 when no response was received
  std::string error;               // transport error text (never includes headers)
  std::string error_body;          // body of a non-2xx response (first 64 KiB)
  std::optional<int64_t> retry_after_seconds;
  uint64_t body_bytes = 0;         // 2xx body bytes delivered to on_data
};

struct HttpRequestOptions {
  std::chrono::milliseconds stall_timeout{90000};
  std::chrono::milliseconds deadline{0};  // 0: none
};

class HttpClient {
 public:
  // Receives 2xx body bytes as they arrive; return false to abort the transfer.
  using OnData = std::function<bool(std::string_view data)>;

  // Validates the configuration (URL, scheme, TLS files) and prepares the multi handle.
  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(const KubeConfig& config,
                                                            std::chrono::milliseconds connect_timeout,
                                                            std::shared_ptr<Clock> clock);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GET server + path_and_query with an optional bearer token. Blocks until done, stopped,
  // stalled or past the deadline.
  HttpResult Get(const std::string& path_and_query, const std::string& bearer_token,
                 const HttpRequestOptions& options, const OnData& on_data);

  void RequestStop();
  bool stop_requested() const { return stop_.load(std::memory_order_acquire); }

  // The base URL requests go to (for messages).
  const std::string& base_url() const { return base_url_; }

 private:
  HttpClient() = default;

  KubeConfig config_;
  std::chrono::milliseconds connect_timeout_{5000};
  std::shared_ptr<Clock> clock_;
  std::string base_url_;    // scheme://host:port[/prefix], host replaced by tls_server_name
  std::string connect_to_;  // CURLOPT_CONNECT_TO entry when tls_server_name is set
  bool plain_http_ = false;
  void* multi_ = nullptr;   // CURLM*
  std::atomic<bool> stop_{false};
};

}  // namespace k8slb::discovery

#endif  // K8SLB_DISCOVERY_HTTP_CLIENT_H_
