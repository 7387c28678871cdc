#include "discovery/watch_stream_parser.h"

#include <algorithm>
#include <exception>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "discovery/absl_compat.h"
#include "k8slb/endpoint_slice_json.h"

namespace k8slb::discovery {
namespace {

using nlohmann::json;

// The start of a bad line, escaped, for error messages (never the whole 64 MiB).
std::string Quote(std::string_view line) {
  constexpr size_t kMax = 96;
  std::string out = absl::CHexEscape(Av(line.substr(0, kMax)));
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
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || StringField(doc, "kind") != "Status") return std::nullopt;
  return StatusFromJson(doc);
}

absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line) {
  json doc = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::DataLossError(absl::StrCat("watch event is not valid JSON: ", Quote(line)));
  }
  if (!doc.is_object()) {
    return absl::DataLossError(absl::StrCat("watch event is not a JSON object: ", Quote(line)));
  }
  std::string type = StringField(doc, "type");
  auto object = doc.find("object");
  if (object == doc.end() || !object->is_object()) {
    return absl::DataLossError(
        absl::StrCat("watch event has no \"object\" mapping: ", Quote(line)));
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
        absl::StrCat("watch event has unknown type \"", absl::CHexEscape(type.substr(0, 32)),
                     "\": ", Quote(line)));
  }
  auto metadata = object->find("metadata");
  if (metadata != object->end() && metadata->is_object()) {
    event.resource_version = StringField(*metadata, "resourceVersion");
  }
  if (event.type == WatchEventType::kBookmark) {
    // A bookmark carries only metadata.resourceVersion (the rest is an empty object).
    if (event.resource_version.empty()) {
      return absl::DataLossError(
          absl::StrCat("BOOKMARK event without metadata.resourceVersion: ", Quote(line)));
    }
    return event;
  }
  try {
    auto slice = EndpointSliceFromJson(*object);
    if (!slice.ok()) {
      return absl::DataLossError(absl::StrCat(Av(WatchEventTypeName(event.type)),
                                              " event with an invalid EndpointSlice: ",
                                              slice.status().message()));
    }
    event.slice = *std::move(slice);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(Av(WatchEventTypeName(event.type)),
                                            " event with an invalid EndpointSlice: ", e.what()));
  }
  if (event.slice.metadata.name.empty()) {
    return absl::DataLossError(absl::StrCat(Av(WatchEventTypeName(event.type)),
                                            " event whose object has no metadata.name: ",
                                            Quote(line)));
  }
  return event;
}

WatchStreamParser::WatchStreamParser(Handler handler, size_t max_line_bytes)
    : handler_(std::move(handler)), max_line_bytes_(max_line_bytes) {}

void WatchStreamParser::Reset() {
  partial_.clear();
  skipping_ = false;
}

void WatchStreamParser::HandleLine(std::string_view line) {
  if (IsBlank(line)) return;  // heartbeat
  ++lines_;
  auto event = ParseWatchEvent(line);
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
