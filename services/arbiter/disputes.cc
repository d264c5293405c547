// Dispute cases in PostgreSQL.
#include "services/arbiter/disputes.h"

#include "common/base/proto_json.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/db/audit.h"
#include "common/db/values.h"
#include "common/server/peer.h"

namespace semper::arbiter {
namespace {

constexpr std::pair<v1::CaseState, std::string_view> kStates[] = {
    {v1::CASE_STATE_FILED, "filed"},
    {v1::CASE_STATE_AWAITING_ARBITRATOR, "awaiting-arbitrator"},
    {v1::CASE_STATE_DECIDED, "decided"},
    {v1::CASE_STATE_CLOSED, "closed"},
};

std::string StateName(v1::CaseState s) {
  for (const auto& [state, name] : kStates) {
    if (state == s) return std::string(name);
  }
  return "unknown";
}

v1::CaseState StateOf(std::string_view name) {
  for (const auto& [state, n] : kStates) {
    if (n == name) return state;
  }
  return v1::CASE_STATE_UNSPECIFIED;
}

absl::Status WrongState(std::string_view what) {
  return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE, what);
}

// A subscriber by its id, a pseudonym by its very certificate (see PartyOf).
bool SameParty(const Certificate& a, const Certificate& b) { return PartyOf(a) == PartyOf(b); }

std::string OutcomeText(v1::VerdictOutcome o) {
  switch (o) {
    case v1::VERDICT_OUTCOME_CLAIM_UPHELD:
      return "claim upheld";
    case v1::VERDICT_OUTCOME_CLAIM_REJECTED:
      return "claim rejected";
    case v1::VERDICT_OUTCOME_PARTIALLY_UPHELD:
      return "claim partially upheld";
    default:
      return "undecided";
  }
}

std::string FindingsHex(const std::vector<v1::Finding>& findings) {
  v1::Case holder;
  for (const auto& f : findings) *holder.add_findings() = f;
  return HexEncode(holder.SerializeAsString());
}

}  // namespace

bool IsPseudonym(const Certificate& cert) { return cert.SubjectAttribute("2.5.4.65").has_value(); }

std::vector<db::PreparedStatement> CaseBook::Statements() {
  constexpr char kColumns[] =
      "id, kind, state, extract(epoch from answer_deadline)::float8 AS answer_deadline, claim, claim_signature, "
      "answer, answer_signature, findings, verdict, verdict_signature, verdict_evidence, reveal_order, "
      "reveal_order_signature, claimant_certificate";
  return {
      {"case_insert",
       R"(WITH c AS (
            INSERT INTO arbiter.cases (id, kind, state, claimant, claimant_issuer, respondent, respondent_issuer,
                                       answer_deadline, claim, claim_signature, claimant_certificate, claim_sha256)
            VALUES ($1, $2, 'filed', $3, $4, $5, $6, $7::timestamptz, decode($8, 'hex'),
                    decode($9, 'hex'), decode($11, 'hex'), sha256(decode($8, 'hex')))
            RETURNING id)
          INSERT INTO arbiter.case_events (case_id, event, actor, note) SELECT id, 'filed', $3, $10 FROM c)"},
      {"case_by_claim", "SELECT id FROM arbiter.cases WHERE claim_sha256 = sha256(decode($1, 'hex'))"},
      {"case_event", "INSERT INTO arbiter.case_events (case_id, event, actor, note) VALUES ($1, $2, $3, $4)"},
      {"case_get", StrCat("SELECT ", kColumns, " FROM arbiter.cases WHERE id = $1")},
      {"case_history",
       R"(SELECT event, extract(epoch from at)::float8, actor, note FROM arbiter.case_events
          WHERE case_id = $1 ORDER BY seq)"},
      // An answer only before the deadline; the deadline's decision only after it.
      {"case_decide_filed",
       R"(UPDATE arbiter.cases SET state = $2, answer = nullif(decode($3, 'hex'), ''::bytea),
                 answer_signature = nullif(decode($4, 'hex'), ''::bytea), findings = decode($5, 'hex'),
                 verdict = nullif(decode($6, 'hex'), ''::bytea), verdict_signature = nullif(decode($7, 'hex'), ''::bytea),
                 reveal_order = nullif(decode($8, 'hex'), ''::bytea),
                 reveal_order_signature = nullif(decode($9, 'hex'), ''::bytea)
          WHERE id = $1 AND state = 'filed' AND
                CASE WHEN $3 = '' THEN answer IS NULL AND answer_deadline <= $10::timestamptz
                     ELSE (answer IS NULL AND answer_deadline > $10::timestamptz) OR answer = decode($3, 'hex') END)"},
      // An answer in time whose evidence cannot be checked now (semper-ca or semper-notary down): kept,
      // and decided by the sweep as soon as it can be.
      {"case_answer_pending",
       R"(UPDATE arbiter.cases SET answer = decode($2, 'hex'), answer_signature = decode($3, 'hex')
          WHERE id = $1 AND state = 'filed' AND answer IS NULL AND answer_deadline > $4::timestamptz)"},
      {"case_decide_human",
       R"(UPDATE arbiter.cases SET state = 'decided', verdict = decode($2, 'hex'), verdict_signature = decode($3, 'hex'),
                 reveal_order = nullif(decode($4, 'hex'), ''::bytea),
                 reveal_order_signature = nullif(decode($5, 'hex'), ''::bytea)
          WHERE id = $1 AND state = 'awaiting-arbitrator')"},
      {"case_close",
       "UPDATE arbiter.cases SET state = 'closed', verdict_evidence = decode($2, 'hex') WHERE id = $1 AND state = "
       "'decided'"},
      {"case_due",
       R"(SELECT id FROM arbiter.cases WHERE state = 'filed' AND (answer_deadline <= $1::timestamptz OR answer IS NOT NULL)
          ORDER BY swept_at NULLS FIRST, answer_deadline LIMIT 100)"},
      {"case_unclosed",
       "SELECT id FROM arbiter.cases WHERE state = 'decided' ORDER BY swept_at NULLS FIRST, filed_at LIMIT 100"},
      {"case_sweep_failed", "UPDATE arbiter.cases SET swept_at = now() WHERE id = $1"},
      {"case_list",
       R"(SELECT id FROM arbiter.cases WHERE (claimant = $1 AND claimant_issuer = $2)
             OR (respondent = $1 AND respondent_issuer = $2) ORDER BY filed_at DESC LIMIT 100)"},
  };
}

