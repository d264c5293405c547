// semper-arbiter as a process with a real PostgreSQL: parties run the ASW exchange with the
// library and turn to the daemon only to abort or resolve; concurrent and repeated requests,
// and a restart, never change the first decision.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/base/proto_time.h"
#include "common/crypto/cms.h"
#include "common/crypto/signature.h"
#include "common/exchange/asw.h"
#include "common/server/grpc_status.h"
#include "semper/v1/arbiter.grpc.pb.h"
#include "semper/v1/ca.pb.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/suite.h"
#include "tests/support/wallet.h"

namespace semper {
namespace {

using ::semper::testing::CommandResult;
using ::semper::testing::IsOk;
using ::semper::testing::RunCommand;
using ::semper::testing::Slurp;
using ::semper::testing::StatusIs;
using ::semper::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kPass[] = "arbiter test passphrase";

class ArbiterTest : public ::semper::testing::PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    // semper-ca (init, and the daemon: parties enrol, semperctl asks it for their status); the
    // arbiter asks no other daemon, and the tests stop and start it.
    auto o = ::semper::testing::Suite::Options::Only({"arbiter"}, conninfo());
    o.passphrase = kPass;
    o.env["arbiter"] = {"-SEMPER_ARBITER_CA_ADDRESS", "-SEMPER_ARBITER_NOTARY_ADDRESS",
                        "SEMPER_ARBITER_PAYMENT_OBJECTION_PERIOD=" + std::to_string(kObjectionSeconds) + "s"};
    o.not_started = {"arbiter"};
    auto suite = ::semper::testing::Suite::Start(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
    port_ = suite_->port("arbiter");
    Start();
    v1::ArbiterCertificate cert;
    grpc::ClientContext ctx;
    ASSERT_TRUE(Stub()->GetArbiterCertificate(&ctx, {}, &cert).ok());
    arbiter_.emplace(*Certificate::FromDer(cert.certificate()));
    ASSERT_FALSE(cert.escrow_certificate().empty());
    escrow_.emplace(*Certificate::FromDer(cert.escrow_certificate()));
  }
  void Start() { ASSERT_THAT(suite_->StartDaemon("arbiter"), IsOk()); }
  void Stop() { EXPECT_THAT(suite_->Stop("arbiter"), IsOk()) << Slurp(P("arbiter.log")); }
  std::string P(const std::string& name) const { return dir_.path() + "/" + name; }
  std::shared_ptr<grpc::Channel> Channel() {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Slurp(P("pki/root.pem"));
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_), grpc::SslCredentials(ssl), args);
  }
  std::unique_ptr<v1::Arbiter::Stub> Stub() { return v1::Arbiter::NewStub(Channel()); }

  // A party enrolled at the suite's semper-ca (its signature key and certificate); or, not from the
  // suite, a key with a self-signed certificate under the same name.
  asw::Party Party(const std::string& name, bool from_suite = true) {
    if (from_suite) {
      auto enrolled = suite_->Enroll(name, v1::CUSTOMER_KIND_INDIVIDUAL);
      EXPECT_THAT(enrolled.status(), IsOk());
      subscribers_.emplace(name, *enrolled);
      return asw::Party{enrolled->key, enrolled->certificate};
    }
    auto key = *PrivateKey::Generate(KeyType::kEcP256);
    CertificateTemplate t;
    t.subject = {{"C", "DE"}, {"CN", name}};
    t.not_before = absl::Now() - absl::Minutes(5);
    t.not_after = absl::Now() + absl::Hours(24);
    t.key_usage = kKuDigitalSignature | kKuNonRepudiation;
    return asw::Party{key, *IssueCertificate(t, key.public_key(), nullptr, key)};
  }

  absl::StatusOr<v1::ArbiterDecision> Abort(const v1::AbortRequest& req) {
    v1::ArbiterDecision d;
    grpc::ClientContext ctx;
    grpc::Status s = Stub()->Abort(&ctx, req, &d);
    if (!s.ok()) return FromGrpcStatus(s);
    return d;
  }
  absl::StatusOr<v1::ArbiterDecision> Show(const v1::StandardContract& contract) {
    v1::ShowStandardContractRequest req;
    *req.mutable_contract() = contract;
    v1::ArbiterDecision d;
    grpc::ClientContext ctx;
    grpc::Status s = Stub()->ShowStandardContract(&ctx, req, &d);
    if (!s.ok()) return FromGrpcStatus(s);
    return d;
  }
  static constexpr int kObjectionSeconds = 3;
  // A delivery against payment: `text` against EUR `minor_units`, by card at Example Acquirer.
  static asw::ExchangeTerms PaymentTerms(const std::string& reference, const std::string& text, int64_t minor_units) {
    asw::ExchangeTerms t;
    t.kind = v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT;
    t.contract = text;
    t.payment.set_instrument("card");
    t.payment.set_reference(reference);
    t.payment.set_provider("Example Acquirer");
    t.payment.mutable_amount()->set_currency("EUR");
    t.payment.mutable_amount()->set_minor_units(minor_units);
    return t;
  }
  absl::StatusOr<v1::ArbiterDecision> Resolve(const v1::ResolveRequest& req) {
    v1::ArbiterDecision d;
    grpc::ClientContext ctx;
    grpc::Status s = Stub()->Resolve(&ctx, req, &d);
    if (!s.ok()) return FromGrpcStatus(s);
    return d;
  }
  std::string Sql(const std::string& sql) { return *postgres().Query(database(), sql); }

  TempDir dir_;
  int port_ = 0;
  std::optional<Certificate> arbiter_, escrow_;
  std::unique_ptr<::semper::testing::Suite> suite_;
  std::map<std::string, ::semper::testing::Suite::Subscriber> subscribers_;  // by name

  // A wallet as `semperctl enroll` writes it, for party `p`.
  std::string Wallet(const std::string& name, const asw::Party& p) {
    dir_.Write("wallet.pass", "wallet passphrase");
    return ::semper::testing::WriteWallet(dir_, name, p.key, p.certificate, Slurp(P("pki/ca.pem")),
                                          "wallet passphrase");
  }
  CommandResult Ctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {SEMPERCTL,
                                     "--arbiter",
                                     "127.0.0.1:" + std::to_string(port_),
                                     "--server",
                                     "127.0.0.1:" + std::to_string(suite_->port("ca")),
                                     "--server-name",
                                     "localhost",
                                     "--ca-file",
                                     P("pki/root.pem"),
                                     "--yes"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
  std::vector<std::string> WalletArgs(const std::string& wallet) {
    return {"--wallet", wallet, "--wallet-passphrase-file", P("wallet.pass")};
  }
  std::vector<std::string> Cmd(std::vector<std::string> head, const std::string& wallet,
                               std::vector<std::string> tail) {
    auto w = WalletArgs(wallet);
    head.insert(head.end(), w.begin(), w.end());
    head.insert(head.end(), tail.begin(), tail.end());
    return head;
  }

  // `openssl cms -verify` of an affidavit and the arbiter's signature over it.
  int OpensslCmsVerify(const std::string& statement, const std::string& signature) {
    dir_.Write("affidavit.json", statement);
    dir_.Write("affidavit.sig", signature);
    auto r =
        RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("affidavit.sig"), "-content",
                    P("affidavit.json"), "-CAfile", P("pki/root.pem"), "-purpose", "any", "-out", "/dev/null"});
    if (r.exit_code != 0) ADD_FAILURE() << r.Describe();
    return r.exit_code;
  }
};

