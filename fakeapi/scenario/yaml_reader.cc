// Strict scenario YAML reading (see yaml_reader.h).
#include "fakeapi/scenario/yaml_reader.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace k8slb::fake::yaml {
namespace {

// Debian's Abseil has its own string_view type (not std's): convert at the boundary.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

absl::Status Errors::At(int line, std::string_view field, std::string_view problem) const {
  return absl::InvalidArgumentError(absl::StrCat(file_, ":", line, ": ", AV(field), ": ", AV(problem)));
}

int Errors::LineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.line >= 0 ? mark.line + 1 : 1;
}

std::string JoinViews(std::span<const std::string_view> views) {
  std::string out;
  for (std::string_view v : views) {
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

std::string JoinPath(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(AV(path), ".", AV(key));
}

std::string TypeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Scalar: return absl::StrCat("\"", node.Scalar(), "\"");
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "nothing";
  }
}

bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return s.front() != '-' && s.back() != '-';
}

absl::Status ReadDocument(std::string_view yaml_text, const Errors& errors,
                          absl::FunctionRef<absl::Status(const YAML::Node& root)> read) {
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root || root.IsNull()) return errors.At(1, "(document)", "empty file (expected a mapping with the scenario)");
    return read(root);
  } catch (const YAML::ParserException& ex) {
    return errors.At(ex.mark.line >= 0 ? ex.mark.line + 1 : 1, "(yaml)", absl::StrCat("malformed YAML: ", ex.msg));
  } catch (const YAML::Exception& ex) {
    return errors.At(ex.mark.line >= 0 ? ex.mark.line + 1 : 1, "(yaml)", ex.msg);
  }
}

absl::StatusOr<std::string> ReadScenarioFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ":1: (file): cannot read the file"));
  // Scenario files are a few KiB; the cap keeps memory bounded when pointed at /dev/zero.
  constexpr size_t kMaxBytes = 16 << 20;
  std::string text;
  char buffer[64 * 1024];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxBytes) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":1: (file): larger than 16 MiB; not a scenario file"));
    }
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ":1: (file): read error"));
  return text;
}

absl::Status MapReader::Check(std::span<const std::string_view> allowed) {
  if (!node_.IsMap()) {
    return errors_.At(node_, path_.empty() ? "(document)" : path_,
                      absl::StrCat("expected a mapping, got ", TypeName(node_)));
  }
  std::set<std::string> seen;
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar()) {
      return errors_.At(kv.first, path_.empty() ? "(document)" : path_, "keys must be plain strings");
    }
    const std::string key = kv.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return errors_.At(kv.first, JoinPath(path_, key),
                        absl::StrCat("unknown field (allowed: ", JoinViews(allowed), ")"));
    }
    if (!seen.insert(key).second) return errors_.At(kv.first, JoinPath(path_, key), "duplicate field");
    keys_.push_back({key, kv.first});
    values_.push_back(kv.second);
  }
  return absl::OkStatus();
}

int MapReader::LineOfKey(std::string_view key) const {
  const int i = Find(key);
  return i >= 0 ? Errors::LineOf(keys_[i].second) : Errors::LineOf(node_);
}

YAML::Node MapReader::Value(std::string_view key) const {
  const int i = Find(key);
  return i >= 0 ? values_[i] : YAML::Node();
}

absl::Status MapReader::String(std::string_view key, std::string* out) const {
  const int i = Find(key);
  if (i < 0) return absl::OkStatus();
  const YAML::Node& v = values_[i];
  if (!v.IsScalar()) return ErrorAt(key, absl::StrCat("expected a string, got ", TypeName(v)));
  *out = v.Scalar();
  return absl::OkStatus();
}

absl::Status MapReader::Bool(std::string_view key, bool* out) const {
  const int i = Find(key);
  if (i < 0) return absl::OkStatus();
  const YAML::Node& v = values_[i];
  bool b = false;
  if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b)) {
    return ErrorAt(key, absl::StrCat("expected true or false, got ", TypeName(v)));
  }
  *out = b;
  return absl::OkStatus();
}

absl::Status MapReader::Int(std::string_view key, int64_t min, int64_t max, int64_t* out) const {
  const int i = Find(key);
  if (i < 0) return absl::OkStatus();
  const YAML::Node& v = values_[i];
  long long n = 0;
  if (!v.IsScalar() || !YAML::convert<long long>::decode(v, n)) {
    return ErrorAt(key, absl::StrCat("expected a whole number, got ", TypeName(v)));
  }
  if (n < min || n > max) {
    return ErrorAt(key, max == INT32_MAX || max == INT64_MAX
                            ? absl::StrCat("must be at least ", min, ", got ", n)
                            : absl::StrCat("must be in [", min, ", ", max, "], got ", n));
  }
  *out = n;
  return absl::OkStatus();
}

absl::Status MapReader::Number(std::string_view key, double min, bool exclusive, double max,
                               double* out) const {
  const int i = Find(key);
  if (i < 0) return absl::OkStatus();
  const YAML::Node& v = values_[i];
  double d = 0;
  if (!v.IsScalar() || !YAML::convert<double>::decode(v, d) || !std::isfinite(d)) {
    return ErrorAt(key, absl::StrCat("expected a number, got ", TypeName(v)));
  }
  if (exclusive ? d <= min : d < min) {
    return ErrorAt(key, absl::StrFormat("must be %s %g, got %g", exclusive ? "greater than" : "at least", min, d));
  }
  if (d > max) return ErrorAt(key, absl::StrFormat("must be at most %g, got %g", max, d));
  *out = d;
  return absl::OkStatus();
}

absl::Status MapReader::StringList(std::string_view key, std::vector<std::string>* out,
                                   std::vector<int>* lines) const {
  const int i = Find(key);
  if (i < 0) return absl::OkStatus();
  const YAML::Node& v = values_[i];
  if (!v.IsSequence()) return ErrorAt(key, absl::StrCat("expected a list of strings, got ", TypeName(v)));
  out->clear();
  if (lines != nullptr) lines->clear();
  for (size_t j = 0; j < v.size(); ++j) {
    if (!v[j].IsScalar() || v[j].Scalar().empty()) {
      return errors_.At(v[j], absl::StrCat(Path(key), "[", j, "]"),
                        absl::StrCat("expected a non-empty string, got ", TypeName(v[j])));
    }
    out->push_back(v[j].Scalar());
    if (lines != nullptr) lines->push_back(Errors::LineOf(v[j]));
  }
  return absl::OkStatus();
}

int MapReader::Find(std::string_view key) const {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i].first == key) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace k8slb::fake::yaml
