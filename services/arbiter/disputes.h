// Dispute cases: filed by a party with evidence, answered by the other party before a deadline,
// decided once (by the rules, or by a human arbitrator with a reason) into a signed verdict, and
// closed when the verdict is in semper-notary's log. Every step is recorded in the case's
// history. A case is decided exactly once: an answer and the deadline sweep race on a
// conditional update of the case's state, and the loser sees the winner's outcome. Thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <set>

#include "absl/status/statusor.h"
#include "common/base/clock.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"
#include "common/db/pool.h"
#include "semper/v1/arbiter.pb.h"
#include "services/arbiter/evidence.h"
#include "services/arbiter/rules.h"

namespace semper::arbiter {

class CaseBook {
 public:
  struct Deps {
    db::ConnectionPool* pool = nullptr;
    const TrustStore* trust = nullptr;
    const EvidenceChecker* checker = nullptr;
    // The arbiter's signing key, certificate and chain (verdicts and reveal orders).
    std::optional<PrivateKey> key;
    std::optional<Certificate> certificate;
    std::vector<Certificate> chain;
    // semper-ca: the status of a party's certificate now (filing and answering parties).
    std::function<absl::StatusOr<v1::CertificateStatus>(const Certificate&, absl::Time)> certificate_status;
    // semper-notary: certifies the verdict (document, arbiter's detached CMS) into its log.
    std::function<absl::StatusOr<v1::Evidence>(const std::string& document, const std::string& signature)> notarize;
    absl::Duration answer_period = absl::Hours(24 * 14);
    // Claim kinds that a human arbitrator decides even where the rules could.
    std::set<v1::ClaimKind> human_review;
    size_t max_evidence_items = 100;
    // A signed claim or answer (with its evidence): GetCase hands out both with the verdict, so
    // two of them must fit one answer (main: half of grpc.max_message_bytes less 2 MiB, at most
    // 8 MiB).
    size_t max_statement_bytes = 8 << 20;
    // Every decision by time: signatures' validity, freshness, the answer deadline.
    Clock clock = SystemClock();
  };
  explicit CaseBook(Deps deps) : d_(std::move(deps)) {}
  static std::vector<db::PreparedStatement> Statements();

  absl::StatusOr<v1::Case> File(const v1::FileClaimRequest& req);
  absl::StatusOr<v1::Case> Answer(const v1::AnswerClaimRequest& req);
  absl::StatusOr<v1::Case> Get(const std::string& case_id);
  // `caller`: the certificate the client presented over TLS (none: UNAUTHENTICATED); it must be
  // the same party as the request's signer, so a copy of a signed request lists nothing.
  absl::StatusOr<std::vector<v1::Case>> List(const v1::ListCasesRequest& req, const Certificate* caller);
  // By a human arbitrator (the caller checks the role).
  absl::StatusOr<v1::Case> DecideByArbitrator(const v1::DecideCaseRequest& req, const Certificate& arbitrator);
  // Decides the cases whose deadline passed without an answer and puts decided verdicts into the
  // notary's log. Returns how many cases changed state.
  absl::StatusOr<int> Sweep();

 private:
  struct Signed {
    Certificate signer;
    std::string bytes;
  };
  absl::StatusOr<Signed> VerifyParty(const std::string& bytes, const std::string& signature, std::string_view what);
  struct Loaded {
    v1::Case c;
    v1::ClaimStatement claim;
    std::optional<Certificate> claimant, respondent;
    bool deadline_passed = false;
  };
  absl::StatusOr<Loaded> Load(const std::string& case_id);
  // The verdict statement and its signature, and the reveal order when the case needs one.
  struct Decision {
    std::string verdict, verdict_signature, reveal_order, reveal_signature;
  };
  absl::StatusOr<Decision> Sign(const Loaded& l, const std::vector<v1::Finding>& findings, const std::string& answer,
                                v1::VerdictOutcome outcome, const std::string& reasoning,
                                const std::vector<std::string>& remedies, const std::string& decided_by,
                                const std::vector<v1::GuaranteeOrder>& orders, bool may_reveal);
  // UNAVAILABLE when semper-ca or semper-notary could not be asked about an item.
  absl::StatusOr<std::vector<v1::Finding>> Findings(const Loaded& l, const v1::AnswerStatement* answer);
  // Records an automatic outcome for a case in state FILED: `answer` (with its signature) or, when
  // empty, the deadline passed. ABORTED with CONFLICT if the case was no longer FILED.
  absl::Status DecideFiled(const Loaded& l, const std::string& answer, const std::string& answer_signature);
  absl::Status Close(const std::string& case_id);
  Deps d_;
};

// Whether the certificate names a pseudonym (subject attribute 2.5.4.65).
bool IsPseudonym(const Certificate& cert);

}  // namespace semper::arbiter
