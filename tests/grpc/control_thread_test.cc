// BalancedChannel's control thread, with a scripted channel factory: endpoint channels are never
// made on the endpoint source's (discovery's) thread, a blocked factory does not block the source,
// the latest snapshot wins, a pick never lands on an endpoint without a channel, and both Create
// paths validate options the same way. No timing assertions: the tests count what ran on which
// thread and in which order; waits are liveness bounds only.
#include <gtest/gtest.h>

#include <limits>
#include <optional>

#include <grpcpp/create_channel.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "k8slb/balanced_channel.h"
#include "test_pods.h"

namespace k8slb::testing {
namespace {

using std::chrono::milliseconds;

// Nothing listens on port 1 of 127.0.0.x: the channels exist and fail to connect, which is all a
// control-thread test needs.
Endpoint Unreachable(int last_octet) {
  Endpoint e;
  e.address = "127.0.0." + std::to_string(last_octet);
  e.port = 1;
  e.pod_name = "pod-" + std::to_string(last_octet);
  return e;
}

// A channel factory that records the thread and target of every call and, for targets it is told
// to hold, blocks until released (or until a long safety timeout, which the test then reports).
class ScriptedFactory {
 public:
  ChannelFactory AsFactory() {
    return [this](const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& creds,
                  const grpc::ChannelArguments& args,
                  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors) {
      {
        absl::MutexLock lock(&mu_);
        threads_.push_back(std::this_thread::get_id());
        targets_.push_back(target);
      }
      if (Held(target)) {
        entered_.Notify();
        if (!release_.WaitForNotificationWithTimeout(absl::Seconds(60))) {
          absl::MutexLock lock(&mu_);
          timed_out_ = true;
        }
      }
      return grpc::experimental::CreateCustomChannelWithInterceptors(target, creds, args, std::move(interceptors));
    };
  }
  void Hold(std::string target) {
    absl::MutexLock lock(&mu_);
    held_.insert(std::move(target));
  }
  void WaitUntilHeld() { entered_.WaitForNotification(); }
  void Release() { release_.Notify(); }

  std::vector<std::thread::id> threads() {
    absl::MutexLock lock(&mu_);
    return threads_;
  }
  std::vector<std::string> targets() {
    absl::MutexLock lock(&mu_);
    return targets_;
  }
  bool timed_out() {
    absl::MutexLock lock(&mu_);
    return timed_out_;
  }

 private:
  bool Held(const std::string& target) {
    absl::MutexLock lock(&mu_);
    return held_.count(target) > 0;
  }

