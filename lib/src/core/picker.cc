// The picker family: round robin and least-request (power of two choices over a load signal:
// in-flight counts, peak-EWMA latency × in-flight, or in-flight over the ORCA weight), each
// inside the topology-aware wrapper.
//
// Shape borrowed from grpc's round_robin LB policy: the control plane builds a new immutable
// picker per snapshot, and the picker's only mutable state is round robin's turn counters, one per
// lane of threads, from a random start (so many clients started together do not all hit endpoint 0
// first). Least-request is Mitzenmacher's "power of two choices" (M. Mitzenmacher, The Power of
// Two Choices in Randomized Load Balancing, IEEE TPDS 12(10), 2001): sample two *distinct*
// endpoints and take the less loaded one. Distinct matters: sampling with replacement (as Envoy
// does) lets the busiest endpoint be picked whenever both samples hit it; tower's sample_floyd2
// does it right and so do we.
//
// Pick() allocates nothing and takes no lock: it reads the picker's precomputed candidate arrays,
// the random source and the per-endpoint atomics. Strategies and load signals are template
// parameters, so the pick path has no per-pick dispatch beyond the one virtual Pick().
#include "k8slb/picker.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "k8slb/orca.h"
#include "k8slb/topology.h"

namespace k8slb {
namespace {

// EndpointStats::Eligible() with the clock read only when the endpoint was ever ejected, so the
// common path costs two relaxed loads and no clock call. `now` caches the clock across one pick.
// One instance per Pick() call, on the picking thread's stack; never shared.
class EligibilityCheck {
 public:
  explicit EligibilityCheck(const Clock& clock) : clock_(clock) {}
  // `signals` is read only for an endpoint ever ejected: the pick's common path touches the load
  // record alone.
  bool operator()(const EndpointLoad& s, const EndpointSignals* const& signals) {
    if (s.connection_failing.load(std::memory_order_relaxed)) return false;
    if (!s.ever_ejected.load(std::memory_order_acquire)) return true;
    const int64_t until = signals->ejected_until_nanos.load(std::memory_order_relaxed);
    if (until == 0) return true;
    if (now_ == kUnset) now_ = clock_.NowNanos();
    return until <= now_;
  }
  // The clock's now, read at most once per pick.
  int64_t Now() {
    if (now_ == kUnset) now_ = clock_.NowNanos();
    return now_;
  }

 private:
  static constexpr int64_t kUnset = std::numeric_limits<int64_t>::min();
  const Clock& clock_;
  int64_t now_ = kUnset;
};

// How many extra random draws / counter steps before falling back to a scan when sampled
// endpoints are not eligible. Small: with a few failing endpoints a retry almost always succeeds,
// and the scan bounds the worst case (all failing) at O(n).
constexpr int kMaxRetries = 4;
// How many times slow start may turn a pick away from ramping endpoints (a declined round-robin
// turn, a P2C pair of two ramping endpoints that both declined) before the pick takes what it has:
// enough for a few new neighbours at the 10 % floor, and a bound on the extra cost per pick.
constexpr int kMaxRampSkips = 16;

// One candidate set (all endpoints, or the in-zone ones), derived from the snapshot once by the
// thread that builds the picker and read-only afterwards.
//
// Memory layout for large sets: the pick path reads a dense array of EndpointLoad pointers
// (8 bytes per endpoint: 800 KB at 100k endpoints) and then the sampled 8-byte records, which
// live in EndpointStats' dense slab (800 KB at 100k); the EndpointSignals pointers beside them are
// read only by the latency policies and for endpoints ever ejected, and the Endpoint itself is
// only computed (base + index) for the winner. Reading the EndpointStats objects themselves (scattered over
// the heap with the endpoints' strings) cost a cache and TLB miss per sample: ~200 ns per
// least-request pick at 100k endpoints against ~40 ns at 100.
//
// The size is fixed, so the round-robin reduction is derived from it once: Lemire's fastmod
// (D. Lemire, O. Kaser, N. Kurz, "Faster Remainder by Direct Computation", Software: Practice
// and Experience 49(6), 2019) gives x mod n for 32-bit x with two multiplications, where a
// 64-bit division costs tens of cycles per pick on many cores.
class Candidates {
 public:
  // Every endpoint of the set.
  explicit Candidates(const EndpointSet& set) : base_(set.endpoints().data()) {
    for (const Endpoint& e : set.endpoints()) Add(*e.stats);
    Derive();
  }
  // The endpoints at `subset` (indices into the set; empty: none).
  Candidates(const EndpointSet& set, std::vector<uint32_t> subset)
      : base_(set.endpoints().data()), index_(std::move(subset)) {
    for (uint32_t k : index_) Add(*set.endpoints()[k].stats);
    Derive();
  }
  Candidates(const Candidates&) = delete;
  Candidates& operator=(const Candidates&) = delete;

