#include "ads_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"

namespace k8slb::xds {

namespace {

constexpr ResourceType kAnswerOrder[] = {ResourceType::kListener, ResourceType::kCluster,
                                         ResourceType::kRouteConfiguration, ResourceType::kEndpoint};

bool WildcardCapable(ResourceType type) {
  return type == ResourceType::kListener || type == ResourceType::kCluster;
}

}  // namespace

bool AdsContext::NamespaceAllowed(const std::string& ns) const {
  return namespaces.empty() || std::find(namespaces.begin(), namespaces.end(), ns) != namespaces.end();
}

// ---- reactor ----

AdsStream::AdsStream(const AdsContext* context, uint64_t id, std::string peer)
    : core_(std::make_shared<AdsStreamCore>(context, id, std::move(peer), this)) {
  StartRead(&request_);
}

void AdsStream::OnReadDone(bool ok) {
  if (!ok) {
    core_->Close(grpc::Status::OK);
    return;
  }
  grpc::Status status = core_->HandleRequest(request_);
  if (!status.ok()) {
    // Only for requests that cannot be answered at all (no type URL).
    core_->Close(status);
    return;
  }
  core_->MaybeWrite();
  StartRead(&request_);
}

void AdsStream::OnWriteDone(bool ok) { core_->OnWriteDone(ok); }

void AdsStream::OnCancel() { core_->Close(grpc::Status::CANCELLED); }

void AdsStream::OnDone() {
  core_->Detach();
  delete this;
}

// ---- core ----

AdsStreamCore::AdsStreamCore(const AdsContext* context, uint64_t id, std::string peer, AdsStream* reactor)
    : context_(context), id_(id), peer_(std::move(peer)), reactor_(reactor) {
  context_->counters->streams_active.fetch_add(1, std::memory_order_relaxed);
  context_->counters->streams_total.fetch_add(1, std::memory_order_relaxed);
}

std::string AdsStreamCore::Describe() const {
  return absl::StrCat("stream ", id_, " (", peer_, node_id_.empty() ? "" : ", node ", node_id_,
                      zone_.empty() ? "" : ", zone ", zone_, ")");
}

grpc::Status AdsStreamCore::HandleRequest(const DiscoveryRequest& request) {
  context_->counters->requests.fetch_add(1, std::memory_order_relaxed);
  LeaseChanges changes;
  grpc::Status status = ApplyRequest(request, &changes);
  // Outside the lock: Acquire may notify this stream at once.
  auto self = shared_from_this();
  for (const ServiceKey& key : changes.acquire) context_->registry->Acquire(key, self);
  for (const ServiceKey& key : changes.release) context_->registry->Release(key, this);
  return status;
}

grpc::Status AdsStreamCore::ApplyRequest(const DiscoveryRequest& request, LeaseChanges* changes) {
  absl::MutexLock lock(&mu_);
  if (!have_node_ && request.has_node()) {
    // The node is sent in the first request only (clients may repeat it); its locality's zone
    // picks the priorities of every assignment this stream gets.
    have_node_ = true;
    node_id_ = request.node().id();
    zone_ = request.node().locality().zone();
  }
  if (request.type_url().empty()) {
    context_->Log(LogLevel::kWarning, absl::StrCat("k8slb-xds: ", Describe(),
                                                   ": a request without type_url on an aggregated stream; closing it"));
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "DiscoveryRequest.type_url is empty (required on an aggregated discovery stream)");
  }
  const std::set<std::string> names(request.resource_names().begin(), request.resource_names().end());
  const std::string& nonce = request.response_nonce();

  std::optional<ResourceType> type = ParseTypeUrl(request.type_url());
  if (!type) {
    UnknownTypeState& state = unknown_[request.type_url()];
    if (!nonce.empty() && nonce != state.nonce) {
      context_->counters->stale.fetch_add(1, std::memory_order_relaxed);
      return grpc::Status::OK;
    }
    if (state.nonce.empty()) {
      context_->Log(LogLevel::kWarning,
                    absl::StrCat("k8slb-xds: ", Describe(), ": type ", request.type_url(),
                                 " is not served (k8slb-xds serves v3 Listener, Cluster and "
                                 "ClusterLoadAssignment); answering with no resources"));
    }
    if (nonce.empty() || names != state.names) state.pending = true;
    state.names = names;
    return grpc::Status::OK;
  }

