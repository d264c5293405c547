// semper-liability as processes (two replicas on one database) with semper-ca and a real
// PostgreSQL: agreements, guarantees checked with openssl, every rejection with nothing
// reserved, the lifecycle of a guarantee, retries, and no over-issue under 64 concurrent clients.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "common/base/proto_time.h"
#include "common/base/strings.h"
#include "common/container/container.h"
#include "common/crypto/cms.h"
#include "common/crypto/csr.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/server/grpc_status.h"
#include "semper/v1/ca.grpc.pb.h"
#include "semper/v1/ca.pb.h"
#include "semper/v1/liability.grpc.pb.h"
#include "semper/v1/privacy.grpc.pb.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/suite.h"
#include "tests/support/wallet.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::RunCommand;
using ::semper::testing::StatusIs;
using ::semper::testing::StatusWithMessage;
using ::semper::testing::Suite;
using ::semper::testing::TempDir;
using ::testing::HasSubstr;

class LiabilityTest : public ::semper::testing::PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    Suite::Options o = Suite::Options::Only({"liability", "arbiter"}, conninfo());
    o.liability_replicas = 2;
    o.env["liability"] = {"SEMPER_LIABILITY_EXPIRY_INTERVAL=200ms", "SEMPER_LIABILITY_REVOCATION_STALENESS=3s"};
    auto suite = Suite::Start(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
    auto buyer = suite_->Enroll("Bert Buyer", v1::CUSTOMER_KIND_INDIVIDUAL);
    ASSERT_THAT(buyer.status(), IsOk());
    buyer_.emplace(*buyer);
    auto seller = suite_->Enroll("Example Shop GmbH", v1::CUSTOMER_KIND_ENTERPRISE);
    ASSERT_THAT(seller.status(), IsOk());
    seller_.emplace(*seller);
  }

  std::unique_ptr<v1::Liability::Stub> Tracker(int replica = 1) {
    return v1::Liability::NewStub(suite_->Channel(replica == 1 ? "liability" : "liability2"));
  }
  // As a subscriber (its authentication certificate over TLS).
  std::unique_ptr<v1::Liability::Stub> TrackerAs(const Suite::Subscriber& who, int replica = 1) {
    return v1::Liability::NewStub(suite_->ChannelAs(replica == 1 ? "liability" : "liability2", who));
  }

  v1::SignedContainer Agreement(const Suite::Subscriber& buyer, int64_t overall, int64_t per_tx,
                                absl::Duration valid = absl::Hours(24), const std::string& currency = "EUR") {
    v1::ContainerContent c = NewContainerContent(absl::Now());
    v1::Agreement* a = c.mutable_template_()->mutable_agreement();
    a->mutable_overall_limit()->set_currency(currency);
    a->mutable_overall_limit()->set_minor_units(overall);
    a->mutable_per_transaction_limit()->set_currency(currency);
    a->mutable_per_transaction_limit()->set_minor_units(per_tx);
    *a->mutable_valid_from() = ToTimestamp(absl::Now() - absl::Minutes(1));
    *a->mutable_valid_until() = ToTimestamp(absl::Now() + valid);
    a->set_applicable_law("DE");
    a->set_conditions("I am liable for what I sign with my signature key, within these limits.");
    c.mutable_requested()->set_non_repudiation_of_origin(true);
    auto sealed = Seal(c, {.signers = {SignerIdentity{buyer.key, buyer.certificate, suite_->Chain()}}});
    EXPECT_THAT(sealed.status(), IsOk());
    return sealed->signed_();
  }

  absl::StatusOr<v1::AgreementRecord> Register(const v1::SignedContainer& agreement) {
    v1::RegisterAgreementRequest req;
    *req.mutable_agreement() = agreement;
    v1::AgreementRecord rec;
    grpc::ClientContext ctx;
    grpc::Status s = Tracker()->RegisterAgreement(&ctx, req, &rec);
    if (!s.ok()) return FromGrpcStatus(s);
    return rec;
  }

  // A request for `buyer`'s (default: buyer_) signed order of `amount` to seller_. Orders are
  // cached per (buyer, amount, currency, request id): a retry sends the same bytes.
  v1::GuaranteeRequest Ask(int64_t amount, const std::string& currency = "EUR", std::string request_id = "",
                           const Suite::Subscriber* buyer = nullptr) {
    const Suite::Subscriber& b = buyer != nullptr ? *buyer : *buyer_;
    v1::GuaranteeRequest req;
    req.set_request_id(request_id.empty() ? HexEncode(RandomBytes(8)) : request_id);
    std::lock_guard<std::mutex> lock(orders_mu_);
    std::string& order = orders_[StrCat(b.certificate.SerialHex(), "/", amount, "/", currency, "/", req.request_id())];
    if (order.empty()) order = suite_->SignedOrder(b, seller_->certificate, amount, currency);
    req.set_order(order);
    return req;
  }

  absl::StatusOr<v1::Guarantee> Guarantee(const v1::GuaranteeRequest& req, int replica = 1,
                                          const Suite::Subscriber* as = nullptr) {
    v1::Guarantee g;
    grpc::ClientContext ctx;
    grpc::Status s =
        (as == nullptr ? TrackerAs(*seller_, replica) : TrackerAs(*as, replica))->RequestGuarantee(&ctx, req, &g);
    if (!s.ok()) return FromGrpcStatus(s);
    return g;
  }

  // Ends a guarantee as `as` (default: the seller; nullptr with anonymous = true: no certificate).
  absl::StatusOr<v1::Guarantee> End(const std::string& id, bool settle, const Suite::Subscriber* as = nullptr,
                                    bool anonymous = false) {
    v1::EndGuaranteeRequest req;
    req.set_guarantee_id(id);
    v1::Guarantee g;
    grpc::ClientContext ctx;
    auto stub = anonymous ? Tracker() : TrackerAs(as == nullptr ? *seller_ : *as);
    grpc::Status s = settle ? stub->SettleGuarantee(&ctx, req, &g) : stub->ReleaseGuarantee(&ctx, req, &g);
    if (!s.ok()) return FromGrpcStatus(s);
    return g;
  }

  absl::StatusOr<v1::Guarantee> Get(const std::string& id, const Suite::Subscriber* as, bool anonymous = false) {
    v1::GetGuaranteeRequest req;
    req.set_guarantee_id(id);
    v1::Guarantee g;
    grpc::ClientContext ctx;
    grpc::Status s = (anonymous ? Tracker() : TrackerAs(*as))->GetGuarantee(&ctx, req, &g);
    if (!s.ok()) return FromGrpcStatus(s);
    return g;
  }

  absl::StatusOr<v1::AgreementRecord> SetState(const std::string& id, v1::AgreementState state,
                                               const Suite::Subscriber& who) {
    v1::AgreementChangeStatement ch;
    ch.set_type("semper-agreement-change");
    ch.set_agreement_id(id);
    ch.set_state(state);
    ch.set_reason("test");
    *ch.mutable_made_at() = ToTimestamp(absl::Now());
    v1::SetAgreementStateRequest req;
    req.set_change(ch.SerializeAsString());
    req.set_signature(*CmsSignDetached(req.change(), who.key, who.certificate, suite_->Chain()));
    v1::AgreementRecord rec;
    grpc::ClientContext ctx;
    grpc::Status s = Tracker()->SetAgreementState(&ctx, req, &rec);
    if (!s.ok()) return FromGrpcStatus(s);
    return rec;
  }

  // What the database holds: the agreement's current liability, and the sum of live guarantees.
  std::string Sql(const std::string& q) { return *postgres().Query(database(), q); }
  int64_t Reserved() { return std::stoll(Sql("SELECT coalesce(sum(reserved), 0) FROM liability.agreements")); }
  int64_t Live() {
    return std::stoll(Sql("SELECT coalesce(sum(amount), 0) FROM liability.guarantees WHERE state = 'live'"));
  }

  TempDir dir_;
  std::unique_ptr<Suite> suite_;
  std::optional<Suite::Subscriber> buyer_;
  std::optional<Suite::Subscriber> seller_;
  std::mutex orders_mu_;
  std::map<std::string, std::string> orders_;
};

