// Subprocess: the tests' way to run the real binaries (k8slb-sim, k8slb-fakeapi, k8slb-client).
//
// The child gets exactly the environment given, its own process group (so a kill reaches
// whatever it started), optionally another uid/gid, and optionally a seccomp filter that makes
// every namespace-creating call fail with EPERM, as a container runtime's default profile or a
// locked-down distribution does: that is how the tests reach the "no namespace can be made" path
// on a machine where one can. A thread drains stdout and stderr all the time, so a chatty child
// never blocks on a full pipe.
//
// Threading: one owner thread; the destructor kills the process group (SIGKILL) if the child
// still runs and reaps it.
#ifndef K8SLB_TESTS_SIM_LIVE_SUBPROCESS_H_
#define K8SLB_TESTS_SIM_LIVE_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace k8slb::testing {

struct ProcessResult {
  int exit_code = -1;  // -1: killed (on timeout or by a signal)
  int signal = 0;      // the signal that ended it, if one did
  bool timed_out = false;
  std::string out;
  std::string err;
};

struct SpawnOptions {
  std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  std::optional<uid_t> uid;  // setgid/setuid (and no supplementary groups) before exec
  std::optional<gid_t> gid;
  bool deny_namespaces = false;  // seccomp: unshare, setns and namespace clones fail with EPERM
  std::string cwd;               // empty: the caller's
};

class Subprocess {
 public:
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const std::vector<std::string>& argv,
                                                           const SpawnOptions& options = {});
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // Waits until `needle` appears in stdout or stderr; false when the child exited or the timeout
  // passed first.
  bool WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout);
  void Signal(int sig);
  // Waits for the exit; on timeout kills the process group and reports timed_out.
  ProcessResult Wait(std::chrono::milliseconds timeout);
  std::string out() const;
  std::string err() const;

 private:
  Subprocess() = default;
  void Drain(int out_fd, int err_fd);

  pid_t pid_ = -1;
  bool reaped_ = false;
  ProcessResult result_;
  mutable absl::Mutex mu_;
  std::string out_ ABSL_GUARDED_BY(mu_);
  std::string err_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;  // both pipes reached EOF
  std::thread drainer_;
};

// Start + Wait.
ProcessResult RunProcess(const std::vector<std::string>& argv, const SpawnOptions& options,
                         std::chrono::milliseconds timeout);

}  // namespace k8slb::testing

#endif  // K8SLB_TESTS_SIM_LIVE_SUBPROCESS_H_
