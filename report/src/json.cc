// report.json writer and reader (json.h). The reader checks types here and values in
// Validate() (schema.cc), the rule the writer obeys too.
#include "report/json.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <system_error>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "input/bounded_json.h"
#include "read_file.h"

namespace k8slb::report {
namespace {

using Json = nlohmann::json;

// ---- writing ----

Json OptionalNumber(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }

Json ReactionJson(const std::optional<ReactionStats>& st) {
  if (!st) return nullptr;
  return Json{{"count", st->count}, {"never", st->never}, {"p50", st->p50}, {"max", st->max}};
}

// ---- reading ----

// A value as a message shows it: its JSON text, cut short.
std::string Shown(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

absl::Status Error(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path.empty() ? "(top level)" : path, ": ", problem));
}

absl::Status Expected(absl::string_view path, absl::string_view what, const Json& got) {
  return Error(path, absl::StrCat("expected ", what, ", got ", Shown(got)));
}

// Typed access to the members of one JSON object, naming the path of every problem.
class Obj {
 public:
  Obj(const Json& j, std::string path) : j_(j), path_(std::move(path)) {}

  std::string Path(absl::string_view key) const {
    return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
  }
  // Null when absent.
  const Json* Find(absl::string_view key) const {
    auto it = j_.find(std::string(key));
    return it == j_.end() ? nullptr : &*it;
  }
  absl::StatusOr<const Json*> Require(absl::string_view key) const {
    const Json* v = Find(key);
    if (v == nullptr) return Error(Path(key), "missing (a required field)");
    return v;
  }
  // Absent or null: nullptr.
  const Json* FindNonNull(absl::string_view key) const {
    const Json* v = Find(key);
    return v == nullptr || v->is_null() ? nullptr : v;
  }

  absl::Status Number(absl::string_view key, double* out) const {
    auto v = Require(key);
    if (!v.ok()) return v.status();
    return NumberValue(Path(key), **v, out);
  }
  absl::Status NullableNumber(absl::string_view key, std::optional<double>* out) const {
    const Json* v = FindNonNull(key);
    if (v == nullptr) {
      out->reset();
      return absl::OkStatus();
    }
    double d = 0;
    if (absl::Status st = NumberValue(Path(key), *v, &d); !st.ok()) return st;
    *out = d;
    return absl::OkStatus();
  }
  absl::Status Count(absl::string_view key, uint64_t* out) const {
    auto v = Require(key);
    if (!v.ok()) return v.status();
    return CountValue(Path(key), **v, out);
  }
  absl::Status String(absl::string_view key, std::string* out) const {
    auto v = Require(key);
    if (!v.ok()) return v.status();
    if (!(*v)->is_string()) return Expected(Path(key), "a string", **v);
    *out = (*v)->get<std::string>();
    return absl::OkStatus();
  }
  // Absent or null: `fallback`.
  absl::Status OptionalString(absl::string_view key, std::string fallback, std::string* out) const {
    const Json* v = FindNonNull(key);
    if (v == nullptr) {
      *out = std::move(fallback);
      return absl::OkStatus();
    }
    if (!v->is_string()) return Expected(Path(key), "a string", *v);
    *out = v->get<std::string>();
    return absl::OkStatus();
  }
  absl::Status Bool(absl::string_view key, bool* out) const {
    auto v = Require(key);
    if (!v.ok()) return v.status();
    if (!(*v)->is_boolean()) return Expected(Path(key), "true or false", **v);
    *out = (*v)->get<bool>();
    return absl::OkStatus();
  }
  absl::StatusOr<const Json*> Array(absl::string_view key) const {
    auto v = Require(key);
    if (!v.ok()) return v.status();
    if (!(*v)->is_array()) return Expected(Path(key), "an array", **v);
    return *v;
  }
  absl::StatusOr<const Json*> Object(absl::string_view key) const {
    auto v = Require(key);
    if (!v.ok()) return v.status();
    if (!(*v)->is_object()) return Expected(Path(key), "an object", **v);
    return *v;
  }

  static absl::Status NumberValue(absl::string_view path, const Json& v, double* out) {
    if (!v.is_number()) return Expected(path, "a number", v);
    const double d = v.get<double>();
    // JSON has no NaN or infinity, but a number too large for a double parses as infinity.
    if (!std::isfinite(d)) return Expected(path, "a finite number", v);
    *out = d;
    return absl::OkStatus();
  }
  static absl::Status CountValue(absl::string_view path, const Json& v, uint64_t* out) {
    if (v.is_number_unsigned()) {
      *out = v.get<uint64_t>();
      return absl::OkStatus();
    }
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (d >= 0 && d <= static_cast<double>(kMaxCount) && std::floor(d) == d) {
        *out = static_cast<uint64_t>(d);
        return absl::OkStatus();
      }
    }
    return Expected(path, "a non-negative integer", v);
  }

