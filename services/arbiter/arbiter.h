// The arbiter's decisions for optimistic fair exchange: a checked request becomes a signed token,
// and the record in PostgreSQL (insert once, never update) makes the first decision the answer
// to every later request. Decisions arriving together are recorded in one transaction (group
// commit): one insert of all of them, ON CONFLICT DO NOTHING, and the winners read back for the
// rest. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/base/clock.h"
#include "common/crypto/certificate.h"
#include "common/crypto/verified_certificates.h"
#include "common/db/group_commit.h"
#include "common/db/pool.h"
#include "common/exchange/asw.h"
#include "semper/v1/arbiter.pb.h"

namespace semper::arbiter {

class ExchangeArbiter {
 public:
  // `escrow`: the key and certificate that document escrows are encrypted to (none: exchanges of
  // documents cannot be resolved here).
  // `payment_objection_period`: after an abort of a delivery against payment, how long a standard
  // contract shown (ShowStandardContract) still turns the payment order into a release.
  ExchangeArbiter(db::ConnectionPool* pool, asw::Party self, const TrustStore* trust,
                  std::vector<Certificate> intermediates, std::optional<asw::Party> escrow = std::nullopt,
                  db::GroupCommitOptions group_commit = {"arbiter_decisions", 1000, 2, nullptr},
                  absl::Duration payment_objection_period = absl::Hours(72), Clock clock = SystemClock());
  ~ExchangeArbiter();
  static std::vector<db::PreparedStatement> Statements();

  using Done = std::function<void(absl::StatusOr<v1::ArbiterDecision>)>;
  // The request is checked and signed on the caller's thread; `done` runs once the decision is
  // recorded (on a committer thread), or at once when the request is refused. Never blocks on the
  // database: gRPC callback handlers call these.
  void Abort(const v1::AbortRequest& req, Done done);
  void Resolve(const v1::ResolveRequest& req, Done done);
  // A standard contract (me1..me4) shown: with no record, a resolve; then the record says
  // `completed`, and an abort's pending payment order becomes a release (after a reversal order:
  // WRONG_STATE).
  void ShowStandardContract(const v1::StandardContract& contract, Done done);
  // The same, waiting for the answer.
  absl::StatusOr<v1::ArbiterDecision> Abort(const v1::AbortRequest& req);
  absl::StatusOr<v1::ArbiterDecision> Resolve(const v1::ResolveRequest& req);
  absl::StatusOr<v1::ArbiterDecision> ShowStandardContract(const v1::StandardContract& contract);
  const Certificate& certificate() const { return self_.certificate; }
  const std::optional<asw::Party>& escrow() const { return escrow_; }

 private:
  void Decide(const asw::ArbiterRequest& r, Done done);
  // DELIVERY_FOR_PAYMENT, aborted, no order yet: the reversal order once the objection period is
  // over (written once; a standard contract shown meanwhile wins), else `d` as it is.
  absl::StatusOr<v1::ArbiterDecision> PaymentAfterAbort(const asw::Me1View& me1, v1::ArbiterDecision d);
  // Records the shown standard contract (and the release order it makes) on the exchange's record
  // (read again under its row lock) and answers with the record.
  absl::StatusOr<v1::ArbiterDecision> Complete(const asw::Me1View& me1, const v1::StandardContract& contract);
  // The record as stored (its token, affidavit, objection period and completion).
  absl::StatusOr<v1::ArbiterDecision> Stored(pqxx::transaction_base& tx, const std::string& key_hex);
  // The escrowed document of me1, decrypted and checked against H(D).
  absl::StatusOr<std::string> OpenEscrow(const v1::Me1Body& me1) const;
  struct Pending {
    std::string key_hex;
    bool resolve = false;
    v1::SignedBody token;
    std::string affidavit, affidavit_signature;
    std::optional<absl::Time> objection_until;  // an abort of a delivery against payment
    struct PaymentKey {
      std::string key_hex;  // SHA-256 of payer party, provider and reference (case-folded)
      std::string provider, reference;
    };
    std::optional<PaymentKey> payment;
  };
  // Records a group of decisions (the group committer's commit function).
  absl::Status Record(std::vector<Pending>& group, std::vector<absl::StatusOr<v1::ArbiterDecision>>& results);
  db::ConnectionPool* pool_;
  asw::Party self_;
  std::optional<asw::Party> escrow_;
  // The arbiter's issuers (its signatures carry them).
  std::vector<Certificate> intermediates_;
  // The parties' certificates must chain to the roots for signing (results kept a minute).
  VerifiedCertificates parties_;
  absl::Duration payment_objection_period_;
  // Every decision by time: certificates' validity, the tokens' times, the objection period.
  Clock clock_;
  // Last: stopped (what it holds decided) before the rest goes.
  std::unique_ptr<db::GroupCommitter<Pending, absl::StatusOr<v1::ArbiterDecision>>> committer_;
};

}  // namespace semper::arbiter
