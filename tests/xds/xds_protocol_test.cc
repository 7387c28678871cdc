// The ADS protocol of k8slb-xds against a scripted client: ACK, NACK, stale nonce,
// resubscription, every subscribed resource in every response, wildcard and named subscriptions,
// unknown type URLs, fail-static before the first sync. Sources are ManualEndpointSources.
//
// "No reply" is shown without timing: after the request under test the client subscribes to a
// probe type the server does not serve, which it answers with an empty response; requests are
// handled in order and responses for known types are sent before unknown ones, so if the next
// response is the probe's, the request under test got none.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "k8slb/endpoint_source.h"
#include "k8slb/xds/server.h"

namespace k8slb::xds {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::config::listener::v3::Listener;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
namespace hcm = envoy::extensions::filters::network::http_connection_manager::v3;

constexpr char kLds[] = "type.googleapis.com/envoy.config.listener.v3.Listener";
constexpr char kCds[] = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
constexpr char kEds[] = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
constexpr char kProbe[] = "type.googleapis.com/k8slb.test.Probe";

Endpoint MakeEndpoint(const std::string& ip, const std::string& zone, const std::string& pod) {
  Endpoint e;
  e.address = ip;
  e.port = 50051;
  e.pod_name = pod;
  e.zone = zone;
  return e;
}

// A server whose sources are ManualEndpointSources created on demand (one per Service port).
class ProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    XdsServerOptions options;
    options.listen = "127.0.0.1:0";
    options.config.default_namespace = "default";
    options.namespaces = {"default", "other"};
    options.idle_watch_grace = std::chrono::milliseconds(60000);
    options.source_factory = [this](const std::string& ns, const Target& target) {
      return Source(ns + "/" + target.service);
    };
    options.log = [this](LogLevel level, const std::string& line) {
      absl::MutexLock lock(&log_mu_);
      log_.push_back(line);
    };
    auto server = XdsServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  }

  absl::StatusOr<std::shared_ptr<EndpointSource>> Source(const std::string& key) {
    absl::MutexLock lock(&sources_mu_);
    ++factory_calls_[key];
    auto& source = sources_[key];
    if (!source) {
      source = std::make_shared<ManualEndpointSource>(key);
      DiscoveryStats synced;
      synced.synced = true;
      if (!unsynced_.count(key)) source->SetDiscovery(synced);
    }
    return std::shared_ptr<EndpointSource>(source);
  }
  std::shared_ptr<ManualEndpointSource> Manual(const std::string& key) {
    auto s = Source(key);
    absl::MutexLock lock(&sources_mu_);
    --factory_calls_[key];
    return sources_[key];
  }
  int FactoryCalls(const std::string& key) {
    absl::MutexLock lock(&sources_mu_);
    return factory_calls_[key];
  }
  std::vector<std::string> Log() {
    absl::MutexLock lock(&log_mu_);
    return log_;
  }

  std::unique_ptr<XdsServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  absl::Mutex sources_mu_;
  std::map<std::string, std::shared_ptr<ManualEndpointSource>> sources_ ABSL_GUARDED_BY(sources_mu_);
  std::map<std::string, int> factory_calls_ ABSL_GUARDED_BY(sources_mu_);
  std::set<std::string> unsynced_ ABSL_GUARDED_BY(sources_mu_);
  absl::Mutex log_mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(log_mu_);
};

// A scripted ADS stream: requests written by the test, responses collected by a reader thread.
class Stream {
 public:
  Stream(const std::shared_ptr<grpc::Channel>& channel, const std::string& zone = "") : zone_(zone) {
    stub_ = AggregatedDiscoveryService::NewStub(channel);
    stream_ = stub_->StreamAggregatedResources(&context_);
    reader_ = std::thread([this] {
      DiscoveryResponse response;
      while (stream_->Read(&response)) {
        absl::MutexLock lock(&mu_);
        responses_.push_back(response);
      }
      absl::MutexLock lock(&mu_);
      closed_ = true;
    });
  }
  ~Stream() {
    if (!finished_) {
      stream_->WritesDone();
      context_.TryCancel();
    }
    reader_.join();
  }

