#include "fakeapi/server/watch_hub.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fakeapi/api/codec.h"
#include "fakeapi/api/schema.h"
#include "fakeapi/api/yaml_json.h"

namespace k8slb::fakeapi {
namespace {

using OJson = nlohmann::ordered_json;

constexpr size_t kEndedKept = 256;

const std::string& EmptyString() {
  static const std::string s;
  return s;
}

const std::string& MetaString(const OJson& object, const char* field) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return EmptyString();
  auto it = meta->find(field);
  if (it == meta->end() || !it->is_string()) return EmptyString();
  return it->get_ref<const std::string&>();
}

std::map<std::string, std::string> Labels(const OJson& object) {
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

uint64_t RvOf(const OJson& object) {
  uint64_t rv = 0;
  (void)absl::SimpleAtoi(MetaString(object, "resourceVersion"), &rv);
  return rv;
}

}  // namespace

bool WatchFilter::Matches(const OJson& object) const {
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

WatchHub::WatchHub(ApiStore* store, ServerClock* clock, Locked locked, std::function<int64_t()> wall_unix,
                   std::chrono::milliseconds bookmark_interval)
    : store_(store),
      clock_(clock),
      locked_(std::move(locked)),
      wall_unix_(std::move(wall_unix)),
      bookmark_interval_(bookmark_interval) {}

WatchHub::~WatchHub() = default;

std::string WatchHub::EventLine(std::string_view type, const std::string& object_json) {
  std::string line;
  line.reserve(object_json.size() + 32);
  line.append("{\"type\":\"").append(type).append("\",\"object\":").append(object_json).append("}\n");
  return line;
}

OJson WatchHub::WithTypeMeta(const ResourceInfo& resource, const OJson& object) {
  OJson out = OJson::object();
  out["kind"] = resource.kind;
  out["apiVersion"] = resource.GroupVersion();
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (it.key() == "kind" || it.key() == "apiVersion") continue;
    out[it.key()] = it.value();
  }
  return out;
}

uint64_t WatchHub::ResourceRv(const std::string& resource) const {
  auto it = last_rv_.find(resource);
  return it == last_rv_.end() ? 0 : it->second;
}

std::optional<WatchHub::Delivery> WatchHub::Decide(const Watcher& w, fake::ChangeType type, const OJson* prev,
                                                   const OJson& cur) {
  bool cur_match = type != fake::ChangeType::kDeleted && w.spec.filter.Matches(cur);
  bool prev_match = prev != nullptr && w.spec.filter.Matches(*prev);
  if (type == fake::ChangeType::kDeleted) {
    if (prev_match || (prev == nullptr && w.spec.filter.Matches(cur))) return Delivery{"DELETED", false};
    return std::nullopt;
  }
  if (cur_match && prev_match) return Delivery{"MODIFIED", false};
  if (cur_match) return Delivery{"ADDED", false};
  if (prev_match) return Delivery{"DELETED", true};
  return std::nullopt;
}

std::shared_ptr<const std::string> WatchHub::Line(Watcher& w, const Delivery& d, const ApiEvent& e,
                                                  std::shared_ptr<const std::string>* cache) {
  if (w.spec.format == OutputFormat::kJson && cache != nullptr && *cache != nullptr) return *cache;
  // The object this watcher sees: the new state, or on a transition out of its selection the
  // previous content stamped with the event's RV (cache_watcher.go convertToWatchEvent).
  OJson object = *e.object;
  if (d.old_content && e.prev) {
    object = *e.prev;
    api::SetResourceVersion(object, std::to_string(e.rv));
  }
  std::shared_ptr<const std::string> line;
  if (w.spec.format == OutputFormat::kTable) {
    OJson rows = OJson::array();
    rows.push_back(TableRow(*w.spec.resource, object, wall_unix_()));
    OJson table = MakeTable(*w.spec.resource, std::to_string(e.rv), std::move(rows), !w.header_sent,
                            /*empty_columns_when_omitted=*/true);
    w.header_sent = true;
    line = std::make_shared<const std::string>(EventLine(d.type, api::GoJson(table)));
  } else {
    line = std::make_shared<const std::string>(EventLine(d.type, api::GoJson(WithTypeMeta(*w.spec.resource, object))));
    if (cache != nullptr) *cache = line;
  }
  return line;
}

void WatchHub::Push(Watcher& w, std::shared_ptr<const std::string> line) {
  SteadyTime not_before = std::chrono::steady_clock::now() + delay_;
  w.sink->Push(std::move(line), not_before);
  ++w.lines;
  w.times.push_back(clock_->SecondsSinceStart());
}

void WatchHub::OnEvent(const ResourceInfo& resource, const ApiEvent& e) {
  last_rv_[resource.resource] = std::max(last_rv_[resource.resource], e.rv);
  auto it = watchers_.find(resource.resource);
  if (it == watchers_.end()) return;
  std::shared_ptr<const std::string> cache[4];
  std::vector<std::shared_ptr<Watcher>> done;
  for (auto& w : it->second) {
    if (w->sink->done()) {
      done.push_back(w);
      continue;
    }
    auto d = Decide(*w, e.type, e.prev.get(), *e.object);
    if (!d) continue;
    int slot = d->old_content ? 3 : d->type == "ADDED" ? 0 : d->type == "MODIFIED" ? 1 : 2;
    Push(*w, Line(*w, *d, e, &cache[slot]));
  }
  for (auto& w : done) Retire(w);
}

absl::StatusOr<std::shared_ptr<WatchSink>> WatchHub::Start(const WatchSpec& spec) {
  auto w = std::make_shared<Watcher>();
  w->spec = spec;
  w->sink = std::make_shared<WatchSink>();
  w->started = clock_->Now();
  const std::string& resource = spec.resource->resource;
  if (!spec.from_rv) {
    uint64_t list_rv = std::max(store_->last_rv(), ResourceRv(resource));
    for (const ObjectPtr& item : store_->List(resource, spec.filter.namespace_name)) {
      if (!spec.filter.Matches(*item)) continue;
      ApiEvent synthetic;
      synthetic.rv = RvOf(*item);
      synthetic.type = fake::ChangeType::kAdded;
      synthetic.object = item;
      Push(*w, Line(*w, Delivery{"ADDED", false}, synthetic, nullptr));
    }
    w->start_rv = list_rv;
  } else {
    auto events = store_->WatchEventsAfter(resource, *spec.from_rv);
    if (!events.ok()) return events.status();
    for (const ApiEvent* e : *events) {
      auto d = Decide(*w, e->type, e->prev.get(), *e->object);
      if (!d) continue;
      Push(*w, Line(*w, *d, *e, nullptr));
    }
    w->start_rv = *spec.from_rv;
  }
  std::weak_ptr<Watcher> weak = w;
  w->deadline_timer = clock_->Schedule(spec.deadline, [this, weak] {
    locked_([&] {
      if (auto s = weak.lock()) {
        s->sink->Finish();
        Retire(s);
      }
    });
  });
  if (spec.bookmarks) ScheduleBookmark(w, w->started);
  watchers_[resource].push_back(w);
  return w->sink;
}

std::shared_ptr<WatchSink> WatchHub::ErrorStream(const WatchSpec& spec, const std::string& status_json,
                                                 std::chrono::nanoseconds after) {
  auto w = std::make_shared<Watcher>();
  w->spec = spec;
  w->sink = std::make_shared<WatchSink>();
  w->started = clock_->Now();
  // An empty status: the stream just ends (a deadline that came before the error).
  auto line = status_json.empty() ? nullptr : std::make_shared<const std::string>(EventLine("ERROR", status_json));
  if (after.count() <= 0) {
    if (line) Push(*w, line);
    w->sink->Finish();
    ended_.push_back(w);
  } else {
    std::weak_ptr<Watcher> weak = w;
    watchers_["\x01errors"].push_back(w);
    w->deadline_timer = clock_->Schedule(w->started + after, [this, weak, line] {
      locked_([&] {
        if (auto s = weak.lock()) {
          if (!s->sink->done() && line) Push(*s, line);
          s->sink->Finish();
          Retire(s);
        }
      });
    });
  }
  while (ended_.size() > kEndedKept) ended_.pop_front();
  return w->sink;
}

void WatchHub::ScheduleBookmark(const std::shared_ptr<Watcher>& w, SteadyTime now) {
  // nextBookmarkTime of the cacher: every interval, and 2 s before the deadline; dispatched in
  // one-second buckets (so two bookmarks can come close before a deadline, as recorded).
  SteadyTime heartbeat = now + bookmark_interval_;
  SteadyTime pre_deadline = w->spec.deadline - std::chrono::seconds(2);
  if (pre_deadline < heartbeat) heartbeat = pre_deadline;
  if (heartbeat < now) return;
  auto bucket = std::min<std::chrono::nanoseconds>(std::chrono::seconds(1), bookmark_interval_);
  auto since = std::chrono::duration_cast<std::chrono::nanoseconds>(heartbeat - w->started);
  int64_t k = (since.count() + bucket.count() - 1) / bucket.count();
  SteadyTime fire = w->started + bucket * k;
  if (fire <= now) fire += bucket;
  std::weak_ptr<Watcher> weak = w;
  w->bookmark_timer = clock_->Schedule(fire, [this, weak] {
    locked_([&] {
      if (auto s = weak.lock()) Bookmark(s);
    });
  });
}

void WatchHub::Bookmark(const std::shared_ptr<Watcher>& w) {
  w->bookmark_timer = 0;
  if (w->sink->done()) return;
  const std::string& resource = w->spec.resource->resource;
  uint64_t rv = ResourceRv(resource);
  // The cacher sends a bookmark only once its version has moved past where the watch started.
  if (rv > w->start_rv) {
    const api::TypeDef* type = api::Schema::Builtin().Find(w->spec.resource->schema_id);
    OJson object = api::Encode(*type, OJson{{"metadata", {{"resourceVersion", std::to_string(rv)}}}});
    Push(*w, std::make_shared<const std::string>(EventLine("BOOKMARK", api::GoJson(WithTypeMeta(*w->spec.resource, object)))));
  }
  ScheduleBookmark(w, clock_->Now());
}

void WatchHub::Retire(const std::shared_ptr<Watcher>& w) {
  if (w->deadline_timer != 0) clock_->Cancel(w->deadline_timer);
  if (w->bookmark_timer != 0) clock_->Cancel(w->bookmark_timer);
  w->deadline_timer = w->bookmark_timer = 0;
  for (auto& [resource, list] : watchers_) {
    auto it = std::find(list.begin(), list.end(), w);
    if (it != list.end()) {
      list.erase(it);
      ended_.push_back(w);
      while (ended_.size() > kEndedKept) ended_.pop_front();
      return;
    }
  }
}

void WatchHub::CloseAll() {
  std::vector<std::shared_ptr<Watcher>> all;
  for (auto& [resource, list] : watchers_) all.insert(all.end(), list.begin(), list.end());
  for (auto& w : all) {
    w->sink->Finish();
    Retire(w);
  }
}

void WatchHub::SendMalformed() {
  auto line = std::make_shared<const std::string>("{\"type\":\"MODIFIED\",\"object\":{\"kind\":\n");
  for (auto& [resource, list] : watchers_) {
    for (auto& w : list) Push(*w, line);
  }
}

int WatchHub::active() {
  int n = 0;
  std::vector<std::shared_ptr<Watcher>> done;
  for (auto& [resource, list] : watchers_) {
    for (auto& w : list) {
      if (w->sink->done()) {
        done.push_back(w);
      } else {
        ++n;
      }
    }
  }
  for (auto& w : done) Retire(w);
  return n;
}

void WatchHub::DetachAll() {
  for (auto& [resource, list] : watchers_) {
    for (auto& w : list) {
      if (w->deadline_timer != 0) clock_->Cancel(w->deadline_timer);
      if (w->bookmark_timer != 0) clock_->Cancel(w->bookmark_timer);
      w->sink->Detach();
    }
    list.clear();
  }
}

nlohmann::json WatchHub::State() const {
  nlohmann::json out = nlohmann::json::array();
  auto add = [&](const Watcher& w) {
    nlohmann::json times = nlohmann::json::array();
    for (double t : w.times) times.push_back(std::round(t * 1000) / 1000);
    out.push_back({{"tag", w.spec.tag},
                   {"target", w.spec.target},
                   {"lines", w.lines},
                   {"times", times},
                   {"ended", w.sink->finished()}});
  };
  for (const auto& w : ended_) add(*w);
  for (const auto& [resource, list] : watchers_) {
    for (const auto& w : list) add(*w);
  }
  return out;
}

}  // namespace k8slb::fakeapi
