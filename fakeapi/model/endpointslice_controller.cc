// The EndpointSlice controller emulation of the cluster model (contract in cluster.h, layout in
// cluster_internal.h): for each Service with a selector, the slices its selected pods imply, placed
// as the real controller places them (greedy, no rebalancing, a placeholder slice for a Service
// with no endpoints; https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/ and
// staging/src/k8s.io/endpointslice/reconciler.go in kubernetes/kubernetes).
#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "fakeapi/model/cluster.h"
#include "fakeapi/model/cluster_internal.h"
#include "k8slb/endpoint_slice_json.h"
#include "writer/endpoint_slice_writer.h"

namespace k8slb::fake {

using cluster_internal::ContainerPort;
using cluster_internal::Json;
using cluster_internal::Key;
using cluster_internal::kTriggerTimeAnnotation;
using cluster_internal::LabelsMatch;
using cluster_internal::MakeKey;
using cluster_internal::PodState;
using cluster_internal::ServicePort;
using cluster_internal::ServiceState;
using cluster_internal::SliceEntry;

namespace {

bool SamePorts(const std::vector<SlicePort>& a, const std::vector<SlicePort>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].port != b[i].port || a[i].protocol != b[i].protocol ||
        a[i].app_protocol != b[i].app_protocol) {
      return false;
    }
  }
  return true;
}

// The endpoint the controller writes for a pod: ready = serving && !terminating, serving = the
// pod's Ready condition, terminating = deletionTimestamp set; on ready ones, PreferClose zone
// hints and PreferSameNode node and zone hints
// (https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/#conditions).
SliceEndpoint PodEndpoint(const ServiceState& svc, const PodState& p) {
  SliceEndpoint e;
  e.addresses = {p.info.address};
  bool serving = p.info.ready, terminating = p.info.terminating;
  e.conditions.ready = serving && !terminating;
  e.conditions.serving = serving;
  e.conditions.terminating = terminating;
  e.node_name = p.info.node;
  if (!p.info.zone.empty()) e.zone = p.info.zone;
  e.target_ref = ObjectReference{.kind = "Pod", .namespace_name = p.info.namespace_name, .name = p.info.name,
                                 .uid = p.info.uid};
  const bool ready = serving && !terminating;
  if ((svc.prefer_close || svc.prefer_same_node) && ready && !p.info.zone.empty()) e.hint_zones = {p.info.zone};
  if (svc.prefer_same_node && ready && !p.info.node.empty()) e.hint_nodes = {p.info.node};
  return e;
}

// PodEndpoint(svc, p) == e, without building it (the per-sync cost on large Services).
bool EndpointMatchesPod(const SliceEndpoint& e, const ServiceState& svc, const PodState& p) {
  bool serving = p.info.ready, terminating = p.info.terminating;
  bool ready = serving && !terminating;
  bool hinted = (svc.prefer_close || svc.prefer_same_node) && ready && !p.info.zone.empty();
  bool node_hinted = svc.prefer_same_node && ready && !p.info.node.empty();
  return e.addresses.size() == 1 && e.addresses[0] == p.info.address && e.conditions.ready == ready &&
         e.conditions.serving == serving && e.conditions.terminating == terminating && !e.hostname &&
         e.node_name == p.info.node &&
         (p.info.zone.empty() ? !e.zone.has_value() : e.zone == p.info.zone) && e.target_ref &&
         e.target_ref->kind == "Pod" && e.target_ref->namespace_name == p.info.namespace_name &&
         e.target_ref->name == p.info.name && e.target_ref->uid == p.info.uid &&
         (node_hinted ? (e.hint_nodes.size() == 1 && e.hint_nodes[0] == p.info.node) : e.hint_nodes.empty()) &&
         (hinted ? (e.hint_zones.size() == 1 && e.hint_zones[0] == p.info.zone) : e.hint_zones.empty());
}

}  // namespace

