// Target grammar (as kuberesolver's), parsed into service, namespace and port.
//   kubernetes:///svc                 kubernetes:///svc:port      kubernetes:///svc.ns:portname
//   kubernetes://ns/svc:port          svc.ns[:port]               svc.ns.svc.cluster.local[:port]
// Pure functions; thread-safe.
#ifndef K8SLB_TARGET_H_
#define K8SLB_TARGET_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "k8slb/slice_store.h"

namespace k8slb {

struct Target {
  std::string service;
  std::optional<std::string> namespace_name;  // nullopt: the configuration's default namespace
  PortSelector port;                          // by name, number, or first
  // "svc.ns.svc": the authority/SNI used for TLS to pods by default.
  std::string ServiceDnsName(std::string_view default_namespace) const;
};

absl::StatusOr<Target> ParseTarget(std::string_view target);

}  // namespace k8slb

#endif  // K8SLB_TARGET_H_
