#include "service_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"

namespace k8slb::xds {

struct ServiceRegistry::Entry {
  explicit Entry(ServiceKey k) : key(std::move(k)), name(key.Name()) {}

  const ServiceKey key;
  const std::string name;
  // Guarded by the registry's mu_.
  std::shared_ptr<EndpointSource> source;
  std::unique_ptr<EndpointSource::Subscription> subscription;
  std::map<const ServiceObserver*, std::weak_ptr<ServiceObserver>> observers;
  std::chrono::steady_clock::time_point idle_since;
  bool announced_available = false;  // observers were told the first data is there
  bool failed = false;               // the factory failed (logged once)

  // The assignments built from the current snapshot, by client zone.
  absl::Mutex cache_mu;
  uint64_t cache_version ABSL_GUARDED_BY(cache_mu) = 0;
  std::map<std::string, CachedAssignment> cache ABSL_GUARDED_BY(cache_mu);
};

namespace {

bool Available(const EndpointSource& source, const EndpointSet& set) {
  if (set.version() > 0) return true;
  std::optional<DiscoveryStats> discovery = source.Discovery();
  return discovery.has_value() && discovery->synced;
}

}  // namespace

NotifyPool::NotifyPool(int helpers) {
  for (int i = 0; i < helpers; ++i) helpers_.emplace_back([this] { HelperLoop(); });
}

NotifyPool::~NotifyPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& helper : helpers_) helper.join();
}

void NotifyPool::Run(size_t count, const std::function<void(size_t)>& fn) {
  absl::MutexLock run(&run_mu_);
  {
    absl::MutexLock lock(&mu_);
    fn_ = &fn;
    count_ = count;
    next_ = 0;
    done_ = 0;
  }
  Work();
  absl::MutexLock lock(&mu_);
  auto all_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ == count_; };
  mu_.Await(absl::Condition(&all_done));
  fn_ = nullptr;
}

void NotifyPool::Work() {
  for (;;) {
    const std::function<void(size_t)>* fn = nullptr;
    size_t index = 0;
    {
      absl::MutexLock lock(&mu_);
      if (fn_ == nullptr || next_ == count_) return;
      fn = fn_;
      index = next_++;
    }
    (*fn)(index);
    absl::MutexLock lock(&mu_);
    ++done_;
  }
}

void NotifyPool::HelperLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || (fn_ != nullptr && next_ < count_);
      };
      mu_.Await(absl::Condition(&has_work));
      if (stopping_) return;
    }
    Work();
  }
}

ServiceRegistry::ServiceRegistry(ServiceRegistryOptions options) : options_(std::move(options)) {
  if (options_.notify_threads > 0) notify_pool_ = std::make_unique<NotifyPool>(options_.notify_threads);
  janitor_ = std::thread([this] { JanitorLoop(); });
}

ServiceRegistry::~ServiceRegistry() {
  std::map<std::string, std::shared_ptr<Entry>> entries;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    entries.swap(entries_);
  }
  janitor_.join();
  for (auto& [name, entry] : entries) StopEntry(*entry);
}

void ServiceRegistry::StopEntry(Entry& entry) {
  // Unsubscribe before the source goes (each waits for a running listener), outside mu_ since a
  // listener may be waiting for it.
  std::unique_ptr<EndpointSource::Subscription> subscription;
  std::shared_ptr<EndpointSource> source;
  {
    absl::MutexLock lock(&mu_);
    subscription = std::move(entry.subscription);
    source = std::move(entry.source);
  }
  subscription.reset();
  source.reset();
}

void ServiceRegistry::Log(LogLevel level, const std::string& message) const {
  if (options_.log) options_.log(level, message);
}

void ServiceRegistry::Acquire(const ServiceKey& key, const std::shared_ptr<ServiceObserver>& observer) {
  const std::string name = key.Name();
  std::shared_ptr<Entry> entry;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    auto it = entries_.find(name);
    if (it != entries_.end()) {
      it->second->observers[observer.get()] = observer;
      return;
    }
    entry = std::make_shared<Entry>(key);
    entry->observers[observer.get()] = observer;
    entries_.emplace(name, entry);
  }
  // Start the source outside the lock: a source may publish from its own thread at once, and
  // its listener takes mu_.
  absl::StatusOr<std::shared_ptr<EndpointSource>> source = options_.factory(key);
  if (!source.ok()) {
    Log(LogLevel::kError, absl::StrCat("k8slb-xds: cannot watch ", name, ": ", source.status().message()));
    absl::MutexLock lock(&mu_);
    entry->failed = true;
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    entry->source = *source;
  }
  auto subscription = (*source)->Subscribe(
      [this, name](const std::shared_ptr<const EndpointSet>&) { OnPublish(name); });
  bool publish_now = false;
  {
    absl::MutexLock lock(&mu_);
    entry->subscription = std::move(subscription);
    publish_now = !entry->announced_available && Available(**source, *(*source)->Current());
    if (publish_now) entry->announced_available = true;
  }
  if (publish_now) Notify(entry);
}

