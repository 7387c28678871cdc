#include "report/scrape.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "report/prometheus_text.h"

namespace k8slb::report {
namespace {

constexpr char kPicks[] = "k8slb_endpoint_picks_total";
constexpr char kSuccesses[] = "k8slb_endpoint_successes_total";
constexpr char kFailures[] = "k8slb_endpoint_failures_total";
constexpr char kEjections[] = "k8slb_endpoint_ejections_total";
constexpr char kInFlight[] = "k8slb_endpoint_in_flight";
constexpr char kEjected[] = "k8slb_endpoint_ejected";
constexpr char kNoEndpoint[] = "k8slb_channel_no_endpoint_failures_total";
constexpr char kStaleness[] = "k8slb_discovery_staleness_seconds";
constexpr char kResourceVersion[] = "k8slb_discovery_resource_version_info";
constexpr char kSynced[] = "k8slb_discovery_synced";

std::string Label(const PromSample& s, const char* name) {
  auto it = s.labels.find(name);
  return it == s.labels.end() ? std::string() : it->second;
}

// A counter value must be a whole number in [0, kMaxCount]: anything else is a broken source.
absl::Status CheckCounter(const PromSample& s) {
  if (!std::isfinite(s.value) || s.value < 0 || s.value > static_cast<double>(kMaxCount) ||
      s.value != std::floor(s.value)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: counter value %g is not a whole number in [0, 2^53]", s.name, s.value));
  }
  return absl::OkStatus();
}

// Increase of a counter from `before` to `now`; a decrease is a reset (the process restarted).
uint64_t Increase(double before, double now) {
  return static_cast<uint64_t>(now >= before ? now - before : now);
}

std::string FormatSeconds(double s) { return absl::StrFormat("%.1f s", s); }

}  // namespace

absl::Status CheckScrapeUrl(std::string_view url_in) {
  const std::string url(url_in);
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("--scrape ", url.substr(0, 200), ": ", why));
  };
  if (url.size() > 2048) return bad("longer than 2048 characters");
  if (!absl::StartsWith(url, "http://")) return bad("expected http://HOST[:PORT]/PATH (https is not supported)");
  std::string_view rest = std::string_view(url).substr(7);
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (authority.empty()) return bad("no host");
  if (authority.find('@') != std::string_view::npos) return bad("credentials in the URL are not supported");
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return bad("contains a space or control character");
  }
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated [IPv6] host");
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("expected :PORT after ]");
      port = after.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (host.empty()) return bad("no host");
  }
  if (!port.empty() || authority.back() == ':') {
    const std::string digits(port.substr(0, 16));
    uint32_t p = 0;
    const bool all_digits = !digits.empty() && std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit);
    if (!all_digits || !absl::SimpleAtoi(digits, &p) || p < 1 || p > 65535) {
      return bad(absl::StrCat("port \"", digits, "\" is not in 1..65535"));
    }
  }
  return absl::OkStatus();
}

ScrapeView::ScrapeView(std::vector<std::string> urls, double interval_s)
    : interval_s_(interval_s), sources_(urls.size()) {
  for (std::string& u : urls) {
    ScrapeSourceHealth h;
    h.url = std::move(u);
    health_.push_back(std::move(h));
  }
}

absl::StatusOr<ScrapeView> ScrapeView::Create(std::vector<std::string> urls, double interval_s) {
  if (urls.empty()) return absl::InvalidArgumentError("--scrape: no URL given");
  if (urls.size() > kMaxScrapeSources) {
    return absl::InvalidArgumentError(
        absl::StrCat("--scrape: ", urls.size(), " URLs, more than the limit of ", kMaxScrapeSources));
  }
  std::set<std::string> seen;
  for (const std::string& u : urls) {
    if (absl::Status s = CheckScrapeUrl(u); !s.ok()) return s;
    if (!seen.insert(u).second) return absl::InvalidArgumentError(absl::StrCat("--scrape ", u, ": given twice"));
  }
  if (!std::isfinite(interval_s) || interval_s < kMinScrapeIntervalS || interval_s > kMaxScrapeIntervalS) {
    return absl::InvalidArgumentError(absl::StrFormat("--scrape-interval: must be between %g and %g s, got %g",
                                                      kMinScrapeIntervalS, kMaxScrapeIntervalS, interval_s));
  }
  return ScrapeView(std::move(urls), interval_s);
}

