// Bearer-token authentication and a small RBAC authorizer for the fake API server (reference
// kubernetes-api.md §4.1, §6). Thread-safe: lookups come from I/O threads, rotation from the
// timer thread, under one mutex. Time comes from the caller (steady clock) so tests can script it.
#ifndef K8SLB_FAKEAPI_SERVER_AUTH_H_
#define K8SLB_FAKEAPI_SERVER_AUTH_H_

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api_common.h"
#include "fake_api_server.h"

namespace k8slb::fakeapi {

class TokenAuthority {
 public:
  TokenAuthority() = default;

  void Add(TokenGrant grant);
  // Replaces `old_token` by `new_token` (same user and rules); the old one keeps working until
  // `old_valid_until`.
  void Rotate(const std::string& old_token, const std::string& new_token, SteadyTime old_valid_until);
  // The grant for an Authorization header value ("Bearer X", scheme case-insensitive, surrounding
  // spaces trimmed; a trailing newline inside the header is rejected by HTTP parsing anyway).
  std::optional<TokenGrant> Authenticate(const std::string& authorization_header, SteadyTime now) const;

  static bool Allowed(const TokenGrant& grant, const RequestAttributes& attrs);

 private:
  struct Entry {
    TokenGrant grant;
    std::optional<SteadyTime> valid_until;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> tokens_;
};

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_AUTH_H_
