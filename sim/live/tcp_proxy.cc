#include "sim/live/tcp_proxy.h"

#include <pthread.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <future>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>

#include "absl/strings/str_cat.h"

namespace k8slb::sim::live {

namespace asio = boost::asio;
using asio::ip::tcp;

struct IoThread::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread;
};

IoThread::IoThread() : impl_(std::make_unique<Impl>()) {}

std::shared_ptr<IoThread> IoThread::Create() {
  std::shared_ptr<IoThread> t(new IoThread());
  Impl* impl = t->impl_.get();
  impl->thread = std::thread([impl] {
    // Asynchronous signals go to the thread that waits for them (the live engine's), never here.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    impl->io.run();
  });
  return t;
}

IoThread::~IoThread() { Stop(); }

asio::io_context& IoThread::context() { return impl_->io; }

void IoThread::Stop() {
  impl_->work.reset();
  impl_->io.stop();
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id()) {
    impl_->thread.join();
  }
}

namespace {

using SteadyNanos = int64_t;

SteadyNanos NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class Session;

}  // namespace

// State shared by the proxy and its sessions; sessions may outlive the proxy by the few handlers
// still queued when it stops. Members below `io` are touched on the I/O thread only.
struct PinningTcpProxy::Shared {
  explicit Shared(asio::io_context& context) : io(context), acceptor(context) {}
  asio::io_context& io;
  tcp::acceptor acceptor;
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<SteadyNanos> paused_until{0};
  std::function<std::optional<Backend>()> pick;
  std::function<void(const Backend&)> on_pinned;
  std::vector<std::weak_ptr<Session>> sessions;
  bool stopped = false;
};

namespace {

// One proxied connection: client <-> backend, two independent copy loops. An end of stream from
// one side is passed on as a half-close (shutdown of the other side's sending direction), as a
// DNAT'ed connection carries FIN end to end; when both directions have ended, or on any error
// (a pod that dies resets its connections), both sockets are closed.
class Session : public std::enable_shared_from_this<Session> {
 public:
  using Shared = PinningTcpProxy::Shared;
  Session(tcp::socket client, std::shared_ptr<Shared> shared)
      : shared_(std::move(shared)), client_(std::move(client)), backend_(shared_->io),
        up_timer_(shared_->io), down_timer_(shared_->io) {}

  void Connect(const Backend& backend) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(backend.host, ec);
    if (ec) {
      shared_->failed.fetch_add(1);
      Close();
      return;
    }
    auto self = shared_from_this();
    // Runs on the I/O thread: the backend socket is created in that thread's network namespace.
    backend_.async_connect(tcp::endpoint(address, static_cast<uint16_t>(backend.port)),
                           [self](const boost::system::error_code& err) {
                             if (err) {
                               self->shared_->failed.fetch_add(1);
                               self->Close();
                               return;
                             }
                             boost::system::error_code ignored;
                             self->backend_.set_option(tcp::no_delay(true), ignored);
                             self->client_.set_option(tcp::no_delay(true), ignored);
                             self->Pump(self->client_, self->backend_, self->up_, self->up_timer_);
                             self->Pump(self->backend_, self->client_, self->down_,
                                        self->down_timer_);
                           });
  }

  // A Pause() changed: waiting writes look at it again.
  void Wake() {
    up_timer_.cancel();
    down_timer_.cancel();
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
    up_timer_.cancel();
    down_timer_.cancel();
  }

 private:
  using Buffer = std::array<char, 16384>;

  void Pump(tcp::socket& from, tcp::socket& to, Buffer& buffer, asio::steady_timer& timer) {
    auto self = shared_from_this();
    from.async_read_some(asio::buffer(buffer), [self, &from, &to, &buffer, &timer](
                                                   const boost::system::error_code& err, size_t n) {
      if (err == asio::error::eof) {
        boost::system::error_code ignored;
        to.shutdown(tcp::socket::shutdown_send, ignored);
        if (--self->open_directions_ == 0) self->Close();
        return;
      }
      if (err) {
        self->Close();
        return;
      }
      self->Forward(from, to, buffer, timer, n);
    });
  }

  // Writes what was read, unless a Pause() is in force: then waits for its end first.
  void Forward(tcp::socket& from, tcp::socket& to, Buffer& buffer, asio::steady_timer& timer,
               size_t n) {
    auto self = shared_from_this();
    const SteadyNanos until = shared_->paused_until.load();
    if (until > NowNanos()) {
      timer.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(until)));
      // Woken early (cancelled) by a later Pause() or Close(): either way, look again.
      timer.async_wait([self, &from, &to, &buffer, &timer, n](const boost::system::error_code&) {
        if (!to.is_open()) {
          self->Close();
          return;
        }
        self->Forward(from, to, buffer, timer, n);
      });
      return;
    }
    asio::async_write(to, asio::buffer(buffer.data(), n),
                      [self, &from, &to, &buffer, &timer](const boost::system::error_code& werr,
                                                          size_t) {
                        if (werr) {
                          self->Close();
                          return;
                        }
                        self->Pump(from, to, buffer, timer);
                      });
  }

  std::shared_ptr<Shared> shared_;
  tcp::socket client_;
  tcp::socket backend_;
  asio::steady_timer up_timer_;
  asio::steady_timer down_timer_;
  Buffer up_{};
  Buffer down_{};
  int open_directions_ = 2;  // I/O thread only
};