absl::StatusOr<CaseBook::Signed> CaseBook::VerifyParty(const std::string& bytes, const std::string& signature,
                                                       std::string_view what) {
  if (bytes.empty()) return InvalidField(what, "is required");
  if (signature.empty())
    return InvalidField("signature", StrCat("a detached CMS signature over the ", what, " is required"));
  absl::Time now = d_.clock();
  auto signers = CmsVerifyDetached(signature, bytes, *d_.trust, now, KeyPurpose::kNonRepudiation);
  if (!signers.ok()) {
    return FieldError("signature", Annotate(signers.status(), StrCat("the ", what, "'s signature")));
  }
  if (signers->size() != 1) return InvalidField("signature", "must have exactly one signer");
  const Certificate& signer = signers->front().certificate;
  SEMPER_ASSIGN_OR_RETURN(v1::CertificateStatus st, d_.certificate_status(signer, now));
  if (st.state() == v1::CERTIFICATE_STATE_REVOKED) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED,
                     StrCat("the signer's certificate ", signer.SerialHex(), " is revoked"));
  }
  if (st.state() != v1::CERTIFICATE_STATE_GOOD) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED,
                     "semper-ca does not know the signer's certificate");
  }
  return Signed{signer, bytes};
}

namespace {
// A claim's subject reference and every evidence label end up in the verdict.
constexpr size_t kMaxReferenceBytes = 200;
constexpr size_t kMaxLabelBytes = 200;

absl::Status CheckLabels(const google::protobuf::RepeatedPtrField<v1::EvidenceItem>& items, std::string_view field) {
  for (int i = 0; i < items.size(); ++i) {
    if (items[i].label().size() > kMaxLabelBytes) {
      return InvalidField(StrCat(field, "[", i, "].label"), StrCat("must be at most ", kMaxLabelBytes, " bytes"));
    }
  }
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<v1::Case> CaseBook::File(const v1::FileClaimRequest& req) {
  if (req.claim().size() > d_.max_statement_bytes) {
    return InvalidField("claim", StrCat("must be at most ", d_.max_statement_bytes, " bytes with its evidence"));
  }
  SEMPER_ASSIGN_OR_RETURN(Signed s, VerifyParty(req.claim(), req.signature(), "claim"));
  v1::ClaimStatement claim;
  if (!claim.ParseFromString(req.claim()) || claim.type() != "semper-claim") {
    return MalformedField("claim", "must be a serialized semper.v1.ClaimStatement of type \"semper-claim\"");
  }
  if (claim.kind() == v1::CLAIM_KIND_UNSPECIFIED || !v1::ClaimKind_IsValid(claim.kind())) {
    return InvalidField("claim.kind", "must name the kind of claim");
  }
  if (claim.kind() == v1::CLAIM_KIND_OTHER && claim.text().empty()) {
    return InvalidField("claim.text", "must describe a claim of kind OTHER");
  }
  if (claim.text().size() > 64 * 1024) return InvalidField("claim.text", "must be at most 64 KiB");
  // What goes into the verdict is bounded, so that every verdict fits the notary's log.
  if (claim.subject_reference().size() > kMaxReferenceBytes) {
    return InvalidField("claim.subject_reference", StrCat("must be at most ", kMaxReferenceBytes, " bytes"));
  }
  // The rules read what is in dispute from its hash, never from the free-text reference.
  if (!claim.subject_sha256().empty() && claim.subject_sha256().size() != 32) {
    return InvalidField("claim.subject_sha256", "must be a SHA-256 (32 bytes)");
  }
  if (claim.subject_sha256().empty() && claim.kind() != v1::CLAIM_KIND_OTHER) {
    return InvalidField("claim.subject_sha256",
                        "must name the content in dispute: the SHA-256 of the order container's content (semperctl "
                        "order show prints it) or of the document whose signature is repudiated");
  }
  SEMPER_RETURN_IF_ERROR(CheckLabels(claim.evidence(), "claim.evidence"));
  if (static_cast<size_t>(claim.evidence_size()) > d_.max_evidence_items) {
    return InvalidField("claim.evidence", StrCat("must have at most ", d_.max_evidence_items, " items"));
  }
  if (claim.has_amount_claimed() && claim.amount_claimed().minor_units() < 0) {
    return InvalidField("claim.amount_claimed", "must not be negative");
  }
  auto respondent = Certificate::FromDer(claim.respondent_certificate());
  if (!respondent.ok()) return FieldError("claim.respondent_certificate", respondent.status());
  if (auto path = d_.trust->VerifyPath(*respondent, d_.chain, d_.clock(), KeyPurpose::kNonRepudiation); !path.ok()) {
    return FieldError("claim.respondent_certificate", Annotate(path.status(), "the respondent's certificate"));
  }
  if (SameParty(s.signer, *respondent)) return InvalidField("claim.respondent_certificate", "names the claimant");
  std::string id = HexEncode(RandomBytes(16));
  const std::string deadline = db::TimeText(d_.clock() + d_.answer_period);
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    // One case per signed claim: GetCase shows it to whoever knows the case id, and a copy filed
    // again would open a second case (the unique index decides between concurrent copies).
    if (auto r = tx.exec_prepared("case_by_claim", HexEncode(req.claim())); !r.empty()) {
      return MakeError(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS,
                       StrCat("this signed claim is already case ", r[0][0].as<std::string>(),
                              ": a claim is filed once (sign a new one for a new case)"),
                       {{"existing_id", r[0][0].as<std::string>()}});
    }
    tx.exec_prepared("case_insert", id, static_cast<int>(claim.kind()), s.signer.Subject(), s.signer.Issuer(),
                     respondent->Subject(), respondent->Issuer(), deadline, HexEncode(req.claim()),
                     HexEncode(req.signature()), StrCat(claim.evidence_size(), " items of evidence"),
                     HexEncode(s.signer.Der()));
    return absl::OkStatus();
  }));
  return Get(id);
}

