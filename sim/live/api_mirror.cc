#include "sim/live/api_mirror.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "writer/endpoint_slice_writer.h"

namespace k8slb::sim::live {
namespace {

using Json = nlohmann::json;

constexpr char kAppManagedByLabel[] = "app.kubernetes.io/managed-by";
// The library's label names as strings (this absl's StrCat takes no std::string_view).
std::string ServiceLabel() { return std::string(kServiceNameLabel); }
std::string ManagerLabel() { return std::string(kManagedByLabel); }
// Which run made an object: "HOST PID START" (START: the process's start time in clock ticks
// since boot, /proc/PID/stat field 22, so a reused pid is not mistaken for the run).
constexpr char kRunAnnotation[] = "k8slb.io/sim-run";

std::string ProcessStart(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return "";
  std::vector<std::string> fields = absl::StrSplit(text.substr(close + 2), ' ');
  return fields.size() > 19 ? fields[19] : "";  // field 22 overall
}

std::string HostName() {
  char name[256] = {0};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

std::string OwnerId() {
  return absl::StrCat(HostName(), " ", ::getpid(), " ", ProcessStart(::getpid()));
}

// True when `owner` names a process on this machine that no longer runs.
bool OwnerGone(const std::string& owner) {
  std::vector<std::string> parts = absl::StrSplit(owner, ' ');
  if (parts.size() != 3 || parts[0] != HostName()) return false;
  int pid = 0;
  if (!absl::SimpleAtoi(parts[1], &pid) || pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  return ProcessStart(pid) != parts[2];
}

// Minimal percent-encoding for label selectors in a query string.
std::string Escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_') {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  return out;
}

Json Parse(const KubeResponse& response) {
  return Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
}

std::string StringAt(const Json& object, std::initializer_list<const char*> path) {
  const Json* at = &object;
  for (const char* key : path) {
    if (!at->is_object() || !at->contains(key)) return "";
    at = &(*at)[key];
  }
  return at->is_string() ? at->get<std::string>() : "";
}

absl::Status ResponseError(const std::string& what, const KubeResponse& response) {
  std::string message = absl::StrCat(what, ": ", ResponseMessage(response));
  switch (response.status) {
    case 401: return absl::UnauthenticatedError(message);
    case 403: return absl::PermissionDeniedError(message);
    case 404: return absl::NotFoundError(message);
    case 409: return absl::AlreadyExistsError(message);
    default: return absl::UnavailableError(message);
  }
}

struct Permission {
  const char* verb;
  const char* group;
  const char* resource;
};

// Everything a run does: the mirror's writes and cleanup, and the k8slb clients' list+watch.
constexpr Permission kNeeded[] = {
    {"get", "", "services"},
    {"create", "", "services"},
    {"delete", "", "services"},
    {"get", "discovery.k8s.io", "endpointslices"},
    {"list", "discovery.k8s.io", "endpointslices"},
    {"watch", "discovery.k8s.io", "endpointslices"},
    {"create", "discovery.k8s.io", "endpointslices"},
    {"update", "discovery.k8s.io", "endpointslices"},
    {"delete", "discovery.k8s.io", "endpointslices"},
};

}  // namespace

ClusterMirror::ClusterMirror(MirrorOptions options, std::unique_ptr<KubeRest> rest)
    : options_(std::move(options)), rest_(std::move(rest)), owner_annotation_(OwnerId()) {}

std::string ClusterMirror::SlicesPath() const {
  return absl::StrCat("/apis/discovery.k8s.io/v1/namespaces/", options_.namespace_name,
                      "/endpointslices");
}

std::string ClusterMirror::SelectorQuery() const {
  return absl::StrCat("?labelSelector=", Escape(kServiceNameLabel), "%3D",
                      Escape(options_.service_name));
}

std::string ClusterMirror::CleanupCommands() const {
  return absl::StrCat("kubectl -n ", options_.namespace_name, " delete service ",
                      options_.service_name, "; kubectl -n ", options_.namespace_name,
                      " delete endpointslices -l ", ManagerLabel(), "=", kSimManager, ",",
                      ServiceLabel(), "=", options_.service_name);
}

absl::StatusOr<std::unique_ptr<ClusterMirror>> ClusterMirror::Create(
    MirrorOptions options, std::vector<std::string>* notes) {
  absl::StatusOr<std::unique_ptr<KubeRest>> rest = KubeRest::Create(options.config);
  if (!rest.ok()) return rest.status();
  std::unique_ptr<ClusterMirror> mirror(new ClusterMirror(std::move(options), std::move(*rest)));
  const MirrorOptions& o = mirror->options_;
  KubeRest& api = *mirror->rest_;
  const std::string where = absl::StrCat(" in namespace \"", o.namespace_name, "\" of ", api.server());

  // 1. Permissions, all at once, before anything is created.
  std::vector<std::string> denied;
  for (const Permission& p : kNeeded) {
    Json review = {{"kind", "SelfSubjectAccessReview"},
                   {"apiVersion", "authorization.k8s.io/v1"},
                   {"spec",
                    {{"resourceAttributes",
                      {{"namespace", o.namespace_name},
                       {"verb", p.verb},
                       {"group", p.group},
                       {"resource", p.resource}}}}}};
    absl::StatusOr<KubeResponse> r =
        api.Request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review.dump());
    if (!r.ok()) return r.status();
    if (r->status == 401) return ResponseError("the API server refused the credentials", *r);
    if (r->status != 201 && r->status != 200) {
      notes->push_back(absl::StrCat(
          "live: ", api.server(), " answers SelfSubjectAccessReview with HTTP ", r->status,
          "; permissions are checked by the requests themselves"));
      break;
    }
    Json body = Parse(*r);
    if (!(body.is_object() && body.contains("status") && body["status"].value("allowed", false))) {
      denied.push_back(absl::StrCat(p.verb, " ", p.resource,
                                    *p.group != '\0' ? absl::StrCat(".", p.group) : ""));
    }
  }
  if (!denied.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the API server's user may not ", absl::StrJoin(denied, ", "), where,
        " (checked with SelfSubjectAccessReview); a live run there needs get, create and delete "
        "on services and get, list, watch, create, update and delete on "
        "endpointslices.discovery.k8s.io"));
  }

  // 2. The names: the Service and its slices must be free, or leftovers of our own.
  const std::string service_path = absl::StrCat("/api/v1/namespaces/", o.namespace_name,
                                                "/services/", o.service_name);
  const std::string service_name = absl::StrCat("Service ", o.namespace_name, "/", o.service_name);
  absl::StatusOr<KubeResponse> existing = api.Request("GET", service_path);
  if (!existing.ok()) return existing.status();
  bool remove_leftovers = false;
  if (existing->status == 200) {
    Json service = Parse(*existing);
    const std::string manager = StringAt(service, {"metadata", "labels", kAppManagedByLabel});
    const std::string owner = StringAt(service, {"metadata", "annotations", kRunAnnotation});
    if (manager != kSimManager) {
      return absl::AlreadyExistsError(absl::StrCat(
          service_name, " already exists", where, " and was not created by k8slb-sim (",
          kAppManagedByLabel, "=", manager.empty() ? "<none>" : manager,
          "); it is left alone: use another service name or namespace in the scenario"));
    }
    if (!OwnerGone(owner)) {
      return absl::AlreadyExistsError(absl::StrCat(
          service_name, " already exists", where, ", made by another k8slb-sim run (", owner,
          ") that may still be running; if it is not, remove what it made: ",
          mirror->CleanupCommands()));
    }
    remove_leftovers = true;
  } else if (existing->status != 404) {
    return ResponseError(absl::StrCat("cannot read ", service_name), *existing);
  }
  absl::StatusOr<KubeResponse> slices =
      api.Request("GET", mirror->SlicesPath() + mirror->SelectorQuery());
  if (!slices.ok()) return slices.status();
  if (slices->status != 200) {
    return ResponseError(absl::StrCat("cannot list the EndpointSlices of ", service_name), *slices);
  }
  std::vector<std::string> own_leftovers, foreign;
  Json list = Parse(*slices);
  if (list.is_object() && list.contains("items") && list["items"].is_array()) {
    for (const Json& item : list["items"]) {
      const std::string name = StringAt(item, {"metadata", "name"});
      const std::string manager = StringAt(item, {"metadata", "labels", ManagerLabel().c_str()});
      if (manager == kSimManager) {
        own_leftovers.push_back(name);
      } else {
        foreign.push_back(absl::StrCat(name, " (managed by ", manager.empty() ? "<none>" : manager, ")"));
      }
    }
  }
  if (!foreign.empty()) {
    return absl::AlreadyExistsError(absl::StrCat(
        "EndpointSlices of ", service_name, " already exist", where, ": ",
        absl::StrJoin(foreign, ", "), "; they are left alone: use another service name or namespace"));
  }
  // Slices of ours with no Service (or with a leftover one) belong to a run that is gone.
  if (!own_leftovers.empty() || remove_leftovers) {
    for (const std::string& name : own_leftovers) {
      absl::StatusOr<KubeResponse> r = api.Request("DELETE", absl::StrCat(mirror->SlicesPath(), "/", name));
      if (!r.ok()) return r.status();
      if (r->status != 200 && r->status != 404) {
        return ResponseError(absl::StrCat("cannot remove the leftover EndpointSlice ", name), *r);
      }
    }
    if (existing->status == 200) {
      absl::StatusOr<KubeResponse> r = api.Request("DELETE", service_path);
      if (!r.ok()) return r.status();
      if (r->status != 200 && r->status != 404) {
        return ResponseError(absl::StrCat("cannot remove the leftover ", service_name), *r);
      }
    }
    notes->push_back(absl::StrCat("live: removed what an earlier k8slb-sim run left", where, ": ",
                                  existing->status == 200 ? service_name : "no Service", " and ",
                                  own_leftovers.size(), " EndpointSlice(s)"));
  }

  // 3. The Service, without a selector.
  Json port = {{"name", o.port_name}, {"port", o.port}, {"targetPort", o.port}, {"protocol", "TCP"}};
  if (o.port_name.empty()) port.erase("name");
  Json service = {{"apiVersion", "v1"},
                  {"kind", "Service"},
                  {"metadata",
                   {{"name", o.service_name},
                    {"namespace", o.namespace_name},
                    {"labels", {{kAppManagedByLabel, kSimManager}}},
                    {"annotations", {{kRunAnnotation, mirror->owner_annotation_}}}}},
                  {"spec", {{"ports", Json::array({port})}}}};
  if (!o.traffic_distribution.empty()) service["spec"]["trafficDistribution"] = o.traffic_distribution;
  absl::StatusOr<KubeResponse> created =
      api.Request("POST", absl::StrCat("/api/v1/namespaces/", o.namespace_name, "/services"), service.dump());
  if (!created.ok()) return created.status();
  if (created->status != 201 && created->status != 200) {
    return ResponseError(absl::StrCat("cannot create ", service_name, where), *created);
  }
  mirror->service_uid_ = StringAt(Parse(*created), {"metadata", "uid"});
  {
    absl::MutexLock lock(&mirror->mu_);
    mirror->created_.clear();
  }
  mirror->writer_ = std::thread([m = mirror.get()] { m->Loop(); });
  return mirror;
}

