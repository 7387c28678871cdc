#include "slice_model.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "k8slb/endpoint_set.h"

namespace k8slb::coretest {
namespace {

const std::vector<std::string>& SliceNames() {
  static const std::vector<std::string> names = {"echo-a", "echo-b", "echo-c", "echo-d", "echo-e", "echo-f"};
  return names;
}

// Small pools so that the same address shows up in several slices (moves between slices, the
// transient duplicates of
// https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/#duplicate-endpoints)
// and twice in one slice.
constexpr int kIPv4Pool = 180;
constexpr int kIPv6Pool = 24;
constexpr int kFqdnPool = 12;

std::string PoolAddress(AddressType type, int i) {
  switch (type) {
    case AddressType::kIPv4:
      return "10.0." + std::to_string(i / 100) + "." + std::to_string(i % 100 + 1);
    case AddressType::kIPv6:
      return "fd00::" + std::to_string(i + 1);
    case AddressType::kFqdn:
      return "pod-" + std::to_string(i) + ".echo.example";
  }
  return "";
}

int PoolSize(AddressType type) {
  switch (type) {
    case AddressType::kIPv4:
      return kIPv4Pool;
    case AddressType::kIPv6:
      return kIPv6Pool;
    case AddressType::kFqdn:
      return kFqdnPool;
  }
  return 1;
}

rc::Gen<std::optional<bool>> GenTri() { return rc::gen::element<std::optional<bool>>(std::nullopt, true, false); }

enum class ReadyMode { kMixed, kNoneReady, kAllReady };

std::vector<SlicePort> PortConfig(int which) {
  auto port = [](std::optional<std::string> name, std::optional<int32_t> number) {
    SlicePort p;
    p.name = std::move(name);
    p.port = number;
    p.protocol = "TCP";
    return p;
  };
  switch (which) {
    case 0:
      return {port(std::string(kPortName), kPortNumber)};
    case 1:
      return {port(std::string("metrics"), 9090)};  // does not serve the grpc port
    case 2:
      return {port(std::string("metrics"), 9090), port(std::string(kPortName), kPortNumber)};
    case 3:
      return {};  // headless service without ports
    default:
      return {port(std::string(kPortName), 50052)};  // same name, other number (a named target port)
  }
}

bool MatchesOptions(const EndpointSlice& s, const SliceStoreOptions& options) {
  if (!options.namespace_name.empty() && s.metadata.namespace_name != options.namespace_name) return false;
  if (!options.service_name.empty() && s.ServiceName() != options.service_name) return false;
  return true;
}

Published ToPublished(const Endpoint& e) {
  return Published{.host_port = e.HostPort(),
                   .ready = e.ready,
                   .serving = e.serving,
                   .terminating = e.terminating,
                   .slice_name = e.slice_name,
                   .pod_name = e.pod_name,
                   .zone = e.zone,
                   .hint_zones = e.hint_zones,
                   .hint_nodes = e.hint_nodes};
}

// --- the real store --------------------------------------------------------------------------

class RealStoreAdapter final : public StoreUnderTest {
 public:
  explicit RealStoreAdapter(const SliceStoreOptions& options) : store_(options) {}
  void Apply(const SliceEvent& event) override { store_.Apply(event); }
  void Replace(const std::vector<EndpointSlice>& slices) override { store_.Replace(slices); }
  std::vector<Published> Current() const override {
    std::vector<Published> out;
    // Hold the snapshot: a range-for over Current()->endpoints() would iterate a set that the
    // temporary shared_ptr no longer keeps alive.
    const std::shared_ptr<const EndpointSet> set = store_.Current();
    for (const Endpoint& e : set->endpoints()) out.push_back(ToPublished(e));
    return out;
  }

 private:
  SliceStore store_;
};

// --- kuberesolver #66 -------------------------------------------------------------------------

class ReplaceWholeSetAdapter final : public StoreUnderTest {
 public:
  explicit ReplaceWholeSetAdapter(const SliceStoreOptions& options) : options_(options) {}
  void Apply(const SliceEvent& event) override {
    if (!MatchesOptions(event.slice, options_)) return;
    // handle(): cc.UpdateState(addresses of this one slice), for ADDED, MODIFIED and DELETED alike.
    current_ = ExpectedUsable({event.slice}, options_.port).usable;
  }
  void Replace(const std::vector<EndpointSlice>& slices) override {
    for (const EndpointSlice& s : slices) Apply(SliceEvent{.type = SliceEventType::kAdded, .slice = s});
  }
  std::vector<Published> Current() const override { return current_; }

