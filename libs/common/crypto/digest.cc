// SHA-2 through EVP_Q_digest.
#include "common/crypto/digest.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <cstdlib>

namespace semper {

size_t DigestSize(HashAlgorithm algorithm) {
  switch (algorithm) {
    case HashAlgorithm::kSha256:
      return 32;
    case HashAlgorithm::kSha384:
      return 48;
    case HashAlgorithm::kSha512:
      return 64;
  }
  return 0;
}

std::string_view HashName(HashAlgorithm algorithm) {
  switch (algorithm) {
    case HashAlgorithm::kSha256:
      return "SHA256";
    case HashAlgorithm::kSha384:
      return "SHA384";
    case HashAlgorithm::kSha512:
      return "SHA512";
  }
  return "SHA256";
}

std::string ComputeDigest(HashAlgorithm algorithm, std::string_view data) {
  std::string out(DigestSize(algorithm), '\0');
  size_t len = 0;
  if (EVP_Q_digest(nullptr, std::string(HashName(algorithm)).c_str(), nullptr, data.data(), data.size(),
                   reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != out.size()) {
    // SHA-2 is always present in OpenSSL 3's default provider; its absence is a broken install.
    std::fputs("semper: SHA-2 digest unavailable\n", stderr);
    std::abort();
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), reinterpret_cast<unsigned char*>(out.data()), &len) == nullptr ||
      len != out.size()) {
    std::fputs("semper: HMAC-SHA256 unavailable\n", stderr);
    std::abort();
  }
  return out;
}

}  // namespace semper
