#include "grpc/interceptors.h"

#include <grpcpp/support/interceptor.h>

#include <iostream>
#include <optional>
#include <string_view>
#include <utility>

#include "k8slb/orca.h"

namespace k8slb::internal {
namespace {

namespace gx = grpc::experimental;

class OutcomeInterceptor final : public gx::Interceptor {
 public:
  explicit OutcomeInterceptor(std::shared_ptr<const CallSignals> signals)
      : signals_(std::move(signals)),
        start_(signals_->latency != nullptr ? signals_->latency->Start(*signals_->stats) : LatencySignal::CallStart{}) {}

  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::POST_RECV_STATUS)) {
      grpc::Status* status = methods->GetRecvStatus();
      const CallOutcome outcome = OutcomeOfGrpcStatus(status->error_code());
      EndpointStats& stats = *signals_->stats;
      if (signals_->latency != nullptr) signals_->latency->Record(stats, start_, outcome);
      if (const auto* trailers = methods->GetRecvTrailingMetadata()) RecordLoadReportTrailer(*signals_, *trailers);
      if (std::optional<Ejection> ejection = signals_->detector->Record(stats, outcome)) {
        LogTo(signals_->log, LogLevel::kWarning,
              "k8slb: " + signals_->channel_name + ": " + DescribeEjection(*ejection, signals_->endpoint_name));
      }
      if (outcome == CallOutcome::kUnavailable) {
        std::string note = signals_->detector->AllIneligibleNote();
        if (!note.empty()) {
          *status = grpc::Status(status->error_code(), status->error_message() + note, status->error_details());
        }
      }
    }
    methods->Proceed();
  }

 private:
  std::shared_ptr<const CallSignals> signals_;
  // grpc++ creates the interceptor when the call starts, after the pick counted it in flight.
  LatencySignal::CallStart start_;
};

class OutcomeInterceptorFactory final : public gx::ClientInterceptorFactoryInterface {
 public:
  explicit OutcomeInterceptorFactory(std::shared_ptr<const CallSignals> signals) : signals_(std::move(signals)) {}
  gx::Interceptor* CreateClientInterceptor(gx::ClientRpcInfo* /*info*/) override {
    return new OutcomeInterceptor(signals_);
  }

 private:
  std::shared_ptr<const CallSignals> signals_;
};

class FailInterceptor final : public gx::Interceptor {
 public:
  explicit FailInterceptor(grpc::Status status) : status_(std::move(status)) {}
  void Intercept(gx::InterceptorBatchMethods* methods) override {
    bool hijack = methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA);
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_RECV_MESSAGE)) {
      methods->FailHijackedRecvMessage();
    }
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_RECV_STATUS)) {
      *methods->GetRecvStatus() = status_;
    }
    if (hijack) {
      methods->Hijack();
    } else {
      methods->Proceed();
    }
  }

 private:
  grpc::Status status_;
};

class FailInterceptorFactory final : public gx::ClientInterceptorFactoryInterface {
 public:
  explicit FailInterceptorFactory(grpc::Status status) : status_(std::move(status)) {}
  gx::Interceptor* CreateClientInterceptor(gx::ClientRpcInfo* /*info*/) override {
    return new FailInterceptor(status_);
  }

 private:
  grpc::Status status_;
};

}  // namespace

CallOutcome OutcomeOfGrpcStatus(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return CallOutcome::kSuccess;
    case grpc::StatusCode::UNAVAILABLE:
      return CallOutcome::kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return CallOutcome::kNeutral;
    default:
      return CallOutcome::kServerError;
  }
}

void RecordLoadReportTrailer(const CallSignals& signals,
                             const std::multimap<grpc::string_ref, grpc::string_ref>& trailers) {
  if (trailers.empty()) return;
  auto find = [&](std::string_view key) { return trailers.find(grpc::string_ref(key.data(), key.size())); };
  auto it = find(kOrcaTrailerKey);
  if (it == trailers.end()) it = find(kOrcaMirrorTrailerKey);
  if (it == trailers.end()) return;
  EndpointStats& stats = *signals.stats;
  absl::StatusOr<OrcaLoadReport> report = DecodeOrcaLoadReport(std::string_view(it->second.data(), it->second.size()));
  if (!report.ok()) {
    // Counted every time, logged once per endpoint: a broken server would otherwise log per call.
    if (stats.orca_malformed.fetch_add(1, std::memory_order_relaxed) == 0) {
      LogTo(signals.log, LogLevel::kWarning,
            "k8slb: " + signals.channel_name + ": ignoring a malformed load report from " + signals.endpoint_name +
                " (further ones are only counted): " + std::string(report.status().message()));
    }
    return;
  }
  RecordOrcaLoad(stats, *report, signals.clock != nullptr ? signals.clock->NowNanos() : 0);
}

void LogTo(const LogSink& sink, LogLevel level, const std::string& message) {
  if (sink) {
    sink(level, message);
  } else if (level >= LogLevel::kWarning) {
    std::cerr << message << "\n";
  }
}

std::unique_ptr<gx::ClientInterceptorFactoryInterface> MakeOutcomeInterceptorFactory(
    std::shared_ptr<const CallSignals> signals) {
  return std::make_unique<OutcomeInterceptorFactory>(std::move(signals));
}

std::unique_ptr<gx::ClientInterceptorFactoryInterface> MakeFailInterceptorFactory(grpc::Status status) {
  return std::make_unique<FailInterceptorFactory>(std::move(status));
}

}  // namespace k8slb::internal