 private:
  const Json& j_;
  std::string path_;
};

#define K8SLB_REPORT_RETURN_IF_ERROR(expr) \
  do {                                     \
    absl::Status _st = (expr);             \
    if (!_st.ok()) return _st;             \
  } while (0)

#define K8SLB_REPORT_ASSIGN_OR_RETURN(lhs, expr) \
  do {                                           \
    auto _v = (expr);                            \
    if (!_v.ok()) return _v.status();            \
    lhs = *std::move(_v);                        \
  } while (0)

absl::Status MustBeObject(const Json& j, absl::string_view path) {
  if (!j.is_object()) return Expected(path, "an object", j);
  return absl::OkStatus();
}

absl::Status ParseCountMap(const Obj& parent, absl::string_view key, bool required,
                           std::map<std::string, uint64_t>* out) {
  const Json* m = nullptr;
  if (required) {
    K8SLB_REPORT_ASSIGN_OR_RETURN(m, parent.Object(key));
  } else {
    m = parent.FindNonNull(key);
    if (m == nullptr) return absl::OkStatus();
    if (!m->is_object()) return Expected(parent.Path(key), "an object", *m);
  }
  const std::string path = parent.Path(key);
  for (auto it = m->begin(); it != m->end(); ++it) {
    uint64_t n = 0;
    K8SLB_REPORT_RETURN_IF_ERROR(Obj::CountValue(absl::StrCat(path, ".", it.key()), it.value(), &n));
    (*out)[it.key()] = n;
  }
  return absl::OkStatus();
}

absl::Status ParseReaction(const Obj& parent, absl::string_view key,
                           std::optional<ReactionStats>* out) {
  const Json* v = parent.FindNonNull(key);
  if (v == nullptr) return absl::OkStatus();
  K8SLB_REPORT_RETURN_IF_ERROR(MustBeObject(*v, parent.Path(key)));
  const Obj o(*v, parent.Path(key));
  ReactionStats st;
  K8SLB_REPORT_RETURN_IF_ERROR(o.Count("count", &st.count));
  K8SLB_REPORT_RETURN_IF_ERROR(o.Count("never", &st.never));
  K8SLB_REPORT_RETURN_IF_ERROR(o.Number("p50", &st.p50));
  K8SLB_REPORT_RETURN_IF_ERROR(o.Number("max", &st.max));
  *out = st;
  return absl::OkStatus();
}

