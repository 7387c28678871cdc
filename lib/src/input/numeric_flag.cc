#include "input/numeric_flag.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace k8slb::input {
namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// The text as given, quoted and shortened: a flag value is user input, not a secret, but a
// 1 MB argument should not become a 1 MB message.
std::string Quoted(std::string_view text) {
  constexpr size_t kMax = 40;
  std::string out = absl::StrCat("\"", Av(text.substr(0, kMax)), text.size() > kMax ? "...\"" : "\"");
  return out;
}

// 86400, 0.25, 1e+07: integers up to 1e15 without exponent, others in %g.
std::string Number(double v) {
  if (std::abs(v) < 1e15 && v == std::floor(v)) return absl::StrCat(static_cast<int64_t>(v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// "--flag: " before the message; nothing when the caller (a CLI11 validator) adds the name.
std::string Prefix(std::string_view name) {
  return name.empty() ? std::string() : absl::StrCat(Av(name), ": ");
}

std::string Range(std::string_view name, std::string_view text, std::string_view min,
                  std::string_view max) {
  return absl::StrCat(Prefix(name), Quoted(text), " is out of range; must be within [", Av(min),
                      ", ", Av(max), "]");
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<double> ParseDoubleFlag(std::string_view name, std::string_view text, double min,
                                       double max) {
  const absl::string_view t = absl::StripAsciiWhitespace(Av(text));
  // Digits, '.', sign and exponent only: no "nan", "inf", hex floats or locale forms.
  bool digit = false, other = false;
  for (char c : t) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E') {
      other = true;
    }
  }
  double v = 0;
  if (!digit || other || !absl::SimpleAtod(t, &v)) {
    return absl::InvalidArgumentError(absl::StrCat(Prefix(name), Quoted(text), " is not a number"));
  }
  if (!std::isfinite(v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Prefix(name), Quoted(text), " is not a finite number"));
  }
  if (v < min || v > max) return absl::InvalidArgumentError(Range(name, text, Number(min), Number(max)));
  return v;
}

absl::StatusOr<int64_t> ParseIntFlag(std::string_view name, std::string_view text, int64_t min,
                                     int64_t max) {
  absl::string_view t = absl::StripAsciiWhitespace(Av(text));
  absl::string_view digits = t;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) digits.remove_prefix(1);
  if (!AllDigits(std::string_view(digits.data(), digits.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat(Prefix(name), Quoted(text), " is not an integer"));
  }
  int64_t v = 0;
  if (!absl::SimpleAtoi(t, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(
        Range(name, text, absl::StrCat(min), absl::StrCat(max)));
  }
  return v;
}

absl::StatusOr<uint64_t> ParseUintFlag(std::string_view name, std::string_view text, uint64_t max) {
  absl::string_view t = absl::StripAsciiWhitespace(Av(text));
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  if (!AllDigits(std::string_view(t.data(), t.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat(Prefix(name), Quoted(text), " is not a non-negative integer"));
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(t, &v) || v > max) {
    return absl::InvalidArgumentError(Range(name, text, "0", absl::StrCat(max)));
  }
  return v;
}

absl::Status CheckDoubleFlag(std::string_view name, double value, double min, double max) {
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat(Prefix(name), Number(value), " is not a finite number"));
  }
  if (value < min || value > max) {
    return absl::InvalidArgumentError(Range(name, Number(value), Number(min), Number(max)));
  }
  return absl::OkStatus();
}

absl::StatusOr<HostPort> ParseHostPortFlag(std::string_view name, std::string_view text,
                                           bool allow_zero_port) {
  HostPort out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat(Prefix(name), Quoted(text), " must be [IPV6]:PORT"));
    }
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(Prefix(name), Quoted(text), " must be HOST:PORT"));
    }
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          Prefix(name), Quoted(text), " has an IPv6 host; write it in brackets: [HOST]:PORT"));
    }
    port = text.substr(colon + 1);
  }
  if (!AllDigits(port) || port.size() > 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        Prefix(name), "the port in ", Quoted(text), " must be a number within [",
        allow_zero_port ? 0 : 1, ", 65535]"));
  }
  int p = 0;
  for (char c : port) p = p * 10 + (c - '0');
  if (p > 65535 || (p == 0 && !allow_zero_port)) {
    return absl::InvalidArgumentError(absl::StrCat(Prefix(name), "the port in ", Quoted(text),
                                                   " must be within [", allow_zero_port ? 0 : 1,
                                                   ", 65535]"));
  }
  out.port = p;
  return out;
}

}  // namespace k8slb::input