  absl::Mutex mu_;
  std::vector<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> targets_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> held_ ABSL_GUARDED_BY(mu_);
  bool timed_out_ ABSL_GUARDED_BY(mu_) = false;
  absl::Notification entered_;
  absl::Notification release_;
};

std::set<std::string> Addresses(const EndpointSet& set) {
  std::set<std::string> out;
  for (const Endpoint& e : set.endpoints()) out.insert(e.HostPort());
  return out;
}

TEST(ControlThreadTest, ChannelsAreNeverMadeOnTheSourcesThread) {
  ScriptedFactory factory;
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  BalancedChannelOptions options = TestOptions();
  options.channel_factory = factory.AsFactory();
  auto channel = BalancedChannel::Create(source, options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  source->SetEndpoints({Unreachable(1), Unreachable(2), Unreachable(3)});  // on this thread
  ASSERT_TRUE(WaitFor([&] { return (*channel)->CurrentSet()->size() == 3; }, milliseconds(10000)));
  std::vector<std::thread::id> threads = factory.threads();
  ASSERT_EQ(threads.size(), 3u);
  for (const std::thread::id& t : threads) EXPECT_NE(t, std::this_thread::get_id()) << "channel made on the source's thread";
}

TEST(ControlThreadTest, ABlockedFactoryDoesNotBlockTheSourceAndTheLatestSnapshotWins) {
  ScriptedFactory factory;
  factory.Hold("ipv4:127.0.0.1:1");
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  BalancedChannelOptions options = TestOptions();
  options.channel_factory = factory.AsFactory();
  options.no_endpoint_mode = NoEndpointMode::kFailFast;
  auto made = BalancedChannel::Create(source, options);
  ASSERT_TRUE(made.ok()) << made.status();
  std::shared_ptr<BalancedChannel> channel = *made;

  // v1 = {a}: the control thread blocks making a's channel; SetEndpoints has returned already.
  source->SetEndpoints({Unreachable(1)});
  factory.WaitUntilHeld();
  // While it is blocked the source keeps publishing, and each call returns: v2 adds b, v3 has c
  // instead of b.
  source->SetEndpoints({Unreachable(1), Unreachable(2)});
  source->SetEndpoints({Unreachable(1), Unreachable(3)});
  // Nothing is pickable yet, and the error says why.
  absl::StatusOr<CallHandle> pick = channel->PickHandle();
  EXPECT_EQ(pick.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(pick.status().message().find("still being created"), std::string::npos) << pick.status();
  EXPECT_EQ(channel->Metrics().pending_endpoints, 1u);

  factory.Release();
  ASSERT_TRUE(WaitFor([&] { return Addresses(*channel->CurrentSet()) == std::set<std::string>{"127.0.0.1:1", "127.0.0.3:1"}; },
                      milliseconds(10000)));
  EXPECT_FALSE(factory.timed_out()) << "SetEndpoints waited for the blocked channel factory";
  // v2 was replaced by v3 before the control thread got to it: b's channel was never made.
  EXPECT_EQ(factory.targets(), (std::vector<std::string>{"ipv4:127.0.0.1:1", "ipv4:127.0.0.3:1"}));
  EXPECT_EQ(channel->Metrics().pending_endpoints, 0u);
  // Every pick lands on an endpoint whose channel exists.
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<CallHandle> h = channel->PickHandle();
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_NE(h->channel(), nullptr);
  }
}

TEST(ControlThreadTest, RemovalsTakeEffectWhileNewChannelsAreStillBeingMade) {
  ScriptedFactory factory;
  factory.Hold("ipv4:127.0.0.9:1");
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  BalancedChannelOptions options = TestOptions();
  options.channel_factory = factory.AsFactory();
  auto made = BalancedChannel::Create(source, options);
  ASSERT_TRUE(made.ok()) << made.status();
  std::shared_ptr<BalancedChannel> channel = *made;
  source->SetEndpoints({Unreachable(1), Unreachable(2)});
  ASSERT_TRUE(WaitFor([&] { return channel->CurrentSet()->size() == 2; }, milliseconds(10000)));
  // Endpoint 2 leaves and 9 arrives; 9's channel is held. The removal is published at once.
  source->SetEndpoints({Unreachable(1), Unreachable(9)});
  factory.WaitUntilHeld();
  ASSERT_TRUE(WaitFor([&] { return Addresses(*channel->CurrentSet()) == std::set<std::string>{"127.0.0.1:1"}; },
                      milliseconds(10000)));
  factory.Release();
  ASSERT_TRUE(WaitFor([&] { return channel->CurrentSet()->size() == 2; }, milliseconds(10000)));
  EXPECT_EQ(Addresses(*channel->CurrentSet()), (std::set<std::string>{"127.0.0.1:1", "127.0.0.9:1"}));
}

TEST(ControlThreadTest, ALargeSetIsPublishedInGrowingBatchesUntilComplete) {
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  BalancedChannelOptions options = TestOptions();
  std::atomic<int> made{0};
  std::atomic<size_t> max_seen_while_making{0};
  std::shared_ptr<BalancedChannel> channel;
  options.channel_factory = [&](const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& creds,
                                const grpc::ChannelArguments& args,
                                std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> i) {
    // What picks could see while channels are still being made: never more than were made.
    if (channel != nullptr) {
      size_t seen = channel->CurrentSet()->size();
      EXPECT_LE(seen, static_cast<size_t>(made.load()));
      max_seen_while_making.store(std::max(max_seen_while_making.load(), seen));
    }
    ++made;
    return grpc::experimental::CreateCustomChannelWithInterceptors(target, creds, args, std::move(i));
  };
  auto created = BalancedChannel::Create(source, options);
  ASSERT_TRUE(created.ok()) << created.status();
  channel = *created;
  std::vector<Endpoint> endpoints;
  for (int i = 1; i <= 200; ++i) endpoints.push_back(Unreachable(i));
  source->SetEndpoints(endpoints);
  ASSERT_TRUE(WaitFor([&] { return channel->CurrentSet()->size() == 200; }, milliseconds(30000)));
  EXPECT_EQ(made.load(), 200);
  // Part of the set was pickable before its last channel was made.
  EXPECT_GT(max_seen_while_making.load(), 0u);
  EXPECT_LT(max_seen_while_making.load(), 200u);
}

// Slow start's ramp starts come from the channel's clock through the library's rule: endpoints of
// the first snapshot start none, a later one starts at the clock's time, and keeps it after.
TEST(ControlThreadTest, SlowStartRampsStartWhenAnEndpointAppears) {
  ScriptedFactory factory;
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  auto clock = std::make_shared<ManualClock>(5'000'000'000);
  BalancedChannelOptions options = TestOptions();
  options.channel_factory = factory.AsFactory();
  options.clock = clock;
  options.slow_start.window = milliseconds(10000);
  auto made = BalancedChannel::Create(source, options);
  ASSERT_TRUE(made.ok()) << made.status();
  std::shared_ptr<BalancedChannel> channel = *made;
  auto ramp_start = [&](const std::string& host_port) {
    std::shared_ptr<const EndpointSet> set = channel->CurrentSet();
    std::optional<size_t> k = set->Find(host_port);
    return k ? set->endpoints()[*k].stats->ready_since_nanos.load() : int64_t{-1};
  };
  source->SetEndpoints({Unreachable(1), Unreachable(2)});
  ASSERT_TRUE(WaitFor([&] { return channel->CurrentSet()->size() == 2; }, milliseconds(10000)));
  EXPECT_EQ(ramp_start("127.0.0.1:1"), kNoRampStart);
  clock->SetNanos(7'000'000'000);
  source->SetEndpoints({Unreachable(1), Unreachable(2), Unreachable(3)});
  ASSERT_TRUE(WaitFor([&] { return channel->CurrentSet()->size() == 3; }, milliseconds(10000)));
  EXPECT_EQ(ramp_start("127.0.0.3:1"), 7'000'000'000);
  clock->SetNanos(9'000'000'000);
  source->SetEndpoints({Unreachable(1), Unreachable(2), Unreachable(3), Unreachable(4)});
  ASSERT_TRUE(WaitFor([&] { return channel->CurrentSet()->size() == 4; }, milliseconds(10000)));
  EXPECT_EQ(ramp_start("127.0.0.3:1"), 7'000'000'000);
  EXPECT_EQ(ramp_start("127.0.0.4:1"), 9'000'000'000);
  EXPECT_EQ(ramp_start("127.0.0.2:1"), kNoRampStart);
}

TEST(ControlThreadTest, BothCreatePathsRefuseTheSameBadOptions) {
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  KubeConfig config;
  config.server = "https://127.0.0.1:9";
  struct Case {
    const char* name;
    void (*spoil)(BalancedChannelOptions&);
    const char* message;
  };
  const Case cases[] = {
      {"percent", [](BalancedChannelOptions& o) { o.outlier.max_ejection_percent = 101; },
       "k8slb: outlier.max_ejection_percent must be at most 100"},
      {"base", [](BalancedChannelOptions& o) { o.outlier.base_ejection_time = milliseconds(-1); },
       "k8slb: outlier.base_ejection_time must not be negative"},
      {"decay", [](BalancedChannelOptions& o) { o.ewma_decay = milliseconds(0); }, "k8slb: ewma_decay must be positive"},
      {"backoff", [](BalancedChannelOptions& o) { o.max_reconnect_backoff = milliseconds(0); },
       "k8slb: max_reconnect_backoff must be positive and at most 2147483647 ms"},
      {"poll", [](BalancedChannelOptions& o) { o.connectivity_poll = milliseconds(0); },
       "k8slb: connectivity_poll must be positive"},
      {"wait", [](BalancedChannelOptions& o) { o.max_wait_without_deadline = milliseconds(-5); },
       "k8slb: max_wait_without_deadline must not be negative"},
      {"slow start window", [](BalancedChannelOptions& o) { o.slow_start.window = milliseconds(-1); },
       "k8slb: slow_start.window must not be negative, got -1000000 ns"},
      {"slow start aggression", [](BalancedChannelOptions& o) { o.slow_start.aggression = 0; },
       "k8slb: slow_start.aggression must be a positive number, got 0"},
      {"slow start aggression NaN",
       [](BalancedChannelOptions& o) { o.slow_start.aggression = std::numeric_limits<double>::quiet_NaN(); },
       "k8slb: slow_start.aggression must be a positive number, got nan"},
      {"slow start min weight", [](BalancedChannelOptions& o) { o.slow_start.min_weight = 1.5; },
       "k8slb: slow_start.min_weight must be in [0, 1], got 1.5"},
      {"spill band inverted",
       [](BalancedChannelOptions& o) {
         o.topology_spill.low_load = 3;
         o.topology_spill.high_load = 2;
       },
       "k8slb: topology_spill.high_load must be a finite number above low_load (3), got 2"},
      {"spill low NaN",
       [](BalancedChannelOptions& o) { o.topology_spill.low_load = std::numeric_limits<double>::quiet_NaN(); },
       "k8slb: topology_spill.low_load must be a finite number >= 0, got nan"},
  };
  for (const Case& c : cases) {
    BalancedChannelOptions options = TestOptions();
    c.spoil(options);
    auto from_source = BalancedChannel::Create(source, options);
    auto from_target = BalancedChannel::Create("kubernetes:///echo.default:grpc", config, options);
    EXPECT_EQ(from_source.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(from_source.status().message(), c.message) << c.name;
    EXPECT_EQ(from_target.status(), from_source.status()) << c.name;
    EXPECT_EQ(ValidateBalancedChannelOptions(options), from_source.status()) << c.name;
  }
  EXPECT_TRUE(ValidateBalancedChannelOptions(TestOptions()).ok());
}

// The channel's default policy is the library's named default, the one k8slb-client and the docs
// name.
TEST(ControlThreadTest, DefaultOptionsAreTheNamedDefaultPolicy) {
  const BalancedChannelOptions defaults;
  const std::optional<NamedPolicy> named = FindNamedPolicy(kDefaultPolicyName);
  ASSERT_TRUE(named.has_value());
  EXPECT_EQ(defaults.policy, named->policy);
  EXPECT_EQ(defaults.load_signal, named->load_signal);
  EXPECT_TRUE(defaults.topology_spill.enabled);
}

}  // namespace
}  // namespace k8slb::testing
