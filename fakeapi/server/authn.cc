#include "fakeapi/server/authn.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace k8slb::fakeapi {

UserInfo AnonymousUser() {
  UserInfo u;
  u.name = "system:anonymous";
  u.groups = {"system:unauthenticated"};
  u.anonymous = true;
  return u;
}

UserInfo TokenAuthority::FromGrant(const TokenGrant& g) {
  UserInfo u;
  u.name = g.user;
  u.uid = g.uid;
  u.groups = g.groups;
  if (std::find(u.groups.begin(), u.groups.end(), "system:authenticated") == u.groups.end()) {
    u.groups.push_back("system:authenticated");
  }
  u.superuser = g.superuser || std::find(u.groups.begin(), u.groups.end(), "system:masters") != u.groups.end();
  u.token_rules = g.rules;
  return u;
}

void TokenAuthority::Add(TokenGrant grant) {
  absl::MutexLock lock(&mu_);
  std::string token = grant.token;
  tokens_[token] = Entry{std::move(grant), std::nullopt};
}

void TokenAuthority::Rotate(const std::string& old_token, const std::string& new_token, SteadyTime old_valid_until) {
  absl::MutexLock lock(&mu_);
  auto it = tokens_.find(old_token);
  if (it == tokens_.end()) return;
  TokenGrant grant = it->second.grant;
  it->second.valid_until = old_valid_until;
  grant.token = new_token;
  tokens_[new_token] = Entry{std::move(grant), std::nullopt};
  // Forget tokens whose grace ended long ago so rotation does not grow the table.
  for (auto i = tokens_.begin(); i != tokens_.end();) {
    if (i->second.valid_until && *i->second.valid_until + std::chrono::hours(1) < old_valid_until) {
      i = tokens_.erase(i);
    } else {
      ++i;
    }
  }
}

Authentication TokenAuthority::Authenticate(const std::optional<std::string>& authorization, SteadyTime now) const {
  Authentication out;
  out.user = AnonymousUser();
  if (!authorization) return out;
  const std::string& h = *authorization;
  // The bearer token authenticator: scheme "bearer" in any case, one space, a non-empty token.
  // Anything else is not a bearer token and leaves the request anonymous
  // (k8s.io/apiserver/pkg/authentication/request/bearertoken).
  size_t space = h.find(' ');
  std::string scheme = absl::AsciiStrToLower(h.substr(0, space));
  if (scheme != "bearer" || space == std::string::npos) return out;
  std::string token = h.substr(space + 1);
  if (token.empty()) return out;
  if (token[0] == ' ') {
    out.warnings.push_back("the provided Authorization header contains extra space before the bearer token, and is ignored");
    return out;
  }
  absl::MutexLock lock(&mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end() || (it->second.valid_until && now > *it->second.valid_until)) {
    out.result = Authentication::Result::kUnauthorized;
    return out;
  }
  out.user = FromGrant(it->second.grant);
  return out;
}

UserInfo TokenAuthority::Impersonate(const std::string& user, const std::vector<std::string>& groups) const {
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [token, entry] : tokens_) {
      if (entry.grant.user == user && !entry.valid_until) {
        UserInfo u = FromGrant(entry.grant);
        if (!groups.empty()) {
          u.groups = groups;
          u.groups.push_back("system:authenticated");
          u.superuser = std::find(groups.begin(), groups.end(), "system:masters") != groups.end();
        }
        return u;
      }
    }
  }
  UserInfo u;
  u.name = user;
  u.groups = groups;
  u.groups.push_back("system:authenticated");
  u.superuser = std::find(groups.begin(), groups.end(), "system:masters") != groups.end();
  return u;
}

}  // namespace k8slb::fakeapi