TEST_F(ArbiterTest, ConcurrentAbortsAndResolvesGetOneDecisionThatSurvivesARestart) {
  asw::Party o = Party("Originator"), r = Party("Responder");
  for (int round = 0; round < 4; ++round) {
    asw::Originator originator(o, r.certificate, *arbiter_, "contract " + std::to_string(round));
    auto me1 = originator.Me1();
    auto responder = asw::Responder::Accept(r, *arbiter_, *me1);
    ASSERT_THAT(responder, IsOk());
    ASSERT_THAT(responder->Me2(), IsOk());  // O receives me2 but goes silent; both turn to the arbiter
    v1::AbortRequest abort = *originator.Abort();
    v1::ResolveRequest resolve = *responder->Resolve();
    std::mutex mu;
    std::set<std::string> tokens;
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t) {
      threads.emplace_back([&, t] {
        auto d = t % 2 == 0 ? Abort(abort) : Resolve(resolve);
        if (!d.ok()) {
          ++errors;
          return;
        }
        std::lock_guard<std::mutex> lock(mu);
        tokens.insert(d->token().body() + d->token().signature());
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0) << Slurp(P("arbiter.log"));
    ASSERT_EQ(tokens.size(), 1u) << "different answers for one exchange";
    auto first = Abort(abort);
    ASSERT_THAT(first, IsOk());
    auto view = asw::VerifyToken(first->token(), *arbiter_);
    ASSERT_THAT(view, IsOk());
    EXPECT_EQ(view->resolved, first->resolved());
    EXPECT_EQ(view->body.me1_hash(), asw::Hash(me1->body()));
    // A restart changes nothing.
    Stop();
    Start();
    auto after = Resolve(resolve);
    ASSERT_THAT(after, IsOk());
    EXPECT_EQ(after->token().body(), first->token().body());
    EXPECT_EQ(after->token().signature(), first->token().signature());
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.exchanges"), "4");
}

// semper-arbiter killed (SIGKILL) while both parties of 24 exchanges ask it at once, one to abort
// and the other to resolve: after the restart, whatever either side was told stands; both sides
// asking again get the same signed decision, one per exchange, and it verifies.
TEST_F(ArbiterTest, KilledWhileAbortsAndResolvesRaceEachExchangeHasOneDecision) {
  asw::Party o = Party("Originator"), r = Party("Responder");
  constexpr int kExchanges = 24;
  std::vector<v1::AbortRequest> aborts;
  std::vector<v1::ResolveRequest> resolves;
  for (int i = 0; i < kExchanges; ++i) {
    asw::Originator originator(o, r.certificate, *arbiter_, "order " + std::to_string(i));
    auto me1 = originator.Me1();
    auto responder = asw::Responder::Accept(r, *arbiter_, *me1);
    ASSERT_THAT(responder, IsOk());
    ASSERT_THAT(responder->Me2(), IsOk());
    aborts.push_back(*originator.Abort());
    resolves.push_back(*responder->Resolve());
  }
  std::mutex mu;
  std::map<int, std::set<std::string>> told;  // exchange -> tokens answered before the kill
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kExchanges; ++t) {
    threads.emplace_back([&, t] {
      const int i = t / 2;
      auto d = t % 2 == 0 ? Abort(aborts[i]) : Resolve(resolves[i]);
      ++answered;
      if (!d.ok()) return;
      std::lock_guard<std::mutex> lock(mu);
      told[i].insert(d->token().body() + d->token().signature());
    });
  }
  while (answered.load() < kExchanges / 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_THAT(suite_->Kill("arbiter"), IsOk());
  for (auto& t : threads) t.join();
  Start();
  int decided_before = 0;
  for (int i = 0; i < kExchanges; ++i) {
    EXPECT_LE(told[i].size(), 1u) << "two answers for exchange " << i;
    decided_before += told[i].empty() ? 0 : 1;
    auto by_originator = Abort(aborts[i]);
    auto by_responder = Resolve(resolves[i]);
    ASSERT_THAT(by_originator, IsOk()) << i;
    ASSERT_THAT(by_responder, IsOk()) << i;
    const std::string token = by_originator->token().body() + by_originator->token().signature();
    EXPECT_EQ(token, by_responder->token().body() + by_responder->token().signature()) << i;
    if (!told[i].empty()) {
      EXPECT_EQ(*told[i].begin(), token) << "exchange " << i << " changed its decision across the kill";
    }
    auto view = asw::VerifyToken(by_originator->token(), *arbiter_);
    ASSERT_THAT(view, IsOk()) << i;
    EXPECT_EQ(view->resolved, by_originator->resolved()) << i;
  }
  std::printf("killed after %d answers: %d of %d exchanges had been answered\n", kExchanges / 2, decided_before,
              kExchanges);
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.exchanges"), std::to_string(kExchanges));
}

TEST_F(ArbiterTest, CertifiedMailResolvedGivesTheDocumentToOneSideAndASubstituteReceiptToTheOther) {
  asw::Party o = Party("Sender"), r = Party("Recipient");
  asw::ExchangeTerms terms;
  terms.kind = v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT;
  terms.contract = "certified mail: notice of termination";
  terms.document = "We terminate the contract of 1 March with effect from 30 June.";
  terms.escrow = *escrow_;
  asw::Originator sender(o, r.certificate, *arbiter_, terms);
  auto me1 = sender.Me1();
  ASSERT_THAT(me1, IsOk());
  auto recipient = asw::Responder::Accept(r, *arbiter_, *me1);
  ASSERT_THAT(recipient, IsOk());
  auto me2 = recipient->Me2();
  ASSERT_THAT(me2, IsOk());
  // The sender goes silent after me2: the recipient resolves and gets the document from the arbiter.
  auto for_r = Resolve(*recipient->Resolve());
  ASSERT_THAT(for_r, IsOk());
  EXPECT_TRUE(for_r->resolved());
  EXPECT_EQ(for_r->document(), terms.document);
  ASSERT_FALSE(for_r->affidavit().empty());
  // The sender, asking later (it never got me4), gets the same decision: the substitute receipt.
  ASSERT_THAT(sender.Me3(*me2), IsOk());
  auto for_o = Resolve(*sender.Resolve());
  ASSERT_THAT(for_o, IsOk());
  EXPECT_TRUE(for_o->resolved());
  EXPECT_EQ(for_o->affidavit(), for_r->affidavit());
  v1::AffidavitStatement a;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(for_o->affidavit(), &a).ok());
  EXPECT_EQ(a.type(), "semper-substitute-receipt");
  EXPECT_EQ(a.document_sha256(), asw::Hash(terms.document));
  EXPECT_EQ(a.responder(), r.certificate.Subject());
  EXPECT_EQ(OpensslCmsVerify(for_o->affidavit(), for_o->affidavit_signature()), 0);
  // The document is not kept in clear: only the escrow is in the record (inside me1).
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.exchanges WHERE position(convert_to('with effect from', 'UTF8') in "
                "token_body) > 0"),
            "0");
}

