// OpenSSL error-queue and BIO helpers.
#include "common/crypto/ossl.h"

#include <openssl/err.h>

#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper::ossl {

std::string DrainErrors() {
  std::string out;
  unsigned long err;
  while ((err = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    const char* reason = ERR_reason_error_string(err);
    out += reason != nullptr ? reason : buf;
  }
  return out;
}

absl::Status Error(absl::StatusCode code, v1::ErrorReason reason, std::string_view what) {
  std::string errors = DrainErrors();
  if (errors.empty()) return MakeError(code, reason, what);
  return MakeError(code, reason, StrCat(what, " (", errors, ")"));
}

std::string NameToString(const X509_NAME* name) {
  auto bio = WriteBio();
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  return BioContents(bio.get());
}

std::vector<std::string> NameAttributes(const X509_NAME* name, std::string_view oid_or_name) {
  std::vector<std::string> out;
  Asn1ObjectPtr obj(OBJ_txt2obj(std::string(oid_or_name).c_str(), 0));
  if (!obj) return out;
  for (int idx = X509_NAME_get_index_by_OBJ(name, obj.get(), -1); idx >= 0;
       idx = X509_NAME_get_index_by_OBJ(name, obj.get(), idx)) {
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    if (len < 0) continue;
    out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
  }
  return out;
}

BioPtr ReadBio(std::string_view data) { return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size()))); }

BioPtr WriteBio() { return BioPtr(BIO_new(BIO_s_mem())); }

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

ASN1_SEQUENCE(SpkiParts) =
    {
        ASN1_SIMPLE(SpkiParts, algor, X509_ALGOR),
        ASN1_SIMPLE(SpkiParts, key, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(SpkiParts)

        absl::Status SetSpki(X509_PUBKEY * to, const X509_ALGOR* algor, const unsigned char* bits, int bits_len) {
  const ASN1_OBJECT* alg = nullptr;
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  X509_ALGOR_get0(&alg, &param_type, &param, algor);
  if (alg == nullptr) return Error(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, "public key info");
  void* param_copy = nullptr;
  if (param_type == V_ASN1_OBJECT) {
    param_copy = OBJ_dup(static_cast<const ASN1_OBJECT*>(param));
  } else if (param_type == V_ASN1_SEQUENCE || param_type == V_ASN1_OCTET_STRING) {
    param_copy = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(param));
  } else if (param_type != V_ASN1_UNDEF && param_type != V_ASN1_NULL) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM, "unexpected key parameters");
  }
  auto* bits_copy = static_cast<unsigned char*>(OPENSSL_memdup(bits, static_cast<size_t>(bits_len)));
  if (X509_PUBKEY_set0_param(to, OBJ_dup(alg), param_type, param_copy, bits_copy, bits_len) != 1) {
    OPENSSL_free(bits_copy);
    return Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "setting the public key");
  }
  return absl::OkStatus();
}

}  // namespace semper::ossl