absl::Status ScrapeView::Add(size_t source, double t_s, const absl::StatusOr<std::string>& body) {
  if (source >= sources_.size()) return absl::OutOfRangeError(absl::StrCat("no source ", source));
  ScrapeSourceHealth& h = health_[source];
  ++h.scrapes;
  absl::Status status;
  if (!std::isfinite(t_s) || t_s < 0 || t_s > TimeHorizon(interval_s_) - interval_s_) {
    status = absl::OutOfRangeError(absl::StrFormat(
        "the view's history is full (%g s in buckets of %g s); restart the dashboard", t_s, interval_s_));
  } else if (!body.ok()) {
    status = body.status();
  } else {
    status = Apply(source, t_s, *body);
  }
  if (status.ok()) {
    h.ok = true;
    h.error.clear();
    h.last_ok_s = t_s;
  } else {
    ++h.failures;
    h.ok = false;
    h.error = std::string(status.message());
    status = absl::Status(status.code(), absl::StrCat(h.url, ": ", status.message()));
  }
  return status;
}

absl::Status ScrapeView::Apply(size_t source, double t_s, std::string_view text) {
  auto parsed = ParsePrometheusText(text);
  if (!parsed.ok()) return parsed.status();
  const PromScrape& scrape = *parsed;

  // Read everything into a fresh state first, so a refused scrape changes nothing.
  Source next;
  next.seen = true;
  std::set<std::pair<std::string, std::map<std::string, std::string>>> unique;
  for (const PromSample& s : scrape.samples) {
    const bool counter = s.name == kPicks || s.name == kSuccesses || s.name == kFailures || s.name == kEjections ||
                         s.name == kNoEndpoint;
    const bool endpoint_gauge = s.name == kInFlight || s.name == kEjected;
    const bool channel_gauge = s.name == kStaleness || s.name == kResourceVersion || s.name == kSynced;
    if (!counter && !endpoint_gauge && !channel_gauge) continue;
    if (!unique.emplace(s.name, s.labels).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate series ", s.name, " (same labels twice)"));
    }
    if (counter) {
      if (absl::Status c = CheckCounter(s); !c.ok()) return c;
    } else if (!std::isfinite(s.value)) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: value %g is not finite", s.name, s.value));
    }
    const std::string channel = Label(s, "channel");
    if (s.name == kNoEndpoint) {
      next.channels[channel].no_endpoint = s.value;
      continue;
    }
    if (channel_gauge) {
      ChannelState& c = next.channels[channel];
      if (s.name == kStaleness) c.staleness_s = s.value;
      if (s.name == kSynced) c.synced = s.value != 0;
      if (s.name == kResourceVersion) c.resource_version = Label(s, "resource_version").substr(0, 64);
      continue;
    }
    if (s.name == kPicks) continue;  // picks = successes + failures + in flight: drawn from those
    const std::string address = Label(s, "address");
    std::string pod = Label(s, "pod");
    if (pod.empty()) pod = address;
    if (pod.empty() || pod == kNoPod) {
      return absl::InvalidArgumentError(absl::StrCat(s.name, ": a per-endpoint series has neither pod nor address"));
    }
    if (pod.size() > 253) return absl::InvalidArgumentError(absl::StrCat(s.name, ": a pod name over 253 characters"));
    SeriesKey key{channel, pod, address};
    if (counter) {
      if (next.counters.size() >= kMaxScrapeSeries && !next.counters.contains(key)) {
        return absl::ResourceExhaustedError(
            absl::StrCat("more than ", kMaxScrapeSeries, " per-endpoint series in one scrape"));
      }
      Counters& c = next.counters[key];
      if (s.name == kSuccesses) c.ok = s.value;
      if (s.name == kFailures) c.failed = s.value;
      if (s.name == kEjections) c.ejections = s.value;
    } else {
      if (next.gauges.size() >= kMaxScrapeSeries && !next.gauges.contains(key)) {
        return absl::ResourceExhaustedError(
            absl::StrCat("more than ", kMaxScrapeSeries, " per-endpoint series in one scrape"));
      }
      Gauges& g = next.gauges[key];
      if (s.name == kInFlight) g.in_flight = s.value;
      if (s.name == kEjected) g.ejected = s.value != 0;
      g.zone = Label(s, "zone");
    }
  }
  if (scrape.Find(kSuccesses).empty() && scrape.Find(kNoEndpoint).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no ", kSuccesses, " or ", kNoEndpoint, " series: not a k8slb channel's /metrics"));
  }

  // Accepted: count the increases since this source's previous good scrape.
  const Source& prev = sources_[source];
  // The increase measured now covers about (t - interval, t]: it goes to the bucket of that
  // span's middle, so scrapes that come a little early or late (timer and network jitter) still
  // land one per bucket instead of two in one and none in the next.
  const int64_t bucket = std::max<int64_t>(0, static_cast<int64_t>(std::floor(t_s / interval_s_ - 0.5)));
  for (const auto& [key, now] : next.counters) {
    const auto& [channel, pod, address] = key;
    Counters before;
    if (auto it = prev.counters.find(key); it != prev.counters.end()) before = it->second;
    const uint64_t ok = Increase(before.ok, now.ok);
    const uint64_t failed = Increase(before.failed, now.failed);
    ChannelTotals& ch = channels_[channel];
    ch.ok[pod] += ok;
    if (failed > 0) ch.failed[pod] += failed;
    if (ok > 0 || failed > 0) {
      auto& row = ch.rows[{bucket, pod}];
      row.first += ok;
      row.second += failed;
    }
    if (const uint64_t ej = Increase(before.ejections, now.ejections); ej > 0 && events_.size() < kMaxScrapeEvents) {
      events_.push_back(Event{.t_s = t_s,
                              .kind = "ejection",
                              .detail = absl::StrCat(pod, " ejected", ej > 1 ? absl::StrCat(" ", ej, " times") : "",
                                                     " (", channel, ", ", health_[source].url, ")")});
    }
    PodInfo& p = pods_[pod];
    if (p.address.empty()) {
      // Pods in a source's first scrape were there before the view started watching.
      p.address = address;
      p.first_s = prev.seen ? t_s : 0;
    }
    p.last_s = t_s;
  }
  for (const auto& [channel, now] : next.channels) {
    double before = 0;
    if (auto it = prev.channels.find(channel); it != prev.channels.end()) before = it->second.no_endpoint;
    ChannelTotals& ch = channels_[channel];
    if (const uint64_t n = Increase(before, now.no_endpoint); n > 0) {
      ch.failed[std::string(kNoPod)] += n;
      ch.rows[{bucket, std::string(kNoPod)}].second += n;
    }
  }
  for (const auto& [key, g] : next.gauges) {
    auto it = pods_.find(std::get<1>(key));
    if (it != pods_.end() && it->second.zone.empty()) it->second.zone = g.zone.substr(0, 63);
  }
  sources_[source] = std::move(next);
  // A pod is present while any source that answered lists it.
  for (auto& [name, p] : pods_) p.present = false;
  for (const Source& s : sources_) {
    for (const auto& [key, c] : s.counters) pods_[std::get<1>(key)].present = true;
  }
  newest_s_ = std::max(newest_s_, t_s);
  return absl::OkStatus();
}