  TypeState& state = types_[static_cast<int>(*type)];
  if (!nonce.empty() && nonce != state.nonce) {
    // Stale: answers a response that a later one superseded. Its subscription will be repeated
    // by the ACK of the later response.
    context_->counters->stale.fetch_add(1, std::memory_order_relaxed);
    return grpc::Status::OK;
  }
  if (request.has_error_detail()) {
    context_->counters->nacks.fetch_add(1, std::memory_order_relaxed);
    context_->Log(LogLevel::kWarning,
                  absl::StrCat("k8slb-xds: ", Describe(), " rejected ", TypeName(*type), " version ",
                               state.version, " (nonce ", nonce, "): ", request.error_detail().message(),
                               " (code ", request.error_detail().code(), "); it keeps version \"",
                               request.version_info(), "\""));
  } else if (!nonce.empty()) {
    context_->counters->acks.fetch_add(1, std::memory_order_relaxed);
    state.acked_version = request.version_info();
  }

  bool wildcard = false;
  std::set<std::string> named = names;
  if (WildcardCapable(*type)) {
    wildcard = named.erase("*") > 0 || (names.empty() && (!state.requested || state.wildcard));
  }
  bool added = wildcard && !state.wildcard;
  for (const std::string& name : named) {
    if (!state.names.count(name)) added = true;
  }
  const bool initial = !state.requested;
  // An ACK repeats the subscription: the leases change only when the names do.
  const bool names_changed = initial || named != state.names;
  state.requested = true;
  state.wildcard = wildcard;
  state.names = std::move(named);
  if (initial || nonce.empty() || added) {
    state.pending = true;
    state.force = true;
  }
  if (*type == ResourceType::kListener && added) {
    // A new Listener may widen a wildcard CDS subscription.
    TypeState& clusters = types_[static_cast<int>(ResourceType::kCluster)];
    if (clusters.wildcard) clusters.pending = clusters.force = true;
  }
  if (names_changed) *changes = UpdateLeasesLocked();
  return grpc::Status::OK;
}

std::optional<ServiceKey> AdsStreamCore::KeyForLocked(const std::string& name, ResourceType type) {
  absl::StatusOr<ServiceKey> key = ParseResourceName(name, context_->default_namespace);
  std::string why;
  if (!key.ok()) {
    why = std::string(key.status().message());
  } else if (!context_->NamespaceAllowed(key->namespace_name)) {
    why = absl::StrCat("namespace ", key->namespace_name, " is not served (--namespace: ",
                       absl::StrJoin(context_->namespaces, ", "), ")");
  } else {
    return *key;
  }
  if (rejected_names_.insert(absl::StrCat(TypeName(type), "/", name)).second) {
    context_->Log(LogLevel::kWarning, absl::StrCat("k8slb-xds: ", Describe(), ": ", TypeName(type), " \"", name,
                                                   "\" does not exist: ", why));
  }
  return std::nullopt;
}

AdsStreamCore::LeaseChanges AdsStreamCore::UpdateLeasesLocked() {
  std::map<std::string, ServiceKey> wanted;
  for (ResourceType type : {ResourceType::kListener, ResourceType::kCluster, ResourceType::kEndpoint}) {
    for (const std::string& name : types_[static_cast<int>(type)].names) {
      if (auto key = KeyForLocked(name, type)) wanted.emplace(key->Name(), *key);
    }
  }
  if (finished_) wanted.clear();
  LeaseChanges changes;
  for (const auto& [name, key] : wanted) {
    if (!leases_.count(name)) changes.acquire.push_back(key);
  }
  for (const auto& [name, key] : leases_) {
    if (!wanted.count(name)) changes.release.push_back(key);
  }
  leases_ = std::move(wanted);
  return changes;
}

std::shared_ptr<const std::string> AdsStreamCore::StaticResourceLocked(ResourceType type, const std::string& name,
                                                                       const ServiceKey& key) {
  const std::string cache_key = absl::StrCat(static_cast<int>(type), "/", name);
  auto it = static_cache_.find(cache_key);
  if (it != static_cache_.end()) return it->second;
  std::string bytes = type == ResourceType::kListener ? BuildListener(name, key).SerializeAsString()
                                                      : BuildCluster(key).SerializeAsString();
  auto shared = std::make_shared<const std::string>(std::move(bytes));
  static_cache_.emplace(cache_key, shared);
  return shared;
}

