#include "fakeapi/server/http_server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <algorithm>
#include <cctype>
#include <exception>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace k8slb::fakeapi {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr auto kIdleTimeout = std::chrono::seconds(120);
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr uint64_t kBodyLimit = 64ull << 20;

SteadyTime FromNanos(int64_t ns) { return SteadyTime(std::chrono::nanoseconds(ns)); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

HttpRequest ToRequest(http::request<http::string_body>& req) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  std::string_view target = out.target;
  size_t q = target.find('?');
  out.path = PercentDecode(target.substr(0, q), /*plus_is_space=*/false);
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      size_t amp = rest.find('&');
      std::string_view part = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (part.empty()) continue;
      size_t eq = part.find('=');
      std::string key = PercentDecode(part.substr(0, eq), true);
      std::string value = eq == std::string_view::npos ? "" : PercentDecode(part.substr(eq + 1), true);
      out.query.emplace_back(std::move(key), std::move(value));
    }
  }
  for (const auto& field : req) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(req.body());
  return out;
}

// One connection. Derived supplies stream() (plain tcp_stream or ssl_stream) and DoEof().
template <class Derived>
class Session {
 public:
  Session(beast::flat_buffer buffer, HttpHandler* handler, std::shared_ptr<std::atomic<int64_t>> stall)
      : buffer_(std::move(buffer)), handler_(handler), stall_(std::move(stall)) {}

 protected:
  Derived& derived() { return static_cast<Derived&>(*this); }

  void DoRead() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    beast::get_lowest_layer(derived().stream()).expires_after(kIdleTimeout);
    http::async_read(derived().stream(), buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, derived().shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec == http::error::end_of_stream) return derived().DoEof();
    if (ec) return;  // timeout, reset, malformed request: drop the connection
    http::request<http::string_body> req = parser_->release();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    head_ = req.method() == http::verb::head;
    HttpRequest request = ToRequest(req);
    HttpResponse response;
    try {
      response = (*handler_)(request);
    } catch (const std::exception& e) {
      response = HttpResponse{};
      response.status = 500;
      response.body = R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Internal error occurred: unexpected exception","reason":"InternalError","code":500})";
    }
    Respond(std::move(response));
  }

  void Respond(HttpResponse response) {
    if (response.close_without_response) return Teardown();
    if (response.deferred) {
      // No I/O is pending while the answer waits, so the wake-up keeps the session alive (a weak
      // reference would let it go, closing the connection unanswered). The timer that completes
      // the answer, or the server's shutdown dropping it, releases the session.
      auto deferred = response.deferred;
      auto self = derived().shared_from_this();
      auto executor = derived().stream().get_executor();
      beast::get_lowest_layer(derived().stream()).expires_never();
      deferred->OnReady([self, executor, deferred] {
        net::post(executor, [self, deferred] {
          if (auto r = deferred->Take()) self->Respond(std::move(*r));
        });
      });
      return;
    }
    if (response.stream) return StartStream(std::move(response));
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(response.status),
                                                                   version_);
    if (!response.content_type.empty()) res->set(http::field::content_type, response.content_type);
    for (auto& [k, v] : response.headers) res->insert(k, v);
    res->keep_alive(keep_alive_);
    if (head_) {
      // HEAD: the length of the body a GET would get, and no body.
      res->content_length(response.body.size());
    } else {
      res->body() = std::move(response.body);
      res->prepare_payload();
    }
    beast::get_lowest_layer(derived().stream()).expires_after(kIdleTimeout);
    http::async_write(derived().stream(), *res,
                      [self = derived().shared_from_this(), res](beast::error_code ec, size_t) {
                        self->OnWrite(ec, res->need_eof());
                      });
  }

  void OnWrite(beast::error_code ec, bool close) {
    if (ec) return;
    if (close) return derived().DoEof();
    DoRead();
  }

  // ---- chunked stream ----
  void StartStream(HttpResponse response) {
    sink_ = std::move(response.stream);
    header_ = std::make_unique<http::response<http::empty_body>>(static_cast<http::status>(response.status), version_);
    if (!response.content_type.empty()) header_->set(http::field::content_type, response.content_type);
    for (auto& [k, v] : response.headers) header_->insert(k, v);
    header_->chunked(true);
    serializer_ = std::make_unique<http::response_serializer<http::empty_body>>(*header_);
    beast::get_lowest_layer(derived().stream()).expires_never();
    drain_timer_.emplace(derived().stream().get_executor());
    writing_ = true;
    http::async_write_header(derived().stream(), *serializer_,
                             [self = derived().shared_from_this()](beast::error_code ec, size_t) {
                               self->OnHeaderWritten(ec);
                             });
  }

  void OnHeaderWritten(beast::error_code ec) {
    writing_ = false;
    if (ec) return Teardown();
    auto weak = std::weak_ptr<Derived>(derived().shared_from_this());
    auto executor = derived().stream().get_executor();
    sink_->Attach([weak, executor] {
      net::post(executor, [weak] {
        if (auto self = weak.lock()) self->Drain();
      });
    });
    // Watch for the peer closing: clients send nothing on a watch connection.
    derived().stream().async_read_some(
        net::buffer(peek_, sizeof(peek_)),
        [self = derived().shared_from_this()](beast::error_code, size_t) { self->Teardown(); });
    Drain();
  }

  void Drain() {
    if (writing_ || torn_down_) return;
    auto now = std::chrono::steady_clock::now();
    SteadyTime stalled_until = stall_ ? FromNanos(stall_->load(std::memory_order_relaxed)) : SteadyTime{};
    WatchSink::Next next = sink_->TakeNext(now, stalled_until);
    switch (next.kind) {
      case WatchSink::NextKind::kNone:
        return;
      case WatchSink::NextKind::kWaitUntil:
        drain_timer_->expires_at(next.wait_until);
        drain_timer_->async_wait([self = derived().shared_from_this()](beast::error_code ec) {
          if (!ec) self->Drain();
        });
        return;
      case WatchSink::NextKind::kData: {
        writing_ = true;
        auto data = next.data;
        net::async_write(derived().stream(), http::make_chunk(net::buffer(*data)),
                         [self = derived().shared_from_this(), data](beast::error_code ec, size_t) {
                           self->writing_ = false;
                           if (ec) return self->Teardown();
                           self->Drain();
                         });
        return;
      }
      case WatchSink::NextKind::kEnd:
        writing_ = true;
        net::async_write(derived().stream(), http::make_chunk_last(),
                         [self = derived().shared_from_this()](beast::error_code, size_t) {
                           self->writing_ = false;
                           self->Teardown();
                         });
        return;
    }
  }

  void Teardown() {
    if (torn_down_) return;
    torn_down_ = true;
    if (sink_) sink_->MarkClosed();
    beast::error_code ignored;
    if (drain_timer_) drain_timer_->cancel();
    beast::get_lowest_layer(derived().stream()).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(derived().stream()).close();
  }

  beast::flat_buffer buffer_;
  HttpHandler* handler_;
  std::shared_ptr<std::atomic<int64_t>> stall_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  bool head_ = false;
  unsigned version_ = 11;

  std::shared_ptr<WatchSink> sink_;
  std::unique_ptr<http::response<http::empty_body>> header_;
  std::unique_ptr<http::response_serializer<http::empty_body>> serializer_;
  std::optional<net::steady_timer> drain_timer_;
  bool writing_ = false;
  bool torn_down_ = false;
  char peek_[64];
};

