// EndpointConn's per-endpoint objects and CallHandle, which counts one call against it.
#include "grpc/endpoint_conn.h"

namespace k8slb {
namespace internal {

EndpointConn::~EndpointConn() {
  // Objects made on the channel (stubs) hold it; destroy them before the channel goes.
  for (Slot& s : slots_) s.object.reset();
  absl::MutexLock lock(&objects_mu_);
  extra_.clear();
}

PerEndpointObject& EndpointConn::FindOrMake(const std::type_info& type,
                                            absl::FunctionRef<std::unique_ptr<PerEndpointObject>()> make) {
  for (Slot& s : slots_) {
    const std::type_info* t = s.type.load(std::memory_order_acquire);
    if (t != nullptr && *t == type) return *s.object;
  }
  absl::MutexLock lock(&objects_mu_);
  for (Slot& s : slots_) {
    const std::type_info* t = s.type.load(std::memory_order_relaxed);
    if (t != nullptr && *t == type) return *s.object;
    if (t == nullptr) {
      s.object = make();
      s.type.store(&type, std::memory_order_release);
      return *s.object;
    }
  }
  for (Extra& e : extra_) {
    if (*e.type == type) return *e.object;
  }
  extra_.push_back(Extra{&type, make()});
  return *extra_.back().object;
}

}  // namespace internal

CallHandle::CallHandle(std::shared_ptr<internal::EndpointConn> conn) : conn_(std::move(conn)) {
  if (conn_ != nullptr) conn_->stats->in_flight.fetch_add(1, std::memory_order_relaxed);
}

CallHandle& CallHandle::operator=(CallHandle&& other) noexcept {
  if (this != &other) {
    Done();
    conn_ = std::move(other.conn_);
  }
  return *this;
}

CallHandle::~CallHandle() { Done(); }

void CallHandle::Done() {
  if (conn_ != nullptr) {
    conn_->stats->in_flight.fetch_sub(1, std::memory_order_relaxed);
    conn_.reset();
  }
}

const std::shared_ptr<grpc::Channel>& CallHandle::channel() const { return conn_->channel; }
const std::string& CallHandle::address() const { return conn_->host_port; }
const std::string& CallHandle::pod_name() const { return conn_->pod_name; }

PerEndpointObject& CallHandle::FindOrMake(const std::type_info& type,
                                          absl::FunctionRef<std::unique_ptr<PerEndpointObject>()> make) const {
  return conn_->FindOrMake(type, make);
}

}  // namespace k8slb
