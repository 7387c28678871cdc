#include "sim/live/pod_network.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

namespace k8slb::sim::live {

// ---- IPv4 blocks ------------------------------------------------------------------------------

std::optional<uint32_t> ParseIpv4(const std::string& text) {
  in_addr a{};
  if (::inet_pton(AF_INET, text.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string Ipv4ToString(uint32_t address) {
  return absl::StrCat(address >> 24, ".", (address >> 16) & 0xff, ".", (address >> 8) & 0xff, ".",
                      address & 0xff);
}

absl::StatusOr<Ipv4Block> Ipv4Block::Parse(const std::string& cidr) {
  std::vector<std::string> parts = absl::StrSplit(cidr, '/');
  int prefix = 0;
  std::optional<uint32_t> address;
  if (parts.size() == 2) address = ParseIpv4(parts[0]);
  if (!address || !absl::SimpleAtoi(parts[1], &prefix) || prefix < 0 || prefix > 32) {
    return absl::InvalidArgumentError(absl::StrCat("\"", cidr, "\" is not an IPv4 CIDR"));
  }
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return Ipv4Block{*address & mask, prefix};
}

bool Ipv4Block::Contains(uint32_t address) const {
  return static_cast<uint64_t>(address) - base < size() && address >= base;
}

bool Ipv4Block::Contains(const Ipv4Block& other) const {
  return other.prefix >= prefix && Contains(other.base);
}

bool Ipv4Block::Overlaps(const Ipv4Block& other) const {
  return Contains(other) || other.Contains(*this);
}

std::string Ipv4Block::ToString() const { return absl::StrCat(Ipv4ToString(base), "/", prefix); }

absl::StatusOr<PodAddressPlan> PlanPodAddresses(const std::string& scenario_pod_cidr,
                                                PodPlacement placement) {
  absl::StatusOr<Ipv4Block> given = Ipv4Block::Parse(scenario_pod_cidr);
  if (!given.ok()) return absl::InvalidArgumentError(absl::StrCat("podCIDR ", given.status().message()));
  PodAddressPlan plan;
  plan.placement = placement;
  if (placement == PodPlacement::kLoopback) {
    const Ipv4Block loopback{0x7f000000, 8};
    if (!loopback.Contains(*given)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "podCIDR ", scenario_pod_cidr,
          " is not on loopback (127.0.0.0/8), where pods run with --pod-network loopback"));
    }
    plan.pod_cidr = given->ToString();
    plan.service_ip = "127.0.0.2";
    return plan;
  }
  const Ipv4Block range = *Ipv4Block::Parse(kPodRange);
  Ipv4Block pods = *given;
  if (!range.Contains(pods)) {
    pods = Ipv4Block{range.base, std::max(given->prefix, 16)};
    plan.note = absl::StrCat("pods take their addresses from ", pods.ToString(),
                             " in the run's network namespace (the scenario's podCIDR ",
                             scenario_pod_cidr, " is outside ", kPodRange, ")");
  }
  plan.pod_cidr = pods.ToString();
  // The ClusterIP proxy's address: 198.19.0.1 (a Service-range-like address beside the pods),
  // else the first address of the range the pods leave free.
  for (uint32_t candidate : {0xc6130001u /* 198.19.0.1 */, range.base + 1,
                             static_cast<uint32_t>(range.base + range.size() - 2)}) {
    if (!pods.Contains(candidate)) {
      plan.service_ip = Ipv4ToString(candidate);
      return plan;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("podCIDR ", scenario_pod_cidr, " fills ",
                                                 kPodRange, " and leaves no address for the "
                                                 "ClusterIP proxy; use at most a /16"));
}

// ---- The namespace ----------------------------------------------------------------------------

namespace {

// Steps of the sequence, for messages. Everything between fork() and _exit() in the rehearsal
// child is async-signal-safe (syscalls on preformatted buffers only).
enum Step : int {
  kStepNone = 0,
  kStepUserNs,
  kStepSetgroups,
  kStepUidMap,
  kStepGidMap,
  kStepNetNs,
  kStepLoopbackUp,
  kStepLocalRoute,
  kStepBind,
};

const char* StepName(int step) {
  switch (step) {
    case kStepUserNs: return "unshare(CLONE_NEWUSER)";
    case kStepSetgroups: return "writing /proc/self/setgroups";
    case kStepUidMap: return "writing /proc/self/uid_map";
    case kStepGidMap: return "writing /proc/self/gid_map";
    case kStepNetNs: return "unshare(CLONE_NEWNET)";
    case kStepLoopbackUp: return "bringing lo up";
    case kStepLocalRoute: return "adding the local route 198.18.0.0/15 on lo";
    case kStepBind: return "binding 198.18.0.1";
    default: return "?";
  }
}

struct Failure {
  int step = kStepNone;
  int error = 0;
};

// Preformatted text for the user namespace's id maps (map our own ids to themselves, so files
// the run writes belong to the user as usual).
struct IdMaps {
  char uid_map[64] = {};
  char gid_map[64] = {};
};

bool WriteFile(const char* path, const char* text) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const size_t n = std::strlen(text);
  const bool ok = ::write(fd, text, n) == static_cast<ssize_t>(n);
  ::close(fd);
  return ok;
}

int LoopbackUp() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, "lo", 3);
  int err = 0;
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
    err = errno;
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) err = errno;
  }
  ::close(fd);
  return err;
}