absl::Status ParseStrategy(const Json& j, const std::string& path, StrategyReport* s) {
  K8SLB_REPORT_RETURN_IF_ERROR(MustBeObject(j, path));
  const Obj o(j, path);
  K8SLB_REPORT_RETURN_IF_ERROR(o.String("name", &s->name));
  const Json* rpcs = nullptr;
  K8SLB_REPORT_ASSIGN_OR_RETURN(rpcs, o.Object("rpcs"));
  const Obj r(*rpcs, o.Path("rpcs"));
  K8SLB_REPORT_RETURN_IF_ERROR(r.Count("ok", &s->ok));
  K8SLB_REPORT_RETURN_IF_ERROR(r.Count("failed", &s->failed));
  K8SLB_REPORT_RETURN_IF_ERROR(ParseCountMap(o, "per_pod", true, &s->per_pod));
  K8SLB_REPORT_RETURN_IF_ERROR(ParseCountMap(o, "per_pod_failed", false, &s->per_pod_failed));
  const Json* lat = nullptr;
  K8SLB_REPORT_ASSIGN_OR_RETURN(lat, o.Object("latency_ms"));
  const Obj l(*lat, o.Path("latency_ms"));
  K8SLB_REPORT_RETURN_IF_ERROR(l.Number("p50", &s->latency_ms.p50));
  K8SLB_REPORT_RETURN_IF_ERROR(l.Number("p99", &s->latency_ms.p99));
  K8SLB_REPORT_RETURN_IF_ERROR(l.Number("p999", &s->latency_ms.p999));
  K8SLB_REPORT_RETURN_IF_ERROR(o.NullableNumber("imbalance", &s->imbalance));
  uint64_t pods_used = 0;
  K8SLB_REPORT_RETURN_IF_ERROR(o.Count("pods_used", &pods_used));
  if (pods_used > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
    return Error(o.Path("pods_used"), absl::StrCat("too large: ", pods_used));
  }
  s->pods_used = static_cast<int>(pods_used);
  if (const Json* rx = o.FindNonNull("reaction_s")) {
    K8SLB_REPORT_RETURN_IF_ERROR(MustBeObject(*rx, o.Path("reaction_s")));
    const Obj ro(*rx, o.Path("reaction_s"));
    K8SLB_REPORT_RETURN_IF_ERROR(ParseReaction(ro, "new_pod_first_rpc", &s->new_pod_first_rpc));
    K8SLB_REPORT_RETURN_IF_ERROR(
        ParseReaction(ro, "removed_pod_last_rpc", &s->removed_pod_last_rpc));
  }
  K8SLB_REPORT_RETURN_IF_ERROR(o.OptionalString("timeline_csv", TimelineFileName(s->name), &s->timeline_csv));
  if (const Json* n = o.FindNonNull("timeline_final_rows")) {
    uint64_t rows = 0;
    K8SLB_REPORT_RETURN_IF_ERROR(Obj::CountValue(o.Path("timeline_final_rows"), *n, &rows));
    s->timeline_final_rows = rows;
  }
  K8SLB_REPORT_RETURN_IF_ERROR(o.NullableNumber("timeline_final_s", &s->timeline_final_s));
  K8SLB_REPORT_RETURN_IF_ERROR(o.NullableNumber("straggler_window_s", &s->straggler_window_s));
  const Json* rows = o.FindNonNull("provisional");
  if (rows == nullptr) return absl::OkStatus();
  if (!rows->is_array()) return Expected(o.Path("provisional"), "an array", *rows);
  if (rows->size() > kMaxProvisionalRows) {
    return Error(o.Path("provisional"), absl::StrCat(rows->size(), " rows, more than the limit of ", kMaxProvisionalRows));
  }
  for (size_t k = 0; k < rows->size(); ++k) {
    const std::string rp = absl::StrCat(o.Path("provisional"), "[", k, "]");
    K8SLB_REPORT_RETURN_IF_ERROR(MustBeObject((*rows)[k], rp));
    const Obj r(((*rows)[k]), rp);
    ProvisionalRow row;
    K8SLB_REPORT_RETURN_IF_ERROR(r.Number("t_s", &row.t_s));
    K8SLB_REPORT_RETURN_IF_ERROR(r.String("pod", &row.pod));
    K8SLB_REPORT_RETURN_IF_ERROR(r.Count("ok", &row.ok));
    K8SLB_REPORT_RETURN_IF_ERROR(r.Count("failed", &row.failed));
    std::optional<double> p50, p99;
    K8SLB_REPORT_RETURN_IF_ERROR(r.NullableNumber("p50_ms", &p50));
    K8SLB_REPORT_RETURN_IF_ERROR(r.NullableNumber("p99_ms", &p99));
    row.p50_ms = p50.value_or(std::nan(""));
    row.p99_ms = p99.value_or(std::nan(""));
    s->provisional.push_back(std::move(row));
  }
  return absl::OkStatus();
}

absl::Status ParsePod(const Json& j, const std::string& path, Pod* p) {
  K8SLB_REPORT_RETURN_IF_ERROR(MustBeObject(j, path));
  const Obj o(j, path);
  K8SLB_REPORT_RETURN_IF_ERROR(o.String("name", &p->name));
  K8SLB_REPORT_RETURN_IF_ERROR(o.OptionalString("address", "", &p->address));
  K8SLB_REPORT_RETURN_IF_ERROR(o.OptionalString("zone", "", &p->zone));
  K8SLB_REPORT_RETURN_IF_ERROR(o.Number("created_s", &p->created_s));
  K8SLB_REPORT_RETURN_IF_ERROR(o.NullableNumber("ready_s", &p->ready_s));
  K8SLB_REPORT_RETURN_IF_ERROR(o.NullableNumber("deleted_s", &p->deleted_s));
  const Json* usable = o.FindNonNull("usable");
  if (usable == nullptr) return absl::OkStatus();
  if (!usable->is_array()) return Expected(o.Path("usable"), "an array", *usable);
  for (size_t k = 0; k < usable->size(); ++k) {
    const Json& iv = (*usable)[k];
    const std::string ip = absl::StrCat(o.Path("usable"), "[", k, "]");
    if (!iv.is_array() || iv.size() != 2) return Expected(ip, "a [start, end or null] pair", iv);
    double start = 0;
    K8SLB_REPORT_RETURN_IF_ERROR(Obj::NumberValue(ip, iv[0], &start));
    std::optional<double> end;
    if (!iv[1].is_null()) {
      double e = 0;
      K8SLB_REPORT_RETURN_IF_ERROR(Obj::NumberValue(ip, iv[1], &e));
      end = e;
    }
    p->usable.emplace_back(start, end);
  }
  return absl::OkStatus();
}