TEST_F(ArbiterTest, AnEscrowTheArbiterCannotOpenEndsInAnAbort) {
  asw::Party o = Party("Sender"), r = Party("Recipient"), other = Party("Someone else");
  asw::ExchangeTerms terms;
  terms.kind = v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT;
  terms.contract = "certified mail";
  terms.document = "a document";
  terms.escrow = other.certificate;  // not the arbiter's escrow certificate
  asw::Originator sender(o, r.certificate, *arbiter_, terms);
  auto me1 = sender.Me1();
  ASSERT_THAT(me1, IsOk());
  auto recipient = asw::Responder::Accept(r, *arbiter_, *me1);
  ASSERT_THAT(recipient->Me2(), IsOk());
  auto d = Resolve(*recipient->Resolve());
  ASSERT_THAT(d, IsOk());
  EXPECT_FALSE(d->resolved());  // the recipient is not bound; the sender gets no receipt
  EXPECT_TRUE(d->document().empty());
  EXPECT_TRUE(d->affidavit().empty());

  // An escrow the arbiter opens, of another document than the H(D) that me1 promises (the sender
  // signs me1 with it, so the recipient cannot tell): the arbiter opens it, sees the mismatch, and
  // aborts; it neither hands the other document over nor binds the recipient.
  terms.escrow = *escrow_;
  asw::Originator honest(o, r.certificate, *arbiter_, terms);
  auto real_me1 = honest.Me1();
  ASSERT_THAT(real_me1, IsOk());
  v1::Me1Body body;
  ASSERT_TRUE(body.ParseFromString(real_me1->body()));
  auto wrong_escrow = CmsEncrypt("another document, not the one promised", {*escrow_});
  ASSERT_THAT(wrong_escrow, IsOk());
  body.set_document_escrow(*wrong_escrow);
  v1::SignedBody lying_me1;
  lying_me1.set_body(body.SerializeAsString());
  lying_me1.set_signature(
      *(*PublicKeySign::New(o.key, DefaultSignatureAlgorithm(o.key.type())))->Sign(lying_me1.body()));
  auto fooled = asw::Responder::Accept(r, *arbiter_, lying_me1);
  ASSERT_THAT(fooled, IsOk());  // nothing in me1 tells the recipient
  ASSERT_THAT(fooled->Me2(), IsOk());
  auto opened = Resolve(*fooled->Resolve());
  ASSERT_THAT(opened, IsOk());
  EXPECT_FALSE(opened->resolved());
  EXPECT_TRUE(opened->document().empty());
  EXPECT_TRUE(opened->affidavit().empty());
  // The decision stands: asked again, the same abort.
  auto again = Resolve(*fooled->Resolve());
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(again->resolved());
}

