#include "sim/live/kube_rest.h"

#include <curl/curl.h>

#include <fstream>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace k8slb::sim::live {
namespace {

size_t Append(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

absl::StatusOr<std::string> ReadToken(const KubeConfig& config) {
  if (config.token_file.empty()) return config.token;
  std::ifstream f(config.token_file, std::ios::binary);
  if (!f) return absl::FailedPreconditionError(absl::StrCat("cannot read the token file ", config.token_file));
  std::ostringstream text;
  text << f.rdbuf();
  return std::string(absl::StripAsciiWhitespace(text.str()));
}

void SetBlob(CURL* easy, CURLoption option, const std::string& data) {
  curl_blob blob{const_cast<char*>(data.data()), data.size(), CURL_BLOB_COPY};
  curl_easy_setopt(easy, option, &blob);
}

}  // namespace

absl::StatusOr<ServerUrl> ParseServerUrl(const std::string& server) {
  CURLU* url = curl_url();
  if (url == nullptr) return absl::ResourceExhaustedError("curl_url() failed");
  if (curl_url_set(url, CURLUPART_URL, server.c_str(), 0) != CURLUE_OK) {
    curl_url_cleanup(url);
    return absl::InvalidArgumentError(absl::StrCat("API server URL \"", server, "\" is not a valid URL"));
  }
  auto part = [url](CURLUPart which, unsigned flags) {
    char* value = nullptr;
    std::string out;
    if (curl_url_get(url, which, &value, flags) == CURLUE_OK && value != nullptr) out = value;
    curl_free(value);
    return out;
  };
  ServerUrl parts;
  parts.scheme = absl::AsciiStrToLower(part(CURLUPART_SCHEME, 0));
  parts.host = part(CURLUPART_HOST, 0);
  const std::string port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  parts.path = part(CURLUPART_PATH, 0);
  curl_url_cleanup(url);
  if (parts.host.size() > 2 && parts.host.front() == '[' && parts.host.back() == ']') {
    parts.host = parts.host.substr(1, parts.host.size() - 2);
  }
  while (!parts.path.empty() && parts.path.back() == '/') parts.path.pop_back();
  if (!absl::SimpleAtoi(port, &parts.port) || parts.port <= 0 || parts.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("API server URL \"", server, "\" has no valid port"));
  }
  if (parts.scheme != "https" && parts.scheme != "http") {
    return absl::InvalidArgumentError(absl::StrCat("API server URL \"", server, "\" must be https://"));
  }
  return parts;
}

std::string JoinHostPort(const std::string& host, int port) {
  return host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", port)
                                             : absl::StrCat(host, ":", port);
}

struct KubeRest::Handle {
  absl::Mutex mu;
  CURL* easy ABSL_GUARDED_BY(mu) = nullptr;
};

KubeRest::KubeRest(KubeConfig config) : config_(std::move(config)) {}

absl::StatusOr<std::unique_ptr<KubeRest>> KubeRest::Create(KubeConfig config) {
  const std::string& server = config.server;
  const bool https = absl::StartsWith(server, "https://");
  if (!https && !(absl::StartsWith(server, "http://") && config.allow_plain_http)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "API server URL \"", server, "\" must be https:// (http:// only when allowed)"));
  }
  for (const std::string* file : {&config.ca_file, &config.client_cert_file, &config.client_key_file}) {
    if (!file->empty() && !std::ifstream(*file)) {
      return absl::FailedPreconditionError(absl::StrCat("cannot read ", *file));
    }
  }
  absl::StatusOr<ServerUrl> url = ParseServerUrl(config.server);
  if (!url.ok()) return url.status();
  std::unique_ptr<KubeRest> rest(new KubeRest(std::move(config)));
  std::string url_host = url->host;
  if (https && !rest->config_.tls_server_name.empty()) {
    // SNI and certificate checks use tls_server_name; the TCP connection goes to the URL's host.
    url_host = rest->config_.tls_server_name;
    rest->connect_to_ = absl::StrCat(url_host, ":", url->port, ":", JoinHostPort(url->host, url->port));
  }
  rest->base_url_ = absl::StrCat(url->scheme, "://", JoinHostPort(url_host, url->port), url->path);
  rest->handle_ = std::make_unique<Handle>();
  absl::MutexLock lock(&rest->handle_->mu);
  rest->handle_->easy = curl_easy_init();
  if (rest->handle_->easy == nullptr) return absl::ResourceExhaustedError("curl_easy_init() failed");
  return rest;
}

KubeRest::~KubeRest() {
  if (handle_ == nullptr) return;
  absl::MutexLock lock(&handle_->mu);
  if (handle_->easy != nullptr) curl_easy_cleanup(handle_->easy);
}

absl::StatusOr<KubeResponse> KubeRest::Request(std::string_view method, const std::string& path,
                                               const std::string& body,
                                               std::chrono::milliseconds timeout) {
  absl::StatusOr<std::string> token = ReadToken(config_);
  if (!token.ok()) return token.status();
  absl::MutexLock lock(&handle_->mu);
  CURL* easy = handle_->easy;
  curl_easy_reset(easy);  // keeps the connection cache: the next request reuses the connection
  const std::string url = base_url_ + path;
  const std::string method_text(method);
  std::string response_body;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method_text.c_str());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, config_.allow_plain_http ? "http,https" : "https");
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response_body);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "k8slb-sim");
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  const std::string auth = absl::StrCat("Authorization: Bearer ", *token);
  if (!token->empty()) headers = curl_slist_append(headers, auth.c_str());
  if (!body.empty()) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  const bool verify = !config_.insecure_skip_tls_verify;
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  if (!config_.ca_data.empty() || !config_.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
  if (!config_.ca_data.empty()) SetBlob(easy, CURLOPT_CAINFO_BLOB, config_.ca_data);
  if (config_.ca_data.empty() && !config_.ca_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_CAINFO, config_.ca_file.c_str());
  }
  if (!config_.client_cert_data.empty()) SetBlob(easy, CURLOPT_SSLCERT_BLOB, config_.client_cert_data);
  if (config_.client_cert_data.empty() && !config_.client_cert_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLCERT, config_.client_cert_file.c_str());
  }
  if (!config_.client_key_data.empty()) SetBlob(easy, CURLOPT_SSLKEY_BLOB, config_.client_key_data);
  if (config_.client_key_data.empty() && !config_.client_key_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLKEY, config_.client_key_file.c_str());
  }
  curl_slist* connect_to = nullptr;
  if (!connect_to_.empty()) {
    connect_to = curl_slist_append(nullptr, connect_to_.c_str());
    curl_easy_setopt(easy, CURLOPT_CONNECT_TO, connect_to);
  }
  const CURLcode code = curl_easy_perform(easy);
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_slist_free_all(connect_to);
  if (code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(method_text, " ", config_.server, path, ": ",
                                               error[0] != '\0' ? error : curl_easy_strerror(code)));
  }
  return KubeResponse{static_cast<int>(status), std::move(response_body)};
}

std::string ResponseMessage(const KubeResponse& response) {
  auto json = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (json.is_object() && json.value("kind", "") == "Status" && json.contains("message") &&
      json["message"].is_string()) {
    return json["message"].get<std::string>();
  }
  return absl::StrCat("HTTP ", response.status, ": ", response.body.substr(0, 200));
}

}  // namespace k8slb::sim::live
