// Helpers shared by the discovery benchmark modes (one binary, k8slb_discovery_bench).
#ifndef K8SLB_BENCH_DISCOVERY_BENCH_UTIL_H_
#define K8SLB_BENCH_DISCOVERY_BENCH_UTIL_H_

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace k8slb::bench {

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"); -1 when unreadable.
inline long ProcStatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size()));
  }
  return -1;
}

// "load average: 1.20, 0.90, 0.70" from /proc/loadavg, printed beside every figure.
inline std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", a, b, c);
  return buf;
}

// A server process for the benchmarks that measure the client's own memory: Start() forks, the
// child runs `child` (which starts a server, reports its port with Child::Ready and waits with
// Child::Wait for the parent's signals); the parent reads the port, sends signals with Signal()
// and ends the child with Finish() (or the destructor).
class ForkedServer {
 public:
  class Child {
   public:
    void Ready(int port) const {
      if (write(to_parent_, &port, sizeof port) != sizeof port) _exit(1);
    }
    // Blocks until the parent signals (true) or finishes (false).
    bool Wait() const {
      char c;
      return read(from_parent_, &c, 1) == 1;
    }

   private:
    friend class ForkedServer;
    int to_parent_ = -1, from_parent_ = -1;
  };

  template <typename F>
  static std::unique_ptr<ForkedServer> Start(F child) {
    int up[2], down[2];
    if (pipe(up) != 0 || pipe(down) != 0) return nullptr;
    const pid_t pid = fork();
    if (pid == 0) {
      close(up[0]);
      close(down[1]);
      Child c;
      c.to_parent_ = up[1];
      c.from_parent_ = down[0];
      child(c);
      _exit(0);
    }
    close(up[1]);
    close(down[0]);
    auto server = std::unique_ptr<ForkedServer>(new ForkedServer(pid, up[0], down[1]));
    if (read(up[0], &server->port_, sizeof server->port_) != sizeof server->port_) return nullptr;
    return server;
  }
  ~ForkedServer() { Finish(); }

  int port() const { return port_; }
  bool Signal() const { return write(to_child_, "s", 1) == 1; }
  void Finish() {
    if (pid_ <= 0) return;
    close(to_child_);
    close(from_child_);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  ForkedServer(pid_t pid, int from_child, int to_child) : pid_(pid), from_child_(from_child), to_child_(to_child) {}
  pid_t pid_;
  int from_child_, to_child_;
  int port_ = 0;
};

int RunNesting(size_t bytes, bool list_page, bool flat);

// Backoff overrides for the outage modes; negative: the library's default.
struct BackoffFlags {
  int64_t initial_ms = -1, max_ms = -1;
  double jitter = -1;
};
int RunOutage(const std::vector<int>& outages_s, int trials, const BackoffFlags& flags);
int RunReconnect(int clients, int outage_s, const BackoffFlags& flags);
int RunProbe();
int RunChurn(int events);

}  // namespace k8slb::bench

#endif  // K8SLB_BENCH_DISCOVERY_BENCH_UTIL_H_
