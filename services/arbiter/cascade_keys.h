// The keys under which semper-ca tags pseudonyms for the keyCompromise cascade (see
// DerivePseudonymCascadeKeyRequest in arbiter.proto). One per base certificate,
// HMAC-SHA256(secret, "semper-pseudonym-cascade\n" || base serial), where the secret comes from
// the escrow key by ECDH with a point nobody knows the discrete logarithm of (hashed onto P-256):
// every replica holding the escrow key (a file or a PKCS#11 token) derives the same secret, and
// nobody without the escrow key can. Handed out only with proof that semper-ca needs it now.
// Thread-safe.
#pragma once

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/base/secret.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"
#include "semper/v1/arbiter.pb.h"
#include "semper/v1/ca.grpc.pb.h"

namespace spdlog {
class logger;
}

namespace semper::arbiter {

// The secret from a P-256 escrow key; NOT_SUPPORTED for other keys.
absl::StatusOr<SecretData> CascadeSecretFromEscrow(const PrivateKey& escrow);

class PseudonymCascadeKeys {
 public:
  struct Deps {
    // Unset when the arbiter has no escrow key: every derivation fails with NOT_SUPPORTED.
    std::optional<SecretData> secret;
    const TrustStore* trust = nullptr;
    std::shared_ptr<v1::CertificationAuthority::StubInterface> ca;
    std::shared_ptr<spdlog::logger> logger;
    absl::Duration ca_deadline = absl::Seconds(10);
  };
  explicit PseudonymCascadeKeys(Deps deps) : d_(std::move(deps)) {}

  absl::StatusOr<v1::PseudonymCascadeKey> Derive(const v1::DerivePseudonymCascadeKeyRequest& req, absl::Time now) const;

 private:
  v1::PseudonymCascadeKey KeyFor(const std::string& base_serial) const;
  Deps d_;
};

}  // namespace semper::arbiter
