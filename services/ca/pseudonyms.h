// semper.v1.Pseudonyms: pseudonym certificates issued on a good certificate of this CA (an
// identity's signature certificate or an earlier pseudonym), for a fresh key, with a link to the
// base sealed to semper-arbiter's escrow certificate; the link is handed out only against a
// reveal order that semper-arbiter signed, and every reveal is logged (append-only).
//
// Unlinkability towards relying parties: the certificate carries only the pseudonym (no
// subscriber number, country or name), a random serial, a key never certified before, and a
// validity that starts on the hour (not at the second of issuance). In the database the link
// exists only sealed (padded to one length), and as a tag per pseudonym, HMAC(K_base, its key's
// hash), which semper-arbiter computes for the holder's fresh signed request; K_base (from the
// arbiter's escrow key and the base's key) leaves the arbiter only after the base's keyCompromise
// revocation: no two tags of one holder are alike, and neither a database copy nor the CA's
// operator can recompute them. Revoking a base for keyCompromise asks the arbiter for K_base and
// revokes every pseudonym whose tag it makes.
//
// PseudonymBook is the domain (checks, certificates, sealed links, tags, cascades) and its SQL;
// PseudonymServiceImpl (pseudonym_service.h) answers semper.v1.Pseudonyms over gRPC with it.
// Thread-safe.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/base/clock.h"
#include "common/base/secret.h"
#include "common/crypto/certificate.h"
#include "common/db/pool.h"
#include "common/server/metrics.h"
#include "semper/v1/arbiter.grpc.pb.h"
#include "semper/v1/privacy.pb.h"
#include "services/ca/pki.h"
#include "services/ca/store.h"

namespace semper::ca {

class PseudonymBook {
 public:
  struct Options {
    const Pki* pki = nullptr;
    // The suite's root: requests and reveal orders are verified through it.
    const TrustStore* trust = nullptr;
    CaStore* store = nullptr;
    db::ConnectionPool* pool = nullptr;
    ProfileOptions profiles;
    // HMAC key of the tags of scheme 1 (ca.link_key_file): pseudonyms issued before tags of
    // scheme 2; kept to recognise them until they expire.
    SecretData link_key;
    // semper-arbiter, which derives the cascade keys the tags of scheme 2 are made with.
    std::shared_ptr<v1::Arbiter::StubInterface> arbiter_stub;
    absl::Duration arbiter_deadline = absl::Seconds(10);
    std::shared_ptr<Metrics> metrics;
    // Called after the cascade revoked certificates (clears status caches, issues the CRL).
    std::function<void()> on_revoked;
    // semper-arbiter's escrow certificate (the sealed links are encrypted to it) and signing
    // certificate (reveal orders must carry its signature).
    std::optional<Certificate> escrow;
    std::optional<Certificate> arbiter;
    std::shared_ptr<spdlog::logger> logger;
    Clock clock = SystemClock();
  };
  explicit PseudonymBook(Options options);
  static std::vector<db::PreparedStatement> Statements();

  // A pseudonym certificate for the holder's signed request (IssuePseudonym in privacy.proto).
  absl::StatusOr<v1::IssuePseudonymResponse> Issue(const v1::IssuePseudonymRequest& req);
  // The sealed link of the pseudonym a reveal order signed by semper-arbiter names, logged as
  // asked by `requested_by` (the caller's certificate subject, or "").
  absl::StatusOr<v1::RevealPseudonymResponse> Reveal(const v1::RevealPseudonymRequest& req,
                                                     const std::string& requested_by);
  // The reveal log, newest first (at most 1,000), of one pseudonym or ("") of all.
  absl::StatusOr<v1::GetPseudonymRevealsResponse> Reveals(const std::string& pseudonym_serial);

  // The keyCompromise cascade for pseudonyms of scheme 2: for each certificate queued by
  // CaStore::Revoke, asks semper-arbiter for its cascade key, revokes (keyCompromise) every
  // pseudonym whose tag that key makes, blocks their keys and queues them in turn. Rows whose key
  // the arbiter does not give (unreachable, or the revocation not yet visible to it) stay queued
  // for the next run. Returns how many pseudonyms were revoked. Safe with several CA replicas.
  absl::StatusOr<int> RunCascades();

 private:
  // The holder's request, checked: one signer (the base) under the suite's root, fresh, of a known
  // kind. Whether the base is good at this CA, Issue checks.
  struct SignedRequest {
    Certificate base;
    v1::PseudonymRequestStatement statement;
  };
  absl::StatusOr<SignedRequest> CheckRequest(const v1::IssuePseudonymRequest& req, absl::Time now) const;
  // The link to the base, padded and sealed to semper-arbiter's escrow certificate.
  absl::StatusOr<std::string> SealLink(v1::PseudonymLink link) const;
  absl::StatusOr<int> RunCascadePass(bool* more);
  absl::StatusOr<v1::PseudonymTags> Tags(const v1::IssuePseudonymRequest& req, bool role) const;
  absl::StatusOr<std::string> CascadeKey(const std::string& certificate_der) const;
  // Every link's plaintext is padded to this many bytes before it is sealed.
  static constexpr size_t kLinkPlaintextBytes = 2048;
  Options o_;
  absl::Mutex cascade_mu_;
  std::string last_cascade_error_ ABSL_GUARDED_BY(cascade_mu_);
};

// The derivation tag of a certificate serial under the link key (scheme 1).
std::string LinkTag(const SecretData& link_key, const std::string& serial);

// The link key file: read, or made (32 random bytes, mode 0600) when it does not exist.
absl::StatusOr<SecretData> LoadOrCreateLinkKey(const std::string& path);

}  // namespace semper::ca
