// Bounded whole-file reads for the report readers (read_file.h).
#include "read_file.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace k8slb::report::internal {

absl::StatusOr<std::string> ReadBounded(const std::filesystem::path& path, size_t max_bytes,
                                        absl::string_view label) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat(label, ": cannot read (no such file)"));
  }
  if (!std::filesystem::is_regular_file(status)) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": not a regular file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(label, ": cannot open for reading"));
  in.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(std::max<std::streamoff>(0, in.tellg()));
  if (size > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": too large (", size, " bytes; the limit is ", max_bytes, ")"));
  }
  in.seekg(0);
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return absl::DataLossError(absl::StrCat(label, ": read failed"));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

}  // namespace k8slb::report::internal