TEST_F(LiabilityTest, AGuaranteeWithinTheLimitsThatOpensslAccepts) {
  auto rec = Register(Agreement(*buyer_, 100000, 30000));
  ASSERT_THAT(rec.status(), IsOk());
  EXPECT_EQ(rec->state(), v1::AGREEMENT_STATE_ACTIVE);
  EXPECT_EQ(rec->buyer(), buyer_->certificate.Subject());
  // One per currency.
  EXPECT_THAT(Register(Agreement(*buyer_, 5000, 5000)).status(), StatusIs(absl::StatusCode::kAlreadyExists));
  auto g = Guarantee(Ask(12990));
  ASSERT_THAT(g.status(), IsOk());
  EXPECT_EQ(g->state(), v1::GUARANTEE_STATE_LIVE);
  v1::GuaranteeStatement st;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(g->statement(), &st).ok());
  EXPECT_EQ(st.amount().minor_units(), 12990);
  EXPECT_EQ(st.agreement_id(), rec->agreement_id());
  EXPECT_EQ(st.buyer_certificate_serial(), buyer_->certificate.SerialHex());
  dir_.Write("g.json", g->statement());
  dir_.Write("g.sig", g->signature());
  auto verify = RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", dir_.path() + "/g.sig",
                            "-content", dir_.path() + "/g.json", "-CAfile", suite_->P("pki/root.pem"), "-purpose",
                            "any", "-out", "/dev/null"});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  EXPECT_EQ(Reserved(), 12990);
  // The buyer sees its liability.
  v1::LiabilityQueryStatement q;
  q.set_type("semper-liability-query");
  *q.mutable_made_at() = ToTimestamp(absl::Now());
  v1::GetLiabilityRequest lreq;
  lreq.set_query(q.SerializeAsString());
  lreq.set_signature(*CmsSignDetached(lreq.query(), buyer_->key, buyer_->certificate, suite_->Chain()));
  v1::LiabilityStatus status;
  grpc::ClientContext ctx;
  ASSERT_TRUE(Tracker()->GetLiability(&ctx, lreq, &status).ok());
  ASSERT_EQ(status.agreements_size(), 1);
  EXPECT_EQ(status.agreements(0).current_liability().minor_units(), 12990);
  ASSERT_EQ(status.guarantees_size(), 1);
}

