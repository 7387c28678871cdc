// Incremental parser of a Kubernetes watch stream: newline-delimited JSON events
// ({"type": T, "object": O}) arriving in arbitrary chunks
// (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes).
//
// WatchStreamParser handles events split across chunks, several events per chunk, blank
// heartbeat lines, a final line without '\n' (Finish()) and garbage: a malformed line is reported
// to the handler as an error and skipped, and parsing continues with the next line. A line longer
// than max_line_bytes is reported once and discarded up to its newline, and each line is parsed
// with a depth limit (input/bounded_json.h), so a broken server cannot make the client buffer or
// allocate without bound. Error messages quote the start of a bad line only after the Redactor
// has removed secrets from the whole line. Not thread-safe: one owner feeds it (the watcher
// thread).
#ifndef K8SLB_DISCOVERY_WATCH_STREAM_PARSER_H_
#define K8SLB_DISCOVERY_WATCH_STREAM_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "k8slb/endpoint_slice.h"

namespace k8slb::discovery {

inline constexpr size_t kDefaultMaxLineBytes = size_t{16} << 20;  // DiscoveryOptions::max_event_bytes

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };
std::string_view WatchEventTypeName(WatchEventType type);

// A metav1.Status (an ERROR event's object, or the body of a non-2xx response).
struct ApiStatus {
  int code = 0;
  std::string reason;   // "Expired", "Gone", "Forbidden", "Timeout", ...
  std::string message;
  std::string cause_reason;  // details.causes[0].reason, e.g. "ResourceVersionTooLarge"
  std::optional<int> retry_after_seconds;  // details.retryAfterSeconds
};

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  std::string resource_version;  // object.metadata.resourceVersion; empty for ERROR
  EndpointSlice slice;           // ADDED / MODIFIED / DELETED
  ApiStatus status;              // ERROR
  // DELETED only: the object did not parse as an EndpointSlice, but its metadata.name (and
  // namespace) did, which is all a deletion needs; `slice` holds just those. Says why.
  std::string invalid_object;
};

// Returns at most max_chars of `text` for a message, after removing every secret from the whole
// of `text`, so that no fragment of a secret survives the cut. Null: no secrets, just cut.
using Redactor = std::function<std::string(std::string_view text, size_t max_chars)>;

// Decodes one event line. Errors say what is wrong and quote the start of the line.
absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line, const Redactor& redact = nullptr);
// Parses a Status object from a JSON body; nullopt when the body is not a Status.
std::optional<ApiStatus> ParseApiStatus(std::string_view body);

class WatchStreamParser {
 public:
  // Receives every event or error, in stream order.
  using Handler = std::function<void(absl::StatusOr<WatchEvent> event)>;

  explicit WatchStreamParser(Handler handler, size_t max_line_bytes = kDefaultMaxLineBytes,
                             Redactor redact = nullptr);

  void Feed(std::string_view data);
  // End of stream: a pending final line without '\n' is parsed as an event.
  void Finish();
  // Drops any partial line (for reuse on a new stream).
  void Reset();

  uint64_t lines() const { return lines_; }
  uint64_t errors() const { return errors_; }
  size_t buffered_bytes() const { return partial_.size(); }

 private:
  void HandleLine(std::string_view line);

  Handler handler_;
  size_t max_line_bytes_;
  Redactor redact_;
  std::string partial_;
  bool skipping_ = false;  // inside an oversized line: drop bytes until '\n'
  uint64_t lines_ = 0;
  uint64_t errors_ = 0;
};

}  // namespace k8slb::discovery

#endif  // K8SLB_DISCOVERY_WATCH_STREAM_PARSER_H_