ClusterMirror::~ClusterMirror() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (writer_.joinable()) writer_.join();
}

EndpointSlice ClusterMirror::ToApiSlice(const EndpointSlice& model, const MirrorOptions& options,
                                        const std::string& service_uid) {
  EndpointSlice out;
  out.metadata.name = model.metadata.name;
  out.metadata.namespace_name = options.namespace_name;
  out.metadata.labels = model.metadata.labels;
  out.metadata.labels[ServiceLabel()] = options.service_name;
  out.metadata.labels[ManagerLabel()] = kSimManager;
  out.metadata.owner_references.push_back({.api_version = "v1",
                                           .kind = "Service",
                                           .name = options.service_name,
                                           .uid = service_uid,
                                           .controller = true,
                                           .block_owner_deletion = false});
  out.address_type = model.address_type;
  out.endpoints = model.endpoints;
  for (SliceEndpoint& e : out.endpoints) {
    // The model's pods do not exist in that server: keep the reference's name, not its uid.
    if (e.target_ref) e.target_ref->uid.clear();
    e.hint_nodes.clear();  // forNodes is newer than the servers this targets (1.33+)
  }
  out.ports = model.ports;
  return out;
}

void ClusterMirror::Queue(const std::string& name, std::optional<EndpointSlice> api_slice) {
  if (!pending_.contains(name)) order_.push_back(name);
  pending_[name] = std::move(api_slice);
}

