// Time that tests control: each daemon's decisions by time (validity, deadlines, expiry) read an
// injected clock, and a ManualClock moves across them without sleeping. Against a real
// PostgreSQL (the decisions that were the database's now() take the clock's reading).
#include "common/base/clock.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "common/base/proto_time.h"
#include "common/container/container.h"
#include "common/crypto/cms.h"
#include "common/crypto/cms_signer.h"
#include "common/crypto/digest.h"
#include "common/db/audit.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/exchange/asw.h"
#include "services/arbiter/arbiter.h"
#include "services/ca/store.h"
#include "services/liability/book.h"
#include "services/notary/attest.h"
#include "services/notary/log.h"
#include "services/notary/service.h"
#include "services/timestamp/tsa.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_pki.h"

namespace semper {
std::vector<db::Migration> arbiter_migrations();
std::vector<db::Migration> ca_migrations();
std::vector<db::Migration> liability_migrations();
std::vector<db::Migration> notary_migrations();

namespace {

using ::semper::testing::IsOk;
using ::semper::testing::LeafSpec;
using ::semper::testing::SharedTestPki;
using ::semper::testing::StatusIs;

// A fixed start, whole seconds: the clock's readings are compared exactly.
const absl::Time kStart = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));

// An identity valid for the whole of a test's moved time (a month from kStart): what the test
// moves the clock across is the thing under test, never these certificates.
SignerIdentity LongLived(const std::string& name) {
  LeafSpec spec;
  spec.common_name = name;
  spec.not_before = kStart - absl::Hours(1);
  spec.not_after = kStart + absl::Hours(24 * 30);
  return SharedTestPki().Issue(spec);
}

class ClockTest : public ::semper::testing::PostgresTest {
 protected:
  std::unique_ptr<db::ConnectionPool> Pool(const std::string& schema, std::vector<db::PreparedStatement> statements,
                                           const std::vector<db::Migration>& migrations) {
    db::PoolOptions po;
    po.conninfo = conninfo();
    po.size = 4;
    po.statements = std::move(statements);
    for (auto& st : db::AuditStatements(schema)) po.statements.push_back(std::move(st));
    auto pool = db::ConnectionPool::New(po);
    EXPECT_THAT(pool, IsOk());
    if (!pool.ok()) return nullptr;
    EXPECT_THAT(db::ApplyMigrations(**pool, schema, db::WithAuditMigration(migrations)), IsOk());
    return *std::move(pool);
  }
  ManualClock clock_{kStart};
};

// semper-tsa: genTime is the clock's reading, and no token is issued while the clock is outside
// the TSA certificate's validity (such a token verifies nowhere).
TEST_F(ClockTest, TsaStampsTheClocksTimeAndNothingOutsideItsCertificate) {
  const auto& pki = SharedTestPki();
  LeafSpec spec;
  spec.common_name = "Clock TSA";
  spec.key_usage = kKuDigitalSignature;
  spec.extended_key_usage = {"timeStamping"};
  spec.extended_key_usage_critical = true;
  spec.not_before = kStart - absl::Hours(1);
  spec.not_after = kStart + absl::Hours(24);
  SignerIdentity id = pki.Issue(spec);
  tsa::TsaOptions o{id.certificate, {pki.ca()}, id.key};
  o.policies = {"1.3.6.1.4.1.32473.3161.1"};
  o.clock_check = [] { return absl::OkStatus(); };
  o.clock = clock_.AsClock();
  uint64_t next = 1;
  tsa::SerialAllocator serials([&next] { return absl::StatusOr<uint64_t>(next++); });
  o.serials = &serials;
  auto authority = tsa::TimeStampAuthority::New(std::move(o));
  ASSERT_THAT(authority, IsOk());
  const std::string digest = Sha256("a document");

  tsa::Stamped first = (*authority)->StampDigest(digest);
  ASSERT_TRUE(first.granted()) << first.status_text;
  EXPECT_EQ(first.gen_time, kStart);
  clock_.Advance(absl::Hours(23));
  tsa::Stamped later = (*authority)->StampDigest(digest);
  ASSERT_TRUE(later.granted()) << later.status_text;
  EXPECT_EQ(later.gen_time, kStart + absl::Hours(23));
  // Past the certificate's end, and before its start: refused, saying why.
  clock_.Advance(absl::Hours(2));
  tsa::Stamped expired = (*authority)->StampDigest(digest);
  EXPECT_FALSE(expired.granted());
  EXPECT_THAT(expired.failure_info, ::testing::Contains("systemFailure"));
  EXPECT_THAT(expired.status_text, ::testing::HasSubstr("certificate is not valid now"));
  EXPECT_TRUE(expired.certificate_not_valid);
  clock_.Set(kStart - absl::Hours(2));
  EXPECT_FALSE((*authority)->StampDigest(digest).granted());
  // The refusals took no serial: the next token's follows the last one granted.
  clock_.Set(kStart + absl::Hours(1));
  tsa::Stamped again = (*authority)->StampDigest(digest);
  ASSERT_TRUE(again.granted()) << again.status_text;
  EXPECT_EQ(std::stoull(again.serial_hex, nullptr, 16), std::stoull(later.serial_hex, nullptr, 16) + 1);
}