int LoopbackIndex() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, "lo", 3);
  const int rc = ::ioctl(fd, SIOCGIFINDEX, &ifr);
  ::close(fd);
  return rc == 0 ? ifr.ifr_ifindex : -1;
}

// `ip route add local BASE/PREFIX dev lo table local` over rtnetlink (rtnetlink(7)). 0, EEXIST
// or the errno the kernel acknowledged with.
int AddLocalRoute(uint32_t base, int prefix) {
  const int lo = LoopbackIndex();
  if (lo < 0) return ENODEV;
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return errno;
  struct {
    nlmsghdr header;
    rtmsg route;
    char attributes[64];
  } request{};
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  request.header.nlmsg_type = RTM_NEWROUTE;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  request.header.nlmsg_seq = 1;
  request.route.rtm_family = AF_INET;
  request.route.rtm_dst_len = static_cast<unsigned char>(prefix);
  request.route.rtm_table = RT_TABLE_LOCAL;
  request.route.rtm_protocol = RTPROT_BOOT;
  request.route.rtm_scope = RT_SCOPE_HOST;
  request.route.rtm_type = RTN_LOCAL;
  auto add_attribute = [&request](unsigned short type, const void* data, size_t length) {
    auto* attribute = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&request.header) +
                                                NLMSG_ALIGN(request.header.nlmsg_len));
    attribute->rta_type = type;
    attribute->rta_len = static_cast<unsigned short>(RTA_LENGTH(length));
    std::memcpy(RTA_DATA(attribute), data, length);
    request.header.nlmsg_len = NLMSG_ALIGN(request.header.nlmsg_len) + RTA_ALIGN(attribute->rta_len);
  };
  const uint32_t destination = htonl(base);
  add_attribute(RTA_DST, &destination, sizeof(destination));
  add_attribute(RTA_OIF, &lo, sizeof(lo));
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  int err = 0;
  if (::sendto(fd, &request, request.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof(kernel)) < 0) {
    err = errno;
  } else {
    alignas(nlmsghdr) char reply[512];
    ssize_t n = ::recv(fd, reply, sizeof(reply), 0);
    auto* header = reinterpret_cast<nlmsghdr*>(reply);
    if (n < 0) {
      err = errno;
    } else if (n < static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr))) ||
               header->nlmsg_type != NLMSG_ERROR) {
      err = EPROTO;
    } else {
      err = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(header))->error;
    }
  }
  ::close(fd);
  return err;
}

// The namespace sequence. `user_namespace`: create a user namespace first (no CAP_SYS_ADMIN).
Failure MakeNamespace(bool user_namespace, const IdMaps& maps) {
  if (user_namespace) {
    if (::unshare(CLONE_NEWUSER) != 0) return {kStepUserNs, errno};
    // setgroups must be denied before an unprivileged process may write gid_map.
    if (!WriteFile("/proc/self/setgroups", "deny")) return {kStepSetgroups, errno};
    if (!WriteFile("/proc/self/uid_map", maps.uid_map)) return {kStepUidMap, errno};
    if (!WriteFile("/proc/self/gid_map", maps.gid_map)) return {kStepGidMap, errno};
  }
  if (::unshare(CLONE_NEWNET) != 0) return {kStepNetNs, errno};
  if (int err = LoopbackUp(); err != 0) return {kStepLoopbackUp, err};
  if (int err = AddLocalRoute(0xc6120000u /* 198.18.0.0 */, 15); err != 0 && err != EEXIST) {
    return {kStepLocalRoute, err};
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {kStepBind, errno};
  sockaddr_in probe{};
  probe.sin_family = AF_INET;
  probe.sin_addr.s_addr = htonl(0xc6120001u);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&probe), sizeof(probe));
  const int bind_errno = errno;
  ::close(fd);
  if (rc != 0) return {kStepBind, bind_errno};
  return {};
}