void ClusterMirror::Upsert(const EndpointSlice& model_slice) {
  absl::MutexLock lock(&mu_);
  Queue(model_slice.metadata.name, ToApiSlice(model_slice, options_, service_uid_));
}

void ClusterMirror::OnModelEvent(const fake::StoredEvent& event) {
  if (event.kind != fake::ResourceKind::kEndpointSlice || event.slice == nullptr) return;
  if (event.namespace_name != options_.namespace_name ||
      event.slice->ServiceName() != options_.service_name) {
    return;
  }
  absl::MutexLock lock(&mu_);
  if (event.type == fake::ChangeType::kDeleted) {
    Queue(event.name, std::nullopt);
  } else {
    Queue(event.name, ToApiSlice(*event.slice, options_, service_uid_));
  }
}

void ClusterMirror::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !order_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
    }
    WriteOne();
  }
}

bool ClusterMirror::WriteOne() {
  std::string name;
  std::optional<EndpointSlice> wanted;
  {
    absl::MutexLock lock(&mu_);
    if (order_.empty()) return false;
    name = order_.front();
    order_.erase(order_.begin());
    wanted = std::move(pending_[name]);
    pending_.erase(name);
    busy_ = true;
  }
  absl::Status status = Apply(name, wanted);
  absl::MutexLock lock(&mu_);
  busy_ = false;
  ++writes_;
  if (!status.ok()) {
    ++failures_;
    if (first_error_.ok()) first_error_ = status;
  }
  return true;
}