std::shared_ptr<const Json> Cluster::Impl::SliceObject(const SliceEntry& e) const {
  if (!e.cached) e.cached = std::make_shared<const Json>(EndpointSliceToJson(*e.slice, true));
  return e.cached;
}

void Cluster::Impl::WriteSlice(EndpointSlice slice, ChangeType type) {
  Key key = MakeKey(slice.metadata.namespace_name, slice.metadata.name);
  uint64_t rv = NextRv();
  slice.metadata.resource_version = std::to_string(rv);
  auto shared = std::make_shared<const EndpointSlice>(std::move(slice));
  if (type == ChangeType::kDeleted) {
    std::shared_ptr<const Json> obj;
    if (recording_) obj = std::make_shared<const Json>(EndpointSliceToJson(*shared, true));
    slices_.erase(key);
    Record(ResourceKind::kEndpointSlice, type, key.first, key.second, obj, shared);
    return;
  }
  SliceEntry& e = slices_[key];
  e.slice = shared;
  e.cached.reset();
  if (recording_) Record(ResourceKind::kEndpointSlice, type, key.first, key.second, SliceObject(e), shared);
}

bool Cluster::Impl::IsManagedBy(const EndpointSlice& s, const ServiceState& svc) const {
  auto m = s.metadata.labels.find(std::string(kManagedByLabel));
  return s.metadata.namespace_name == svc.ns && s.ServiceName() == svc.name &&
         m != s.metadata.labels.end() && m->second == kControllerName;
}

std::map<std::string, std::string> Cluster::Impl::SliceLabels(const ServiceState& svc) const {
  std::map<std::string, std::string> labels = svc.labels;
  labels[std::string(kServiceNameLabel)] = svc.name;
  labels[std::string(kManagedByLabel)] = std::string(kControllerName);
  return labels;
}

// The slice ports a pod resolves to (targetPort by number, or by the container port's name).
std::optional<std::vector<SlicePort>> Cluster::Impl::ResolvePorts(const ServiceState& svc, const PodState& p) const {
  std::vector<SlicePort> out;
  for (const ServicePort& sp : svc.ports) {
    int32_t number = sp.port;
    if (sp.target_number) number = *sp.target_number;
    if (sp.target_name) {
      auto it = std::find_if(p.ports.begin(), p.ports.end(),
                             [&](const ContainerPort& c) { return c.name == *sp.target_name; });
      if (it == p.ports.end()) return std::nullopt;
      number = it->port;
    }
    out.push_back(SlicePort{.name = sp.name, .port = number, .protocol = sp.protocol,
                            .app_protocol = sp.app_protocol});
  }
  return out;
}

EndpointSlice Cluster::Impl::NewSlice(const ServiceState& svc) {
  EndpointSlice s;
  std::string name;
  do {
    name = absl::StrCat(svc.name, "-", RandomSuffix());
  } while (slices_.count(MakeKey(svc.ns, name)) != 0);
  s.metadata.name = name;
  s.metadata.generate_name = svc.name + "-";
  s.metadata.namespace_name = svc.ns;
  s.metadata.uid = NewUid();
  s.metadata.generation = 1;
  s.metadata.creation_timestamp = NowTimestamp();
  s.metadata.labels = SliceLabels(svc);
  s.metadata.annotations[std::string(kTriggerTimeAnnotation)] = NowTimestamp();
  s.metadata.owner_references.push_back(OwnerReference{.api_version = "v1", .kind = "Service", .name = svc.name,
                                                       .uid = svc.uid, .controller = true,
                                                       .block_owner_deletion = true});
  s.address_type = AddressType::kIPv4;
  return s;
}

