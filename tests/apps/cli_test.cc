// Every binary refuses bad numbers, ports and credentials with one line and the documented exit
// code (2: bad command line; 3: configuration error), before doing anything with them. Each case
// here used to be accepted: `--duration nan` ran 0 RPCs and exited 0, `--listen 127.0.0.1:99999`
// bound port 34463, `--token-file` went over plain http, an empty current-context said
// `no entry "null"`.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace {

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

// Runs `binary args...` with stdin from /dev/null; kills it after 60 s (a hang is a failure).
Outcome Exec(const std::string& binary, const std::vector<std::string>& args,
         const std::vector<std::string>& env = {}) {
  int out_pipe[2], err_pipe[2];
  EXPECT_EQ(pipe(out_pipe), 0);
  EXPECT_EQ(pipe(err_pipe), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    const int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    close(out_pipe[0]);
    close(err_pipe[0]);
    for (const std::string& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  Outcome run;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (poll(fds, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? run.out : run.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  if (open_fds > 0) {
    kill(pid, SIGKILL);
    ADD_FAILURE() << binary << " did not finish within 60 s";
    for (auto& f : fds) {
      if (f.fd >= 0) close(f.fd);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

// Expects exit code `code` and `fragment` on the last line of stderr. A bad command line (2) is
// that one line alone; a configuration error (3) may follow the line saying which configuration
// was chosen.
void ExpectRefused(const std::string& binary, const std::vector<std::string>& args, int code,
                   const std::string& fragment) {
  std::string cmd = binary.substr(binary.rfind('/') + 1);
  for (const auto& a : args) cmd += " " + a;
  const Outcome r = Exec(binary, args);
  EXPECT_EQ(r.exit_code, code) << cmd << "\nstderr: " << r.err << "\nstdout: " << r.out.substr(0, 500);
  ASSERT_FALSE(r.err.empty()) << cmd;
  const size_t last = r.err.rfind('\n', r.err.size() - 2);
  const std::string last_line = r.err.substr(last == std::string::npos ? 0 : last + 1);
  EXPECT_NE(last_line.find(fragment), std::string::npos) << cmd << "\nstderr: " << r.err;
  EXPECT_EQ(r.err.back(), '\n') << cmd;
  if (code == 2) {
    EXPECT_EQ(last, std::string::npos) << cmd << ": one line expected, got\n" << r.err;
  }
}

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "k8slb-cli-XXXXXX").string();
    path_ = mkdtemp(templ.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& content) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << content;
    return p;
  }

 private:
  std::string path_;
};

const std::string kClient = K8SLB_CLIENT_BIN;
const std::string kEcho = K8SLB_ECHO_SERVER_BIN;
const std::string kFakeApi = K8SLB_FAKEAPI_BIN;
const std::string kSim = K8SLB_SIM_BIN;

TEST(ClientCli, NumbersMustBeFiniteAndInRange) {
  ExpectRefused(kClient, {"--duration", "nan"}, 2, "--duration: \"nan\" is not a number");
  ExpectRefused(kClient, {"--duration", "inf"}, 2, "--duration: \"inf\" is not a number");
  ExpectRefused(kClient, {"--duration", "1e99"}, 2, "--duration: \"1e99\" is out of range");
  ExpectRefused(kClient, {"--sync-timeout", "1e99"}, 2, "--sync-timeout: \"1e99\" is out of range");
  ExpectRefused(kClient, {"--requests", "99999999999999999999"}, 2,
                "--requests: \"99999999999999999999\" is out of range");
  ExpectRefused(kClient, {"--requests", "1e3"}, 2, "--requests: \"1e3\" is not an integer");
  ExpectRefused(kClient, {"--rps", "-1"}, 2, "--rps: \"-1\" is out of range");
  ExpectRefused(kClient, {"--timeout-ms", "0"}, 2, "--timeout-ms: \"0\" is out of range");
  ExpectRefused(kClient, {"--concurrency", "10001"}, 2, "--concurrency: \"10001\" is out of range");
}

TEST(ClientCli, NoTokenOverPlainHttp) {
  TempDir dir;
  const std::string token = dir.Write("token", "tok-cleartext-123");
  ExpectRefused(kClient, {"--server", "http://127.0.0.1:1", "--token-file", token}, 2,
                "refusing to send the bearer token from " + token + " over plain http");
  ExpectRefused(kClient, {"--token-file", token}, 2, "apply to --server only");
}

TEST(ClientCli, ConfigurationErrorsExit3) {
  TempDir dir;
  const std::string garbage = dir.Write("ca.crt", "this is no certificate\n");
  ExpectRefused(kClient, {"--server", "https://127.0.0.1:1", "--ca-file", garbage}, 3,
                "CA certificate file " + garbage + " holds no PEM certificate");
  ExpectRefused(kClient, {"--server", "ftp://127.0.0.1:1"}, 3, "must use https");
  ExpectRefused(kClient, {"--server", "https://127.0.0.1:1", "--pod-ca-file", garbage}, 3,
                "--pod-ca-file: --pod-ca-file " + garbage + " holds no PEM certificate");
  ExpectRefused(kClient, {"--server", "https://127.0.0.1:1", "--pod-ca-file", "/dev/zero"}, 3,
                "/dev/zero is not a regular file");
  ExpectRefused(kClient, {"--server", "https://127.0.0.1:1", "--token-file", "/dev/zero"}, 3,
                "/dev/zero is not a regular file");
  const std::string kubeconfig = dir.Write("config",
                                           "apiVersion: v1\nkind: Config\ncurrent-context:\n"
                                           "contexts: []\nclusters: []\nusers: []\n");
  ExpectRefused(kClient, {"--kubeconfig", kubeconfig}, 3, "no current-context set");
  // The command line itself stays exit 2.
  ExpectRefused(kClient, {"--server", "https://127.0.0.1:1", "--target", "kubernetes:///"}, 2, "--target: ");
}

TEST(ClientCli, StartupLineSaysWhenTlsVerificationIsOff) {
  const Outcome r = Exec(kClient, {"--server", "https://127.0.0.1:1", "--insecure-skip-tls-verify",
                               "--sync-timeout", "0.2"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("using explicit --server https://127.0.0.1:1, no token, TLS verification OFF "
                       "(--insecure-skip-tls-verify)"),
            std::string::npos)
      << r.err;
}

TEST(EchoServerCli, PortsAndLatenciesAreChecked) {
  ExpectRefused(kEcho, {"--listen", "127.0.0.1:99999"}, 2,
                "--listen: the port in \"127.0.0.1:99999\" must be within [0, 65535]");
  ExpectRefused(kEcho, {"--listen", "127.0.0.1:4294967297"}, 2, "must be a number within [0, 65535]");
  ExpectRefused(kEcho, {"--latency-ms", "inf"}, 2, "--latency-ms: \"inf\" is not a number");
  ExpectRefused(kEcho, {"--latency-ms", "nan"}, 2, "--latency-ms: \"nan\" is not a number");
  ExpectRefused(kEcho, {"--jitter-ms", "-3"}, 2, "--jitter-ms: \"-3\" is out of range");
  ExpectRefused(kEcho, {"--error-rate", "1.5"}, 2, "--error-rate: \"1.5\" is out of range");
  ExpectRefused(kEcho, {"--grace", "nan"}, 2, "--grace: \"nan\" is not a number");
}

TEST(FakeApiCli, NumbersAndPortsAreChecked) {
  ExpectRefused(kFakeApi, {"--speed", "inf"}, 2, "--speed: \"inf\" is not a number");
  ExpectRefused(kFakeApi, {"--speed", "0"}, 2, "--speed: \"0\" is out of range");
  ExpectRefused(kFakeApi, {"--listen", "127.0.0.1:99999"}, 2, "must be within [0, 65535]");
  ExpectRefused(kFakeApi, {"--bookmark-interval", "nan"}, 2, "--bookmark-interval: \"nan\" is not a number");
  ExpectRefused(kFakeApi, {"--token-rotation", "1e300"}, 2, "--token-rotation: \"1e300\" is out of range");
  ExpectRefused(kFakeApi, {"--max-endpoints-per-slice", "1e3"}, 2, "is not an integer");
}

TEST(SimCli, NumbersAreChecked) {
  ExpectRefused(kSim, {"run", "steady", "--duration", "inf"}, 2, "--duration: \"inf\" is not a number");
  ExpectRefused(kSim, {"run", "steady", "--speed", "inf"}, 2, "--speed: \"inf\" is not a number");
  ExpectRefused(kSim, {"run", "steady", "--speed", "nan"}, 2, "--speed: \"nan\" is not a number");
  ExpectRefused(kSim, {"run", "steady", "--seed", "-1"}, 2, "--seed: \"-1\" is not a non-negative integer");
}

TEST(DashboardCli, NumbersAreChecked) {
#ifdef K8SLB_DASHBOARD_BIN
  const std::string dashboard = K8SLB_DASHBOARD_BIN;
  ExpectRefused(dashboard, {"--top", "1e3", "x"}, 2, "--top: \"1e3\" is not an integer");
  ExpectRefused(dashboard, {"--merge", "99999999999999999999", "x"}, 2, "--merge: \"99999999999999999999\" is out of range");
  ExpectRefused(dashboard, {"--size", "99999x99999", "--screenshot", "/tmp/x.png", "x"}, 2,
                "--size width: \"99999\" is out of range");
#else
  GTEST_SKIP() << "built without the dashboard (K8SLB_BUILD_GUI=OFF or no Qt 6)";
#endif
}

}  // namespace
