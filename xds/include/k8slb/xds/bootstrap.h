// The gRPC xDS bootstrap file that points a proxyless client at k8slb-xds (gRFC A27's format, read
// from the file named by GRPC_XDS_BOOTSTRAP or the JSON in GRPC_XDS_BOOTSTRAP_CONFIG). Pure
// functions; thread-safe.
#ifndef K8SLB_XDS_BOOTSTRAP_H_
#define K8SLB_XDS_BOOTSTRAP_H_

#include <string>

#include "absl/status/statusor.h"

namespace k8slb::xds {

struct BootstrapOptions {
  std::string server;   // k8slb-xds address, "HOST:PORT" (e.g. "k8slb-xds.k8slb-system:18000")
  std::string node_id = "k8slb-xds-client";
  // The client's zone: its endpoints get priority 0 (see docs/xds.md). Empty: no zone preference.
  std::string zone;
  std::string region;
};

// The bootstrap JSON (pretty-printed, ending in a newline). Errors name the bad field.
absl::StatusOr<std::string> MakeBootstrap(const BootstrapOptions& options);

}  // namespace k8slb::xds

#endif  // K8SLB_XDS_BOOTSTRAP_H_
