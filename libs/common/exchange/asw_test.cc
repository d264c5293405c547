// The ASW protocol between two parties, with an in-memory arbiter that keeps one record per
// exchange: an honest run never needs the arbiter; every way of stopping early ends fair.
#include "common/exchange/asw.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "common/crypto/certificate.h"
#include "common/crypto/cms.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_pki.h"

namespace semper::asw {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::SharedTestPki;
using ::semper::testing::StatusIs;

Party Make(const std::string& name) {
  auto id = SharedTestPki().Issue(name, kKuNonRepudiation | kKuDigitalSignature);
  return Party{id.key, id.certificate};
}

// The arbiter's rule: the first request for an exchange decides; later ones get the same token.
class MemoryArbiter {
 public:
  explicit MemoryArbiter(Party self) : self_(std::move(self)) {}
  absl::StatusOr<v1::SignedBody> Abort(const v1::AbortRequest& req) {
    SEMPER_ASSIGN_OR_RETURN(ArbiterRequest r, CheckAbort(req, self_.certificate));
    return Decide(r);
  }
  absl::StatusOr<v1::SignedBody> Resolve(const v1::ResolveRequest& req) {
    SEMPER_ASSIGN_OR_RETURN(ArbiterRequest r, CheckResolve(req, self_.certificate));
    return Decide(r);
  }
  size_t records() const { return records_.size(); }
  const Certificate& certificate() const { return self_.certificate; }

 private:
  absl::StatusOr<v1::SignedBody> Decide(const ArbiterRequest& r) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = records_.find(r.me1.hash);
    if (it != records_.end()) return it->second;
    SEMPER_ASSIGN_OR_RETURN(v1::SignedBody token, IssueToken(r.kind == ArbiterRequest::Kind::kResolve, r.me1_signed,
                                                             r.me2_signed, self_, absl::Now()));
    records_[r.me1.hash] = token;
    return token;
  }
  Party self_;
  std::mutex mu_;
  std::map<std::string, v1::SignedBody> records_;
};

struct Exchange {
  Party o = Make("Originator");
  Party r = Make("Responder");
  MemoryArbiter t{Make("Arbiter")};
  std::string contract = "O sells R 12 crates of apples for EUR 240.";
};

bool Resolved(const v1::SignedBody& token, const Certificate& arbiter) {
  auto v = VerifyToken(token, arbiter);
  EXPECT_THAT(v, IsOk());
  return v.ok() && v->resolved;
}

TEST(AswTest, AnHonestRunNeverContactsTheArbiter) {
  Exchange x;
  Originator o(x.o, x.r.certificate, x.t.certificate(), x.contract);
  auto me1 = o.Me1();
  ASSERT_THAT(me1, IsOk());
  auto r = Responder::Accept(x.r, x.t.certificate(), *me1);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->contract(), x.contract);
  auto me2 = r->Me2();
  auto me3 = o.Me3(*me2);
  ASSERT_THAT(me3, IsOk());
  auto me4 = r->Me4(*me3);
  ASSERT_THAT(me4, IsOk());
  auto contract = o.Finish(*me4);
  ASSERT_THAT(contract, IsOk());
  EXPECT_THAT(VerifyStandardContract(*contract), IsOk());
  EXPECT_THAT(VerifyStandardContract(r->Contract()), IsOk());
  EXPECT_EQ(x.t.records(), 0u);
}

TEST(AswTest, ResponderSilentAfterMe1OriginatorAborts) {
  Exchange x;
  Originator o(x.o, x.r.certificate, x.t.certificate(), x.contract);
  ASSERT_THAT(o.Me1(), IsOk());
  auto abort = x.t.Abort(*o.Abort());
  ASSERT_THAT(abort, IsOk());
  EXPECT_FALSE(Resolved(*abort, x.t.certificate()));  // neither has a contract
}

TEST(AswTest, OriginatorSilentAfterMe2EitherOrderIsFair) {
  for (bool responder_first : {true, false}) {
    Exchange x;
    Originator o(x.o, x.r.certificate, x.t.certificate(), x.contract);
    auto me1 = o.Me1();
    auto r = Responder::Accept(x.r, x.t.certificate(), *me1);
    auto me2 = r->Me2();
    ASSERT_THAT(me2, IsOk());
    // O received me2 but stops; R asks to resolve, O (dishonestly or late) asks to abort.
    absl::StatusOr<v1::SignedBody> r_token, o_token;
    if (responder_first) {
      r_token = x.t.Resolve(*r->Resolve());
      o_token = x.t.Abort(*o.Abort());
    } else {
      o_token = x.t.Abort(*o.Abort());
      r_token = x.t.Resolve(*r->Resolve());
    }
    ASSERT_THAT(r_token, IsOk());
    ASSERT_THAT(o_token, IsOk());
    // Both get the same decision: both hold the replacement contract, or both the abort.
    EXPECT_EQ(Resolved(*r_token, x.t.certificate()), responder_first);
    EXPECT_EQ(Resolved(*o_token, x.t.certificate()), responder_first);
    EXPECT_EQ(r_token->body(), o_token->body());
  }
}

