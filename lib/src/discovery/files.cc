#include "discovery/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "discovery/absl_compat.h"

namespace k8slb::discovery {

absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, size_t max_bytes, FileKind kind) {
  // O_NONBLOCK: opening a FIFO for reading must not wait for a writer before fstat can refuse it.
  const int flags = O_RDONLY | O_CLOEXEC | (kind == FileKind::kRegularOnly ? O_NONBLOCK : 0);
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    return absl::PermissionDeniedError(absl::StrCat(path, " cannot be opened: ", std::strerror(err)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(path, " cannot be read: ", std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(path, " is a directory"));
  if (kind == FileKind::kRegularOnly && !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " is not a regular file (",
        S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) ? "a character device"
                                          : S_ISSOCK(st.st_mode) ? "a socket" : "a special file",
        ")"));
  }
  std::string out;
  char buf[64 * 1024];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::PermissionDeniedError(absl::StrCat(path, " cannot be read: ", std::strerror(errno)));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is larger than ", max_bytes, " bytes; refusing to read it"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

namespace {

// OpenSSL's error queue, as one line, then cleared (it is per thread and would leak into the next
// unrelated report).
std::string OpenSslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no PEM data" : out;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

}  // namespace

absl::Status CheckPemCertificates(std::string_view pem, std::string_view what) {
  ERR_clear_error();
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::ResourceExhaustedError("BIO_new_mem_buf failed");
  int certs = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_free(cert);
    ++certs;
  }
  // The loop ends with "no start line" at the end of the data: expected after the last one.
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (certs == 0 || (last != 0 && !clean_end)) {
    const std::string why = OpenSslError();
    return absl::InvalidArgumentError(absl::StrCat(
        Av(what), certs == 0 ? " holds no PEM certificate" : " holds a certificate that does not parse",
        " (", why, ")"));
  }
  ERR_clear_error();
  return absl::OkStatus();
}

absl::Status CheckPemPrivateKey(std::string_view pem, std::string_view what) {
  ERR_clear_error();
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::ResourceExhaustedError("BIO_new_mem_buf failed");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(Av(what), " holds no PEM private key (", OpenSslError(), ")"));
  }
  EVP_PKEY_free(key);
  ERR_clear_error();
  return absl::OkStatus();
}

}  // namespace k8slb::discovery
