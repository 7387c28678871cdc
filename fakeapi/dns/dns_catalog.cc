#include "fakeapi/dns/dns_catalog.h"

#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace k8slb::fake::dns {
namespace {

using Json = nlohmann::json;

std::string Str(const Json& object, std::initializer_list<const char*> path) {
  const Json* at = &object;
  for (const char* p : path) {
    if (!at->is_object() || !at->contains(p)) return "";
    at = &(*at)[p];
  }
  return at->is_string() ? at->get<std::string>() : "";
}

bool IsIpv6(std::string_view ip) { return ip.find(':') != std::string_view::npos; }

bool ValidIp(const std::string& ip) {
  unsigned char buf[16];
  return inet_pton(IsIpv6(ip) ? AF_INET6 : AF_INET, ip.c_str(), buf) == 1;
}

// CoreDNS's endpoint hostname: spec hostname, else the address with '.' or ':' replaced by '-'.
std::string EndpointHostname(const SliceEndpoint& endpoint, const std::string& address) {
  if (endpoint.hostname && !endpoint.hostname->empty()) return absl::AsciiStrToLower(*endpoint.hostname);
  return absl::StrReplaceAll(address, {{".", "-"}, {":", "-"}});
}

bool Match(const std::string& want, const std::string& have) { return want.empty() || absl::EqualsIgnoreCase(want, have); }

// A DNS label of a Kubernetes name: letters, digits, '-', and for port/protocol labels '_'.
// ldns prints other bytes escaped ("\032"), which no Kubernetes object name contains.
bool PlainLabel(absl::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

}  // namespace

absl::StatusOr<std::shared_ptr<Catalog>> Catalog::Create(CatalogOptions options) {
  options.zone = absl::AsciiStrToLower(options.zone);
  if (absl::EndsWith(options.zone, ".")) options.zone.pop_back();
  if (options.zone.empty()) return absl::InvalidArgumentError("dns zone: must not be empty");
  for (absl::string_view label : absl::StrSplit(options.zone, '.')) {
    if (!PlainLabel(label) || label.find('_') != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("dns zone \"", options.zone, "\": not a domain name"));
    }
  }
  if (options.ttl_seconds > 3600) {
    return absl::InvalidArgumentError(
        absl::StrCat("dns ttl: must be at most 3600 seconds (as CoreDNS allows), got ", options.ttl_seconds));
  }
  return std::shared_ptr<Catalog>(new Catalog(std::move(options)));
}

void Catalog::Attach(const std::shared_ptr<Catalog>& catalog, Cluster& cluster) {
  {
    absl::MutexLock lock(&catalog->mu_);
    for (const auto& item : cluster.List(ResourceKind::kService, "").items) {
      catalog->ApplyServiceLocked(ChangeType::kAdded, Str(*item, {"metadata", "namespace"}),
                                  Str(*item, {"metadata", "name"}), *item);
    }
    for (const auto& item : cluster.List(ResourceKind::kEndpointSlice, "").items) {
      absl::StatusOr<EndpointSlice> slice = ParseEndpointSlice(item->dump());
      // The model only stores slices that parse (it validates every write as the API does).
      if (slice.ok()) {
        catalog->ApplySliceLocked(ChangeType::kAdded, std::make_shared<const EndpointSlice>(std::move(*slice)));
      }
    }
    catalog->serial_ = cluster.resource_version();
  }
  cluster.Subscribe([catalog](const StoredEvent& event) { catalog->Apply(event); });
}

void Catalog::Apply(const StoredEvent& event) {
  absl::MutexLock lock(&mu_);
  serial_ = std::max(serial_, event.resource_version);
  if (event.kind == ResourceKind::kService) {
    ApplyServiceLocked(event.type, event.namespace_name, event.name, *event.object);
  } else if (event.kind == ResourceKind::kEndpointSlice && event.slice != nullptr) {
    ApplySliceLocked(event.type, event.slice);
  }
}