std::shared_ptr<const Report> ScrapeView::Snapshot(double now_s) const {
  auto r = std::make_shared<Report>();
  r->scenario = health_.size() == 1 ? absl::StrCat("scrape ", health_[0].url)
                                    : absl::StrCat("scrape of ", health_.size(), " sources");
  r->mode = "live";
  r->complete = false;
  r->timeline_bucket_s = interval_s_;
  const double horizon = TimeHorizon(interval_s_);
  r->duration_s = std::min(horizon, std::max({now_s, newest_s_, 0.0}));
  r->events = events_;
  for (const auto& [name, p] : pods_) {
    Pod pod;
    pod.name = name;
    pod.address = p.address;
    pod.zone = p.zone;
    pod.created_s = p.first_s;
    pod.ready_s = p.first_s;
    pod.usable.emplace_back(p.first_s, p.present ? std::nullopt : std::optional<double>(p.last_s));
    if (!p.present) pod.deleted_s = p.last_s;
    r->pods.push_back(std::move(pod));
  }
  // Gauges of each source's newest good scrape, summed per channel.
  std::map<std::string, double> in_flight;
  std::map<std::string, std::set<std::string>> ejected;
  std::map<std::string, std::vector<std::string>> discovery;
  for (size_t i = 0; i < sources_.size(); ++i) {
    const Source& s = sources_[i];
    for (const auto& [key, g] : s.gauges) {
      in_flight[std::get<0>(key)] += g.in_flight;
      if (g.ejected) ejected[std::get<0>(key)].insert(std::get<1>(key));
    }
    for (const auto& [channel, c] : s.channels) {
      std::string d = c.synced.value_or(false) ? "synced" : "not synced";
      if (!c.resource_version.empty()) absl::StrAppend(&d, ", resourceVersion ", c.resource_version);
      if (c.staleness_s) absl::StrAppend(&d, ", last event ", FormatSeconds(*c.staleness_s), " ago");
      if (health_[i].last_ok_s >= 0) absl::StrAppend(&d, " (scraped ", FormatSeconds(now_s - health_[i].last_ok_s), " ago)");
      if (sources_.size() > 1) d = absl::StrCat(health_[i].url, ": ", d);
      discovery[channel].push_back(std::move(d));
    }
  }
  size_t healthy = 0;
  for (const auto& h : health_) healthy += h.ok ? 1 : 0;
  r->environment["sources"] = absl::StrCat(healthy, " of ", health_.size(), " answering, every ",
                                           absl::StrFormat("%g s", interval_s_));
  for (const auto& [channel, totals] : channels_) {
    StrategyReport s;
    s.name = channel.empty() ? "(unnamed channel)" : channel;
    s.timeline_csv = TimelineFileName(s.name);
    s.per_pod = totals.ok;
    s.per_pod_failed = totals.failed;
    for (const auto& [pod, n] : totals.ok) {
      s.ok += n;
      if (n > 0) ++s.pods_used;
    }
    for (const auto& [pod, n] : totals.failed) s.failed += n;
    // /metrics has no latency distribution: latency_ms stays 0 and the rows have none (NaN).
    std::vector<TimelineRow> rows;
    std::map<std::string, int32_t> index;
    for (const auto& [key, counts] : totals.rows) {
      const auto& [bucket, pod] = key;
      auto [it, added] = index.emplace(pod, static_cast<int32_t>(s.timeline.pod_names.size()));
      if (added) s.timeline.pod_names.push_back(pod);
      rows.push_back(TimelineRow{.t_s = static_cast<double>(bucket) * interval_s_,
                                 .pod = it->second,
                                 .ok = counts.first,
                                 .failed = counts.second,
                                 .p50_ms = std::nan(""),
                                 .p99_ms = std::nan("")});
    }
    s.timeline.AppendChunk(std::move(rows));
    r->duration_s = std::min(horizon, std::max(r->duration_s, s.timeline.max_t_s + interval_s_));
    const std::string prefix = absl::StrCat(s.name, ": ");
    r->environment[prefix + "in flight"] = absl::StrFormat("%.0f", in_flight[channel]);
    r->environment[prefix + "ejected"] = ejected[channel].empty() ? "none" : absl::StrJoin(ejected[channel], ", ");
    if (!discovery[channel].empty()) r->environment[prefix + "discovery"] = absl::StrJoin(discovery[channel], "; ");
    r->strategies.push_back(std::move(s));
  }
  for (const auto& h : health_) {
    if (!h.ok && h.scrapes > 0) {
      r->warnings.push_back(absl::StrCat(h.url, ": ", h.error,
                                         h.last_ok_s >= 0 ? " (showing its last good scrape)" : " (no good scrape yet)"));
    }
  }
  return r;
}

}  // namespace k8slb::report