void CloseSessions(PinningTcpProxy::Shared& shared) {
  for (auto& weak : shared.sessions) {
    if (auto session = weak.lock()) session->Close();
  }
  shared.sessions.clear();
}

void Accept(const std::shared_ptr<PinningTcpProxy::Shared>& shared) {
  shared->acceptor.async_accept([shared](const boost::system::error_code& err, tcp::socket socket) {
    if (shared->stopped || err == asio::error::operation_aborted || !shared->acceptor.is_open()) {
      return;
    }
    if (!err) {
      shared->accepted.fetch_add(1);
      auto session = std::make_shared<Session>(std::move(socket), shared);
      if (shared->sessions.size() >= 64) {
        std::erase_if(shared->sessions, [](const std::weak_ptr<Session>& w) { return w.expired(); });
      }
      shared->sessions.push_back(session);
      std::optional<Backend> backend = shared->pick();
      if (!backend) {
        session->Close();
      } else {
        if (shared->on_pinned) shared->on_pinned(*backend);
        session->Connect(*backend);
      }
    }
    Accept(shared);
  });
}

// Runs `fn` on the I/O thread and waits for it (at once when that thread no longer runs).
void RunOnIo(asio::io_context& io, const std::function<void()>& fn) {
  if (io.stopped()) {
    fn();
    return;
  }
  std::promise<void> done;
  auto future = done.get_future();
  asio::post(io, [&fn, &done] {
    fn();
    done.set_value();
  });
  future.wait();
}

}  // namespace

PinningTcpProxy::PinningTcpProxy(TcpProxyOptions options) : options_(std::move(options)) {}

PinningTcpProxy::~PinningTcpProxy() { Stop(); }

std::string PinningTcpProxy::address() const { return absl::StrCat(options_.listen_host, ":", port_); }

uint64_t PinningTcpProxy::connections_accepted() const {
  return shared_ ? shared_->accepted.load() : accepted_after_stop_;
}

uint64_t PinningTcpProxy::connections_failed() const {
  return shared_ ? shared_->failed.load() : failed_after_stop_;
}

absl::Status PinningTcpProxy::Start() {
  if (shared_ != nullptr) return absl::FailedPreconditionError("proxy already started");
  if (!options_.pick) return absl::InvalidArgumentError("proxy: no pick function");
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options_.listen_host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("proxy: bad listen host '", options_.listen_host, "': ", ec.message()));
  }
  std::shared_ptr<IoThread> io = options_.io;
  if (io == nullptr) {
    own_io_ = IoThread::Create();
    io = own_io_;
  }
  auto shared = std::make_shared<Shared>(io->context());
  shared->pick = options_.pick;
  shared->on_pinned = options_.on_pinned;
  // The listener is opened here, by the caller's thread: in the caller's network namespace.
  tcp::endpoint endpoint(address, static_cast<uint16_t>(options_.listen_port));
  shared->acceptor.open(endpoint.protocol(), ec);
  if (!ec) shared->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) shared->acceptor.bind(endpoint, ec);
  if (!ec) shared->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    shared->acceptor.close(ignored);
    if (own_io_) own_io_->Stop();
    own_io_.reset();
    return absl::UnavailableError(absl::StrCat("proxy: cannot listen on ", options_.listen_host,
                                               ":", options_.listen_port, ": ", ec.message()));
  }
  port_ = shared->acceptor.local_endpoint().port();
  shared_ = shared;
  asio::post(shared->io, [shared] { Accept(shared); });
  return absl::OkStatus();
}

void PinningTcpProxy::CloseAll() {
  if (shared_ == nullptr) return;
  std::shared_ptr<Shared> shared = shared_;
  asio::post(shared->io, [shared] {
    if (!shared->stopped) CloseSessions(*shared);
  });
}

void PinningTcpProxy::Pause(std::chrono::milliseconds duration) {
  if (shared_ == nullptr) return;
  std::shared_ptr<Shared> shared = shared_;
  shared->paused_until.store(NowNanos() +
                             std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count());
  asio::post(shared->io, [shared] {
    for (auto& weak : shared->sessions) {
      if (auto session = weak.lock()) session->Wake();
    }
  });
}

void PinningTcpProxy::Stop() {
  if (shared_ == nullptr) return;
  std::shared_ptr<Shared> shared = std::move(shared_);
  RunOnIo(shared->io, [&shared] {
    shared->stopped = true;
    boost::system::error_code ignored;
    shared->acceptor.close(ignored);
    CloseSessions(*shared);
    shared->pick = nullptr;
    shared->on_pinned = nullptr;
  });
  accepted_after_stop_ = shared->accepted.load();
  failed_after_stop_ = shared->failed.load();
  shared.reset();  // before the I/O thread it belongs to goes
  if (own_io_) {
    own_io_->Stop();
    own_io_.reset();
  }
}

}  // namespace k8slb::sim::live