absl::StatusOr<CaseBook::Loaded> CaseBook::Load(const std::string& case_id) {
  if (case_id.size() != 32) return InvalidField("case_id", "must be the 32 hex digits of a case");
  Loaded l;
  bool found = false, has_findings = false;
  std::string claimant_der;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("case_get", case_id);
    if (r.empty()) return absl::OkStatus();
    found = true;
    const auto& row = r[0];
    v1::Case& c = l.c;
    c.set_case_id(row["id"].as<std::string>());
    c.set_kind(static_cast<v1::ClaimKind>(row["kind"].as<int>()));
    c.set_state(StateOf(row["state"].as<std::string>()));
    *c.mutable_answer_deadline() = ToTimestamp(db::FromEpoch(row["answer_deadline"].as<double>()));
    l.deadline_passed = db::FromEpoch(row["answer_deadline"].as<double>()) <= d_.clock();
    c.set_claim(db::Bytes(row["claim"]));
    c.set_claim_signature(db::Bytes(row["claim_signature"]));
    if (!row["answer"].is_null()) c.set_answer(db::Bytes(row["answer"]));
    if (!row["answer_signature"].is_null()) c.set_answer_signature(db::Bytes(row["answer_signature"]));
    // What the arbiter stored and decides on: one that no longer parses was changed outside it
    // (found by a reviewer: unparsable findings became none, and a human's verdict listed none).
    auto changed = [&](std::string_view what) {
      return MakeError(
          absl::StatusCode::kDataLoss, v1::INTERNAL_ERROR,
          StrCat("case ", case_id, ": its stored ", what, " cannot be parsed (changed outside the arbiter)"));
    };
    has_findings = !row["findings"].is_null();
    if (has_findings) {
      v1::Case holder;
      if (!holder.ParseFromString(db::Bytes(row["findings"]))) return changed("findings");
      *c.mutable_findings() = holder.findings();
    }
    if (!row["verdict"].is_null()) c.set_verdict(db::Bytes(row["verdict"]));
    if (!row["verdict_signature"].is_null()) c.set_verdict_signature(db::Bytes(row["verdict_signature"]));
    if (!row["verdict_evidence"].is_null() &&
        !c.mutable_verdict_evidence()->ParseFromString(db::Bytes(row["verdict_evidence"]))) {
      return changed("verdict evidence");
    }
    if (!row["reveal_order"].is_null()) c.set_reveal_order(db::Bytes(row["reveal_order"]));
    if (!row["reveal_order_signature"].is_null())
      c.set_reveal_order_signature(db::Bytes(row["reveal_order_signature"]));
    claimant_der = db::Bytes(row["claimant_certificate"]);
    for (const auto& e : tx.exec_prepared("case_history", case_id)) {
      auto* ev = c.add_history();
      ev->set_event(e[0].as<std::string>());
      *ev->mutable_at() = ToTimestamp(db::FromEpoch(e[1].as<double>()));
      ev->set_by(e[2].as<std::string>());
      ev->set_note(e[3].as<std::string>());
    }
    return absl::OkStatus();
  }));
  if (!found) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no case ", case_id));
  if (!l.claim.ParseFromString(l.c.claim())) return absl::InternalError("stored claim does not parse");
  // Stored findings are one per item of evidence, the claim's and then the answer's: fewer (bytes
  // that parse as none, or as another message) were changed outside the arbiter (found by a
  // reviewer: they became a verdict listing none).
  if (has_findings) {
    v1::AnswerStatement answer;
    if (!l.c.answer().empty() && !answer.ParseFromString(l.c.answer())) {
      return absl::InternalError("stored answer does not parse");
    }
    if (l.c.findings_size() != l.claim.evidence_size() + answer.evidence_size()) {
      return MakeError(
          absl::StatusCode::kDataLoss, v1::INTERNAL_ERROR,
          StrCat("case ", case_id, ": ", l.c.findings_size(), " stored findings for ",
                 l.claim.evidence_size() + answer.evidence_size(), " items of evidence (changed outside the arbiter)"));
    }
    // Each in its place: whose item, which, with its label (another case's findings do not fit).
    for (int i = 0; i < l.c.findings_size(); ++i) {
      const bool claimants = i < l.claim.evidence_size();
      const int item = claimants ? i : i - l.claim.evidence_size();
      const v1::EvidenceItem& e = claimants ? l.claim.evidence(item) : answer.evidence(item);
      const v1::Finding& f = l.c.findings(i);
      if (f.submitted_by() != (claimants ? "claimant" : "respondent") || f.item() != static_cast<uint32_t>(item) ||
          f.label() != e.label() || f.undetermined()) {
        return MakeError(absl::StatusCode::kDataLoss, v1::INTERNAL_ERROR,
                         StrCat("case ", case_id, ": stored finding ", i,
                                " is not about the item of evidence in its "
                                "place (changed outside the arbiter)"));
      }
    }
  }
  // The claimant is the claim's signer, as verified when it was filed.
  SEMPER_ASSIGN_OR_RETURN(Certificate claimant, Certificate::FromDer(claimant_der));
  l.claimant = claimant;
  SEMPER_ASSIGN_OR_RETURN(Certificate respondent, Certificate::FromDer(l.claim.respondent_certificate()));
  l.respondent = respondent;
  l.c.set_claimant(l.claimant->Subject());
  l.c.set_respondent(l.respondent->Subject());
  return l;
}