void ServiceRegistry::Release(const ServiceKey& key, const ServiceObserver* observer) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key.Name());
  if (it == entries_.end()) return;
  it->second->observers.erase(observer);
  if (it->second->observers.empty()) it->second->idle_since = std::chrono::steady_clock::now();
}

void ServiceRegistry::OnPublish(const std::string& name) {
  std::shared_ptr<Entry> entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return;
    entry = it->second;
    entry->announced_available = true;
  }
  Notify(entry);
}

void ServiceRegistry::Notify(const std::shared_ptr<Entry>& entry) {
  std::vector<std::shared_ptr<ServiceObserver>> observers;
  {
    absl::MutexLock lock(&mu_);
    observers.reserve(entry->observers.size());
    for (auto& [raw, weak] : entry->observers) {
      if (auto strong = weak.lock()) observers.push_back(std::move(strong));
    }
    notifications_ += observers.size();
  }
  if (notify_pool_ == nullptr || observers.size() < options_.parallel_notify_min) {
    for (const auto& observer : observers) observer->OnServiceChanged(entry->key);
    return;
  }
  // In blocks, so that claiming one (a lock) costs little beside the writes it starts.
  constexpr size_t kBlock = 16;
  notify_pool_->Run((observers.size() + kBlock - 1) / kBlock, [&](size_t block) {
    const size_t end = std::min(observers.size(), (block + 1) * kBlock);
    for (size_t i = block * kBlock; i < end; ++i) observers[i]->OnServiceChanged(entry->key);
  });
}

std::optional<CachedAssignment> ServiceRegistry::Assignment(const ServiceKey& key, const std::string& zone) {
  std::shared_ptr<Entry> entry;
  std::shared_ptr<EndpointSource> source;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key.Name());
    if (it == entries_.end() || !it->second->source) return std::nullopt;
    entry = it->second;
    source = entry->source;
  }
  std::shared_ptr<const EndpointSet> set = source->Current();
  if (!Available(*source, *set)) return std::nullopt;

  absl::MutexLock lock(&entry->cache_mu);
  if (entry->cache_version != set->version() || entry->cache.empty()) {
    entry->cache.clear();
    entry->cache_version = set->version();
  }
  auto it = entry->cache.find(zone);
  if (it != entry->cache.end()) return it->second;
  // Clients whose zone has no endpoint all get the same, zone-less assignment: build it once.
  bool zone_present = false;
  for (const Endpoint& endpoint : set->endpoints()) {
    if (endpoint.zone && *endpoint.zone == zone) {
      zone_present = true;
      break;
    }
  }
  const std::string effective = zone_present ? zone : std::string();
  it = entry->cache.find(effective);
  if (it == entry->cache.end()) {
    auto assignment = BuildLoadAssignment(key, *set, AssignmentOptions{.client_zone = effective});
    size_t endpoints = 0;
    for (const auto& locality : assignment.endpoints()) endpoints += locality.lb_endpoints_size();
    CachedAssignment cached{.set_version = set->version(),
                            .endpoints = endpoints,
                            .bytes = std::make_shared<const std::string>(assignment.SerializeAsString())};
    it = entry->cache.emplace(effective, std::move(cached)).first;
    absl::MutexLock stats_lock(&mu_);
    ++assignments_built_;
  }
  CachedAssignment result = it->second;
  if (effective != zone) entry->cache.emplace(zone, result);
  return result;
}

RegistryStats ServiceRegistry::stats() const {
  absl::MutexLock lock(&mu_);
  RegistryStats stats;
  stats.services = entries_.size();
  for (const auto& [name, entry] : entries_) {
    if (entry->announced_available) ++stats.synced;
  }
  stats.assignments_built = assignments_built_;
  stats.notifications = notifications_;
  return stats;
}

void ServiceRegistry::JanitorLoop() {
  for (;;) {
    std::vector<std::shared_ptr<Entry>> newly_available;
    std::vector<std::shared_ptr<Entry>> idle;
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stop), absl::Milliseconds(options_.janitor_period.count()));
      if (stopping_) return;
      const auto now = std::chrono::steady_clock::now();
      for (auto it = entries_.begin(); it != entries_.end();) {
        Entry& entry = *it->second;
        if (entry.observers.empty() && now - entry.idle_since >= options_.idle_grace) {
          idle.push_back(it->second);
          it = entries_.erase(it);
          continue;
        }
        if (!entry.announced_available && entry.source && entry.subscription &&
            Available(*entry.source, *entry.source->Current())) {
          entry.announced_available = true;
          newly_available.push_back(it->second);
        }
        ++it;
      }
    }
    for (const auto& entry : newly_available) Notify(entry);
    for (auto& entry : idle) {
      Log(LogLevel::kInfo, absl::StrCat("k8slb-xds: no stream uses ", entry->name, " any more: stopped its watch"));
      StopEntry(*entry);
    }
  }
}

}  // namespace k8slb::xds
