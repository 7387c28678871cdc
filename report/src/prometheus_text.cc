#include "report/prometheus_text.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace k8slb::report {
namespace {

bool NameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool NameChar(char c) { return NameStart(c) || (c >= '0' && c <= '9'); }

// Reads a metric (allow_colon) or label name at the front of `s`.
bool ConsumeName(absl::string_view& s, bool allow_colon, std::string* out) {
  size_t n = 0;
  while (n < s.size() && NameChar(s[n]) && (allow_colon || s[n] != ':')) ++n;
  if (n == 0 || !NameStart(s[0]) || (!allow_colon && s[0] == ':') || (s[0] >= '0' && s[0] <= '9')) return false;
  out->assign(s.data(), n);
  s.remove_prefix(n);
  return true;
}

bool ParseValue(absl::string_view text, double* out) {
  if (text == "NaN") {
    *out = std::nan("");
    return true;
  }
  if (text == "+Inf" || text == "Inf") {
    *out = HUGE_VAL;
    return true;
  }
  if (text == "-Inf") {
    *out = -HUGE_VAL;
    return true;
  }
  return absl::SimpleAtod(text, out) && std::isfinite(*out);
}

// `{a="x",b="y"}` at the front of `s` (the '{' already consumed).
absl::Status ParseLabels(absl::string_view& s, std::map<std::string, std::string>* labels) {
  for (;;) {
    if (absl::ConsumePrefix(&s, "}")) return absl::OkStatus();
    std::string name;
    if (!ConsumeName(s, /*allow_colon=*/false, &name)) return absl::InvalidArgumentError("bad label name");
    if (!absl::ConsumePrefix(&s, "=\"")) return absl::InvalidArgumentError(absl::StrCat("label ", name, ": expected =\""));
    std::string value;
    for (;;) {
      if (s.empty()) return absl::InvalidArgumentError(absl::StrCat("label ", name, ": unterminated value"));
      char c = s.front();
      s.remove_prefix(1);
      if (c == '"') break;
      if (c == '\\') {
        if (s.empty()) return absl::InvalidArgumentError(absl::StrCat("label ", name, ": unterminated escape"));
        char e = s.front();
        s.remove_prefix(1);
        if (e == 'n') {
          value += '\n';
        } else if (e == '\\' || e == '"') {
          value += e;
        } else {
          return absl::InvalidArgumentError(absl::StrCat("label ", name, ": unknown escape \\", std::string(1, e)));
        }
      } else {
        value += c;
      }
    }
    if (!labels->emplace(name, std::move(value)).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate label ", name));
    }
    absl::ConsumePrefix(&s, ",");
  }
}

}  // namespace

std::vector<const PromSample*> PromScrape::Find(std::string_view name,
                                                const std::map<std::string, std::string>& match) const {
  std::vector<const PromSample*> out;
  for (const PromSample& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : match) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        all = false;
        break;
      }
    }
    if (all) out.push_back(&s);
  }
  return out;
}

absl::StatusOr<PromScrape> ParsePrometheusText(std::string_view input) {
  absl::string_view text(input.data(), input.size());
  if (text.size() > kMaxPrometheusTextBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics text of ", text.size(), " bytes exceeds the limit of ", kMaxPrometheusTextBytes));
  }
  PromScrape out;
  size_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripTrailingAsciiWhitespace(line);
    line = absl::StripLeadingAsciiWhitespace(line);
    if (line.empty()) continue;
    auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("metrics line ", line_no, ": ", why));
    };
    if (line.front() == '#') {
      std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(' ', 3), absl::SkipEmpty());
      if (parts.size() >= 4 && parts[1] == "TYPE") out.types[std::string(parts[2])] = std::string(parts[3]);
      continue;
    }
    PromSample sample;
    absl::string_view rest = line;
    if (!ConsumeName(rest, /*allow_colon=*/true, &sample.name)) return fail("bad metric name");
    if (sample.name.size() > 256) return fail("metric name over 256 characters");
    if (absl::ConsumePrefix(&rest, "{")) {
      if (absl::Status s = ParseLabels(rest, &sample.labels); !s.ok()) return fail(s.message());
    }
    std::vector<absl::string_view> fields = absl::StrSplit(rest, ' ', absl::SkipEmpty());
    if (fields.empty() || fields.size() > 2) return fail("expected a value and an optional timestamp");
    if (!ParseValue(fields[0], &sample.value)) return fail(absl::StrCat("bad value \"", fields[0].substr(0, 32), fields[0].size() > 32 ? "...\"" : "\""));
    int64_t ts = 0;
    if (fields.size() == 2 && !absl::SimpleAtoi(fields[1], &ts)) return fail("bad timestamp");
    out.samples.push_back(std::move(sample));
  }
  return out;
}

}  // namespace k8slb::report
