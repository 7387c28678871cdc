#include "sim/live/external_api.h"

#include <future>
#include <utility>

#include <boost/asio.hpp>

#include "absl/strings/str_cat.h"
#include "sim/live/kube_rest.h"

namespace k8slb::sim::live {
namespace {

namespace asio = boost::asio;

// Resolves `host` to one IPv4 address on the host side (inside the namespace there is no route
// to the host's DNS servers).
absl::StatusOr<std::string> ResolveOnHost(PodNamespace& pods_namespace, const std::string& host) {
  std::promise<absl::StatusOr<std::string>> result;
  auto future = result.get_future();
  asio::io_context& io = pods_namespace.HostSide()->context();
  asio::post(io, [&io, &host, &result] {
    asio::ip::tcp::resolver resolver(io);
    boost::system::error_code ec;
    auto answers = resolver.resolve(asio::ip::tcp::v4(), host, "", ec);
    if (ec || answers.empty()) {
      result.set_value(absl::UnavailableError(absl::StrCat(
          "cannot resolve the API server's host \"", host, "\": ", ec ? ec.message() : "no IPv4 address")));
      return;
    }
    result.set_value(answers.begin()->endpoint().address().to_string());
  });
  return future.get();
}

}  // namespace

absl::StatusOr<ExternalApi> ConnectExternalApi(const std::string& kubeconfig_path,
                                               PodNamespace* pods_namespace) {
  absl::StatusOr<KubeConfig> config = LoadKubeconfig({.path = kubeconfig_path, .context = ""});
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat("--api-server: ", config.status().message()));
  }
  absl::StatusOr<ServerUrl> url = ParseServerUrl(config->server);
  if (!url.ok()) return absl::InvalidArgumentError(absl::StrCat("--api-server: ", url.status().message()));
  const std::string server = config->server;
  ExternalApi api;
  api.description = config->description;
  api.config = *std::move(config);
  if (pods_namespace == nullptr) return api;

  std::string address = url->host;
  boost::system::error_code ec;
  asio::ip::make_address(address, ec);
  if (ec) {
    // A name: resolve it outside (localhost is 127.0.0.1 everywhere), dial the address inside,
    // and keep the name for TLS so the server's certificate still verifies.
    absl::StatusOr<std::string> resolved =
        address == "localhost" ? absl::StatusOr<std::string>("127.0.0.1")
                               : ResolveOnHost(*pods_namespace, address);
    if (!resolved.ok()) return resolved.status();
    if (api.config.tls_server_name.empty()) api.config.tls_server_name = url->host;
    address = *resolved;
    api.config.server = absl::StrCat(url->scheme, "://", JoinHostPort(address, url->port), url->path);
  } else if (asio::ip::make_address(address).is_v6() && !asio::ip::make_address(address).is_loopback()) {
    return absl::UnimplementedError(absl::StrCat(
        "--api-server: the server ", server,
        " is a non-loopback IPv6 address, which the pods' namespace cannot relay yet; use an IPv4 "
        "address or a name"));
  }
  if (absl::Status st = pods_namespace->AddLocalAddress(address);
      !st.ok() && asio::ip::make_address(address).is_v4()) {
    return st;
  }
  const Backend upstream{address, url->port};
  api.relay = std::make_unique<PinningTcpProxy>(TcpProxyOptions{
      .listen_host = address,
      .listen_port = url->port,
      .pick = [upstream]() -> std::optional<Backend> { return upstream; },
      .on_pinned = nullptr,
      .io = pods_namespace->HostSide()});
  if (absl::Status st = api.relay->Start(); !st.ok()) {
    return absl::Status(st.code(), absl::StrCat("--api-server: cannot relay ", server,
                                                " into the pods' namespace: ", st.message()));
  }
  return api;
}

}  // namespace k8slb::sim::live
