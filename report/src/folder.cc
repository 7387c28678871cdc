// Report folders: atomic report.json writes, CSV appends, and the (following) reader (folder.h).
#include "report/folder.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
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

namespace {

// The timeline as report.json counted it: the CSV's first `timeline_final_rows` rows (rows a
// later write appended wait for the report.json that counts them), then the provisional rows,
// flagged. So the header (report.json's totals) and the charts (the rows) agree in every
// snapshot, whatever the order in which the writer's files and the reader's polls interleave.
Timeline AsOfReport(const Timeline& csv, const StrategyReport& s) {
  if (!s.timeline_final_rows && s.provisional.empty()) return csv;
  Timeline out = csv;
  const size_t keep = s.timeline_final_rows ? static_cast<size_t>(std::min<uint64_t>(csv.row_count, *s.timeline_final_rows))
                                            : csv.row_count;
  if (keep < csv.row_count) {
    out.chunks.clear();
    out.total = 0;
    out.max_t_s = -1;
    size_t taken = 0;
    for (const auto& chunk : csv.chunks) {
      if (taken == keep) break;
      std::shared_ptr<const std::vector<TimelineRow>> kept = chunk;
      if (taken + chunk->size() > keep) {
        kept = std::make_shared<const std::vector<TimelineRow>>(
            chunk->begin(), chunk->begin() + static_cast<std::ptrdiff_t>(keep - taken));
      }
      for (const TimelineRow& row : *kept) {
        out.total += row.ok + row.failed;
        out.max_t_s = std::max(out.max_t_s, row.t_s);
      }
      taken += kept->size();
      out.chunks.push_back(std::move(kept));
    }
    out.row_count = keep;
  }
  if (!s.provisional.empty()) {
    std::map<std::string_view, int32_t> index;
    for (size_t i = 0; i < out.pod_names.size(); ++i) index.emplace(out.pod_names[i], static_cast<int32_t>(i));
    std::vector<std::string> names = out.pod_names;
    auto rows = std::make_shared<std::vector<TimelineRow>>();
    rows->reserve(s.provisional.size());
    for (const ProvisionalRow& p : s.provisional) {
      auto it = index.find(p.pod);
      int32_t id = 0;
      if (it == index.end()) {
        id = static_cast<int32_t>(names.size());
        names.push_back(p.pod);
        index.emplace(names.back(), id);
      } else {
        id = it->second;
      }
      rows->push_back({.t_s = p.t_s, .pod = id, .ok = p.ok, .failed = p.failed, .p50_ms = p.p50_ms,
                       .p99_ms = p.p99_ms, .provisional = true});
      out.total += p.ok + p.failed;
      out.max_t_s = std::max(out.max_t_s, p.t_s);
    }
    out.row_count += rows->size();
    out.chunks.push_back(std::move(rows));
    out.pod_names = std::move(names);
  }
  if (s.timeline_final_s) {
    out.provisional_from_s = *s.timeline_final_s;
  } else if (!s.provisional.empty()) {
    out.provisional_from_s = s.provisional.front().t_s;
  }
  return out;
}

}  // namespace

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
  struct stat info {};
  const uint64_t inode = ::stat(json_path.c_str(), &info) == 0 ? static_cast<uint64_t>(info.st_ino) : 0;
  bool changed = false;
  if (!json_mtime_ || *json_mtime_ != mtime || json_size_ != size || json_inode_ != inode ||
      parsed_json_ == nullptr) {
    auto text = internal::ReadBounded(json_path, kMaxJsonBytes, kReportFile);
    if (!text.ok()) return text.status();
    auto parsed = ParseJson(*text, kReportFile);
    if (!parsed.ok()) return parsed.status();
    parsed_json_ = std::make_shared<const Report>(*std::move(parsed));
    json_mtime_ = mtime;
    json_size_ = size;
    json_inode_ = inode;
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
    s.timeline = AsOfReport(st.reader->timeline(), s);
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