// semper-liability: a guarantee ends when the clock passes its validity (its amount freed, no
// longer settleable), and an agreement that has run out guarantees nothing.
TEST_F(ClockTest, LiabilityGuaranteesAndAgreementsExpireByTheClock) {
  auto pool = Pool("liability", liability::LiabilityBook::Statements(), liability_migrations());
  ASSERT_NE(pool, nullptr);
  const auto& pki = SharedTestPki();
  SignerIdentity tracker = LongLived("Clock Tracker");
  SignerIdentity buyer = LongLived("Clock Buyer");
  SignerIdentity seller = LongLived("Clock Shop");
  liability::LiabilityBook::Deps deps;
  deps.pool = pool.get();
  deps.trust = &pki.trust();
  deps.intermediates = {pki.ca()};
  deps.signer = *CmsDetachedSigner::New(tracker.key, tracker.certificate, {pki.ca()});
  deps.certificate_status = [](const Certificate&) -> absl::StatusOr<v1::CertificateStatus> {
    v1::CertificateStatus s;
    s.set_state(v1::CERTIFICATE_STATE_GOOD);
    return s;
  };
  deps.revoked = [](const std::string&) -> absl::StatusOr<bool> { return false; };
  deps.clock = clock_.AsClock();
  liability::LiabilityBook book(std::move(deps));

  // An agreement for three days: 1,000.00 EUR overall, 100.00 per transaction.
  v1::ContainerContent agreement = NewContainerContent(absl::Now());
  auto* a = agreement.mutable_template_()->mutable_agreement();
  a->mutable_overall_limit()->set_currency("EUR");
  a->mutable_overall_limit()->set_minor_units(100000);
  a->mutable_per_transaction_limit()->set_currency("EUR");
  a->mutable_per_transaction_limit()->set_minor_units(10000);
  *a->mutable_valid_from() = ToTimestamp(kStart - absl::Minutes(1));
  *a->mutable_valid_until() = ToTimestamp(kStart + absl::Hours(72));
  a->set_applicable_law("DE");
  agreement.mutable_requested()->set_non_repudiation_of_origin(true);
  auto sealed_agreement = Seal(agreement, {.signers = {buyer}});
  ASSERT_THAT(sealed_agreement, IsOk());
  v1::RegisterAgreementRequest reg;
  *reg.mutable_agreement() = sealed_agreement->signed_();
  ASSERT_THAT(book.RegisterAgreement(reg), IsOk());

  int orders = 0;
  auto ask = [&](int valid_seconds) {
    v1::ContainerContent c = NewContainerContent(absl::Now());
    v1::Order* o = c.mutable_template_()->mutable_order();
    o->set_order_id("clock-" + std::to_string(++orders));
    o->set_customer_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
    o->set_applicable_law("DE");
    o->mutable_buyer()->set_name("buyer");
    o->mutable_buyer()->set_certificate(buyer.certificate.Der());
    o->mutable_seller()->set_name("seller");
    o->mutable_seller()->set_certificate(seller.certificate.Der());
    o->mutable_amount()->set_currency("EUR");
    o->mutable_amount()->set_minor_units(2500);
    c.mutable_requested()->set_non_repudiation_of_origin(true);
    v1::GuaranteeRequest req;
    req.set_request_id("clock-request-" + std::to_string(orders));
    req.set_order(Seal(c, {.signers = {buyer}})->SerializeAsString());
    req.set_valid_seconds(valid_seconds);
    return book.RequestGuarantee(req, liability::Caller{true, seller.certificate.Subject(), PartyOf(seller.certificate),
                                                        seller.certificate.SerialHex()});
  };
  auto guarantee = ask(3600);
  ASSERT_THAT(guarantee, IsOk());
  v1::GuaranteeStatement st;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(guarantee->statement(), &st).ok());
  EXPECT_EQ(FromTimestamp(st.issued_at()), kStart);
  EXPECT_EQ(FromTimestamp(st.valid_until()), kStart + absl::Hours(1));

  // Within its hour nothing expires; past it, the sweep ends it and the seller cannot settle it.
  clock_.Advance(absl::Minutes(59));
  EXPECT_EQ(book.ExpireDue().value_or(-1), 0);
  clock_.Advance(absl::Minutes(2));
  const liability::Caller seller_caller{true, seller.certificate.Subject(), PartyOf(seller.certificate),
                                        seller.certificate.SerialHex()};
  EXPECT_THAT(book.EndGuarantee(guarantee->guarantee_id(), v1::GUARANTEE_STATE_SETTLED, seller_caller),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::EXPIRED));
  EXPECT_EQ(book.ExpireDue().value_or(-1), 1);
  auto after = book.GetGuarantee(guarantee->guarantee_id(), seller_caller);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->state(), v1::GUARANTEE_STATE_EXPIRED);
  EXPECT_EQ(FromTimestamp(after->ended_at()), kStart + absl::Hours(1));

  // A new guarantee is fine on day two; on day four the agreement has run out.
  ASSERT_THAT(ask(3600), IsOk());
  clock_.Advance(absl::Hours(72));
  EXPECT_THAT(ask(3600), StatusIs(absl::StatusCode::kFailedPrecondition, v1::EXPIRED));
}