bool AdsStreamCore::BuildTypeLocked(ResourceType type, DiscoveryResponse* response) {
  TypeState& state = types_[static_cast<int>(type)];
  if (!state.pending) return false;
  const bool force = state.force;
  state.pending = false;
  state.force = false;

  std::map<std::string, std::shared_ptr<const std::string>> resources;
  switch (type) {
    case ResourceType::kListener:
      for (const std::string& name : state.names) {
        if (auto key = KeyForLocked(name, type)) resources[name] = StaticResourceLocked(type, name, *key);
      }
      break;
    case ResourceType::kCluster: {
      std::set<std::string> names = state.names;
      if (state.wildcard) {
        for (const std::string& listener : types_[static_cast<int>(ResourceType::kListener)].names) {
          if (auto key = KeyForLocked(listener, ResourceType::kListener)) names.insert(key->Name());
        }
      }
      for (const std::string& name : names) {
        if (auto key = KeyForLocked(name, type)) resources[name] = StaticResourceLocked(type, name, *key);
      }
      break;
    }
    case ResourceType::kRouteConfiguration:
      // Routes are inline in the Listener: there is no RouteConfiguration to serve by name.
      for (const std::string& name : state.names) {
        if (rejected_names_.insert(absl::StrCat("RouteConfiguration/", name)).second) {
          context_->Log(LogLevel::kWarning, absl::StrCat("k8slb-xds: ", Describe(), ": RouteConfiguration \"", name,
                                                         "\" does not exist (routes are inline in the Listener)"));
        }
      }
      break;
    case ResourceType::kEndpoint:
      for (const std::string& name : state.names) {
        auto key = KeyForLocked(name, type);
        if (!key) continue;
        if (auto assignment = context_->registry->Assignment(*key, zone_)) resources[name] = assignment->bytes;
      }
      break;
  }
  // EDS and RDS: an absent resource is "not known yet", not "deleted"; an empty response would
  // say nothing.
  const bool absence_is_deletion = WildcardCapable(type);
  if (resources.empty() && !absence_is_deletion) return false;
  if (!force && resources.size() == state.sent.size()) {
    bool same = true;
    for (const auto& [name, bytes] : resources) {
      auto it = state.sent.find(name);
      if (it == state.sent.end() || (it->second != bytes && *it->second != *bytes)) {
        same = false;
        break;
      }
    }
    if (same) return false;
  }

  response->Clear();
  response->set_type_url(std::string(TypeUrl(type)));
  response->set_version_info(absl::StrCat(++state.version));
  state.nonce = absl::StrCat(++next_nonce_);
  response->set_nonce(state.nonce);
  for (const auto& [name, bytes] : resources) {
    auto* any = response->add_resources();
    any->set_type_url(std::string(TypeUrl(type)));
    any->set_value(*bytes);
  }
  state.sent = std::move(resources);
  if (!force) context_->counters->pushes.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool AdsStreamCore::BuildNextLocked(DiscoveryResponse* response) {
  for (ResourceType type : kAnswerOrder) {
    if (BuildTypeLocked(type, response)) return true;
  }
  for (auto& [url, state] : unknown_) {
    if (!state.pending) continue;
    state.pending = false;
    response->Clear();
    response->set_type_url(url);
    response->set_version_info("0");
    state.nonce = absl::StrCat(++next_nonce_);
    response->set_nonce(state.nonce);
    return true;
  }
  return false;
}

void AdsStreamCore::MaybeWrite() {
  AdsStream* reactor = nullptr;
  DiscoveryResponse* response = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (writing_ || finishing_ || reactor_ == nullptr) return;
    if (!BuildNextLocked(&response_)) return;
    writing_ = true;
    reactor = reactor_;
    response = &response_;
  }
  context_->counters->responses.fetch_add(1, std::memory_order_relaxed);
  reactor->StartWrite(response);
}

void AdsStreamCore::OnWriteDone(bool ok) {
  AdsStream* finish = nullptr;
  grpc::Status status;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) finishing_ = true;
    if (finishing_ && !finished_ && reactor_ != nullptr) {
      finished_ = true;
      finish = reactor_;
      status = finish_status_;
    }
  }
  if (finish != nullptr) {
    finish->Finish(status);
    return;
  }
  MaybeWrite();
}

void AdsStreamCore::Close(const grpc::Status& status) {
  AdsStream* finish = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (finishing_) return;
    finishing_ = true;
    finish_status_ = status;
    if (!writing_ && !finished_ && reactor_ != nullptr) {
      finished_ = true;
      finish = reactor_;
    }
  }
  if (finish != nullptr) finish->Finish(status);
}

void AdsStreamCore::Detach() {
  std::map<std::string, ServiceKey> leases;
  {
    absl::MutexLock lock(&mu_);
    reactor_ = nullptr;
    finished_ = true;
    leases.swap(leases_);
  }
  for (const auto& [name, key] : leases) context_->registry->Release(key, this);
  context_->counters->streams_active.fetch_sub(1, std::memory_order_relaxed);
}

void AdsStreamCore::OnServiceChanged(const ServiceKey& key) {
  {
    absl::MutexLock lock(&mu_);
    TypeState& endpoints = types_[static_cast<int>(ResourceType::kEndpoint)];
    if (!endpoints.requested || finishing_) return;
    endpoints.pending = true;
  }
  MaybeWrite();
}

}  // namespace k8slb::xds
