// OpenSSL error-queue and BIO helpers.
#include "common/crypto/ossl.h"

#include <openssl/err.h>

#include "common/base/strings.h"
#include "common/base/status.h"

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

BioPtr ReadBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

BioPtr WriteBio() { return BioPtr(BIO_new(BIO_s_mem())); }

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

}  // namespace semper::ossl
