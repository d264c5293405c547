// The arbiter's decision rules on findings (the integration test feeds them real evidence).
#include "services/arbiter/rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace semper::arbiter {
namespace {

using ::testing::HasSubstr;

v1::Finding Item(std::string submitted_by, bool holds, std::vector<std::string> signed_by, std::string label) {
  v1::Finding f;
  f.set_submitted_by(std::move(submitted_by));
  f.set_holds(holds);
  f.add_verified("cms-signature");
  for (auto& p : signed_by) f.add_signed_by_party(std::move(p));
  f.set_label(std::move(label));
  if (!holds) f.set_problem("the signature does not hold");
  return f;
}

v1::ClaimStatement Claim(v1::ClaimKind kind) {
  v1::ClaimStatement c;
  c.set_kind(kind);
  c.set_subject_reference("2026-0042");
  c.mutable_amount_claimed()->set_currency("EUR");
  c.mutable_amount_claimed()->set_minor_units(12990);
  return c;
}

TEST(RulesTest, NonDeliveryNeedsABindingItemAndNoReceipt) {
  auto claim = Claim(v1::CLAIM_KIND_NON_DELIVERY);
  auto bound = Item("claimant", true, {"respondent"}, "confirmation");
  auto receipt = Item("respondent", true, {"claimant"}, "receipt");
  auto forged_receipt = Item("respondent", false, {}, "receipt");
  EXPECT_EQ(Judge(claim, {bound}, false).outcome, v1::VERDICT_OUTCOME_CLAIM_UPHELD);
  EXPECT_EQ(Judge(claim, {bound, receipt}, true).outcome, v1::VERDICT_OUTCOME_CLAIM_REJECTED);
  Judgement j = Judge(claim, {bound, forged_receipt}, true);
  EXPECT_EQ(j.outcome, v1::VERDICT_OUTCOME_CLAIM_UPHELD);
  EXPECT_THAT(j.reasoning, HasSubstr("does not hold"));
  EXPECT_THAT(j.remedies, ::testing::Contains(HasSubstr("refunds 129.90 EUR")));
  // The claimant's own signature does not bind the respondent; nor does a third party's.
  EXPECT_EQ(Judge(claim, {Item("claimant", true, {"claimant"}, "my order")}, false).outcome,
            v1::VERDICT_OUTCOME_CLAIM_REJECTED);
  EXPECT_EQ(Judge(claim, {Item("claimant", true, {"third-party"}, "a time-stamp")}, false).outcome,
            v1::VERDICT_OUTCOME_CLAIM_REJECTED);
}

// A certificate (anyone can show anyone's) binds nobody, even if a finding names its subject.
TEST(RulesTest, ACertificateBindsNobody) {
  v1::Finding certificate;
  certificate.set_submitted_by("claimant");
  certificate.set_holds(true);
  certificate.set_kind("certificate");
  certificate.add_verified("certificate-path");
  certificate.add_verified("status-good-now");
  certificate.add_signed_by_party("respondent");
  Judgement j = Judge(Claim(v1::CLAIM_KIND_NON_DELIVERY), {certificate}, false);
  EXPECT_EQ(j.outcome, v1::VERDICT_OUTCOME_CLAIM_REJECTED);
  EXPECT_FALSE(j.respondent_bound);
  certificate.set_submitted_by("respondent");
  certificate.set_signed_by_party(0, "claimant");  // the claimant's certificate as a "receipt"
  EXPECT_EQ(Judge(Claim(v1::CLAIM_KIND_NON_DELIVERY), {Item("claimant", true, {"respondent"}, "confirmation"), certificate},
                  true)
                .outcome,
            v1::VERDICT_OUTCOME_CLAIM_UPHELD);
  EXPECT_EQ(Judge(Claim(v1::CLAIM_KIND_REPUDIATED_ORDER), {certificate}, true).outcome, v1::VERDICT_OUTCOME_CLAIM_UPHELD);
}

// Only a verdict that rests on what the respondent signed may reveal a pseudonymous respondent.
TEST(RulesTest, TheRespondentIsBoundOnlyByWhatItSigned) {
  EXPECT_TRUE(Judge(Claim(v1::CLAIM_KIND_NON_DELIVERY), {Item("claimant", true, {"respondent"}, "confirmation")}, false)
                  .respondent_bound);
  Judgement silent = Judge(Claim(v1::CLAIM_KIND_REPUDIATED_ORDER), {}, false);
  EXPECT_EQ(silent.outcome, v1::VERDICT_OUTCOME_CLAIM_UPHELD);
  EXPECT_FALSE(silent.respondent_bound);
}

TEST(RulesTest, RepudiationStandsUnlessTheClaimantsSignatureHolds) {
  auto claim = Claim(v1::CLAIM_KIND_REPUDIATED_SIGNATURE);
  EXPECT_EQ(Judge(claim, {}, false).outcome, v1::VERDICT_OUTCOME_CLAIM_UPHELD);
  EXPECT_EQ(Judge(claim, {Item("respondent", false, {}, "order")}, true).outcome, v1::VERDICT_OUTCOME_CLAIM_UPHELD);
  EXPECT_EQ(Judge(claim, {Item("respondent", true, {"claimant"}, "order")}, true).outcome,
            v1::VERDICT_OUTCOME_CLAIM_REJECTED);
}

TEST(RulesTest, HumanKindsAndOperatorChoicesGoToAnArbitrator) {
  EXPECT_TRUE(Judge(Claim(v1::CLAIM_KIND_NOT_AS_ORDERED), {}, true).needs_arbitrator);
  EXPECT_TRUE(Judge(Claim(v1::CLAIM_KIND_OTHER), {}, true).needs_arbitrator);
  auto claim = Claim(v1::CLAIM_KIND_NON_PAYMENT);
  EXPECT_FALSE(Judge(claim, {}, true).needs_arbitrator);
  EXPECT_TRUE(Judge(claim, {}, true, {v1::CLAIM_KIND_NON_PAYMENT}).needs_arbitrator);
}

TEST(RulesTest, ClaimKindNames) {
  EXPECT_EQ(ClaimKindFromName("non-delivery"), v1::CLAIM_KIND_NON_DELIVERY);
  EXPECT_EQ(ClaimKindFromName("repudiated-signature"), v1::CLAIM_KIND_REPUDIATED_SIGNATURE);
  EXPECT_EQ(ClaimKindFromName("unspecified"), std::nullopt);
  EXPECT_EQ(ClaimKindFromName("NON_DELIVERY"), std::nullopt);
}

}  // namespace
}  // namespace semper::arbiter