absl::StatusOr<v1::Case> CaseBook::Get(const std::string& case_id) {
  SEMPER_ASSIGN_OR_RETURN(Loaded l, Load(case_id));
  return l.c;
}

absl::StatusOr<std::vector<v1::Finding>> CaseBook::Findings(const Loaded& l, const v1::AnswerStatement* answer) {
  CaseParties parties{*l.claimant, *l.respondent, l.claim.kind(), l.claim.subject_sha256()};
  // At the decision: a signature without a proof of time is undone by any revocation or hold
  // by then (dating it by its arrival let a thief who files first keep a forgery the victim
  // reported compromised during the answer period).
  absl::Time now = d_.clock();
  std::vector<v1::Finding> out = d_.checker->CheckAll(l.claim.evidence(), "claimant", parties, now);
  if (answer != nullptr) {
    for (auto& f : d_.checker->CheckAll(answer->evidence(), "respondent", parties, now)) out.push_back(std::move(f));
  }
  // An item semper-ca or semper-notary could not be asked about neither holds nor fails: nothing is
  // decided on it (found by a reviewer: an outage signed a verdict counting such items as failed).
  for (const auto& f : out) {
    if (f.undetermined()) {
      return MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                       StrCat("the evidence cannot be checked now (", f.submitted_by(), "'s item ", f.item(), ": ",
                              f.problem(), "); the case is decided as soon as it can be"));
    }
  }
  return out;
}