  size_t size() const { return loads_.size(); }
  bool empty() const { return loads_.empty(); }
  const EndpointLoad& load(size_t k) const { return *loads_[k]; }
  const EndpointSignals& signals(size_t k) const { return *signals_[k]; }
  bool Eligible(size_t k, EligibilityCheck& check) const { return check(*loads_[k], signals_[k]); }
  // x mod size() for any 32-bit x, exact (fastmod_u32), size() in [1, 2^32).
  size_t Mod(uint32_t x) const {
    const uint64_t low = fastmod_ * x;
    return static_cast<size_t>((static_cast<unsigned __int128>(low) * loads_.size()) >> 64);
  }
  const Endpoint* At(size_t k) const { return base_ + (index_.empty() ? k : index_[k]); }

  // First eligible candidate at or after `start` (cyclically), or nullopt.
  std::optional<size_t> ScanEligible(size_t start, EligibilityCheck& eligible) const {
    const size_t n = loads_.size();
    size_t i = start % n;  // fallback path only: the one division is not per sample
    for (size_t k = 0; k < n; ++k, i = i + 1 == n ? 0 : i + 1) {
      if (Eligible(i, eligible)) return i;
    }
    return std::nullopt;
  }

 private:
  void Add(const EndpointStats& stats) {
    loads_.push_back(&stats.load());
    signals_.push_back(&stats.signals());
  }
  void Derive() { fastmod_ = loads_.empty() ? 0 : ~uint64_t{0} / loads_.size() + 1; }

  const Endpoint* base_;
  std::vector<const EndpointLoad*> loads_;  // hot: one pointer per candidate
  std::vector<const EndpointSignals*> signals_;
  uint64_t fastmod_ = 0;                     // ceil(2^64 / size()), for Mod()
  std::vector<uint32_t> index_;        // candidate → set index; empty = identity (all endpoints)
};

// Slow start over one candidate set (slow_start.h): each candidate's share factor at the pick's
// time. Built with the candidates by the control plane; Factor() runs on the pick path from any
// thread. The ramp starts known when the picker is built (EndpointStats::ready_since_nanos) are
// copied into a dense array, and only while one of them can still be inside its window does a pick
// read the clock for them: the first pick past the last window's end clears `ramping_`, and from
// then on an endpoint costs one relaxed load more (its ejection end, which eligibility has read
// already). An ejection ended less than a window ago is a ramp start too, known from the hot
// record; its clock read is the one eligibility makes for any endpoint ever ejected.
class SlowStartRamp {
 public:
  // `subset` as Candidates': the candidates' indices into the set; empty: the identity. `now`: the
// clock when the picker is built (ramps already over are dropped).
  SlowStartRamp(const Candidates& candidates, const EndpointSet& set, const std::vector<uint32_t>& subset,
                const PickerOptions& options, int64_t now)
      : candidates_(candidates), options_(options.slow_start) {
    if (!options_.enabled() || candidates.empty()) return;
    const int64_t window = options_.window.count();
    int64_t latest = kNoRampStart;
    std::vector<int64_t> starts(candidates.size(), kNoRampStart);
    for (size_t k = 0; k < starts.size(); ++k) {
      const Endpoint& e = set.endpoints()[subset.empty() ? k : subset[k]];
      const int64_t start = e.stats->ready_since_nanos.load(std::memory_order_relaxed);
      if (start == kNoRampStart || start > INT64_MAX - window || start + window <= now) continue;
      starts[k] = start;
      latest = std::max(latest, start);
    }
    if (latest != kNoRampStart) {
      ready_since_ = std::move(starts);
      ramp_until_ = latest + window;
      ramping_.store(true, std::memory_order_relaxed);
    }
  }
  SlowStartRamp(const SlowStartRamp&) = delete;
  SlowStartRamp& operator=(const SlowStartRamp&) = delete;

  bool enabled() const { return options_.enabled(); }

