#include "discovery/watch_stream_parser.h"

#include <algorithm>
#include <exception>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "discovery/absl_compat.h"
#include "input/bounded_json.h"
#include "k8slb/endpoint_slice_json.h"

namespace k8slb::discovery {
namespace {

using nlohmann::json;

// At most max_chars of untrusted text, secrets removed before the cut.
std::string Cut(std::string_view text, size_t max_chars, const Redactor& redact) {
  if (redact) return redact(text, max_chars);
  return std::string(text.substr(0, max_chars));
}

// The start of a bad line, escaped, for error messages (never the whole 64 MiB).
std::string Quote(std::string_view line, const Redactor& redact) {
  constexpr size_t kMax = 96;
  std::string out = absl::CHexEscape(Cut(line, kMax, redact));
  if (line.size() > kMax) absl::StrAppend(&out, "... (", line.size(), " bytes)");
  return absl::StrCat("\"", out, "\"");
}

std::string StringField(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

ApiStatus StatusFromJson(const json& obj) {
  ApiStatus status;
  auto code = obj.find("code");
  if (code != obj.end() && code->is_number_integer()) status.code = code->get<int>();
  status.reason = StringField(obj, "reason");
  status.message = StringField(obj, "message");
  auto details = obj.find("details");
  if (details != obj.end() && details->is_object()) {
    auto ra = details->find("retryAfterSeconds");
    if (ra != details->end() && ra->is_number_integer()) status.retry_after_seconds = ra->get<int>();
    auto causes = details->find("causes");
    if (causes != details->end() && causes->is_array() && !causes->empty() &&
        causes->front().is_object()) {
      status.cause_reason = StringField(causes->front(), "reason");
    }
  }
  return status;
}

bool IsBlank(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

}  // namespace

std::string_view WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
    case WatchEventType::kError:
      return "ERROR";
  }
  return "?";
}

std::optional<ApiStatus> ParseApiStatus(std::string_view body) {
  absl::StatusOr<json> doc = input::ParseJson(body);
  if (!doc.ok() || !doc->is_object() || StringField(*doc, "kind") != "Status") return std::nullopt;
  return StatusFromJson(*doc);
}

absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line, const Redactor& redact) {
  absl::StatusOr<json> parsed = input::ParseJson(line);
  if (!parsed.ok()) {
    absl::string_view why = parsed.status().message();
    absl::ConsumePrefix(&why, "invalid JSON: ");
    return absl::DataLossError(
        absl::StrCat("watch event is not valid JSON: ", Quote(line, redact), " (", why, ")"));
  }
  const json& doc = *parsed;
  if (!doc.is_object()) {
    return absl::DataLossError(
        absl::StrCat("watch event is not a JSON object: ", Quote(line, redact)));
  }
  std::string type = StringField(doc, "type");
  auto object = doc.find("object");
  if (object == doc.end() || !object->is_object()) {
    return absl::DataLossError(
        absl::StrCat("watch event has no \"object\" mapping: ", Quote(line, redact)));
  }
  WatchEvent event;
  if (type == "ADDED") {
    event.type = WatchEventType::kAdded;
  } else if (type == "MODIFIED") {
    event.type = WatchEventType::kModified;
  } else if (type == "DELETED") {
    event.type = WatchEventType::kDeleted;
  } else if (type == "BOOKMARK") {
    event.type = WatchEventType::kBookmark;
  } else if (type == "ERROR") {
    event.type = WatchEventType::kError;
    event.status = StatusFromJson(*object);
    return event;
  } else {
    return absl::DataLossError(
        absl::StrCat("watch event has unknown type \"", absl::CHexEscape(Cut(type, 32, redact)),
                     "\": ", Quote(line, redact)));
  }
  auto metadata = object->find("metadata");
  if (metadata != object->end() && metadata->is_object()) {
    event.resource_version = StringField(*metadata, "resourceVersion");
  }
  if (event.type == WatchEventType::kBookmark) {
    // A bookmark carries only metadata.resourceVersion (the rest is an empty object).
    if (event.resource_version.empty()) {
      return absl::DataLossError(
          absl::StrCat("BOOKMARK event without metadata.resourceVersion: ", Quote(line, redact)));
    }
    return event;
  }
  absl::Status invalid;
  try {
    auto slice = EndpointSliceFromJson(*object);
    if (slice.ok()) {
      event.slice = *std::move(slice);
    } else {
      invalid = slice.status();
    }
  } catch (const std::exception& e) {
    invalid = absl::DataLossError(e.what());
  }
  if (!invalid.ok() && event.type == WatchEventType::kDeleted) {
    // A deletion needs only the key: skipping it would keep a deleted slice's endpoints until
    // the next relist.
    if (metadata != object->end() && metadata->is_object()) {
      event.slice.metadata.name = StringField(*metadata, "name");
      event.slice.metadata.namespace_name = StringField(*metadata, "namespace");
    }
    if (!event.slice.metadata.name.empty()) {
      event.invalid_object = std::string(invalid.message());
      return event;
    }
  }
  if (!invalid.ok()) {
    return absl::DataLossError(absl::StrCat(Av(WatchEventTypeName(event.type)),
                                            " event with an invalid EndpointSlice: ",
                                            Cut(std::string(invalid.message()), 512, redact)));
  }
  if (event.slice.metadata.name.empty()) {
    return absl::DataLossError(absl::StrCat(Av(WatchEventTypeName(event.type)),
                                            " event whose object has no metadata.name: ",
                                            Quote(line, redact)));
  }
  return event;
}

WatchStreamParser::WatchStreamParser(Handler handler, size_t max_line_bytes, Redactor redact)
    : handler_(std::move(handler)), max_line_bytes_(max_line_bytes), redact_(std::move(redact)) {}

void WatchStreamParser::Reset() {
  partial_.clear();
  skipping_ = false;
}

void WatchStreamParser::HandleLine(std::string_view line) {
  if (IsBlank(line)) return;  // heartbeat
  ++lines_;
  auto event = ParseWatchEvent(line, redact_);
  if (!event.ok()) ++errors_;
  handler_(std::move(event));
}

void WatchStreamParser::Feed(std::string_view data) {
  while (!data.empty()) {
    size_t nl = data.find('\n');
    std::string_view piece = data.substr(0, nl);
    if (skipping_) {
      if (nl == std::string_view::npos) return;
      skipping_ = false;
    } else if (partial_.size() + piece.size() > max_line_bytes_) {
      ++errors_;
      handler_(absl::ResourceExhaustedError(absl::StrCat(
          "watch event line exceeds the limit of ", max_line_bytes_,
          " bytes; skipped (is the server sending a newline after each event?)")));
      partial_.clear();
      partial_.shrink_to_fit();
      skipping_ = nl == std::string_view::npos;
    } else if (nl == std::string_view::npos) {
      partial_.append(piece);
      return;
    } else if (partial_.empty()) {
      HandleLine(piece);  // whole line inside this chunk: no copy
    } else {
      partial_.append(piece);
      std::string line = std::move(partial_);
      partial_.clear();
      HandleLine(line);
    }
    if (nl == std::string_view::npos) return;
    data.remove_prefix(nl + 1);
  }
}

void WatchStreamParser::Finish() {
  if (!skipping_ && !partial_.empty()) {
    std::string line = std::move(partial_);
    partial_.clear();
    HandleLine(line);
  }
  Reset();
}

}  // namespace k8slb::discovery
