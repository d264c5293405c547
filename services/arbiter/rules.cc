// The arbiter's decision rules.
#include "services/arbiter/rules.h"

#include <cctype>

#include "common/base/strings.h"
#include "common/container/money.h"
#include "common/crypto/random.h"

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

// Whether what a finding signs is the content in dispute (the claim's subject_sha256).
bool About(const v1::Finding& f, const v1::ClaimStatement& claim) {
  return claim.subject_sha256().size() == 32 && f.content_sha256() == claim.subject_sha256();
}

std::string Describe(const v1::Finding& f) {
  return StrCat(f.submitted_by(), "'s item ", f.item() + 1, " (", f.label().empty() ? f.kind() : f.label(), ")");
}

std::string Amount(const v1::ClaimStatement& claim) {
  if (!claim.has_amount_claimed() || claim.amount_claimed().minor_units() <= 0) return "the amount in dispute";
  return FormatMoney(claim.amount_claimed());
}

// What is in dispute as the verdict names it: by its SHA-256 (what the rules read), with the
// claimant's free-text reference beside it for people.
std::string Reference(const v1::ClaimStatement& claim) {
  std::string hash = claim.subject_sha256().size() == 32
                         ? StrCat("the content with SHA-256 ", HexEncode(claim.subject_sha256()))
                         : std::string("the transaction in dispute");
  return claim.subject_reference().empty() ? hash : StrCat(hash, " (\"", claim.subject_reference(), "\")");
}

