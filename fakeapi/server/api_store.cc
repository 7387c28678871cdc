#include "fakeapi/server/api_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace k8slb::fakeapi {
namespace {

// kube-apiserver's eventFreshDuration: the watch cache keeps at least this much history.
constexpr auto kEventFreshDuration = std::chrono::seconds(75);

}  // namespace

const ApiStore::Resource* ApiStore::Find(const std::string& resource) const {
  auto it = resources_.find(resource);
  return it == resources_.end() ? nullptr : &it->second;
}

ObjectPtr ApiStore::Get(const std::string& resource, const std::string& ns, const std::string& name) const {
  const Resource* r = Find(resource);
  if (r == nullptr) return nullptr;
  auto it = r->objects.find({ns, name});
  return it == r->objects.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> ApiStore::List(const std::string& resource, const std::string& ns) const {
  std::vector<ObjectPtr> out;
  const Resource* r = Find(resource);
  if (r == nullptr) return out;
  auto it = ns.empty() ? r->objects.begin() : r->objects.lower_bound({ns, ""});
  for (; it != r->objects.end() && (ns.empty() || it->first.first == ns); ++it) out.push_back(it->second);
  return out;
}

void ApiStore::UpdateCache(Resource& r, SteadyTime now) {
  // resizeCacheLocked of kube-apiserver's watch cache, then eviction of the oldest when full.
  auto cached = [&](size_t i) -> const ApiEvent& { return r.history[r.history.size() - r.cache_size + i]; };
  bool full = r.cache_size == r.capacity && r.cache_size > 0;
  if (full && now - cached(0).time < kEventFreshDuration) {
    r.capacity = std::min(r.capacity * 2, kUpperBoundCapacity);
  } else if (full && now - cached(r.cache_size - r.capacity / 4).time > kEventFreshDuration) {
    size_t smaller = std::max(r.capacity / 2, kLowerBoundCapacity);
    if (smaller < r.capacity) {
      if (r.cache_size > smaller) {
        r.cache_size = smaller;
        r.evicted = true;
      }
      r.capacity = smaller;
    }
  }
  if (r.cache_size == r.capacity && r.cache_size > 0) {
    --r.cache_size;
    r.evicted = true;
  }
}

void ApiStore::Record(const std::string& resource, fake::ChangeType type, const std::string& ns,
                      const std::string& name, ObjectPtr object, uint64_t rv, SteadyTime now) {
  Resource& r = resources_[resource];
  std::pair<std::string, std::string> key{ns, name};
  ObjectPtr prev;
  if (auto it = r.objects.find(key); it != r.objects.end()) prev = it->second;
  if (type == fake::ChangeType::kDeleted) {
    r.objects.erase(key);
  } else {
    r.objects[key] = object;
  }
  UpdateCache(r, now);
  r.history.push_back(ApiEvent{rv, type, ns, name, std::move(object), std::move(prev), now});
  ++r.cache_size;
  last_rv_ = std::max(last_rv_, rv);
  // Events older than both windows are of no use; a bound keeps memory to the input's size.
  while (r.history.size() > r.cache_size &&
         (r.history.front().rv <= compacted_rv_ || r.history.size() > kMaxHistory)) {
    compacted_rv_ = std::max(compacted_rv_, r.history.front().rv);
    r.history.pop_front();
  }
}

uint64_t ApiStore::OldestWatchableRv(const std::string& resource) const {
  const Resource* r = Find(resource);
  uint64_t oldest = initial_rv_ + 1;
  if (r != nullptr && r->evicted && r->cache_size > 0) {
    oldest = r->history[r->history.size() - r->cache_size].rv;
  } else if (r != nullptr && r->evicted) {
    oldest = last_rv_ + 1;
  }
  if (r != nullptr && r->expired_rv > 0) oldest = std::max(oldest, r->expired_rv + 1);
  return oldest;
}

absl::StatusOr<std::vector<const ApiEvent*>> ApiStore::WatchEventsAfter(const std::string& resource,
                                                                         uint64_t rv) const {
  uint64_t oldest = OldestWatchableRv(resource);
  if (rv + 1 < oldest) {
    return absl::OutOfRangeError(absl::StrCat("too old resource version: ", rv, " (", oldest - 1, ")"));
  }
  std::vector<const ApiEvent*> out;
  const Resource* r = Find(resource);
  if (r == nullptr) return out;
  auto it = std::upper_bound(r->history.begin(), r->history.end(), rv,
                             [](uint64_t v, const ApiEvent& e) { return v < e.rv; });
  for (; it != r->history.end(); ++it) out.push_back(&*it);
  return out;
}

absl::StatusOr<std::vector<ObjectPtr>> ApiStore::StateAt(const std::string& resource, const std::string& ns,
                                                          uint64_t rv) const {
  if (rv < compacted_rv_) return absl::OutOfRangeError("compacted");
  std::map<std::pair<std::string, std::string>, ObjectPtr> state;
  const Resource* r = Find(resource);
  if (r == nullptr) return std::vector<ObjectPtr>();
  state = r->objects;
  for (auto it = r->history.rbegin(); it != r->history.rend() && it->rv > rv; ++it) {
    std::pair<std::string, std::string> key{it->ns, it->name};
    if (it->prev) {
      state[key] = it->prev;
    } else {
      state.erase(key);
    }
  }
  std::vector<ObjectPtr> out;
  for (auto& [k, v] : state) {
    if (ns.empty() || k.first == ns) out.push_back(v);
  }
  return out;
}

uint64_t ApiStore::ResourceRv(const std::string& resource) const {
  const Resource* r = Find(resource);
  uint64_t rv = initial_rv_;
  if (r != nullptr && !r->history.empty()) rv = std::max(rv, r->history.back().rv);
  return rv;
}

void ApiStore::Compact(uint64_t rv) {
  compacted_rv_ = std::max(compacted_rv_, rv);
  for (auto& [name, r] : resources_) {
    while (r.history.size() > r.cache_size && r.history.front().rv <= compacted_rv_) r.history.pop_front();
  }
}

void ApiStore::Expire(uint64_t rv) {
  Compact(rv);
  for (auto& [name, r] : resources_) r.expired_rv = std::max(r.expired_rv, rv);
}

}  // namespace k8slb::fakeapi