TEST_F(ArbiterTest, DeliveryForPaymentAbortedComesWithAPaymentReversalOrderAfterTheObjectionPeriod) {
  asw::Party o = Party("Buyer"), r = Party("Seller");
  asw::Originator buyer(o, r.certificate, *arbiter_, PaymentTerms("AUTH-7781", "one e-book against EUR 12.00", 1200));
  ASSERT_THAT(buyer.Me1(), IsOk());
  // The seller never commits: the buyer aborts. The abort token says only that the arbiter will
  // not resolve; the payment order waits for the objection period.
  const absl::Time asked = absl::Now();
  auto d = Abort(*buyer.Abort());
  ASSERT_THAT(d, IsOk());
  EXPECT_FALSE(d->resolved());
  EXPECT_TRUE(d->affidavit().empty());
  ASSERT_TRUE(d->has_payment_order_from());
  EXPECT_GE(FromTimestamp(d->payment_order_from()), asked + absl::Seconds(kObjectionSeconds) - absl::Seconds(1));
  auto early = Abort(*buyer.Abort());
  ASSERT_THAT(early, IsOk());
  EXPECT_TRUE(early->affidavit().empty());
  // After it, asked again: the order for the payment provider, saying what the arbiter knows.
  std::this_thread::sleep_until(absl::ToChronoTime(FromTimestamp(d->payment_order_from()) + absl::Milliseconds(200)));
  auto late = Abort(*buyer.Abort());
  ASSERT_THAT(late, IsOk());
  v1::AffidavitStatement a;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(late->affidavit(), &a).ok());
  EXPECT_EQ(a.type(), "semper-payment-reversal-order");
  EXPECT_EQ(a.addressed_to(), "Example Acquirer");
  EXPECT_EQ(a.payment().reference(), "AUTH-7781");
  EXPECT_THAT(a.statement(), HasSubstr("no standard contract"));
  EXPECT_THAT(a.statement(), ::testing::Not(HasSubstr("committed")));
  EXPECT_EQ(OpensslCmsVerify(late->affidavit(), late->affidavit_signature()), 0);
  // The same order again after a restart.
  Stop();
  Start();
  auto again = Abort(*buyer.Abort());
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->affidavit(), late->affidavit());
  EXPECT_EQ(again->affidavit_signature(), late->affidavit_signature());
}

// Finding (issue 19, 3): an originator who completed an exchange (it holds me1..me4, so the
// responder is bound) asked for an abort and got it, and for delivery against payment a signed
// statement that the exchange "was aborted before the responder committed" and a reversal order.
// For every kind: completed then aborted, and both orders of the abort/resolve race. An abort
// token says only that the arbiter will not resolve; a standard contract still binds both, and
// shown in time it makes the payment order a release.
TEST_F(ArbiterTest, EveryKindOfExchangeEndsTheSameWayForBothWhateverTheOrder) {
  asw::Party o = Party("Originator"), r = Party("Responder");
  auto terms_of = [&](v1::ExchangeKind kind, const std::string& tag) {
    if (kind == v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT) return PaymentTerms("AUTH-" + tag, "terms " + tag, 4200);
    asw::ExchangeTerms t;
    t.kind = kind;
    t.contract = "terms " + tag;
    if (kind == v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT) {
      t.document = "the document " + tag;
      t.escrow = *escrow_;
    }
    return t;
  };
  auto affidavit_type = [](const v1::ArbiterDecision& d) {
    v1::AffidavitStatement a;
    if (d.affidavit().empty() || !google::protobuf::util::JsonStringToMessage(d.affidavit(), &a).ok())
      return std::string();
    return a.type();
  };
  struct Run {
    std::unique_ptr<asw::Originator> originator;
    std::optional<asw::Responder> responder;
    v1::StandardContract contract;
  };
  // Runs an exchange up to `steps` messages (1: me1 only, 2: me2, 4: completed).
  auto run = [&](v1::ExchangeKind kind, const std::string& tag, int steps) {
    Run x;
    asw::ExchangeTerms t = terms_of(kind, tag);
    x.originator = std::make_unique<asw::Originator>(o, r.certificate, *arbiter_, t);
    auto me1 = x.originator->Me1();
    EXPECT_THAT(me1, IsOk());
    if (steps < 2) return x;
    auto accepted = asw::Responder::Accept(r, *arbiter_, *me1);
    EXPECT_THAT(accepted, IsOk());
    x.responder.emplace(*std::move(accepted));
    auto me2 = x.responder->Me2();
    EXPECT_THAT(me2, IsOk());
    if (steps < 4) {
      EXPECT_THAT(x.originator->Me3(*me2), IsOk());  // O has me2 (it could resolve)
      return x;
    }
    auto me3 = x.originator->Me3(*me2);
    EXPECT_THAT(me3, IsOk());
    if (kind == v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT) EXPECT_THAT(x.responder->ReceiveDocument(t.document), IsOk());
    auto me4 = x.responder->Me4(*me3);
    EXPECT_THAT(me4, IsOk());
    auto finished = x.originator->Finish(*me4);
    EXPECT_THAT(finished, IsOk());
    x.contract = *finished;
    return x;
  };
  for (v1::ExchangeKind kind :
       {v1::EXCHANGE_KIND_CONTRACT, v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT, v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT}) {
    SCOPED_TRACE(v1::ExchangeKind_Name(kind));
    const bool payment = kind == v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT;
    const bool mail = kind == v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT;
    const std::string k = std::to_string(static_cast<int>(kind));

    // 1. Completed, then the originator aborts: an abort token, and nothing more.
    Run done = run(kind, k + "-completed", 4);
    auto aborted = Abort(*done.originator->Abort());
    ASSERT_THAT(aborted, IsOk());
    EXPECT_FALSE(aborted->resolved());
    EXPECT_TRUE(aborted->affidavit().empty()) << affidavit_type(*aborted);
    EXPECT_TRUE(aborted->document().empty());
    EXPECT_EQ(aborted->has_payment_order_from(), payment);
    EXPECT_THAT(asw::VerifyStandardContract(done.contract), IsOk());  // still binds both
    // The responder shows the standard contract in time: both bound, the payment released.
    auto shown = Show(done.contract);
    ASSERT_THAT(shown, IsOk());
    EXPECT_TRUE(shown->completed());
    EXPECT_TRUE(shown->document().empty());  // the escrow only for a party's own Resolve
    EXPECT_EQ(affidavit_type(*shown), payment ? "semper-payment-release-order" : "");
    // Asked again after the objection period: the same, never a reversal.
    if (payment) {
      std::this_thread::sleep_until(
          absl::ToChronoTime(FromTimestamp(aborted->payment_order_from()) + absl::Milliseconds(200)));
    }
    auto later = Abort(*done.originator->Abort());
    ASSERT_THAT(later, IsOk());
    EXPECT_TRUE(later->completed());
    EXPECT_EQ(later->affidavit(), shown->affidavit());
    if (payment) EXPECT_EQ(OpensslCmsVerify(later->affidavit(), later->affidavit_signature()), 0);

    // 2. Completed, shown first (no decision yet): a resolve; an abort after it gets the same.
    Run done2 = run(kind, k + "-shown", 4);
    auto first = Show(done2.contract);
    ASSERT_THAT(first, IsOk());
    EXPECT_TRUE(first->resolved());
    EXPECT_TRUE(first->completed());
    // Whoever holds a standard contract (it is shown around as evidence) gets no escrowed document
    // (found by a reviewer); the recipient, asking with its own signed Resolve, does.
    EXPECT_TRUE(first->document().empty());
    if (mail) {
      auto own = Resolve(*done2.responder->Resolve());
      ASSERT_THAT(own, IsOk());
      EXPECT_EQ(own->document(), terms_of(kind, k + "-shown").document);
    }
    auto after = Abort(*done2.originator->Abort());
    ASSERT_THAT(after, IsOk());
    EXPECT_TRUE(after->resolved());
    EXPECT_EQ(affidavit_type(*after), payment ? "semper-payment-release-order"
                                      : mail  ? "semper-substitute-receipt"
                                              : "");

    // 3. The race, abort first: the responder's resolve gets the abort token; for payment the
    //    reversal comes after the objection period, when no standard contract was shown.
    Run race1 = run(kind, k + "-abort-first", 2);
    auto a1 = Abort(*race1.originator->Abort());
    ASSERT_THAT(a1, IsOk());
    auto r1 = Resolve(*race1.responder->Resolve());
    ASSERT_THAT(r1, IsOk());
    EXPECT_FALSE(r1->resolved());
    EXPECT_EQ(r1->token().signature(), a1->token().signature());
    EXPECT_TRUE(r1->document().empty());
    EXPECT_TRUE(r1->affidavit().empty());
    if (payment) {
      std::this_thread::sleep_until(
          absl::ToChronoTime(FromTimestamp(a1->payment_order_from()) + absl::Milliseconds(200)));
      auto r1late = Resolve(*race1.responder->Resolve());
      ASSERT_THAT(r1late, IsOk());
      EXPECT_EQ(affidavit_type(*r1late), "semper-payment-reversal-order");
    }

    // 4. The race, resolve first: the originator's abort gets the replacement contract.
    Run race2 = run(kind, k + "-resolve-first", 2);
    auto r2 = Resolve(*race2.responder->Resolve());
    ASSERT_THAT(r2, IsOk());
    EXPECT_TRUE(r2->resolved());
    if (mail) EXPECT_EQ(r2->document(), terms_of(kind, k + "-resolve-first").document);
    auto a2 = Abort(*race2.originator->Abort());
    ASSERT_THAT(a2, IsOk());
    EXPECT_TRUE(a2->resolved());
    EXPECT_EQ(a2->token().signature(), r2->token().signature());
    EXPECT_EQ(affidavit_type(*a2), payment ? "semper-payment-release-order" : mail ? "semper-substitute-receipt" : "");
  }
}

