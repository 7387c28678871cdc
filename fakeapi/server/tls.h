// In-memory certificate authority and server certificate for the fake API server (OpenSSL 3).
// Clients dial an IP, so the server certificate carries IP SANs (127.0.0.1 and the listen IP) and
// DNS SANs kubernetes.default.svc / localhost (as a cluster's API server certificate: https://kubernetes.io/docs/setup/best-practices/certificates/). Nothing touches
// disk. Thread-safe (no shared state).
#ifndef K8SLB_FAKEAPI_SERVER_TLS_H_
#define K8SLB_FAKEAPI_SERVER_TLS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace k8slb::fakeapi {

struct GeneratedTls {
  std::string ca_cert_pem;
  std::string server_cert_pem;  // leaf followed by the CA (a chain)
  std::string server_key_pem;
};

// `ip_sans` are IPv4/IPv6 literals; `dns_sans` host names. Keys are ECDSA P-256, valid for a year.
absl::StatusOr<GeneratedTls> GenerateTls(const std::vector<std::string>& ip_sans,
                                         const std::vector<std::string>& dns_sans);

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_TLS_H_