  void Send(const std::string& type, std::vector<std::string> names, const std::string& version = "",
            const std::string& nonce = "", const std::string& error = "") {
    DiscoveryRequest request;
    request.set_type_url(type);
    for (auto& n : names) request.add_resource_names(n);
    request.set_version_info(version);
    request.set_response_nonce(nonce);
    if (!error.empty()) {
      request.mutable_error_detail()->set_code(3);
      request.mutable_error_detail()->set_message(error);
    }
    if (first_) {
      request.mutable_node()->set_id("test-node");
      if (!zone_.empty()) request.mutable_node()->mutable_locality()->set_zone(zone_);
      first_ = false;
    }
    ASSERT_TRUE(stream_->Write(request));
  }
  // ACKs `response`, keeping `names` subscribed.
  void Ack(const DiscoveryResponse& response, std::vector<std::string> names) {
    Send(response.type_url(), std::move(names), response.version_info(), response.nonce());
  }

  // The next response (failure guard: 10 s; the server answers in milliseconds).
  std::optional<DiscoveryResponse> Next() {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !responses_.empty() || closed_; };
    mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(10));
    if (responses_.empty()) return std::nullopt;
    DiscoveryResponse r = responses_.front();
    responses_.pop_front();
    return r;
  }
  // Sends a probe subscription and returns true if the next response is the probe's: the
  // requests before it got no response.
  bool NoReplyBeforeProbe() {
    Send(kProbe, {"probe-" + std::to_string(++probes_)});
    auto r = Next();
    return r && r->type_url() == kProbe && r->resources_size() == 0;
  }
  // After the server ended the stream: its status.
  grpc::Status Finish() {
    finished_ = true;
    reader_.join();
    reader_ = std::thread([] {});
    return stream_->Finish();
  }

 private:
  std::string zone_;
  bool first_ = true;
  bool finished_ = false;
  int probes_ = 0;
  grpc::ClientContext context_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> stub_;
  std::unique_ptr<grpc::ClientReaderWriter<DiscoveryRequest, DiscoveryResponse>> stream_;
  std::thread reader_;
  absl::Mutex mu_;
  std::deque<DiscoveryResponse> responses_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

