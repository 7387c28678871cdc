// Report folders: atomic report.json writes, CSV appends, and the (following) reader (folder.h).
#include "report/folder.h"

#include <algorithm>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "read_file.h"
#include "report/json.h"

namespace k8slb::report {
namespace {

namespace fs = std::filesystem;

// A CSV is read in pieces of at most this many bytes, so a large file never needs one buffer of
// its whole size on top of the rows it holds.
constexpr size_t kCsvPiece = size_t{8} << 20;

}  // namespace

absl::Status WriteReportJson(const fs::path& dir, const Report& report) {
  if (absl::Status st = Validate(report); !st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("refusing to write an invalid report: ", st.message()));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir.string(), ": cannot create: ", ec.message()));
  const std::string json = ToJson(report);
  const fs::path final_path = dir / kReportFile;
  const fs::path tmp = dir / (std::string(kReportFile) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
    out << json;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat(tmp.string(), ": write failed"));
  }
  fs::rename(tmp, final_path, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(final_path.string(), ": rename failed: ", ec.message()));
  }
  return absl::OkStatus();
}

absl::Status AppendToFile(const fs::path& file, std::string_view text, bool truncate) {
  std::ofstream out(file, (truncate ? std::ios::trunc : std::ios::app) | std::ios::binary);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat(file.string(), ": write failed"));
  return absl::OkStatus();
}

FolderReader::FolderReader(fs::path dir, ReadMode mode) : dir_(std::move(dir)), mode_(mode) {}

absl::Status FolderReader::ReadCsv(const std::string& file, double horizon_s, bool final_read,
                                   CsvState& st) {
  const fs::path path = dir_ / file;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": not a regular file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(file, ": cannot open for reading"));
  in.seekg(0, std::ios::end);
  const auto end = static_cast<uint64_t>(std::max<std::streamoff>(0, in.tellg()));
  if (end < st.offset || !st.reader) {
    // First read, or the file was rewritten from scratch (a new run in the same folder).
    st = CsvState{};
    st.reader.emplace(file, horizon_s);
  }
  std::string piece;
  while (true) {
    const uint64_t left = end - st.offset;
    const bool last_piece = left <= kCsvPiece;
    piece.resize(static_cast<size_t>(std::min<uint64_t>(left, kCsvPiece)));
    in.seekg(static_cast<std::streamoff>(st.offset));
    in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
    if (!in) return absl::DataLossError(absl::StrCat(file, ": read failed"));
    size_t used = 0;
    const absl::Status status = st.reader->Feed(piece, final_read && last_piece, &used);
    st.offset += used;
    if (!status.ok()) return status;
    if (last_piece) return absl::OkStatus();
  }
}

absl::StatusOr<bool> FolderReader::Poll() {
  const fs::path json_path = dir_ / kReportFile;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    return absl::NotFoundError(absl::StrCat(dir_.string(), ": not a directory"));
  }
  const auto mtime = fs::last_write_time(json_path, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat(
        kReportFile, ": not found in ", dir_.string(),
        " (a k8slb-sim report folder holds report.json and timeline CSVs)"));
  }
  const uintmax_t size = fs::file_size(json_path, ec);
  bool changed = false;
  if (!json_mtime_ || *json_mtime_ != mtime || json_size_ != size || parsed_json_ == nullptr) {
    auto text = internal::ReadBounded(json_path, kMaxJsonBytes, kReportFile);
    if (!text.ok()) return text.status();
    auto parsed = ParseJson(*text, kReportFile);
    if (!parsed.ok()) return parsed.status();
    parsed_json_ = std::make_shared<const Report>(*std::move(parsed));
    json_mtime_ = mtime;
    json_size_ = size;
    changed = true;
  }

  auto report = std::make_shared<Report>(*parsed_json_);
  const double horizon = TimeHorizon(report->timeline_bucket_s);
  const bool final_read = mode_ == ReadMode::kRecorded || report->complete;
  for (size_t i = 0; i < report->strategies.size(); ++i) {
    StrategyReport& s = report->strategies[i];
    if (!fs::exists(dir_ / s.timeline_csv, ec)) {
      if (report->complete) {
        return absl::NotFoundError(absl::StrCat(
            s.timeline_csv, ": not found (named by report.json strategies[", i, "].timeline_csv)"));
      }
      report->warnings.push_back(absl::StrCat(s.timeline_csv, ": not written yet"));
      continue;
    }
    CsvState& st = csv_[s.timeline_csv];
    const size_t rows_before = st.reader ? st.reader->timeline().row_count : 0;
    const uint64_t offset_before = st.offset;
    if (absl::Status status = ReadCsv(s.timeline_csv, horizon, final_read, st); !status.ok()) {
      return status;
    }
    if (st.reader->timeline().row_count != rows_before || st.offset != offset_before) changed = true;
    s.timeline = st.reader->timeline();
  }

  // Rows and events validated against the horizon keep this within kMaxBuckets buckets.
  for (const auto& s : report->strategies) {
    if (s.timeline.max_t_s >= 0) {
      report->duration_s = std::max(report->duration_s, s.timeline.max_t_s + report->timeline_bucket_s);
    }
  }
  for (const auto& e : report->events) report->duration_s = std::max(report->duration_s, e.t_s);
  report->duration_s = std::min(report->duration_s, horizon);

  if (report->complete) {
    // A finished run's timelines must add up to its totals; say so when they do not, because
    // charts drawn from both would otherwise silently disagree with each other.
    for (const auto& s : report->strategies) {
      std::vector<uint64_t> sums(s.timeline.pod_names.size(), 0);
      s.timeline.ForEachRow([&](const TimelineRow& row) { sums[static_cast<size_t>(row.pod)] += row.ok; });
      for (size_t p = 0; p < sums.size(); ++p) {
        const std::string& pod = s.timeline.pod_names[p];
        if (pod == kNoPod) continue;
        auto it = s.per_pod.find(pod);
        const uint64_t want = it == s.per_pod.end() ? 0 : it->second;
        if (want != sums[p]) {
          report->warnings.push_back(absl::StrCat(s.timeline_csv, ": pod ", pod, " has ", sums[p],
                                                  " ok RPCs in the timeline but ", want,
                                                  " in report.json per_pod (strategy ", s.name, ")"));
          break;
        }
      }
    }
  } else if (mode_ == ReadMode::kRecorded) {
    report->warnings.push_back(absl::StrFormat(
        "report.json: the run is not complete (\"complete\": false); showing the first %.1f s. "
        "Use --follow to watch a live run.",
        report->duration_s));
  }
  if (changed || snapshot_ == nullptr || snapshot_->warnings != report->warnings) {
    snapshot_ = std::move(report);
    return true;
  }
  return false;
}

absl::StatusOr<std::shared_ptr<const Report>> LoadFolder(const fs::path& dir) {
  FolderReader reader(dir, ReadMode::kRecorded);
  auto changed = reader.Poll();
  if (!changed.ok()) return changed.status();
  return reader.snapshot();
}

}  // namespace k8slb::report
