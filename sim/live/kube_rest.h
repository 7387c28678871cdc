// KubeRest: a small synchronous client for the Kubernetes REST API (GET, POST, PUT, DELETE with
// JSON bodies), configured from a KubeConfig the way k8slb's discovery is: a bearer token (a
// token file is re-read for every request, so rotation works) or a client certificate, only the
// configured CA when one is given, `tls-server-name` for SNI and verification while connecting
// to the configured address. The live engine uses it to play a scenario's Service and
// EndpointSlices into a user's API server (api_mirror.h).
//
// Threading: Request() may be called from any thread; requests are serialized (one connection,
// reused). Never logs the token.
#ifndef K8SLB_SIM_LIVE_KUBE_REST_H_
#define K8SLB_SIM_LIVE_KUBE_REST_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "k8slb/kube_config.h"

namespace k8slb::sim::live {

// An API server URL's parts (parsed with libcurl's URL parser, as k8slb's discovery does).
struct ServerUrl {
  std::string scheme;  // "https" or "http"
  std::string host;    // "127.0.0.1", "::1" (no brackets), "api.example.com"
  int port = 443;      // the scheme's default when the URL names none
  std::string path;    // "" or a prefix such as "/k8s/clusters/c-1"
};
absl::StatusOr<ServerUrl> ParseServerUrl(const std::string& server);
// "host:port" with brackets around an IPv6 literal.
std::string JoinHostPort(const std::string& host, int port);

struct KubeResponse {
  int status = 0;    // HTTP status
  std::string body;  // the response body (a Kubernetes object, list or Status, as JSON)
};

class KubeRest {
 public:
  // Checks the configuration (https, or http only with allow_plain_http; readable files).
  static absl::StatusOr<std::unique_ptr<KubeRest>> Create(KubeConfig config);
  ~KubeRest();
  KubeRest(const KubeRest&) = delete;
  KubeRest& operator=(const KubeRest&) = delete;

  // `path` is absolute ("/api/v1/namespaces/default/services"); `body` is sent as
  // application/json when not empty. Unavailable on a transport error (connect, TLS, timeout),
  // naming the server; any HTTP status is a response.
  absl::StatusOr<KubeResponse> Request(std::string_view method, const std::string& path,
                                       const std::string& body = "",
                                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

  const std::string& server() const { return config_.server; }

 private:
  explicit KubeRest(KubeConfig config);
  struct Handle;
  KubeConfig config_;
  std::string base_url_;
  std::string connect_to_;
  std::unique_ptr<Handle> handle_;
};

// The `message` of a Kubernetes Status body, else "HTTP <status>: <first 200 bytes of body>".
std::string ResponseMessage(const KubeResponse& response);

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_KUBE_REST_H_
