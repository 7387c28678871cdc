// FNV-1a, 64-bit (G. Fowler, L. C. Noll, K.-P. Vo; parameters from
// http://www.isthe.com/chongo/tech/comp/fnv/): the one copy for the whole tree, for hashes that
// must be stable across runs, compilers and platforms (seeds derived from names, template hashes).
// Not for hash tables that face untrusted keys. Internal (not installed), header-only, pure.
#ifndef K8SLB_UTIL_FNV1A_H_
#define K8SLB_UTIL_FNV1A_H_

#include <cstdint>
#include <string_view>

namespace k8slb::util {

inline constexpr uint64_t kFnv1a64Offset = 0xcbf29ce484222325ULL;  // 14695981039346656037
inline constexpr uint64_t kFnv1a64Prime = 0x100000001b3ULL;        // 1099511628211

constexpr uint64_t Fnv1a64(std::string_view bytes, uint64_t hash = kFnv1a64Offset) {
  for (char c : bytes) hash = (hash ^ static_cast<unsigned char>(c)) * kFnv1a64Prime;
  return hash;
}

}  // namespace k8slb::util

#endif  // K8SLB_UTIL_FNV1A_H_
