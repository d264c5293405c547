// Detached CMS SignedData for hot paths (a guarantee per request, thousands per second): the
// parts that do not change between signatures (signer identifier, algorithm identifiers, the
// certificate block) are taken once from a SignedData that OpenSSL's CMS_sign made, and each
// signature then costs one digest, one private-key operation and a few DER concatenations,
// instead of building and encoding OpenSSL's CMS objects twice (with and without certificates).
// Output is the same structure CmsSignDetached makes (signed attributes contentType,
// signingTime, messageDigest) and is checked by OpenSSL's parser and `openssl cms -verify` in
// the tests. Immutable after New; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"

namespace semper {

class CmsDetachedSigner {
 public:
  // ECDSA (P-256) or RSA (RSASSA-PSS) keys, SHA-256; Ed25519 is refused as by CmsSignDetached.
  // `chain` is what follows `signer` in the certificates field.
  static absl::StatusOr<std::shared_ptr<const CmsDetachedSigner>> New(PrivateKey key, Certificate signer,
                                                                      std::vector<Certificate> chain);

  struct Signature {
    std::string without_certificates;  // to store
    std::string with_certificates;     // to hand out: verifiable on its own
  };
  absl::StatusOr<Signature> Sign(std::string_view content, absl::Time signing_time) const;

  // A stored signature (without certificates) with this signer's certificates put in.
  absl::StatusOr<std::string> WithCertificates(std::string_view without_certificates) const;

 private:
  CmsDetachedSigner() = default;
  absl::StatusOr<std::string> SignAttributes(std::string_view attributes) const;
  std::string Assemble(std::string_view signer_info, bool with_certificates) const;

  std::shared_ptr<void> sign_template_;  // EVP_MD_CTX set up for the key (padding included); holds it
  std::string version_, digest_algorithms_, encapsulated_, certificates_;            // SignedData parts
  std::string signer_version_, signer_id_, digest_algorithm_, signature_algorithm_;  // SignerInfo parts
};

// The fields of a DER ContentInfo holding SignedData, as their encodings (`rest`: certificates,
// CRLs and signerInfos as they come); MALFORMED_INPUT when it is not laid out so. For code that
// assembles or takes apart SignedData without OpenSSL's CMS objects.
struct SignedDataParts {
  std::string_view content_type, version, digest_algorithms, encapsulated, rest;
};
absl::StatusOr<SignedDataParts> CmsDissectSignedData(std::string_view der);

// SignedData DER (ContentInfo) with `certificates` (a complete [0] IMPLICIT SET OF Certificate
// encoding) put between encapContentInfo and signerInfos; the signatures do not change. Fails on
// a structure that already has certificates or CRLs, or that is not SignedData.
absl::StatusOr<std::string> CmsSpliceCertificates(std::string_view signed_data_der, std::string_view certificates);

}  // namespace semper