void Catalog::ApplyServiceLocked(ChangeType type, const std::string& ns, const std::string& name,
                                 const nlohmann::json& object) {
  const Key key{ns, absl::AsciiStrToLower(name)};
  const bool existed = services_.count(key) > 0;
  if (type == ChangeType::kDeleted) {
    if (existed) {
      services_.erase(key);
      if (--namespace_objects_[ns] == 0) namespace_objects_.erase(ns);
    }
    return;
  }
  ServiceInfo info;
  info.type = Str(object, {"spec", "type"});
  if (info.type.empty()) info.type = "ClusterIP";
  const std::string cluster_ip = Str(object, {"spec", "clusterIP"});
  info.headless = cluster_ip == "None";
  if (const Json* spec = object.contains("spec") ? &object["spec"] : nullptr; spec != nullptr && spec->is_object()) {
    if (auto it = spec->find("clusterIPs"); it != spec->end() && it->is_array()) {
      for (const Json& ip : *it) {
        if (ip.is_string() && ValidIp(ip.get<std::string>())) info.cluster_ips.push_back(ip.get<std::string>());
      }
    }
    if (info.cluster_ips.empty() && ValidIp(cluster_ip)) info.cluster_ips.push_back(cluster_ip);
    if (auto it = spec->find("publishNotReadyAddresses"); it != spec->end() && it->is_boolean()) {
      info.publish_not_ready = it->get<bool>();
    }
    if (auto it = spec->find("ports"); it != spec->end() && it->is_array()) {
      for (const Json& p : *it) {
        if (!p.is_object() || !p.contains("port") || !p["port"].is_number_integer()) continue;
        ServicePort port;
        port.name = absl::AsciiStrToLower(Str(p, {"name"}));
        port.protocol = absl::AsciiStrToLower(Str(p, {"protocol"}));
        if (port.protocol.empty()) port.protocol = "tcp";  // the API's default
        port.port = p["port"].get<int32_t>();
        info.ports.push_back(std::move(port));
      }
    }
  }
  info.external_name = absl::AsciiStrToLower(Str(object, {"spec", "externalName"}));
  services_[key] = std::move(info);
  if (!existed) ++namespace_objects_[ns];
}

void Catalog::ApplySliceLocked(ChangeType type, const std::shared_ptr<const EndpointSlice>& slice) {
  const std::string& ns = slice->metadata.namespace_name;
  const Key slice_key{ns, slice->metadata.name};
  if (auto old = slice_service_.find(slice_key); old != slice_service_.end()) {
    auto group = slices_.find({ns, old->second});
    if (group != slices_.end()) {
      group->second.erase(slice->metadata.name);
      if (group->second.empty()) slices_.erase(group);
    }
    slice_service_.erase(old);
    if (--namespace_objects_[ns] == 0) namespace_objects_.erase(ns);
  }
  if (type == ChangeType::kDeleted) return;
  const std::string service = absl::AsciiStrToLower(slice->ServiceName());
  slices_[{ns, service}][slice->metadata.name] = slice;
  slice_service_[slice_key] = service;
  ++namespace_objects_[ns];
}

bool Catalog::NamespaceExistsLocked(const std::string& ns) const {
  static const std::set<std::string, std::less<>> kBuiltIn = {"default", "kube-system", "kube-public",
                                                             "kube-node-lease"};
  return kBuiltIn.count(ns) > 0 || namespace_objects_.count(ns) > 0;
}

Record Catalog::SoaLocked() const {
  const std::string& z = options_.zone;
  // CoreDNS: the SOA's own TTL is min(ttl, 300); its MINIMUM (the negative-caching TTL) is the ttl.
  return Record{absl::StrCat(z, "."), kTypeSoa, std::min<uint32_t>(options_.ttl_seconds, 300),
                absl::StrCat("ns.dns.", z, ". hostmaster.", z, ". ", static_cast<uint32_t>(serial_),
                             " 7200 1800 86400 ", options_.ttl_seconds)};
}

std::vector<Catalog::Target> Catalog::FindServiceLocked(const std::string& endpoint, const std::string& service,
                                                        const std::string& ns, const std::string& port,
                                                        const std::string& protocol, std::string* cname) const {
  std::vector<Target> out;
  auto it = services_.find({ns, service});
  if (it == services_.end()) return out;
  const ServiceInfo& svc = it->second;
  const std::string domain = absl::StrCat(service, ".", ns, ".svc.", options_.zone, ".");
  if (svc.type == "ExternalName") {
    // External services have no endpoints; CoreDNS answers a CNAME for the Service name only.
    if (endpoint.empty() && !svc.external_name.empty()) *cname = absl::StrCat(svc.external_name, ".");
    return out;
  }
  if (svc.headless || !endpoint.empty()) {
    auto group = slices_.find({ns, service});
    if (group == slices_.end()) return out;
    std::set<std::pair<std::string, int32_t>> seen;  // one record per (address, port) across slices
    for (const auto& [name, slice] : group->second) {
      for (const SliceEndpoint& ep : slice->endpoints) {
        if (!svc.publish_not_ready && !ep.conditions.EffectiveReady()) continue;
        for (const std::string& address : ep.addresses) {
          const std::string host = EndpointHostname(ep, address);
          if (!endpoint.empty() && host != endpoint) continue;
          auto add = [&](int32_t p) {
            if (seen.insert({address, p}).second) out.push_back({address, p, absl::StrCat(host, ".", domain)});
          };
          if (slice->ports.empty()) {
            if (port.empty() && protocol.empty()) add(-1);  // CoreDNS's "no ports" sentinel
            continue;
          }
          for (const SlicePort& sp : slice->ports) {
            if (!Match(port, sp.name.value_or("")) || !Match(protocol, sp.protocol.value_or("TCP"))) continue;
            add(sp.port.value_or(-1));
          }
        }
      }
    }
    return out;
  }
  for (const ServicePort& sp : svc.ports) {
    if (!Match(port, sp.name) || !Match(protocol, sp.protocol)) continue;
    for (const std::string& ip : svc.cluster_ips) out.push_back({ip, sp.port, domain});
  }
  return out;
}