// Evidence the respondent shows of a delivery to the claimant, or of the claimant's payment,
// that the rules cannot tie to the order in dispute: the notary's statement that the claimant
// took delivery of certified mail, a completed exchange or an arbiter's replacement contract the
// claimant is a party to. A human weighs it. (Anything else, or between other parties, counts for
// nothing: a respondent cannot send every case it would lose to a human.)
bool UnreadDeliveryEvidence(const v1::Finding& f) {
  if (f.submitted_by() != "respondent" || !f.holds()) return false;
  if (f.kind() != "notary-mail-delivery" && f.kind() != "exchange-contract" &&
      f.kind() != "arbiter-replacement-contract") {
    return false;
  }
  for (const auto& p : f.signed_by_party()) {
    if (p == "claimant") return true;
  }
  return false;
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

const v1::Finding* OrderInDispute(const v1::ClaimStatement& claim, const std::vector<v1::Finding>& findings) {
  // The roles the kind of claim gives the parties (buyer, seller); either way round for the rest.
  std::optional<std::pair<std::string_view, std::string_view>> roles;
  switch (claim.kind()) {
    case v1::CLAIM_KIND_NON_DELIVERY:
    case v1::CLAIM_KIND_NOT_AS_ORDERED:
    case v1::CLAIM_KIND_REPUDIATED_ORDER:
      roles.emplace("claimant", "respondent");
      break;
    case v1::CLAIM_KIND_NON_PAYMENT:
      roles.emplace("respondent", "claimant");
      break;
    default:
      break;
  }
  for (const v1::Finding& f : findings) {
    if (!f.holds() || f.kind() != "container/order" || !About(f, claim)) continue;
    const bool between = roles ? f.order_buyer() == roles->first && f.order_seller() == roles->second
                               : (f.order_buyer() == "claimant" && f.order_seller() == "respondent") ||
                                     (f.order_buyer() == "respondent" && f.order_seller() == "claimant");
    if (between) return &f;
  }
  return nullptr;
}

v1::ClaimStatement CappedClaim(const v1::ClaimStatement& claim, const std::vector<v1::Finding>& findings) {
  v1::ClaimStatement out = claim;
  if (!claim.has_amount_claimed()) return out;
  const v1::Finding* order = OrderInDispute(claim, findings);
  // No order between the parties shows what is owed: no figure (a human writes the remedies it
  // decides); nor in another currency than the order's.
  if (order == nullptr || !order->has_order_amount() ||
      claim.amount_claimed().currency() != order->order_amount().currency()) {
    out.clear_amount_claimed();
  } else if (claim.amount_claimed().minor_units() > order->order_amount().minor_units()) {
    *out.mutable_amount_claimed() = order->order_amount();
  }
  return out;
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
  std::string action = outcome == v1::VERDICT_OUTCOME_CLAIM_UPHELD     ? upheld_action
                       : outcome == v1::VERDICT_OUTCOME_CLAIM_REJECTED ? rejected_action
                                                                       : "";
  std::vector<v1::GuaranteeOrder> out;
  if (action.empty()) return out;
  std::set<std::string> ordered;
  for (const v1::Finding& f : findings) {
    if (!f.holds() || f.guarantee_id().empty() || !ordered.insert(f.guarantee_id()).second) continue;
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
  // The rules read what is in dispute from the claim's subject_sha256 (claims filed before it
  // existed name it only in free text): without it, a human decides.
  const bool has_subject = claim.subject_sha256().size() == 32;
  if (!has_subject && claim.kind() != v1::CLAIM_KIND_OTHER && claim.kind() != v1::CLAIM_KIND_NOT_AS_ORDERED) {
    j.needs_arbitrator = true;
    j.reasoning =
        "The claim names the content in dispute only in free text (no subject_sha256): a human arbitrator "
        "decides.";
    return j;
  }
  std::string not_holding, not_about;
  for (const v1::Finding& f : findings) {
    if (!f.holds()) {
      StrAppend(&not_holding, " ", Describe(f), " does not hold: ", f.problem(), ".");
    } else if ((SignedBy(f, "claimant") || SignedBy(f, "respondent")) && !About(f, claim) &&
               f.kind() != "container/receipt") {
      StrAppend(&not_about, " ", Describe(f),
                " is signed by a party but not over the content in dispute: it binds "
                "nobody here.");
    }
  }
  // Evidence binds a party only through its signature over the content in dispute (issue "Trust
  // under attack (2 of 2)", finding 1): who signed an item is not enough, what it signs counts.
  auto first = [&findings](auto&& pred) -> const v1::Finding* {
    for (const v1::Finding& f : findings) {
      if (f.holds() && pred(f)) return &f;
    }
    return nullptr;
  };

  switch (claim.kind()) {
    case v1::CLAIM_KIND_NON_DELIVERY:
    case v1::CLAIM_KIND_NON_PAYMENT: {
      const bool delivery = claim.kind() == v1::CLAIM_KIND_NON_DELIVERY;
      const char* what = delivery ? "the delivery" : "the payment";
      const std::string buyer = delivery ? "claimant" : "respondent";
      const std::string seller = delivery ? "respondent" : "claimant";
      // The order in dispute, as the evidence shows it: a SEMPER order with this content,
      // between the parties in the roles the kind of claim gives them.
      const v1::Finding* order = OrderInDispute(claim, findings);
      // The respondent's signature over that content (the order itself, countersigned, or the
      // notary's attestation of it), shown by the claimant.
      const v1::Finding* binds = first([&](const v1::Finding& f) {
        return f.submitted_by() == "claimant" && SignedBy(f, "respondent") && About(f, claim);
      });
      // The claimant's receipt for that content, acknowledging what the claim says is missing.
      const v1::Finding* receipt = first([&](const v1::Finding& f) {
        return f.submitted_by() == "respondent" && f.kind() == "container/receipt" && SignedBy(f, "claimant") &&
               f.receipt_for_sha256() == claim.subject_sha256() &&
               f.receipt_acknowledges() == (delivery ? "delivery" : "payment");
      });
      const v1::Finding* unread = first(UnreadDeliveryEvidence);
      if (receipt == nullptr && order != nullptr && binds != nullptr && unread != nullptr) {
        j.needs_arbitrator = true;
        j.reasoning = StrCat("The respondent shows ", Describe(*unread), ", which holds: evidence of ", what,
                             " that the rules cannot tie to the order in dispute. A human arbitrator decides.");
        return j;
      }
      if (receipt != nullptr) {
        j.outcome = v1::VERDICT_OUTCOME_CLAIM_REJECTED;
        j.reasoning =
            StrCat("The respondent shows ", Describe(*receipt), ", the claimant's signed receipt acknowledging ", what,
                   " for the order in dispute.", not_holding, not_about);
      } else if (order == nullptr) {
        j.outcome = v1::VERDICT_OUTCOME_CLAIM_REJECTED;
        j.reasoning = StrCat(
            "No evidence that holds shows the order in dispute: a SEMPER order whose content has the "
            "claim's SHA-256, with the ",
            buyer, " as buyer and the ", seller, " as seller.", silence, not_holding, not_about);
      } else if (binds != nullptr) {
        j.outcome = v1::VERDICT_OUTCOME_CLAIM_UPHELD;
        j.respondent_bound = true;
        j.reasoning = StrCat("The respondent is bound by ", Describe(*binds),
                             ", its signature over the order in dispute, which holds; it shows no receipt of the "
                             "claimant acknowledging ",
                             what, " for that order.", silence, not_holding, not_about);
      } else {
        j.outcome = v1::VERDICT_OUTCOME_CLAIM_REJECTED;
        j.reasoning = StrCat("No evidence that holds carries the respondent's signature over the order in dispute.",
                             silence, not_holding, not_about);
      }
      break;
    }
    case v1::CLAIM_KIND_REPUDIATED_ORDER:
    case v1::CLAIM_KIND_REPUDIATED_SIGNATURE: {
      const v1::Finding* by_claimant =
          first([&](const v1::Finding& f) { return SignedBy(f, "claimant") && About(f, claim); });
      if (by_claimant != nullptr) {
        j.outcome = v1::VERDICT_OUTCOME_CLAIM_REJECTED;
        j.reasoning = StrCat(Describe(*by_claimant),
                             " holds and is the claimant's signature over the content in dispute, with a key that "
                             "was good when the signature was made: the claimant is bound by it.",
                             not_holding);
      } else {
        j.outcome = v1::VERDICT_OUTCOME_CLAIM_UPHELD;
        j.reasoning = StrCat("No evidence that holds is the claimant's signature over the content in dispute.", silence,
                             not_holding, not_about);
      }
      break;
    }
    default:
      j.needs_arbitrator = true;
      j.reasoning = "The rules do not decide this kind of claim: a human arbitrator decides.";
      return j;
  }
  const v1::ClaimStatement judged = CappedClaim(claim, findings);
  // Said only where the verdict orders an amount, of the order it read (found by a reviewer: a
  // rejection for want of the order in dispute went on about that order's amount).
  const bool upheld =
      j.outcome == v1::VERDICT_OUTCOME_CLAIM_UPHELD || j.outcome == v1::VERDICT_OUTCOME_PARTIALLY_UPHELD;
  if (upheld && OrderInDispute(claim, findings) != nullptr &&
      judged.amount_claimed().SerializeAsString() != claim.amount_claimed().SerializeAsString()) {
    StrAppend(&j.reasoning, " The claim asks for ", FormatMoney(claim.amount_claimed()), "; ",
              judged.has_amount_claimed()
                  ? StrCat("the order in dispute is for ", FormatMoney(judged.amount_claimed()),
                           ", which is what the verdict orders at most.")
                  : std::string("the order in dispute is in another currency: the verdict names no figure."));
  }
  j.remedies = Remedies(judged, j.outcome);
  j.guarantee_orders = GuaranteeOrders(claim, j.outcome, findings);
  return j;
}

}  // namespace semper::arbiter