  // Candidate k's factor in (0, 1] now; 1 outside every window. Call only when enabled().
  double Factor(size_t k, EligibilityCheck& time) const {
    int64_t start = kNoRampStart;
    if (ramping_.load(std::memory_order_relaxed)) {
      if (time.Now() < ramp_until_) {
        start = ready_since_[k];
      } else {
        ramping_.store(false, std::memory_order_relaxed);  // every window of this snapshot is over
      }
    }
    const int64_t ejected_until = candidates_.signals(k).ejected_until_nanos.load(std::memory_order_relaxed);
    if (ejected_until != 0) start = std::max(start, ejected_until);  // ejection end restarts the ramp
    if (start == kNoRampStart) return 1.0;
    return SlowStartFactor(options_, time.Now() - start);
  }

  // Whether a candidate with factor `f` takes its turn, from a fresh 32-bit uniform `u32`.
  static bool Admit(double f, uint32_t u32) { return f >= 1.0 || static_cast<double>(u32) < f * 0x1p32; }

 private:
  const Candidates& candidates_;
  const SlowStartOptions options_;
  std::vector<int64_t> ready_since_;  // per candidate; empty unless a ramp was open at build time
  int64_t ramp_until_ = 0;            // the latest ramp's end
  mutable std::atomic<bool> ramping_{false};
};

// Load signals as costs over one candidate set (lower is less loaded). A signal is built once per
// candidate set, so it may precompute per-snapshot data; operator() runs on the pick path, on any
// thread, and reads only atomics.
class InFlightCost {
 public:
  InFlightCost(const Candidates& candidates, const PickerOptions& /*options*/) : candidates_(candidates) {}
  int64_t operator()(size_t k, EligibilityCheck& /*time*/) const {
    return candidates_.load(k).in_flight.load(std::memory_order_relaxed);
  }

 private:
  const Candidates& candidates_;
};

// What the latency policies' costs read: the candidates' records and the EWMA's decay time τ.
class DecayedLatencyCost {
 public:
  DecayedLatencyCost(const Candidates& candidates, const PickerOptions& options)
      : candidates_(candidates), decay_nanos_(std::max<int64_t>(options.latency_decay.count(), 1)) {}

 protected:
  const Candidates& candidates_;
  const int64_t decay_nanos_;
};

// Peak-EWMA cost with decay on read (LatencySignal::Cost): one clock read per pick.
class PeakEwmaCost : private DecayedLatencyCost {
 public:
  using DecayedLatencyCost::DecayedLatencyCost;
  double operator()(size_t k, EligibilityCheck& time) const {
    return LatencySignal::Cost(candidates_.load(k), candidates_.signals(k), time.Now(), decay_nanos_);
  }
};

// latency-ewma's cost (LatencySignal::PairCost): in-flight counts between candidates of similar
// latency, latency × (in flight + 1) otherwise; one clock read per pick.
class LatencyEwmaCost : private DecayedLatencyCost {
 public:
  using DecayedLatencyCost::DecayedLatencyCost;
  std::pair<double, double> operator()(size_t a, size_t b, EligibilityCheck& time) const {
    return LatencySignal::PairCost(candidates_.load(a), candidates_.signals(a), candidates_.load(b),
                                   candidates_.signals(b), time.Now(), decay_nanos_);
  }
};

// ORCA-weighted cost, (in flight + 1) / weight, with gRFC A58's weight (OrcaWeight, orca.h): of
// two endpoints with equal load in flight, the one the servers' reports say has more capacity
// per unit of utilization wins. Costs are computed for the pair at once (a PairCost): an endpoint
// without a weight takes the other's (the mean of the pair's valid weights), and two without one
// compare in-flight counts as least-request does. A58 gives a weightless endpoint the mean of
// all endpoints' weights; a pick cannot compute that in O(1), and over the partners drawn the
// partner's weight averages to the mean of the weighted endpoints. Reads both candidates'
// EndpointStats (through their Endpoint), not only the hot record: a few more cache misses per
// pick at large sets, which this opt-in policy alone pays.
class OrcaCost {
 public:
  OrcaCost(const Candidates& candidates, const PickerOptions& /*options*/) : candidates_(candidates) {}
  std::pair<double, double> operator()(size_t a, size_t b, EligibilityCheck& time) const {
    const int64_t now = time.Now();
    double wa = OrcaWeight(*candidates_.At(a)->stats, now);
    double wb = OrcaWeight(*candidates_.At(b)->stats, now);
    if (!(wa > 0) && !(wb > 0)) {
      wa = wb = 1;
    } else if (!(wa > 0)) {
      wa = wb;
    } else if (!(wb > 0)) {
      wb = wa;
    }
    return {Pending(a) / wa, Pending(b) / wb};
  }

 private:
  double Pending(size_t k) const {
    return static_cast<double>(std::max(candidates_.load(k).in_flight.load(std::memory_order_relaxed), 0) + 1);
  }

