#include "tls.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace k8slb::fakeapi {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

absl::Status SslError(const char* what) {
  unsigned long code = ERR_get_error();
  char buf[256] = {0};
  if (code != 0) ERR_error_string_n(code, buf, sizeof(buf));
  return absl::InternalError(absl::StrCat("TLS setup: ", what, ": ", buf));
}

absl::Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return SslError(OBJ_nid2sn(nid));
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (!ok) return SslError("X509_add_ext");
  return absl::OkStatus();
}

absl::StatusOr<X509Ptr> MakeCert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                                 bool is_ca, const std::string& san) {
  X509Ptr cert(X509_new());
  if (!cert) return SslError("X509_new");
  X509_set_version(cert.get(), 2);
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) return SslError("RAND_bytes");
  serial_bytes[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                             0);
  X509* signer = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (is_ca) {
    if (auto s = AddExt(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE"); !s.ok()) return s;
    if (auto s = AddExt(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"); !s.ok())
      return s;
    if (auto s = AddExt(cert.get(), signer, NID_subject_key_identifier, "hash"); !s.ok()) return s;
  } else {
    if (auto s = AddExt(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE"); !s.ok()) return s;
    if (auto s = AddExt(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyEncipherment"); !s.ok())
      return s;
    if (auto s = AddExt(cert.get(), signer, NID_ext_key_usage, "serverAuth"); !s.ok()) return s;
    if (auto s = AddExt(cert.get(), signer, NID_subject_key_identifier, "hash"); !s.ok()) return s;
    if (auto s = AddExt(cert.get(), signer, NID_authority_key_identifier, "keyid:always"); !s.ok()) return s;
    if (auto s = AddExt(cert.get(), signer, NID_subject_alt_name, san); !s.ok()) return s;
  }
  if (X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0) return SslError("X509_sign");
  return cert;
}

std::string CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

absl::StatusOr<GeneratedTls> GenerateTls(const std::vector<std::string>& ip_sans,
                                         const std::vector<std::string>& dns_sans) {
  PkeyPtr ca_key(EVP_EC_gen("P-256"));
  if (!ca_key) return SslError("CA key");
  PkeyPtr server_key(EVP_EC_gen("P-256"));
  if (!server_key) return SslError("server key");
  auto ca = MakeCert(ca_key.get(), "k8slb-fakeapi-ca", nullptr, nullptr, /*is_ca=*/true, "");
  if (!ca.ok()) return ca.status();
  std::vector<std::string> sans;
  for (const auto& ip : ip_sans) sans.push_back("IP:" + ip);
  for (const auto& dns : dns_sans) sans.push_back("DNS:" + dns);
  auto leaf = MakeCert(server_key.get(), "kube-apiserver", ca->get(), ca_key.get(), /*is_ca=*/false,
                       absl::StrJoin(sans, ","));
  if (!leaf.ok()) return leaf.status();
  GeneratedTls out;
  out.ca_cert_pem = CertPem(ca->get());
  out.server_cert_pem = CertPem(leaf->get()) + out.ca_cert_pem;
  out.server_key_pem = KeyPem(server_key.get());
  return out;
}

}  // namespace k8slb::fakeapi
