// ListenerSet: the subscriber list behind every EndpointSource in this library.
//
// Publish() runs on the publisher's thread and calls the listeners one at a time under the set's
// mutex; Add() and Subscription destruction may come from any thread. Holding the mutex while
// calling is what lets a Subscription's destructor promise that its listener is not running and
// will not run again (BalancedChannel relies on it to tear down safely). Listeners must therefore
// not subscribe or unsubscribe from inside the callback.
#ifndef K8SLB_SRC_GRPC_LISTENER_SET_H_
#define K8SLB_SRC_GRPC_LISTENER_SET_H_

#include <cstdint>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "k8slb/endpoint_source.h"

namespace k8slb::internal {

class ListenerSet : public std::enable_shared_from_this<ListenerSet> {
 public:
  std::unique_ptr<EndpointSource::Subscription> Add(EndpointSource::Listener listener) ABSL_LOCKS_EXCLUDED(mu_);
  void Publish(const std::shared_ptr<const EndpointSet>& set) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class SubscriptionImpl;
  void Remove(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  std::map<uint64_t, EndpointSource::Listener> listeners_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace k8slb::internal

#endif  // K8SLB_SRC_GRPC_LISTENER_SET_H_
