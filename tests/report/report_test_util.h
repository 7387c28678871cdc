// Helpers for the report library's tests: a temporary folder, file writes, and a small valid
// report. Single-threaded test helpers.
#ifndef K8SLB_TESTS_REPORT_REPORT_TEST_UTIL_H_
#define K8SLB_TESTS_REPORT_REPORT_TEST_UTIL_H_

#include <filesystem>
#include <string>

#include "report/schema.h"

namespace k8slb::report::testing {

// A fresh empty directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void WriteText(const std::filesystem::path& file, const std::string& text);
void AppendText(const std::filesystem::path& file, const std::string& text);
// Writes via a temporary file and a rename, as a live run replaces report.json.
void ReplaceText(const std::filesystem::path& file, const std::string& text);

// A valid report: 3 pods (one deleted at 6 s), 2 strategies, 1 event, 10 s in 1 s buckets.
Report SmallReport();

}  // namespace k8slb::report::testing

#endif  // K8SLB_TESTS_REPORT_REPORT_TEST_UTIL_H_
