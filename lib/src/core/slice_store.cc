// SliceStore: per-slice state → merged, deduplicated, condition-filtered EndpointSet snapshots.
//
// State is kept per slice and per HostPort (all copies of it, from every slice), and every
// publish derives the set from that state alone: the result depends only on the current slices,
// never on the order of events (docs/endpoint-semantics.md, rules 1-3), which is what other
// clients get wrong (kuberesolver replaces the set per slice event,
// https://github.com/sercand/kuberesolver/issues/66; tonic-lb-k8s only inserts). An event
// costs O(slice size · log N) to update the state plus one O(N) pass to derive the set.
#include "k8slb/slice_store.h"

#include <algorithm>
#include <iterator>
#include <iostream>
#include <map>
#include <string>
#include <utility>

namespace k8slb {
namespace {

// Which copy of a duplicated endpoint (same HostPort in several slices, or twice in one) wins:
// the most usable one, so a stale not-ready copy in an old slice cannot hide a ready copy in the
// new slice during a move between slices. Ties go to the smaller slice key, then to the earlier
// position in that slice: a total order that does not depend on event order.
int CopyRank(const Endpoint& e) {
  if (e.ready) return 2;
  if (e.serving) return 1;
  return 0;
}

bool SameContent(const Endpoint& a, const Endpoint& b) {
  return a.address == b.address && a.port == b.port && a.pod_name == b.pod_name &&
         a.pod_namespace == b.pod_namespace && a.zone == b.zone && a.node_name == b.node_name &&
         a.hostname == b.hostname && a.hint_zones == b.hint_zones &&
         a.hint_nodes == b.hint_nodes && a.ready == b.ready &&
         a.serving == b.serving && a.terminating == b.terminating && a.slice_name == b.slice_name;
}

}  // namespace

std::optional<int32_t> PortSelector::Resolve(const EndpointSlice& slice) const {
  if (name.has_value()) {
    // Port names are unique within a slice; an unnamed port has name "" (the API's default).
    for (const SlicePort& p : slice.ports) {
      if (p.name.value_or("") == *name) {
        if (p.port.has_value()) return p.port;
        // A nil port number means "all ports": only usable when the caller also gave a number.
        return number;
      }
    }
    return std::nullopt;
  }
  if (number.has_value()) {
    // By number: the slice must list that port (or an "all ports" entry with a nil number);
    // otherwise the endpoints of this slice do not serve it.
    for (const SlicePort& p : slice.ports) {
      if (!p.port.has_value() || *p.port == *number) return number;
    }
    return std::nullopt;
  }
  if (slice.ports.empty() || !slice.ports.front().port.has_value()) return std::nullopt;
  return slice.ports.front().port;
}

SliceStore::SliceStore(SliceStoreOptions options)
    : options_(std::move(options)),
      current_(std::make_shared<const EndpointSet>(0, std::vector<Endpoint>{}, UsableReason::kNone, 0, 0)) {}

bool SliceStore::Matches(const EndpointSlice& slice) const {
  if (!options_.namespace_name.empty() && slice.metadata.namespace_name != options_.namespace_name) return false;
  if (!options_.service_name.empty() && slice.ServiceName() != options_.service_name) return false;
  return true;
}

bool SliceStore::Apply(const SliceEvent& event) {
  const std::string key = event.slice.Key();
  if (event.type == SliceEventType::kDeleted || !Matches(event.slice)) {
    // A slice that stops matching (its service label changed, seen through an unfiltered watch)
    // leaves like a deleted one; a slice we never held is ignored.
    if (slice_host_ports_.count(key) == 0) return false;
    RemoveSlice(key);
    warned_ports_.erase(key);
  } else {
    RemoveSlice(key);
    AddSlice(key, event.slice);
  }
  return Rebuild();
}

bool SliceStore::Replace(const std::vector<EndpointSlice>& slices) {
  // A key listed twice (not something the API server does) counts as its last copy, whether or
  // not that copy matches: the same rule as a sequence of events for that key.
  std::map<std::string, const EndpointSlice*> last;
  for (const EndpointSlice& s : slices) last[s.Key()] = &s;
  std::vector<std::string> held = SliceKeys();
  for (const std::string& key : held) RemoveSlice(key);
  for (const auto& [key, s] : last) {
    if (Matches(*s)) AddSlice(key, *s);
  }
  for (auto it = warned_ports_.begin(); it != warned_ports_.end();) {
    it = slice_host_ports_.count(*it) > 0 ? std::next(it) : warned_ports_.erase(it);
  }
  return Rebuild();
}

std::shared_ptr<const EndpointSet> SliceStore::Current() const {
  absl::MutexLock lock(&current_mu_);
  return current_;
}

void SliceStore::SetListener(Listener listener) { listener_ = std::move(listener); }

std::vector<std::string> SliceStore::SliceKeys() const {
  std::vector<std::string> keys;
  keys.reserve(slice_host_ports_.size());
  for (const auto& [key, host_ports] : slice_host_ports_) keys.push_back(key);
  return keys;
}

void SliceStore::RemoveSlice(const std::string& key) {
  auto slice = slice_host_ports_.find(key);
  if (slice == slice_host_ports_.end()) return;
  for (const std::string& host_port : slice->second) {
    auto it = known_.find(host_port);
    if (it == known_.end()) continue;  // listed twice in the slice: already gone
    std::vector<Copy>& copies = it->second.copies;
    copies.erase(std::remove_if(copies.begin(), copies.end(), [&](const Copy& c) { return c.slice_key == &slice->first; }),
                 copies.end());
    // An entry left without copies keeps its stats until Rebuild prunes it, so an
    // endpoint re-added by the same event (MODIFIED = remove + add, or a relist) keeps them.
  }
  slice_host_ports_.erase(slice);
}

void SliceStore::AddSlice(const std::string& key, const EndpointSlice& slice) {
  auto [entry, inserted] = slice_host_ports_.emplace(key, std::vector<std::string>{});
  const std::string* slice_key = &entry->first;
  std::optional<int32_t> port = options_.port.Resolve(slice);
  if (!port.has_value()) return;  // the slice does not serve the selected port: held, contributes nothing
  if (*port < 1 || *port > 65535) {
    // The API server stores any int32 port number; one outside 1..65535 cannot be dialed, so the
    // slice contributes nothing (said once per slice, not per event).
    if (warned_ports_.insert(key).second) {
      std::cerr << "k8slb: EndpointSlice " << key << ": port " << *port
                << " is outside 1..65535; its endpoints are not used\n";
    }
    return;
  }
  warned_ports_.erase(key);  // valid again: a later bad port is reported again
  entry->second.reserve(slice.endpoints.size());
  for (size_t position = 0; position < slice.endpoints.size(); ++position) {
    const SliceEndpoint& se = slice.endpoints[position];
    if (se.addresses.empty()) continue;  // the parser rejects these; structs built by hand may not
    Copy copy{.slice_key = slice_key, .position = position, .endpoint = {}};
    Endpoint& e = copy.endpoint;
    e.address = se.addresses.front();  // consumers use the first address, as kube-proxy does
    e.port = *port;
    if (se.target_ref.has_value() && se.target_ref->kind == "Pod") {
      e.pod_name = se.target_ref->name;
      e.pod_namespace = se.target_ref->namespace_name;
    }
    e.zone = se.zone;
    e.node_name = se.node_name;
    e.hostname = se.hostname;
    e.hint_zones = se.hint_zones;
    e.hint_nodes = se.hint_nodes;
    e.ready = se.conditions.EffectiveReady();
    e.serving = se.conditions.EffectiveServing();
    e.terminating = se.conditions.EffectiveTerminating();
    e.slice_name = slice.metadata.name;
    std::string host_port = e.HostPort();
    Known& known = known_[host_port];  // stats are created by Rebuild
    // Keep copies in (slice key, position) order: the tie-break of the merge.
    auto at = std::upper_bound(known.copies.begin(), known.copies.end(), copy, [](const Copy& a, const Copy& b) {
      return *a.slice_key != *b.slice_key ? *a.slice_key < *b.slice_key : a.position < b.position;
    });
    known.copies.insert(at, std::move(copy));
    entry->second.push_back(std::move(host_port));
  }
}

bool SliceStore::Rebuild() {
  // 1. The representative copy of every HostPort: the most usable one, ties to the first in
  //    (slice key, position) order. known_ iterates in HostPort order, so the result is sorted.
  struct Chosen {
    const Known* known;
    const Endpoint* endpoint;
  };
  std::vector<Chosen> chosen;
  chosen.reserve(known_.size());
  bool any_ready = false;
  for (auto it = known_.begin(); it != known_.end();) {
    if (it->second.copies.empty()) {
      it = known_.erase(it);  // unknown now: its stats go too, so a comeback starts from zero
      continue;
    }
    Known& known = it->second;
    ++it;
    // Created here, in HostPort order, rather than in AddSlice: a large relist then allocates
    // the stats objects in the order pickers walk them (round robin reads them sequentially).
    if (known.stats == nullptr) known.stats = std::make_shared<EndpointStats>();
    const Copy* best = &known.copies.front();
    for (const Copy& c : known.copies) {
      if (CopyRank(c.endpoint) > CopyRank(best->endpoint)) best = &c;
    }
    chosen.push_back(Chosen{&known, &best->endpoint});
    any_ready = any_ready || best->endpoint.ready;
  }

  // 2. Usable: the ready ones; when none is ready, the serving-and-terminating ones (kube-proxy's
  //    fallback, so a rollout's last pods keep serving).
  auto usable = [any_ready](const Endpoint& e) { return any_ready ? e.ready : e.serving && e.terminating; };
  size_t usable_count = 0;
  for (const Chosen& c : chosen) usable_count += usable(*c.endpoint) ? 1 : 0;
  const UsableReason reason = usable_count == 0 ? UsableReason::kNone
                              : any_ready       ? UsableReason::kReady
                                                : UsableReason::kServingTerminatingFallback;

  // 3. Publish only when the snapshot's content changed, so versions count real changes and
  //    pickers (with their round-robin position) are not rebuilt for no-op events. Compared in
  //    place, so a no-op event on a large service copies nothing.
  std::shared_ptr<const EndpointSet> old = Current();
  bool same = old->reason() == reason && old->known_endpoints() == known_.size() &&
              old->slice_count() == slice_host_ports_.size() && old->size() == usable_count;
  for (size_t i = 0, k = 0; same && i < chosen.size(); ++i) {
    if (!usable(*chosen[i].endpoint)) continue;
    const Endpoint& was = old->endpoints()[k++];
    same = was.stats == chosen[i].known->stats && SameContent(was, *chosen[i].endpoint);
  }
  if (same) return false;

  std::vector<Endpoint> endpoints;
  endpoints.reserve(usable_count);
  for (const Chosen& c : chosen) {
    if (!usable(*c.endpoint)) continue;
    endpoints.push_back(*c.endpoint);
    endpoints.back().stats = c.known->stats;
  }
  auto next = std::make_shared<const EndpointSet>(next_version_++, std::move(endpoints), reason, known_.size(),
                                                  slice_host_ports_.size());
  {
    absl::MutexLock lock(&current_mu_);
    current_ = next;
  }
  if (listener_) listener_(next);
  return true;
}

}  // namespace k8slb
