// Reading a whole file with a size limit, for the report readers (private to k8slb_report).
#ifndef K8SLB_REPORT_SRC_READ_FILE_H_
#define K8SLB_REPORT_SRC_READ_FILE_H_

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace k8slb::report::internal {

// The content of `path`, which must be a regular file of at most `max_bytes` bytes (a FIFO or a
// device such as /dev/zero is refused before it is read). Messages start with `label`.
absl::StatusOr<std::string> ReadBounded(const std::filesystem::path& path, size_t max_bytes,
                                        absl::string_view label);

}  // namespace k8slb::report::internal

#endif  // K8SLB_REPORT_SRC_READ_FILE_H_