  const Candidates& candidates_;
};

// A signal whose costs depend on both candidates (OrcaCost): called once per comparison.
template <typename Cost>
concept PairCost = requires(const Cost& c, size_t k, EligibilityCheck& t) { c(k, k, t); };

// The round-robin lane of the calling thread: threads are numbered in the order they first pick,
// and thread k uses lane k mod kRoundRobinLanes of every round-robin picker. Constant-initialised
// (0 = not numbered yet), so the hot path reads it without a TLS init guard.
constexpr uint32_t kRoundRobinLanes = 16;
thread_local uint32_t round_robin_lane_plus_one = 0;
std::atomic<uint32_t> round_robin_threads{0};

[[gnu::noinline]] uint32_t NumberRoundRobinThread() {
  const uint32_t lane = round_robin_threads.fetch_add(1, std::memory_order_relaxed) % kRoundRobinLanes;
  round_robin_lane_plus_one = lane + 1;
  return lane;
}

inline uint32_t RoundRobinLane() {
  const uint32_t plus_one = round_robin_lane_plus_one;
  if (plus_one == 0) [[unlikely]] return NumberRoundRobinThread();
  return plus_one - 1;
}

// Round robin over one candidate set, from a random start (grpc's round_robin does the same, so
// clients created together spread out). Pick() from any thread.
//
// The turn counter is split into lanes, one cache line each, and each thread advances its own
// lane's counter with a plain load and store. A single shared counter would need a locked
// fetch_add to rotate exactly across threads; that instruction waits for every earlier load and
// store of the thread, and the pick's loads depend on its result, so it cost about 3 times the
// floor per pick (bench/core); and a plain load and store on one shared counter loses turns when
// threads race (two threads picking in a loop skewed shares by 1.5 %). With lanes, every thread
// rotates exactly over all candidates, up to kRoundRobinLanes threads picking at once; more
// threads share lanes, and two that race on one may take the same turn (shares stay 1/n in
// expectation). Envoy's round robin is per worker thread for the same reason. Lanes start where
// they are first used, spread over the rotation (the first at the random start, the second half
// way round, then the quarters, ...), so a picker replaced after a few picks on several threads
// still spread them.
class RoundRobin {
 public:
  RoundRobin(const Candidates& candidates, RandomSource& random, const SlowStartRamp& ramp)
      : candidates_(candidates), ramp_(ramp) {
    if (!candidates_.empty()) start_ = random.Uniform(candidates_.size());
    for (Lane& lane : lanes_) lane.next.store(kUnstarted, std::memory_order_relaxed);
  }

  // An eligible endpoint when one exists. When none is: with `must_be_eligible`, nullptr (the
  // zone-aware wrapper then falls back to all endpoints); without, the next one anyway so the
  // caller sees the real error.
  const Endpoint* Pick(RandomSource& random, EligibilityCheck& eligible, bool must_be_eligible) const {
    const size_t k = NextIndex();
    if (candidates_.Eligible(k, eligible) && !ramp_.enabled()) [[likely]] return candidates_.At(k);
    return PickAfter(k, random, eligible, must_be_eligible);
  }

 private:
  // The turn `first` is not eligible, or slow start is on. Skip ineligible endpoints by taking
  // the next turns (keeps the rotation fair for the eligible ones), a bounded number of times;
  // then scan. A ramping endpoint that declines its turn is skipped the same way, on a budget of
  // its own (several new endpoints may be neighbours in the rotation); past it, the eligible
  // endpoint at hand takes the call. Out of line: the common pick needs no stack frame.
  [[gnu::noinline]] const Endpoint* PickAfter(size_t first, RandomSource& random, EligibilityCheck& eligible,
                                              bool must_be_eligible) const {
    const size_t n = candidates_.size();
    size_t k = first;
    size_t misses = 0;
    int declined = 0;
    for (;;) {
      if (candidates_.Eligible(k, eligible)) {
        if (declined >= kMaxRampSkips || Admitted(k, random, eligible)) return candidates_.At(k);
        ++declined;
      } else if (++misses > static_cast<size_t>(kMaxRetries) || misses >= n) {
        break;
      }
      k = NextIndex();
    }
    if (std::optional<size_t> i = candidates_.ScanEligible(first + 1, eligible)) return candidates_.At(*i);
    return must_be_eligible ? nullptr : candidates_.At(first);
  }

