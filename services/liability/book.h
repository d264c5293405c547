// The liability tracker's book: SEMPER agreements and per-transaction guarantees in PostgreSQL.
//
// A guarantee is decided with the agreement's row locked: active, within its validity, amount
// within the per-transaction limit, current liability + amount within the overall limit; the
// amount is reserved and the signed guarantee recorded in the same transaction, before the
// answer. Requests that arrive together are decided in one transaction (each agreement row
// locked once, the requests applied in arrival order, one insert and one update for the group),
// which is how one hot buyer gets past one conditional UPDATE per reservation. Any number of
// committers and replicas may run: the row locks order them. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/base/clock.h"
#include "common/crypto/certificate.h"
#include "common/crypto/cms_signer.h"
#include "common/crypto/keys.h"
#include "common/crypto/verified_certificates.h"
#include "common/db/group_commit.h"
#include "common/db/pool.h"
#include "common/server/peer.h"
#include "semper/v1/ca.pb.h"
#include "semper/v1/liability.pb.h"

namespace semper::liability {

// Who calls, as mutual TLS identified them (none: anonymous).
struct Caller {
  bool authenticated = false;
  std::string subject;  // the client certificate's subject
  std::string party;    // PartyOf(the client certificate)
  std::string serial;   // the client certificate's serial (revocation checks)
};

class LiabilityBook {
 public:
  struct Deps {
    db::ConnectionPool* pool = nullptr;
    const TrustStore* trust = nullptr;
    std::vector<Certificate> intermediates;
    // Signs guarantees with the tracker's key; its certificates go with every guarantee.
    std::shared_ptr<const CmsDetachedSigner> signer;
    // semper-ca: a certificate's status now (registering agreements, checking changes).
    std::function<absl::StatusOr<v1::CertificateStatus>(const Certificate&)> certificate_status;
    // Whether the certificate with this serial is revoked now, from the revocations semper-ca
    // pushes (RevocationWatch); an error when that knowledge is too old to rely on.
    std::function<absl::StatusOr<bool>(const std::string& serial)> revoked;
    // Guarantees are decided in groups (queue "liability_guarantees" unless named).
    db::GroupCommitOptions group_commit = {"liability_guarantees", 500, 2, nullptr};
    // What every decision by time reads: validity, expiry, freshness (tests move it).
    Clock clock = SystemClock();
    // semper-arbiter's signing certificate: its verdicts may order a guarantee settled or
    // released (none: verdicts are refused).
    std::optional<Certificate> arbiter;
  };
  explicit LiabilityBook(Deps deps);
  ~LiabilityBook();
  static std::vector<db::PreparedStatement> Statements();

  absl::StatusOr<v1::AgreementRecord> RegisterAgreement(const v1::RegisterAgreementRequest& req);
  absl::StatusOr<v1::AgreementRecord> SetAgreementState(const v1::SetAgreementStateRequest& req);

  using Done = std::function<void(absl::StatusOr<v1::Guarantee>)>;
  // Checked here (the buyer's signed order, and that it names `seller` as its seller); decided
  // and recorded by a committer, which then calls `done`.
  void RequestGuarantee(const v1::GuaranteeRequest& req, const Caller& seller, Done done);
  absl::StatusOr<v1::Guarantee> RequestGuarantee(const v1::GuaranteeRequest& req, const Caller& seller);
  // Ends a live guarantee once (SETTLED or RELEASED) and frees its amount: when `caller` is its
  // seller, or with a verdict that semper-arbiter signed, that orders exactly this, in a case
  // between the guarantee's buyer and seller. PERMISSION_DENIED otherwise.
  absl::StatusOr<v1::Guarantee> EndGuarantee(const std::string& id, v1::GuaranteeState outcome, const Caller& caller,
                                             const std::string& verdict = "",
                                             const std::string& verdict_signature = "");
  // For the guarantee's seller or buyer only.
  absl::StatusOr<v1::Guarantee> GetGuarantee(const std::string& id, const Caller& caller);
  absl::StatusOr<v1::LiabilityStatus> GetLiability(const v1::GetLiabilityRequest& req);
  // Expires live guarantees past their validity and frees their amounts; returns how many.
  absl::StatusOr<int> ExpireDue();

 private:
  // A guarantee signed before its transaction (on the caller's thread, in parallel), for the
  // agreement the buyer held last time; used if the locked agreement is still that one.
  // `signature` carries the tracker's certificates (for the seller); `stored` is the same
  // signature without them (the database row is then ~1 KB smaller).
  struct Signed {
    std::string agreement_id, json, signature, stored, guarantee_id;
    absl::Time until;
  };
  // A guarantee read from the database, with the tracker's certificates put back.
  v1::Guarantee WithCertificates(v1::Guarantee g) const;
  struct Pending {
    // As checked: buyer_certificate, order_sha256 and amount from the signed order (which is
    // then dropped), seller the caller's subject.
    v1::GuaranteeRequest req;
    std::string buyer, buyer_issuer, buyer_serial, buyer_party, seller_party;
    // SHA-256 of the order content the buyer signed: one guarantee per signed order.
    std::string order_content_sha256;
    std::optional<Signed> presigned;
  };
  absl::StatusOr<Signed> SignGuarantee(const Pending& p, const std::string& agreement_id, absl::Time now) const;
  // Decides a group of requests (the group committer's commit function).
  absl::Status Decide(std::vector<Pending>& group, std::vector<absl::StatusOr<v1::Guarantee>>& results);
  // One attempt at deciding `group` in `tx`; `careful` looks up earlier attempts of its request
  // ids first.
  absl::Status DecideIn(pqxx::work& tx, const std::vector<Pending>& group, bool careful,
                        std::vector<absl::StatusOr<v1::Guarantee>>* results);
  absl::StatusOr<Certificate> VerifyBuyerSignature(const std::string& bytes, const std::string& signature);

  Deps d_;
  // Buyers' certificates (DER) found to chain to the suite's roots: parsed and checked once a
  // minute, not per request.
  VerifiedCertificates buyers_;
  absl::Mutex cert_mu_;
  // buyer \n issuer \n currency -> the agreement found for it last.
  absl::flat_hash_map<std::string, std::string> agreement_of_ ABSL_GUARDED_BY(cert_mu_);
  // Last: stopped (what it holds decided) before the rest goes.
  std::unique_ptr<db::GroupCommitter<Pending, absl::StatusOr<v1::Guarantee>>> committer_;
};

}  // namespace semper::liability