absl::Status ClusterMirror::Apply(const std::string& name, const std::optional<EndpointSlice>& wanted) {
  const std::string path = absl::StrCat(SlicesPath(), "/", name);
  std::optional<std::string> version;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = created_.find(name); it != created_.end()) version = it->second;
  }
  auto remember = [this, &name](const KubeResponse& r) {
    absl::MutexLock lock(&mu_);
    created_[name] = StringAt(Parse(r), {"metadata", "resourceVersion"});
  };
  if (!wanted) {
    if (!version) return absl::OkStatus();
    absl::StatusOr<KubeResponse> r = rest_->Request("DELETE", path);
    if (!r.ok()) return r.status();
    if (r->status != 200 && r->status != 202 && r->status != 404) {
      return ResponseError(absl::StrCat("deleting EndpointSlice ", name), *r);
    }
    absl::MutexLock lock(&mu_);
    created_.erase(name);
    return absl::OkStatus();
  }
  EndpointSlice slice = *wanted;
  if (version) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      slice.metadata.resource_version = *version;
      absl::StatusOr<KubeResponse> r = rest_->Request("PUT", path, SerializeEndpointSlice(slice));
      if (!r.ok()) return r.status();
      if (r->status == 200) {
        remember(*r);
        return absl::OkStatus();
      }
      if (r->status == 404) break;  // gone behind our back: create it again
      if (r->status != 409) return ResponseError(absl::StrCat("updating EndpointSlice ", name), *r);
      // Conflict: someone else wrote it; take the current version and write ours over it.
      absl::StatusOr<KubeResponse> current = rest_->Request("GET", path);
      if (!current.ok()) return current.status();
      version = StringAt(Parse(*current), {"metadata", "resourceVersion"});
    }
  }
  slice.metadata.resource_version.clear();
  absl::StatusOr<KubeResponse> r = rest_->Request("POST", SlicesPath(), SerializeEndpointSlice(slice));
  if (!r.ok()) return r.status();
  if (r->status != 201 && r->status != 200) {
    return ResponseError(absl::StrCat("creating EndpointSlice ", name, " in ", rest_->server()), *r);
  }
  remember(*r);
  return absl::OkStatus();
}

bool ClusterMirror::WaitIdle(std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || (order_.empty() && !busy_); };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), absl::FromChrono(timeout));
}

absl::Status ClusterMirror::first_error() const {
  absl::MutexLock lock(&mu_);
  return first_error_;
}

uint64_t ClusterMirror::writes() const {
  absl::MutexLock lock(&mu_);
  return writes_;
}

uint64_t ClusterMirror::failures() const {
  absl::MutexLock lock(&mu_);
  return failures_;
}