bool HasCapSysAdmin() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    uint64_t caps = 0;
    if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(line.substr(7)), &caps)) return false;
    return (caps >> CAP_SYS_ADMIN) & 1;
  }
  return false;
}

int ThreadCount() {
  int n = 0;
  if (DIR* dir = ::opendir("/proc/self/task")) {
    while (dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] != '.') ++n;
    }
    ::closedir(dir);
  }
  return n;
}

std::string ReadSysctl(const char* path) {
  std::ifstream f(path);
  std::string value;
  if (!(f >> value)) return "";
  return value;
}

// What the system says about unprivileged user namespaces, to name the likely cause.
std::string UserNamespaceHints() {
  std::vector<std::string> hints;
  if (ReadSysctl("/proc/sys/kernel/unprivileged_userns_clone") == "0") {
    hints.push_back("kernel.unprivileged_userns_clone is 0");
  }
  if (ReadSysctl("/proc/sys/user/max_user_namespaces") == "0") {
    hints.push_back("user.max_user_namespaces is 0");
  }
  if (ReadSysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1") {
    hints.push_back("AppArmor restricts unprivileged user namespaces "
                    "(kernel.apparmor_restrict_unprivileged_userns is 1)");
  }
  if (hints.empty()) return "";
  return absl::StrCat(" (", absl::StrJoin(hints, "; "), ")");
}

std::string Explain(const Failure& failure, bool user_namespace) {
  std::string text = absl::StrCat(StepName(failure.step), " failed: ", std::strerror(failure.error));
  if (user_namespace) {
    absl::StrAppend(&text, "; without root this needs unprivileged user namespaces",
                    UserNamespaceHints());
  }
  return text;
}

IdMaps MakeIdMaps() {
  IdMaps maps;
  std::snprintf(maps.uid_map, sizeof(maps.uid_map), "%u %u 1\n", ::getuid(), ::getuid());
  std::snprintf(maps.gid_map, sizeof(maps.gid_map), "%u %u 1\n", ::getgid(), ::getgid());
  return maps;
}

// Runs the whole sequence in a forked child; the parent is untouched.
std::optional<Failure> Rehearse(bool user_namespace) {
  const IdMaps maps = MakeIdMaps();
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Failure{kStepNone, errno};
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return Failure{kStepNone, err};
  }
  if (pid == 0) {
    const Failure f = MakeNamespace(user_namespace, maps);
    (void)!::write(pipe_fds[1], &f, sizeof(f));
    ::_exit(f.step == kStepNone ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  Failure f{kStepNone, EPIPE};
  ssize_t n;
  do {
    n = ::read(pipe_fds[0], &f, sizeof(f));
  } while (n < 0 && errno == EINTR);
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof(f))) return Failure{kStepNone, EPIPE};
  if (f.step != kStepNone) return f;
  return std::nullopt;
}

uint64_t CallerNamespaceInode() {
  struct stat st{};
  if (::stat("/proc/thread-self/ns/net", &st) != 0) return 0;
  return st.st_ino;
}

absl::Mutex g_mu;
PodNamespace* g_namespace ABSL_GUARDED_BY(g_mu) = nullptr;
int g_namespace_fd ABSL_GUARDED_BY(g_mu) = -1;

}  // namespace

std::optional<std::string> PodNamespaceUnavailable() {
  const bool user_namespace = !HasCapSysAdmin();
  if (user_namespace && ThreadCount() > 1) {
    return absl::StrCat("without root the namespace must be made inside a user namespace, which "
                        "only a single-threaded process may enter, and ",
                        ThreadCount(), " threads run already");
  }
  if (std::optional<Failure> failure = Rehearse(user_namespace)) {
    if (failure->step == kStepNone) {
      return absl::StrCat("could not rehearse the namespace in a child process: ",
                          std::strerror(failure->error));
    }
    return Explain(*failure, user_namespace);
  }
  return std::nullopt;
}

