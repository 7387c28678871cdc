#include "k8slb/xds/bootstrap.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace k8slb::xds {

absl::StatusOr<std::string> MakeBootstrap(const BootstrapOptions& options) {
  const size_t colon = options.server.rfind(':');
  if (options.server.empty() || colon == std::string::npos || colon == 0 || colon + 1 == options.server.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("server \"", options.server, "\" is not HOST:PORT (the k8slb-xds address)"));
  }
  if (options.node_id.empty()) return absl::InvalidArgumentError("node id is empty");
  nlohmann::json server = {
      {"server_uri", options.server},
      {"channel_creds", nlohmann::json::array({{{"type", "insecure"}}})},
      // "xds_v3": the v3 transport protocol (gRPC before 1.36 defaulted to v2).
      {"server_features", nlohmann::json::array({"xds_v3"})},
  };
  nlohmann::json node = {{"id", options.node_id}};
  nlohmann::json locality = nlohmann::json::object();
  if (!options.region.empty()) locality["region"] = options.region;
  if (!options.zone.empty()) locality["zone"] = options.zone;
  // Always present, even empty: @grpc/grpc-js-xds 1.14 rejects a node without "locality"
  // ("locality field missing in node element"), though gRFC A27 makes it optional.
  node["locality"] = locality;
  nlohmann::json bootstrap = {{"xds_servers", nlohmann::json::array({server})}, {"node", node}};
  return bootstrap.dump(2) + "\n";
}

}  // namespace k8slb::xds