 private:
  SliceStoreOptions options_;
  std::vector<Published> current_;
};

// --- tonic-lb-k8s --------------------------------------------------------------------------------

class InsertOnlyAdapter final : public StoreUnderTest {
 public:
  explicit InsertOnlyAdapter(const SliceStoreOptions& options) : options_(options) {}
  void Apply(const SliceEvent& event) override {
    if (!MatchesOptions(event.slice, options_)) return;
    std::vector<Published> usable = ExpectedUsable({event.slice}, options_.port).usable;
    if (event.type == SliceEventType::kDeleted) {
      for (const Published& p : usable) known_.erase(p.host_port);
      return;
    }
    for (const Published& p : usable) known_.emplace(p.host_port, p);  // insert if absent, never remove
  }
  void Replace(const std::vector<EndpointSlice>& slices) override {
    // Init/InitApply/InitDone: InitApply inserts, nothing is reconciled.
    for (const EndpointSlice& s : slices) Apply(SliceEvent{.type = SliceEventType::kAdded, .slice = s});
  }
  std::vector<Published> Current() const override {
    std::vector<Published> out;
    for (const auto& [hp, p] : known_) out.push_back(p);
    return out;
  }

 private:
  SliceStoreOptions options_;
  std::map<std::string, Published> known_;
};

std::vector<Published> ExpectedFor(const ApiState& api, const SliceStoreOptions& options) {
  return ExpectedUsable(api.Relevant(options), options.port).usable;
}

std::string StepName(const HistoryStep& step) {
  if (step.kind == HistoryStep::Kind::kRelist) return "relist of " + std::to_string(step.relist.size()) + " slices";
  const char* type = step.event.type == SliceEventType::kAdded      ? "ADDED"
                     : step.event.type == SliceEventType::kModified ? "MODIFIED"
                                                                    : "DELETED";
  return std::string(type) + " " + step.event.slice.Key();
}

}  // namespace

// ---- generators ------------------------------------------------------------------------------------

rc::Gen<EndpointSlice> GenSlice(std::string name) {
  return rc::gen::exec([name] {
    EndpointSlice s;
    s.metadata.name = name;
    s.metadata.generate_name = std::string(kService) + "-";
    // Mostly our service; sometimes another namespace, another service, or no label at all.
    const int origin = *Choice(16);
    s.metadata.namespace_name = origin == 0 ? "kube-system" : kNamespace;
    if (origin != 2) s.metadata.labels[std::string(kServiceNameLabel)] = origin == 1 ? "other" : kService;
    s.address_type = *rc::gen::weightedElement<AddressType>(
        {{8, AddressType::kIPv4}, {1, AddressType::kIPv6}, {1, AddressType::kFqdn}});
    s.ports = PortConfig(*rc::gen::weightedElement<int>({{8, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}}));
    const ReadyMode mode = *rc::gen::weightedElement<ReadyMode>(
        {{4, ReadyMode::kMixed}, {2, ReadyMode::kNoneReady}, {1, ReadyMode::kAllReady}});
    const int n = *rc::gen::inRange(0, 120);
    const int pool = PoolSize(s.address_type);
    for (int i = 0; i < n; ++i) {
      SliceEndpoint e;
      const int a = *rc::gen::inRange(0, pool);
      e.addresses.push_back(PoolAddress(s.address_type, a));
      e.conditions.ready = *GenTri();
      e.conditions.serving = *GenTri();
      e.conditions.terminating = *GenTri();
      if (mode == ReadyMode::kNoneReady) e.conditions.ready = false;
      if (mode == ReadyMode::kAllReady && e.conditions.ready == false) e.conditions.ready = std::nullopt;
      const int zone = *Choice(4);
      if (zone < 3) e.zone = std::string("zone-") + static_cast<char>('a' + zone);
      if (zone < 3 && *Choice(3) != 0) e.hint_zones.push_back(*e.zone);
      e.node_name = "node-" + std::to_string(a % 7);
      if (*Choice(3) == 0) e.hint_nodes.push_back(*e.node_name);
      e.target_ref = ObjectReference{.kind = "Pod", .namespace_name = kNamespace,
                                     .name = "echo-" + std::to_string(a) + "-" + name, .uid = ""};
      s.endpoints.push_back(std::move(e));
    }
    return s;
  });
}

rc::Gen<EndpointSlice> GenAnySlice() {
  return rc::gen::mapcat(rc::gen::elementOf(SliceNames()), [](const std::string& n) { return GenSlice(n); });
}

rc::Gen<std::vector<EndpointSlice>> GenDistinctSlices() {
  return rc::gen::exec([] {
    std::vector<EndpointSlice> out;
    for (const std::string& n : SliceNames()) {
      if (*Choice(3) != 0) out.push_back(*GenSlice(n));
    }
    // Distinct keys: a foreign-namespace slice has another key, so drop key repeats.
    std::set<std::string> keys;
    std::vector<EndpointSlice> distinct;
    for (EndpointSlice& s : out) {
      if (keys.insert(s.Key()).second) distinct.push_back(std::move(s));
    }
    return distinct;
  });
}

rc::Gen<History> GenHistory() {
  return rc::gen::exec([] {
    History h;
    const int steps = *rc::gen::inRange(1, 16);
    for (int i = 0; i < steps; ++i) {
      HistoryStep step;
      const int kind = *Choice(10);
      if (kind < 6) {
        step.event.type = kind < 3 ? SliceEventType::kAdded : SliceEventType::kModified;
        step.event.slice = *GenAnySlice();
      } else if (kind < 9) {
        step.event.type = SliceEventType::kDeleted;
        step.event.slice = *GenAnySlice();
      } else {
        step.kind = HistoryStep::Kind::kRelist;
        const int m = *rc::gen::inRange(0, 6);
        for (int j = 0; j < m; ++j) step.relist.push_back(*GenAnySlice());
      }
      h.push_back(std::move(step));
    }
    return h;
  });
}

rc::Gen<SliceStoreOptions> GenStoreOptions() {
  return rc::gen::exec([] {
    SliceStoreOptions o;
    if (*Choice(5) != 0) {
      o.service_name = kService;
      o.namespace_name = kNamespace;
    }
    switch (*Choice(3)) {
      case 0:
        o.port = PortSelector::ByName(kPortName);
        break;
      case 1:
        o.port = PortSelector::ByNumber(kPortNumber);
        break;
      default:
        o.port = PortSelector::First();
    }
    return o;
  });
}

// ---- oracle --------------------------------------------------------------------------------

std::string Describe(const std::vector<Published>& set) {
  std::ostringstream out;
  out << "{";
  for (size_t i = 0; i < set.size(); ++i) {
    const Published& p = set[i];
    out << (i ? ", " : "") << p.host_port << (p.ready ? "" : " notready") << (p.serving ? "" : " notserving")
        << (p.terminating ? " terminating" : "") << " @" << p.slice_name;
  }
  out << "} (" << set.size() << ")";
  return out.str();
}

void ApiState::Step(const HistoryStep& step) {
  if (step.kind == HistoryStep::Kind::kRelist) {
    slices_.clear();
    for (const EndpointSlice& s : step.relist) slices_[s.Key()] = s;
    return;
  }
  if (step.event.type == SliceEventType::kDeleted) {
    slices_.erase(step.event.slice.Key());
  } else {
    slices_[step.event.slice.Key()] = step.event.slice;
  }
}

std::vector<EndpointSlice> ApiState::Relevant(const SliceStoreOptions& options) const {
  std::vector<EndpointSlice> out;
  for (const auto& [key, s] : slices_) {
    if (MatchesOptions(s, options)) out.push_back(s);
  }
  return out;
}

Expected ExpectedUsable(const std::vector<EndpointSlice>& slices, const PortSelector& selector) {
  struct Copy {
    const EndpointSlice* slice;
    const SliceEndpoint* endpoint;
    int32_t port;
  };
  // All copies per HostPort in (slice key, position) order.
  std::map<std::string, std::vector<Copy>> copies;
  for (const EndpointSlice& s : slices) {
    // Port rules restated: name → that port's number; number → listed (or an all-ports entry);
    // none → the first port's number.
    std::optional<int32_t> port;
    if (selector.name.has_value()) {
      for (const SlicePort& p : s.ports) {
        if (p.name.value_or("") == *selector.name) {
          port = p.port.has_value() ? p.port : selector.number;
          break;
        }
      }
    } else if (selector.number.has_value()) {
      bool listed = std::any_of(s.ports.begin(), s.ports.end(),
                                [&](const SlicePort& p) { return !p.port.has_value() || *p.port == *selector.number; });
      if (listed) port = selector.number;
    } else if (!s.ports.empty()) {
      port = s.ports.front().port;
    }
    if (!port.has_value()) continue;
    for (const SliceEndpoint& e : s.endpoints) {
      copies[JoinHostPort(e.addresses.front(), *port)].push_back(Copy{&s, &e, *port});
    }
  }
  auto ready = [](const Copy& c) { return c.endpoint->conditions.ready.value_or(true); };
  auto serving = [&](const Copy& c) { return c.endpoint->conditions.serving.value_or(ready(c)); };
  auto terminating = [](const Copy& c) { return c.endpoint->conditions.terminating.value_or(false); };

  Expected out;
  out.known = copies.size();
  std::vector<Published> fallback;
  for (const auto& [hp, list] : copies) {
    auto pick = std::find_if(list.begin(), list.end(), ready);
    if (pick == list.end()) pick = std::find_if(list.begin(), list.end(), serving);
    if (pick == list.end()) pick = list.begin();
    const Copy& c = *pick;
    Published p{.host_port = hp,
                .ready = ready(c),
                .serving = serving(c),
                .terminating = terminating(c),
                .slice_name = c.slice->metadata.name,
                .pod_name = c.endpoint->target_ref && c.endpoint->target_ref->kind == "Pod" ? c.endpoint->target_ref->name
                                                                                          : "",
                .zone = c.endpoint->zone,
                .hint_zones = c.endpoint->hint_zones,
                .hint_nodes = c.endpoint->hint_nodes};
    if (p.ready) {
      out.any_ready = true;
      out.usable.push_back(p);
    } else if (p.serving && p.terminating) {
      fallback.push_back(p);
    }
  }
  if (!out.any_ready) out.usable = std::move(fallback);
  return out;
}

// ---- factories -------------------------------------------------------------------------------

StoreFactory RealStore() {
  return [](const SliceStoreOptions& o) { return std::make_unique<RealStoreAdapter>(o); };
}
StoreFactory ReplaceWholeSetStore() {
  return [](const SliceStoreOptions& o) { return std::make_unique<ReplaceWholeSetAdapter>(o); };
}
StoreFactory InsertOnlyStore() {
  return [](const SliceStoreOptions& o) { return std::make_unique<InsertOnlyAdapter>(o); };
}

// ---- properties ------------------------------------------------------------------------------

std::optional<std::string> CheckUnion(const StoreFactory& factory, const SliceStoreOptions& options,
                                      const History& history) {
  std::unique_ptr<StoreUnderTest> store = factory(options);
  ApiState api;
  for (size_t i = 0; i < history.size(); ++i) {
    store->Step(history[i]);
    api.Step(history[i]);
    std::vector<Published> want = ExpectedFor(api, options);
    std::vector<Published> got = store->Current();
    if (got != want) {
      return "after step " + std::to_string(i) + " (" + StepName(history[i]) + "): published " + Describe(got) +
             " but the union of the current slices is " + Describe(want);
    }
  }
  return std::nullopt;
}

std::optional<std::string> CheckReplaceReconciles(const StoreFactory& factory, const SliceStoreOptions& options,
                                                  const History& before, const std::vector<EndpointSlice>& list) {
  std::unique_ptr<StoreUnderTest> store = factory(options);
  for (const HistoryStep& step : before) store->Step(step);
  store->Replace(list);
  std::unique_ptr<StoreUnderTest> fresh = factory(options);
  fresh->Replace(list);
  if (store->Current() != fresh->Current()) {
    return "after Replace: " + Describe(store->Current()) + " but a fresh store from the same list has " +
           Describe(fresh->Current());
  }
  return std::nullopt;
}

std::optional<std::string> CheckOrderIndependent(const StoreFactory& factory, const SliceStoreOptions& options,
                                                 const std::vector<EndpointSlice>& final_slices,
                                                 const std::vector<size_t>& permutation, const History& noise) {
  std::unique_ptr<StoreUnderTest> a = factory(options);
  for (const EndpointSlice& s : final_slices) a->Apply(SliceEvent{.type = SliceEventType::kAdded, .slice = s});
  std::unique_ptr<StoreUnderTest> b = factory(options);
  // Noise only on the keys of the final slices, so that after the final events the API state of
  // both stores is the same.
  std::set<std::string> keys;
  for (const EndpointSlice& s : final_slices) keys.insert(s.Key());
  for (const HistoryStep& step : noise) {
    if (step.kind == HistoryStep::Kind::kEvent && keys.count(step.event.slice.Key()) != 0) b->Apply(step.event);
  }
  for (size_t i : permutation) {
    b->Apply(SliceEvent{.type = SliceEventType::kModified, .slice = final_slices[i % final_slices.size()]});
  }
  // Every final slice last, in permutation order (the permutation covers all indices).
  if (a->Current() != b->Current()) {
    return "in order: " + Describe(a->Current()) + "; permuted after noise: " + Describe(b->Current());
  }
  return std::nullopt;
}

std::optional<std::string> CheckFallbackOnlyWhenNoneReady(const StoreFactory& factory,
                                                          const SliceStoreOptions& options, const History& history) {
  std::unique_ptr<StoreUnderTest> store = factory(options);
  ApiState api;
  for (size_t i = 0; i < history.size(); ++i) {
    store->Step(history[i]);
    api.Step(history[i]);
    const bool any_ready = ExpectedUsable(api.Relevant(options), options.port).any_ready;
    for (const Published& p : store->Current()) {
      if (!p.ready && any_ready) {
        return "after step " + std::to_string(i) + " (" + StepName(history[i]) + "): not-ready " + p.host_port +
               " published while a ready endpoint exists";
      }
      if (!p.ready && !(p.serving && p.terminating)) {
        return "after step " + std::to_string(i) + ": " + p.host_port + " published but neither ready nor "
               "serving-and-terminating";
      }
    }
  }
  return std::nullopt;
}

}  // namespace k8slb::coretest