absl::StatusOr<std::string> ClusterMirror::Cleanup(std::chrono::milliseconds timeout) {
  {
    absl::MutexLock lock(&mu_);
    if (cleaned_) return std::string("already cleaned up");
    stop_ = true;
  }
  if (writer_.joinable()) writer_.join();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&deadline]() {
    return std::max(std::chrono::milliseconds(500), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                        deadline - std::chrono::steady_clock::now()));
  };
  std::vector<std::string> problems;
  // Every slice of ours for this Service: those we know, and any the server lists (a create whose
  // answer was lost still made one).
  std::vector<std::string> names;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, version] : created_) names.push_back(name);
  }
  const std::string own_selector = absl::StrCat(
      "?labelSelector=", Escape(kServiceNameLabel), "%3D", Escape(options_.service_name), "%2C",
      Escape(kManagedByLabel), "%3D", kSimManager);
  auto list_own = [&]() -> absl::StatusOr<std::vector<std::string>> {
    absl::StatusOr<KubeResponse> r = rest_->Request("GET", SlicesPath() + own_selector, "", left());
    if (!r.ok()) return r.status();
    if (r->status != 200) return ResponseError("listing EndpointSlices", *r);
    std::vector<std::string> out;
    Json list = Parse(*r);
    if (list.is_object() && list.contains("items") && list["items"].is_array()) {
      for (const Json& item : list["items"]) {
        // Only those owned by the Service this run created (a different uid is not ours).
        bool ours = service_uid_.empty();
        if (item.contains("metadata") && item["metadata"].contains("ownerReferences")) {
          for (const Json& ref : item["metadata"]["ownerReferences"]) {
            if (ref.value("uid", "") == service_uid_) ours = true;
          }
        }
        if (ours) out.push_back(StringAt(item, {"metadata", "name"}));
      }
    }
    return out;
  };
  if (absl::StatusOr<std::vector<std::string>> listed = list_own(); listed.ok()) {
    for (const std::string& n : *listed) {
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
  } else {
    problems.push_back(std::string(listed.status().message()));
  }
  size_t removed = 0;
  for (const std::string& name : names) {
    absl::StatusOr<KubeResponse> r =
        rest_->Request("DELETE", absl::StrCat(SlicesPath(), "/", name), "", left());
    if (!r.ok()) {
      problems.push_back(std::string(r.status().message()));
    } else if (r->status == 200 || r->status == 202) {
      ++removed;
    } else if (r->status != 404) {
      problems.push_back(absl::StrCat("deleting EndpointSlice ", name, ": ", ResponseMessage(*r)));
    }
  }
  const std::string service_path = absl::StrCat("/api/v1/namespaces/", options_.namespace_name,
                                                "/services/", options_.service_name);
  // The uid precondition makes sure only the Service this run created is deleted.
  Json options = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!service_uid_.empty()) options["preconditions"] = {{"uid", service_uid_}};
  bool service_removed = false;
  if (absl::StatusOr<KubeResponse> r = rest_->Request("DELETE", service_path, options.dump(), left()); !r.ok()) {
    problems.push_back(std::string(r.status().message()));
  } else if (r->status == 200 || r->status == 202) {
    service_removed = true;
  } else if (r->status != 404) {
    problems.push_back(absl::StrCat("deleting Service ", options_.service_name, ": ", ResponseMessage(*r)));
  }
  // Proof: nothing of ours is left.
  if (absl::StatusOr<std::vector<std::string>> rest = list_own(); !rest.ok()) {
    problems.push_back(std::string(rest.status().message()));
  } else if (!rest->empty()) {
    problems.push_back(absl::StrCat("EndpointSlices still there: ", absl::StrJoin(*rest, ", ")));
  }
  if (absl::StatusOr<KubeResponse> r = rest_->Request("GET", service_path, "", left()); !r.ok()) {
    problems.push_back(std::string(r.status().message()));
  } else if (r->status == 200 && StringAt(Parse(*r), {"metadata", "uid"}) == service_uid_) {
    problems.push_back(absl::StrCat("Service ", options_.service_name, " is still there"));
  }
  {
    absl::MutexLock lock(&mu_);
    cleaned_ = problems.empty();
  }
  if (!problems.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "cleanup in ", rest_->server(), " is incomplete: ", absl::StrJoin(problems, "; "),
        ". Remove the rest with: ", CleanupCommands()));
  }
  return absl::StrCat("removed ", service_removed ? "Service " : "no Service ",
                      options_.namespace_name, "/", options_.service_name, " and ", removed,
                      " EndpointSlice(s) from ", rest_->server(), "; nothing of this run is left there");
}

}  // namespace k8slb::sim::live