std::vector<std::string> Names(const DiscoveryResponse& response) {
  std::vector<std::string> names;
  for (const auto& any : response.resources()) {
    if (any.type_url() == kLds) {
      Listener l;
      EXPECT_TRUE(any.UnpackTo(&l));
      names.push_back(l.name());
    } else if (any.type_url() == kCds) {
      Cluster c;
      EXPECT_TRUE(any.UnpackTo(&c));
      names.push_back(c.name());
    } else if (any.type_url() == kEds) {
      ClusterLoadAssignment a;
      EXPECT_TRUE(any.UnpackTo(&a));
      names.push_back(a.cluster_name());
    } else {
      names.push_back("?" + any.type_url());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

ClusterLoadAssignment Assignment(const DiscoveryResponse& response, size_t index = 0) {
  ClusterLoadAssignment a;
  EXPECT_TRUE(response.resources(static_cast<int>(index)).UnpackTo(&a));
  return a;
}

std::set<std::string> Addresses(const ClusterLoadAssignment& a) {
  std::set<std::string> out;
  for (const auto& locality : a.endpoints()) {
    for (const auto& lb : locality.lb_endpoints()) out.insert(lb.endpoint().address().socket_address().address());
  }
  return out;
}

TEST_F(ProtocolTest, ServesListenerClusterAndAssignmentForATarget) {
  Manual("default/echo")->SetEndpoints({MakeEndpoint("10.0.0.1", "zone-a", "echo-0"),
                                        MakeEndpoint("10.0.0.2", "zone-a", "echo-1")});
  Stream s(channel_);
  s.Send(kLds, {"echo.default:grpc"});
  auto lds = s.Next();
  ASSERT_TRUE(lds);
  EXPECT_EQ(lds->type_url(), kLds);
  ASSERT_EQ(lds->resources_size(), 1);
  Listener listener;
  ASSERT_TRUE(lds->resources(0).UnpackTo(&listener));
  EXPECT_EQ(listener.name(), "echo.default:grpc");
  hcm::HttpConnectionManager manager;
  ASSERT_TRUE(listener.api_listener().api_listener().UnpackTo(&manager));
  ASSERT_EQ(manager.route_config().virtual_hosts_size(), 1);
  EXPECT_EQ(manager.route_config().virtual_hosts(0).routes(0).route().cluster(), "echo.default:grpc");
  ASSERT_EQ(manager.http_filters_size(), 1);
  EXPECT_EQ(manager.http_filters(0).name(), "envoy.filters.http.router");
  EXPECT_FALSE(lds->nonce().empty());
  EXPECT_FALSE(lds->version_info().empty());

  s.Ack(*lds, {"echo.default:grpc"});
  s.Send(kCds, {"echo.default:grpc"});
  auto cds = s.Next();
  ASSERT_TRUE(cds);
  ASSERT_EQ(cds->type_url(), kCds);
  Cluster cluster;
  ASSERT_TRUE(cds->resources(0).UnpackTo(&cluster));
  EXPECT_EQ(cluster.type(), Cluster::EDS);
  EXPECT_TRUE(cluster.eds_cluster_config().eds_config().has_ads());
  EXPECT_EQ(cluster.eds_cluster_config().service_name(), "echo.default:grpc");

  s.Ack(*cds, {"echo.default:grpc"});
  s.Send(kEds, {"echo.default:grpc"});
  auto eds = s.Next();
  ASSERT_TRUE(eds);
  ASSERT_EQ(eds->type_url(), kEds);
  EXPECT_EQ(Addresses(Assignment(*eds)), (std::set<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(FactoryCalls("default/echo"), 1);
}

TEST_F(ProtocolTest, AckGetsNoReplyAndAChangeIsPushedWithANewVersion) {
  auto source = Manual("default/echo");
  source->SetEndpoints({MakeEndpoint("10.0.0.1", "zone-a", "echo-0")});
  Stream s(channel_);
  s.Send(kEds, {"echo.default:grpc"});
  auto first = s.Next();
  ASSERT_TRUE(first);
  s.Ack(*first, {"echo.default:grpc"});
  EXPECT_TRUE(s.NoReplyBeforeProbe());

  source->SetEndpoints({MakeEndpoint("10.0.0.1", "zone-a", "echo-0"), MakeEndpoint("10.0.0.3", "zone-a", "echo-2")});
  auto push = s.Next();
  ASSERT_TRUE(push);
  EXPECT_EQ(push->type_url(), kEds);
  EXPECT_NE(push->version_info(), first->version_info());
  EXPECT_NE(push->nonce(), first->nonce());
  EXPECT_EQ(Addresses(Assignment(*push)), (std::set<std::string>{"10.0.0.1", "10.0.0.3"}));

  // A new snapshot whose assignment is the same (only a non-xDS field changed) sends nothing.
  s.Ack(*push, {"echo.default:grpc"});
  auto again = MakeEndpoint("10.0.0.3", "zone-a", "echo-2");
  again.hint_zones = {"zone-a"};
  source->SetEndpoints({MakeEndpoint("10.0.0.1", "zone-a", "echo-0"), again});
  EXPECT_TRUE(s.NoReplyBeforeProbe());
}

TEST_F(ProtocolTest, NackIsLoggedWithTheClientsErrorAndNothingIsResent) {
  auto source = Manual("default/echo");
  source->SetEndpoints({MakeEndpoint("10.0.0.1", "zone-a", "echo-0")});
  Stream s(channel_);
  s.Send(kEds, {"echo.default:grpc"});
  auto first = s.Next();
  ASSERT_TRUE(first);
  s.Ack(*first, {"echo.default:grpc"});
  source->SetEndpoints({MakeEndpoint("10.0.0.2", "zone-a", "echo-1")});
  auto second = s.Next();
  ASSERT_TRUE(second);
  // The client rejects the second version and keeps the first.
  s.Send(kEds, {"echo.default:grpc"}, first->version_info(), second->nonce(), "endpoint 10.0.0.2 rejected by test");
  EXPECT_TRUE(s.NoReplyBeforeProbe());
  bool logged = false;
  for (const auto& line : Log()) {
    if (line.find("endpoint 10.0.0.2 rejected by test") != std::string::npos &&
        line.find("keeps version \"" + first->version_info() + "\"") != std::string::npos) {
      logged = true;
    }
  }
  EXPECT_TRUE(logged);
  EXPECT_EQ(server_->stats().nacks, 1u);
  // The next change is sent again.
  source->SetEndpoints({MakeEndpoint("10.0.0.3", "zone-a", "echo-2")});
  auto third = s.Next();
  ASSERT_TRUE(third);
  EXPECT_EQ(Addresses(Assignment(*third)), (std::set<std::string>{"10.0.0.3"}));
}

TEST_F(ProtocolTest, StaleNonceIsIgnored) {
  auto source = Manual("default/echo");
  source->SetEndpoints({MakeEndpoint("10.0.0.1", "zone-a", "echo-0")});
  Manual("default/other-svc")->SetEndpoints({MakeEndpoint("10.0.1.1", "zone-a", "o-0")});
  Stream s(channel_);
  s.Send(kEds, {"echo.default:grpc"});
  auto first = s.Next();
  ASSERT_TRUE(first);
  source->SetEndpoints({MakeEndpoint("10.0.0.2", "zone-a", "echo-1")});
  auto second = s.Next();
  ASSERT_TRUE(second);
  // A request answering the superseded response (its nonce), even with a new name, is stale.
  s.Send(kEds, {"echo.default:grpc", "other-svc.default:grpc"}, first->version_info(), first->nonce());
  EXPECT_TRUE(s.NoReplyBeforeProbe());
  EXPECT_EQ(server_->stats().stale_requests, 1u);
  // The same subscription with the current nonce is answered, with both resources.
  s.Send(kEds, {"echo.default:grpc", "other-svc.default:grpc"}, second->version_info(), second->nonce());
  auto third = s.Next();
  ASSERT_TRUE(third);
  EXPECT_EQ(Names(*third), (std::vector<std::string>{"echo.default:grpc", "other-svc.default:grpc"}));
}

// go-control-plane#431, grpc-java#9632, grpc-node#2579: an idle channel unsubscribes, then
// subscribes again to the same, unchanged resource; the server must send it again.
TEST_F(ProtocolTest, ResubscriptionIsAnsweredWithTheUnchangedResource) {
  Manual("default/echo")->SetEndpoints({MakeEndpoint("10.0.0.1", "zone-a", "echo-0")});
  for (const char* type : {kLds, kCds, kEds}) {
    SCOPED_TRACE(type);
    Stream s(channel_);
    s.Send(type, {"echo.default:grpc"});
    auto first = s.Next();
    ASSERT_TRUE(first);
    ASSERT_EQ(first->resources_size(), 1);
    s.Ack(*first, {"echo.default:grpc"});
    // Unsubscribe (an explicit empty list after a named one is not a wildcard).
    s.Send(type, {}, first->version_info(), first->nonce());
    EXPECT_TRUE(s.NoReplyBeforeProbe());
    // Subscribe again: the same resource comes back although nothing changed.
    s.Send(type, {"echo.default:grpc"}, first->version_info(), first->nonce());
    auto again = s.Next();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->type_url(), type);
    ASSERT_EQ(again->resources_size(), 1);
    EXPECT_EQ(again->resources(0).value(), first->resources(0).value());
    EXPECT_NE(again->nonce(), first->nonce());
  }
}

// grpc-go#7625: a state-of-the-world response that omits a subscribed Listener or Cluster
// deletes it on the client. Every response carries every subscribed resource.
TEST_F(ProtocolTest, EveryResponseCarriesEverySubscribedResource) {
  auto echo = Manual("default/echo");
  echo->SetEndpoints({MakeEndpoint("10.0.0.1", "zone-a", "echo-0")});
  Manual("default/web")->SetEndpoints({MakeEndpoint("10.0.2.1", "zone-a", "web-0")});
  for (const char* type : {kLds, kCds}) {
    SCOPED_TRACE(type);
    Stream s(channel_);
    s.Send(type, {"echo.default:grpc"});
    auto first = s.Next();
    ASSERT_TRUE(first);
    s.Ack(*first, {"echo.default:grpc"});
    s.Send(type, {"echo.default:grpc", "web.default:grpc"}, first->version_info(), first->nonce());
    auto both = s.Next();
    ASSERT_TRUE(both);
    EXPECT_EQ(Names(*both), (std::vector<std::string>{"echo.default:grpc", "web.default:grpc"}));
  }
  Stream s(channel_);
  s.Send(kEds, {"echo.default:grpc", "web.default:grpc"});
  auto first = s.Next();
  ASSERT_TRUE(first);
  EXPECT_EQ(Names(*first), (std::vector<std::string>{"echo.default:grpc", "web.default:grpc"}));
  s.Ack(*first, {"echo.default:grpc", "web.default:grpc"});
  // Only echo changes; the push still carries web.
  echo->SetEndpoints({MakeEndpoint("10.0.0.9", "zone-a", "echo-9")});
  auto push = s.Next();
  ASSERT_TRUE(push);
  EXPECT_EQ(Names(*push), (std::vector<std::string>{"echo.default:grpc", "web.default:grpc"}));
}

TEST_F(ProtocolTest, WildcardListenersAreEmptyAndWildcardClustersFollowTheListeners) {
  Stream s(channel_);
  s.Send(kLds, {});
  auto lds = s.Next();
  ASSERT_TRUE(lds);
  EXPECT_EQ(lds->type_url(), kLds);
  EXPECT_EQ(lds->resources_size(), 0);
  s.Send(kLds, {"*", "echo.default:grpc"}, lds->version_info(), lds->nonce());
  auto named = s.Next();
  ASSERT_TRUE(named);
  EXPECT_EQ(Names(*named), (std::vector<std::string>{"echo.default:grpc"}));
  s.Send(kCds, {});
  auto cds = s.Next();
  ASSERT_TRUE(cds);
  EXPECT_EQ(Names(*cds), (std::vector<std::string>{"echo.default:grpc"}));
  // Another Listener widens the wildcard Cluster subscription.
  s.Send(kLds, {"*", "echo.default:grpc", "web.default:50051"}, named->version_info(), named->nonce());
  auto lds2 = s.Next();
  ASSERT_TRUE(lds2);
  EXPECT_EQ(Names(*lds2), (std::vector<std::string>{"echo.default:grpc", "web.default:50051"}));
  auto cds2 = s.Next();
  ASSERT_TRUE(cds2);
  EXPECT_EQ(cds2->type_url(), kCds);
  EXPECT_EQ(Names(*cds2), (std::vector<std::string>{"echo.default:grpc", "web.default:50051"}));
}

TEST_F(ProtocolTest, UnknownTypeUrlGetsAnEmptyResponseAndTheStreamGoesOn) {
  Stream s(channel_);
  s.Send("type.googleapis.com/envoy.api.v2.Listener", {"echo.default:grpc"});
  auto r = s.Next();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type_url(), "type.googleapis.com/envoy.api.v2.Listener");
  EXPECT_EQ(r->resources_size(), 0);
  // Its ACK gets no reply.
  s.Send("type.googleapis.com/envoy.api.v2.Listener", {"echo.default:grpc"}, r->version_info(), r->nonce());
  EXPECT_TRUE(s.NoReplyBeforeProbe());
  s.Send(kLds, {"echo.default:grpc"});
  auto lds = s.Next();
  ASSERT_TRUE(lds);
  EXPECT_EQ(Names(*lds), (std::vector<std::string>{"echo.default:grpc"}));
}

TEST_F(ProtocolTest, RequestWithoutTypeUrlEndsTheStream) {
  Stream s(channel_);
  s.Send("", {"echo.default:grpc"});
  EXPECT_FALSE(s.Next().has_value());
  grpc::Status status = s.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("type_url"), std::string::npos);
}

TEST_F(ProtocolTest, BadNamesAndOtherNamespacesDoNotExist) {
  Stream s(channel_);
  s.Send(kLds, {"Not A Target", "echo.forbidden:grpc", "echo.other:grpc", "kubernetes:///echo:grpc"});
  auto lds = s.Next();
  ASSERT_TRUE(lds);
  // "kubernetes:///echo:grpc" names no namespace: the default one applies.
  EXPECT_EQ(Names(*lds), (std::vector<std::string>{"echo.other:grpc", "kubernetes:///echo:grpc"}));
  int rejected = 0;
  for (const auto& line : Log()) {
    if (line.find("\"Not A Target\" does not exist") != std::string::npos) ++rejected;
    if (line.find("\"echo.forbidden:grpc\" does not exist: namespace forbidden is not served") != std::string::npos) {
      ++rejected;
    }
  }
  EXPECT_EQ(rejected, 2);
}

TEST_F(ProtocolTest, NoAssignmentBeforeTheFirstSyncThenTheSyncedOneEvenIfEmpty) {
  {
    absl::MutexLock lock(&sources_mu_);
    unsynced_.insert("default/echo");
  }
  auto source = Manual("default/echo");
  Stream s(channel_);
  s.Send(kEds, {"echo.default:grpc"});
  EXPECT_TRUE(s.NoReplyBeforeProbe());
  // The first list completes with no slices: an empty assignment is now the truth.
  DiscoveryStats synced;
  synced.synced = true;
  source->SetDiscovery(synced);
  auto eds = s.Next();
  ASSERT_TRUE(eds);
  ASSERT_EQ(eds->type_url(), kEds);
  ASSERT_EQ(eds->resources_size(), 1);
  EXPECT_TRUE(Addresses(Assignment(*eds)).empty());
}

TEST_F(ProtocolTest, ClientZoneGetsPriorityZeroAndOtherZonesPriorityOne) {
  Manual("default/echo")->SetEndpoints({MakeEndpoint("10.0.0.1", "zone-a", "a-0"),
                                        MakeEndpoint("10.0.0.2", "zone-a", "a-1"),
                                        MakeEndpoint("10.0.1.1", "zone-b", "b-0")});
  Stream in_b(channel_, "zone-b");
  in_b.Send(kEds, {"echo.default:grpc"});
  auto eds = in_b.Next();
  ASSERT_TRUE(eds);
  std::map<std::string, std::pair<uint32_t, uint32_t>> by_zone;  // zone -> (priority, weight)
  const ClusterLoadAssignment assignment = Assignment(*eds);
  for (const auto& locality : assignment.endpoints()) {
    by_zone[locality.locality().zone()] = {locality.priority(), locality.load_balancing_weight().value()};
  }
  EXPECT_EQ(by_zone["zone-b"], (std::pair<uint32_t, uint32_t>{0, 1}));
  EXPECT_EQ(by_zone["zone-a"], (std::pair<uint32_t, uint32_t>{1, 2}));

  Stream nowhere(channel_, "zone-z");
  nowhere.Send(kEds, {"echo.default:grpc"});
  auto flat = nowhere.Next();
  ASSERT_TRUE(flat);
  const ClusterLoadAssignment flat_assignment = Assignment(*flat);
  for (const auto& locality : flat_assignment.endpoints()) EXPECT_EQ(locality.priority(), 0u);
}

// An ACK that widens or narrows the subscription moves the stream's watches with it (ACKs that
// repeat the names leave them alone).
TEST_F(ProtocolTest, AnAckThatChangesTheNamesMovesTheWatches) {
  auto echo = Manual("default/echo");
  echo->SetEndpoints({MakeEndpoint("10.0.0.1", "zone-a", "echo-0")});
  auto web = Manual("default/web");
  web->SetEndpoints({MakeEndpoint("10.0.2.1", "zone-a", "web-0")});
  Stream s(channel_);
  s.Send(kEds, {"echo.default:grpc"});
  auto first = s.Next();
  ASSERT_TRUE(first);
  s.Ack(*first, {"echo.default:grpc", "web.default:grpc"});
  auto both = s.Next();
  ASSERT_TRUE(both);
  EXPECT_EQ(Names(*both), (std::vector<std::string>{"echo.default:grpc", "web.default:grpc"}));
  s.Ack(*both, {"web.default:grpc"});
  EXPECT_TRUE(s.NoReplyBeforeProbe());
  // web is watched for this stream: its change is pushed. echo is not any more: its change is not.
  web->SetEndpoints({MakeEndpoint("10.0.2.2", "zone-a", "web-1")});
  auto push = s.Next();
  ASSERT_TRUE(push);
  EXPECT_EQ(Names(*push), (std::vector<std::string>{"web.default:grpc"}));
  EXPECT_EQ(Addresses(Assignment(*push)), (std::set<std::string>{"10.0.2.2"}));
  s.Ack(*push, {"web.default:grpc"});
  echo->SetEndpoints({MakeEndpoint("10.0.0.9", "zone-a", "echo-9")});
  EXPECT_TRUE(s.NoReplyBeforeProbe());
  EXPECT_EQ(server_->stats().services_watched, 2u);  // echo idles out after idle_watch_grace
}

TEST_F(ProtocolTest, StreamsShareOneWatchPerServicePort) {
  Manual("default/echo")->SetEndpoints({MakeEndpoint("10.0.0.1", "zone-a", "echo-0")});
  Stream a(channel_);
  Stream b(channel_);
  a.Send(kEds, {"echo.default:grpc"});
  b.Send(kEds, {"kubernetes:///echo.default:grpc"});
  ASSERT_TRUE(a.Next());
  ASSERT_TRUE(b.Next());
  EXPECT_EQ(FactoryCalls("default/echo"), 1);
  EXPECT_EQ(server_->stats().services_watched, 1u);
}

}  // namespace
}  // namespace k8slb::xds
