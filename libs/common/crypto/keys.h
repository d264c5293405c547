// Asymmetric keys: ECDSA P-256 (the default), Ed25519 and RSA. Immutable after creation and
// safe to share between threads; copies share one OpenSSL key object.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/base/secret.h"

namespace semper {

enum class KeyType { kEcP256, kEd25519, kRsa };

std::string_view KeyTypeName(KeyType type);  // "EC-P256", "Ed25519", "RSA"

class PublicKey {
 public:
  // SubjectPublicKeyInfo, DER or PEM ("PUBLIC KEY").
  static absl::StatusOr<PublicKey> FromDer(std::string_view der);
  static absl::StatusOr<PublicKey> FromPem(std::string_view pem);
  // Takes a reference of an OpenSSL key (only ECDSA P-256, Ed25519 and RSA >= 2048 are accepted).
  static absl::StatusOr<PublicKey> FromEvp(EVP_PKEY* key);
  // From the parts of a SubjectPublicKeyInfo (see ossl::SpkiParts): P-256 and Ed25519 keys are
  // built directly, an eighth of what OpenSSL's generic decoder costs.
  static absl::StatusOr<PublicKey> FromSpki(const X509_ALGOR* algor, const ASN1_BIT_STRING* key);

  std::string Der() const;
  std::string Pem() const;
  // The one SubjectPublicKeyInfo a key has, whatever encoding it came in: P-256 uncompressed,
  // RSA as rsaEncryption. Compare and hash keys by this form ("the same key" rules).
  std::string CanonicalDer() const;
  KeyType type() const { return type_; }
  EVP_PKEY* evp() const { return key_.get(); }
  bool Equals(const PublicKey& other) const;

 private:
  PublicKey(std::shared_ptr<EVP_PKEY> key, KeyType type) : key_(std::move(key)), type_(type) {}
  std::shared_ptr<EVP_PKEY> key_;
  KeyType type_;
};

class PrivateKey {
 public:
  // A fresh key. `rsa_bits` applies to KeyType::kRsa only (2048..8192).
  static absl::StatusOr<PrivateKey> Generate(KeyType type, int rsa_bits = 3072);

  // PEM PKCS#8: "ENCRYPTED PRIVATE KEY" needs the passphrase; an unencrypted key is refused
  // unless `allow_unencrypted` (tests and keys that live on an encrypted volume).
  static absl::StatusOr<PrivateKey> FromPem(std::string_view pem, const SecretData& passphrase,
                                            bool allow_unencrypted = false);

  // Takes ownership of an OpenSSL key (for keys that live elsewhere, e.g. in a PKCS#11 token).
  static absl::StatusOr<PrivateKey> FromEvp(EVP_PKEY* owned);

  // Encrypted PKCS#8 (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC), the form keys rest in.
  absl::StatusOr<std::string> ToEncryptedPem(const SecretData& passphrase) const;

  // Unencrypted PKCS#8 PEM, as a secret: only for handing a key to a library that cannot take
  // an OpenSSL key object (gRPC's TLS credentials). Never write it to disk or a log.
  SecretData ToUnencryptedPemSecret() const;

  PublicKey public_key() const;
  KeyType type() const { return type_; }
  EVP_PKEY* evp() const { return key_.get(); }

 private:
  PrivateKey(std::shared_ptr<EVP_PKEY> key, KeyType type) : key_(std::move(key)), type_(type) {}
  std::shared_ptr<EVP_PKEY> key_;
  KeyType type_;
};

// The checks too costly for every read of a key, for keys about to be certified or relied on as
// a path's end: an RSA modulus of at most 4096 bits (UNSUPPORTED_ALGORITHM above), without a
// factor below 2^16, composite and not a prime power (WEAK_KEY otherwise; milliseconds, then
// remembered for the modulus). Factors found by larger searches (ECM) are beyond it.
absl::Status CheckKeyForCertification(const PublicKey& key);

// Identifies the type of an OpenSSL key, or fails for a type or size the suite does not accept
// (UNSUPPORTED_ALGORITHM) or a key that anyone could sign for (WEAK_KEY: Ed25519 points of small
// order, off the curve or non-canonical; the P-256 point at infinity; RSA exponents below 65537 or
// even, even moduli). Every PublicKey and PrivateKey has passed it.
absl::StatusOr<KeyType> ClassifyKey(EVP_PKEY* key);

}  // namespace semper
