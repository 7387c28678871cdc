#include "k8slb/endpoint_set.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace k8slb {
namespace {

// The process-wide slab of per-endpoint records: blocks of kBlock EndpointLoad records followed by
// as many EndpointSignals records (record i of a block is one endpoint's pair), handed out in order
// and reused LIFO after release, so the records of a service's endpoints sit together. Memory is
// bounded by the peak number of live EndpointStats (blocks are kept for reuse). Any thread may
// acquire or release (EndpointStats may die on an RPC thread); both take the mutex.
class LoadSlab {
 public:
  struct Slot {
    EndpointLoad* load;
    EndpointSignals* signals;
  };

  static LoadSlab& Get() {
    static LoadSlab* slab = new LoadSlab();  // never destroyed: stats may outlive static teardown
    return *slab;
  }

  Slot Acquire() {
    absl::MutexLock lock(&mu_);
    if (!free_.empty()) {
      Slot r = free_.back();
      free_.pop_back();
      r.load->in_flight.store(0, std::memory_order_relaxed);
      r.load->connection_failing.store(false, std::memory_order_relaxed);
      r.load->ever_ejected.store(false, std::memory_order_relaxed);
      r.signals->ejected_until_nanos.store(0, std::memory_order_relaxed);
      r.signals->latency_ewma_nanos.store(0, std::memory_order_relaxed);
      r.signals->latency_stamp_nanos.store(0, std::memory_order_relaxed);
      r.signals->latency_answers.store(0, std::memory_order_relaxed);
      return r;
    }
    if (blocks_.empty() || used_ == kBlock) {
      blocks_.push_back(std::make_unique<Block>());
      used_ = 0;
    }
    Block& b = *blocks_.back();
    const Slot r{&b.load[used_], &b.signals[used_]};
    ++used_;
    return r;
  }

  void Release(Slot slot) {
    absl::MutexLock lock(&mu_);
    free_.push_back(slot);
  }

 private:
  static constexpr size_t kBlock = 4096;  // 32 KB of load records and 128 KB of signals per block
  struct Block {
    EndpointLoad load[kBlock];
    EndpointSignals signals[kBlock];
  };

  absl::Mutex mu_;
  std::vector<std::unique_ptr<Block>> blocks_ ABSL_GUARDED_BY(mu_);
  size_t used_ ABSL_GUARDED_BY(mu_) = 0;  // slots handed out of blocks_.back()
  std::vector<Slot> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

EndpointStats::EndpointStats() : EndpointStats([] {
        const LoadSlab::Slot slot = LoadSlab::Get().Acquire();
        return Records{slot.load, slot.signals};
      }()) {}

EndpointStats::EndpointStats(Records records)
    : load_(records.load),
      signals_(records.signals),
      in_flight(load_->in_flight),
      ejected_until_nanos(signals_->ejected_until_nanos),
      latency_ewma_nanos(signals_->latency_ewma_nanos),
      connection_failing(load_->connection_failing),
      latency_stamp_nanos(signals_->latency_stamp_nanos),
      latency_answers(signals_->latency_answers) {}

EndpointStats::~EndpointStats() { LoadSlab::Get().Release({load_, signals_}); }

std::string JoinHostPort(const std::string& host, int32_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string Endpoint::HostPort() const { return JoinHostPort(address, port); }

EndpointSet::EndpointSet(uint64_t version, std::vector<Endpoint> usable, UsableReason reason,
                         size_t known_endpoints, size_t slice_count)
    : version_(version),
      endpoints_(std::move(usable)),
      reason_(reason),
      known_endpoints_(known_endpoints),
      slice_count_(slice_count) {}

std::optional<size_t> EndpointSet::Find(const std::string& host_port) const {
  // Endpoints are sorted by HostPort() (SliceStore's contract), so this is a binary search.
  auto it = std::lower_bound(endpoints_.begin(), endpoints_.end(), host_port,
                             [](const Endpoint& e, const std::string& key) { return e.HostPort() < key; });
  if (it != endpoints_.end() && it->HostPort() == host_port) return static_cast<size_t>(it - endpoints_.begin());
  return std::nullopt;
}

}  // namespace k8slb
