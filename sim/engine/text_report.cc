#include "sim/engine/text_report.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sim/engine/check.h"

namespace k8slb::sim {

bool NaturalLess(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])) != 0;
    const bool db = std::isdigit(static_cast<unsigned char>(b[j])) != 0;
    if (da && db) {
      size_t ei = i, ej = j;
      while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei]))) ++ei;
      while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej]))) ++ej;
      std::string_view na = a.substr(i, ei - i), nb = b.substr(j, ej - j);
      while (na.size() > 1 && na.front() == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb.front() == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ei;
      j = ej;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

namespace {

std::string Share(uint64_t n, uint64_t total) {
  if (total == 0) return "-";
  return absl::StrFormat("%.1f%%", 100.0 * static_cast<double>(n) / static_cast<double>(total));
}

std::string Reaction(const std::optional<ReactionStats>& st) {
  if (!st) return "-";
  std::string s = st->count > 0 ? absl::StrFormat("%.3fs", st->max) : "";
  if (st->never > 0) {
    absl::StrAppend(&s, s.empty() ? "" : " ", "never:", st->never);
  }
  return s.empty() ? "-" : s;
}

}  // namespace

std::string FormatPodTable(const Report& report) {
  std::vector<std::string> pods;
  for (const auto& p : report.pods) pods.push_back(p.name);
  for (const auto& s : report.strategies) {
    for (const auto& [name, n] : s.per_pod) {
      if (std::find(pods.begin(), pods.end(), name) == pods.end()) pods.push_back(name);
    }
  }
  std::sort(pods.begin(), pods.end(),
            [](const std::string& a, const std::string& b) { return NaturalLess(a, b); });
  auto count = [](const StrategyReport& s, const std::string& pod) -> uint64_t {
    auto it = s.per_pod.find(pod);
    return it == s.per_pod.end() ? 0 : it->second;
  };
  auto failed = [](const StrategyReport& s, const std::string& pod) -> uint64_t {
    auto it = s.per_pod_failed.find(pod);
    return it == s.per_pod_failed.end() ? 0 : it->second;
  };
  std::string out;
  if (pods.size() <= kMaxPodRows) {
    size_t width = 4;
    for (const auto& p : pods) width = std::max(width, p.size());
    absl::StrAppend(&out, absl::StrFormat("%-*s", static_cast<int>(width), "pod"));
    for (const auto& s : report.strategies) {
      absl::StrAppend(&out, absl::StrFormat("  %22s", s.name));
    }
    absl::StrAppend(&out, "\n");
    for (const auto& pod : pods) {
      absl::StrAppend(&out, absl::StrFormat("%-*s", static_cast<int>(width), pod));
      for (const auto& s : report.strategies) {
        const uint64_t n = count(s, pod);
        const uint64_t f = failed(s, pod);
        std::string cell = absl::StrFormat("%d %6s", n, Share(n, s.ok));
        if (f > 0) cell = absl::StrCat(cell, " !", f);
        absl::StrAppend(&out, absl::StrFormat("  %22s", cell));
      }
      absl::StrAppend(&out, "\n");
    }
    bool any_none = false;
    for (const auto& s : report.strategies) any_none |= failed(s, "(none)") > 0;
    if (any_none) {
      absl::StrAppend(&out, absl::StrFormat("%-*s", static_cast<int>(width), "(none)"));
      for (const auto& s : report.strategies) {
        const uint64_t f = failed(s, "(none)");
        absl::StrAppend(&out, absl::StrFormat("  %22s", f > 0 ? absl::StrCat("!", f) : "-"));
      }
      absl::StrAppend(&out, "\n");
    }
    absl::StrAppend(&out, "(count share%; !N = failed RPCs; (none) = failed before a pod was "
                          "chosen)\n");
    return out;
  }
  // Large services: per strategy, the busiest and idlest pods and a summary.
  constexpr size_t kShow = 5;
  for (const auto& s : report.strategies) {
    std::vector<std::pair<uint64_t, std::string>> rows;
    for (const auto& pod : pods) rows.emplace_back(count(s, pod), pod);
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : NaturalLess(a.second, b.second);
    });
    size_t zero = 0;
    for (const auto& r : rows) zero += r.first == 0 ? 1 : 0;
    const uint64_t median = rows[rows.size() / 2].first;
    absl::StrAppend(&out, s.name, ": ", pods.size(), " pods, busiest ", rows.front().first,
                    ", median ", median, ", idlest ", rows.back().first, ", ", zero,
                    " pods with no RPC\n");
    auto line = [&](const std::pair<uint64_t, std::string>& r) {
      absl::StrAppend(&out, absl::StrFormat("  %-16s %10d %7s\n", r.second, r.first,
                                            Share(r.first, s.ok)));
    };
    for (size_t i = 0; i < std::min(kShow, rows.size()); ++i) line(rows[i]);
    if (rows.size() > 2 * kShow) absl::StrAppend(&out, "  ...\n");
    for (size_t i = std::max(rows.size(), kShow) - kShow; i < rows.size(); ++i) {
      if (i >= kShow) line(rows[i]);
    }
  }
  return out;
}

