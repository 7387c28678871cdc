// EndpointSet: the immutable snapshot of a Service's usable endpoints that the control plane
// publishes and the data plane reads. EndpointStats: the per-endpoint mutable state (in-flight
// count, health, latency signal, server-reported load) that outlives snapshots.
//
// An EndpointSet never changes after it is built and may be read from any thread. EndpointStats
// members are atomics: any thread may read or update them without a lock.
#ifndef K8SLB_ENDPOINT_SET_H_
#define K8SLB_ENDPOINT_SET_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace k8slb {

// The per-endpoint state every pick reads, in one 8-byte record. Records live in a dense
// process-wide slab (blocks of contiguous records, reused through a free list), not inside the
// scattered EndpointStats heap objects: a pick waits on memory, and two random samples at 100k
// endpoints touch 800 KB of records this way (which a core's L2 holds on many CPUs) instead of two
// random ~100-byte objects in a >10 MB heap (a cache and TLB miss each). What only some picks
// read (an ejection's end, the latency signal) is in the endpoint's EndpointSignals record, beside
// it in the slab. Every member is an atomic; read it through EndpointStats.
struct alignas(8) EndpointLoad {
  std::atomic<int32_t> in_flight{0};
  std::atomic<bool> connection_failing{false};
  // Set when the endpoint is ejected for the first time (EndpointStats::SetEjectedUntil), never
  // cleared: only then does a pick read the ejection's end (and the clock).
  std::atomic<bool> ever_ejected{false};
};

// The rest of the per-endpoint state pickers read: the ejection's end and the latency signal.
struct alignas(32) EndpointSignals {
  std::atomic<int64_t> ejected_until_nanos{0};
  std::atomic<double> latency_ewma_nanos{0};
  std::atomic<int64_t> latency_stamp_nanos{0};
  std::atomic<uint32_t> latency_answers{0};  // successful calls LatencySignal::Record has seen
};

// Per-endpoint state shared by every snapshot that contains the endpoint (same address and
// port), so an RPC started under one snapshot is still counted after the next one is published.
// Every member is an atomic (or a reference to one in the endpoint's slab records): any
// thread may read it without a lock. Writers: the call path (in_flight, counters, the latency
// signal), the transport watcher (connection_failing) and OutlierDetector (ejection fields, under
// its own mutex). Construction and destruction take the slab's mutex (control plane only; the
// pick path never creates or destroys stats).
class EndpointStats {
 public:
  EndpointStats();
  ~EndpointStats();
  EndpointStats(const EndpointStats&) = delete;
  EndpointStats& operator=(const EndpointStats&) = delete;

  // The dense records pickers read (the same atomics as the references below).
  const EndpointLoad& load() const { return *load_; }
  const EndpointSignals& signals() const { return *signals_; }

  // Ejects the endpoint until `nanos` on the pickers' clock (OutlierDetector; tests).
  void SetEjectedUntil(int64_t nanos) {
    signals_->ejected_until_nanos.store(nanos, std::memory_order_relaxed);
    load_->ever_ejected.store(true, std::memory_order_release);
  }

 private:
  struct Records {
    EndpointLoad* load;
    EndpointSignals* signals;
  };
  explicit EndpointStats(Records records);

  // Declared first: the references below bind to them.
  EndpointLoad* const load_;
  EndpointSignals* const signals_;