Answer Catalog::Resolve(std::string_view qname, uint16_t qtype) const {
  Answer result;
  std::string owner(qname);
  if (!absl::EndsWith(owner, ".")) owner.push_back('.');
  const std::string name = absl::AsciiStrToLower(owner.substr(0, owner.size() - 1));
  const std::string& zone = options_.zone;

  absl::ReaderMutexLock lock(&mu_);
  const uint32_t ttl = options_.ttl_seconds;
  const Record soa = SoaLocked();
  auto nxdomain = [&]() {
    result.rcode = Rcode::kNxDomain;
    result.authority.push_back(soa);
    return result;
  };
  auto nodata = [&]() {
    result.authority.push_back(soa);
    return result;
  };

  if (name == zone) {
    if (qtype == kTypeSoa) {
      result.answer.push_back(soa);
      return result;
    }
    if (qtype == kTypeNs) {
      result.answer.push_back(Record{owner, kTypeNs, ttl, absl::StrCat("ns.dns.", zone, ".")});
      return result;
    }
    return nodata();
  }
  if (!absl::EndsWith(name, absl::StrCat(".", zone))) {
    result.rcode = Rcode::kRefused;
    result.authoritative = false;
    return result;
  }
  std::vector<std::string> labels = absl::StrSplit(name.substr(0, name.size() - zone.size() - 1), '.');
  for (const std::string& l : labels) {
    if (!PlainLabel(l)) return nxdomain();
  }
  const std::string kind = labels.back();
  labels.pop_back();
  if (kind != "svc" && kind != "pod") return nxdomain();
  if (labels.empty()) return nodata();  // svc.ZONE, pod.ZONE: empty non-terminals
  const std::string ns = labels.back();
  labels.pop_back();
  if (!NamespaceExistsLocked(ns)) return nxdomain();
  if (labels.empty()) return nodata();  // NS.svc.ZONE of an existing namespace

  std::vector<Target> targets;
  std::string cname;
  if (kind == "pod") {
    // `pods insecure` (the default Corefile): any dashed address in an existing namespace.
    if (labels.size() != 1) return nxdomain();
    const std::string& p = labels[0];
    const bool v4 = std::count(p.begin(), p.end(), '-') == 3 && p.find("--") == std::string::npos;
    const std::string ip = absl::StrReplaceAll(p, {{"-", v4 ? "." : ":"}});
    if (!ValidIp(ip)) return nxdomain();
    targets.push_back({ip, -1, owner});
  } else {
    const std::string service = labels.back();
    labels.pop_back();
    std::string endpoint, port, protocol;
    auto underscored = [](const std::string& label, std::string* out) {
      if (label.size() < 2 || label[0] != '_') return false;
      *out = label.substr(1);
      return true;
    };
    switch (labels.size()) {
      case 0:
        break;
      case 1:
        endpoint = labels[0];
        break;
      case 3:
        endpoint = labels[2];
        [[fallthrough]];
      case 2:
        if (!underscored(labels[0], &port) || !underscored(labels[1], &protocol)) return nxdomain();
        if (protocol != "tcp" && protocol != "udp" && protocol != "sctp") return nxdomain();
        break;
      default:
        return nxdomain();
    }
    targets = FindServiceLocked(endpoint, service, ns, port, protocol, &cname);
  }
  if (!cname.empty()) {
    result.answer.push_back(Record{owner, kTypeCname, ttl, cname});
    return result;
  }
  if (targets.empty()) return nxdomain();

  if (qtype == kTypeA || qtype == kTypeAaaa) {
    std::set<std::string> seen;
    for (const Target& t : targets) {
      if (IsIpv6(t.host) != (qtype == kTypeAaaa) || !seen.insert(t.host).second) continue;
      result.answer.push_back(Record{owner, qtype, ttl, t.host});
    }
  } else if (qtype == kTypeSrv) {
    std::vector<const Target*> srv;
    for (const Target& t : targets) {
      if (t.port > 0) srv.push_back(&t);
    }
    // CoreDNS splits a weight of 100 evenly over the records of one priority.
    const uint32_t weight = srv.empty() ? 0 : static_cast<uint32_t>(100 / srv.size());
    std::set<std::string> extra;
    for (const Target* t : srv) {
      result.answer.push_back(Record{owner, kTypeSrv, ttl, absl::StrCat("0 ", weight, " ", t->port, " ", t->domain)});
      if (extra.insert(absl::StrCat(t->domain, " ", t->host)).second) {
        result.additional.push_back(Record{t->domain, IsIpv6(t->host) ? kTypeAaaa : kTypeA, ttl, t->host});
      }
    }
  }
  if (result.answer.empty()) return nodata();
  return result;
}

}  // namespace k8slb::fake::dns
