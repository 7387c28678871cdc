// The records of a cluster's DNS, as CoreDNS's kubernetes plugin serves them
// (https://coredns.io/plugins/kubernetes/, following the Kubernetes DNS specification
// https://github.com/kubernetes/dns/blob/master/docs/specification.md):
//
//   SVC.NS.svc.ZONE             A/AAAA: a ClusterIP Service's clusterIPs; a headless Service
//                               (clusterIP None): one record per ready endpoint address;
//                               ExternalName: a CNAME to spec.externalName
//   _PORT._PROTO.SVC.NS.svc.ZONE  SRV per matching port (named ports): ClusterIP → one record,
//                               target SVC.NS.svc.ZONE; headless → one per endpoint, target
//                               HOST.SVC.NS.svc.ZONE (HOST = the endpoint's hostname, else its
//                               IP with dashes), weight 100/n, the targets' A/AAAA as additional
//   HOST.SVC.NS.svc.ZONE        A/AAAA of that endpoint (any Service)
//   A-B-C-D.NS.pod.ZONE         A of that address in an existing namespace (`pods insecure`)
//   NS.svc.ZONE, NS.pod.ZONE    NODATA if the namespace exists, else NXDOMAIN
//
// A ready endpoint is one whose `ready` condition is true or absent (as CoreDNS reads slices); when
// the Service sets publishNotReadyAddresses every endpoint counts, as the real EndpointSlice
// controller then publishes them all as ready. A name that does not exist is NXDOMAIN; an existing
// name without records of the asked type is NODATA (NOERROR, empty answer); both carry the zone's
// SOA in the authority section (`ZONE. TTL IN SOA ns.dns.ZONE. hostmaster.ZONE. SERIAL 7200 1800
// 86400 TTL`). Names outside the zone are REFUSED (no upstream is configured). Names compare
// case-insensitively; answers keep the question's spelling.
//
// Namespaces: the model has no Namespace objects, so a namespace exists if it holds a Service or
// an EndpointSlice, or is one of default, kube-system, kube-public, kube-node-lease.
//
// Threading: thread-safe. Apply() runs where the Cluster's listeners run (under the fakeapi
// server's model lock); Resolve() runs on the DNS server's thread and only takes the catalog's
// own mutex, so a query never waits for the model.
#ifndef K8SLB_FAKEAPI_DNS_DNS_CATALOG_H_
#define K8SLB_FAKEAPI_DNS_DNS_CATALOG_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "fakeapi/model/cluster.h"
#include "k8slb/endpoint_slice.h"

namespace k8slb::fake::dns {

// RR types used here (RFC 1035, 2782, 3596).
inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNs = 2;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeSoa = 6;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeSrv = 33;

enum class Rcode : uint8_t { kNoError = 0, kFormErr = 1, kServFail = 2, kNxDomain = 3, kNotImp = 4, kRefused = 5 };

// One resource record in presentation form: `owner` absolute (trailing dot), `rdata` as a zone
// file writes it ("10.96.0.1", "0 100 50051 echo.default.svc.cluster.local.").
struct Record {
  std::string owner;
  uint16_t type = kTypeA;
  uint32_t ttl = 0;
  std::string rdata;
  friend bool operator==(const Record&, const Record&) = default;
};

struct Answer {
  Rcode rcode = Rcode::kNoError;
  bool authoritative = true;  // false only for REFUSED
  std::vector<Record> answer;
  std::vector<Record> authority;
  std::vector<Record> additional;
};

struct CatalogOptions {
  std::string zone = "cluster.local";  // the cluster domain
  uint32_t ttl_seconds = 5;            // CoreDNS's kubernetes plugin default; 0..3600
};

class Catalog {
 public:
  // Validates the options (zone a plain domain name, ttl at most 3600 s as CoreDNS allows).
  static absl::StatusOr<std::shared_ptr<Catalog>> Create(CatalogOptions options);

  // Reads every Service and EndpointSlice of `cluster` and subscribes to its changes. Call it
  // where the Cluster may be called (e.g. inside FakeApiServer::WithCluster). The subscription
  // holds a reference to the catalog, which therefore lives as long as the cluster.
  static void Attach(const std::shared_ptr<Catalog>& catalog, Cluster& cluster);

  // One watch event (Services and EndpointSlices are kept, other kinds ignored).
  void Apply(const StoredEvent& event);

  // The answer to one question. `qname` in presentation form as ldns prints it (absolute or not).
  Answer Resolve(std::string_view qname, uint16_t qtype) const;

  const CatalogOptions& options() const { return options_; }

 private:
  explicit Catalog(CatalogOptions options) : options_(std::move(options)) {}

  struct ServicePort {
    std::string name;
    std::string protocol;  // lower case
    int32_t port = 0;
  };
  struct ServiceInfo {
    std::string type;  // ClusterIP, NodePort, LoadBalancer, ExternalName
    std::vector<std::string> cluster_ips;
    bool headless = false;
    bool publish_not_ready = false;
    std::string external_name;
    std::vector<ServicePort> ports;
  };
  // One address record candidate: what CoreDNS calls a msg.Service.
  struct Target {
    std::string host;    // IP
    int32_t port = 0;    // -1: the slice lists no ports
    std::string domain;  // SRV target, absolute
  };
  using Key = std::pair<std::string, std::string>;  // (namespace, name)

  void ApplyServiceLocked(ChangeType type, const std::string& ns, const std::string& name,
                          const nlohmann::json& object) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplySliceLocked(ChangeType type, const std::shared_ptr<const EndpointSlice>& slice)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool NamespaceExistsLocked(const std::string& ns) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  Record SoaLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Service records for (endpoint, service, ns, port, protocol); "" matches any. Empty: no such name.
  std::vector<Target> FindServiceLocked(const std::string& endpoint, const std::string& service,
                                        const std::string& ns, const std::string& port,
                                        const std::string& protocol, std::string* cname) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const CatalogOptions options_;
  mutable absl::Mutex mu_;
  std::map<Key, ServiceInfo> services_ ABSL_GUARDED_BY(mu_);
  // (namespace, service-name label) → slice name → slice.
  std::map<Key, std::map<std::string, std::shared_ptr<const EndpointSlice>>> slices_ ABSL_GUARDED_BY(mu_);
  // (namespace, slice name) → its service-name label, to move a relabelled slice.
  std::map<Key, std::string> slice_service_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> namespace_objects_ ABSL_GUARDED_BY(mu_);
  uint64_t serial_ ABSL_GUARDED_BY(mu_) = 0;  // SOA serial: the last resourceVersion applied
};

}  // namespace k8slb::fake::dns

#endif  // K8SLB_FAKEAPI_DNS_DNS_CATALOG_H_
