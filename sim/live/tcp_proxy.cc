#include "sim/live/tcp_proxy.h"

#include <array>
#include <thread>
#include <utility>

#include <boost/asio.hpp>

#include "absl/strings/str_cat.h"

namespace k8slb::sim::live {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// One proxied connection: client <-> backend, two independent copy loops. Either side's EOF or
// error closes both sockets (kube-proxy's DNAT does not half-close independently either: when
// the pod goes away the client's connection dies).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket client, asio::io_context& io) : client_(std::move(client)), backend_(io) {}

  void Connect(const Backend& backend, std::atomic<uint64_t>& failed) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(backend.host, ec);
    if (ec) {
      failed.fetch_add(1);
      Close();
      return;
    }
    auto self = shared_from_this();
    backend_.async_connect(tcp::endpoint(address, static_cast<uint16_t>(backend.port)),
                           [self, &failed](const boost::system::error_code& err) {
                             if (err) {
                               failed.fetch_add(1);
                               self->Close();
                               return;
                             }
                             boost::system::error_code ignored;
                             self->backend_.set_option(tcp::no_delay(true), ignored);
                             self->client_.set_option(tcp::no_delay(true), ignored);
                             self->Pump(self->client_, self->backend_, self->up_);
                             self->Pump(self->backend_, self->client_, self->down_);
                           });
  }

  void Close() {
    boost::system::error_code ignored;
    if (client_.is_open()) {
      client_.shutdown(tcp::socket::shutdown_both, ignored);
      client_.close(ignored);
    }
    if (backend_.is_open()) {
      backend_.shutdown(tcp::socket::shutdown_both, ignored);
      backend_.close(ignored);
    }
  }

 private:
  using Buffer = std::array<char, 16384>;

  void Pump(tcp::socket& from, tcp::socket& to, Buffer& buffer) {
    auto self = shared_from_this();
    from.async_read_some(asio::buffer(buffer),
                         [self, &from, &to, &buffer](const boost::system::error_code& err,
                                                     size_t n) {
                           if (err) {
                             self->Close();
                             return;
                           }
                           asio::async_write(to, asio::buffer(buffer.data(), n),
                                             [self, &from, &to, &buffer](
                                                 const boost::system::error_code& werr, size_t) {
                                               if (werr) {
                                                 self->Close();
                                                 return;
                                               }
                                               self->Pump(from, to, buffer);
                                             });
                         });
  }

  tcp::socket client_;
  tcp::socket backend_;
  Buffer up_{};
  Buffer down_{};
};

}  // namespace

struct PinningTcpProxy::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
  bool running = false;
};

PinningTcpProxy::PinningTcpProxy(TcpProxyOptions options) : options_(std::move(options)) {}

PinningTcpProxy::~PinningTcpProxy() { Stop(); }

std::string PinningTcpProxy::address() const { return absl::StrCat(options_.listen_host, ":", port_); }

absl::Status PinningTcpProxy::Start() {
  if (impl_ != nullptr) return absl::FailedPreconditionError("proxy already started");
  if (!options_.pick) return absl::InvalidArgumentError("proxy: no pick function");
  impl_ = std::make_unique<Impl>();
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options_.listen_host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("proxy: bad listen host '", options_.listen_host, "': ", ec.message()));
  }
  tcp::endpoint endpoint(address, static_cast<uint16_t>(options_.listen_port));
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("proxy: cannot listen on ", options_.listen_host,
                                               ":", options_.listen_port, ": ", ec.message()));
  }
  port_ = impl_->acceptor.local_endpoint().port();

  // The accept loop; captured by a shared std::function so it can re-arm itself.
  auto accept = std::make_shared<std::function<void()>>();
  Impl* impl = impl_.get();
  *accept = [this, impl, accept_weak = std::weak_ptr<std::function<void()>>(accept)]() {
    impl->acceptor.async_accept([this, impl, accept_weak](const boost::system::error_code& err,
                                                          tcp::socket socket) {
      if (err == asio::error::operation_aborted || !impl->acceptor.is_open()) return;
      if (!err) {
        accepted_.fetch_add(1);
        auto session = std::make_shared<Session>(std::move(socket), impl->io);
        std::optional<Backend> backend = options_.pick();
        if (!backend) {
          session->Close();
        } else {
          if (options_.on_pinned) options_.on_pinned(*backend);
          session->Connect(*backend, failed_);
        }
      }
      if (auto next = accept_weak.lock()) (*next)();
    });
  };
  (*accept)();
  impl_->running = true;
  // The thread keeps `accept` alive for the life of the loop.
  impl_->thread = std::thread([impl, accept]() { impl->io.run(); });
  return absl::OkStatus();
}

void PinningTcpProxy::Stop() {
  if (impl_ == nullptr) return;
  if (impl_->running) {
    asio::post(impl_->io, [impl = impl_.get()]() {
      boost::system::error_code ignored;
      impl->acceptor.close(ignored);
      impl->io.stop();
    });
    if (impl_->thread.joinable()) impl_->thread.join();
    impl_->running = false;
  }
  // Destroying the io_context destroys pending handlers and with them every Session (and socket).
  impl_.reset();
}

}  // namespace k8slb::sim::live