absl::StatusOr<Report> ParseDocument(const Json& j) {
  K8SLB_REPORT_RETURN_IF_ERROR(MustBeObject(j, ""));
  const Obj top(j, "");
  Report r;
  uint64_t format = 0;
  K8SLB_REPORT_RETURN_IF_ERROR(top.Count("format", &format));
  if (format != static_cast<uint64_t>(kFormatVersion)) {
    return Error("format", absl::StrCat("unsupported format ", format,
                                        " (this reader reads format ", kFormatVersion, ")"));
  }
  r.format = kFormatVersion;
  K8SLB_REPORT_RETURN_IF_ERROR(top.String("scenario", &r.scenario));
  K8SLB_REPORT_RETURN_IF_ERROR(top.OptionalString("scenario_file", "", &r.scenario_file));
  K8SLB_REPORT_RETURN_IF_ERROR(top.String("mode", &r.mode));
  K8SLB_REPORT_RETURN_IF_ERROR(top.Count("seed", &r.seed));
  K8SLB_REPORT_RETURN_IF_ERROR(top.Bool("complete", &r.complete));
  K8SLB_REPORT_RETURN_IF_ERROR(top.Number("duration_s", &r.duration_s));
  K8SLB_REPORT_RETURN_IF_ERROR(top.Number("timeline_bucket_s", &r.timeline_bucket_s));
  if (const Json* env = top.FindNonNull("environment")) {
    if (!env->is_object()) return Expected("environment", "an object", *env);
    for (auto it = env->begin(); it != env->end(); ++it) {
      if (!it.value().is_string()) {
        return Expected(absl::StrCat("environment.", it.key()), "a string", it.value());
      }
      r.environment[it.key()] = it.value().get<std::string>();
    }
  }

  const Json* events = nullptr;
  K8SLB_REPORT_ASSIGN_OR_RETURN(events, top.Array("events"));
  r.events.reserve(events->size());
  for (size_t i = 0; i < events->size(); ++i) {
    const std::string path = absl::StrCat("events[", i, "]");
    K8SLB_REPORT_RETURN_IF_ERROR(MustBeObject((*events)[i], path));
    const Obj e((*events)[i], path);
    Event ev;
    K8SLB_REPORT_RETURN_IF_ERROR(e.Number("t_s", &ev.t_s));
    K8SLB_REPORT_RETURN_IF_ERROR(e.String("kind", &ev.kind));
    K8SLB_REPORT_RETURN_IF_ERROR(e.OptionalString("detail", "", &ev.detail));
    r.events.push_back(std::move(ev));
  }
  const Json* pods = nullptr;
  K8SLB_REPORT_ASSIGN_OR_RETURN(pods, top.Array("pods"));
  r.pods.resize(pods->size());
  for (size_t i = 0; i < pods->size(); ++i) {
    K8SLB_REPORT_RETURN_IF_ERROR(ParsePod((*pods)[i], absl::StrCat("pods[", i, "]"), &r.pods[i]));
  }
  const Json* strategies = nullptr;
  K8SLB_REPORT_ASSIGN_OR_RETURN(strategies, top.Array("strategies"));
  r.strategies.resize(strategies->size());
  for (size_t i = 0; i < strategies->size(); ++i) {
    K8SLB_REPORT_RETURN_IF_ERROR(ParseStrategy((*strategies)[i], absl::StrCat("strategies[", i, "]"),
                                               &r.strategies[i]));
  }
  K8SLB_REPORT_RETURN_IF_ERROR(Validate(r));
  std::stable_sort(r.events.begin(), r.events.end(),
                   [](const Event& a, const Event& b) { return a.t_s < b.t_s; });
  return r;
}

}  // namespace

