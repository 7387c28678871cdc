// Pieces of the watch loop kept apart so they can be tested exactly: the backoff policy, the
// bearer-token source with rotation, and the user-facing error messages.
//
// Backoff and TokenSource are used by the one watcher thread only (not thread-safe); the message
// functions are pure.
#ifndef K8SLB_DISCOVERY_WATCH_SUPPORT_H_
#define K8SLB_DISCOVERY_WATCH_SUPPORT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "k8slb/random.h"

namespace k8slb::discovery {

// Capped exponential backoff with jitter. The step doubles from `initial` up to `max`; each
// delay is uniform in [(1 - jitter) * step, step], so clients that failed together spread out
// (jitter 1 is "full jitter", jitter 0.5 "equal jitter":
// https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/), and no delay
// exceeds `max`, which bounds how long a client sleeps after its server is back. A failure
// after a healthy period (no failure for reset_after) starts again from `initial`.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter,
          std::chrono::milliseconds reset_after, std::shared_ptr<RandomSource> random,
          std::shared_ptr<Clock> clock);
  // The delay to wait after a failure happening now.
  std::chrono::milliseconds NextDelay();
  // The step the next failure would use (for tests and stats).
  std::chrono::milliseconds current_step() const { return step_; }

 private:
  std::chrono::milliseconds initial_, max_;
  double jitter_;
  std::chrono::milliseconds reset_after_;
  std::shared_ptr<RandomSource> random_;
  std::shared_ptr<Clock> clock_;
  std::chrono::milliseconds step_;
  int64_t last_failure_nanos_ = 0;
  bool failed_before_ = false;
};

// The bearer token: a literal, or a file re-read at most every reload_period and at once when
// ForceReload() is called (after a 401), as client-go's cached file token source does
// (https://github.com/kubernetes/client-go/blob/master/transport/token_source.go). A failed
// re-read keeps the previous token and reports the error; the file must be a regular file of at
// most kMaxTokenFileBytes (files.h).
class TokenSource {
 public:
  TokenSource(std::string literal, std::string file, std::chrono::seconds reload_period,
              std::shared_ptr<Clock> clock);
  // The token to send now (re-reads the file when the period has passed).
  const std::string& Get();
  // Re-reads the file now. OK when there is no file (nothing to re-read).
  absl::Status ForceReload();
  bool has_file() const { return !file_.empty(); }
  const std::string& file() const { return file_; }
  uint64_t reads() const { return reads_; }
  const absl::Status& last_read_status() const { return last_read_status_; }
  // Replaces every token this source has handed out in `text` with "<redacted>".
  std::string Redact(std::string text) const;
  // At most max_chars of `text` with every token removed first, so that a token that straddles
  // the cut leaves no fragment (discovery::Redactor). O(text) without copying it when no token
  // occurs.
  std::string RedactedPrefix(std::string_view text, size_t max_chars) const;

 private:
  absl::Status Reload();

  std::string token_;
  std::string previous_token_;
  std::string file_;
  std::chrono::seconds reload_period_;
  std::shared_ptr<Clock> clock_;
  int64_t last_read_nanos_ = 0;
  bool read_once_ = false;
  uint64_t reads_ = 0;
  absl::Status last_read_status_;
};

// "401 Unauthorized ..." after the token was re-read and still rejected.
std::string UnauthorizedMessage(absl::string_view verb, absl::string_view namespace_name,
                                absl::string_view token_file, bool has_token);
// "403 Forbidden ..." naming the missing permission and the Role that grants it.
std::string ForbiddenMessage(absl::string_view verb, absl::string_view namespace_name,
                             absl::string_view server_message);

}  // namespace k8slb::discovery

#endif  // K8SLB_DISCOVERY_WATCH_SUPPORT_H_