std::string FormatComparison(const Report& report) {
  std::string out = absl::StrFormat("%-14s %10s %8s %9s %5s %9s %9s %16s %14s\n", "strategy",
                                    "ok", "failed", "imbalance", "pods", "p50 ms", "p99 ms",
                                    "new-pod react", "removal react");
  for (const auto& s : report.strategies) {
    absl::StrAppend(
        &out, absl::StrFormat("%-14s %10d %8d %9s %5d %9.3f %9.3f %16s %14s\n", s.name, s.ok,
                              s.failed,
                              s.imbalance ? absl::StrFormat("%.2f", *s.imbalance) : "-",
                              s.pods_used, s.latency_ms.p50, s.latency_ms.p99,
                              Reaction(s.new_pod_first_rpc), Reaction(s.removed_pod_last_rpc)));
  }
  absl::StrAppend(&out,
                  "(imbalance = max/mean over pods alive all run; react = worst time from a pod "
                  "becoming ready to its first RPC / from leaving to its last RPC)\n");
  return out;
}

std::string FormatNewPodShares(const Report& report, int seconds) {
  std::string out;
  for (const auto& s : report.strategies) {
    if (s.timeline.row_count == 0) continue;
    for (const auto& pod : report.pods) {
      for (const auto& [start, end] : pod.usable) {
        if (start <= 0 || start + seconds > report.duration_s) continue;
        if (out.empty()) {
          absl::StrAppend(&out, "new pods' share of each strategy's RPCs (%), second by second after becoming usable\n",
                          absl::StrFormat("%-14s %-12s %8s", "strategy", "pod", "ready s"));
          for (int k = 0; k < seconds; ++k) absl::StrAppend(&out, absl::StrFormat(" %5d", k));
          absl::StrAppend(&out, "\n");
        }
        absl::StrAppend(&out, absl::StrFormat("%-14s %-12s %8.2f", s.name, pod.name, start));
        const double from = BucketStart(report, start);
        for (int k = 0; k < seconds; ++k) {
          const WindowShare w = PodShareInWindow(s, pod.name, from + k, from + k + 1);
          absl::StrAppend(&out, absl::StrFormat(" %5.1f", 100 * w.share()));
        }
        absl::StrAppend(&out, "\n");
      }
    }
  }
  return out;
}

std::string FormatEvents(const Report& report, size_t max) {
  std::string out;
  for (size_t i = 0; i < report.events.size() && i < max; ++i) {
    const auto& e = report.events[i];
    absl::StrAppend(&out, absl::StrFormat("  %8.3fs  %-10s %s\n", e.t_s, e.kind, e.detail));
  }
  if (report.events.size() > max) {
    absl::StrAppend(&out, "  ... ", report.events.size() - max, " more events\n");
  }
  return out;
}

}  // namespace k8slb::sim
