// The simulator's scenario parser: the whole document, with the cluster half read by fakeapi's
// reader (fakeapi/scenario/cluster_sections.h) and the simulator's sections (name, description,
// liveOnly, clients, strategies, expect) read here with the same YAML classes. Every problem
// becomes one absl::Status whose message reads "FILE:LINE: FIELD: problem"; FIELD is the dotted
// path of the offending key, e.g. "pods.replicas" or "timeline[2].kind".
#include "sim/scenario/scenario.h"

#include <algorithm>
#include <chrono>
#include <cctype>
#include <iterator>
#include <set>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "fakeapi/scenario/cluster_scenario_yaml.h"
#include "fakeapi/scenario/cluster_sections.h"
#include "fakeapi/scenario/yaml_reader.h"
#include "k8slb/picker.h"

namespace k8slb::scenario {
namespace {

using fake::yaml::Errors;
using fake::yaml::IsDnsLabel;
using fake::yaml::JoinViews;
using fake::yaml::kHugeNumber;
using fake::yaml::MapReader;

constexpr int64_t kMaxInt = INT32_MAX;
constexpr std::string_view kClientKeys[] = {"count", "zone", "node", "rateRps", "concurrency", "durationSeconds",
                                            "discovery", "slowStart", "topologySpill"};

absl::Status ParseDiscovery(const Errors& e, const YAML::Node& node, DiscoveryOverrides* d) {
  MapReader r(e, node, "clients.discovery");
  K8SLB_RETURN_IF_ERROR(r.Check({"backoffInitialSeconds", "backoffMaxSeconds"}));
  auto opt_seconds = [&](std::string_view key, std::optional<double>* out) -> absl::Status {
    if (!r.Has(key)) return absl::OkStatus();
    double v = 0;
    K8SLB_RETURN_IF_ERROR(r.Number(key, 0, true, 3600, &v));
    *out = v;
    return absl::OkStatus();
  };
  K8SLB_RETURN_IF_ERROR(opt_seconds("backoffInitialSeconds", &d->backoff_initial_s));
  K8SLB_RETURN_IF_ERROR(opt_seconds("backoffMaxSeconds", &d->backoff_max_s));
  if (d->backoff_initial_s && d->backoff_max_s && *d->backoff_max_s < *d->backoff_initial_s) {
    return r.ErrorAt("backoffMaxSeconds", absl::StrFormat("must be at least backoffInitialSeconds (%g), got %g",
                                                          *d->backoff_initial_s, *d->backoff_max_s));
  }
  return absl::OkStatus();
}

// clients.slowStart: {STRATEGY: {windowSeconds, aggression, minWeight}}, STRATEGY a k8slb one.
absl::Status ParseSlowStart(const Errors& e, const YAML::Node& node, ClientSpec* c) {
  if (!node.IsMap()) {
    return e.At(node, "clients.slowStart",
                absl::StrCat("expected a mapping of strategy name to options, got ", fake::yaml::TypeName(node)));
  }
  for (const auto& kv : node) {
    const std::string name = kv.first.as<std::string>();
    const std::string path = absl::StrCat("clients.slowStart.", name);
    if (!FindNamedPolicy(name)) {
      std::vector<std::string_view> names;
      for (const NamedPolicy& p : kNamedPolicies) names.push_back(p.name);
      return e.At(kv.first, path, absl::StrCat("not a k8slb strategy (known: ", JoinViews(names), ")"));
    }
    MapReader r(e, kv.second, path);
    K8SLB_RETURN_IF_ERROR(r.Check({"windowSeconds", "aggression", "minWeight"}));
    if (!r.Has("windowSeconds")) return e.At(kv.second, path, "windowSeconds is required");
    double window_s = 0;
    SlowStartOptions o;
    K8SLB_RETURN_IF_ERROR(r.Number("windowSeconds", 0, false, 3600, &window_s));
    K8SLB_RETURN_IF_ERROR(r.Number("aggression", 0, true, 1000, &o.aggression));
    K8SLB_RETURN_IF_ERROR(r.Number("minWeight", 0, false, 1, &o.min_weight));
    o.window = std::chrono::nanoseconds(static_cast<int64_t>(window_s * 1e9));
    // The library's rule too, so a value the bounds above let through cannot reach a picker.
    if (absl::Status valid = ValidateSlowStartOptions(o, path); !valid.ok()) {
      return e.At(kv.second, path, std::string(valid.message()));
    }
    c->slow_start[name] = o;
  }
  return absl::OkStatus();
}

// clients.topologySpill: {enabled, lowLoad, highLoad} (k8slb/topology.h).
absl::Status ParseTopologySpill(const Errors& e, const YAML::Node& node, ClientSpec* c) {
  MapReader r(e, node, "clients.topologySpill");
  K8SLB_RETURN_IF_ERROR(r.Check({"enabled", "lowLoad", "highLoad"}));
  TopologySpillOptions& o = c->topology_spill;
  K8SLB_RETURN_IF_ERROR(r.Bool("enabled", &o.enabled));
  K8SLB_RETURN_IF_ERROR(r.Number("lowLoad", 0, false, 1e6, &o.low_load));
  K8SLB_RETURN_IF_ERROR(r.Number("highLoad", 0, true, 1e6, &o.high_load));
  // The library's rule (both bounds are already checked above); the message names the YAML keys.
  if (!ValidateTopologySpillOptions(o).ok()) {
    return r.ErrorAt(r.Has("highLoad") ? "highLoad" : "lowLoad",
                     absl::StrFormat("highLoad (%g) must be above lowLoad (%g)", o.high_load, o.low_load));
  }
  return absl::OkStatus();
}

absl::Status ParseClients(const Errors& e, const YAML::Node& node, ClientSpec* c) {
  MapReader r(e, node, "clients");
  K8SLB_RETURN_IF_ERROR(r.Check(kClientKeys));
  K8SLB_RETURN_IF_ERROR(r.IntAs("count", 1, 1000, &c->count));
  if (r.Has("zone")) {
    std::string zone;
    K8SLB_RETURN_IF_ERROR(r.String("zone", &zone));
    if (zone.empty()) return r.ErrorAt("zone", "must not be empty");
    c->zone = zone;
  }
  if (r.Has("node")) {
    std::string node;
    K8SLB_RETURN_IF_ERROR(r.String("node", &node));
    if (node.empty()) return r.ErrorAt("node", "must not be empty");
    c->node = node;
  }
  K8SLB_RETURN_IF_ERROR(r.Number("rateRps", 0, false, 1e7, &c->rate_rps));
  K8SLB_RETURN_IF_ERROR(r.IntAs("concurrency", 1, 100000, &c->concurrency));
  K8SLB_RETURN_IF_ERROR(r.Number("durationSeconds", 0, true, 86400, &c->duration_s));
  if (r.Has("discovery")) K8SLB_RETURN_IF_ERROR(ParseDiscovery(e, r.Value("discovery"), &c->discovery));
  if (r.Has("slowStart")) K8SLB_RETURN_IF_ERROR(ParseSlowStart(e, r.Value("slowStart"), c));
  if (r.Has("topologySpill")) K8SLB_RETURN_IF_ERROR(ParseTopologySpill(e, r.Value("topologySpill"), c));
  return absl::OkStatus();
}

absl::Status ParseExpectation(const Errors& e, const YAML::Node& node, size_t index, const Scenario& sc,
                              Expectation* x) {
  const std::string path = absl::StrCat("expect[", index, "]");
  MapReader r(e, node, path);
  K8SLB_RETURN_IF_ERROR(r.Check({"strategy", "maxFailed", "maxFailedRatio", "maxImbalance", "maxReactionSeconds",
                                 "maxRemovalReactionSeconds", "minPodsUsed", "maxPodsUsed", "maxP99Ms", "maxEarlyShare",
                                 "earlySeconds"}));
  x->line = r.Line();
  K8SLB_RETURN_IF_ERROR(r.String("strategy", &x->strategy));
  if (x->strategy != "*" &&
      std::find(sc.strategies.begin(), sc.strategies.end(), x->strategy) == sc.strategies.end()) {
    return r.ErrorAt("strategy", absl::StrCat("\"", x->strategy, "\" is not one of this scenario's strategies (",
                                              absl::StrJoin(sc.strategies, ", "), ") or \"*\""));
  }
  auto opt_int = [&](std::string_view key, int64_t min, int64_t max, auto* out) -> absl::Status {
    if (!r.Has(key)) return absl::OkStatus();
    int64_t v = 0;
    K8SLB_RETURN_IF_ERROR(r.Int(key, min, max, &v));
    *out = static_cast<typename std::remove_reference_t<decltype(*out)>::value_type>(v);
    return absl::OkStatus();
  };
  auto opt_num = [&](std::string_view key, double min, bool exclusive, double max,
                     std::optional<double>* out) -> absl::Status {
    if (!r.Has(key)) return absl::OkStatus();
    double v = 0;
    K8SLB_RETURN_IF_ERROR(r.Number(key, min, exclusive, max, &v));
    *out = v;
    return absl::OkStatus();
  };
  K8SLB_RETURN_IF_ERROR(opt_int("maxFailed", 0, INT64_MAX, &x->max_failed));
  K8SLB_RETURN_IF_ERROR(opt_num("maxFailedRatio", 0, false, 1, &x->max_failed_ratio));
  K8SLB_RETURN_IF_ERROR(opt_num("maxImbalance", 1, false, kHugeNumber, &x->max_imbalance));
  K8SLB_RETURN_IF_ERROR(opt_num("maxReactionSeconds", 0, false, kHugeNumber, &x->max_reaction_s));
  K8SLB_RETURN_IF_ERROR(opt_num("maxRemovalReactionSeconds", 0, false, kHugeNumber, &x->max_removal_reaction_s));
  K8SLB_RETURN_IF_ERROR(opt_int("minPodsUsed", 0, kMaxInt, &x->min_pods_used));
  K8SLB_RETURN_IF_ERROR(opt_int("maxPodsUsed", 0, kMaxInt, &x->max_pods_used));
  K8SLB_RETURN_IF_ERROR(opt_num("maxP99Ms", 0, true, kHugeNumber, &x->max_p99_ms));
  K8SLB_RETURN_IF_ERROR(opt_num("maxEarlyShare", 0, false, 1, &x->max_early_share));
  K8SLB_RETURN_IF_ERROR(r.Number("earlySeconds", 0, true, 3600, &x->early_s));
  if (x->min_pods_used && x->max_pods_used && *x->min_pods_used > *x->max_pods_used) {
    return r.ErrorAt("maxPodsUsed", "must not be below minPodsUsed");
  }
  return absl::OkStatus();
}

std::string StemOf(std::string_view file_name) {
  std::string_view base = file_name;
  if (const size_t slash = base.find_last_of('/'); slash != std::string_view::npos) base = base.substr(slash + 1);
  for (std::string_view ext : {".yaml", ".yml"}) {
    if (base.size() > ext.size() && base.substr(base.size() - ext.size()) == ext) {
      base = base.substr(0, base.size() - ext.size());
      break;
    }
  }
  return std::string(base);
}

// Strategy names name a Service of their own (SERVICE-NAME), which must stay a DNS label.
constexpr size_t kMaxExternalNameLength = 40;

// One external strategy: {name, command, env} (see ExternalStrategy in scenario.h).
absl::Status ParseExternalStrategy(const Errors& e, const YAML::Node& node, const std::string& field,
                                   ExternalStrategy* x) {
  MapReader m(e, node, field);
  K8SLB_RETURN_IF_ERROR(m.Check({"name", "command", "env"}));
  x->line = m.Line();
  if (!m.Has("name")) return e.At(node, field, "an external strategy needs a name");
  K8SLB_RETURN_IF_ERROR(m.String("name", &x->name));
  const std::string what = absl::StrCat("external strategy \"", x->name, "\"");
  if (!fake::yaml::IsDnsLabel(x->name) || x->name.size() > kMaxExternalNameLength) {
    return m.ErrorAt("name", absl::StrCat(what, ": the name must be a DNS label of at most ", kMaxExternalNameLength,
                                          " characters (it names the strategy's own Service)"));
  }
  if (report::IsKnownStrategy(x->name)) {
    return m.ErrorAt("name", absl::StrCat(what, " has the name of a built-in strategy"));
  }
  if (!m.Has("command")) {
    return e.At(node, field, absl::StrCat(what, " has no command (a list: the program and its arguments)"));
  }
  K8SLB_RETURN_IF_ERROR(m.StringList("command", &x->command));
  if (x->command.empty()) return m.ErrorAt("command", absl::StrCat(what, ": the command is empty"));
  for (size_t i = 0; i < x->command.size(); ++i) {
    const std::string& arg = x->command[i];
    for (size_t open = arg.find('{'); open != std::string::npos; open = arg.find('{', open + 1)) {
      const size_t close = arg.find('}', open);
      if (close == std::string::npos) break;
      const std::string_view token(arg.data() + open, close - open + 1);
      if (std::find(std::begin(kExternalPlaceholders), std::end(kExternalPlaceholders), token) ==
          std::end(kExternalPlaceholders)) {
        return m.ErrorAt("command", absl::StrCat(what, ": command[", i, "] uses unknown placeholder ", std::string(token),
                                                 " (known: ", JoinViews(kExternalPlaceholders), ")"));
      }
    }
  }
  if (m.Has("env")) {
    const YAML::Node env = m.Value("env");
    if (!env.IsMap()) {
      return m.ErrorAt("env", absl::StrCat(what, ": expected a mapping NAME: value, got ", fake::yaml::TypeName(env)));
    }
    for (const auto& kv : env) {
      const std::string key = kv.first.as<std::string>();
      const bool valid = !key.empty() && !std::isdigit(static_cast<unsigned char>(key[0])) &&
                         std::all_of(key.begin(), key.end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                         });
      if (!valid) {
        return e.At(kv.first, m.Path("env"), absl::StrCat(what, ": \"", key, "\" is not an environment variable name"));
      }
      if (!kv.second.IsScalar()) {
        return e.At(kv.second, m.Path("env"), absl::StrCat(what, ": env ", key, " must be a string"));
      }
      x->env[key] = kv.second.as<std::string>();
    }
  }
  return absl::OkStatus();
}

absl::Status ParseDocument(const Errors& e, const YAML::Node& root, Scenario* sc) {
  std::vector<std::string_view> keys(std::begin(fake::kSimulatorScenarioKeys), std::end(fake::kSimulatorScenarioKeys));
  keys.insert(keys.end(), std::begin(fake::kClusterScenarioKeys), std::end(fake::kClusterScenarioKeys));
  MapReader r(e, root, "");
  K8SLB_RETURN_IF_ERROR(r.Check(keys));
  K8SLB_RETURN_IF_ERROR(r.String("name", &sc->name));
  if (!IsDnsLabel(sc->name)) {
    return e.At(r.LineOfKey("name"), "name",
                absl::StrCat("must be lower-case letters, digits and '-' (from the file name unless given), got \"",
                             sc->name, "\""));
  }
  K8SLB_RETURN_IF_ERROR(r.String("description", &sc->description));
  K8SLB_RETURN_IF_ERROR(r.Bool("liveOnly", &sc->live_only));
  K8SLB_RETURN_IF_ERROR(fake::yaml::ReadClusterSettings(r, sc));
  if (r.Has("clients")) K8SLB_RETURN_IF_ERROR(ParseClients(e, r.Value("clients"), &sc->clients));
  if (sc->clients.zone) {
    const auto& zones = sc->cluster.zones;
    if (std::find(zones.begin(), zones.end(), *sc->clients.zone) == zones.end()) {
      MapReader c(e, r.Value("clients"), "clients");
      K8SLB_RETURN_IF_ERROR(c.Check(kClientKeys));
      return c.ErrorAt("zone", absl::StrCat("unknown zone \"", *sc->clients.zone, "\" (cluster.zones: ",
                                            absl::StrJoin(zones, ", "), ")"));
    }
  }
  if (sc->clients.node) {
    // The fake cluster's nodes are ZONE-node-N, N < cluster.nodesPerZone (its scheduler's names).
    std::vector<std::string> nodes;
    for (const std::string& zone : sc->cluster.zones) {
      for (int n = 0; n < sc->cluster.nodes_per_zone; ++n) nodes.push_back(absl::StrCat(zone, "-node-", n));
    }
    if (std::find(nodes.begin(), nodes.end(), *sc->clients.node) == nodes.end()) {
      MapReader c(e, r.Value("clients"), "clients");
      return c.ErrorAt("node", absl::StrCat("unknown node \"", *sc->clients.node, "\" (the cluster's nodes: ",
                                            absl::StrJoin(nodes, ", "), ")"));
    }
  }
  if (r.Has("strategies")) {
    const YAML::Node list = r.Value("strategies");
    if (!list.IsSequence()) {
      return r.ErrorAt("strategies", absl::StrCat("expected a list of strategy names or {name, command, env} "
                                                  "mappings, got ", fake::yaml::TypeName(list)));
    }
    if (list.size() == 0) return r.ErrorAt("strategies", "must name at least one strategy");
    sc->strategies.clear();
    std::set<std::string> seen;
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node item = list[i];
      const std::string field = absl::StrCat("strategies[", i, "]");
      std::string name;
      if (item.IsMap()) {
        ExternalStrategy x;
        K8SLB_RETURN_IF_ERROR(ParseExternalStrategy(e, item, field, &x));
        name = x.name;
        sc->external.push_back(std::move(x));
      } else if (item.IsScalar()) {
        name = item.as<std::string>();
        if (!report::IsKnownStrategy(name)) {
          return e.At(item, field, absl::StrCat("unknown strategy \"", name, "\" (known: ", JoinViews(report::kStrategyNames),
                                                "; a client program is a mapping {name, command, env})"));
        }
      } else {
        return e.At(item, field, absl::StrCat("expected a strategy name or a {name, command, env} mapping, got ",
                                              fake::yaml::TypeName(item)));
      }
      if (!seen.insert(name).second) return e.At(item, field, absl::StrCat("duplicate strategy \"", name, "\""));
      sc->strategies.push_back(name);
    }
  }
  K8SLB_RETURN_IF_ERROR(fake::yaml::ReadTimeline(
      r, fake::yaml::RunEnd{.s = sc->clients.duration_s, .field = "clients.durationSeconds"}, sc));
  if (r.Has("expect")) {
    const YAML::Node ex = r.Value("expect");
    if (!ex.IsSequence()) {
      return r.ErrorAt("expect", absl::StrCat("expected a list of checks, got ", fake::yaml::TypeName(ex)));
    }
    for (size_t i = 0; i < ex.size(); ++i) {
      Expectation x;
      K8SLB_RETURN_IF_ERROR(ParseExpectation(e, ex[i], i, *sc, &x));
      sc->expect.push_back(std::move(x));
    }
  }
  if (sc->live_only && sc->token_rotation_s <= 0 && r.Has("tokenRotationSeconds")) {
    return r.ErrorAt("tokenRotationSeconds", "must be greater than 0 when given");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Scenario> ParseScenario(std::string_view yaml_text, std::string_view file_name) {
  const Errors errors{std::string(file_name)};
  Scenario sc;
  sc.name = StemOf(file_name);
  sc.source_file = std::string(file_name);
  K8SLB_RETURN_IF_ERROR(
      fake::yaml::ReadDocument(yaml_text, errors, [&](const YAML::Node& root) { return ParseDocument(errors, root, &sc); }));
  return sc;
}

absl::StatusOr<Scenario> LoadScenario(const std::string& path) {
  absl::StatusOr<std::string> text = fake::yaml::ReadScenarioFile(path);
  if (!text.ok()) return text.status();
  return ParseScenario(*text, path);
}

}  // namespace k8slb::scenario

namespace k8slb::scenario {

const ExternalStrategy* Scenario::FindExternal(std::string_view name) const {
  for (const ExternalStrategy& x : external) {
    if (x.name == name) return &x;
  }
  return nullptr;
}

}  // namespace k8slb::scenario
