// The arbiter's written rules: from a claim and the findings on both parties' evidence to a
// decision, or to "a human arbitrator must decide". Pure functions; thread-safe.
//
//   Evidence binds a party only through its signature over the content in dispute, the claim's
//   subject_sha256 (who signed an item is not enough: what it signs counts). A claim without it
//   (filed before it existed) goes to a human arbitrator.
//   Non-delivery, non-payment: the evidence must show the order in dispute (a SEMPER order whose
//   content has that SHA-256, naming the parties as buyer and seller the way the claim kind says);
//   the claim is upheld when the claimant shows the respondent's signature over it and the
//   respondent shows no receipt of the claimant (a Receipt container naming that content and
//   acknowledging the delivery, resp. the payment). Otherwise it is rejected.
//   Repudiated order or signature: the claim is upheld unless some evidence that holds is the
//   claimant's signature over the content in dispute (a signature that does not verify, or that a
//   time-stamp cannot place before the revocation of the claimant's key, binds nobody).
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

// The first order that holds, is the content in dispute and is between the case's parties in the
// roles the kind of claim gives them (buyer and seller; either way round when the kind gives none).
const v1::Finding* OrderInDispute(const v1::ClaimStatement& claim, const std::vector<v1::Finding>& findings);

// The claim as remedies state it: its amount at most what the order in dispute (OrderInDispute)
// is for; no figure in another currency, nor without such an order.
v1::ClaimStatement CappedClaim(const v1::ClaimStatement& claim, const std::vector<v1::Finding>& findings);

// The remedies that follow from an outcome (guarantees settled or released, payment or refund).
std::vector<std::string> Remedies(const v1::ClaimStatement& claim, v1::VerdictOutcome outcome);

}  // namespace semper::arbiter
