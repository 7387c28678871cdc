#include "echo_server.h"

#include <grpcpp/alarm.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <random>
#include <map>
#include <vector>
#include <thread>
#include <utility>

#include <k8slb/proto/echo.grpc.pb.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "input/numeric_flag.h"
#include "k8slb/orca_server.h"

namespace k8slb::echo {

// The echo service itself (see echo_server.h for the contract). gRPC's callback threads run
// Echo() and the latency alarms; Shutdown()/Kill() run on the owner's thread.
class EchoServer::Impl final : public Echo::CallbackService {
 public:
  explicit Impl(EchoServerOptions options) : options_(std::move(options)), rng_(options_.seed) {
    latency_ms_.store(options_.latency_ms);
    jitter_ms_.store(options_.jitter_ms);
    error_rate_.store(options_.error_rate);
  }

  absl::Status Bind() {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    // No SO_REUSEPORT: a second server on the same address must fail, not share the port.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    int port = 0;
    auto creds = options_.credentials != nullptr ? options_.credentials : grpc::InsecureServerCredentials();
    builder.AddListeningPort(options_.listen, creds, &port);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port == 0) {
      server_.reset();
      return absl::UnavailableError("cannot listen on " + options_.listen +
                                    " (address in use, not local, or malformed)");
    }
    std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
    if (!options_.advertised_host.empty()) host = options_.advertised_host;
    address_ = host + ":" + std::to_string(port);
    port_ = port;
    if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(true);
    return absl::OkStatus();
  }

  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context, const EchoRequest* request,
                                 EchoResponse* response) override {
    received_.fetch_add(1, std::memory_order_relaxed);
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    if (options_.orca == EchoServerOptions::Orca::kMeasured) tracker_.CallStarted();
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    response->set_message(request->message());
    response->set_request_id(request->request_id());
    response->set_pod_name(options_.pod_name);
    response->set_zone(options_.zone);
    response->set_address(address_);

    double delay_ms = latency_ms_.load(std::memory_order_relaxed);
    double jitter = jitter_ms_.load(std::memory_order_relaxed);
    double error_rate = error_rate_.load(std::memory_order_relaxed);
    bool fail = false;
    if (jitter > 0 || error_rate > 0) {
      absl::MutexLock lock(&rng_mu_);
      if (jitter > 0) delay_ms += std::exponential_distribution<double>(1.0 / jitter)(rng_);
      if (error_rate > 0) fail = std::uniform_real_distribution<double>(0, 1)(rng_) < error_rate;
    }
    grpc::Status status = fail ? grpc::Status(options_.error_code, "injected failure (pod " + options_.pod_name + ")")
                               : grpc::Status::OK;
    if (delay_ms <= 0) {
      Finish(*context, reactor, status);
      return reactor;
    }
    auto pending = std::make_shared<Pending>();
    pending->context = context;
    pending->reactor = reactor;
    pending->status = std::move(status);
    Pending* key = pending.get();
    {
      absl::MutexLock lock(&pending_mu_);
      if (stopping_) {
        // Kill or the end of the grace period: answer now instead of starting a timer.
        Finish(*context, reactor, grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
        return reactor;
      }
      pending_.emplace(key, pending);
    }
    // Set outside the lock: an alarm may run its callback inline, and the callback takes the lock.
    // The callback takes the map's reference; the Pending (alarm included) dies when it returns.
    auto deadline = std::chrono::system_clock::now() + std::chrono::microseconds(static_cast<int64_t>(delay_ms * 1000.0));
    pending->alarm.Set(deadline, [this, key](bool fired) {
      std::shared_ptr<Pending> self;
      {
        absl::MutexLock lock(&pending_mu_);
        auto it = pending_.find(key);
        if (it == pending_.end()) return;
        self = std::move(it->second);
        pending_.erase(it);
      }
      Finish(*self->context, self->reactor,
             fired ? self->status : grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
    });
    return reactor;
  }

  void Shutdown(std::chrono::milliseconds grace) {
    if (shut_.exchange(true)) return;
    if (auto* health = server_->GetHealthCheckService()) health->Shutdown();
    absl::Notification done;
    std::thread waiter([&] {
      server_->Shutdown(std::chrono::system_clock::now() + grace);
      done.Notify();
    });
    done.WaitForNotificationWithTimeout(absl::FromChrono(grace));
    // Calls still waiting on their latency timer are ended now; Shutdown cancels the rest.
    CancelPending();
    waiter.join();
  }

  void Kill() {
    if (shut_.exchange(true)) return;
    CancelPending();
    server_->Shutdown(std::chrono::system_clock::now());
  }

  void SetLatency(double latency_ms, double jitter_ms) {
    latency_ms_.store(latency_ms);
    jitter_ms_.store(jitter_ms);
  }
  void SetErrorRate(double rate) { error_rate_.store(rate); }

  const EchoServerOptions options_;
  std::string address_;
  int port_ = 0;
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> completed_{0};
  std::atomic<int64_t> in_flight_{0};

 private:
  struct Pending {
    grpc::CallbackServerContext* context;  // valid until the reactor finishes
    grpc::ServerUnaryReactor* reactor;
    grpc::Status status;
    grpc::Alarm alarm;
  };

  // Answers the call, with its ORCA report when reporting is on (trailers must be added before
  // Finish sends them).
  void Finish(grpc::CallbackServerContext& context, grpc::ServerUnaryReactor* reactor, const grpc::Status& status) {
    completed_.fetch_add(1, std::memory_order_relaxed);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    switch (options_.orca) {
      case EchoServerOptions::Orca::kOff:
        break;
      case EchoServerOptions::Orca::kMeasured:
        tracker_.CallFinished(!status.ok());
        AttachOrcaLoadReport(context, tracker_.Report());
        break;
      case EchoServerOptions::Orca::kFixed:
        AttachOrcaLoadReport(context, options_.orca_report);
        break;
    }
    reactor->Finish(status);
  }

  void CancelPending() {
    std::vector<std::shared_ptr<Pending>> pending;
    {
      absl::MutexLock lock(&pending_mu_);
      stopping_ = true;
      for (auto& [key, p] : pending_) pending.push_back(p);
    }
    // Cancel may run the callback (fired = false) inline, and the callback takes pending_mu_, so
    // the lock is not held here; our references keep each Pending alive meanwhile.
    for (auto& p : pending) p->alarm.Cancel();
  }

  std::unique_ptr<grpc::Server> server_;
  ServerLoadTracker tracker_;  // kMeasured only
  std::atomic<double> latency_ms_{0};
  std::atomic<double> jitter_ms_{0};
  std::atomic<double> error_rate_{0};
  absl::Mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_);
  absl::Mutex pending_mu_;
  std::map<Pending*, std::shared_ptr<Pending>> pending_ ABSL_GUARDED_BY(pending_mu_);
  bool stopping_ ABSL_GUARDED_BY(pending_mu_) = false;
  std::atomic<bool> shut_{false};
};