std::string ToJson(const Report& report) {
  Json j;
  j["format"] = report.format;
  j["scenario"] = report.scenario;
  j["scenario_file"] = report.scenario_file;
  j["mode"] = report.mode;
  j["seed"] = report.seed;
  j["complete"] = report.complete;
  j["duration_s"] = report.duration_s;
  j["timeline_bucket_s"] = report.timeline_bucket_s;
  j["environment"] = report.environment;
  Json events = Json::array();
  for (const auto& e : report.events) {
    events.push_back({{"t_s", e.t_s}, {"kind", e.kind}, {"detail", e.detail}});
  }
  j["events"] = std::move(events);
  Json pods = Json::array();
  for (const auto& p : report.pods) {
    Json usable = Json::array();
    for (const auto& [start, end] : p.usable) usable.push_back({start, OptionalNumber(end)});
    pods.push_back({{"name", p.name},
                    {"address", p.address},
                    {"zone", p.zone},
                    {"created_s", p.created_s},
                    {"ready_s", OptionalNumber(p.ready_s)},
                    {"deleted_s", OptionalNumber(p.deleted_s)},
                    {"usable", std::move(usable)}});
  }
  j["pods"] = std::move(pods);
  Json strategies = Json::array();
  for (const auto& s : report.strategies) {
    Json per_pod = Json::object();
    for (const auto& [pod, n] : s.per_pod) per_pod[pod] = n;
    Json per_pod_failed = Json::object();
    for (const auto& [pod, n] : s.per_pod_failed) per_pod_failed[pod] = n;
    strategies.push_back(
        {{"name", s.name},
         {"rpcs", {{"ok", s.ok}, {"failed", s.failed}}},
         {"per_pod", std::move(per_pod)},
         {"per_pod_failed", std::move(per_pod_failed)},
         {"latency_ms",
          {{"p50", s.latency_ms.p50}, {"p99", s.latency_ms.p99}, {"p999", s.latency_ms.p999}}},
         {"imbalance", OptionalNumber(s.imbalance)},
         {"pods_used", s.pods_used},
         {"reaction_s",
          (s.new_pod_first_rpc || s.removed_pod_last_rpc)
              ? Json{{"new_pod_first_rpc", ReactionJson(s.new_pod_first_rpc)},
                     {"removed_pod_last_rpc", ReactionJson(s.removed_pod_last_rpc)}}
              : Json(nullptr)},
         {"timeline_csv", s.timeline_csv}});
    if (s.timeline_final_rows) strategies.back()["timeline_final_rows"] = *s.timeline_final_rows;
    if (s.timeline_final_s) strategies.back()["timeline_final_s"] = *s.timeline_final_s;
    if (s.straggler_window_s) strategies.back()["straggler_window_s"] = *s.straggler_window_s;
    if (s.timeline_final_rows || !s.provisional.empty()) {
      Json rows = Json::array();
      for (const ProvisionalRow& row : s.provisional) {
        auto latency = [](double v) { return std::isnan(v) ? Json(nullptr) : Json(v); };
        rows.push_back({{"t_s", row.t_s}, {"pod", row.pod}, {"ok", row.ok}, {"failed", row.failed},
                        {"p50_ms", latency(row.p50_ms)}, {"p99_ms", latency(row.p99_ms)}});
      }
      strategies.back()["provisional"] = std::move(rows);
    }
  }
  j["strategies"] = std::move(strategies);
  // Strings come from scenario files and the cluster; bytes that are not UTF-8 are written as
  // U+FFFD instead of failing the whole report.
  return j.dump(2, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace) + "\n";
}

absl::StatusOr<Report> ParseJson(std::string_view text, std::string_view file_label) {
  const std::string label(file_label);
  auto fail = [&](const absl::Status& st) {
    return absl::Status(st.code(), absl::StrCat(label, ": ", st.message()));
  };
  if (text.size() > kMaxJsonBytes) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("too large (", text.size(), " bytes; the limit is ", kMaxJsonBytes, ")")));
  }
  // The library's bounded parser (the one the discovery client and the fake API server use):
  // it stops at the first container nested deeper than kMaxJsonDepth, so a file of a million '['
  // costs nothing but the scan, and its messages never quote the input. No value limit: the size
  // limit above already bounds the document (as before).
  absl::StatusOr<Json> j = input::ParseJson(text, input::JsonLimits{.max_depth = kMaxJsonDepth, .max_values = 0});
  if (!j.ok()) return fail(j.status());
  auto r = ParseDocument(*j);
  if (!r.ok()) return fail(r.status());
  return r;
}

absl::StatusOr<Report> LoadJson(const std::filesystem::path& dir_or_file) {
  std::filesystem::path path = dir_or_file;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) path /= "report.json";
  auto text = internal::ReadBounded(path, kMaxJsonBytes, path.string());
  if (!text.ok()) return text.status();
  return ParseJson(*text, path.string());
}

}  // namespace k8slb::report
