// The arbiter's written rules: from a claim and the findings on both parties' evidence to a
// decision, or to "a human arbitrator must decide". Pure functions; thread-safe.
//
//   Non-delivery, non-payment: the claim is upheld when evidence that holds binds the respondent
//   (an item it signed: order confirmation, order, contract, exchange) and the respondent shows
//   nothing that holds and that the claimant signed (a receipt for the delivery or the payment).
//   It is rejected when the respondent shows such a receipt, or when nothing that holds binds it.
//   Repudiated order or signature: the claim is upheld unless some evidence that holds is signed
//   by the claimant (a signature that does not verify, or that a time-stamp cannot place before
//   the revocation of the claimant's key, binds nobody).
//   Goods not as ordered, and free-text claims: a human arbitrator decides.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "semper/v1/arbiter.pb.h"

namespace semper::arbiter {

struct Judgement {
  bool needs_arbitrator = false;
  v1::VerdictOutcome outcome = v1::VERDICT_OUTCOME_UNSPECIFIED;
  std::string reasoning;
  std::vector<std::string> remedies;
  std::vector<v1::GuaranteeOrder> guarantee_orders;
  // Upheld because evidence the respondent signed binds it, not because something is missing
  // (a repudiation nobody contradicts): only then may a pseudonymous respondent be revealed.
  bool respondent_bound = false;
};

// What a verdict orders for the guarantees among the findings (those that hold): a claim upheld
// against a seller releases them (non-delivery, goods not as ordered, repudiation), one upheld
// against a buyer settles them (non-payment); a rejected claim the other way round. Partial and
// free-text outcomes order nothing.
std::vector<v1::GuaranteeOrder> GuaranteeOrders(const v1::ClaimStatement& claim, v1::VerdictOutcome outcome,
                                                const std::vector<v1::Finding>& findings);

// `human`: claim kinds an operator sends to a human arbitrator although the rules could decide
// them (arbiter.human_review); kinds the rules cannot decide always go to one.
Judgement Judge(const v1::ClaimStatement& claim, const std::vector<v1::Finding>& findings, bool answered,
                const std::set<v1::ClaimKind>& human = {});

// "non-delivery" <-> CLAIM_KIND_NON_DELIVERY, ...; nullopt for an unknown name.
std::optional<v1::ClaimKind> ClaimKindFromName(std::string_view name);

// The remedies that follow from an outcome (guarantees settled or released, payment or refund).
std::vector<std::string> Remedies(const v1::ClaimStatement& claim, v1::VerdictOutcome outcome);

}  // namespace semper::arbiter