  // The next turn of this thread's lane: the counter's low 32 bits mod n (exact rotation, except
  // one skip where the 32-bit value wraps, once per 2^32 picks of the lane, when n does not divide
  // 2^32).
  size_t NextIndex() const {
    std::atomic<uint64_t>& next = lanes_[RoundRobinLane()].next;
    uint64_t turn = next.load(std::memory_order_relaxed);
    if (turn == kUnstarted) [[unlikely]] turn = StartLane();
    next.store(turn + 1, std::memory_order_relaxed);
    return candidates_.Mod(static_cast<uint32_t>(turn));
  }

  // The first turn of a lane: the random start, offset by the lane's place in the order lanes
  // were first used, bit-reversed (0, 1/2, 1/4, 3/4, 1/8, ... of the way round). Two threads
  // starting one lane at once may both take its first turn; that is one repeated turn.
  [[gnu::noinline]] uint64_t StartLane() const {
    const uint32_t order = lanes_started_.fetch_add(1, std::memory_order_relaxed) % kRoundRobinLanes;
    uint32_t reversed = 0;
    for (uint32_t bit = 1, mirror = kRoundRobinLanes / 2; mirror != 0; bit <<= 1, mirror >>= 1) {
      if ((order & bit) != 0) reversed |= mirror;
    }
    const uint64_t n = candidates_.size();
    return start_ + reversed * n / kRoundRobinLanes;
  }

  // Slow start: a ramping endpoint takes its turn with probability factor.
  bool Admitted(size_t k, RandomSource& random, EligibilityCheck& time) const {
    if (!ramp_.enabled()) return true;
    const double f = ramp_.Factor(k, time);
    return f >= 1.0 || SlowStartRamp::Admit(f, static_cast<uint32_t>(random.Next()));
  }

  static constexpr uint64_t kUnstarted = std::numeric_limits<uint64_t>::max();
  // One cache line per lane: every pick writes its lane, and the candidate arrays are read by
  // every pick on every thread.
  struct alignas(64) Lane {
    std::atomic<uint64_t> next;
  };

  const Candidates& candidates_;
  const SlowStartRamp& ramp_;
  uint64_t start_ = 0;
  mutable std::atomic<uint32_t> lanes_started_{0};
  mutable std::array<Lane, kRoundRobinLanes> lanes_;
};

// Power of two choices (Mitzenmacher) over a load signal: two *distinct* candidates, the one with
// the lower cost wins. Draws nothing when built (scripted tests count draws). Pick() from any
// thread.
template <typename Cost>
class PowerOfTwoChoices {
 public:
  PowerOfTwoChoices(const Candidates& candidates, const PickerOptions& options, const SlowStartRamp& ramp)
      : candidates_(candidates), cost_(candidates, options), ramp_(ramp) {}

  // Same contract as RoundRobin::Pick.
  const Endpoint* Pick(RandomSource& random, EligibilityCheck& eligible, bool must_be_eligible) const {
    const size_t n = candidates_.size();
    if (n < 2) [[unlikely]] {
      if (candidates_.Eligible(0, eligible) || !must_be_eligible) return candidates_.At(0);
      return nullptr;
    }
    const DistinctPair p = SampleDistinctPair(random.Next(), n);
    // Both records are cache misses at 10k+ endpoints: start the second before the first's
    // checks branch, so the two misses overlap instead of queueing.
    __builtin_prefetch(&candidates_.load(p.second));
    const bool ea = candidates_.Eligible(p.first, eligible);
    const bool eb = candidates_.Eligible(p.second, eligible);
    if (ea && eb && !ramp_.enabled()) [[likely]] return candidates_.At(Better(p, eligible));
    return PickAfter(p, ea, eb, random, eligible, must_be_eligible);
  }

 private:
  // The pair `first` has an ineligible candidate, or slow start is on: the rest of the rule, out
  // of line so the common pick needs no stack frame.
  [[gnu::noinline]] const Endpoint* PickAfter(const DistinctPair& first, bool ea, bool eb, RandomSource& random,
                                              EligibilityCheck& eligible, bool must_be_eligible) const {
    const size_t n = candidates_.size();
    DistinctPair p = first;
    for (int attempt = 0, declined = 0;;) {
      if (ea && eb) {
        if (std::optional<size_t> k = Admitted(p, random, eligible, declined < kMaxRampSkips)) {
          return candidates_.At(*k);
        }
        ++declined;  // two ramping endpoints both declined: draw another pair
      } else if (ea) {
        return candidates_.At(p.first);
      } else if (eb) {
        return candidates_.At(p.second);
      } else if (attempt++ == kMaxRetries) {
        break;
      }
      p = SampleDistinctPair(random.Next(), n);
      __builtin_prefetch(&candidates_.load(p.second));
      ea = candidates_.Eligible(p.first, eligible);
      eb = candidates_.Eligible(p.second, eligible);
    }
    if (std::optional<size_t> k = candidates_.ScanEligible(first.first, eligible)) return candidates_.At(*k);
    if (must_be_eligible) return nullptr;
    return candidates_.At(Better(first, eligible));
  }

