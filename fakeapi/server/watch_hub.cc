#include "watch_hub.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

namespace k8slb::fakeapi {
namespace {

using nlohmann::json;

const std::string& EmptyString() {
  static const std::string s;
  return s;
}

const std::string& MetaString(const json& object, const char* field) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return EmptyString();
  auto it = meta->find(field);
  if (it == meta->end() || !it->is_string()) return EmptyString();
  return it->get_ref<const std::string&>();
}

std::map<std::string, std::string> Labels(const json& object) {
  std::map<std::string, std::string> out;
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return out;
  auto labels = meta->find("labels");
  if (labels == meta->end() || !labels->is_object()) return out;
  for (auto it = labels->begin(); it != labels->end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

int KindIndex(fake::ResourceKind kind) { return static_cast<int>(kind); }

}  // namespace

bool WatchFilter::Matches(const json& object) const {
  const std::string& ns = MetaString(object, "namespace");
  if (!namespace_name.empty() && ns != namespace_name) return false;
  if (!fields.empty()) {
    const std::string& name = MetaString(object, "name");
    bool ok = fields.Matches([&](const std::string& field) -> std::string {
      if (field == "metadata.name") return name;
      if (field == "metadata.namespace") return ns;
      return "";
    });
    if (!ok) return false;
  }
  if (!labels.empty() && !labels.Matches(Labels(object))) return false;
  return true;
}

WatchHub::WatchHub(fake::Cluster* cluster, std::function<int64_t()> clock_unix)
    : cluster_(cluster), clock_unix_(std::move(clock_unix)) {
  for (auto kind : {fake::ResourceKind::kService, fake::ResourceKind::kDeployment, fake::ResourceKind::kPod,
                    fake::ResourceKind::kEndpointSlice}) {
    fake::ListResult list = cluster_->List(kind, "");
    for (const auto& item : list.items) shadow_[Key(kind, *item)] = item;
  }
}

std::string WatchHub::Key(fake::ResourceKind kind, const json& object) {
  return absl::StrCat(KindIndex(kind), "|", MetaString(object, "namespace"), "/", MetaString(object, "name"));
}

std::string WatchHub::JsonEventLine(std::string_view type, const std::string& object_json) {
  std::string line;
  line.reserve(object_json.size() + 32);
  line.append("{\"type\":\"").append(type).append("\",\"object\":").append(object_json).append("}\n");
  return line;
}

std::string WatchHub::BookmarkLine(fake::ResourceKind kind, int64_t rv, bool initial_events_end) {
  nlohmann::ordered_json meta = {{"resourceVersion", std::to_string(rv)}};
  if (initial_events_end) meta["annotations"] = {{"k8s.io/initial-events-end", "true"}};
  nlohmann::ordered_json object = {{"kind", std::string(fake::KindName(kind))},
                                   {"apiVersion", std::string(fake::ApiVersion(kind))},
                                   {"metadata", meta}};
  return JsonEventLine("BOOKMARK", object.dump());
}

std::optional<WatchHub::Delivery> WatchHub::Decide(const Watcher& w, fake::ChangeType type, const json* prev,
                                                   const json& cur) {
  bool cur_match = w.filter.Matches(cur);
  switch (type) {
    case fake::ChangeType::kAdded:
      if (cur_match) return Delivery{"ADDED", false};
      return std::nullopt;
    case fake::ChangeType::kDeleted:
      if (cur_match) return Delivery{"DELETED", false};
      return std::nullopt;
    case fake::ChangeType::kModified: {
      bool prev_match = prev != nullptr && w.filter.Matches(*prev);
      if (prev_match && cur_match) return Delivery{"MODIFIED", false};
      if (!prev_match && cur_match) return Delivery{"ADDED", false};
      if (prev_match && !cur_match) return Delivery{"DELETED", true};
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::shared_ptr<const std::string> WatchHub::Line(Watcher& w, const Delivery& d, const fake::StoredEvent& ev,
                                                  const json* prev, std::shared_ptr<const std::string>* cache) {
  if (w.format == OutputFormat::kJson && cache != nullptr && *cache != nullptr) return *cache;
  // The object this watcher sees: the new state, or on a transition out of its selector the
  // previous content stamped with the event's RV (cache_watcher.go convertToWatchEvent).
  json old_copy;
  const json* object = ev.object.get();
  if (d.old_content && prev != nullptr) {
    old_copy = *prev;
    old_copy["metadata"]["resourceVersion"] = std::to_string(ev.resource_version);
    object = &old_copy;
  }
  if (w.format == OutputFormat::kTable) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    rows.push_back(TableRow(ev.kind, *object, clock_unix_()));
    nlohmann::ordered_json table =
        MakeTable(ev.kind, std::to_string(ev.resource_version), std::move(rows), !w.header_sent);
    w.header_sent = true;
    return std::make_shared<const std::string>(JsonEventLine(d.type, table.dump()));
  }
  // JSON lines are shared by every watcher that gets the same delivery of this event.
  std::string text = object == ev.object.get() && ev.type != fake::ChangeType::kDeleted ? *Serialized(ev.object)
                                                                                          : object->dump();
  auto line = std::make_shared<const std::string>(JsonEventLine(d.type, text));
  if (cache != nullptr) *cache = line;
  return line;
}

std::shared_ptr<const json> WatchHub::PrevOf(uint64_t rv) const {
  auto it = std::lower_bound(prev_by_rv_.begin(), prev_by_rv_.end(), rv,
                             [](const auto& entry, uint64_t value) { return entry.first < value; });
  if (it == prev_by_rv_.end() || it->first != rv) return nullptr;
  return it->second;
}

void WatchHub::OnEvent(const fake::StoredEvent& ev) {
  std::string key = Key(ev.kind, *ev.object);
  std::shared_ptr<const json> prev;
  if (auto it = shadow_.find(key); it != shadow_.end()) prev = it->second;
  prev_by_rv_.emplace_back(ev.resource_version, prev);
  if (ev.type == fake::ChangeType::kDeleted) {
    shadow_.erase(key);
  } else {
    shadow_[key] = ev.object;
  }
  Prune();
  {
    // The replaced version is no longer listed; drop its text (and, now and then, every entry
    // whose object is gone).
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (prev) cache_.erase(prev.get());
    if (++events_since_sweep_ >= 1024) {
      events_since_sweep_ = 0;
      for (auto it = cache_.begin(); it != cache_.end();) {
        it = it->second.object.expired() ? cache_.erase(it) : std::next(it);
      }
    }
  }

  auto& list = watchers_[KindIndex(ev.kind)];
  if (list.empty()) return;
  SteadyTime not_before = std::chrono::steady_clock::now() + delay_;
  // One shared line per delivery kind: ADDED, MODIFIED, DELETED, DELETED with old content.
  std::shared_ptr<const std::string> cache[4];
  bool any_done = false;
  for (auto& w : list) {
    if (w->sink->done()) {
      any_done = true;
      continue;
    }
    auto d = Decide(*w, ev.type, prev.get(), *ev.object);
    if (!d) {
      w->sink->Progress(static_cast<int64_t>(ev.resource_version));
      continue;
    }
    int slot = d->old_content ? 3 : d->type == "ADDED" ? 0 : d->type == "MODIFIED" ? 1 : 2;
    w->sink->Push(Line(*w, *d, ev, prev.get(), &cache[slot]), static_cast<int64_t>(ev.resource_version),
                  not_before);
  }
  if (any_done) {
    list.erase(std::remove_if(list.begin(), list.end(), [](const auto& w) { return w->sink->done(); }), list.end());
  }
}

absl::StatusOr<std::shared_ptr<WatchSink>> WatchHub::Start(const StartOptions& options) {
  auto w = std::make_shared<Watcher>();
  w->filter = options.filter;
  w->format = options.format;
  w->sink = std::make_shared<WatchSink>();
  SteadyTime now = std::chrono::steady_clock::now();
  fake::ResourceKind kind = options.filter.kind;
  uint64_t current = cluster_->resource_version();
  if (!options.from_rv) {
    fake::ListResult list = cluster_->List(kind, options.filter.namespace_name);
    for (const auto& item : list.items) {
      if (!options.filter.Matches(*item)) continue;
      fake::StoredEvent synthetic;
      synthetic.kind = kind;
      synthetic.type = fake::ChangeType::kAdded;
      synthetic.object = item;
      const std::string& rv_text = MetaString(*item, "resourceVersion");
      synthetic.resource_version = rv_text.empty() ? list.resource_version : std::stoull(rv_text);
      w->sink->Push(Line(*w, Delivery{"ADDED", false}, synthetic, nullptr, nullptr),
                    static_cast<int64_t>(synthetic.resource_version), now);
    }
    w->sink->Progress(static_cast<int64_t>(list.resource_version));
    if (options.initial_events_end_bookmark) {
      w->sink->Push(std::make_shared<const std::string>(
                        BookmarkLine(kind, static_cast<int64_t>(list.resource_version), true)),
                    static_cast<int64_t>(list.resource_version), now);
    }
  } else {
    auto events = cluster_->EventsAfter(*options.from_rv, kind);
    if (!events.ok()) return events.status();
    for (const auto& ev : *events) {
      auto prev = PrevOf(ev.resource_version);
      auto d = Decide(*w, ev.type, prev.get(), *ev.object);
      if (!d) continue;
      w->sink->Push(Line(*w, *d, ev, prev.get(), nullptr), static_cast<int64_t>(ev.resource_version), now);
    }
    w->sink->Progress(static_cast<int64_t>(std::max(current, *options.from_rv)));
  }
  watchers_[KindIndex(kind)].push_back(w);
  return w->sink;
}

absl::StatusOr<std::vector<std::shared_ptr<const json>>> WatchHub::StateAt(fake::ResourceKind kind,
                                                                          const std::string& ns, uint64_t rv) {
  fake::ListResult list = cluster_->List(kind, ns);
  if (rv >= list.resource_version) return list.items;
  auto events = cluster_->EventsAfter(rv, kind);
  if (!events.ok()) return events.status();
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const json>> state;
  for (const auto& item : list.items) {
    state[{MetaString(*item, "namespace"), MetaString(*item, "name")}] = item;
  }
  // Undo the events after rv, newest first: each restores the object it replaced.
  for (auto it = events->rbegin(); it != events->rend(); ++it) {
    if (!ns.empty() && it->namespace_name != ns) continue;
    std::pair<std::string, std::string> key{it->namespace_name, it->name};
    auto prev = PrevOf(it->resource_version);
    if (prev) {
      state[key] = prev;
    } else {
      state.erase(key);
    }
  }
  std::vector<std::shared_ptr<const json>> out;
  out.reserve(state.size());
  for (auto& [k, v] : state) out.push_back(v);
  return out;
}

std::shared_ptr<const std::string> WatchHub::Serialized(const std::shared_ptr<const json>& object) {
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(object.get());
    if (it != cache_.end() && it->second.object.lock() == object) return it->second.text;
  }
  auto text = std::make_shared<const std::string>(object->dump());
  std::lock_guard<std::mutex> lock(cache_mu_);
  cache_[object.get()] = CacheEntry{object, text};
  return text;
}

void WatchHub::CloseAll() {
  for (auto& list : watchers_) {
    for (auto& w : list) w->sink->Finish();
    list.clear();
  }
}

void WatchHub::SendMalformed() {
  auto line = std::make_shared<const std::string>("{\"type\":\"MODIFIED\",\"object\":{\"kind\":\n");
  SteadyTime now = std::chrono::steady_clock::now();
  for (auto& list : watchers_) {
    for (auto& w : list) w->sink->Push(line, 0, now);
  }
}

int WatchHub::active() {
  int n = 0;
  for (auto& list : watchers_) {
    list.erase(std::remove_if(list.begin(), list.end(), [](const auto& w) { return w->sink->done(); }), list.end());
    n += static_cast<int>(list.size());
  }
  return n;
}

void WatchHub::Prune() {
  uint64_t oldest = cluster_->oldest_watchable_rv();
  while (!prev_by_rv_.empty() && prev_by_rv_.front().first <= oldest) prev_by_rv_.pop_front();
}

void WatchHub::DetachAll() {
  for (auto& list : watchers_) {
    for (auto& w : list) w->sink->Detach();
    list.clear();
  }
}

}  // namespace k8slb::fakeapi