absl::StatusOr<PodNamespace*> PodNamespace::Enter() {
  absl::MutexLock lock(&g_mu);
  if (g_namespace != nullptr) {
    if (g_namespace->CallerInside()) return g_namespace;
    if (::setns(g_namespace_fd, CLONE_NEWNET) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot move this thread into the pods' network namespace: setns: ", std::strerror(errno)));
    }
    return g_namespace;
  }
  const bool user_namespace = !HasCapSysAdmin();
  if (std::optional<std::string> why = PodNamespaceUnavailable()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no private network namespace for the pods: ", *why));
  }
  const IdMaps maps = MakeIdMaps();
  // The user namespace first (it needs a single thread), then the host-side thread (it stays in
  // the host's network namespace), then the network namespace for this thread.
  if (user_namespace) {
    if (::unshare(CLONE_NEWUSER) != 0 || !WriteFile("/proc/self/setgroups", "deny") ||
        !WriteFile("/proc/self/uid_map", maps.uid_map) ||
        !WriteFile("/proc/self/gid_map", maps.gid_map)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "entering a user namespace failed after a successful rehearsal: ", std::strerror(errno)));
    }
  }
  std::shared_ptr<IoThread> host_side = IoThread::Create();
  const Failure failure = MakeNamespace(/*user_namespace=*/false, maps);
  if (failure.step != kStepNone) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no private network namespace for the pods (after a successful rehearsal): ",
        Explain(failure, false)));
  }
  g_namespace_fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  g_namespace = new PodNamespace(std::move(host_side), CallerNamespaceInode(), user_namespace);
  return g_namespace;
}

PodNamespace* PodNamespace::Current() {
  absl::MutexLock lock(&g_mu);
  return g_namespace;
}

bool PodNamespace::CallerInside() const { return CallerNamespaceInode() == inode_; }

absl::Status PodNamespace::AddLocalAddress(const std::string& ipv4) {
  std::optional<uint32_t> address = ParseIpv4(ipv4);
  if (!address) return absl::InvalidArgumentError(absl::StrCat("\"", ipv4, "\" is not an IPv4 address"));
  if (!CallerInside()) {
    return absl::FailedPreconditionError("AddLocalAddress: the calling thread is not in the namespace");
  }
  const Ipv4Block loopback{0x7f000000, 8};
  if (loopback.Contains(*address) || Ipv4Block::Parse(kPodRange)->Contains(*address)) {
    return absl::OkStatus();  // already local
  }
  if (int err = AddLocalRoute(*address, 32); err != 0 && err != EEXIST) {
    return absl::UnavailableError(absl::StrCat("cannot make ", ipv4,
                                               " local in the pods' namespace: ", std::strerror(err)));
  }
  return absl::OkStatus();
}

std::string PodNamespace::Describe() const {
  return user_namespace_ ? "private network namespace (unprivileged, inside a user namespace)"
                         : "private network namespace (as root)";
}

// ---- PortReservation ----

namespace {

// A TCP socket bound to 0.0.0.0:port with SO_REUSEADDR (port 0: the kernel's choice), or -1.
int BindReserved(int port, int* bound_port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof(addr);
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *bound_port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace

absl::StatusOr<PortReservation> PortReservation::Reserve(int count) {
  if (count < 1 || count > 64) {
    return absl::InvalidArgumentError(absl::StrCat("port reservation: count ", count, " outside 1..64"));
  }
  constexpr int kTries = 32;
  for (int attempt = 0; attempt < kTries; ++attempt) {
    PortReservation r;
    int fd = BindReserved(0, &r.first_);
    if (fd < 0) return absl::UnavailableError(absl::StrCat("port reservation: bind 0.0.0.0:0: ", std::strerror(errno)));
    r.fds_.push_back(fd);
    bool complete = r.first_ + count - 1 <= 65535;
    for (int i = 1; i < count && complete; ++i) {
      int port = 0;
      fd = BindReserved(r.first_ + i, &port);
      if (fd < 0) {
        complete = false;
      } else {
        r.fds_.push_back(fd);
      }
    }
    if (complete) return r;
  }
  return absl::UnavailableError(absl::StrCat("port reservation: no run of ", count,
                                             " free consecutive TCP ports found in ", kTries, " tries"));
}

PortReservation::PortReservation(PortReservation&& other) noexcept
    : fds_(std::move(other.fds_)), first_(other.first_) {
  other.fds_.clear();
}

PortReservation& PortReservation::operator=(PortReservation&& other) noexcept {
  if (this != &other) {
    Close();
    fds_ = std::move(other.fds_);
    other.fds_.clear();
    first_ = other.first_;
  }
  return *this;
}

PortReservation::~PortReservation() { Close(); }

void PortReservation::Close() {
  for (int fd : fds_) ::close(fd);
  fds_.clear();
}

}  // namespace k8slb::sim::live