TEST(AswTest, ResponderSilentAfterMe3OriginatorResolves) {
  Exchange x;
  Originator o(x.o, x.r.certificate, x.t.certificate(), x.contract);
  auto me1 = o.Me1();
  auto r = Responder::Accept(x.r, x.t.certificate(), *me1);
  auto me3 = o.Me3(*r->Me2());
  ASSERT_THAT(me3, IsOk());
  ASSERT_THAT(r->Me4(*me3), IsOk());  // R holds the standard contract but does not send me4
  EXPECT_THAT(VerifyStandardContract(r->Contract()), IsOk());
  auto token = x.t.Resolve(*o.Resolve());
  ASSERT_THAT(token, IsOk());
  EXPECT_TRUE(Resolved(*token, x.t.certificate()));  // O gets the replacement contract
  // And a repeated request gets the same signed answer.
  auto again = x.t.Resolve(*o.Resolve());
  EXPECT_EQ(again->body(), token->body());
  EXPECT_EQ(again->signature(), token->signature());
}

TEST(AswTest, RequestsAndMessagesThatDoNotBindAreRefused) {
  Exchange x, y;
  Originator o(x.o, x.r.certificate, x.t.certificate(), x.contract);
  auto me1 = o.Me1();
  auto r = Responder::Accept(x.r, x.t.certificate(), *me1);
  auto me2 = r->Me2();
  // R may not abort; a third party may not resolve.
  v1::AbortRequest by_r = *o.Abort();
  {
    Originator impostor(x.r, x.r.certificate, x.t.certificate(), x.contract);  // signs with R's key
    ASSERT_THAT(impostor.Me1(), IsOk());
    by_r.set_allocated_request(new v1::SignedBody(impostor.Abort()->request()));
  }
  EXPECT_THAT(x.t.Abort(by_r), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_THAT(o.Me3(*me2), IsOk());
  v1::ResolveRequest stranger = *o.Resolve();
  Originator other(y.o, y.r.certificate, x.t.certificate(), "another contract");
  ASSERT_THAT(other.Me1(), IsOk());
  *stranger.mutable_request() = other.Abort()->request();
  EXPECT_THAT(x.t.Resolve(stranger), StatusIs(absl::StatusCode::kPermissionDenied));
  // A me1 naming another arbiter, and a tampered me1.
  EXPECT_THAT(y.t.Abort(*o.Abort()), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::AbortRequest tampered = *o.Abort();
  tampered.mutable_me1()->mutable_body()->back() ^= 1;
  EXPECT_FALSE(x.t.Abort(tampered).ok());
  // Replay: me3 of another exchange between the same parties does not complete this one.
  Originator o2(x.o, x.r.certificate, x.t.certificate(), x.contract);
  auto me1b = o2.Me1();
  auto r2 = Responder::Accept(x.r, x.t.certificate(), *me1b);
  auto me3b = o2.Me3(*r2->Me2());
  ASSERT_THAT(me3b, IsOk());
  EXPECT_THAT(r->Me4(*me3b), StatusIs(absl::StatusCode::kInvalidArgument));
  // Nothing was decided for x by the refused requests.
  EXPECT_EQ(x.t.records(), 0u);
}

}  // namespace
}  // namespace semper::asw

