// The arbiter's decision rules.
#include "services/arbiter/rules.h"

#include <cctype>

#include "common/base/strings.h"
#include "common/container/money.h"

namespace semper::arbiter {
namespace {

// Whether `party` signed what a finding is about: only a signature that was checked binds (a
// certificate, which anyone can show, binds its subject to nothing).
bool SignedBy(const v1::Finding& f, std::string_view party) {
  static constexpr std::string_view kSignatures[] = {"cms-signature", "asw-signatures-and-nonces", "notary-signature",
                                                     "arbiter-signature", "time-stamp-token"};
  bool signature = false;
  for (const auto& v : f.verified()) {
    for (std::string_view s : kSignatures) signature |= v == s;
  }
  if (!signature) return false;
  for (const auto& p : f.signed_by_party()) {
    if (p == party) return true;
  }
  return false;
}

std::string Describe(const v1::Finding& f) {
  return StrCat(f.submitted_by(), "'s item ", f.item() + 1, " (", f.label().empty() ? f.kind() : f.label(), ")");
}

std::string Amount(const v1::ClaimStatement& claim) {
  if (!claim.has_amount_claimed() || claim.amount_claimed().minor_units() <= 0) return "the amount in dispute";
  return FormatMoney(claim.amount_claimed());
}

std::string Reference(const v1::ClaimStatement& claim) {
  return claim.subject_reference().empty() ? std::string("the transaction in dispute")
                                           : StrCat("\"", claim.subject_reference(), "\"");
}

}  // namespace

std::vector<std::string> Remedies(const v1::ClaimStatement& claim, v1::VerdictOutcome outcome) {
  const bool upheld = outcome == v1::VERDICT_OUTCOME_CLAIM_UPHELD || outcome == v1::VERDICT_OUTCOME_PARTIALLY_UPHELD;
  switch (claim.kind()) {
    case v1::CLAIM_KIND_NON_DELIVERY:
    case v1::CLAIM_KIND_NOT_AS_ORDERED:
      if (upheld) {
        return {StrCat("the respondent refunds ", Amount(claim), " to the claimant"),
                StrCat("liability guarantees for ", Reference(claim), " are released"),
                StrCat("payments for ", Reference(claim), " may be reversed by the payment provider")};
      }
      return {StrCat("liability guarantees for ", Reference(claim), " are settled")};
    case v1::CLAIM_KIND_NON_PAYMENT:
      if (upheld) {
        return {StrCat("the respondent pays ", Amount(claim), " to the claimant"),
                StrCat("liability guarantees for ", Reference(claim), " are settled in the claimant's favour")};
      }
      return {StrCat("liability guarantees for ", Reference(claim), " are released")};
    case v1::CLAIM_KIND_REPUDIATED_ORDER:
    case v1::CLAIM_KIND_REPUDIATED_SIGNATURE:
      if (upheld) {
        return {StrCat("the claimant is not bound by ", Reference(claim)),
                StrCat("liability guarantees for ", Reference(claim), " are released")};
      }
      return {StrCat("the claimant is bound by ", Reference(claim))};
    default:
      return {};
  }
}

std::optional<v1::ClaimKind> ClaimKindFromName(std::string_view name) {
  for (int k = v1::ClaimKind_MIN; k <= v1::ClaimKind_MAX; ++k) {
    if (!v1::ClaimKind_IsValid(k) || k == v1::CLAIM_KIND_UNSPECIFIED) continue;
    std::string n = v1::ClaimKind_Name(static_cast<v1::ClaimKind>(k)).substr(std::string_view("CLAIM_KIND_").size());
    for (char& c : n) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n == name) return static_cast<v1::ClaimKind>(k);
  }
  return std::nullopt;
}