absl::StatusOr<CaseBook::Decision> CaseBook::Sign(const Loaded& l, const std::vector<v1::Finding>& findings,
                                                  const std::string& answer, v1::VerdictOutcome outcome,
                                                  const std::string& reasoning,
                                                  const std::vector<std::string>& remedies,
                                                  const std::string& decided_by,
                                                  const std::vector<v1::GuaranteeOrder>& orders, bool may_reveal) {
  absl::Time now = d_.clock();
  v1::VerdictStatement v;
  v.set_type("semper-verdict");
  v.set_case_id(l.c.case_id());
  v.set_claim_kind(l.claim.kind());
  v.set_claim_sha256(Sha256(l.c.claim()));
  v.set_subject_sha256(l.claim.subject_sha256());
  if (!answer.empty()) v.set_answer_sha256(Sha256(answer));
  v.set_claimant(l.claimant->Subject());
  v.set_respondent(l.respondent->Subject());
  for (const auto& f : findings) *v.add_findings() = f;
  v.set_outcome(outcome);
  v.set_reasoning(reasoning);
  for (const auto& r : remedies) v.add_remedies(r);
  v.set_decided_by(decided_by);
  *v.mutable_decided_at() = ToTimestamp(now);
  if (l.claim.has_amount_claimed()) *v.mutable_amount_claimed() = l.claim.amount_claimed();
  for (const auto& o : orders) *v.add_guarantee_orders() = o;
  Decision d;
  d.verdict = StatementJson(v);
  SEMPER_ASSIGN_OR_RETURN(d.verdict_signature, CmsSignDetached(d.verdict, *d_.key, *d_.certificate, d_.chain));
  // The identity behind a pseudonym is revealed only when the verdict goes against it on evidence
  // it signed (or a human arbitrator so decides): never for want of an answer or of evidence.
  const bool upheld = outcome == v1::VERDICT_OUTCOME_CLAIM_UPHELD || outcome == v1::VERDICT_OUTCOME_PARTIALLY_UPHELD;
  if (upheld && may_reveal && IsPseudonym(*l.respondent)) {
    v1::RevealOrderStatement o;
    o.set_type("semper-reveal-order");
    o.set_case_id(l.c.case_id());
    o.set_verdict_sha256(Sha256(d.verdict));
    o.set_pseudonym_subject(l.respondent->Subject());
    o.set_pseudonym_certificate_serial(l.respondent->SerialHex());
    o.set_pseudonym_issuer(l.respondent->Issuer());
    o.set_pseudonym_certificate_sha256(Sha256(l.respondent->Der()));
    o.set_reason(StrCat("the claim was upheld against the pseudonymous respondent (", OutcomeText(outcome),
                        "); the verdict must be enforced against the holder"));
    *o.mutable_ordered_at() = ToTimestamp(now);
    d.reveal_order = StatementJson(o);
    SEMPER_ASSIGN_OR_RETURN(d.reveal_signature, CmsSignDetached(d.reveal_order, *d_.key, *d_.certificate, d_.chain));
  }
  return d;
}