namespace semper::asw {
namespace {

TEST(AswKindsTest, CertifiedMailGivesTheReceiptOnlyForTheNamedDocument) {
  Exchange x;
  auto escrow = SharedTestPki().Issue("Arbiter escrow", kKuKeyAgreement);
  ExchangeTerms terms;
  terms.kind = v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT;
  terms.contract = "certified mail: the annual report";
  terms.document = "the annual report, 40 pages";
  terms.escrow = escrow.certificate;
  Originator o(x.o, x.r.certificate, x.t.certificate(), terms);
  auto me1 = o.Me1();
  ASSERT_THAT(me1, IsOk());
  auto r = Responder::Accept(x.r, x.t.certificate(), *me1);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->terms().document_sha256(), Hash(terms.document));
  // The escrow is the document, readable by the arbiter's escrow key only.
  auto opened = CmsDecrypt(r->terms().document_escrow(), escrow.key, escrow.certificate);
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(*opened, terms.document);
  auto me2 = r->Me2();
  auto me3 = o.Me3(*me2);
  ASSERT_THAT(me3, IsOk());
  // No receipt before the document; not for another document.
  EXPECT_THAT(r->Me4(*me3), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(r->ReceiveDocument("another report"), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_THAT(r->ReceiveDocument(o.document()), IsOk());
  auto me4 = r->Me4(*me3);
  ASSERT_THAT(me4, IsOk());
  EXPECT_THAT(o.Finish(*me4), IsOk());
  EXPECT_EQ(x.t.records(), 0u);
  // A resolve would bring O the substitute receipt for exactly this document.
  auto view = VerifyMe1(*me1);
  ASSERT_THAT(view, IsOk());
  auto affidavit = AffidavitFor(*view, true, absl::Now());
  ASSERT_TRUE(affidavit.has_value());
  EXPECT_EQ(affidavit->type(), "semper-substitute-receipt");
  EXPECT_EQ(affidavit->document_sha256(), Hash(terms.document));
  EXPECT_FALSE(AffidavitFor(*view, false, absl::Now()).has_value());
}

TEST(AswKindsTest, DeliveryForPaymentNamesThePaymentAndItsProvider) {
  Exchange x;
  ExchangeTerms terms;
  terms.kind = v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT;
  terms.contract = "12 crates of apples against EUR 240";
  terms.payment.set_instrument("sepa-credit-transfer");
  terms.payment.set_reference("E2E-2026-0042");
  terms.payment.set_provider("Example Bank AG");
  terms.payment.mutable_amount()->set_currency("EUR");
  terms.payment.mutable_amount()->set_minor_units(24000);
  Originator o(x.o, x.r.certificate, x.t.certificate(), terms);
  auto me1 = o.Me1();
  ASSERT_THAT(me1, IsOk());
  auto view = VerifyMe1(*me1);
  ASSERT_THAT(view, IsOk());
  // An abort orders nothing at once; the reversal states only what the arbiter knows.
  EXPECT_FALSE(AffidavitFor(*view, false, absl::Now()).has_value());
  const absl::Time aborted = absl::FromUnixSeconds(1800000000);
  v1::AffidavitStatement reversal = PaymentReversal(*view, aborted, aborted + absl::Hours(72), absl::Now());
  EXPECT_EQ(reversal.type(), "semper-payment-reversal-order");
  EXPECT_EQ(reversal.addressed_to(), "Example Bank AG");
  EXPECT_EQ(reversal.payment().reference(), "E2E-2026-0042");
  EXPECT_THAT(reversal.statement(), ::testing::HasSubstr("will not resolve it"));
  EXPECT_THAT(reversal.statement(), ::testing::HasSubstr("no standard contract"));
  EXPECT_THAT(reversal.statement(), ::testing::Not(::testing::HasSubstr("committed")));
  EXPECT_EQ(AffidavitFor(*view, true, absl::Now())->type(), "semper-payment-release-order");
  EXPECT_EQ(PaymentReleaseOnContract(*view, absl::Now()).type(), "semper-payment-release-order");
  // A payment without provider or amount is refused when me1 is made.
  ExchangeTerms bad = terms;
  bad.payment.clear_provider();
  EXPECT_THAT(Originator(x.o, x.r.certificate, x.t.certificate(), bad).Me1(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  bad = terms;
  bad.payment.mutable_amount()->set_minor_units(0);
  EXPECT_THAT(Originator(x.o, x.r.certificate, x.t.certificate(), bad).Me1(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Contract signing has no affidavit.
  Originator plain(x.o, x.r.certificate, x.t.certificate(), x.contract);
  auto plain_view = VerifyMe1(*plain.Me1());
  EXPECT_FALSE(AffidavitFor(*plain_view, true, absl::Now()).has_value());
}

}  // namespace
}  // namespace semper::asw

namespace semper::asw {
namespace {

TEST(AswStateTest, BothSidesResumeFromTheirSavedStateBetweenSteps) {
  Exchange x;
  auto roundtrip = [](const v1::ExchangeState& st) {
    v1::ExchangeState back;
    EXPECT_TRUE(back.ParseFromString(st.SerializeAsString()));
    return back;
  };
  v1::SignedBody me1;
  v1::ExchangeState o_state, r_state;
  {
    Originator o(x.o, x.r.certificate, x.t.certificate(), x.contract);
    me1 = *o.Me1();
    o_state = roundtrip(o.State());
  }
  v1::SignedBody me2;
  {
    auto r = Responder::Accept(x.r, x.t.certificate(), me1);
    me2 = *r->Me2();
    r_state = roundtrip(r->State());
  }
  v1::SignedBody me3;
  {
    auto o = Originator::Restore(x.o, o_state);
    ASSERT_THAT(o, IsOk());
    auto m = o->Me3(me2);
    ASSERT_THAT(m, IsOk());
    me3 = *m;
    o_state = roundtrip(o->State());
  }
  v1::SignedBody me4;
  {
    auto r = Responder::Restore(x.r, r_state);
    ASSERT_THAT(r, IsOk());
    auto m = r->Me4(me3);
    ASSERT_THAT(m, IsOk());
    me4 = *m;
  }
  auto o = Originator::Restore(x.o, o_state);
  ASSERT_THAT(o, IsOk());
  auto contract = o->Finish(me4);
  ASSERT_THAT(contract, IsOk());
  EXPECT_THAT(VerifyStandardContract(*contract), IsOk());
  // A state is bound to its party and to its nonce.
  EXPECT_FALSE(Originator::Restore(x.r, o_state).ok());
  v1::ExchangeState tampered = o_state;
  tampered.set_nonce(std::string(32, 'x'));
  EXPECT_FALSE(Originator::Restore(x.o, tampered).ok());
}

}  // namespace
}  // namespace semper::asw
