// Raw digital signatures over bytes. PublicKeySign promises that every signature it returns
// verifies with the matching public key under the same algorithm; PublicKeyVerify promises that
// OK means the signature was made over exactly `data` by the holder of the private key.
// Both are immutable and thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/crypto/keys.h"

namespace semper {

enum class SignatureAlgorithm {
  kEcdsaP256Sha256,  // ECDSA over P-256 with SHA-256, DER (X9.62) signature encoding
  kEd25519,          // PureEdDSA (RFC 8032)
  kRsaPssSha256,     // RSASSA-PSS, SHA-256, MGF1-SHA-256, salt length 32
};

std::string_view SignatureAlgorithmName(SignatureAlgorithm algorithm);

// The algorithm the suite uses for a key type.
SignatureAlgorithm DefaultSignatureAlgorithm(KeyType type);

class PublicKeySign {
 public:
  // Fails when the key cannot be used with the algorithm.
  static absl::StatusOr<std::unique_ptr<PublicKeySign>> New(const PrivateKey& key, SignatureAlgorithm algorithm);
  virtual ~PublicKeySign() = default;
  virtual absl::StatusOr<std::string> Sign(std::string_view data) const = 0;
  virtual SignatureAlgorithm algorithm() const = 0;
};

class PublicKeyVerify {
 public:
  static absl::StatusOr<std::unique_ptr<PublicKeyVerify>> New(const PublicKey& key, SignatureAlgorithm algorithm);
  virtual ~PublicKeyVerify() = default;
  // OK, or INVALID_ARGUMENT with reason SIGNATURE_INVALID. Never a bool.
  virtual absl::Status Verify(std::string_view signature, std::string_view data) const = 0;
  virtual SignatureAlgorithm algorithm() const = 0;
};

}  // namespace semper