 public:
  // Requests started and not yet finished. Least-request reads it on every pick.
  std::atomic<int32_t>& in_flight;
  // Outlier ejection: not picked while Clock::NowNanos() < ejected_until_nanos. Set it with
  // SetEjectedUntil, which tells the pickers to look.
  const std::atomic<int64_t>& ejected_until_nanos;
  // Peak-EWMA latency of successful calls in nanoseconds (LatencySignal); 0 before the first.
  std::atomic<double>& latency_ewma_nanos;
  // The transport to this endpoint is failing (e.g. gRPC TRANSIENT_FAILURE). Set by the data plane.
  std::atomic<bool>& connection_failing;
  // When latency_ewma_nanos was last updated (LatencySignal's clock).
  std::atomic<int64_t>& latency_stamp_nanos;
  // Successful calls LatencySignal::Record has seen (latency-ewma starts from its first few).
  std::atomic<uint32_t>& latency_answers;
  std::atomic<uint32_t> consecutive_failures{0};
  std::atomic<uint64_t> picks{0};
  std::atomic<uint64_t> successes{0};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> ejections{0};
  // Ejection history (Envoy's ejection multiplier and when the last ejection ends), written only
  // by OutlierDetector while it holds its mutex.
  std::atomic<uint32_t> ejection_multiplier{0};
  std::atomic<int64_t> last_ejection_end_nanos{0};
  // When this client first saw the endpoint ready (slow start's ramp start; INT64_MIN: there from
  // the start, no ramp). Written by the control plane (StartSlowStartRamps, slow_start.h), read
  // when a picker is built: not on the pick path, so not in the hot record.
  std::atomic<int64_t> ready_since_nanos{INT64_MIN};
  // Server-reported load: the last per-call ORCA report that gave a weight (orca.h,
  // RecordOrcaLoad; gRFC A51/A58). Written by the call path, read by the opt-in "orca-weighted"
  // picker: not in the hot record, which every policy reads. The four values of one report are
  // stored one by one; a pick racing a write may mix two reports, which a load estimate affords.
  std::atomic<double> orca_utilization{0};  // application_utilization if > 0, else cpu_utilization
  std::atomic<double> orca_qps{0};          // rps_fractional
  std::atomic<double> orca_eps{0};
  std::atomic<int64_t> orca_report_nanos{INT64_MIN};     // when it arrived (the channel's clock)
  std::atomic<int64_t> orca_reporting_since_nanos{INT64_MIN};  // start of the current run of reports
  std::atomic<uint64_t> orca_reports{0};    // well-formed reports received
  std::atomic<uint64_t> orca_malformed{0};  // reports that did not decode (ignored)

  // Whether a picker should prefer this endpoint now (not failing, not ejected).
  bool Eligible(int64_t now_nanos) const {
    return !connection_failing.load(std::memory_order_relaxed) &&
           ejected_until_nanos.load(std::memory_order_relaxed) <= now_nanos;
  }
};

struct Endpoint {
  std::string address;  // IP (v4 or v6) or FQDN, as in the slice
  int32_t port = 0;
  std::string pod_name;        // targetRef.name when it is a Pod, else empty
  std::string pod_namespace;
  std::optional<std::string> zone;
  std::optional<std::string> node_name;
  std::optional<std::string> hostname;
  std::vector<std::string> hint_zones;  // hints.forZones
  std::vector<std::string> hint_nodes;  // hints.forNodes (Kubernetes 1.33+)
  bool ready = true;        // effective conditions (nil rules applied)
  bool serving = true;
  bool terminating = false;
  std::string slice_name;   // the slice this copy was taken from (after dedup)
  std::shared_ptr<EndpointStats> stats;  // never null in a published set

  // "1.2.3.4:50051", "[::1]:50051" or "host.example:50051": the identity used for dedup.
  std::string HostPort() const;
};

// Which endpoints a snapshot holds: normally the ready ones; when none is ready, the serving
// and terminating ones (as kube-proxy does, so a rollout's last pods keep serving).
enum class UsableReason { kReady, kServingTerminatingFallback, kNone };

class EndpointSet {
 public:
  EndpointSet(uint64_t version, std::vector<Endpoint> usable, UsableReason reason,
              size_t known_endpoints, size_t slice_count);

  uint64_t version() const { return version_; }
  // Usable endpoints, sorted by HostPort() so the order is deterministic.
  const std::vector<Endpoint>& endpoints() const { return endpoints_; }
  size_t size() const { return endpoints_.size(); }
  bool empty() const { return endpoints_.empty(); }
  UsableReason reason() const { return reason_; }
  // All distinct endpoints known in the slices for the selected port, usable or not.
  size_t known_endpoints() const { return known_endpoints_; }
  size_t slice_count() const { return slice_count_; }
  // Index of the endpoint with this HostPort(), if present.
  std::optional<size_t> Find(const std::string& host_port) const;

 private:
  uint64_t version_;
  std::vector<Endpoint> endpoints_;
  UsableReason reason_;
  size_t known_endpoints_;
  size_t slice_count_;
};

// Formats host and port with brackets for IPv6.
std::string JoinHostPort(const std::string& host, int32_t port);

}  // namespace k8slb

#endif  // K8SLB_ENDPOINT_SET_H_
