// A report folder: DIR/report.json plus one timeline CSV per strategy (docs/report-format.md).
// The writer side replaces report.json atomically and appends timeline rows; the reader side
// loads a recorded folder once or follows one a live run is still writing.
#ifndef K8SLB_REPORT_FOLDER_H_
#define K8SLB_REPORT_FOLDER_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "report/schema.h"
#include "report/timeline_csv.h"

namespace k8slb::report {

inline constexpr char kReportFile[] = "report.json";

// ---- writing (any thread; callers serialize writes to one folder) ----

// Validates `report`, then writes DIR/report.json through a temporary file and a rename, so a
// reader never sees half a file. Creates DIR.
absl::Status WriteReportJson(const std::filesystem::path& dir, const Report& report);

// Appends `text` to `file`, or replaces the file's content when `truncate` (the first write of
// a run, over a previous run's file).
absl::Status AppendToFile(const std::filesystem::path& file, std::string_view text, bool truncate);

// ---- reading ----

enum class ReadMode {
  kRecorded,  // one complete read; a CSV must end with a complete row
  kFollow,    // a live run: a trailing half-written CSV row waits for the next poll
};

// Reads a report folder and, on each Poll(), whatever changed since the previous one: report.json
// again when its file, size or modification time changed (the writer replaces it by rename), and only
// the bytes appended to each timeline CSV since the last poll.
//
// In a snapshot, duration_s is raised to cover the last timeline bucket and the last event (a
// live run's CSV rows can be ahead of its report.json), never beyond TimeHorizon().
//
// Not thread-safe: one thread owns a FolderReader and calls Poll(); the snapshots it hands out
// are immutable and may be read from any thread.
class FolderReader {
 public:
  explicit FolderReader(std::filesystem::path dir, ReadMode mode = ReadMode::kRecorded);

  // Returns whether the snapshot changed. On error the previous snapshot stays in place and the
  // status names the file and the problem ("report.json: strategies[1].name: missing (a
  // required field)"); a later Poll() retries.
  absl::StatusOr<bool> Poll();

  // The last good report; null before the first successful Poll().
  std::shared_ptr<const Report> snapshot() const { return snapshot_; }

 private:
  struct CsvState {
    uint64_t offset = 0;  // bytes consumed (always at a line boundary)
    std::optional<TimelineCsvReader> reader;
  };

  absl::Status ReadCsv(const std::string& file, double horizon_s, bool final_read, CsvState& st);

  std::filesystem::path dir_;
  ReadMode mode_;
  std::optional<std::filesystem::file_time_type> json_mtime_;
  uintmax_t json_size_ = 0;
  // The writer replaces report.json by rename: a new file (inode) each write, even when two writes
  // within one timestamp tick leave the same size and modification time.
  uint64_t json_inode_ = 0;
  std::shared_ptr<const Report> parsed_json_;  // report.json only, timelines empty
  std::map<std::string, CsvState> csv_;        // by file name
  std::shared_ptr<const Report> snapshot_;
};

// Reads a recorded report folder completely: FolderReader(dir).Poll() once.
absl::StatusOr<std::shared_ptr<const Report>> LoadFolder(const std::filesystem::path& dir);

}  // namespace k8slb::report

#endif  // K8SLB_REPORT_FOLDER_H_
