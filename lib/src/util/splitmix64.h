// SplitMix64 (G. L. Steele Jr., D. Lea, C. H. Flood, "Fast Splittable Pseudorandom Number
// Generators", OOPSLA 2014; constants as in Vigna's public-domain splitmix64.c): the one copy of
// the generator and its finalizer for the whole tree. Internal (not installed), header-only.
//
// SplitMix64 is a plain value type: one instance per thread or guarded by its owner. The free
// functions are pure.
#ifndef K8SLB_UTIL_SPLITMIX64_H_
#define K8SLB_UTIL_SPLITMIX64_H_

#include <cstdint>

namespace k8slb::util {

// The Weyl-sequence increment (2^64 / golden ratio, odd).
inline constexpr uint64_t kSplitMix64Gamma = 0x9e3779b97f4a7c15ULL;

// The output mix (a variant of MurmurHash3's fmix64): a bijection on 64-bit values that turns a
// counter into well-distributed bits. Also a good hash for combining seeds.
constexpr uint64_t SplitMix64Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The generator: state advances by the gamma, the output is the mixed state. Same seed, same
// sequence on every platform.
class SplitMix64 {
 public:
  explicit constexpr SplitMix64(uint64_t seed) : state_(seed) {}
  constexpr uint64_t Next() {
    state_ += kSplitMix64Gamma;
    return SplitMix64Mix(state_);
  }
  // Uniform in [0, n), n > 0 (Lemire's multiply-shift, "Fast Random Integer Generation in an
  // Interval", ACM TOMACS 2019, without the rejection step: bias below n / 2^64).
  constexpr uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  // Uniform in [0, 1) with 53 random bits.
  constexpr double Uniform01() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

}  // namespace k8slb::util

#endif  // K8SLB_UTIL_SPLITMIX64_H_