// A reviewer's attack on the first fix: the buyer completes exchange A, then signs a second me1
// for the same payment (the seller's certificate is public), sends it to nobody and aborts it,
// waiting out the objection period for a reversal order the seller cannot object to. A payment
// belongs to the first exchange naming it that the arbiter decides: the other orders nothing. And
// if the buyer aborts its decoy first, the seller learns it when it shows A's contract (before it
// delivers): no release, no reversal for A.
TEST_F(ArbiterTest, APaymentBelongsToOneExchange) {
  asw::Party o = Party("Buyer"), r = Party("Seller");
  auto terms = [](const std::string& reference, const std::string& text) {
    return PaymentTerms(reference, text, 50000);
  };
  auto complete = [&](asw::Originator& buyer) {
    auto me1 = buyer.Me1();
    auto seller = asw::Responder::Accept(r, *arbiter_, *me1);
    EXPECT_THAT(seller, IsOk());
    auto me3 = buyer.Me3(*seller->Me2());
    EXPECT_THAT(seller->Me4(*me3), IsOk());
    return seller->Contract();
  };
  // A completed and shown; the decoy B for the same payment, aborted: nothing about the payment.
  asw::Originator a(o, r.certificate, *arbiter_, terms("AUTH-1", "a laptop"));
  v1::StandardContract contract_a = complete(a);
  auto shown = Show(contract_a);
  ASSERT_THAT(shown, IsOk());
  asw::Originator decoy(o, r.certificate, *arbiter_, terms("AUTH-1", "a laptop, once more"));
  ASSERT_THAT(decoy.Me1(), IsOk());
  EXPECT_THAT(Abort(*decoy.Abort()), StatusIs(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE));
  std::this_thread::sleep_for(std::chrono::seconds(kObjectionSeconds) + std::chrono::milliseconds(300));
  EXPECT_THAT(Abort(*decoy.Abort()), StatusIs(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE));
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.exchanges WHERE position(convert_to('reversal', 'UTF8') in "
                "coalesce(affidavit, ''::bytea)) > 0"),
            "0");
  // The decoy first: the seller's contract for the same payment is refused before it delivers.
  asw::Originator decoy2(o, r.certificate, *arbiter_, terms("AUTH-2", "a phone, decoy"));
  ASSERT_THAT(decoy2.Me1(), IsOk());
  ASSERT_THAT(Abort(*decoy2.Abort()), IsOk());
  asw::Originator b(o, r.certificate, *arbiter_, terms("AUTH-2", "a phone"));
  v1::StandardContract contract_b = complete(b);
  EXPECT_THAT(Show(contract_b), StatusIs(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE));
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.exchanges WHERE completed_contract IS NOT NULL"), "1");
  // Variants of the same payment are the same payment (found by a second reviewer): another case
  // is the same key; padding, control or non-ASCII characters make no me1 at all.
  asw::Originator variant(o, r.certificate, *arbiter_, terms("auth-1", "a laptop, lower case"));
  ASSERT_THAT(variant.Me1(), IsOk());
  EXPECT_THAT(Abort(*variant.Abort()), StatusIs(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE));
  for (const std::string& bad : {std::string("AUTH-1 "), std::string(" AUTH-1"), std::string("AUTH\x00-1", 7),
                                 std::string("AUTH-\xd0\x86"), std::string(129, 'A')}) {
    asw::Originator odd(o, r.certificate, *arbiter_, terms(bad, "odd"));
    EXPECT_THAT(odd.Me1(), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  // A stranger naming the buyer's payment binds only its own: the buyer's exchange still ends.
  asw::Party m = Party("Mallory");
  asw::Originator squatter(m, r.certificate, *arbiter_, terms("AUTH-3", "squatted"));
  ASSERT_THAT(squatter.Me1(), IsOk());
  ASSERT_THAT(Abort(*squatter.Abort()), IsOk());
  asw::Originator c(o, r.certificate, *arbiter_, terms("AUTH-3", "a tablet"));
  auto released = Show(complete(c));
  ASSERT_THAT(released, IsOk());
  EXPECT_TRUE(released->completed());
  EXPECT_THAT(released->affidavit(), HasSubstr("semper-payment-release-order"));
}

// An originator who completed a delivery against payment aborts; the responder shows the standard
// contract only after the objection period: the reversal stands (the README says so), and the
// late contract is refused and changes nothing. A contract of another exchange, a changed one, or
// one naming another arbiter, is refused too.
TEST_F(ArbiterTest, AStandardContractShownTooLateOrForgedChangesNothing) {
  asw::Party o = Party("Buyer"), r = Party("Seller"), m = Party("Mallory");
  const asw::ExchangeTerms t = PaymentTerms("AUTH-9", "a bicycle against EUR 300", 30000);
  asw::Originator buyer(o, r.certificate, *arbiter_, t);
  auto me1 = buyer.Me1();
  ASSERT_THAT(me1, IsOk());
  auto seller = asw::Responder::Accept(r, *arbiter_, *me1);
  ASSERT_THAT(seller, IsOk());
  auto me2 = seller->Me2();
  auto me3 = buyer.Me3(*me2);
  auto me4 = seller->Me4(*me3);
  ASSERT_THAT(me4, IsOk());
  v1::StandardContract contract = seller->Contract();
  auto aborted = Abort(*buyer.Abort());
  ASSERT_THAT(aborted, IsOk());
  // Forged or foreign contracts: refused, the order still pending.
  v1::StandardContract changed = contract;
  changed.mutable_me4()->set_signature(changed.me4().signature() + "x");
  EXPECT_THAT(Show(changed), StatusIs(absl::StatusCode::kInvalidArgument));
  asw::Originator other(m, r.certificate, *arbiter_, t);  // another exchange, by Mallory
  auto ome1 = other.Me1();
  auto oseller = asw::Responder::Accept(r, *arbiter_, *ome1);
  auto ome2 = oseller->Me2();
  auto ome3 = other.Me3(*ome2);
  ASSERT_THAT(oseller->Me4(*ome3), IsOk());
  v1::StandardContract spliced = oseller->Contract();
  *spliced.mutable_me1() = contract.me1();
  EXPECT_THAT(Show(spliced), StatusIs(absl::StatusCode::kInvalidArgument));
  auto still = Abort(*buyer.Abort());
  ASSERT_THAT(still, IsOk());
  EXPECT_TRUE(still->affidavit().empty());
  EXPECT_FALSE(still->completed());
  // Too late: the reversal stands.
  std::this_thread::sleep_until(
      absl::ToChronoTime(FromTimestamp(aborted->payment_order_from()) + absl::Milliseconds(200)));
  EXPECT_THAT(Show(contract), StatusIs(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE));
  auto final_order = Abort(*buyer.Abort());
  ASSERT_THAT(final_order, IsOk());
  EXPECT_FALSE(final_order->completed());
  v1::AffidavitStatement a;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(final_order->affidavit(), &a).ok());
  EXPECT_EQ(a.type(), "semper-payment-reversal-order");
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.exchanges WHERE completed_contract IS NOT NULL"), "0");
}