// Reconciles the Service's controller-managed slices with its pods: the greedy, non-rebalancing
// placement of the real controller (https://kubernetes.io/docs/concepts/services-networking/
// endpoint-slices/#distribution-of-endpointslices; Reconciler in k8s.io/endpointslice). Cost is
// linear in the Service's pods and endpoints, with endpoint objects built only for what changes.
void Cluster::Impl::SyncService(ServiceState& svc) {
  svc.dirty = false;
  if (svc.selector.empty()) return;  // selector-less Service: the controller manages nothing
  const size_t max = static_cast<size_t>(opts_.max_endpoints_per_slice);
  // Desired endpoints, in pod creation order.
  std::vector<const PodState*> selected;
  for (auto it = live_pods_.lower_bound(MakeKey(svc.ns, "")); it != live_pods_.end() && it->first.first == svc.ns;
       ++it) {
    const PodState* p = it->second;
    if (!p->info.address.empty() && LabelsMatch(svc.selector, p->info.labels)) selected.push_back(p);
  }
  std::sort(selected.begin(), selected.end(), [](const PodState* a, const PodState* b) { return a->seq < b->seq; });
  std::optional<std::vector<SlicePort>> ports;
  std::vector<const PodState*> desired;
  desired.reserve(selected.size());
  const std::vector<ContainerPort>* last_ports = nullptr;
  bool last_ok = false;
  for (const PodState* p : selected) {
    // Pods of one Deployment share their container ports: resolve once per distinct set.
    bool same = last_ports != nullptr && last_ports->size() == p->ports.size() &&
                std::equal(last_ports->begin(), last_ports->end(), p->ports.begin(),
                           [](const ContainerPort& x, const ContainerPort& y) {
                             return x.name == y.name && x.port == y.port;
                           });
    if (!same) {
      std::optional<std::vector<SlicePort>> pp = ResolvePorts(svc, *p);
      if (pp && !ports) ports = *pp;
      last_ok = pp.has_value() && SamePorts(*ports, *pp);  // a different mapping would be another slice set
      last_ports = &p->ports;
    }
    if (last_ok) desired.push_back(p);
  }
  std::vector<SlicePort> want_ports = ports.value_or(std::vector<SlicePort>{});
  absl::flat_hash_map<std::string_view, size_t> by_uid;
  by_uid.reserve(desired.size());
  for (size_t i = 0; i < desired.size(); ++i) by_uid.emplace(desired[i]->info.uid, i);
  std::vector<bool> placed(desired.size(), false);
  std::map<std::string, std::string> want_labels = SliceLabels(svc);

  std::vector<EndpointSlice> to_update, to_delete, to_create;
  std::vector<const EndpointSlice*> unchanged;
  for (auto it = slices_.lower_bound(MakeKey(svc.ns, "")); it != slices_.end() && it->first.first == svc.ns; ++it) {
    const EndpointSlice& s = *it->second.slice;
    if (!IsManagedBy(s, svc)) continue;
    bool changed = s.metadata.labels != want_labels;
    std::vector<std::pair<size_t, bool>> keep;  // (desired index, endpoint unchanged), slice order
    keep.reserve(s.endpoints.size());
    for (const SliceEndpoint& e : s.endpoints) {
      auto d = e.target_ref ? by_uid.find(e.target_ref->uid) : by_uid.end();
      if (d == by_uid.end() || placed[d->second]) {
        changed = true;  // gone, or a duplicate: drop it here
        continue;
      }
      placed[d->second] = true;
      bool same = EndpointMatchesPod(e, svc, *desired[d->second]);
      keep.emplace_back(d->second, same);
      if (!same) changed = true;
    }
    if (keep.empty()) {
      to_delete.push_back(s);
      continue;
    }
    if (!SamePorts(s.ports, want_ports)) changed = true;
    if (!changed) {
      unchanged.push_back(&s);
      continue;
    }
    EndpointSlice u;
    u.metadata = s.metadata;
    u.address_type = s.address_type;
    u.metadata.labels = want_labels;
    u.ports = want_ports;
    u.endpoints.reserve(keep.size());
    size_t j = 0;
    for (const SliceEndpoint& e : s.endpoints) {
      if (j >= keep.size()) break;
      // keep[] follows the slice order of the endpoints that stayed; copy the unchanged ones.
      if (e.target_ref && desired[keep[j].first]->info.uid == e.target_ref->uid) {
        u.endpoints.push_back(keep[j].second ? e : PodEndpoint(svc, *desired[keep[j].first]));
        ++j;
      }
    }
    to_update.push_back(std::move(u));
  }
  std::vector<size_t> remaining;
  for (size_t i = 0; i < desired.size(); ++i) {
    if (!placed[i]) remaining.push_back(i);
  }
  size_t next = 0;
  // 1. Fill slices that are being updated anyway.
  for (EndpointSlice& u : to_update) {
    while (u.endpoints.size() < max && next < remaining.size()) u.endpoints.push_back(PodEndpoint(svc, *desired[remaining[next++]]));
  }
  // 2. Full new slices; 3. the rest into the fullest unchanged slice that fits it, else a new
  // slice (the controller prefers one new slice to several updates, and never rebalances).
  while (remaining.size() - next >= max) {
    EndpointSlice s = NewSlice(svc);
    s.ports = want_ports;
    for (size_t i = 0; i < max; ++i) s.endpoints.push_back(PodEndpoint(svc, *desired[remaining[next++]]));
    to_create.push_back(std::move(s));
  }
  size_t rest = remaining.size() - next;
  if (rest > 0) {
    const EndpointSlice* fill = nullptr;
    for (const EndpointSlice* s : unchanged) {
      if (s->endpoints.size() + rest <= max && (fill == nullptr || s->endpoints.size() > fill->endpoints.size())) {
        fill = s;
      }
    }
    if (fill != nullptr) {
      EndpointSlice u = *fill;
      unchanged.erase(std::find(unchanged.begin(), unchanged.end(), fill));
      while (next < remaining.size()) u.endpoints.push_back(PodEndpoint(svc, *desired[remaining[next++]]));
      to_update.push_back(std::move(u));
    } else {
      EndpointSlice s = NewSlice(svc);
      s.ports = want_ports;
      while (next < remaining.size()) s.endpoints.push_back(PodEndpoint(svc, *desired[remaining[next++]]));
      to_create.push_back(std::move(s));
    }
  }
  // Placeholder: a Service that selects nothing keeps exactly one empty slice.
  if (to_create.empty() && to_update.empty() && unchanged.empty()) {
    if (!to_delete.empty()) {
      EndpointSlice keep = to_delete.front();
      to_delete.erase(to_delete.begin());
      if (!keep.endpoints.empty() || !keep.ports.empty() || keep.metadata.labels != want_labels) {
        keep.endpoints.clear();
        keep.ports.clear();
        keep.metadata.labels = want_labels;
        to_update.push_back(std::move(keep));
      }
    } else {
      to_create.push_back(NewSlice(svc));
    }
  }
  // As the real reconciler's finalize(): a slice about to be deleted is recycled for a slice
  // about to be created (one update instead of a create plus a delete; keeps the name).
  while (!to_create.empty() && !to_delete.empty()) {
    EndpointSlice recycled = std::move(to_delete.back());
    to_delete.pop_back();
    recycled.metadata.labels = to_create.back().metadata.labels;
    recycled.ports = std::move(to_create.back().ports);
    recycled.endpoints = std::move(to_create.back().endpoints);
    to_create.pop_back();
    to_update.push_back(std::move(recycled));
  }
  // Creates first, then updates, then deletes: an endpoint is never absent from every slice
  // while it moves (it never moves, but deletes of emptied slices come last all the same).
  std::sort(to_update.begin(), to_update.end(),
            [](const EndpointSlice& a, const EndpointSlice& b) { return a.metadata.name < b.metadata.name; });
  for (EndpointSlice& s : to_create) WriteSlice(std::move(s), ChangeType::kAdded);
  for (EndpointSlice& s : to_update) {
    ++s.metadata.generation;
    s.metadata.annotations[std::string(kTriggerTimeAnnotation)] = NowTimestamp();
    WriteSlice(std::move(s), ChangeType::kModified);
  }
  for (EndpointSlice& s : to_delete) WriteSlice(std::move(s), ChangeType::kDeleted);
}

}  // namespace k8slb::fake
