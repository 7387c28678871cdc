// The ServiceRegistry's fan-out of one snapshot to its observers: with helper threads every
// observer is told exactly once per snapshot, and the publish returns only once all were told
// (a stream notified after the publisher moved on could miss nothing, but a skipped or doubled
// one would mean a lost or an extra push).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <memory>
#include <vector>

#include "k8slb/endpoint_source.h"
#include "service_registry.h"

namespace k8slb::xds {
namespace {

class CountingObserver final : public ServiceObserver {
 public:
  void OnServiceChanged(const ServiceKey&) override { calls.fetch_add(1, std::memory_order_relaxed); }
  std::atomic<int> calls{0};
};

TEST(NotifyPool, EveryIndexRunsOnceAndRunWaitsForAll) {
  NotifyPool pool(2);
  for (size_t count : {0u, 1u, 15u, 16u, 17u, 300u}) {
    std::vector<std::atomic<int>> hits(count);
    pool.Run(count, [&](size_t i) { hits[i].fetch_add(1, std::memory_order_relaxed); });
    for (size_t i = 0; i < count; ++i) EXPECT_EQ(hits[i].load(), 1) << "count " << count << " index " << i;
  }
}

void ExpectEveryObserverOncePerSnapshot(int notify_threads) {
  auto source = std::make_shared<ManualEndpointSource>();
  ServiceRegistry registry(ServiceRegistryOptions{
      .factory = [source](const ServiceKey&) -> absl::StatusOr<std::shared_ptr<EndpointSource>> { return source; },
      // The janitor would announce a first sync itself if it saw the snapshot before the
      // source's listener did: one extra call. Out of the way here.
      .janitor_period = std::chrono::hours(1),
      .notify_threads = notify_threads,
      .parallel_notify_min = 2,
      .log = nullptr,
  });
  const ServiceKey key{.namespace_name = "default", .service = "echo", .port = PortSelector::ByName("grpc")};
  std::vector<std::shared_ptr<CountingObserver>> observers;
  for (int i = 0; i < 200; ++i) {
    observers.push_back(std::make_shared<CountingObserver>());
    registry.Acquire(key, observers.back());
  }
  for (int round = 1; round <= 3; ++round) {
    Endpoint endpoint;
    endpoint.address = "10.0.0." + std::to_string(round);
    endpoint.port = 50051;
    source->SetEndpoints({endpoint});
    for (size_t i = 0; i < observers.size(); ++i) {
      ASSERT_EQ(observers[i]->calls.load(), round) << "observer " << i << ", snapshot " << round;
    }
  }
  EXPECT_EQ(registry.stats().notifications, 3u * observers.size());
}

TEST(ServiceRegistry, HelperThreadsNotifyEveryObserverOncePerSnapshot) { ExpectEveryObserverOncePerSnapshot(2); }

TEST(ServiceRegistry, ThePublisherAloneNotifiesEveryObserverOncePerSnapshot) { ExpectEveryObserverOncePerSnapshot(0); }

}  // namespace
}  // namespace k8slb::xds