absl::StatusOr<std::unique_ptr<EchoServer>> EchoServer::Start(EchoServerOptions options) {
  // gRPC would take a port above 65535 modulo 2^16 and NaN latencies would reach the timers.
  for (absl::Status s : {input::CheckDoubleFlag("latency_ms", options.latency_ms, 0, 3'600'000),
                         input::CheckDoubleFlag("jitter_ms", options.jitter_ms, 0, 3'600'000),
                         input::CheckDoubleFlag("error_rate", options.error_rate, 0, 1)}) {
    if (!s.ok()) return s;
  }
  if (auto listen = input::ParseHostPortFlag("listen address", options.listen); !listen.ok()) {
    return listen.status();
  }
  // A fixed report must be one a client accepts: the decoder's checks are the definition.
  if (options.orca == EchoServerOptions::Orca::kFixed) {
    if (auto decoded = DecodeOrcaLoadReport(EncodeOrcaLoadReport(options.orca_report)); !decoded.ok()) {
      return absl::InvalidArgumentError("orca_report: " + std::string(decoded.status().message()));
    }
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  absl::Status status = impl->Bind();
  if (!status.ok()) return status;
  return std::unique_ptr<EchoServer>(new EchoServer(std::move(impl)));
}

EchoServer::EchoServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EchoServer::~EchoServer() { impl_->Kill(); }

const std::string& EchoServer::address() const { return impl_->address_; }
int EchoServer::port() const { return impl_->port_; }
const std::string& EchoServer::pod_name() const { return impl_->options_.pod_name; }
void EchoServer::SetLatency(double latency_ms, double jitter_ms) { impl_->SetLatency(latency_ms, jitter_ms); }
void EchoServer::SetErrorRate(double error_rate) { impl_->SetErrorRate(error_rate); }
void EchoServer::Shutdown(std::chrono::milliseconds grace) { impl_->Shutdown(grace); }
void EchoServer::Kill() { impl_->Kill(); }
uint64_t EchoServer::received() const { return impl_->received_.load(); }
uint64_t EchoServer::completed() const { return impl_->completed_.load(); }
int64_t EchoServer::in_flight() const { return impl_->in_flight_.load(); }

absl::StatusOr<grpc::StatusCode> ParseStatusCode(std::string_view name) {
  static const std::pair<const char*, grpc::StatusCode> kCodes[] = {
      {"ok", grpc::StatusCode::OK},
      {"cancelled", grpc::StatusCode::CANCELLED},
      {"unknown", grpc::StatusCode::UNKNOWN},
      {"invalid_argument", grpc::StatusCode::INVALID_ARGUMENT},
      {"deadline_exceeded", grpc::StatusCode::DEADLINE_EXCEEDED},
      {"not_found", grpc::StatusCode::NOT_FOUND},
      {"already_exists", grpc::StatusCode::ALREADY_EXISTS},
      {"permission_denied", grpc::StatusCode::PERMISSION_DENIED},
      {"resource_exhausted", grpc::StatusCode::RESOURCE_EXHAUSTED},
      {"failed_precondition", grpc::StatusCode::FAILED_PRECONDITION},
      {"aborted", grpc::StatusCode::ABORTED},
      {"out_of_range", grpc::StatusCode::OUT_OF_RANGE},
      {"unimplemented", grpc::StatusCode::UNIMPLEMENTED},
      {"internal", grpc::StatusCode::INTERNAL},
      {"unavailable", grpc::StatusCode::UNAVAILABLE},
      {"data_loss", grpc::StatusCode::DATA_LOSS},
      {"unauthenticated", grpc::StatusCode::UNAUTHENTICATED},
  };
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) {
    return c == '-' ? '_' : static_cast<char>(std::tolower(c));
  });
  for (const auto& [n, code] : kCodes) {
    if (lower == n) return code;
  }
  return absl::InvalidArgumentError("unknown gRPC status code '" + std::string(name) + "'");
}

}  // namespace k8slb::echo
