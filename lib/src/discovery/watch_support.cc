#include "discovery/watch_support.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "discovery/files.h"

namespace k8slb::discovery {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter,
                 std::chrono::milliseconds reset_after, std::shared_ptr<RandomSource> random,
                 std::shared_ptr<Clock> clock)
    : initial_(std::max(initial, std::chrono::milliseconds(1))),
      max_(std::max(max, initial_)),
      jitter_(std::clamp(jitter, 0.0, 1.0)),
      reset_after_(reset_after),
      random_(std::move(random)),
      clock_(std::move(clock)),
      step_(initial_) {}

std::chrono::milliseconds Backoff::NextDelay() {
  const int64_t now = clock_->NowNanos();
  if (failed_before_ &&
      now - last_failure_nanos_ >
          std::chrono::duration_cast<std::chrono::nanoseconds>(reset_after_).count()) {
    step_ = initial_;  // healthy for long enough: start over
  }
  failed_before_ = true;
  last_failure_nanos_ = now;
  const std::chrono::milliseconds step = step_;
  step_ = std::min(step_ * 2, max_);
  // u in [0, 1] at 1/1000 resolution: plenty for delays of a few ms and more.
  const double u = static_cast<double>(random_->Uniform(1001)) / 1000.0;
  const auto cut = static_cast<int64_t>(std::llround(static_cast<double>(step.count()) * jitter_ * u));
  return std::chrono::milliseconds(step.count() - cut);
}

TokenSource::TokenSource(std::string literal, std::string file,
                         std::chrono::seconds reload_period, std::shared_ptr<Clock> clock)
    : token_(std::move(literal)),
      file_(std::move(file)),
      reload_period_(reload_period),
      clock_(std::move(clock)) {}

absl::Status TokenSource::Reload() {
  if (file_.empty()) return absl::OkStatus();
  last_read_nanos_ = clock_->NowNanos();
  read_once_ = true;
  ++reads_;
  // Bounded and regular files only: this runs on the watcher thread, which a FIFO would block
  // and /dev/zero would exhaust.
  absl::StatusOr<std::string> text = ReadBoundedFile(file_, kMaxTokenFileBytes, FileKind::kRegularOnly);
  if (!text.ok()) {
    last_read_status_ = absl::UnavailableError(absl::StrCat(
        "cannot read token file: ", text.status().message(), "; keeping the previous token"));
    return last_read_status_;
  }
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) {
    last_read_status_ = absl::UnavailableError(
        absl::StrCat("token file ", file_, " is empty; keeping the previous token"));
    return last_read_status_;
  }
  if (token != token_) {
    previous_token_ = std::move(token_);
    token_ = std::move(token);
  }
  last_read_status_ = absl::OkStatus();
  return last_read_status_;
}

const std::string& TokenSource::Get() {
  if (!file_.empty()) {
    const int64_t now = clock_->NowNanos();
    if (!read_once_ ||
        now - last_read_nanos_ >=
            std::chrono::duration_cast<std::chrono::nanoseconds>(reload_period_).count()) {
      Reload().IgnoreError();  // reported through last_read_status()
    }
  }
  return token_;
}

absl::Status TokenSource::ForceReload() { return Reload(); }

std::string TokenSource::Redact(std::string text) const {
  for (const std::string* t : {&token_, &previous_token_}) {
    if (t->size() >= 4) text = absl::StrReplaceAll(text, {{*t, "<redacted>"}});
  }
  return text;
}

std::string TokenSource::RedactedPrefix(std::string_view text, size_t max_chars) const {
  bool contains = false;
  for (const std::string* t : {&token_, &previous_token_}) {
    contains |= t->size() >= 4 && text.find(*t) != std::string_view::npos;
  }
  if (!contains) return std::string(text.substr(0, max_chars));
  std::string whole = Redact(std::string(text));
  whole.resize(std::min(whole.size(), max_chars));
  return whole;
}

std::string UnauthorizedMessage(absl::string_view verb, absl::string_view namespace_name,
                                absl::string_view token_file, bool has_token) {
  std::string why;
  if (!token_file.empty()) {
    why = absl::StrCat("the bearer token from ", token_file,
                       " was rejected, also after re-reading the file; check that the service "
                       "account token is mounted and not expired");
  } else if (has_token) {
    why = "the configured bearer token was rejected (there is no token file to re-read)";
  } else {
    why = "no credentials are configured (no token, token file or client certificate)";
  }
  return absl::StrCat("401 Unauthorized: the API server refused to ", verb,
                      " endpointslices in namespace \"", namespace_name, "\": ", why,
                      "; retrying with backoff");
}

std::string ForbiddenMessage(absl::string_view verb, absl::string_view namespace_name,
                             absl::string_view server_message) {
  return absl::StrCat(
      "403 Forbidden: missing permission to ", verb,
      " resource \"endpointslices\" in API group \"discovery.k8s.io\" in namespace \"",
      namespace_name, "\" (server: ", server_message.empty() ? "no message" : server_message,
      "). k8slb needs verbs list and watch. Grant them with this Role, bound to the client's "
      "service account by a RoleBinding: {apiVersion: rbac.authorization.k8s.io/v1, kind: Role, "
      "metadata: {name: k8slb-endpointslice-reader, namespace: ",
      namespace_name,
      "}, rules: [{apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, "
      "watch]}]} (kubectl create role k8slb-endpointslice-reader -n ",
      namespace_name,
      " --verb=list,watch --resource=endpointslices.discovery.k8s.io). Retrying slowly");
}

}  // namespace k8slb::discovery
