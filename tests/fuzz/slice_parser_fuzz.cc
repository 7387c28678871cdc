// libFuzzer target: the EndpointSlice JSON parser (k8slb_core) and the store that consumes it.
// Oracle: whatever parses must serialize and re-parse to the same serialization (a stable round
// trip), and applying it to a SliceStore must not crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "k8slb/endpoint_slice.h"
#include "k8slb/slice_store.h"
#include "writer/endpoint_slice_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(bytes), size);
  auto slice = k8slb::ParseEndpointSlice(text);
  if (!slice.ok()) return 0;
  const std::string once = k8slb::SerializeEndpointSlice(*slice);
  auto again = k8slb::ParseEndpointSlice(once);
  if (!again.ok()) std::abort();  // our own output must parse
  if (k8slb::SerializeEndpointSlice(*again) != once) std::abort();
  k8slb::SliceStore store(k8slb::SliceStoreOptions{});
  store.Apply(k8slb::SliceEvent{.type = k8slb::SliceEventType::kAdded, .slice = *slice});
  (void)store.Current()->size();
  store.Apply(k8slb::SliceEvent{.type = k8slb::SliceEventType::kDeleted, .slice = *slice});
  return 0;
}
