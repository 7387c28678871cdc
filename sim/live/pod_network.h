// Where a live run's pods listen, and the private network namespace that makes that honest.
//
// A real API server refuses loopback endpoint addresses (127.0.0.0/8, ::1), so pods on 127.x
// would be a picture no cluster can show. Instead the live engine runs the whole run inside a
// private network namespace (network_namespaces(7)) where lo is up and 198.18.0.0/15, the
// benchmarking range of RFC 2544 (RFC 6890 §2.2.2), is a `local` route: every address in it can
// be bound and reached without adding addresses one by one, and a second run (its own process,
// its own namespace) cannot collide with the first.
//
// Linux keeps the network namespace per thread, and a socket stays in the namespace it was
// created in (setns(2)). PodNamespace::Enter() therefore moves the calling thread, and with it
// every thread created afterwards (gRPC's, fakeapi's, the pods' servers, child processes), into
// the namespace, after starting one I/O thread that stays in the host's namespace: sockets
// opened there reach the host's network (the relay to a user's API server, see HostSide()).
//
// Without CAP_SYS_ADMIN the namespace is created inside a new user namespace (user_namespaces(7):
// unprivileged user namespaces), which the kernel allows only for a single-threaded process. The
// whole sequence is first rehearsed in a forked child, so when the system refuses (a sysctl, an
// AppArmor policy, a seccomp filter) the process is left exactly as it was and the reason says
// which step failed.
#ifndef K8SLB_SIM_LIVE_POD_NETWORK_H_
#define K8SLB_SIM_LIVE_POD_NETWORK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/live/tcp_proxy.h"

namespace k8slb::sim::live {

// An IPv4 block: `base` is the network address (host byte order).
struct Ipv4Block {
  uint32_t base = 0;
  int prefix = 32;

  static absl::StatusOr<Ipv4Block> Parse(const std::string& cidr);  // "198.18.0.0/15"
  uint64_t size() const { return uint64_t{1} << (32 - prefix); }
  bool Contains(uint32_t address) const;
  bool Contains(const Ipv4Block& other) const;
  bool Overlaps(const Ipv4Block& other) const;
  std::string ToString() const;  // "198.18.0.0/24"
};
std::string Ipv4ToString(uint32_t address);
std::optional<uint32_t> ParseIpv4(const std::string& text);

inline constexpr char kPodRange[] = "198.18.0.0/15";

enum class PodPlacement {
  kNamespace,  // private network namespace, addresses from 198.18.0.0/15
  kLoopback,   // the host's loopback, 127.x (an explicit opt-in: a real API server refuses it)
};

// The addresses of one live run: the pods' block and the ClusterIP proxy's virtual IP.
struct PodAddressPlan {
  PodPlacement placement = PodPlacement::kNamespace;
  std::string pod_cidr;    // what the cluster model allocates pod IPs from
  std::string service_ip;  // where the ClusterIP proxy listens
  std::string note;        // one line for the run's output when the scenario's podCIDR was moved
};

// kNamespace: a podCIDR inside 198.18.0.0/15 is kept; any other (the 127.x default included) is
// replaced by the block of the same size (at most a /16) at 198.18.0.0, and the ClusterIP proxy
// listens at 198.19.0.1 (or, when the pods use that, the first address of 198.18.0.0/15 outside
// their block). kLoopback: the podCIDR must lie in 127.0.0.0/8; the proxy listens at 127.0.0.2.
absl::StatusOr<PodAddressPlan> PlanPodAddresses(const std::string& scenario_pod_cidr,
                                                PodPlacement placement);

// A run of `count` consecutive TCP ports held on the host for the life of the object, so that
// pods on the host's loopback (kLoopback) can listen on 127.x.y.z:PORT without colliding with
// another run on the same machine: each port is bound on 0.0.0.0 with SO_REUSEADDR and never
// listens. The kernel then gives the port to no one else's bind (an ephemeral bind(0) skips a
// port in use, and a specific bind without SO_REUSEADDR is refused), while this run's gRPC
// servers (which set SO_REUSEADDR) may bind it on their own addresses (socket(7), SO_REUSEADDR:
// only a listening socket on the port excludes them). Move-only; thread-compatible.
class PortReservation {
 public:
  // The first port is the kernel's choice; the rest follow it. Unavailable when no such run was
  // found after a few tries.
  static absl::StatusOr<PortReservation> Reserve(int count);
  PortReservation(PortReservation&& other) noexcept;
  PortReservation& operator=(PortReservation&& other) noexcept;
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;
  ~PortReservation();

  int first() const { return first_; }

 private:
  PortReservation() = default;
  void Close();

  std::vector<int> fds_;
  int first_ = 0;
};

// The process's private network namespace. Created once per process by the first Enter() and
// never left: the threads that moved in stay in it until the process exits, which also removes
// the namespace (nothing to clean up on the host). Thread-safe; HostSide() may be used from any
// thread.
class PodNamespace {
 public:
  // Enters the namespace (first call; later calls return the same object and move the calling
  // thread in too when it is not inside yet — possible as root only). FailedPrecondition with
  // the reason when it cannot be made; the process is unchanged then.
  static absl::StatusOr<PodNamespace*> Enter();
  // The namespace if some thread entered it, else null. Does not create it.
  static PodNamespace* Current();

  // Whether the calling thread is inside.
  bool CallerInside() const;
  // The I/O thread that stays in the host's network namespace (see the file comment).
  const std::shared_ptr<IoThread>& HostSide() const { return host_side_; }
  // Makes `ipv4` (an address outside 198.18.0.0/15, e.g. a remote API server's) local inside
  // the namespace so a relay can listen on it. Idempotent. Calling thread must be inside.
  absl::Status AddLocalAddress(const std::string& ipv4);
  bool user_namespace() const { return user_namespace_; }
  // "private network namespace (unprivileged, in a user namespace)" or "(as root)".
  std::string Describe() const;

 private:
  PodNamespace(std::shared_ptr<IoThread> host_side, uint64_t inode, bool user_namespace)
      : host_side_(std::move(host_side)), inode_(inode), user_namespace_(user_namespace) {}

  std::shared_ptr<IoThread> host_side_;
  uint64_t inode_;  // the namespace's inode (st_ino of /proc/thread-self/ns/net)
  bool user_namespace_;
};

// Why no namespace could be made, if one cannot, without making one (a forked child tries the
// whole sequence). nullopt: PodNamespace::Enter() would succeed from this thread now.
std::optional<std::string> PodNamespaceUnavailable();

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_POD_NETWORK_H_