TEST_F(ArbiterTest, TwoPartiesRunCertifiedMailWithSemperctlWithoutTheArbiter) {
  asw::Party o = Party("Sender"), r = Party("Recipient");
  std::string wo = Wallet("sender", o), wr = Wallet("recipient", r);
  dir_.Write("recipient.pem", r.certificate.Pem());
  dir_.Write("terms.txt", "Certified mail: notice of termination.\nThe recipient gives a receipt.");
  dir_.Write("notice.txt", "We terminate the contract of 1 March with effect from 30 June.");
  auto offer = Ctl(Cmd({"exchange", "offer"}, wo,
                       {"--to", P("recipient.pem"), "--contract", P("terms.txt"), "--kind", "mail", "--document",
                        P("notice.txt"), "--state", P("sender.state"), "--out", P("me1")}));
  ASSERT_EQ(offer.exit_code, 0) << offer.Describe();
  // What is signed is shown first.
  EXPECT_THAT(offer.out, HasSubstr("notice of termination"));
  EXPECT_THAT(offer.out, HasSubstr("certified mail"));
  EXPECT_EQ(std::filesystem::status(P("sender.state")).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  auto accept =
      Ctl(Cmd({"exchange", "accept"}, wr, {"--in", P("me1"), "--state", P("recipient.state"), "--out", P("me2")}));
  ASSERT_EQ(accept.exit_code, 0) << accept.Describe();
  EXPECT_THAT(accept.out, HasSubstr("Sender"));
  auto me3 =
      Ctl(Cmd({"exchange", "continue"}, wo, {"--state", P("sender.state"), "--in", P("me2"), "--out", P("me3")}));
  ASSERT_EQ(me3.exit_code, 0) << me3.Describe();
  // The wrong document is refused; the right one gives the receipt.
  dir_.Write("other.txt", "something else");
  auto wrong =
      Ctl(Cmd({"exchange", "continue"}, wr,
              {"--state", P("recipient.state"), "--in", P("me3"), "--document", P("other.txt"), "--out", P("me4")}));
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_THAT(wrong.err, HasSubstr("not the one me1 names"));
  auto me4 =
      Ctl(Cmd({"exchange", "continue"}, wr,
              {"--state", P("recipient.state"), "--in", P("me3"), "--document", P("notice.txt"), "--out", P("me4")}));
  ASSERT_EQ(me4.exit_code, 0) << me4.Describe();
  auto done =
      Ctl(Cmd({"exchange", "continue"}, wo, {"--state", P("sender.state"), "--in", P("me4"), "--out", P("contract")}));
  ASSERT_EQ(done.exit_code, 0) << done.Describe();
  auto verify = Ctl({"exchange", "verify", "--in", P("contract")});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  EXPECT_THAT(verify.out, HasSubstr("valid standard contract"));
  // An honest run never contacted the arbiter.
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.exchanges"), "0");
  // semperctl's originator cannot abort once the responder committed (it resolves instead); the
  // recipient can show the completed contract, which the arbiter records (asking first).
  auto no_abort = Ctl(Cmd({"exchange", "abort"}, wo, {"--state", P("sender.state"), "--out", P("abort")}));
  EXPECT_NE(no_abort.exit_code, 0) << no_abort.Describe();
  auto declined = RunCommand(
      {SEMPERCTL, "--arbiter", "127.0.0.1:" + std::to_string(port_), "--server-name", "localhost", "--ca-file",
       P("pki/root.pem"), "exchange", "show-contract", "--in", P("contract"), "--out", P("shown")},
      "n\n");
  EXPECT_EQ(declined.exit_code, 1) << declined.Describe();
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.exchanges"), "0");
  auto shown = Ctl({"exchange", "show-contract", "--in", P("contract"), "--out", P("shown")});
  EXPECT_EQ(shown.exit_code, 0) << shown.Describe();
  EXPECT_THAT(shown.out, HasSubstr("was shown to the arbiter: both are bound"));
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.exchanges WHERE completed_contract IS NOT NULL"), "1");
  // The same exchange run by one person with keys no CA of the suite certified, under the real
  // parties' names: every signature and nonce binds, and it proves nothing (exit 3); neither does
  // the real contract with one byte changed.
  asw::Party fake_o = Party("Sender", /*from_suite=*/false), fake_r = Party("Recipient", /*from_suite=*/false);
  asw::Originator fo(fake_o, fake_r.certificate, *arbiter_, "Certified mail: notice of termination.");
  auto f1 = fo.Me1();
  ASSERT_THAT(f1, IsOk());
  auto fr = asw::Responder::Accept(fake_r, *arbiter_, *f1);
  ASSERT_THAT(fr, IsOk());
  auto f3 = fo.Me3(*fr->Me2());
  ASSERT_THAT(f3, IsOk());
  auto f4 = fr->Me4(*f3);
  ASSERT_THAT(f4, IsOk());
  auto forged = fo.Finish(*f4);
  ASSERT_THAT(forged, IsOk());
  dir_.Write("forged.contract", forged->SerializeAsString());
  auto made_up = Ctl({"exchange", "verify", "--in", P("forged.contract")});
  EXPECT_EQ(made_up.exit_code, 3) << made_up.Describe();
  EXPECT_THAT(made_up.err, HasSubstr("the originator's certificate"));
  std::string changed = Slurp(P("contract"));
  changed.replace(changed.find("notice of termination"), 6, "NOTICE");
  dir_.Write("changed.contract", changed);
  auto changed_verify = Ctl({"exchange", "verify", "--in", P("changed.contract")});
  EXPECT_EQ(changed_verify.exit_code, 3) << changed_verify.Describe();
  // The real sender with a responder no CA of the suite certified.
  asw::Originator half(o, fake_r.certificate, *arbiter_, "Certified mail: notice of termination.");
  auto h1 = half.Me1();
  ASSERT_THAT(h1, IsOk());
  auto hr = asw::Responder::Accept(fake_r, *arbiter_, *h1);
  ASSERT_THAT(hr, IsOk());
  auto h4 = hr->Me4(*half.Me3(*hr->Me2()));
  ASSERT_THAT(h4, IsOk());
  dir_.Write("half.contract", half.Finish(*h4)->SerializeAsString());
  auto half_verify = Ctl({"exchange", "verify", "--in", P("half.contract")});
  EXPECT_EQ(half_verify.exit_code, 3) << half_verify.Describe();
  EXPECT_THAT(half_verify.err, HasSubstr("the responder's certificate"));
  // Nothing in an exchange proves when it was signed: once the sender's key is revoked for
  // keyCompromise, the contract no longer verifies (whoever holds the key could have made it).
  ASSERT_THAT(suite_->Revoke(o.certificate, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  auto after_revocation = Ctl({"exchange", "verify", "--in", P("contract")});
  EXPECT_EQ(after_revocation.exit_code, 3) << after_revocation.Describe();
  EXPECT_THAT(after_revocation.err, HasSubstr("revoked"));
}

TEST_F(ArbiterTest, SemperctlAbortsAndResolves) {
  asw::Party o = Party("Buyer"), r = Party("Seller");
  std::string wo = Wallet("buyer", o), wr = Wallet("seller", r);
  dir_.Write("seller.pem", r.certificate.Pem());
  dir_.Write("terms.txt", "one e-book against EUR 12.00");
  // Delivery against payment; the seller never answers: the buyer aborts.
  auto offer = Ctl(Cmd({"exchange", "offer"}, wo,
                       {"--to", P("seller.pem"), "--contract", P("terms.txt"), "--kind", "payment",
                        "--payment-provider", "Example Acquirer", "--payment-reference", "AUTH-1", "--amount", "12.00",
                        "--state", P("buyer.state"), "--out", P("me1")}));
  ASSERT_EQ(offer.exit_code, 0) << offer.Describe();
  EXPECT_THAT(offer.out, HasSubstr("12.00 EUR"));
  auto aborted = Ctl(Cmd({"exchange", "abort"}, wo, {"--state", P("buyer.state"), "--out", P("abort")}));
  ASSERT_EQ(aborted.exit_code, 0) << aborted.Describe();
  EXPECT_THAT(aborted.out, HasSubstr("the arbiter will never resolve it"));
  EXPECT_THAT(aborted.out, HasSubstr("No payment order yet"));
  EXPECT_FALSE(std::filesystem::exists(P("abort/affidavit.json")));
  // After the objection period, asked again: the reversal order.
  std::this_thread::sleep_for(std::chrono::seconds(kObjectionSeconds) + std::chrono::milliseconds(300));
  aborted = Ctl(Cmd({"exchange", "abort"}, wo, {"--state", P("buyer.state"), "--out", P("abort")}));
  ASSERT_EQ(aborted.exit_code, 0) << aborted.Describe();
  EXPECT_THAT(aborted.out, HasSubstr("semper-payment-reversal-order"));
  EXPECT_EQ(OpensslCmsVerify(Slurp(P("abort/affidavit.json")), Slurp(P("abort/affidavit.sig"))), 0);
  auto token = Ctl({"exchange", "verify", "--in", P("abort/token")});
  EXPECT_EQ(token.exit_code, 0) << token.Describe();
  EXPECT_THAT(token.out, HasSubstr("abort token"));
  // A delivery against payment run to the end: the seller's last step shows the contract to the
  // arbiter and writes me4 only with the release order; for a payment the buyer's decoy already
  // holds, it writes nothing.
  auto run_payment = [&](const std::string& tag, const std::string& reference) {
    auto p1 = Ctl(Cmd({"exchange", "offer"}, wo,
                      {"--to", P("seller.pem"), "--contract", P("terms.txt"), "--kind", "payment", "--payment-provider",
                       "Example Acquirer", "--payment-reference", reference, "--amount", "12.00", "--state",
                       P(tag + "-buyer.state"), "--out", P(tag + "-me1")}));
    EXPECT_EQ(p1.exit_code, 0) << p1.Describe();
    auto p2 = Ctl(Cmd({"exchange", "accept"}, wr,
                      {"--in", P(tag + "-me1"), "--state", P(tag + "-seller.state"), "--out", P(tag + "-me2")}));
    EXPECT_EQ(p2.exit_code, 0) << p2.Describe();
    auto p3 = Ctl(Cmd({"exchange", "continue"}, wo,
                      {"--state", P(tag + "-buyer.state"), "--in", P(tag + "-me2"), "--out", P(tag + "-me3")}));
    EXPECT_EQ(p3.exit_code, 0) << p3.Describe();
    return Ctl(Cmd({"exchange", "continue"}, wr,
                   {"--state", P(tag + "-seller.state"), "--in", P(tag + "-me3"), "--out", P(tag + "-me4")}));
  };
  auto paid = run_payment("paid", "AUTH-77");
  EXPECT_EQ(paid.exit_code, 0) << paid.Describe();
  EXPECT_THAT(paid.out, HasSubstr("semper-payment-release-order"));
  EXPECT_TRUE(std::filesystem::exists(P("paid-me4")));
  auto held = run_payment("held", "AUTH-1");  // the payment the first exchange's abort holds
  EXPECT_NE(held.exit_code, 0) << held.Describe();
  EXPECT_THAT(held.err, HasSubstr("me4 not written"));
  EXPECT_FALSE(std::filesystem::exists(P("held-me4")));
  // A contract where the originator goes silent after me2: the responder resolves.
  auto offer2 = Ctl(
      Cmd({"exchange", "offer"}, wo,
          {"--to", P("seller.pem"), "--contract", P("terms.txt"), "--state", P("buyer2.state"), "--out", P("c-me1")}));
  ASSERT_EQ(offer2.exit_code, 0) << offer2.Describe();
  auto accept =
      Ctl(Cmd({"exchange", "accept"}, wr, {"--in", P("c-me1"), "--state", P("seller.state"), "--out", P("c-me2")}));
  ASSERT_EQ(accept.exit_code, 0) << accept.Describe();
  auto resolved = Ctl(Cmd({"exchange", "resolve"}, wr, {"--state", P("seller.state"), "--out", P("resolve")}));
  ASSERT_EQ(resolved.exit_code, 0) << resolved.Describe();
  EXPECT_THAT(resolved.out, HasSubstr("resolved"));
  // The originator (who never saw me2) asks to abort too late: it gets the same decision.
  auto too_late = Ctl(Cmd({"exchange", "abort"}, wo, {"--state", P("buyer2.state"), "--out", P("late")}));
  ASSERT_EQ(too_late.exit_code, 0) << too_late.Describe();
  EXPECT_THAT(too_late.out, HasSubstr("resolved"));
  EXPECT_EQ(Slurp(P("late/token")), Slurp(P("resolve/token")));
  // The aborted payment, the paid one (shown by the seller's last step), the resolved contract;
  // the refused one wrote nothing.
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.exchanges"), "3");
}

TEST_F(ArbiterTest, RequestsThatDoNotBindAreRefusedAndDecideNothing) {
  asw::Party o = Party("Originator"), r = Party("Responder"), stranger = Party("Stranger", false);
  asw::Originator originator(o, r.certificate, *arbiter_, "contract");
  auto me1 = originator.Me1();
  auto responder = asw::Responder::Accept(r, *arbiter_, *me1);
  ASSERT_THAT(responder->Me2(), IsOk());
  // The responder may not abort.
  v1::AbortRequest by_responder = *originator.Abort();
  {
    asw::Originator as_r(r, r.certificate, *arbiter_, "contract");
    ASSERT_THAT(as_r.Me1(), IsOk());
    *by_responder.mutable_request() = as_r.Abort()->request();
  }
  EXPECT_THAT(Abort(by_responder), StatusIs(absl::StatusCode::kInvalidArgument));
  // A party whose certificate is not from this suite.
  asw::Originator outsider(stranger, r.certificate, *arbiter_, "contract");
  ASSERT_THAT(outsider.Me1(), IsOk());
  EXPECT_THAT(Abort(*outsider.Abort()), StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  // An exchange naming another arbiter.
  asw::Originator elsewhere(o, r.certificate, r.certificate, "contract");
  ASSERT_THAT(elsewhere.Me1(), IsOk());
  EXPECT_THAT(Abort(*elsewhere.Abort()), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.exchanges"), "0");
}

}  // namespace
}  // namespace semper
