// MetricsServer on Boost.Beast (already a dependency of the fake API server, header-only, so the
// binaries gain no shared library): one io_context thread, asynchronous accept/read/write.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "k8slb/balanced_channel.h"
#include "k8slb/metrics.h"
#include "k8slb/metrics_http.h"

namespace k8slb {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr size_t kMaxRequestBytes = 8 * 1024;
constexpr int kMaxConnections = 64;
constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// "HOST:PORT" / "[V6]:PORT" with a numeric host → endpoint, or an error naming the problem.
absl::StatusOr<tcp::endpoint> ParseListen(const std::string& listen) {
  absl::string_view s = listen;
  size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("metrics listen address \"", listen, "\" has no :PORT"));
  }
  absl::string_view host = s.substr(0, colon);
  absl::string_view port_text = s.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  uint32_t port = 0;
  if (port_text.empty() || !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics listen address \"", listen, "\": port \"", port_text, "\" is not within 0..65535"));
  }
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(std::string(host), ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat("metrics listen address \"", listen, "\": host \"", host,
                                                   "\" is not a numeric IPv4 or IPv6 address"));
  }
  return tcp::endpoint(address, static_cast<uint16_t>(port));
}

std::string FormatEndpoint(const tcp::endpoint& e) {
  std::string host = e.address().to_string();
  if (e.address().is_v6()) host = "[" + host + "]";
  return absl::StrCat(host, ":", e.port());
}

}  // namespace

class MetricsServer::Impl {
 public:
  Impl(MetricsRenderer render, std::string path) : render_(std::move(render)), path_(std::move(path)) {}

  absl::Status Listen(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", FormatEndpoint(endpoint), ": ", ec.message()));
    }
    address_ = FormatEndpoint(acceptor_.local_endpoint());
    return absl::OkStatus();
  }

  void Run() {
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  // Pending handlers (and the sessions they hold) are destroyed with io_, after the thread ended.
  void Stop() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
    beast::error_code ignored;
    acceptor_.close(ignored);
  }

  const std::string& address() const { return address_; }
  const std::string& path() const { return path_; }
  uint64_t scrapes() const { return scrapes_.load(std::memory_order_relaxed); }

 private:
  class Session;

  void Accept();  // after Session, which it makes

  http::response<http::string_body> Answer(const http::request<http::string_body>& req) {
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    absl::string_view target(req.target().data(), req.target().size());
    absl::string_view path = target.substr(0, target.find('?'));
    if (path != path_) {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = absl::StrCat("not found; metrics are at ", path_, "\n");
    } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "only GET and HEAD\n";
    } else {
      res.result(http::status::ok);
      res.set(http::field::content_type, kContentType);
      res.body() = render_();
      scrapes_.fetch_add(1, std::memory_order_relaxed);
    }
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();  // the length stays that of the GET
    return res;
  }

  // Declared before io_: the sessions io_ still holds when it is destroyed use them.
  MetricsRenderer render_;
  const std::string path_;
  std::atomic<int> connections_{0};
  std::atomic<uint64_t> scrapes_{0};
  net::io_context io_{1};
  tcp::acceptor acceptor_{io_};
  std::string address_;
  std::thread thread_;
};

// One connection: read a request, answer, repeat while keep-alive. Lives as long as an
// operation of its own is pending.
class MetricsServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl* server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {
    server_->connections_.fetch_add(1);
  }
  ~Session() { server_->connections_.fetch_sub(1); }

  void Read() {
    parser_.emplace();
    parser_->header_limit(kMaxRequestBytes);
    parser_->body_limit(kMaxRequestBytes);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->OnRead(ec);
    });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec == http::error::header_limit || ec == http::error::body_limit) {
        return Reply(Error(http::status::payload_too_large, "request too large\n"), /*close=*/true);
      }
      return Close();
    }
    http::request<http::string_body> req = parser_->release();
    Reply(server_->Answer(req), !req.keep_alive());
  }

  static http::response<http::string_body> Error(http::status status, std::string body) {
    http::response<http::string_body> res(status, 11);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = std::move(body);
    res.keep_alive(false);
    res.prepare_payload();
    return res;
  }

  void Reply(http::response<http::string_body> res, bool close) {
    response_ = std::move(res);
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, response_, [self = shared_from_this(), close](beast::error_code ec, size_t) {
      if (ec || close) return self->Close();
      self->Read();
    });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  Impl* server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

void MetricsServer::Impl::Accept() {
  acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (!ec) {
      if (connections_.load() >= kMaxConnections) {
        beast::error_code ignored;
        socket.close(ignored);  // bounded: the oldest keep serving, a new one is refused
      } else {
        std::make_shared<Session>(this, std::move(socket))->Read();
      }
    }
    Accept();
  });
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() { impl_->Stop(); }

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const MetricsServerOptions& options,
                                                                    MetricsRenderer render) {
  if (options.path.empty() || options.path.front() != '/') {
    return absl::InvalidArgumentError(absl::StrCat("metrics path \"", options.path, "\" must start with '/'"));
  }
  if (!render) return absl::InvalidArgumentError("metrics server needs a renderer");
  absl::StatusOr<tcp::endpoint> endpoint = ParseListen(options.listen);
  if (!endpoint.ok()) return endpoint.status();
  auto impl = std::make_unique<Impl>(std::move(render), options.path);
  if (absl::Status s = impl->Listen(*endpoint); !s.ok()) return s;
  impl->Run();
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

const std::string& MetricsServer::address() const { return impl_->address(); }

std::string MetricsServer::url() const { return absl::StrCat("http://", impl_->address(), impl_->path()); }

uint64_t MetricsServer::scrapes() const { return impl_->scrapes(); }

absl::StatusOr<std::unique_ptr<MetricsServer>> ServeChannelMetrics(
    const MetricsServerOptions& options, std::vector<std::shared_ptr<BalancedChannel>> channels) {
  for (const auto& c : channels) {
    if (c == nullptr) return absl::InvalidArgumentError("ServeChannelMetrics: a channel is null");
  }
  return MetricsServer::Start(options, [channels = std::move(channels)] {
    std::vector<ChannelMetrics> all;
    all.reserve(channels.size());
    for (const auto& c : channels) all.push_back(c->Metrics());
    return RenderPrometheus(all) + RenderProcessMetrics();
  });
}

}  // namespace k8slb