absl::Status CaseBook::DecideFiled(const Loaded& l, const std::string& answer, const std::string& answer_signature) {
  v1::AnswerStatement parsed;
  const bool answered = !answer.empty();
  if (answered && !parsed.ParseFromString(answer)) return MalformedField("answer", "does not parse");
  SEMPER_ASSIGN_OR_RETURN(std::vector<v1::Finding> findings, Findings(l, answered ? &parsed : nullptr));
  Judgement j = Judge(l.claim, findings, answered, d_.human_review);
  Decision d;
  if (!j.needs_arbitrator) {
    SEMPER_ASSIGN_OR_RETURN(d, Sign(l, findings, answer, j.outcome, j.reasoning, j.remedies, "automatic rules",
                                    j.guarantee_orders, j.respondent_bound));
  }
  int holding = 0;
  for (const auto& f : findings) holding += f.holds() ? 1 : 0;
  return d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_prepared(
        "case_decide_filed", l.c.case_id(), j.needs_arbitrator ? "awaiting-arbitrator" : "decided", HexEncode(answer),
        HexEncode(answer_signature), FindingsHex(findings), HexEncode(d.verdict), HexEncode(d.verdict_signature),
        HexEncode(d.reveal_order), HexEncode(d.reveal_signature), db::TimeText(d_.clock()));
    if (r.affected_rows() != 1) {
      return MakeError(absl::StatusCode::kAborted, v1::CONFLICT, "the case changed meanwhile");
    }
    auto event = [&](std::string_view name, std::string_view by, std::string_view note) {
      tx.exec_prepared("case_event", l.c.case_id(), std::string(name), std::string(by), std::string(note));
    };
    if (answered && l.c.answer().empty()) {
      event("answered", l.respondent->Subject(), StrCat(parsed.evidence_size(), " items of evidence"));
    } else if (!answered) {
      event("deadline-passed", "semper-arbiter", "the respondent did not answer");
    }
    event("findings", "semper-arbiter", StrCat(holding, " of ", findings.size(), " items of evidence hold"));
    if (j.needs_arbitrator) {
      event("awaiting-arbitrator", "semper-arbiter", j.reasoning);
    } else {
      event("decided", "automatic rules", OutcomeText(j.outcome));
      if (!d.reveal_order.empty()) event("reveal-ordered", "automatic rules", l.respondent->Subject());
      return db::AppendAudit(tx, "arbiter", "semper-arbiter",
                             {{"automatic rules", "verdict", l.c.case_id(),
                               StrCat("{\"outcome\": \"", OutcomeText(j.outcome), "\", \"verdict_sha256\": \"",
                                      HexEncode(Sha256(d.verdict)),
                                      "\", \"reveal_order\": ", d.reveal_order.empty() ? "false" : "true", "}")}});
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Case> CaseBook::Answer(const v1::AnswerClaimRequest& req) {
  if (req.answer().size() > d_.max_statement_bytes) {
    return InvalidField("answer", StrCat("must be at most ", d_.max_statement_bytes, " bytes with its evidence"));
  }
  SEMPER_ASSIGN_OR_RETURN(Signed s, VerifyParty(req.answer(), req.signature(), "answer"));
  v1::AnswerStatement answer;
  if (!answer.ParseFromString(req.answer()) || answer.type() != "semper-answer") {
    return MalformedField("answer", "must be a serialized semper.v1.AnswerStatement of type \"semper-answer\"");
  }
  if (static_cast<size_t>(answer.evidence_size()) > d_.max_evidence_items) {
    return InvalidField("answer.evidence", StrCat("must have at most ", d_.max_evidence_items, " items"));
  }
  if (answer.text().size() > 64 * 1024) return InvalidField("answer.text", "must be at most 64 KiB");
  SEMPER_RETURN_IF_ERROR(CheckLabels(answer.evidence(), "answer.evidence"));
  SEMPER_ASSIGN_OR_RETURN(Loaded l, Load(answer.case_id()));
  if (!SameParty(s.signer, *l.respondent)) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     StrCat("only the respondent (", l.respondent->Subject(), ") may answer this claim"));
  }
  if (l.c.state() != v1::CASE_STATE_FILED) {
    return WrongState(StrCat("the case is already ", StateName(l.c.state()), ": it cannot be answered"));
  }
  if (!l.c.answer().empty()) {
    return WrongState(
        "the respondent's answer is recorded already; the case is decided when its evidence can be "
        "checked");
  }
  if (l.deadline_passed) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED, "the deadline for an answer has passed");
  }
  absl::Status decided = DecideFiled(l, req.answer(), req.signature());
  if (decided.code() == absl::StatusCode::kUnavailable) {
    // Answered in time: the answer is kept, and the sweep decides on it when semper-ca and
    // semper-notary answer again (a respondent does not lose its answer to an outage).
    bool kept = false;
    SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
      kept = tx.exec_prepared("case_answer_pending", l.c.case_id(), HexEncode(req.answer()), HexEncode(req.signature()),
                              db::TimeText(d_.clock()))
                 .affected_rows() == 1;
      if (kept) {
        tx.exec_prepared("case_event", l.c.case_id(), "answered", l.respondent->Subject(),
                         StrCat(answer.evidence_size(), " items of evidence; decided when they can be checked (",
                                decided.message(), ")"));
      }
      return absl::OkStatus();
    }));
    if (!kept) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED,
                       "the deadline for an answer passed while the answer was checked");
    }
    return Get(l.c.case_id());
  }
  if (decided.code() == absl::StatusCode::kAborted) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED,
                     "the deadline for an answer passed while the answer was checked");
  }
  SEMPER_RETURN_IF_ERROR(decided);
  (void)Close(l.c.case_id());  // else the sweep retries
  return Get(l.c.case_id());
}

