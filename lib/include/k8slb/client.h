// Client<Service>: a generated gRPC service's stub, balanced per call over a BalancedChannel.
//
//   auto channel = k8slb::BalancedChannel::Create("kubernetes:///echo.default:grpc", *config);
//   k8slb::Client<k8slb::echo::Echo> client(*channel);
//   grpc::ClientContext ctx;
//   grpc::Status s = client->Echo(&ctx, request, &response);        // unary, synchronous
//   grpc::Status s = client.With(ctx)->Echo(&ctx, request, &response);  // waits for endpoints up to ctx's deadline
//
// How `client->Method(...)` works: Client::operator-> picks an endpoint and returns a Call by
// value; C++ applies -> again to that temporary, which yields the endpoint's stub (made once per
// endpoint and kept with it: CallHandle::PerEndpoint). The temporary lives until the end of the
// full expression, so for a *synchronous* call the endpoint's in-flight count covers exactly the
// call. The call's status is recorded for outlier ejection by the endpoint channel's interceptor.
// When no endpoint is available the stub is bound to a channel that fails the call at once with
// the reason (BalancedChannel::FailingChannel), so the caller gets an ordinary grpc::Status:
// DEADLINE_EXCEEDED after waiting, UNAVAILABLE with fail-fast.
// operator-> cannot see the ClientContext, so it waits up to max_wait_without_deadline; use
// With(ctx) to wait up to the context's deadline instead.
//
// Async and callback stubs return before the call completes, so the temporary would end the
// in-flight count too early: for them use Pick() and keep the returned Call (or its handle) until
// the completion callback / tag:
//   auto call = client.Pick(ctx);                          // Call
//   call->async()->Echo(&ctx, &req, &resp, [call = std::move(call)](grpc::Status s) mutable { ... });
//
// Thread-safe: one Client may be used from any number of threads. Calls are move-only.
#ifndef K8SLB_CLIENT_H_
#define K8SLB_CLIENT_H_

#include <grpcpp/client_context.h>

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "k8slb/balanced_channel.h"

namespace k8slb {

template <typename Service>
class Client {
 public:
  using Stub = typename Service::Stub;

  explicit Client(std::shared_ptr<BalancedChannel> channel) : channel_(std::move(channel)) {}

  // One call's stub plus its in-flight handle. Inactive (handle().active() false) when the pick
  // failed; the stub then fails every call with the pick's error.
  class Call {
   public:
    Call(Call&&) noexcept = default;
    Call& operator=(Call&&) noexcept = default;
    Stub* operator->() const { return stub_; }
    Stub& operator*() const { return *stub_; }
    CallHandle& handle() { return handle_; }
    // The pick's error when it failed, else OK.
    const absl::Status& pick_status() const { return pick_status_; }

   private:
    friend class Client;
    Call(CallHandle handle, Stub* stub) : handle_(std::move(handle)), stub_(stub) {}
    Call(std::unique_ptr<Stub> owned, absl::Status status)
        : owned_(std::move(owned)), stub_(owned_.get()), pick_status_(std::move(status)) {}

    CallHandle handle_;
    std::unique_ptr<Stub> owned_;
    Stub* stub_ = nullptr;
    absl::Status pick_status_;
  };

  // Picks per call; waits up to max_wait_without_deadline for endpoints (see above).
  Call operator->() const { return Make(channel_->PickHandle()); }
  // Picks per call, waiting for endpoints up to the context's deadline.
  Call With(const grpc::ClientContext& context) const { return Make(channel_->PickHandle(context)); }
  // For async and callback calls: keep the Call until the call completes.
  Call Pick(const grpc::ClientContext& context) const { return With(context); }
  Call Pick() const { return Make(channel_->PickHandle()); }

  BalancedChannel& channel() const { return *channel_; }

 private:
  Call Make(absl::StatusOr<CallHandle> picked) const {
    if (picked.ok()) {
      Stub& stub = picked->template PerEndpoint<Stub>(
          [](const std::shared_ptr<grpc::Channel>& ch) { return Service::NewStub(ch); });
      return Call(*std::move(picked), &stub);
    }
    return Call(Service::NewStub(channel_->FailingChannel(picked.status())), picked.status());
  }

  std::shared_ptr<BalancedChannel> channel_;
};

}  // namespace k8slb

#endif  // K8SLB_CLIENT_H_