// Finding: SettleGuarantee/ReleaseGuarantee checked no identity, and RequestGuarantee reserved a
// buyer's limit for any hash from anyone holding the buyer's public certificate. Tried here as a
// stranger without a certificate, another subscriber, the buyer, and the seller with orders the
// buyer did not sign.
TEST_F(LiabilityTest, OnlyTheSellerOfAnOrderTheBuyerSignedGetsAndEndsAGuarantee) {
  ASSERT_THAT(Register(Agreement(*buyer_, 100000, 30000)).status(), IsOk());
  auto mallory = suite_->Enroll("Mallory Shop GmbH", v1::CUSTOMER_KIND_ENTERPRISE);
  ASSERT_THAT(mallory.status(), IsOk());
  // The old request: the buyer's public certificate and any hash. No order: refused.
  v1::GuaranteeRequest hash_only;
  hash_only.set_request_id("hash-only");
  hash_only.set_buyer_certificate(buyer_->certificate.Der());
  hash_only.set_order_sha256(Sha256("anything"));
  hash_only.mutable_amount()->set_currency("EUR");
  hash_only.mutable_amount()->set_minor_units(30000);
  EXPECT_THAT(Guarantee(hash_only).status(), StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  // A stranger without a certificate, with a real order: refused at the gate.
  v1::GuaranteeRequest real = Ask(30000);
  {
    v1::Guarantee g;
    grpc::ClientContext ctx;
    EXPECT_EQ(Tracker()->RequestGuarantee(&ctx, real, &g).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  // Another subscriber presenting the buyer's order to seller_: not its order.
  EXPECT_THAT(Guarantee(real, 1, &*mallory).status(),
              StatusIs(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED));
  // The buyer itself cannot tie up its own limit as a "seller" either.
  EXPECT_THAT(Guarantee(real, 1, &*buyer_).status(), StatusIs(absl::StatusCode::kPermissionDenied));
  // An order that names the buyer but that Mallory signed; an order whose amount was changed.
  {
    v1::ContainerContent content = NewContainerContent(absl::Now());
    v1::Order* o = content.mutable_template_()->mutable_order();
    o->set_order_id("O-forged");
    o->set_customer_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
    o->set_applicable_law("DE");
    o->mutable_buyer()->set_name("buyer");
    o->mutable_seller()->set_name("seller");
    o->mutable_buyer()->set_certificate(buyer_->certificate.Der());
    o->mutable_seller()->set_certificate(seller_->certificate.Der());
    o->mutable_amount()->set_currency("EUR");
    o->mutable_amount()->set_minor_units(30000);
    content.mutable_requested()->set_non_repudiation_of_origin(true);
    auto sealed = Seal(content, {.signers = {SignerIdentity{mallory->key, mallory->certificate, suite_->Chain()}}});
    ASSERT_THAT(sealed.status(), IsOk());
    v1::GuaranteeRequest forged;
    forged.set_request_id("forged-signer");
    forged.set_order(sealed->SerializeAsString());
    EXPECT_THAT(Guarantee(forged).status(),
                StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("not by the buyer it names")));
    v1::SealedContainer changed;
    ASSERT_TRUE(changed.ParseFromString(Ask(100).order()));
    v1::ContainerContent inner;
    ASSERT_TRUE(inner.ParseFromString(changed.signed_().content()));
    inner.mutable_template_()->mutable_order()->mutable_amount()->set_minor_units(29999);
    changed.mutable_signed_()->set_content(inner.SerializeAsString());
    forged.set_request_id("changed-amount");
    forged.set_order(changed.SerializeAsString());
    EXPECT_THAT(Guarantee(forged).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(Reserved(), 0);

  // The seller's guarantee: amount and buyer from the order, the seller named by its certificate.
  auto g = Guarantee(real);
  ASSERT_THAT(g.status(), IsOk());
  v1::GuaranteeStatement st;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(g->statement(), &st).ok());
  EXPECT_EQ(st.amount().minor_units(), 30000);
  EXPECT_EQ(st.order_sha256(), Sha256(real.order()));
  EXPECT_EQ(st.seller(), seller_->authentication_certificate->Subject());
  EXPECT_EQ(Reserved(), 30000);
  // Nobody but the seller ends it: a stranger, another subscriber, the buyer (who has the goods).
  for (bool settle : {true, false}) {
    EXPECT_THAT(End(g->guarantee_id(), settle, nullptr, true).status(), StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_THAT(End(g->guarantee_id(), settle, &*mallory).status(),
                StatusIs(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED));
    EXPECT_THAT(End(g->guarantee_id(), settle, &*buyer_).status(),
                StatusIs(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED));
  }
  EXPECT_EQ(Reserved(), 30000);
  // Nor reads it: only its buyer and seller.
  EXPECT_THAT(Get(g->guarantee_id(), nullptr, true).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Get(g->guarantee_id(), &*mallory).status(), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Get(g->guarantee_id(), &*buyer_), IsOk());
  EXPECT_THAT(Get(g->guarantee_id(), &*seller_), IsOk());
  // One guarantee per signed order: the same order under another request id is refused; the same
  // request id is a retry and gets the same guarantee.
  v1::GuaranteeRequest twice = real;
  twice.set_request_id("the same order again");
  EXPECT_THAT(Guarantee(twice).status(), StatusIs(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS));
  // ... also in other bytes that hold the same signed order: an unknown field appended, the
  // signed part split in two (protobuf merges them), the signature re-encoded with a certificate
  // added to it.
  {
    v1::SealedContainer sealed;
    ASSERT_TRUE(sealed.ParseFromString(real.order()));
    std::vector<std::string> variants = {real.order() + std::string("\x18\x01", 2)};
    v1::SealedContainer first, second;
    first.mutable_signed_()->set_content(sealed.signed_().content());
    for (const auto& sig : sealed.signed_().signatures()) second.mutable_signed_()->add_signatures(sig);
    variants.push_back(first.SerializeAsString() + second.SerializeAsString());
    for (size_t i = 0; i < variants.size(); ++i) {
      v1::SealedContainer check;
      ASSERT_TRUE(check.ParseFromString(variants[i]));
      ASSERT_EQ(check.signed_().content(), sealed.signed_().content());
      v1::GuaranteeRequest again;
      again.set_request_id("re-encoded " + std::to_string(i));
      again.set_order(variants[i]);
      EXPECT_THAT(Guarantee(again).status(), StatusIs(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS)) << i;
    }
  }
  auto retried = Guarantee(real, 2);
  ASSERT_THAT(retried.status(), IsOk());
  EXPECT_EQ(retried->guarantee_id(), g->guarantee_id());
  EXPECT_EQ(Reserved(), 30000);
  // A retry of the request id by another subscriber does not hand it the seller's guarantee.
  EXPECT_THAT(Guarantee(real, 2, &*mallory).status(), StatusIs(absl::StatusCode::kPermissionDenied));
  ASSERT_THAT(End(g->guarantee_id(), false).status(), IsOk());
  EXPECT_EQ(Reserved(), 0);
  // The audit trail names who ended it.
  EXPECT_EQ(Sql("SELECT actor FROM liability.audit WHERE action = 'guarantee-released' AND subject = '" +
                g->guarantee_id() + "'"),
            seller_->authentication_certificate->Subject());
}

TEST_F(LiabilityTest, EveryRejectionReservesNothing) {
  ASSERT_THAT(Register(Agreement(*buyer_, 50000, 30000)).status(), IsOk());
  ASSERT_THAT(Guarantee(Ask(25000)).status(), IsOk());
  EXPECT_THAT(Guarantee(Ask(30001)).status(),
              StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("per-transaction limit")));
  EXPECT_THAT(Guarantee(Ask(25001)).status(),
              StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("over its limit")));
  EXPECT_THAT(Guarantee(Ask(100, "USD")).status(),
              StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("no agreement in USD")));
  v1::GuaranteeRequest bad = Ask(100);
  bad.set_order_sha256(Sha256("another order"));
  EXPECT_THAT(Guarantee(bad).status(), StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  bad = Ask(100);
  bad.mutable_amount()->set_currency("EUR");
  bad.mutable_amount()->set_minor_units(99);
  EXPECT_THAT(Guarantee(bad).status(), StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  // Request ids with a control character: a NUL would cut the group's array of ids short and fail
  // every guarantee committed with it.
  for (const std::string& id : {std::string("nul\0id", 6), std::string("tab\tid"), std::string(129, 'x')}) {
    bad = Ask(100);
    bad.set_request_id(id);
    EXPECT_THAT(Guarantee(bad).status(), StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD)) << id.size();
  }
  // A forged agreement: the content changed after the buyer signed.
  auto other = suite_->Enroll("Olga Other", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(other.status(), IsOk());
  v1::SignedContainer forged = Agreement(*other, 1000, 1000);
  v1::ContainerContent content;
  ASSERT_TRUE(content.ParseFromString(forged.content()));
  content.mutable_template_()->mutable_agreement()->mutable_overall_limit()->set_minor_units(100000000);
  forged.set_content(content.SerializeAsString());
  EXPECT_THAT(Register(forged).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  // Suspended: no new guarantee; resumed: again.
  auto rec = Register(Agreement(*other, 1000, 1000, absl::Hours(1)));
  ASSERT_THAT(rec.status(), IsOk());
  EXPECT_THAT(SetState(rec->agreement_id(), v1::AGREEMENT_STATE_SUSPENDED, *buyer_).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  ASSERT_THAT(SetState(rec->agreement_id(), v1::AGREEMENT_STATE_SUSPENDED, *other).status(), IsOk());
  v1::GuaranteeRequest for_other = Ask(500, "EUR", "", &*other);
  EXPECT_THAT(Guarantee(for_other).status(),
              StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("suspended")));
  ASSERT_THAT(SetState(rec->agreement_id(), v1::AGREEMENT_STATE_ACTIVE, *other).status(), IsOk());
  for_other = Ask(500, "EUR", "resumed", &*other);
  EXPECT_THAT(Guarantee(for_other).status(), IsOk());
  ASSERT_THAT(SetState(rec->agreement_id(), v1::AGREEMENT_STATE_TERMINATED, *other).status(), IsOk());
  EXPECT_THAT(SetState(rec->agreement_id(), v1::AGREEMENT_STATE_ACTIVE, *other).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  for_other = Ask(500, "EUR", "terminated", &*other);
  EXPECT_THAT(Guarantee(for_other).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  // An agreement that expires.
  auto third = suite_->Enroll("Tom Third", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(Register(Agreement(*third, 1000, 1000, absl::Seconds(2))).status(), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  v1::GuaranteeRequest for_third = Ask(500, "EUR", "", &*third);
  EXPECT_THAT(Guarantee(for_third).status(), StatusIs(absl::StatusCode::kFailedPrecondition, v1::EXPIRED));
  // A revoked key.
  ASSERT_THAT(suite_->Revoke(buyer_->certificate, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_THAT(Guarantee(Ask(100)).status(), StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED));
  // Only the accepted ones hold anything.
  EXPECT_EQ(Reserved(), 25000 + 500);
  EXPECT_EQ(Live(), Reserved());
}

TEST_F(LiabilityTest, EachGuaranteeEndsOnceAndRetriesGetTheSameGuarantee) {
  ASSERT_THAT(Register(Agreement(*buyer_, 100000, 50000)).status(), IsOk());
  auto a = Guarantee(Ask(10000, "EUR", "order-a"));
  ASSERT_THAT(a.status(), IsOk());
  // A retry, on the other replica: the same guarantee; the same id for another order: refused.
  auto again = Guarantee(Ask(10000, "EUR", "order-a"), 2);
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_EQ(again->guarantee_id(), a->guarantee_id());
  EXPECT_EQ(again->signature(), a->signature());
  EXPECT_THAT(Guarantee(Ask(20000, "EUR", "order-a")).status(), StatusIs(absl::StatusCode::kAlreadyExists));
  auto b = Guarantee(Ask(20000));
  auto c = Guarantee(Ask(5000));
  v1::GuaranteeRequest short_lived = Ask(7000);
  short_lived.set_valid_seconds(1);
  auto d = Guarantee(short_lived);
  ASSERT_THAT(b.status(), IsOk());
  ASSERT_THAT(c.status(), IsOk());
  ASSERT_THAT(d.status(), IsOk());
  EXPECT_EQ(Reserved(), 42000);
  auto settled = End(a->guarantee_id(), true);
  ASSERT_THAT(settled.status(), IsOk());
  EXPECT_EQ(Sql("SELECT count(*) FROM liability.audit WHERE action = 'guarantee-settled' AND subject = '" +
                a->guarantee_id() + "'"),
            "1");
  EXPECT_EQ(settled->state(), v1::GUARANTEE_STATE_SETTLED);
  EXPECT_THAT(End(a->guarantee_id(), true).status(),
              StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("already settled")));
  EXPECT_THAT(End(a->guarantee_id(), false).status(),
              StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("already settled")));
  ASSERT_THAT(End(b->guarantee_id(), false).status(), IsOk());
  EXPECT_THAT(End(b->guarantee_id(), true).status(),
              StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("already released")));
  // The short-lived one expires by itself and frees its amount; settling it afterwards fails.
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  EXPECT_THAT(End(d->guarantee_id(), true).status(), StatusIs(absl::StatusCode::kFailedPrecondition, v1::EXPIRED));
  EXPECT_EQ(Sql("SELECT state FROM liability.guarantees WHERE id = '" + d->guarantee_id() + "'"), "expired");
  EXPECT_EQ(Reserved(), 5000);
  EXPECT_EQ(Live(), 5000);
  EXPECT_THAT(End("G-none", true).status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(LiabilityTest, ARevocationAtTheCaCountsWithinOneSecond) {
  ASSERT_THAT(Register(Agreement(*buyer_, 100000, 30000)).status(), IsOk());
  ASSERT_THAT(Guarantee(Ask(100)).status(), IsOk());
  ASSERT_THAT(Guarantee(Ask(100), 2).status(), IsOk());
  ASSERT_THAT(suite_->Revoke(buyer_->certificate, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  const absl::Time revoked = absl::Now();
  // Both replicas refuse within a second of the revocation (pushed by semper-ca, not asked).
  for (int replica : {1, 2}) {
    absl::Time refused_at = absl::InfiniteFuture();
    while (absl::Now() - revoked < absl::Seconds(3)) {
      auto g = Guarantee(Ask(100), replica);
      if (!g.ok() && ReasonOf(g.status()) == v1::CERTIFICATE_REVOKED) {
        refused_at = absl::Now();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_LT(refused_at - revoked, absl::Seconds(1)) << "replica " << replica;
    std::printf("replica %d refused the revoked key %lld ms after the revocation\n", replica,
                static_cast<long long>(absl::ToInt64Milliseconds(refused_at - revoked)));
  }
}

TEST_F(LiabilityTest, APseudonymousBuyerIsKnownToTheSellerByItsPseudonymOnly) {
  // The buyer acts under a role pseudonym from semper-ca: the agreement and the guarantee name
  // the pseudonym; the identity appears nowhere the seller sees.
  auto pseudonym = suite_->IssuePseudonym(*buyer_, v1::PSEUDONYM_KIND_ROLE, "Night Owl Books");
  ASSERT_THAT(pseudonym.status(), IsOk());
  auto rec = Register(Agreement(*pseudonym, 50000, 20000));
  ASSERT_THAT(rec.status(), IsOk());
  EXPECT_EQ(rec->buyer(), "CN=Night Owl Books,pseudonym=Night Owl Books");
  v1::GuaranteeRequest ask = Ask(15000, "EUR", "", &*pseudonym);
  auto g = Guarantee(ask);
  ASSERT_THAT(g.status(), IsOk());
  v1::GuaranteeStatement st;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(g->statement(), &st).ok());
  EXPECT_EQ(st.buyer(), rec->buyer());
  EXPECT_EQ(st.buyer_certificate_serial(), pseudonym->certificate.SerialHex());
  EXPECT_EQ(g->statement().find("Bert"), std::string::npos);
  EXPECT_EQ(g->statement().find(buyer_->certificate.SerialHex()), std::string::npos);
  // Under the shared pseudonym issuer, too (the tracker knows it as an intermediate).
  auto key = *PrivateKey::Generate(KeyType::kEcP256);
  v1::PseudonymRequestStatement pst;
  pst.set_type("semper-pseudonym-request");
  pst.set_csr(CertificationRequest::Create(key, {})->Der());
  pst.set_kind(v1::PSEUDONYM_KIND_TRANSACTION);
  pst.set_shared_issuer(true);
  *pst.mutable_made_at() = ToTimestamp(absl::Now());
  v1::IssuePseudonymRequest preq;
  preq.set_request(pst.SerializeAsString());
  preq.set_signature(*CmsSignDetached(preq.request(), buyer_->key, buyer_->certificate, suite_->Chain()));
  v1::IssuePseudonymResponse presp;
  grpc::ClientContext pctx;
  ASSERT_TRUE(v1::Pseudonyms::NewStub(suite_->Channel("ca"))->IssuePseudonym(&pctx, preq, &presp).ok());
  const Certificate shared_cert = *Certificate::FromDer(presp.certificate());
  const Certificate shared_ca = *Certificate::FromDer(presp.chain(0));
  v1::ContainerContent c = NewContainerContent(absl::Now());
  v1::Agreement* a = c.mutable_template_()->mutable_agreement();
  a->mutable_overall_limit()->set_currency("EUR");
  a->mutable_overall_limit()->set_minor_units(10000);
  a->mutable_per_transaction_limit()->set_currency("EUR");
  a->mutable_per_transaction_limit()->set_minor_units(5000);
  *a->mutable_valid_from() = ToTimestamp(absl::Now() - absl::Minutes(1));
  *a->mutable_valid_until() = ToTimestamp(absl::Now() + absl::Hours(1));
  a->set_applicable_law("DE");
  c.mutable_requested()->set_non_repudiation_of_origin(true);
  auto sealed = Seal(c, {.signers = {SignerIdentity{key, shared_cert, {shared_ca}}}});
  ASSERT_THAT(sealed.status(), IsOk());
  ASSERT_THAT(Register(sealed->signed_()).status(), IsOk());
  Suite::Subscriber shared_buyer{key, shared_cert, std::nullopt, std::nullopt};
  v1::GuaranteeRequest shared_ask;
  shared_ask.set_request_id("shared");
  {
    v1::ContainerContent oc = NewContainerContent(absl::Now());
    v1::Order* o = oc.mutable_template_()->mutable_order();
    o->set_order_id("O-shared");
    o->set_customer_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
    o->set_applicable_law("DE");
    o->mutable_buyer()->set_name("buyer");
    o->mutable_seller()->set_name("seller");
    o->mutable_buyer()->set_certificate(shared_cert.Der());
    o->mutable_seller()->set_certificate(seller_->certificate.Der());
    o->mutable_amount()->set_currency("EUR");
    o->mutable_amount()->set_minor_units(4000);
    oc.mutable_requested()->set_non_repudiation_of_origin(true);
    auto order = Seal(oc, {.signers = {SignerIdentity{key, shared_cert, {shared_ca}}}});
    ASSERT_THAT(order.status(), IsOk());
    shared_ask.set_order(order->SerializeAsString());
  }
  auto sg = Guarantee(shared_ask);
  ASSERT_THAT(sg.status(), IsOk());
  EXPECT_EQ(sg->statement().find("Bert"), std::string::npos);
  // The pseudonym's agreement is its own: the identity's limit is untouched and separate.
  ASSERT_THAT(Register(Agreement(*buyer_, 100000, 30000)).status(), IsOk());
  // Its identity's key compromised: the pseudonym is revoked with it, and the tracker refuses.
  ASSERT_THAT(suite_->Revoke(buyer_->certificate, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  // The cascade (with semper-arbiter) follows the commit within seconds.
  auto ca = v1::CertificationAuthority::NewStub(suite_->Channel("ca"));
  v1::CertificateStatus status;
  for (absl::Time until = absl::Now() + absl::Seconds(20); absl::Now() < until;) {
    grpc::ClientContext ctx;
    v1::GetCertificateStatusRequest sreq;
    sreq.set_serial(pseudonym->certificate.SerialHex());
    ASSERT_TRUE(ca->GetCertificateStatus(&ctx, sreq, &status).ok());
    if (status.state() == v1::CERTIFICATE_STATE_REVOKED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(status.state(), v1::CERTIFICATE_STATE_REVOKED);
  absl::StatusOr<v1::Guarantee> refused = absl::UnknownError("not asked");
  for (absl::Time until = absl::Now() + absl::Seconds(3); absl::Now() < until;) {
    refused = Guarantee(Ask(15000, "EUR", "", &*pseudonym));
    if (!refused.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(refused.status(), StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED));
}

TEST_F(LiabilityTest, WhileTheCaIsAwayWhatWasKnownCountsForAWhileThenNoGuarantees) {
  ASSERT_THAT(Register(Agreement(*buyer_, 100000, 30000)).status(), IsOk());
  ASSERT_THAT(suite_->Stop("ca"), IsOk());
  // Within liability.revocation_staleness (3 s here): guarantees on what was known.
  auto known = Guarantee(Ask(100));
  EXPECT_THAT(known.status(), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  EXPECT_THAT(Guarantee(Ask(100)).status(), StatusIs(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE));
  // Settling is open to verdicts, so the gate lets a certificate of unknown status through: the
  // tracker itself refuses the seller's (it could be a stolen, revoked key).
  if (known.ok()) {
    EXPECT_THAT(End(known->guarantee_id(), true).status(),
                StatusIs(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE));
  }
  // Back: the tracker reconnects by itself.
  ASSERT_THAT(suite_->Restart("ca"), IsOk());
  absl::Status last = absl::UnknownError("not tried");
  for (int i = 0; i < 100 && !last.ok(); ++i) {
    last = Guarantee(Ask(100)).status();
    if (!last.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(last, IsOk());
  EXPECT_EQ(Reserved(), 200);
  if (known.ok()) EXPECT_THAT(End(known->guarantee_id(), true).status(), IsOk());
}

TEST_F(LiabilityTest, BuyersAndSellersUseSemperctl) {
  dir_.Write("wallet.pass", "wallet passphrase");
  std::string wallet = ::semper::testing::WriteFullWallet(
      dir_, "buyer", buyer_->key, buyer_->certificate, *buyer_->authentication_key, *buyer_->authentication_certificate,
      ::semper::testing::Slurp(suite_->P("pki/ca.pem")), "wallet passphrase");
  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {SEMPERCTL,
                                     "--liability",
                                     "127.0.0.1:" + std::to_string(suite_->port("liability")),
                                     "--server-name",
                                     "localhost",
                                     "--ca-file",
                                     suite_->P("pki/root.pem"),
                                     "--yes"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  };
  std::vector<std::string> w = {"--wallet", wallet, "--wallet-passphrase-file", dir_.path() + "/wallet.pass"};
  auto with_wallet = [&](std::vector<std::string> args) {
    args.insert(args.end(), w.begin(), w.end());
    return args;
  };
  // Without confirmation (no --yes, nobody at the terminal) nothing is signed or sent: the
  // agreement, a guarantee, a settlement.
  auto unconfirmed = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {SEMPERCTL,
                                     "--liability",
                                     "127.0.0.1:" + std::to_string(suite_->port("liability")),
                                     "--server-name",
                                     "localhost",
                                     "--ca-file",
                                     suite_->P("pki/root.pem")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  };
  auto not_agreed =
      unconfirmed(with_wallet({"liability", "agree", "--overall-limit", "1000.00", "--per-transaction-limit", "300.00",
                               "--conditions", "as in the SEMPER model agreement"}));
  EXPECT_EQ(not_agreed.exit_code, 1) << not_agreed.Describe();
  EXPECT_THAT(not_agreed.out, HasSubstr("overall limit:   1000.00 EUR"));  // shown, then asked
  EXPECT_EQ(Sql("SELECT count(*) FROM liability.agreements"), "0");
  auto agree = ctl(with_wallet({"liability", "agree", "--overall-limit", "1000.00", "--per-transaction-limit", "300.00",
                                "--conditions", "as in the SEMPER model agreement"}));
  ASSERT_EQ(agree.exit_code, 0) << agree.Describe();
  EXPECT_THAT(agree.out, HasSubstr("overall limit:   1000.00 EUR"));  // shown before signing
  dir_.Write("buyer.pem", buyer_->certificate.Pem());
  dir_.Write("order.semper", suite_->SignedOrder(*buyer_, seller_->certificate, 12990));
  // The seller checks the order: the buyer's, verified; one byte changed anywhere, not verified.
  auto order_ok = ctl({"order", "show", dir_.path() + "/order.semper"});
  EXPECT_EQ(order_ok.exit_code, 0) << order_ok.Describe();
  {
    const std::string order = ::semper::testing::Slurp(dir_.path() + "/order.semper");
    for (size_t at : {order.size() / 3, order.size() / 2, order.size() - 10}) {
      std::string changed = order;
      changed[at] ^= 0x01;
      dir_.Write("changed.semper", changed);
      auto shown = ctl({"order", "show", dir_.path() + "/changed.semper"});
      EXPECT_EQ(shown.exit_code, 3) << at << shown.Describe();
      EXPECT_THAT(shown.out, HasSubstr("NOT VERIFIED")) << at;
    }
  }
  std::string seller_wallet = ::semper::testing::WriteFullWallet(
      dir_, "seller", seller_->key, seller_->certificate, *seller_->authentication_key,
      *seller_->authentication_certificate, ::semper::testing::Slurp(suite_->P("pki/ca.pem")), "wallet passphrase");
  std::vector<std::string> sw = {"--wallet", seller_wallet, "--wallet-passphrase-file", dir_.path() + "/wallet.pass"};
  auto as_seller = [&](std::vector<std::string> args) {
    args.insert(args.end(), sw.begin(), sw.end());
    return args;
  };
  // Without the seller's certificate, or with the amount or buyer the order does not say: refused.
  auto anonymous = ctl({"liability", "guarantee", "--order", dir_.path() + "/order.semper"});
  EXPECT_NE(anonymous.exit_code, 0);
  EXPECT_THAT(anonymous.err, HasSubstr("UNAUTHENTICATED"));
  auto wrong_amount =
      ctl(as_seller({"liability", "guarantee", "--order", dir_.path() + "/order.semper", "--amount", "12.99"}));
  EXPECT_NE(wrong_amount.exit_code, 0);
  EXPECT_THAT(wrong_amount.err, HasSubstr("differs from the order's 129.90 EUR"));
  auto not_asked =
      unconfirmed(as_seller({"liability", "guarantee", "--buyer", dir_.path() + "/buyer.pem", "--order",
                             dir_.path() + "/order.semper", "--amount", "129.90", "--out", dir_.path() + "/g"}));
  EXPECT_EQ(not_asked.exit_code, 1) << not_asked.Describe();
  EXPECT_EQ(Sql("SELECT count(*) FROM liability.guarantees"), "0");
  auto g = ctl(as_seller({"liability", "guarantee", "--buyer", dir_.path() + "/buyer.pem", "--order",
                          dir_.path() + "/order.semper", "--amount", "129.90", "--out", dir_.path() + "/g"}));
  ASSERT_EQ(g.exit_code, 0) << g.Describe();
  auto verified = ctl({"liability", "verify", "--in", dir_.path() + "/g"});
  EXPECT_EQ(verified.exit_code, 0) << verified.Describe();
  EXPECT_THAT(verified.out, HasSubstr("129.90 EUR"));
  // A guarantee the buyer (or anyone with a certificate of the suite) signed itself is not one.
  dir_.Write("forged.json", ::semper::testing::Slurp(dir_.path() + "/g.json"));
  dir_.Write("forged.sig", *CmsSignDetached(::semper::testing::Slurp(dir_.path() + "/g.json"), buyer_->key,
                                            buyer_->certificate, suite_->Chain()));
  auto forged = ctl({"liability", "verify", "--in", dir_.path() + "/forged"});
  EXPECT_EQ(forged.exit_code, 3) << forged.Describe();
  EXPECT_THAT(forged.err, HasSubstr("not by semper-liability's signing key"));
  // Nor one whose bytes changed.
  std::string changed = ::semper::testing::Slurp(dir_.path() + "/g.json");
  changed[changed.size() / 2] ^= 1;
  dir_.Write("changed.json", changed);
  dir_.Write("changed.sig", ::semper::testing::Slurp(dir_.path() + "/g.sig"));
  EXPECT_EQ(ctl({"liability", "verify", "--in", dir_.path() + "/changed"}).exit_code, 3);
  auto status = ctl(with_wallet({"liability", "status"}));
  ASSERT_EQ(status.exit_code, 0) << status.Describe();
  EXPECT_THAT(status.out, HasSubstr("current liability: 129.90 EUR"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(g.out, m, std::regex("Guarantee (G-[0-9a-f]+)"))) << g.out;
  // The buyer cannot end it; the seller can.
  auto by_buyer = ctl(with_wallet({"liability", "settle", m[1].str()}));
  EXPECT_NE(by_buyer.exit_code, 0);
  EXPECT_THAT(by_buyer.err, HasSubstr("only the seller"));
  auto shown = ctl(with_wallet({"liability", "show", m[1].str()}));
  EXPECT_EQ(shown.exit_code, 0) << shown.Describe();
  auto not_settled = unconfirmed(as_seller({"liability", "settle", m[1].str()}));
  EXPECT_EQ(not_settled.exit_code, 1) << not_settled.Describe();
  EXPECT_EQ(Sql("SELECT count(*) FROM liability.guarantees WHERE ended_at IS NOT NULL"), "0");
  auto settled = ctl(as_seller({"liability", "settle", m[1].str()}));
  EXPECT_EQ(settled.exit_code, 0) << settled.Describe();
  auto again = ctl(as_seller({"liability", "settle", m[1].str()}));
  EXPECT_NE(again.exit_code, 0);
  EXPECT_THAT(again.err, HasSubstr("already settled"));
  auto after = ctl(with_wallet({"liability", "status"}));
  EXPECT_THAT(after.out, HasSubstr("current liability: 0.00 EUR"));
}

TEST_F(LiabilityTest, ManyConcurrentClientsOnTwoReplicasNeverOverIssue) {
  // 1,000.00 EUR; 64 clients ask for 7.00 EUR each, as fast as they can, at both replicas.
  ASSERT_THAT(Register(Agreement(*buyer_, 100000, 30000)).status(), IsOk());
  std::atomic<int> accepted{0}, limited{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 64; ++c) {
    clients.emplace_back([&, c] {
      auto stub = TrackerAs(*seller_, c % 2 == 0 ? 1 : 2);
      for (int i = 0; i < 5; ++i) {
        v1::GuaranteeRequest req = Ask(700);
        v1::Guarantee g;
        grpc::ClientContext ctx;
        grpc::Status s = stub->RequestGuarantee(&ctx, req, &g);
        if (s.ok()) {
          ++accepted;
        } else if (FromGrpcStatus(s).code() == absl::StatusCode::kFailedPrecondition &&
                   s.error_message().find("over its limit") != std::string::npos) {
          ++limited;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(accepted.load(), 142);  // floor(100000 / 700)
  EXPECT_EQ(limited.load(), 320 - 142);
  EXPECT_EQ(Reserved(), 142 * 700);
  EXPECT_EQ(Live(), 142 * 700);
  EXPECT_LE(Live(), 100000);
}

TEST_F(LiabilityTest, RetriesRacingTheirFirstAttemptGetOneGuarantee) {
  // 8 requests, each sent by 12 clients at once, half to each replica: every sender of a request
  // gets the same guarantee, and each is reserved once.
  ASSERT_THAT(Register(Agreement(*buyer_, 1000000, 30000)).status(), IsOk());
  constexpr int kRequests = 8, kSenders = 12;
  std::vector<v1::GuaranteeRequest> reqs;
  for (int r = 0; r < kRequests; ++r) reqs.push_back(Ask(1000 + r, "EUR", "raced-" + std::to_string(r)));
  std::vector<std::string> ids(kRequests * kSenders);
  std::atomic<int> ready{0}, failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kRequests * kSenders; ++c) {
    clients.emplace_back([&, c] {
      auto stub = TrackerAs(*seller_, c % 2 == 0 ? 1 : 2);
      ++ready;
      while (ready.load() < kRequests * kSenders) std::this_thread::yield();
      v1::Guarantee g;
      grpc::ClientContext ctx;
      grpc::Status s = stub->RequestGuarantee(&ctx, reqs[c % kRequests], &g);
      if (s.ok()) {
        ids[c] = g.guarantee_id();
      } else {
        ++failed;
        ADD_FAILURE() << s.error_message();
      }
    });
  }
  for (auto& t : clients) t.join();
  ASSERT_EQ(failed.load(), 0);
  for (int c = kRequests; c < kRequests * kSenders; ++c) EXPECT_EQ(ids[c], ids[c % kRequests]) << c;
  EXPECT_EQ(Sql("SELECT count(*) FROM liability.guarantees"), std::to_string(kRequests));
  // The audit trail names each guarantee once, whatever the retries.
  EXPECT_EQ(Sql("SELECT count(*) || '/' || count(DISTINCT e->>'guarantee') FROM liability.audit, "
                "jsonb_array_elements(details::jsonb) e WHERE action = 'guarantees'"),
            std::to_string(kRequests) + "/" + std::to_string(kRequests));
  EXPECT_EQ(Reserved(), 8 * 1000 + 28);
  EXPECT_EQ(Live(), Reserved());
}

// semper-liability killed (SIGKILL) while 24 clients ask for guarantees: after the restart, every
// request retried with its id gets the guarantee it was acknowledged (the same one), a request
// that was in flight gets one guarantee or none, never two, and what is reserved is exactly the
// sum of the guarantees that exist; nothing beyond the limit.
TEST_F(LiabilityTest, KilledInTheMiddleEveryRequestEndsOnceAfterRestart) {
  ASSERT_THAT(Register(Agreement(*buyer_, 60000, 30000)).status(), IsOk());
  constexpr int kClients = 24, kPerClient = 25;
  std::vector<v1::GuaranteeRequest> reqs;
  for (int i = 0; i < kClients * kPerClient; ++i)
    reqs.push_back(Ask(100 + i % 7, "EUR", "killed-" + std::to_string(i)));
  std::vector<std::string> acked(reqs.size());
  std::atomic<int> sent{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = TrackerAs(*seller_, 1);
      for (int i = 0; i < kPerClient; ++i) {
        const size_t n = static_cast<size_t>(c * kPerClient + i);
        v1::Guarantee g;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        ++sent;
        if (stub->RequestGuarantee(&ctx, reqs[n], &g).ok()) acked[n] = g.guarantee_id();
      }
    });
  }
  while (sent.load() < 200) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_THAT(suite_->Kill("liability"), IsOk());
  for (auto& t : clients) t.join();
  int acknowledged = 0;
  for (const auto& id : acked) acknowledged += id.empty() ? 0 : 1;
  std::printf("killed after %d requests were sent: %d acknowledged\n", 200, acknowledged);
  ASSERT_GT(acknowledged, 0);
  ASSERT_LT(acknowledged, static_cast<int>(reqs.size())) << "the kill came too late to cut anything";
  ASSERT_THAT(suite_->Restart("liability"), IsOk());
  // Every acknowledged guarantee is there, as acknowledged.
  for (size_t n = 0; n < reqs.size(); ++n) {
    if (acked[n].empty()) continue;
    EXPECT_EQ(Sql("SELECT count(*) FROM liability.guarantees WHERE id = '" + acked[n] + "'"), "1") << n;
  }
  // Each request retried (at either replica): the acknowledged ones get the same guarantee; the
  // others get one now (or the limit), and a second retry the same again.
  std::set<std::string> ids;
  for (size_t n = 0; n < reqs.size(); ++n) {
    auto first = Guarantee(reqs[n], 1 + static_cast<int>(n % 2));
    if (!first.ok()) {
      EXPECT_THAT(std::string(first.status().message()), HasSubstr("over its limit")) << n;
      EXPECT_TRUE(acked[n].empty()) << n;
      continue;
    }
    if (!acked[n].empty()) {
      EXPECT_EQ(first->guarantee_id(), acked[n]) << n;
    }
    auto again = Guarantee(reqs[n], 2 - static_cast<int>(n % 2));
    ASSERT_TRUE(again.ok()) << n << " " << again.status();
    EXPECT_EQ(again->guarantee_id(), first->guarantee_id()) << n;
    ids.insert(first->guarantee_id());
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM liability.guarantees"), std::to_string(ids.size()));
  EXPECT_EQ(Reserved(), Live());
  EXPECT_LE(Live(), 60000);
}

}  // namespace
}  // namespace semper
