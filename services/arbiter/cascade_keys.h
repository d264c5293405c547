// The pseudonym tags of the keyCompromise cascade (see TagPseudonymRequest in arbiter.proto).
// One key per base key, K_base = HMAC-SHA256(secret, "semper-pseudonym-cascade\n" || SHA-256 of
// the base's SubjectPublicKeyInfo), where the secret comes from the escrow key by ECDH with a point
// nobody knows the discrete logarithm of (hashed onto P-256): every replica holding the escrow key
// (a file or a PKCS#11 token) derives the same secret, and nobody without the escrow key can.
// Tags are given for a holder's fresh request signed with the base key (bound to the new
// pseudonym's key and name); K_base only for a base certificate semper-ca reports revoked for
// keyCompromise, each time recorded in the arbiter's audit trail. Thread-safe.
#pragma once

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/base/secret.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"
#include "common/db/pool.h"
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
    // The arbiter's database, for its audit trail (every K_base given out).
    db::ConnectionPool* pool = nullptr;
  };
  explicit PseudonymCascadeKeys(Deps deps) : d_(std::move(deps)) {}

  absl::StatusOr<v1::PseudonymTags> Tag(const v1::TagPseudonymRequest& req, absl::Time now) const;
  absl::StatusOr<v1::PseudonymCascadeKey> Derive(const v1::DerivePseudonymCascadeKeyRequest& req,
                                                 const std::string& caller) const;

 private:
  std::string KeyFor(const Certificate& base) const;
  Deps d_;
};

}  // namespace semper::arbiter