namespace semper::arbiter {
namespace {

TEST(RulesTest, VerdictsOrderWhatHappensToTheGuaranteesInEvidence) {
  v1::Finding g = Item("claimant", true, {"third-party"}, "guarantee");
  g.set_guarantee_id("G-1");
  v1::Finding bad = Item("claimant", false, {}, "forged guarantee");
  bad.set_guarantee_id("G-2");
  auto order = [&](v1::ClaimKind kind, v1::VerdictOutcome outcome) {
    auto orders = GuaranteeOrders(Claim(kind), outcome, {g, bad});
    return orders.empty() ? std::string() : orders[0].guarantee_id() + " " + orders[0].action() +
                                                (orders.size() > 1 ? " and more" : "");
  };
  EXPECT_EQ(order(v1::CLAIM_KIND_NON_DELIVERY, v1::VERDICT_OUTCOME_CLAIM_UPHELD), "G-1 release");
  EXPECT_EQ(order(v1::CLAIM_KIND_NON_DELIVERY, v1::VERDICT_OUTCOME_CLAIM_REJECTED), "G-1 settle");
  EXPECT_EQ(order(v1::CLAIM_KIND_NON_PAYMENT, v1::VERDICT_OUTCOME_CLAIM_UPHELD), "G-1 settle");
  EXPECT_EQ(order(v1::CLAIM_KIND_REPUDIATED_ORDER, v1::VERDICT_OUTCOME_CLAIM_UPHELD), "G-1 release");
  EXPECT_EQ(order(v1::CLAIM_KIND_NON_DELIVERY, v1::VERDICT_OUTCOME_PARTIALLY_UPHELD), "");
  EXPECT_EQ(order(v1::CLAIM_KIND_OTHER, v1::VERDICT_OUTCOME_CLAIM_UPHELD), "");
}

}  // namespace
}  // namespace semper::arbiter