class PlainSession : public Session<PlainSession>, public std::enable_shared_from_this<PlainSession> {
 public:
  PlainSession(tcp::socket&& socket, HttpHandler* handler, std::shared_ptr<std::atomic<int64_t>> stall)
      : Session(beast::flat_buffer(), handler, std::move(stall)), stream_(std::move(socket)) {}
  void Run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&PlainSession::DoRead, shared_from_this()));
  }
  beast::tcp_stream& stream() { return stream_; }
  void DoEof() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

 private:
  friend class Session<PlainSession>;
  beast::tcp_stream stream_;
};

class TlsSession : public Session<TlsSession>, public std::enable_shared_from_this<TlsSession> {
 public:
  TlsSession(tcp::socket&& socket, ssl::context& ctx, HttpHandler* handler,
             std::shared_ptr<std::atomic<int64_t>> stall)
      : Session(beast::flat_buffer(), handler, std::move(stall)), stream_(std::move(socket), ctx) {}
  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      beast::get_lowest_layer(self->stream_).expires_after(kHandshakeTimeout);
      self->stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
        if (ec) return;
        self->DoRead();
      });
    });
  }
  beast::ssl_stream<beast::tcp_stream>& stream() { return stream_; }
  void DoEof() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::get_lowest_layer(self->stream_).close();
    });
  }

 private:
  friend class Session<TlsSession>;
  beast::ssl_stream<beast::tcp_stream> stream_;
};

class HttpServerImpl : public HttpServer {
 public:
  HttpServerImpl(HttpServerOptions options, HttpHandler handler)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        ssl_ctx_(ssl::context::tls_server),
        acceptor_(net::make_strand(ioc_)) {}
  // Member order matters: ioc_ is destroyed before ssl_ctx_, so pending sessions go first.

  ~HttpServerImpl() override { Stop(); }