  // Slow start: each of two eligible candidates takes part with probability its factor (one draw
  // for both, only when one is ramping); when exactly one takes part it wins, when both do the
  // less loaded does. When neither does: nullopt (the caller draws another pair) while
  // `may_decline`, else the less loaded. Equal factors leave shares equal.
  std::optional<size_t> Admitted(const DistinctPair& p, RandomSource& random, EligibilityCheck& time,
                                 bool may_decline) const {
    if (ramp_.enabled()) {
      const double fa = ramp_.Factor(p.first, time);
      const double fb = ramp_.Factor(p.second, time);
      if (fa < 1.0 || fb < 1.0) {
        const uint64_t u = random.Next();
        const bool a = SlowStartRamp::Admit(fa, static_cast<uint32_t>(u >> 32));
        const bool b = SlowStartRamp::Admit(fb, static_cast<uint32_t>(u));
        if (a != b) return a ? p.first : p.second;
        if (!a && may_decline) return std::nullopt;
      }
    }
    return Better(p, time);
  }

  // The less loaded of the two; on a tie the pair's coin (always keeping the first would make the
  // choice depend on the sampling order).
  // Without branches: which one wins is as random as the loads, so a branch would mispredict
  // about every other pick.
  size_t Better(const DistinctPair& p, EligibilityCheck& time) const {
    const auto [ca, cb] = Costs(p, time);
    const bool second = (cb < ca) | ((cb == ca) & p.coin);
    return second ? p.second : p.first;
  }

  auto Costs(const DistinctPair& p, EligibilityCheck& time) const {
    if constexpr (PairCost<Cost>) {
      return cost_(p.first, p.second, time);
    } else {
      return std::pair(cost_(p.first, time), cost_(p.second, time));
    }
  }

  const Candidates& candidates_;
  Cost cost_;
  const SlowStartRamp& ramp_;
};

// A candidate set with its strategy; the strategy refers to the candidates, so a group never moves.
template <typename Strategy>
struct Group {
  // Every endpoint of the set.
  Group(RandomSource& random, const PickerOptions& options, int64_t now, const EndpointSet& set)
      : candidates(set), ramp(candidates, set, {}, options, now),
        strategy(MakeStrategy(candidates, random, options, ramp)) {}
  // The endpoints at `subset` (indices into the set; empty: none).
  Group(RandomSource& random, const PickerOptions& options, int64_t now, const EndpointSet& set,
        const std::vector<uint32_t>& subset)
      : candidates(set, subset),
        ramp(candidates, set, subset, options, now),
        strategy(MakeStrategy(candidates, random, options, ramp)) {}
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  Candidates candidates;
  SlowStartRamp ramp;
  Strategy strategy;

 private:
  static Strategy MakeStrategy(const Candidates& c, RandomSource& random, const PickerOptions& options,
                               const SlowStartRamp& ramp) {
    if constexpr (std::is_same_v<Strategy, RoundRobin>) {
      return Strategy(c, random, ramp);
    } else {
      return Strategy(c, options, ramp);
    }
  }
};

// A published set never has null stats; a set built by hand might. Give such endpoints a private
// stats object so Pick() never dereferences null.
std::shared_ptr<const EndpointSet> WithStats(std::shared_ptr<const EndpointSet> set) {
  bool missing = false;
  for (const Endpoint& e : set->endpoints()) missing = missing || e.stats == nullptr;
  if (!missing) return set;
  std::vector<Endpoint> copy = set->endpoints();
  for (Endpoint& e : copy) {
    if (e.stats == nullptr) e.stats = std::make_shared<EndpointStats>();
  }
  return std::make_shared<const EndpointSet>(set->version(), std::move(copy), set->reason(),
                                             set->known_endpoints(), set->slice_count());
}

// The Picker of MakePicker: a topology-aware wrapper (the same-node or same-zone candidates that
// ChooseTopology gives the client first) around one strategy. Immutable after construction;
// Pick() is safe from any number of threads. Holds the snapshot, so endpoints outlive every pick.
template <typename Strategy>
class StrategyPicker final : public Picker {
 public:
  StrategyPicker(std::shared_ptr<const EndpointSet> set, const PickerOptions& options)
      : set_(WithStats(std::move(set))),
        random_(options.random != nullptr ? options.random : MakeThreadLocalRandom(options.seed)),
        clock_(options.clock != nullptr ? options.clock : MakeSteadyClock()),
        all_(*random_, options, BuildTime(options), *set_),
        preferred_(*random_, options, BuildTime(options), *set_,
                   ChooseTopology(set_->endpoints(), ClientTopology{.zone = options.client_zone,
                                                                    .node = options.client_node})
                       .preferred),
        options_spill_(options.topology_spill),
        spill_check_mask_(SpillCheckMask(all_.candidates.size())) {}