absl::StatusOr<std::vector<v1::Case>> CaseBook::List(const v1::ListCasesRequest& req, const Certificate* caller) {
  if (caller == nullptr) {
    return MakeError(absl::StatusCode::kUnauthenticated, v1::UNAUTHENTICATED,
                     "a party lists its cases over TLS with its own certificate (semperctl --wallet)");
  }
  SEMPER_ASSIGN_OR_RETURN(Signed s, VerifyParty(req.request(), req.signature(), "request"));
  if (!SameParty(*caller, s.signer)) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     "the request is signed by another party than the certificate this connection presents");
  }
  v1::ListCasesStatement st;
  if (!st.ParseFromString(req.request()) || st.type() != "semper-list-cases") {
    return MalformedField("request", "must be a serialized semper.v1.ListCasesStatement of type \"semper-list-cases\"");
  }
  SEMPER_RETURN_IF_ERROR(RequireFresh(st.made_at(), d_.clock(), "request.made_at"));
  std::vector<std::string> ids;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    for (const auto& row : tx.exec_prepared("case_list", s.signer.Subject(), s.signer.Issuer())) {
      ids.push_back(row[0].as<std::string>());
    }
    return absl::OkStatus();
  }));
  std::vector<v1::Case> out;
  for (const auto& id : ids) {
    // The same name is not the same party: a pseudonym's name may have been taken again.
    SEMPER_ASSIGN_OR_RETURN(Loaded l, Load(id));
    const bool party = (l.claimant.has_value() && SameParty(*l.claimant, s.signer)) ||
                       (l.respondent.has_value() && SameParty(*l.respondent, s.signer));
    if (!party) continue;
    SEMPER_ASSIGN_OR_RETURN(v1::Case c, Get(id));
    c.clear_claim();
    c.clear_answer();
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<v1::Case> CaseBook::DecideByArbitrator(const v1::DecideCaseRequest& req, const Certificate& arbitrator) {
  if (req.outcome() == v1::VERDICT_OUTCOME_UNSPECIFIED || !v1::VerdictOutcome_IsValid(req.outcome())) {
    return InvalidField("outcome", "must be upheld, rejected or partially upheld");
  }
  if (req.reasoning().empty()) return InvalidField("reasoning", "is required: a written reason for the decision");
  if (req.reasoning().size() > 16 * 1024) return InvalidField("reasoning", "must be at most 16 KiB");
  if (req.remedies_size() > 20) return InvalidField("remedies", "must be at most 20");
  for (const auto& r : req.remedies()) {
    if (r.size() > 1024) return InvalidField("remedies", "must be at most 1 KiB each");
  }
  SEMPER_ASSIGN_OR_RETURN(Loaded l, Load(req.case_id()));
  if (l.c.state() != v1::CASE_STATE_AWAITING_ARBITRATOR) {
    return WrongState(StrCat("the case is ", StateName(l.c.state()), ", not awaiting an arbitrator"));
  }
  // The findings the arbitrator read (those of the routing to a human); see README "Known limits".
  std::vector<v1::Finding> findings(l.c.findings().begin(), l.c.findings().end());
  std::vector<std::string> remedies(req.remedies().begin(), req.remedies().end());
  if (remedies.empty()) remedies = Remedies(CappedClaim(l.claim, findings), req.outcome());
  SEMPER_ASSIGN_OR_RETURN(Decision d, Sign(l, findings, l.c.answer(), req.outcome(), req.reasoning(), remedies,
                                           arbitrator.Subject(), GuaranteeOrders(l.claim, req.outcome(), findings),
                                           /*may_reveal=*/true));
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_prepared("case_decide_human", l.c.case_id(), HexEncode(d.verdict), HexEncode(d.verdict_signature),
                              HexEncode(d.reveal_order), HexEncode(d.reveal_signature));
    if (r.affected_rows() != 1) return WrongState("the case was decided meanwhile");
    tx.exec_prepared("case_event", l.c.case_id(), "decided", arbitrator.Subject(),
                     StrCat(OutcomeText(req.outcome()), ": ", req.reasoning()));
    if (!d.reveal_order.empty()) {
      tx.exec_prepared("case_event", l.c.case_id(), "reveal-ordered", arbitrator.Subject(), l.respondent->Subject());
    }
    return db::AppendAudit(tx, "arbiter", "semper-arbiter",
                           {{arbitrator.Subject(), "verdict", l.c.case_id(),
                             StrCat("{\"outcome\": \"", OutcomeText(req.outcome()), "\", \"verdict_sha256\": \"",
                                    HexEncode(Sha256(d.verdict)),
                                    "\", \"reveal_order\": ", d.reveal_order.empty() ? "false" : "true", "}")}});
  }));
  (void)Close(l.c.case_id());
  return Get(l.c.case_id());
}

