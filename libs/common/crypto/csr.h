// PKCS#10 certification requests (RFC 2986): made by subscribers for their own keys, checked by
// the CA. Immutable; thread-safe.
#pragma once

#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/keys.h"

namespace semper {

class CertificationRequest {
 public:
  // Parses DER or PEM and checks the self-signature (proof of possession of the key) and that
  // the key is of an accepted type and size. MALFORMED_INPUT, SIGNATURE_INVALID or
  // UNSUPPORTED_ALGORITHM otherwise.
  static absl::StatusOr<CertificationRequest> FromDer(std::string_view der);
  static absl::StatusOr<CertificationRequest> FromPem(std::string_view pem);

  // A request for `key`, naming the given subject attributes (short name or OID, value).
  static absl::StatusOr<CertificationRequest> Create(const PrivateKey& key,
                                                     const std::vector<std::pair<std::string, std::string>>& subject);

  std::string Der() const;
  std::string Pem() const;
  const PublicKey& public_key() const { return key_; }
  // The key's canonical DER SubjectPublicKeyInfo (PublicKey::CanonicalDer), which is also what
  // spki() holds and a certificate for the request certifies.
  std::string SpkiDer() const;
  // The request's SubjectPublicKeyInfo structure, owned by the request (for IssueCertificateForSpki).
  X509_PUBKEY* spki() const { return spki_.get(); }
  std::optional<std::string> SubjectAttribute(std::string_view oid_or_name) const;
  std::string Subject() const;

 private:
  CertificationRequest(std::string der, std::shared_ptr<X509_NAME> subject, std::shared_ptr<X509_PUBKEY> spki,
                       PublicKey key)
      : der_(std::move(der)), subject_(std::move(subject)), spki_(std::move(spki)), key_(std::move(key)) {}
  std::string der_;
  std::shared_ptr<X509_NAME> subject_;
  std::shared_ptr<X509_PUBKEY> spki_;
  PublicKey key_;
};

}  // namespace semper
