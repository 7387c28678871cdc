#include "k8slb/endpoint_set.h"

#include <algorithm>

namespace k8slb {

std::string JoinHostPort(const std::string& host, int32_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string Endpoint::HostPort() const { return JoinHostPort(address, port); }

EndpointSet::EndpointSet(uint64_t version, std::vector<Endpoint> usable, UsableReason reason,
                         size_t known_endpoints, size_t slice_count)
    : version_(version),
      endpoints_(std::move(usable)),
      reason_(reason),
      known_endpoints_(known_endpoints),
      slice_count_(slice_count) {}

std::optional<size_t> EndpointSet::Find(const std::string& host_port) const {
  // Endpoints are sorted by HostPort() (SliceStore's contract), so this is a binary search.
  auto it = std::lower_bound(endpoints_.begin(), endpoints_.end(), host_port,
                             [](const Endpoint& e, const std::string& key) { return e.HostPort() < key; });
  if (it != endpoints_.end() && it->HostPort() == host_port) return static_cast<size_t>(it - endpoints_.begin());
  return std::nullopt;
}

}  // namespace k8slb