absl::Status CaseBook::Close(const std::string& case_id) {
  SEMPER_ASSIGN_OR_RETURN(Loaded l, Load(case_id));
  if (l.c.state() != v1::CASE_STATE_DECIDED) return absl::OkStatus();
  SEMPER_ASSIGN_OR_RETURN(v1::Evidence e, d_.notarize(l.c.verdict(), l.c.verdict_signature()));
  return d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_prepared("case_close", case_id, HexEncode(e.SerializeAsString()));
    if (r.affected_rows() == 1) {
      tx.exec_prepared("case_event", case_id, "closed", "semper-arbiter",
                       StrCat("verdict in semper-notary's log, entry ", e.index()));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<int> CaseBook::Sweep() {
  std::vector<std::string> due, unclosed;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    for (const auto& row : tx.exec_prepared("case_due", db::TimeText(d_.clock())))
      due.push_back(row["id"].as<std::string>());
    return absl::OkStatus();
  }));
  int changed = 0;
  absl::Status first_error;
  // A case that fails goes to the back of the queue (swept_at): the rest are not held back.
  auto failed = [&](const std::string& id) {
    (void)d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
      tx.exec_prepared0("case_sweep_failed", id);
      return absl::OkStatus();
    });
  };
  for (const auto& id : due) {
    auto l = Load(id);
    // With the respondent's answer if it came in time and could not be decided on then.
    absl::Status s = l.ok() ? DecideFiled(*l, l->c.answer(), l->c.answer_signature()) : l.status();
    if (s.ok()) ++changed;
    if (!s.ok() && s.code() != absl::StatusCode::kAborted) {
      failed(id);
      if (first_error.ok()) first_error = s;
    }
  }
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    for (const auto& row : tx.exec_prepared("case_unclosed")) unclosed.push_back(row[0].as<std::string>());
    return absl::OkStatus();
  }));
  for (const auto& id : unclosed) {
    absl::Status s = Close(id);
    if (s.ok()) ++changed;
    if (!s.ok()) {
      failed(id);
      if (first_error.ok()) first_error = s;
    }
  }
  if (!first_error.ok()) return first_error;
  return changed;
}

}  // namespace semper::arbiter
