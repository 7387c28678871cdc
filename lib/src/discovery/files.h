// Bounded reads of the small files discovery depends on (kubeconfig, bearer token, namespace,
// PEM bundles) and validation of PEM contents, so that a token file pointing at /dev/zero fails
// with a message instead of exhausting memory, a FIFO cannot block the watcher thread, and a CA
// file that holds no certificate is refused at start-up rather than on every TLS handshake.
// Pure functions; thread-safe.
#ifndef K8SLB_DISCOVERY_FILES_H_
#define K8SLB_DISCOVERY_FILES_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace k8slb::discovery {

// Any real kubeconfig or CA bundle is far below this; the limit only stops device-like files.
inline constexpr size_t kMaxConfigFileBytes = size_t{16} << 20;
// Bearer tokens travel in one HTTP header; a service-account JWT is about 1 KiB.
inline constexpr size_t kMaxTokenFileBytes = size_t{64} << 10;

enum class FileKind {
  kRegularOnly,  // files re-read by the watcher thread: a FIFO or device is refused at once
  kAnyReadable,  // read once at start-up: also a pipe, e.g. KUBECONFIG=<(...)
};

// The whole file, at most max_bytes. NotFound when it does not exist; FailedPrecondition when it
// is a directory, not a regular file (kRegularOnly) or larger than max_bytes;
// PermissionDenied when it cannot be opened.
absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, size_t max_bytes, FileKind kind);

// At least one PEM certificate and nothing unparsable; `what` names the source in the message
// ("CA file /x/ca.crt").
absl::Status CheckPemCertificates(std::string_view pem, std::string_view what);
// One PEM private key.
absl::Status CheckPemPrivateKey(std::string_view pem, std::string_view what);

}  // namespace k8slb::discovery

#endif  // K8SLB_DISCOVERY_FILES_H_
