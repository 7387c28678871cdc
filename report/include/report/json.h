// report.json: the writer's one form of a Report and the reader that checks everything it reads
// (docs/report-format.md). Pure functions: thread-compatible.
#ifndef K8SLB_REPORT_JSON_H_
#define K8SLB_REPORT_JSON_H_

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "report/schema.h"

namespace k8slb::report {

// The largest report.json a reader accepts, and the deepest nesting of arrays and objects (a
// report needs 5; the limit leaves room for added fields). Both are checked before the text is
// parsed, so a hostile file costs at most a bounded multiple of its size.
inline constexpr size_t kMaxJsonBytes = size_t{64} << 20;
inline constexpr int kMaxJsonDepth = 32;

// report.json text: every field, two-space indent, trailing newline. Deterministic: the same
// Report gives the same bytes. Bytes of a string that are not UTF-8 are written as U+FFFD.
// Does not validate (WriteReportJson in folder.h does).
std::string ToJson(const Report& report);

// Parses and validates report.json text; the timelines are left empty and events are sorted by
// time. Errors are one line, "<file_label>: <field path>: <problem>", e.g.
// "report.json: strategies[1].rpcs.ok: expected a non-negative integer, got \"many\"".
// Fields not in the format are ignored.
absl::StatusOr<Report> ParseJson(std::string_view text, std::string_view file_label);

// Reads DIR/report.json (or the file itself when given one) with ParseJson.
absl::StatusOr<Report> LoadJson(const std::filesystem::path& dir_or_file);

}  // namespace k8slb::report

#endif  // K8SLB_REPORT_JSON_H_