std::vector<v1::GuaranteeOrder> GuaranteeOrders(const v1::ClaimStatement& claim, v1::VerdictOutcome outcome,
                                                const std::vector<v1::Finding>& findings) {
  std::string upheld_action, rejected_action;
  switch (claim.kind()) {
    case v1::CLAIM_KIND_NON_DELIVERY:
    case v1::CLAIM_KIND_NOT_AS_ORDERED:
    case v1::CLAIM_KIND_REPUDIATED_ORDER:
    case v1::CLAIM_KIND_REPUDIATED_SIGNATURE:
      upheld_action = "release";
      rejected_action = "settle";
      break;
    case v1::CLAIM_KIND_NON_PAYMENT:
      upheld_action = "settle";
      rejected_action = "release";
      break;
    default:
      return {};
  }
  std::string action = outcome == v1::VERDICT_OUTCOME_CLAIM_UPHELD    ? upheld_action
                       : outcome == v1::VERDICT_OUTCOME_CLAIM_REJECTED ? rejected_action
                                                                      : "";
  std::vector<v1::GuaranteeOrder> out;
  if (action.empty()) return out;
  for (const v1::Finding& f : findings) {
    if (!f.holds() || f.guarantee_id().empty()) continue;
    v1::GuaranteeOrder o;
    o.set_guarantee_id(f.guarantee_id());
    o.set_action(action);
    out.push_back(std::move(o));
  }
  return out;
}

Judgement Judge(const v1::ClaimStatement& claim, const std::vector<v1::Finding>& findings, bool answered,
                const std::set<v1::ClaimKind>& human) {
  Judgement j;
  if (human.contains(claim.kind())) {
    j.needs_arbitrator = true;
    j.reasoning = "This kind of claim goes to a human arbitrator in this deployment (arbiter.human_review).";
    return j;
  }
  const std::string silence = answered ? "" : " The respondent did not answer before the deadline.";
  std::vector<const v1::Finding*> binds_respondent, discharges, by_claimant, failed;
  for (const v1::Finding& f : findings) {
    if (!f.holds()) {
      failed.push_back(&f);
      continue;
    }
    if (SignedBy(f, "respondent") && f.submitted_by() == "claimant") binds_respondent.push_back(&f);
    if (SignedBy(f, "claimant") && f.submitted_by() == "respondent") discharges.push_back(&f);
    if (SignedBy(f, "claimant")) by_claimant.push_back(&f);
  }
  std::string not_holding;
  for (const v1::Finding* f : failed) StrAppend(&not_holding, " ", Describe(*f), " does not hold: ", f->problem(), ".");

  switch (claim.kind()) {
    case v1::CLAIM_KIND_NON_DELIVERY:
    case v1::CLAIM_KIND_NON_PAYMENT: {
      const char* what = claim.kind() == v1::CLAIM_KIND_NON_DELIVERY ? "the delivery" : "the payment";
      if (!discharges.empty()) {
        j.outcome = v1::VERDICT_OUTCOME_CLAIM_REJECTED;
        j.reasoning = StrCat("The respondent shows ", Describe(*discharges.front()),
                             ", signed by the claimant, which acknowledges ", what, ".", not_holding);
      } else if (!binds_respondent.empty()) {
        j.outcome = v1::VERDICT_OUTCOME_CLAIM_UPHELD;
        j.respondent_bound = true;
        j.reasoning = StrCat("The respondent is bound by ", Describe(*binds_respondent.front()),
                             ", which holds, and shows nothing signed by the claimant that acknowledges ", what,
                             ".", silence, not_holding);
      } else {
        j.outcome = v1::VERDICT_OUTCOME_CLAIM_REJECTED;
        j.reasoning = StrCat("No evidence that holds binds the respondent.", silence, not_holding);
      }
      break;
    }
    case v1::CLAIM_KIND_REPUDIATED_ORDER:
    case v1::CLAIM_KIND_REPUDIATED_SIGNATURE:
      if (!by_claimant.empty()) {
        j.outcome = v1::VERDICT_OUTCOME_CLAIM_REJECTED;
        j.reasoning = StrCat(Describe(*by_claimant.front()),
                             " holds and is signed by the claimant with a key that was good when the signature "
                             "was made: the claimant is bound by it.",
                             not_holding);
      } else {
        j.outcome = v1::VERDICT_OUTCOME_CLAIM_UPHELD;
        j.reasoning = StrCat("No evidence that holds is signed by the claimant.", silence, not_holding);
      }
      break;
    default:
      j.needs_arbitrator = true;
      j.reasoning = "The rules do not decide this kind of claim: a human arbitrator decides.";
      return j;
  }
  j.remedies = Remedies(claim, j.outcome);
  j.guarantee_orders = GuaranteeOrders(claim, j.outcome, findings);
  return j;
}

}  // namespace semper::arbiter
