// Target grammar (kuberesolver's forms, see target.h). Stricter than kuberesolver: names are
// validated as Kubernetes DNS labels and a malformed target is rejected with a message naming the
// part that is wrong, instead of silently resolving a service that cannot exist.
#include "k8slb/target.h"

#include <charconv>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "discovery/absl_compat.h"

namespace k8slb {
namespace {

constexpr absl::string_view kScheme = "kubernetes://";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// RFC 1123 label (namespaces): lowercase alphanumerics and '-', starts and ends alphanumeric.
bool IsDns1123Label(absl::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

// RFC 1035 label (Service names): as 1123, and starts with a letter.
bool IsDns1035Label(absl::string_view s) {
  return IsDns1123Label(s) && s.front() >= 'a' && s.front() <= 'z';
}

// IANA service name (port names): ≤ 15 chars, lowercase alnum and '-', at least one letter,
// no leading/trailing or doubled '-'.
bool IsPortName(absl::string_view s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-') return false;
  bool letter = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'a' && c <= 'z') letter = true;
    if (!IsLowerAlnum(c) && c != '-') return false;
    if (c == '-' && i > 0 && s[i - 1] == '-') return false;
  }
  return letter;
}

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

absl::Status Invalid(absl::string_view target, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid target \"", target, "\": ", why,
      " (expected kubernetes:///svc[.ns][:port], kubernetes://ns/svc[:port], svc.ns[:port] or "
      "svc.ns.svc.cluster.local[:port])"));
}

absl::StatusOr<PortSelector> ParsePort(absl::string_view target, absl::string_view port) {
  if (port.empty()) return Invalid(target, "empty port after ':'");
  if (AllDigits(port)) {
    int value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value < 1 || value > 65535) {
      return Invalid(target, absl::StrCat("port ", port, " is out of range 1-65535"));
    }
    return PortSelector::ByNumber(value);
  }
  if (!IsPortName(port)) {
    return Invalid(target, absl::StrCat("port name \"", port,
                                        "\" is not a valid port name (lowercase letters, digits "
                                        "and '-', at most 15 characters, at least one letter)"));
  }
  return PortSelector::ByName(std::string(port));
}

struct HostPart {
  std::string service;
  std::optional<std::string> namespace_name;
};

// "svc", "svc.ns", "svc.ns.svc" or "svc.ns.svc.<cluster domain>".
absl::StatusOr<HostPart> ParseServiceName(absl::string_view target, absl::string_view name,
                                          bool require_namespace) {
  if (name.empty()) return Invalid(target, "no service name");
  HostPart out;
  size_t dot = name.find('.');
  absl::string_view svc = name.substr(0, dot);
  if (!IsDns1035Label(svc)) {
    return Invalid(target, absl::StrCat("service name \"", svc,
                                        "\" is not a valid Service name (lowercase letters, "
                                        "digits and '-', starting with a letter, at most 63)"));
  }
  out.service = std::string(svc);
  if (dot == absl::string_view::npos) {
    if (require_namespace) {
      return Invalid(target,
                     "a target without the kubernetes:// scheme must name the namespace "
                     "(svc.ns); use kubernetes:///svc for the default namespace");
    }
    return out;
  }
  absl::string_view rest = name.substr(dot + 1);
  size_t dot2 = rest.find('.');
  absl::string_view ns = rest.substr(0, dot2);
  if (!IsDns1123Label(ns)) {
    return Invalid(target, absl::StrCat("namespace \"", ns, "\" is not a valid namespace name"));
  }
  out.namespace_name = std::string(ns);
  if (dot2 == absl::string_view::npos) return out;
  absl::string_view tail = rest.substr(dot2 + 1);
  size_t dot3 = tail.find('.');
  if (tail.substr(0, dot3) != "svc") {
    return Invalid(target, absl::StrCat("expected \"svc\" after the namespace, got \"",
                                        tail.substr(0, dot3), "\""));
  }
  if (dot3 != absl::string_view::npos) {
    // The cluster domain (cluster.local or a custom one): only its syntax matters here.
    absl::string_view domain = tail.substr(dot3 + 1);
    size_t start = 0;
    while (true) {
      size_t end = domain.find('.', start);
      absl::string_view label = domain.substr(start, end == absl::string_view::npos ? end : end - start);
      if (!IsDns1123Label(label)) {
        return Invalid(target, absl::StrCat("cluster domain \"", domain, "\" is not a DNS name"));
      }
      if (end == absl::string_view::npos) break;
      start = end + 1;
    }
  }
  return out;
}

// "name[:port]" → (name, port); the port is after the last ':'.
absl::StatusOr<Target> ParseNameAndPort(absl::string_view target, absl::string_view hostport,
                                        bool require_namespace) {
  Target out;
  absl::string_view name = hostport;
  size_t colon = hostport.rfind(':');
  if (colon != absl::string_view::npos) {
    name = hostport.substr(0, colon);
    auto port = ParsePort(target, hostport.substr(colon + 1));
    if (!port.ok()) return port.status();
    out.port = *std::move(port);
  }
  auto host = ParseServiceName(target, name, require_namespace);
  if (!host.ok()) return host.status();
  out.service = std::move(host->service);
  out.namespace_name = std::move(host->namespace_name);
  return out;
}

}  // namespace

std::string Target::ServiceDnsName(std::string_view default_namespace) const {
  return absl::StrCat(service, ".", namespace_name.value_or(std::string(default_namespace)),
                      ".svc");
}

absl::StatusOr<Target> ParseTarget(std::string_view input) {
  const absl::string_view target = discovery::Av(input);
  if (target.empty()) return Invalid(target, "empty");
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f) {
      return Invalid(target, "contains whitespace or a non-ASCII character");
    }
  }
  if (target.substr(0, kScheme.size()) != kScheme) {
    if (target.find("://") != absl::string_view::npos) {
      return Invalid(target, absl::StrCat("unsupported scheme \"",
                                          target.substr(0, target.find("://")),
                                          "\" (only kubernetes:// is supported)"));
    }
    if (target.find('/') != absl::string_view::npos) return Invalid(target, "unexpected '/'");
    return ParseNameAndPort(target, target, /*require_namespace=*/true);
  }
  absl::string_view rest = target.substr(kScheme.size());
  size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos ? absl::string_view() : rest.substr(slash + 1);
  if (path.find('/') != absl::string_view::npos) {
    return Invalid(target, "the path must be a single service name");
  }
  if (authority.empty()) {
    // kubernetes:///svc[.ns[.svc.domain]][:port]
    if (path.empty()) return Invalid(target, "no service name after kubernetes:///");
    return ParseNameAndPort(target, path, /*require_namespace=*/false);
  }
  if (path.empty()) {
    // kubernetes://svc.ns[:port][/]: the service in the authority (kuberesolver accepts it).
    return ParseNameAndPort(target, authority, /*require_namespace=*/true);
  }
  // kubernetes://ns/svc[:port]
  if (!IsDns1123Label(authority)) {
    return Invalid(target,
                   absl::StrCat("namespace \"", authority, "\" is not a valid namespace name"));
  }
  auto out = ParseNameAndPort(target, path, /*require_namespace=*/false);
  if (!out.ok()) return out.status();
  if (out->namespace_name.has_value() && *out->namespace_name != authority) {
    return Invalid(target, absl::StrCat("two namespaces given: \"", authority, "\" and \"",
                                        *out->namespace_name, "\""));
  }
  out->namespace_name = std::string(authority);
  return out;
}

}  // namespace k8slb