// semper-arbiter: after an abort of a delivery against payment, the reversal order comes once
// the objection period is over, by the clock, and not before.
TEST_F(ClockTest, ArbiterOrdersThePaymentReversedOnlyAfterTheObjectionPeriod) {
  auto pool = Pool("arbiter", arbiter::ExchangeArbiter::Statements(), arbiter_migrations());
  ASSERT_NE(pool, nullptr);
  const auto& pki = SharedTestPki();
  auto party = [](const std::string& name) {
    SignerIdentity id = LongLived(name);
    return asw::Party{id.key, id.certificate};
  };
  asw::Party t = party("Clock Arbiter"), o = party("Clock Payer"), r = party("Clock Seller");
  arbiter::ExchangeArbiter arbiter(pool.get(), t, &pki.trust(), {pki.ca()}, std::nullopt,
                                   {"arbiter_decisions", 1000, 2, nullptr}, absl::Hours(72), clock_.AsClock());
  asw::ExchangeTerms terms;
  terms.kind = v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT;
  terms.contract = "one e-book against EUR 12.00";
  terms.payment.set_instrument("card");
  terms.payment.set_reference("AUTH-CLOCK");
  terms.payment.set_provider("Example Acquirer");
  terms.payment.mutable_amount()->set_currency("EUR");
  terms.payment.mutable_amount()->set_minor_units(1200);
  asw::Originator payer(o, r.certificate, t.certificate, terms);
  ASSERT_THAT(payer.Me1(), IsOk());
  auto aborted = arbiter.Abort(*payer.Abort());
  ASSERT_THAT(aborted, IsOk());
  EXPECT_FALSE(aborted->resolved());
  EXPECT_TRUE(aborted->affidavit().empty());
  ASSERT_TRUE(aborted->has_payment_order_from());
  EXPECT_EQ(FromTimestamp(aborted->payment_order_from()), kStart + absl::Hours(72));

  clock_.Advance(absl::Hours(71));
  auto early = arbiter.Abort(*payer.Abort());
  ASSERT_THAT(early, IsOk());
  EXPECT_TRUE(early->affidavit().empty());
  clock_.Advance(absl::Hours(2));
  auto late = arbiter.Abort(*payer.Abort());
  ASSERT_THAT(late, IsOk());
  v1::AffidavitStatement affidavit;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(late->affidavit(), &affidavit).ok());
  EXPECT_EQ(affidavit.type(), "semper-payment-reversal-order");
  EXPECT_EQ(affidavit.payment().reference(), "AUTH-CLOCK");
}

