#include "discovery/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "discovery/absl_compat.h"
#include "discovery/files.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace k8slb::discovery {
namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  const HttpClient::OnData* on_data = nullptr;
  CURL* easy = nullptr;
  const Clock* clock = nullptr;
  int64_t last_byte_nanos = 0;
  long status = 0;
  bool aborted_by_caller = false;
  HttpResult* result = nullptr;
};

size_t WriteCallback(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t n = size * nmemb;
  t->last_byte_nanos = t->clock->NowNanos();
  if (t->status == 0) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
  if (t->status >= 200 && t->status < 300) {
    t->result->body_bytes += n;
    if (!(*t->on_data)(std::string_view(ptr, n))) {
      t->aborted_by_caller = true;
      return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
    }
  } else if (t->result->error_body.size() < kMaxErrorBody) {
    t->result->error_body.append(ptr, std::min(n, kMaxErrorBody - t->result->error_body.size()));
  }
  return n;
}

// Any header (or the status line) also counts as a sign of life for stall detection.
size_t HeaderCallback(char* /*ptr*/, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  t->last_byte_nanos = t->clock->NowNanos();
  return size * nmemb;
}

// The TLS material must be usable before the first request: a CA file holding no certificate
// would otherwise fail every handshake with a curl error that does not name the file.
absl::Status CheckTlsFiles(const KubeConfig& config) {
  struct Source {
    const std::string* file;
    const std::string* data;
    const char* what;
    bool key;
  };
  for (const Source& src : {Source{&config.ca_file, &config.ca_data, "CA certificate", false},
                            Source{&config.client_cert_file, &config.client_cert_data,
                                   "client certificate", false},
                            Source{&config.client_key_file, &config.client_key_data, "client key", true}}) {
    std::string pem;
    std::string what;
    if (!src.data->empty()) {
      pem = *src.data;
      what = absl::StrCat(src.what, " data");
    } else if (!src.file->empty()) {
      auto text = ReadBoundedFile(*src.file, kMaxConfigFileBytes, FileKind::kRegularOnly);
      if (!text.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(src.what, " file ", text.status().message()));
      }
      pem = *std::move(text);
      what = absl::StrCat(src.what, " file ", *src.file);
    } else {
      continue;
    }
    absl::Status s = src.key ? CheckPemPrivateKey(pem, what) : CheckPemCertificates(pem, what);
    std::fill(pem.begin(), pem.end(), '\0');  // a private key should not linger in freed memory
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(
    const KubeConfig& config, std::chrono::milliseconds connect_timeout,
    std::shared_ptr<Clock> clock) {
  GlobalInitOnce();
  if (config.server.empty()) {
    return absl::InvalidArgumentError("no API server URL in the configuration");
  }
  CURLU* url = curl_url();
  if (url == nullptr) return absl::ResourceExhaustedError("curl_url() failed");
  auto cleanup = [&] { curl_url_cleanup(url); };
  if (curl_url_set(url, CURLUPART_URL, config.server.c_str(), 0) != CURLUE_OK) {
    cleanup();
    return absl::InvalidArgumentError(
        absl::StrCat("API server URL \"", config.server, "\" is not a valid URL"));
  }
  auto part = [&](CURLUPart which, unsigned flags) -> std::string {
    char* value = nullptr;
    std::string out;
    if (curl_url_get(url, which, &value, flags) == CURLUE_OK && value != nullptr) out = value;
    curl_free(value);
    return out;
  };
  std::string scheme = absl::AsciiStrToLower(part(CURLUPART_SCHEME, 0));
  std::string host = part(CURLUPART_HOST, 0);
  std::string port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  std::string path = part(CURLUPART_PATH, 0);
  cleanup();

  auto client = std::unique_ptr<HttpClient>(new HttpClient());
  if (scheme == "http") {
    if (!config.allow_plain_http) {
      return absl::InvalidArgumentError(absl::StrCat(
          "API server URL ", config.server,
          " uses plain http; set allow_plain_http in the configuration to allow it"));
    }
    client->plain_http_ = true;
  } else if (scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("API server URL ", config.server, " must use https (or http)"));
  }
  if (client->plain_http_ && !config.allow_credentials_over_plain_http &&
      (!config.token.empty() || !config.token_file.empty())) {
    // As client-go, which sends no credentials to a plain-http kubeconfig server: a bearer token
    // in cleartext is readable by anyone on the path.
    return absl::InvalidArgumentError(absl::StrCat(
        "refusing to send the bearer token",
        config.token_file.empty() ? std::string() : absl::StrCat(" from ", config.token_file),
        " over plain http to ", config.server,
        "; use https, or set allow_credentials_over_plain_http in the configuration"));
  }
  if (!client->plain_http_) {
    if (auto s = CheckTlsFiles(config); !s.ok()) return s;
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  std::string url_host = host;
  if (!config.tls_server_name.empty() && !client->plain_http_) {
    // SNI and certificate checks use tls_server_name; the TCP connection still goes to `host`.
    url_host = config.tls_server_name;
    client->connect_to_ = absl::StrCat(url_host, ":", port, ":", host, ":", port);
  }
  client->base_url_ = absl::StrCat(scheme, "://", url_host, ":", port, path);
  client->config_ = config;
  client->connect_timeout_ = connect_timeout;
  client->clock_ = clock ? std::move(clock) : MakeSteadyClock();
  client->multi_ = curl_multi_init();
  if (client->multi_ == nullptr) return absl::ResourceExhaustedError("curl_multi_init() failed");
  return client;
}

HttpClient::~HttpClient() {
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

void HttpClient::RequestStop() {
  stop_.store(true, std::memory_order_release);
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

HttpResult HttpClient::Get(const std::string& path_and_query, const std::string& bearer_token,
                           const HttpRequestOptions& options, const OnData& on_data) {
  HttpResult result;
  if (stop_requested()) {
    result.outcome = HttpOutcome::kStopped;
    return result;
  }
  CURLM* multi = static_cast<CURLM*>(multi_);
  CURL* easy = curl_easy_init();
  if (easy == nullptr) {
    result.error = "curl_easy_init() failed";
    return result;
  }
  Transfer t;
  t.on_data = &on_data;
  t.easy = easy;
  t.clock = clock_.get();
  t.result = &result;
  const int64_t start = clock_->NowNanos();
  t.last_byte_nanos = start;

  std::string url = base_url_ + path_and_query;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, plain_http_ ? "http" : "https");
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout_.count()));
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &WriteCallback);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &HeaderCallback);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "k8slb/0.1");
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  std::string auth;
  if (!bearer_token.empty()) {
    auth = "Authorization: Bearer " + bearer_token;
    headers = curl_slist_append(headers, auth.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_slist* connect_to = nullptr;
  if (!plain_http_) {
    const bool verify = !config_.insecure_skip_tls_verify;
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    if (!config_.ca_data.empty() || !config_.ca_file.empty()) {
      // Trust only the configured CA (as client-go does), not the system directory as well.
      curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
    }
    if (!config_.ca_data.empty()) {
      curl_blob blob{const_cast<char*>(config_.ca_data.data()), config_.ca_data.size(),
                     CURL_BLOB_COPY};
      curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
    } else if (!config_.ca_file.empty()) {
      curl_easy_setopt(easy, CURLOPT_CAINFO, config_.ca_file.c_str());
    }
    if (!config_.client_cert_data.empty()) {
      curl_blob blob{const_cast<char*>(config_.client_cert_data.data()),
                     config_.client_cert_data.size(), CURL_BLOB_COPY};
      curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &blob);
      curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (!config_.client_cert_file.empty()) {
      curl_easy_setopt(easy, CURLOPT_SSLCERT, config_.client_cert_file.c_str());
    }
    if (!config_.client_key_data.empty()) {
      curl_blob blob{const_cast<char*>(config_.client_key_data.data()),
                     config_.client_key_data.size(), CURL_BLOB_COPY};
      curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &blob);
      curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (!config_.client_key_file.empty()) {
      curl_easy_setopt(easy, CURLOPT_SSLKEY, config_.client_key_file.c_str());
    }
    if (!connect_to_.empty()) {
      connect_to = curl_slist_append(nullptr, connect_to_.c_str());
      curl_easy_setopt(easy, CURLOPT_CONNECT_TO, connect_to);
    }
  }

  curl_multi_add_handle(multi, easy);
  const int64_t stall_nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options.stall_timeout).count();
  const int64_t deadline_nanos =
      options.deadline.count() > 0
          ? start + std::chrono::duration_cast<std::chrono::nanoseconds>(options.deadline).count()
          : 0;
  bool done = false;
  CURLcode code = CURLE_OK;
  while (true) {
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) {
        done = true;
        code = msg->data.result;
      }
    }
    if (done) break;
    if (stop_requested()) {
      result.outcome = HttpOutcome::kStopped;
      break;
    }
    const int64_t now = clock_->NowNanos();
    if (stall_nanos > 0 && now - t.last_byte_nanos > stall_nanos) {
      result.outcome = HttpOutcome::kStalled;
      break;
    }
    if (deadline_nanos > 0 && now > deadline_nanos) {
      result.outcome = HttpOutcome::kDeadline;
      break;
    }
    // Sleep until the earlier of the stall and the deadline (curl's own timers, socket activity
    // and curl_multi_wakeup end it sooner): an idle watch costs no wakeups, which matters when one
    // process holds many watchers. The 1 s cap is a safety net only.
    int64_t wait_ms = 1000;
    if (stall_nanos > 0) wait_ms = std::min(wait_ms, (t.last_byte_nanos + stall_nanos - now) / 1'000'000 + 1);
    if (deadline_nanos > 0) wait_ms = std::min(wait_ms, (deadline_nanos - now) / 1'000'000 + 1);
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(std::max<int64_t>(wait_ms, 1)), nullptr);
  }
  if (t.status == 0) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t.status);
  result.status = static_cast<int>(t.status);
  if (done) {
    if (t.aborted_by_caller) {
      result.outcome = HttpOutcome::kAbortedByCaller;
    } else if (code == CURLE_OK) {
      result.outcome = HttpOutcome::kCompleted;
    } else {
      result.outcome = HttpOutcome::kTransportError;
      result.error = absl::StrCat(curl_easy_strerror(code), errbuf[0] ? ": " : "", errbuf);
    }
    curl_off_t retry_after = 0;
    if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
        retry_after > 0) {
      result.retry_after_seconds = static_cast<int64_t>(retry_after);
    }
  }
  curl_multi_remove_handle(multi, easy);
  curl_easy_cleanup(easy);
  curl_slist_free_all(headers);
  curl_slist_free_all(connect_to);
  // Overwrite the header copy that held the token before the memory is released.
  std::fill(auth.begin(), auth.end(), '\0');
  return result;
}

}  // namespace k8slb::discovery
