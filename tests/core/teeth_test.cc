// The properties have teeth: run the same property checks against doubles of the peers' bugs and
// require a counterexample within a fixed budget of generated cases, while the real
// implementation passes the very same cases. Cases are drawn from the rapidcheck generators with
// fixed seeds (no shrinking, so the test is fast and deterministic).
//
// - ReplaceWholeSetStore = kuberesolver, https://github.com/sercand/kuberesolver/issues/66 (each
//                          slice event replaces the whole set).
// - InsertOnlyStore      = tonic-lb-k8s (updates insert only; a relist does not reconcile).
// - WithReplacementPicker = Envoy-style P2C that may draw the same endpoint twice.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <functional>
#include <iostream>

#include "k8slb/picker.h"
#include "picker_support.h"
#include "slice_model.h"

namespace k8slb::coretest {
namespace {

constexpr int kCases = 150;
constexpr int kSize = 60;

template <typename T>
T Sample(const rc::Gen<T>& gen, uint64_t seed) {
  return gen(rc::Random(seed), kSize).value();
}

struct Outcome {
  int violations = 0;
  std::string first;
};

// Runs `check` on kCases generated cases; counts the cases where it reports a violation.
Outcome RunCases(const std::function<std::optional<std::string>(uint64_t seed)>& check) {
  Outcome out;
  for (int c = 0; c < kCases; ++c) {
    std::optional<std::string> failure = check(0x5eed0000u + static_cast<uint64_t>(c));
    if (failure) {
      if (out.violations == 0) out.first = *failure;
      ++out.violations;
    }
  }
  return out;
}

std::optional<std::string> Union(const StoreFactory& f, uint64_t seed) {
  return CheckUnion(f, Sample(GenStoreOptions(), seed), Sample(GenHistory(), seed + 1));
}
std::optional<std::string> Replace(const StoreFactory& f, uint64_t seed) {
  std::vector<EndpointSlice> list;
  for (int i = 0; i < 3; ++i) list.push_back(Sample(GenAnySlice(), seed * 7 + i));
  return CheckReplaceReconciles(f, Sample(GenStoreOptions(), seed), Sample(GenHistory(), seed + 1), list);
}
std::optional<std::string> Order(const StoreFactory& f, uint64_t seed) {
  std::vector<EndpointSlice> final_slices = Sample(GenDistinctSlices(), seed + 2);
  if (final_slices.empty()) return std::nullopt;
  std::vector<size_t> perm(final_slices.size());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = perm.size() - 1 - i;  // reversed
  return CheckOrderIndependent(f, Sample(GenStoreOptions(), seed), final_slices, perm,
                               Sample(GenHistory(), seed + 3));
}
std::optional<std::string> Fallback(const StoreFactory& f, uint64_t seed) {
  return CheckFallbackOnlyWhenNoneReady(f, Sample(GenStoreOptions(), seed), Sample(GenHistory(), seed + 1));
}

void ExpectTeeth(const char* property, const std::function<std::optional<std::string>(const StoreFactory&, uint64_t)>& check,
                 const StoreFactory& buggy, const char* bug) {
  Outcome real = RunCases([&](uint64_t s) { return check(RealStore(), s); });
  EXPECT_EQ(real.violations, 0) << property << " fails on the real store: " << real.first;
  Outcome peer = RunCases([&](uint64_t s) { return check(buggy, s); });
  EXPECT_GT(peer.violations, 0) << property << " found no counterexample for " << bug << " in " << kCases
                                << " cases";
  std::cout << property << " vs " << bug << ": " << peer.violations << "/" << kCases
            << " cases fail; first: " << peer.first.substr(0, 300) << "\n";
}

// kuberesolver #66: with two slices, the set is whichever slice changed last.
TEST(Teeth, UnionCatchesPerEventReplace) { ExpectTeeth("1 union", Union, ReplaceWholeSetStore(), "kuberesolver#66"); }
TEST(Teeth, OrderCatchesPerEventReplace) { ExpectTeeth("3 order", Order, ReplaceWholeSetStore(), "kuberesolver#66"); }
TEST(Teeth, FallbackCatchesPerEventReplace) {
  ExpectTeeth("8 fallback", Fallback, ReplaceWholeSetStore(), "kuberesolver#66");
}

// tonic-lb-k8s: an address dropped by an update, or missing from a relist, stays.
TEST(Teeth, UnionCatchesInsertOnly) { ExpectTeeth("1 union", Union, InsertOnlyStore(), "tonic-lb-k8s"); }
TEST(Teeth, ReplaceCatchesInsertOnly) { ExpectTeeth("2 replace", Replace, InsertOnlyStore(), "tonic-lb-k8s"); }
TEST(Teeth, FallbackCatchesInsertOnly) { ExpectTeeth("8 fallback", Fallback, InsertOnlyStore(), "tonic-lb-k8s"); }

// A hand-made two-slice history that reproduces kuberesolver #66 exactly, for readers.
TEST(Teeth, TwoSliceServiceLosesFirstSliceUnderPerEventReplace) {
  auto slice = [](std::string name, std::vector<std::string> addresses) {
    EndpointSlice s;
    s.metadata.name = std::move(name);
    s.metadata.namespace_name = kNamespace;
    s.metadata.labels[std::string(kServiceNameLabel)] = kService;
    s.ports.push_back(SlicePort{.name = std::string(kPortName), .port = kPortNumber, .protocol = {}, .app_protocol = {}});
    for (std::string& a : addresses) {
      SliceEndpoint e;
      e.addresses = {std::move(a)};
      s.endpoints.push_back(std::move(e));
    }
    return s;
  };
  History h;
  h.push_back(HistoryStep{.kind = HistoryStep::Kind::kEvent,
                          .event = {.type = SliceEventType::kAdded, .slice = slice("echo-a", {"10.0.0.1", "10.0.0.2"})},
                          .relist = {}});
  h.push_back(HistoryStep{.kind = HistoryStep::Kind::kEvent,
                          .event = {.type = SliceEventType::kAdded, .slice = slice("echo-b", {"10.0.0.3"})},
                          .relist = {}});
  SliceStoreOptions options{.service_name = kService, .namespace_name = kNamespace,
                            .port = PortSelector::ByName(kPortName)};
  EXPECT_EQ(CheckUnion(RealStore(), options, h), std::nullopt);
  std::optional<std::string> failure = CheckUnion(ReplaceWholeSetStore(), options, h);
  ASSERT_TRUE(failure.has_value());
  EXPECT_NE(failure->find("10.0.0.1:50051"), std::string::npos) << *failure;
}

// ---- P2C with replacement (Envoy's default sampling) --------------------------------------------

class WithReplacementPicker final : public Picker {
 public:
  WithReplacementPicker(std::shared_ptr<const EndpointSet> set, std::shared_ptr<RandomSource> random)
      : set_(std::move(set)), random_(std::move(random)) {}
  const Endpoint* Pick() const override {
    const auto& es = set_->endpoints();
    if (es.empty()) return nullptr;
    const Endpoint& a = es[random_->Uniform(es.size())];
    const Endpoint& b = es[random_->Uniform(es.size())];  // may equal a
    return b.stats->in_flight.load() < a.stats->in_flight.load() ? &b : &a;
  }
  const EndpointSet& set() const override { return *set_; }

