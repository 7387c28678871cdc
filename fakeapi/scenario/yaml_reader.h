// Strict reading of scenario YAML (yaml-cpp) with one error format, "FILE:LINE: FIELD: problem",
// where FIELD is the dotted path of the offending key ("pods.replicas", "timeline[2].kind").
// Shared by the cluster-half reader here and the simulator's scenario parser (sim/scenario),
// which reads its own sections of the same document with these classes. yaml-cpp reports
// positions as 0-based YAML::Mark lines; these report 1-based lines. Nothing here throws: the
// callers catch yaml-cpp's exceptions where they load the text. Plain values; thread-compatible.
#ifndef K8SLB_FAKEAPI_SCENARIO_YAML_READER_H_
#define K8SLB_FAKEAPI_SCENARIO_YAML_READER_H_

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "yaml-cpp/yaml.h"

#define K8SLB_RETURN_IF_ERROR(expr) \
  do {                              \
    absl::Status _st = (expr);      \
    if (!_st.ok()) return _st;      \
  } while (0)

namespace k8slb::fake::yaml {

// Upper bound of a time or number field that has no tighter one (keeps arithmetic finite).
inline constexpr double kHugeNumber = 1e9;

// Formats errors with the file name and a node's line.
class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  absl::Status At(int line, std::string_view field, std::string_view problem) const;
  absl::Status At(const YAML::Node& node, std::string_view field, std::string_view problem) const {
    return At(LineOf(node), field, problem);
  }
  static int LineOf(const YAML::Node& node);
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

// "a, b, c".
std::string JoinViews(std::span<const std::string_view> views);
// "path.key", or "key" at the top level.
std::string JoinPath(std::string_view path, std::string_view key);
// How a node reads in a message: "null", "\"three\"", "a list", "a mapping".
std::string TypeName(const YAML::Node& node);
// A Kubernetes DNS label (RFC 1123): lower-case letters, digits and '-', 1..63, no '-' at the ends.
bool IsDnsLabel(std::string_view s);

// Loads yaml_text and calls read(root). yaml-cpp's exceptions (from loading or from reading the
// nodes) and an empty document become one message at the offending line.
absl::Status ReadDocument(std::string_view yaml_text, const Errors& errors,
                          absl::FunctionRef<absl::Status(const YAML::Node& root)> read);
// The text of a scenario file; errors read "PATH:1: (file): problem".
absl::StatusOr<std::string> ReadScenarioFile(const std::string& path);

// Reads one YAML mapping: Check() rejects unknown and duplicate keys up front, then typed
// getters read optional keys (absent: the output keeps its default) with range checks.
class MapReader {
 public:
  MapReader(const Errors& errors, YAML::Node node, std::string path)
      : errors_(errors), node_(std::move(node)), path_(std::move(path)) {}

  // Checks that the node is a mapping whose keys are all in `allowed`.
  absl::Status Check(std::span<const std::string_view> allowed);
  absl::Status Check(std::initializer_list<std::string_view> allowed) {
    return Check(std::span<const std::string_view>(allowed.begin(), allowed.size()));
  }

  bool Has(std::string_view key) const { return Find(key) >= 0; }
  int LineOfKey(std::string_view key) const;
  int Line() const { return Errors::LineOf(node_); }
  std::string Path(std::string_view key) const { return JoinPath(path_, key); }
  YAML::Node Value(std::string_view key) const;
  absl::Status ErrorAt(std::string_view key, std::string_view problem) const {
    return errors_.At(LineOfKey(key), Path(key), problem);
  }
  const Errors& errors() const { return errors_; }

  absl::Status String(std::string_view key, std::string* out) const;
  absl::Status Bool(std::string_view key, bool* out) const;
  // A whole number in [min, max].
  absl::Status Int(std::string_view key, int64_t min, int64_t max, int64_t* out) const;
  template <typename T>
  absl::Status IntAs(std::string_view key, int64_t min, int64_t max, T* out) const {
    int64_t v = static_cast<int64_t>(*out);
    K8SLB_RETURN_IF_ERROR(Int(key, min, max, &v));
    *out = static_cast<T>(v);
    return absl::OkStatus();
  }
  // A finite number >= min (or > min when `exclusive`), <= max.
  absl::Status Number(std::string_view key, double min, bool exclusive, double max, double* out) const;
  // A list of non-empty strings; `lines` (if given) gets each item's line.
  absl::Status StringList(std::string_view key, std::vector<std::string>* out,
                          std::vector<int>* lines = nullptr) const;

 private:
  int Find(std::string_view key) const;

  const Errors& errors_;
  YAML::Node node_;
  std::string path_;
  std::vector<std::pair<std::string, YAML::Node>> keys_;
  std::vector<YAML::Node> values_;
};

}  // namespace k8slb::fake::yaml

#endif  // K8SLB_FAKEAPI_SCENARIO_YAML_READER_H_