// semper-ca: an enrolment code is refused once the clock passes its expiry.
TEST_F(ClockTest, CaRefusesAnEnrolmentCodeAfterItsExpiry) {
  auto pool = Pool("ca", ca::CaStore::Statements(), ca_migrations());
  ASSERT_NE(pool, nullptr);
  ca::CaStore store(pool.get(), clock_.AsClock());
  v1::Subscriber s;
  s.set_name("Clock Shop GmbH");
  s.set_kind(v1::CUSTOMER_KIND_ENTERPRISE);
  s.set_country("DE");
  s.set_applicable_law("DE");
  s.set_vat_reference("DE123456789");
  s.set_email("shop@example.com");
  const std::string code = Sha256("the enrolment code");
  ASSERT_THAT(store.Register(s, "officer", code, kStart + absl::Hours(24)), IsOk());
  const std::vector<std::string> keys = {Sha256("authentication key"), Sha256("signature key")};
  // Before its expiry the code is claimed and the certificates asked for (refused here, so that
  // the code stays unused).
  int asked = 0;
  auto issue = [&asked](const v1::Subscriber&) -> absl::StatusOr<std::vector<ca::IssuedRecord>> {
    ++asked;
    return absl::AbortedError("not issuing in this test");
  };
  clock_.Advance(absl::Hours(23));
  EXPECT_THAT(store.Enroll(code, keys, issue), StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(asked, 1);
  clock_.Advance(absl::Hours(1));
  EXPECT_THAT(store.Enroll(code, keys, issue), StatusIs(absl::StatusCode::kFailedPrecondition, v1::EXPIRED));
  EXPECT_EQ(asked, 1);
}

// How many transactions wait for the advisory lock (key1, key2) of semper-ca, polled until there
// are `n` (at most 10 s).
bool WaitForLockWaiters(const std::string& conninfo, int key1, int n) {
  pqxx::connection c(conninfo);
  for (int i = 0; i < 1000; ++i) {
    pqxx::nontransaction tx(c);
    auto r = tx.exec_params(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = $1 AND objid = 1",
        key1);
    if (r[0][0].as<int>() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// semper-ca: a revocation is dated once status changes are its to make (not when it was asked
// for, behind another change in flight), and a status read waits for changes in flight: an
// answer about a time before the read never changes afterwards (review: a revocation queued
// behind another change was dated before a GOOD answered while it waited).
TEST_F(ClockTest, CaRevocationsAreDatedWhenTheyCanCommitAndStatusReadsWaitForThem) {
  auto pool = Pool("ca", ca::CaStore::Statements(), ca_migrations());
  ASSERT_NE(pool, nullptr);
  ca::CaStore store(pool.get(), clock_.AsClock());
  const SignerIdentity leaf = LongLived("Revoked While Another Change Was In Flight");
  ASSERT_THAT(store.RegisterServiceCertificates({leaf.certificate}), IsOk());
  const std::string serial = leaf.certificate.SerialHex();
  ASSERT_EQ(store.Status(serial, ca::CaStore::kNow)->state(), v1::CERTIFICATE_STATE_GOOD);

  // Another status change in flight (a subscriber's closing, a cascade) holds the order.
  pqxx::connection other(conninfo());
  pqxx::work in_flight(other);
  in_flight.exec("SELECT pg_advisory_xact_lock(7305911, 1)");
  // A request that is refused does not wait for the order (anyone may ask; status reads wait for
  // whatever holds it).
  auto refused = std::async(std::launch::async, [&] {
    return std::pair{store.Revoke("0BADC0DE", v1::REVOCATION_REASON_KEY_COMPROMISE, "officer", ""),
                     store.Revoke(serial, v1::REVOCATION_REASON_KEY_COMPROMISE, "a subscriber", "S-OTHER")};
  });
  ASSERT_EQ(refused.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto [unknown, not_theirs] = refused.get();
  EXPECT_THAT(unknown, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(not_theirs, StatusIs(absl::StatusCode::kPermissionDenied));
  auto revoked = std::async(std::launch::async, [&] {
    return store.Revoke(serial, v1::REVOCATION_REASON_CESSATION_OF_OPERATION, "officer", "");
  });
  ASSERT_TRUE(WaitForLockWaiters(conninfo(), 7305911, 1));
  clock_.Advance(absl::Seconds(10));
  // Asked while both are in flight: the answer waits for them.
  auto read = std::async(std::launch::async, [&] { return store.Status(serial, ca::CaStore::kNow); });
  ASSERT_TRUE(WaitForLockWaiters(conninfo(), 7305911, 2));
  // So does a CRL: it lists every revocation dated before its time.
  std::vector<std::string> listed;
  auto crl = std::async(std::launch::async, [&] {
    return store.PublishCrls(
        /*new_base=*/true,
        [&](const std::vector<ca::RevokedEntry>& entries, int64_t, std::optional<int64_t>) {
          for (const auto& e : entries) listed.push_back(e.serial_hex);
          return absl::StatusOr<std::string>("a CRL");
        },
        [](std::string_view) { return absl::StatusOr<std::vector<ca::RevokedEntry>>(); });
  });
  ASSERT_TRUE(WaitForLockWaiters(conninfo(), 7305911, 3));
  EXPECT_EQ(read.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  EXPECT_EQ(crl.wait_for(std::chrono::milliseconds(1)), std::future_status::timeout);
  clock_.Advance(absl::Seconds(10));
  in_flight.commit();
  ASSERT_THAT(revoked.get(), IsOk());
  ASSERT_THAT(crl.get(), IsOk());
  EXPECT_THAT(listed, ::testing::Contains(serial));
  auto answered = read.get();
  ASSERT_THAT(answered, IsOk());
  EXPECT_EQ(answered->state(), v1::CERTIFICATE_STATE_REVOKED);
  // Dated when it held the order, 20 s in, not when it was asked for.
  EXPECT_EQ(FromTimestamp(answered->revoked_at()), kStart + absl::Seconds(20));
  EXPECT_EQ(store.Status(serial, kStart + absl::Seconds(10))->state(), v1::CERTIFICATE_STATE_GOOD);
  EXPECT_EQ(store.Status(serial, kStart + absl::Seconds(20))->state(), v1::CERTIFICATE_STATE_REVOKED);
}

// semper-ca: a clearing period, once a statement closed it, is never dated into again: not by a
// redemption in flight (closing waits for it), not by a replica whose clock lags (it dates at the
// period's end), not after a clock is set back (review: a lagging replica's redemption changed a
// signed statement).
TEST_F(ClockTest, CaClearingPeriodsStayClosedWhateverAReplicasClockSays) {
  auto pool = Pool("ca", ca::CaStore::Statements(), ca_migrations());
  ASSERT_NE(pool, nullptr);
  // This replica's clock is right (kStart is now); the other's is 10 s behind.
  ManualClock lagging(kStart - absl::Seconds(10));
  ca::CaStore ahead(pool.get(), clock_.AsClock()), behind(pool.get(), lagging.AsClock());
  auto dated_at = [&](ca::CaStore& replica) {
    absl::Time at;
    EXPECT_THAT(pool->Transact([&](pqxx::work& tx) -> absl::Status {
      at = replica.ClearingTime(tx);
      return absl::OkStatus();
    }),
                IsOk());
    return at;
  };
  EXPECT_EQ(dated_at(behind), kStart - absl::Seconds(10));
  // A period that has not ended by the clock is not closed; nor by the database's clock, at a
  // replica whose clock runs an hour ahead.
  EXPECT_THAT(ahead.CloseClearingPeriod(kStart + absl::Seconds(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  ManualClock hour_ahead(kStart + absl::Hours(1));
  ca::CaStore runs_ahead(pool.get(), hour_ahead.AsClock());
  EXPECT_THAT(runs_ahead.CloseClearingPeriod(kStart + absl::Minutes(30)),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  EXPECT_EQ(dated_at(behind), kStart - absl::Seconds(10));

  // A redemption in flight at the lagging replica, dated inside the period: closing waits for
  // its commit.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int64_t> in_flight_at{0};
  auto in_flight = std::async(std::launch::async, [&] {
    return pool->Transact([&](pqxx::work& tx) -> absl::Status {
      in_flight_at = absl::ToUnixMicros(behind.ClearingTime(tx));
      released.wait();
      return absl::OkStatus();
    });
  });
  while (in_flight_at == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(absl::FromUnixMicros(in_flight_at), kStart - absl::Seconds(10));
  // A refusal does not wait for it (nor stall the redemptions after it).
  auto refused = std::async(std::launch::async, [&] { return ahead.CloseClearingPeriod(kStart + absl::Seconds(1)); });
  ASSERT_EQ(refused.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_THAT(refused.get(), StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  auto closed = std::async(std::launch::async, [&] { return ahead.CloseClearingPeriod(kStart - absl::Seconds(5)); });
  ASSERT_TRUE(WaitForLockWaiters(conninfo(), 1397050704, 1));
  EXPECT_EQ(closed.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  release.set_value();
  ASSERT_THAT(in_flight.get(), IsOk());
  ASSERT_THAT(closed.get(), IsOk());

  // Afterwards the lagging replica dates at the period's end until its clock passes it, and
  // gives the closed period's statement too, though its clock has not reached the period's end.
  EXPECT_EQ(dated_at(behind), kStart - absl::Seconds(5));
  // (made at no earlier than the period's end: it had ended by then)
  auto again = behind.CloseClearingPeriod(kStart - absl::Seconds(5));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, kStart - absl::Seconds(5));
  lagging.Advance(absl::Seconds(7));
  EXPECT_EQ(dated_at(behind), kStart - absl::Seconds(3));
  // A clock set back, and an earlier period closed later, move nothing back.
  clock_.Set(kStart - absl::Minutes(1));
  EXPECT_THAT(ahead.CloseClearingPeriod(kStart - absl::Minutes(2)), IsOk());
  EXPECT_EQ(dated_at(ahead), kStart - absl::Seconds(5));
}

// semper-notary: a document is certified while its signer's certificate is valid by the clock,
// and the attestation states the clock's time; once the certificate has run out, refused.
TEST_F(ClockTest, NotaryCertifiesOnlyWhileTheSignersCertificateIsValid) {
  auto pool = Pool("notary", notary::EvidenceLog::Statements(), notary_migrations());
  ASSERT_NE(pool, nullptr);
  const auto& pki = SharedTestPki();
  SignerIdentity notary_id = LongLived("semper-notary signer");
  notary::StatementSigner signer(notary_id.key, notary_id.certificate, {pki.ca()});
  notary::EvidenceLog log(pool.get(), [&signer](std::string_view st) { return signer.Sign(st); });
  ASSERT_THAT(log.Load(), IsOk());
  notary::Attestations::Deps deps;
  deps.log = &log;
  deps.signer = &signer;
  deps.trust = &pki.trust();
  deps.check_status = [](const Certificate&) { return absl::OkStatus(); };
  deps.time_stamp = [this](std::string_view, absl::Time* at) -> absl::StatusOr<std::string> {
    *at = clock_.Now();
    return std::string("a token");
  };
  deps.clock = clock_.AsClock();
  notary::Attestations attestations(deps);
  LeafSpec spec;
  spec.common_name = "Clock Signer";
  spec.not_before = kStart - absl::Hours(1);
  spec.not_after = kStart + absl::Hours(2);
  SignerIdentity author = pki.Issue(spec);
  const std::string document = "a contract";
  auto signature = CmsSignDetached(document, author.key, author.certificate, {pki.ca()});
  ASSERT_THAT(signature, IsOk());
  v1::CertifyDocumentRequest req;
  req.set_document(document);
  req.set_signature(*signature);
  auto certify = [&]() {
    std::promise<absl::StatusOr<v1::Evidence>> answered;
    auto answer = answered.get_future();
    attestations.Certify(req, [&answered](absl::StatusOr<v1::Evidence> e) { answered.set_value(std::move(e)); });
    return answer.get();
  };
  clock_.Advance(absl::Hours(1));
  auto evidence = certify();
  ASSERT_THAT(evidence, IsOk());
  v1::AttestationStatement st;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(evidence->statement(), &st).ok());
  EXPECT_EQ(FromTimestamp(st.status_checked_at()), kStart + absl::Hours(1));
  EXPECT_EQ(FromTimestamp(st.time_stamped_at()), kStart + absl::Hours(1));
  clock_.Advance(absl::Hours(2));
  EXPECT_THAT(certify(), StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
}

}  // namespace
}  // namespace semper
