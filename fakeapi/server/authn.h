// Authentication as kube-apiserver 1.32 does it with bearer tokens and anonymous auth on (the
// default), per the recorded answers:
//   no Authorization header, "Bearer" with no token, "Bearer  X" (two spaces; answered with a
//   Warning), "Basic ...", "Token ..."   -> system:anonymous (groups system:unauthenticated)
//   "Bearer X" / "bearer X" / "BEARER X" with a known token            -> that user
//   "Bearer X" with an unknown token                                    -> 401, on every path
// and impersonation (Impersonate-User, Impersonate-Group) for users allowed to impersonate.
//
// Thread-safety: TokenAuthority is internally locked (absl::Mutex); lookups come from I/O
// threads, rotation from the timer. Time comes from the caller so tests can script it.
#ifndef K8SLB_FAKEAPI_SERVER_AUTHN_H_
#define K8SLB_FAKEAPI_SERVER_AUTHN_H_

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "fakeapi/server/fake_api_server.h"
#include "fakeapi/server/server_clock.h"

namespace k8slb::fakeapi {

struct UserInfo {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
  bool anonymous = false;
  bool superuser = false;             // a member of system:masters
  std::vector<RbacRule> token_rules;  // TokenGrant::rules of the token that authenticated
};

struct Authentication {
  enum class Result { kUser, kUnauthorized };
  Result result = Result::kUser;
  UserInfo user;
  std::vector<std::string> warnings;  // Warning header texts
};

class TokenAuthority {
 public:
  void Add(TokenGrant grant);
  // Replaces `old_token` by `new_token` (same user and rules); the old one keeps working until
  // `old_valid_until`.
  void Rotate(const std::string& old_token, const std::string& new_token, SteadyTime old_valid_until);
  // `authorization`: the header value, or nullopt when absent.
  Authentication Authenticate(const std::optional<std::string>& authorization, SteadyTime now) const;
  // The identity of a user name for impersonation: the grant of a token of that user if one is
  // known, else a user with only the groups named.
  UserInfo Impersonate(const std::string& user, const std::vector<std::string>& groups) const;

 private:
  struct Entry {
    TokenGrant grant;
    std::optional<SteadyTime> valid_until;
  };
  static UserInfo FromGrant(const TokenGrant& g);
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> tokens_ ABSL_GUARDED_BY(mu_);
};

UserInfo AnonymousUser();

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_AUTHN_H_
