// EndpointSource implementations: manual snapshots, a SliceStore, and a live ServiceWatcher.
#include "k8slb/endpoint_source.h"

#include <algorithm>
#include <utility>

#include "grpc/listener_set.h"

namespace k8slb {
namespace internal {

class ListenerSet::SubscriptionImpl final : public EndpointSource::Subscription {
 public:
  SubscriptionImpl(std::weak_ptr<ListenerSet> set, uint64_t id) : set_(std::move(set)), id_(id) {}
  ~SubscriptionImpl() override {
    if (auto set = set_.lock()) set->Remove(id_);
  }

 private:
  std::weak_ptr<ListenerSet> set_;
  uint64_t id_;
};

std::unique_ptr<EndpointSource::Subscription> ListenerSet::Add(EndpointSource::Listener listener) {
  absl::MutexLock lock(&mu_);
  uint64_t id = next_id_++;
  listeners_.emplace(id, std::move(listener));
  return std::make_unique<SubscriptionImpl>(weak_from_this(), id);
}

void ListenerSet::Remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  listeners_.erase(id);
}

void ListenerSet::Publish(const std::shared_ptr<const EndpointSet>& set) {
  absl::MutexLock lock(&mu_);
  for (auto& [id, listener] : listeners_) listener(set);
}

}  // namespace internal

namespace {

std::shared_ptr<const EndpointSet> EmptySet() {
  return std::make_shared<const EndpointSet>(0, std::vector<Endpoint>{}, UsableReason::kNone, 0, 0);
}

std::string DescribeTarget(const Target& target, const std::string& default_namespace) {
  std::string out = target.namespace_name.value_or(default_namespace) + "/" + target.service;
  if (target.port.name.has_value()) {
    out += ":" + *target.port.name;
  } else if (target.port.number.has_value()) {
    out += ":" + std::to_string(*target.port.number);
  }
  return out;
}

class SliceStoreSource final : public EndpointSource {
 public:
  SliceStoreSource(std::shared_ptr<SliceStore> store, std::string description)
      : store_(std::move(store)),
        description_(std::move(description)),
        listeners_(std::make_shared<internal::ListenerSet>()) {
    std::weak_ptr<internal::ListenerSet> weak = listeners_;
    store_->SetListener([weak](const std::shared_ptr<const EndpointSet>& set) {
      if (auto l = weak.lock()) l->Publish(set);
    });
  }
  std::shared_ptr<const EndpointSet> Current() const override { return store_->Current(); }
  std::unique_ptr<Subscription> Subscribe(Listener listener) override {
    return listeners_->Add(std::move(listener));
  }
  std::string Describe() const override { return description_; }

 private:
  std::shared_ptr<SliceStore> store_;
  std::string description_;
  std::shared_ptr<internal::ListenerSet> listeners_;
};

class DiscoverySource final : public EndpointSource {
 public:
  DiscoverySource(std::string description, std::shared_ptr<internal::ListenerSet> listeners)
      : description_(std::move(description)), listeners_(std::move(listeners)) {}
  ~DiscoverySource() override {
    if (watcher_ != nullptr) watcher_->Stop();
  }

  void set_watcher(std::unique_ptr<ServiceWatcher> watcher) { watcher_ = std::move(watcher); }

  std::shared_ptr<const EndpointSet> Current() const override {
    auto set = watcher_->Current();
    return set != nullptr ? set : EmptySet();
  }
  std::unique_ptr<Subscription> Subscribe(Listener listener) override {
    return listeners_->Add(std::move(listener));
  }
  std::optional<DiscoveryStats> Discovery() const override { return watcher_->stats(); }
  std::string Describe() const override { return description_; }

 private:
  std::string description_;
  std::shared_ptr<internal::ListenerSet> listeners_;
  std::unique_ptr<ServiceWatcher> watcher_;
};

}  // namespace

ManualEndpointSource::ManualEndpointSource(std::string description)
    : description_(std::move(description)),
      listeners_(std::make_shared<internal::ListenerSet>()),
      current_(EmptySet()) {}

uint64_t ManualEndpointSource::SetEndpoints(std::vector<Endpoint> endpoints) {
  std::shared_ptr<const EndpointSet> set;
  uint64_t version;
  {
    absl::MutexLock lock(&mu_);
    std::sort(endpoints.begin(), endpoints.end(),
              [](const Endpoint& a, const Endpoint& b) { return a.HostPort() < b.HostPort(); });
    endpoints.erase(std::unique(endpoints.begin(), endpoints.end(),
                                [](const Endpoint& a, const Endpoint& b) { return a.HostPort() == b.HostPort(); }),
                    endpoints.end());
    // Reuse stats while the endpoint stays (the SliceStore rule), so in-flight counts survive.
    std::vector<std::pair<std::string, std::shared_ptr<EndpointStats>>> stats;
    for (Endpoint& e : endpoints) {
      std::string key = e.HostPort();
      auto it = std::find_if(stats_.begin(), stats_.end(), [&](const auto& p) { return p.first == key; });
      if (e.stats == nullptr) e.stats = it != stats_.end() ? it->second : std::make_shared<EndpointStats>();
      stats.emplace_back(std::move(key), e.stats);
    }
    stats_ = std::move(stats);
    version = next_version_++;
    size_t n = endpoints.size();
    set = std::make_shared<const EndpointSet>(version, std::move(endpoints),
                                              n > 0 ? UsableReason::kReady : UsableReason::kNone, n, n > 0 ? 1 : 0);
    current_ = set;
  }
  listeners_->Publish(set);
  return version;
}

void ManualEndpointSource::SetDiscovery(std::optional<DiscoveryStats> stats) {
  absl::MutexLock lock(&mu_);
  discovery_ = std::move(stats);
}

std::shared_ptr<const EndpointSet> ManualEndpointSource::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

std::unique_ptr<EndpointSource::Subscription> ManualEndpointSource::Subscribe(Listener listener) {
  return listeners_->Add(std::move(listener));
}

std::optional<DiscoveryStats> ManualEndpointSource::Discovery() const {
  absl::MutexLock lock(&mu_);
  return discovery_;
}

std::shared_ptr<EndpointSource> MakeSliceStoreSource(std::shared_ptr<SliceStore> store, std::string description) {
  return std::make_shared<SliceStoreSource>(std::move(store), std::move(description));
}

absl::StatusOr<std::shared_ptr<EndpointSource>> MakeDiscoverySource(DiscoveryOptions options) {
  auto listeners = std::make_shared<internal::ListenerSet>();
  std::string description = DescribeTarget(options.target, options.config.default_namespace);
  // The watcher may publish before StartServiceWatcher returns; the fan-out exists already, and a
  // subscriber reads Current() after subscribing, so no snapshot is missed.
  std::weak_ptr<internal::ListenerSet> weak = listeners;
  auto watcher = StartServiceWatcher(std::move(options), [weak](const std::shared_ptr<const EndpointSet>& set) {
    if (auto l = weak.lock()) l->Publish(set);
  });
  if (!watcher.ok()) return watcher.status();
  auto source = std::make_shared<DiscoverySource>(std::move(description), std::move(listeners));
  source->set_watcher(*std::move(watcher));
  return source;
}

}  // namespace k8slb