  const Endpoint* Pick() const override {
    if (!preferred_.candidates.empty()) [[unlikely]] return PickPreferringTopology();
    if (all_.candidates.empty()) [[unlikely]] return nullptr;
    EligibilityCheck eligible(*clock_);
    return all_.strategy.Pick(*random_, eligible, /*must_be_eligible=*/false);
  }

  const EndpointSet& set() const override { return *set_; }
  bool topology_spilled() const override { return spill_.spilled.load(std::memory_order_relaxed); }

 private:
  // Topology-aware: prefer the same-node or same-zone endpoints while one of them is eligible
  // and their load is within the spill band; otherwise all endpoints, so a node or zone whose
  // endpoints are all failing, ejected or overloaded does not fail or queue calls another can
  // serve (kube-proxy has no such fallback: it only drops hints that name no endpoint). Out of
  // line: a client without a preference does not pay for it.
  [[gnu::noinline]] const Endpoint* PickPreferringTopology() const {
    EligibilityCheck eligible(*clock_);
    if (!Spilled(eligible)) {
      if (const Endpoint* e = preferred_.strategy.Pick(*random_, eligible, /*must_be_eligible=*/true)) return e;
    }
    return all_.strategy.Pick(*random_, eligible, /*must_be_eligible=*/false);
  }

  // The spill state (topology.h, TopologySpillOptions): written by whichever pick runs the check,
  // read by every pick. Check cadence: a per-picker tick advanced with a plain load and store
  // (no locked instruction on the pick path; racing picks may lose ticks, which only delays a
  // check) so a single-threaded caller such as the simulator checks at exactly the same picks
  // on every run. A new snapshot's picker starts local; its first check (within 16 picks) spills
  // again if the load still says so.
  struct SpillState {
    std::atomic<bool> spilled{false};
    std::atomic<double> load_ewma{-1};  // < 0: unset (no check yet in the current pool)
    alignas(64) std::atomic<uint32_t> tick{0};
  };

  bool Spilled(EligibilityCheck& eligible) const {
    if (!options_spill_.enabled) return false;
    const uint32_t tick = spill_.tick.load(std::memory_order_relaxed) + 1;
    spill_.tick.store(tick, std::memory_order_relaxed);
    if ((tick & spill_check_mask_) == 0) CheckSpill(eligible);
    return spill_.spilled.load(std::memory_order_relaxed);
  }

  // One check of the band: the client's mean in-flight count per eligible endpoint of the pool
  // in use, into the EWMA, then the hysteresis. A pool with no eligible endpoint changes nothing
  // (the fallback to all endpoints already covers a preferred set that cannot serve).
  void CheckSpill(EligibilityCheck& eligible) const {
    const bool spilled = spill_.spilled.load(std::memory_order_relaxed);
    const Candidates& pool = spilled ? all_.candidates : preferred_.candidates;
    int64_t in_flight = 0;
    size_t serving = 0;
    for (size_t k = 0; k < pool.size(); ++k) {
      if (!pool.Eligible(k, eligible)) continue;
      in_flight += std::max(pool.load(k).in_flight.load(std::memory_order_relaxed), 0);
      ++serving;
    }
    if (serving == 0) return;
    const double load = static_cast<double>(in_flight) / static_cast<double>(serving);
    const double prev = spill_.load_ewma.load(std::memory_order_relaxed);
    const double ewma = prev < 0 ? load : prev + (load - prev) * kTopologySpillSmoothing;
    const bool leave = spilled ? ewma < options_spill_.low_load : ewma > options_spill_.high_load;
    if (leave) {
      spill_.spilled.store(!spilled, std::memory_order_relaxed);
      spill_.load_ewma.store(-1, std::memory_order_relaxed);  // the other pool starts afresh
    } else {
      spill_.load_ewma.store(ewma, std::memory_order_relaxed);
    }
  }