 private:
  std::shared_ptr<const EndpointSet> set_;
  std::shared_ptr<RandomSource> random_;
};

// Property 6b: with n >= 2 and a unique most-loaded endpoint, it is never picked.
std::optional<std::string> NeverPicksUniqueMax(const std::function<std::unique_ptr<Picker>(
                                                   std::shared_ptr<const EndpointSet>, uint64_t)>& make,
                                               uint64_t seed) {
  const size_t n = 2 + Sample(rc::gen::inRange<size_t>(0, 6), seed);
  auto set = MakeSet(MakeEndpoints(n));
  for (size_t i = 0; i < n; ++i) set->endpoints()[i].stats->in_flight.store(i == n - 1 ? 10 : 0);
  auto picker = make(set, seed);
  for (int p = 0; p < 200; ++p) {
    if (picker->Pick() == &set->endpoints()[n - 1]) {
      return "picked the unique most-loaded endpoint of " + std::to_string(n) + " at pick " + std::to_string(p);
    }
  }
  return std::nullopt;
}

TEST(Teeth, LeastRequestCatchesSamplingWithReplacement) {
  Outcome real = RunCases([](uint64_t s) {
    return NeverPicksUniqueMax(
        [](std::shared_ptr<const EndpointSet> set, uint64_t seed) {
          return MakePicker(std::move(set), PickerOptions{.policy = PickPolicy::kLeastRequest, .client_zone = {},
                                                          .random = MakeSeededRandom(seed), .clock = nullptr,
                                                          .seed = 0});
        },
        s);
  });
  EXPECT_EQ(real.violations, 0) << real.first;
  Outcome envoy = RunCases([](uint64_t s) {
    return NeverPicksUniqueMax(
        [](std::shared_ptr<const EndpointSet> set, uint64_t seed) -> std::unique_ptr<Picker> {
          return std::make_unique<WithReplacementPicker>(std::move(set), MakeSeededRandom(seed));
        },
        s);
  });
  EXPECT_GT(envoy.violations, 0);
  std::cout << "6 least-request vs sampling with replacement: " << envoy.violations << "/" << kCases
            << " cases fail; first: " << envoy.first << "\n";
}

}  // namespace
}  // namespace k8slb::coretest
