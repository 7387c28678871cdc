#include "auth.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace k8slb::fakeapi {
namespace {

bool Contains(const std::vector<std::string>& set, const std::string& value) {
  return std::find(set.begin(), set.end(), "*") != set.end() ||
         std::find(set.begin(), set.end(), value) != set.end();
}

}  // namespace

void TokenAuthority::Add(TokenGrant grant) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string token = grant.token;
  tokens_[token] = Entry{std::move(grant), std::nullopt};
}

void TokenAuthority::Rotate(const std::string& old_token, const std::string& new_token, SteadyTime old_valid_until) {
  std::lock_guard<std::mutex> lock(mu_);
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

std::optional<TokenGrant> TokenAuthority::Authenticate(const std::string& header, SteadyTime now) const {
  absl::string_view h = absl::StripAsciiWhitespace(header);
  if (h.size() < 7 || !absl::EqualsIgnoreCase(h.substr(0, 6), "bearer") || h[6] != ' ') return std::nullopt;
  std::string token(absl::StripAsciiWhitespace(h.substr(7)));
  if (token.empty()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return std::nullopt;
  if (it->second.valid_until && now > *it->second.valid_until) return std::nullopt;
  return it->second.grant;
}

bool TokenAuthority::Allowed(const TokenGrant& grant, const RequestAttributes& a) {
  if (grant.superuser) return true;
  std::string resource = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  for (const auto& rule : grant.rules) {
    // A RoleBinding covers only its namespace; cluster-scope requests need a cluster-wide rule.
    if (!rule.namespace_name.empty() && rule.namespace_name != a.namespace_name) continue;
    if (!Contains(rule.verbs, a.verb)) continue;
    if (!Contains(rule.api_groups, a.api_group)) continue;
    if (!Contains(rule.resources, resource)) continue;
    return true;
  }
  return false;
}

}  // namespace k8slb::fakeapi
