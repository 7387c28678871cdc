// SliceStore: the per-slice state of one Service, merged into EndpointSet snapshots.
//
// The control plane (one thread: the watcher, or the simulator's event loop) calls Apply() and
// Replace(); it must not call them concurrently. Current() may be called from any thread at any
// time and never blocks on the writer for longer than a pointer copy.
//
// Semantics (docs/endpoint-semantics.md): the set is the union of all slices labelled with the
// Service, deduplicated by address and port; an endpoint leaves when its slice drops it, the slice
// is deleted, or a relist no longer has it (Replace reconciles, it does not only insert, as
// tonic-lb-k8s does); every slice event updates only that slice, not the whole set (which
// kuberesolver gets wrong: https://github.com/sercand/kuberesolver/issues/66).
#ifndef K8SLB_SLICE_STORE_H_
#define K8SLB_SLICE_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "k8slb/endpoint_set.h"
#include "k8slb/endpoint_slice.h"

namespace k8slb {

// Which port of the slices to use. By name when the target names one, else by number; with
// neither, a slice's first port. A slice without the selected port contributes nothing.
struct PortSelector {
  std::optional<std::string> name;
  std::optional<int32_t> number;

  static PortSelector ByName(std::string n) { return {.name = std::move(n), .number = {}}; }
  static PortSelector ByNumber(int32_t p) { return {.name = {}, .number = p}; }
  static PortSelector First() { return {}; }
  // The port this selector picks from `slice`, or nullopt.
  std::optional<int32_t> Resolve(const EndpointSlice& slice) const;
};

enum class SliceEventType { kAdded, kModified, kDeleted };

struct SliceEvent {
  SliceEventType type = SliceEventType::kAdded;
  EndpointSlice slice;
};

struct SliceStoreOptions {
  // Only slices with this kubernetes.io/service-name label (and namespace, when non-empty) count.
  // Empty: every slice given counts (the caller filtered already).
  std::string service_name;
  std::string namespace_name;
  PortSelector port;
};

class SliceStore {
 public:
  // Called on the writer's thread after each publish with the new snapshot.
  using Listener = std::function<void(const std::shared_ptr<const EndpointSet>&)>;

  explicit SliceStore(SliceStoreOptions options);

  // ADDED/MODIFIED replace the slice's state; DELETED removes it. A slice of another service
  // is ignored (OK). Returns true if the published set changed.
  bool Apply(const SliceEvent& event);
  // A relist: the state becomes exactly `slices`, as if the store were built fresh from them.
  bool Replace(const std::vector<EndpointSlice>& slices);

  // The current snapshot (never null; empty with version 0 before any data).
  std::shared_ptr<const EndpointSet> Current() const ABSL_LOCKS_EXCLUDED(current_mu_);
  void SetListener(Listener listener);

  // Slice keys ("ns/name") currently held, sorted.
  std::vector<std::string> SliceKeys() const;
  const SliceStoreOptions& options() const { return options_; }

 private:
  // One copy of an endpoint as a slice lists it (port resolved, nil rules applied, no stats).
  struct Copy {
    const std::string* slice_key = nullptr;  // points into slice_host_ports_ (stable map node)
    size_t position = 0;
    Endpoint endpoint;
  };
  // Everything known about one HostPort: its copies in (slice key, position) order, and the
  // stats object every snapshot shares while the HostPort is known (so in-flight counts
  // survive snapshot swaps).
  struct Known {
    std::vector<Copy> copies;
    std::shared_ptr<EndpointStats> stats;
  };

  bool Matches(const EndpointSlice& slice) const;
  // Writer thread only. Per event they touch just the slice's own endpoints (O(slice · log N));
  // Rebuild is then one O(N) pass, with no per-endpoint copy unless the result changed.
  void RemoveSlice(const std::string& key);
  void AddSlice(const std::string& key, const EndpointSlice& slice);
  bool Rebuild();  // writer thread; recomputes and publishes if changed

  SliceStoreOptions options_;
  // Slice key → the HostPorts it lists (an entry per held slice, even one without the port).
  std::map<std::string, std::vector<std::string>> slice_host_ports_;
  std::map<std::string, Known> known_;  // HostPort → copies and stats
  // Held slice keys already reported for an undialable port (bounded by the held slices).
  std::set<std::string> warned_ports_;
  uint64_t next_version_ = 1;
  Listener listener_;
  mutable absl::Mutex current_mu_;  // guards only the pointer swap/copy
  std::shared_ptr<const EndpointSet> current_ ABSL_GUARDED_BY(current_mu_);
};

}  // namespace k8slb

#endif  // K8SLB_SLICE_STORE_H_