  // Checks every max(16, pool size) picks, rounded up to a power of two: the check reads each
  // endpoint of the pool once, so it costs at most about one load per pick.
  static uint32_t SpillCheckMask(size_t candidates) {
    uint32_t interval = 16;
    while (interval < candidates && interval < (1u << 30)) interval <<= 1;
    return interval - 1;
  }

  // Slow start's "now" for pruning ramps that are over: one clock read per build, none when off.
  int64_t BuildTime(const PickerOptions& options) {
    if (!options.slow_start.enabled()) return 0;
    if (build_now_ == std::numeric_limits<int64_t>::min()) build_now_ = clock_->NowNanos();
    return build_now_;
  }

  int64_t build_now_ = std::numeric_limits<int64_t>::min();  // declared first: set while building
  std::shared_ptr<const EndpointSet> set_;
  std::shared_ptr<RandomSource> random_;
  std::shared_ptr<Clock> clock_;
  Group<Strategy> all_;
  Group<Strategy> preferred_;  // empty unless the hints give this client a preference (topology.h)
  const TopologySpillOptions options_spill_;
  const uint32_t spill_check_mask_;
  mutable SpillState spill_;
};

template <typename Strategy>
std::unique_ptr<Picker> Make(std::shared_ptr<const EndpointSet> set, const PickerOptions& options) {
  return std::make_unique<StrategyPicker<Strategy>>(std::move(set), options);
}

}  // namespace

DistinctPair SampleDistinctPair(uint64_t draw, size_t n) {
  const uint64_t hi = (draw >> 32) * n;                 // [0, n) in the top 32 bits
  const uint64_t lo = (draw & 0xffffffffu) * (n - 1);   // [0, n-1) in the top 32 bits
  DistinctPair p;
  p.first = static_cast<size_t>(hi >> 32);
  p.second = static_cast<size_t>(lo >> 32);
  p.second += (p.second >= p.first);
  p.coin = (hi >> 31) & 1;  // the remainder's top bit: independent of first, fair to n / 2^32
  return p;
}

std::optional<NamedPolicy> FindNamedPolicy(std::string_view name) {
  for (const NamedPolicy& p : kNamedPolicies) {
    if (p.name == name) return p;
  }
  return std::nullopt;
}

std::string_view PickPolicyName(PickPolicy policy) {
  switch (policy) {
    case PickPolicy::kRoundRobin:
      return "round-robin";
    case PickPolicy::kLeastRequest:
      return "least-request";
  }
  return "least-request";
}

std::optional<PickPolicy> ParsePickPolicy(std::string_view name) {
  if (name == "round-robin" || name == "round_robin") return PickPolicy::kRoundRobin;
  if (name == "least-request" || name == "least_request") return PickPolicy::kLeastRequest;
  return std::nullopt;
}

std::unique_ptr<Picker> MakePicker(std::shared_ptr<const EndpointSet> set, const PickerOptions& options) {
  if (set == nullptr) {
    set = std::make_shared<const EndpointSet>(0, std::vector<Endpoint>{}, UsableReason::kNone, 0, 0);
  }
  if (options.policy == PickPolicy::kRoundRobin) return Make<RoundRobin>(std::move(set), options);
  switch (options.load_signal) {
    case LoadSignal::kPeakEwmaLatency:
      return Make<PowerOfTwoChoices<PeakEwmaCost>>(std::move(set), options);
    case LoadSignal::kLatencyEwma:
      return Make<PowerOfTwoChoices<LatencyEwmaCost>>(std::move(set), options);
    case LoadSignal::kOrcaWeighted:
      return Make<PowerOfTwoChoices<OrcaCost>>(std::move(set), options);
    case LoadSignal::kInFlight:
      break;
  }
  return Make<PowerOfTwoChoices<InFlightCost>>(std::move(set), options);
}

InFlightGuard::InFlightGuard(std::shared_ptr<EndpointStats> stats) : stats_(std::move(stats)) {
  if (stats_ != nullptr) stats_->in_flight.fetch_add(1, std::memory_order_relaxed);
}

InFlightGuard::InFlightGuard(InFlightGuard&& other) noexcept : stats_(std::move(other.stats_)) {}

InFlightGuard& InFlightGuard::operator=(InFlightGuard&& other) noexcept {
  if (this != &other) {
    Release();
    stats_ = std::move(other.stats_);
  }
  return *this;
}

InFlightGuard::~InFlightGuard() { Release(); }

void InFlightGuard::Release() {
  if (stats_ != nullptr) {
    stats_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    stats_.reset();
  }
}

}  // namespace k8slb
