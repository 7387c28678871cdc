// Report folders for the dashboard tests: the hand-made fixture under tests/gui/data/basic (5 pods,
// 2 strategies, 2 events; numbers documented in model_test.cc), copies of it to break on
// purpose, and generated reports with many pods. Single-threaded test helpers.
#ifndef K8SLB_TESTS_GUI_FIXTURES_H_
#define K8SLB_TESTS_GUI_FIXTURES_H_

#include <filesystem>
#include <string>
#include <vector>

#include "report_test_util.h"

namespace k8slb::dashboard::testing {

// Temporary folders and file writes, shared with the report library's tests.
using report::testing::AppendText;
using report::testing::ReplaceText;
using report::testing::TempDir;
using report::testing::WriteText;

std::filesystem::path BasicFixture();  // tests/gui/data/basic
// Copies the basic fixture into dir (which must exist).
void CopyBasicFixture(const std::filesystem::path& dir);

std::string ReadText(const std::filesystem::path& file);
// Replaces the first occurrence of `from` (which must occur) in the file.
void EditFile(const std::filesystem::path& file, const std::string& from, const std::string& to);

struct ManyPodsOptions {
  int pods = 600;
  int buckets = 4;
  bool complete = true;
  // Instead of i+1: every pod serves 1 per bucket except the last ten, which serve 100..109,
  // so in a screenshot each of the ten has a visible band of its own.
  bool ten_hot_pods = false;
};
// A complete report with `pods` pods named pod-000..., zones zone-a/b/c, one event at t=1 and
// two strategies: "least-request" where pod i serves i+1 RPCs per bucket (pod-(n-1) busiest),
// and "round-robin" where every pod serves 5 per bucket. Buckets are 1 s wide.
void WriteManyPodsReport(const std::filesystem::path& dir, const ManyPodsOptions& options);
std::string PodName(int i);

}  // namespace k8slb::dashboard::testing

#endif  // K8SLB_TESTS_GUI_FIXTURES_H_
