// Report folders for the dashboard tests: the hand-made fixture under tests/gui/data/basic (5 pods,
// 2 strategies, 2 events; numbers documented in model_test.cc), copies of it to break on
// purpose, and generated reports with many pods. Single-threaded test helpers.
#ifndef K8SLB_TESTS_GUI_FIXTURES_H_
#define K8SLB_TESTS_GUI_FIXTURES_H_

#include <filesystem>
#include <string>
#include <vector>

namespace k8slb::dashboard::testing {

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

std::filesystem::path BasicFixture();  // tests/gui/data/basic
// Copies the basic fixture into dir (which must exist).
void CopyBasicFixture(const std::filesystem::path& dir);

std::string ReadText(const std::filesystem::path& file);
void WriteText(const std::filesystem::path& file, const std::string& text);
void AppendText(const std::filesystem::path& file, const std::string& text);
// Writes via a temporary file and rename, as a live sim writes report.json.
void ReplaceText(const std::filesystem::path& file, const std::string& text);
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
