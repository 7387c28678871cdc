#include "k8slb/topology.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace k8slb {
namespace {

bool Names(const std::vector<std::string>& hints, const std::string& name) {
  return std::find(hints.begin(), hints.end(), name) != hints.end();
}

// The endpoints whose `hints` (a member list) name `name`, when every endpoint has such hints and
// one names it; else empty.
template <typename HintsOf>
std::vector<uint32_t> HintedFor(const std::vector<Endpoint>& endpoints, const std::optional<std::string>& name,
                                HintsOf hints_of) {
  std::vector<uint32_t> out;
  if (!name.has_value() || name->empty()) return out;
  for (size_t k = 0; k < endpoints.size(); ++k) {
    const std::vector<std::string>& hints = hints_of(endpoints[k]);
    if (hints.empty()) return {};  // one endpoint without hints: the hints are not used at all
    if (Names(hints, *name)) out.push_back(static_cast<uint32_t>(k));
  }
  return out;
}

}  // namespace

std::string_view TopologyModeName(TopologyMode mode) {
  switch (mode) {
    case TopologyMode::kAll:
      return "all";
    case TopologyMode::kSameZone:
      return "same-zone";
    case TopologyMode::kSameNode:
      return "same-node";
  }
  return "all";
}

TopologyChoice ChooseTopology(const std::vector<Endpoint>& endpoints, const ClientTopology& client) {
  TopologyChoice choice;
  if (std::vector<uint32_t> node = HintedFor(endpoints, client.node, [](const Endpoint& e) -> auto& {
        return e.hint_nodes;
      });
      !node.empty()) {
    choice.mode = TopologyMode::kSameNode;
    choice.preferred = std::move(node);
  } else if (std::vector<uint32_t> zone = HintedFor(endpoints, client.zone, [](const Endpoint& e) -> auto& {
               return e.hint_zones;
             });
             !zone.empty()) {
    choice.mode = TopologyMode::kSameZone;
    choice.preferred = std::move(zone);
  }
  return choice;
}

absl::Status ValidateTopologySpillOptions(const TopologySpillOptions& options, std::string_view prefix) {
  const std::string p(prefix);
  if (!std::isfinite(options.low_load) || options.low_load < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(p, ".low_load must be a finite number >= 0, got ", options.low_load));
  }
  if (!std::isfinite(options.high_load) || options.high_load <= options.low_load) {
    return absl::InvalidArgumentError(absl::StrCat(p, ".high_load must be a finite number above low_load (",
                                                   options.low_load, "), got ", options.high_load));
  }
  return absl::OkStatus();
}

}  // namespace k8slb