  absl::Status Init() {
    if (options_.tls) {
      boost::system::error_code ec;
      ssl_ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                           ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      ssl_ctx_.use_certificate_chain(net::buffer(options_.tls->cert_chain_pem), ec);
      if (ec) return absl::InternalError(absl::StrCat("TLS certificate: ", ec.message()));
      ssl_ctx_.use_private_key(net::buffer(options_.tls->key_pem), ssl::context::pem, ec);
      if (ec) return absl::InternalError(absl::StrCat("TLS key: ", ec.message()));
    }
    boost::system::error_code ec;
    auto address = net::ip::make_address(options_.host, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("listen address \"", options_.host, "\" is not an IP address"));
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", options_.host, ":", options_.port, ": ", ec.message()));
    }
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("listen: ", ec.message()));
    port_ = acceptor_.local_endpoint().port();
    DoAccept();
    int n = std::max(1, options_.threads);
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { ioc_.run(); });
    return absl::OkStatus();
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        if (options_.tls) {
          std::make_shared<TlsSession>(std::move(socket), ssl_ctx_, &handler_, options_.stalled_until_ns)->Run();
        } else {
          std::make_shared<PlainSession>(std::move(socket), &handler_, options_.stalled_until_ns)->Run();
        }
      }
      DoAccept();
    });
  }

  HttpServerOptions options_;
  HttpHandler handler_;
  ssl::context ssl_ctx_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
};

}  // namespace

std::optional<std::string> HttpRequest::Param(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::optional<std::string> HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return std::nullopt;
}

std::string PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

// ---- WatchSink ----

void WatchSink::WakeLocked() {
  if (wake_ && wake_needed_) {
    wake_needed_ = false;
    wake_();
  }
}

void WatchSink::Push(std::shared_ptr<const std::string> data, SteadyTime not_before) {
  absl::MutexLock lock(&mu_);
  if (finished_ || closed_) return;
  if (items_.size() >= kMaxQueuedItems) {
    // A consumer this far behind is dropped, as the real server drops slow watchers: the stream
    // ends after the chunk in flight and the client re-watches from the last RV it saw.
    items_.clear();
    finished_ = true;
    WakeLocked();
    return;
  }
  items_.push_back(Item{std::move(data), not_before});
  WakeLocked();
}

void WatchSink::Finish() {
  absl::MutexLock lock(&mu_);
  if (finished_ || closed_) return;
  finished_ = true;
  WakeLocked();
}

bool WatchSink::done() const {
  absl::MutexLock lock(&mu_);
  return finished_ || closed_;
}

bool WatchSink::finished() const {
  absl::MutexLock lock(&mu_);
  return finished_;
}

void WatchSink::Attach(std::function<void()> wake) {
  absl::MutexLock lock(&mu_);
  wake_ = std::move(wake);
  wake_needed_ = true;
}

void WatchSink::Detach() {
  absl::MutexLock lock(&mu_);
  wake_ = nullptr;
  closed_ = true;
}

void WatchSink::MarkClosed() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  items_.clear();
  wake_ = nullptr;
}

WatchSink::Next WatchSink::TakeNext(SteadyTime now, SteadyTime stalled_until) {
  absl::MutexLock lock(&mu_);
  Next next;
  if (closed_) return next;
  if (stalled_until > now && (!items_.empty() || finished_)) {
    next.kind = NextKind::kWaitUntil;
    next.wait_until = stalled_until;
    return next;
  }
  if (items_.empty()) {
    if (finished_) {
      next.kind = NextKind::kEnd;
      return next;
    }
    wake_needed_ = true;
    return next;
  }
  if (items_.front().not_before > now) {
    next.kind = NextKind::kWaitUntil;
    next.wait_until = items_.front().not_before;
    return next;
  }
  next.kind = NextKind::kData;
  next.data = std::move(items_.front().data);
  items_.pop_front();
  return next;
}

// ---- DeferredResponse ----

void DeferredResponse::Complete(HttpResponse response) {
  std::function<void()> wake;
  {
    absl::MutexLock lock(&mu_);
    if (value_) return;
    value_ = std::make_unique<HttpResponse>(std::move(response));
    wake = std::move(wake_);
  }
  if (wake) wake();
}

void DeferredResponse::OnReady(std::function<void()> wake) {
  {
    absl::MutexLock lock(&mu_);
    if (!value_) {
      wake_ = std::move(wake);
      return;
    }
  }
  wake();
}

std::optional<HttpResponse> DeferredResponse::Take() {
  absl::MutexLock lock(&mu_);
  if (!value_) return std::nullopt;
  HttpResponse r = std::move(*value_);
  return r;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options, HttpHandler handler) {
  auto server = std::make_unique<HttpServerImpl>(std::move(options), std::move(handler));
  if (absl::Status s = server->Init(); !s.ok()) return s;
  return server;
}

}  // namespace k8slb::fakeapi
