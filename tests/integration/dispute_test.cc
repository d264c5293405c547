// Dispute resolution against the real suite: semper-ca, semper-tsa, semper-notary and
// semper-arbiter as processes with a real PostgreSQL. Every claim type is decided from evidence
// the real authorities made: valid and forged signatures, a signature made after its key was
// revoked (proven by the time-stamp), notary evidence with the wrong tree head. Verdicts and
// reveal orders are checked with `openssl cms -verify`.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <regex>
#include <thread>

#include "common/base/proto_json.h"
#include "common/base/proto_time.h"
#include "common/base/strings.h"
#include "common/container/container.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/crypto/timestamp.h"
#include "common/exchange/asw.h"
#include "common/server/grpc_status.h"
#include "semper/v1/arbiter.grpc.pb.h"
#include "semper/v1/ca.grpc.pb.h"
#include "semper/v1/liability.grpc.pb.h"
#include "semper/v1/notary.grpc.pb.h"
#include "semper/v1/tsa.grpc.pb.h"
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
using ::semper::testing::StatusWithMessage;
using ::semper::testing::Suite;
using ::semper::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kPass[] = "dispute test passphrase";

struct Party {
  PrivateKey key;
  Certificate certificate;
};

class DisputeTest : public ::semper::testing::PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    Suite::Options o = Suite::Options::All(conninfo());
    o.passphrase = kPass;
    o.env["arbiter"] = {"SEMPER_ARBITER_ANSWER_PERIOD=4s", "SEMPER_ARBITER_SWEEP_INTERVAL=200ms"};
    auto suite = Suite::Start(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
    auto buyer = suite_->Enroll("Bert Buyer", v1::CUSTOMER_KIND_INDIVIDUAL);
    auto seller = suite_->Enroll("Example Shop GmbH", v1::CUSTOMER_KIND_ENTERPRISE);
    ASSERT_THAT(buyer.status(), IsOk());
    ASSERT_THAT(seller.status(), IsOk());
    buyer_.emplace(Party{buyer->key, buyer->certificate});
    seller_.emplace(Party{seller->key, seller->certificate});
    buyer_sub_.emplace(*buyer);
    seller_sub_.emplace(*seller);
  }

  std::string P(const std::string& name) const { return dir_.path() + "/" + name; }
  std::unique_ptr<v1::Arbiter::Stub> Arbiter(const std::string& client = "") {
    return v1::Arbiter::NewStub(suite_->Channel("arbiter", client));
  }
  std::vector<Certificate> Chain() { return suite_->Chain(); }
  void Revoke(const Certificate& cert) {
    ASSERT_THAT(suite_->Revoke(cert, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  }

  std::string Sign(const std::string& bytes, const Party& p) {
    return *CmsSignDetached(bytes, p.key, p.certificate, Chain());
  }

  // semper-tsa's token over SHA-256 of `bytes`.
  std::string Stamp(const std::string& bytes) {
    auto tsq = MakeTimeStampRequest(HashAlgorithm::kSha256, Sha256(bytes), {true, "", RandomBytes(8)});
    v1::StampRequest req;
    req.set_request(*tsq);
    v1::StampResponse resp;
    grpc::ClientContext ctx;
    auto s = v1::TimeStamp::NewStub(suite_->Channel("tsa"))->Stamp(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return *TimeStampTokenOf(resp.response());
  }

  v1::Evidence Certify(const std::string& document, const std::string& signature) {
    v1::CertifyDocumentRequest req;
    req.set_document(document);
    req.set_signature(signature);
    v1::Evidence e;
    grpc::ClientContext ctx;
    auto s = v1::Notary::NewStub(suite_->Channel("notary"))->CertifyDocument(&ctx, req, &e);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return e;
  }

  // A signed document as evidence, its signature time-stamped by semper-tsa.
  v1::EvidenceItem SignedDocument(const std::string& label, const std::string& document, const Party& signer,
                                  bool stamp = true) {
    v1::EvidenceItem item;
    item.set_label(label);
    auto* d = item.mutable_signed_document();
    d->set_document(document);
    d->set_signature(Sign(document, signer));
    if (stamp) d->set_signature_time_stamp(Stamp(d->signature()));
    return item;
  }

  // `subject`: the SHA-256 of the content in dispute (default: an order nobody shows).
  v1::ClaimStatement Claim(v1::ClaimKind kind, const Party& respondent, std::vector<v1::EvidenceItem> evidence,
                           const std::string& subject = Sha256("order 2026-0042, shown nowhere")) {
    v1::ClaimStatement c;
    c.set_type("semper-claim");
    c.set_kind(kind);
    c.set_text("as the evidence shows");
    c.set_respondent_certificate(respondent.certificate.Der());
    c.set_subject_reference("order 2026-0042");
    c.set_subject_sha256(subject);
    c.mutable_amount_claimed()->set_currency("EUR");
    c.mutable_amount_claimed()->set_minor_units(12990);
    for (auto& e : evidence) *c.add_evidence() = std::move(e);
    *c.mutable_made_at() = ToTimestamp(absl::Now());
    return c;
  }

  absl::StatusOr<v1::Case> File(const v1::ClaimStatement& claim, const Party& claimant) {
    v1::FileClaimRequest req;
    req.set_claim(claim.SerializeAsString());
    req.set_signature(Sign(req.claim(), claimant));
    v1::Case c;
    grpc::ClientContext ctx;
    grpc::Status s = Arbiter()->FileClaim(&ctx, req, &c);
    if (!s.ok()) return FromGrpcStatus(s);
    return c;
  }

  absl::StatusOr<v1::Case> Answer(const std::string& case_id, const Party& respondent,
                                  std::vector<v1::EvidenceItem> evidence) {
    v1::AnswerStatement a;
    a.set_type("semper-answer");
    a.set_case_id(case_id);
    a.set_text("see my evidence");
    for (auto& e : evidence) *a.add_evidence() = std::move(e);
    *a.mutable_made_at() = ToTimestamp(absl::Now());
    v1::AnswerClaimRequest req;
    req.set_answer(a.SerializeAsString());
    req.set_signature(Sign(req.answer(), respondent));
    v1::Case c;
    grpc::ClientContext ctx;
    grpc::Status s = Arbiter()->AnswerClaim(&ctx, req, &c);
    if (!s.ok()) return FromGrpcStatus(s);
    return c;
  }

  v1::Case GetCase(const std::string& id) {
    v1::GetCaseRequest req;
    req.set_case_id(id);
    v1::Case c;
    grpc::ClientContext ctx;
    EXPECT_TRUE(Arbiter()->GetCase(&ctx, req, &c).ok());
    return c;
  }

  v1::Case WaitFor(const std::string& id, v1::CaseState state) {
    v1::Case c;
    for (int i = 0; i < 150; ++i) {
      c = GetCase(id);
      if (c.state() == state) return c;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "case " << id << " stayed " << v1::CaseState_Name(c.state()) << "\n" << Slurp(P("arbiter.log"));
    return c;
  }

  std::string Sql(const std::string& sql) { return *postgres().Query(database(), sql); }

  // Bert Buyer's order at Example Shop GmbH (or `seller`) for EUR `minor_units`, naming both by
  // their certificates, asking for non-repudiation.
  v1::ContainerContent OrderContent(const std::string& order_id, int64_t minor_units, const Party* seller = nullptr) {
    v1::ContainerContent content = NewContainerContent(absl::Now());
    v1::Order* o = content.mutable_template_()->mutable_order();
    o->set_order_id(order_id);
    o->mutable_buyer()->set_name("Bert Buyer");
    o->mutable_buyer()->set_country("DE");
    o->mutable_buyer()->set_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
    o->mutable_buyer()->set_certificate(buyer_->certificate.Der());
    o->mutable_seller()->set_name("Example Shop GmbH");
    o->mutable_seller()->set_country("DE");
    o->mutable_seller()->set_certificate((seller != nullptr ? *seller : *seller_).certificate.Der());
    o->set_customer_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
    o->set_applicable_law("DE");
    o->mutable_amount()->set_currency("EUR");
    o->mutable_amount()->set_minor_units(minor_units);
    content.mutable_requested()->set_non_repudiation_of_origin(true);
    return content;
  }

  // An order as evidence: signed by `signers` (the buyer first), each signature time-stamped.
  struct OrderEvidence {
    v1::EvidenceItem item;
    std::string content;  // the bytes every signature covers
    std::string sha256;   // what a claim names
  };
  OrderEvidence Order(const std::string& order_id, std::vector<const Party*> signers, const Party* seller = nullptr,
                      const std::string& label = "the order") {
    SealOptions seal;
    for (const Party* p : signers) seal.signers.push_back(SignerIdentity{p->key, p->certificate, Chain()});
    auto sealed = Seal(OrderContent(order_id, 12990, seller), seal);
    EXPECT_TRUE(sealed.ok()) << sealed.status();
    OrderEvidence out;
    out.item.set_label(label);
    *out.item.mutable_container()->mutable_container() = sealed->signed_();
    for (const auto& sig : sealed->signed_().signatures())
      out.item.mutable_container()->add_signature_time_stamps(Stamp(sig));
    out.content = sealed->signed_().content();
    out.sha256 = Sha256(out.content);
    return out;
  }

  // `signer`'s receipt for the content `order_sha256`, acknowledging `what`.
  v1::EvidenceItem Receipt(const std::string& order_sha256, const Party& signer, v1::ReceiptAcknowledges what,
                           const std::string& label) {
    v1::ContainerContent content = NewContainerContent(absl::Now());
    v1::Receipt* r = content.mutable_template_()->mutable_receipt();
    r->set_received_container_id("the order");
    r->mutable_content_digest()->set_algorithm(v1::HASH_ALGORITHM_SHA256);
    r->mutable_content_digest()->set_value(order_sha256);
    *r->mutable_received_at() = content.created();
    r->set_acknowledges(what);
    content.mutable_requested()->set_non_repudiation_of_origin(true);
    auto sealed = Seal(content, {.signers = {SignerIdentity{signer.key, signer.certificate, Chain()}}});
    EXPECT_TRUE(sealed.ok()) << sealed.status();
    v1::EvidenceItem item;
    item.set_label(label);
    *item.mutable_container()->mutable_container() = sealed->signed_();
    item.mutable_container()->add_signature_time_stamps(Stamp(sealed->signed_().signatures(0)));
    return item;
  }

  v1::VerdictStatement Verdict(const v1::Case& c) {
    v1::VerdictStatement v;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(c.verdict(), &v).ok()) << c.verdict();
    return v;
  }

  CommandResult OpensslCmsVerify(const std::string& statement, const std::string& signature) {
    dir_.Write("statement.json", statement);
    dir_.Write("statement.sig", signature);
    return RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("statement.sig"), "-content",
                       P("statement.json"), "-CAfile", P("pki/root.pem"), "-purpose", "any", "-out", "/dev/null"});
  }

  CommandResult Ctl(const std::string& wallet, std::vector<std::string> args, const std::string& client = "") {
    std::vector<std::string> argv = {
        SEMPERCTL,         "--arbiter", "127.0.0.1:" + std::to_string(suite_->port("arbiter")),
        "--server-name",   "localhost", "--ca-file",
        P("pki/root.pem"), "--yes"};
    if (!client.empty()) {
      argv.insert(argv.end(), {"--cert", P("pki/admin/" + client + ".pem"), "--key", P("pki/admin/" + client + ".key"),
                               "--key-passphrase-file", P("pass")});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    if (!wallet.empty()) {
      dir_.Write("wallet.pass", "wallet passphrase");
      argv.insert(argv.end(), {"--wallet", wallet, "--wallet-passphrase-file", P("wallet.pass")});
    }
    return RunCommand(argv);
  }
  std::string Wallet(const std::string& name, const Party& p) {
    return ::semper::testing::WriteWallet(dir_, name, p.key, p.certificate, Slurp(P("pki/ca.pem")),
                                          "wallet passphrase");
  }

  // With the authentication key too, for what a party asks as itself over TLS (`dispute list`).
  std::string FullWallet(const std::string& name, const ::semper::testing::Suite::Subscriber& p) {
    return ::semper::testing::WriteFullWallet(dir_, name, p.key, p.certificate, *p.authentication_key,
                                              *p.authentication_certificate, Slurp(P("pki/ca.pem")),
                                              "wallet passphrase");
  }

  std::vector<std::string> Events(const v1::Case& c) {
    std::vector<std::string> out;
    for (const auto& e : c.history()) out.push_back(e.event());
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Suite> suite_;
  std::optional<Party> buyer_, seller_;
  std::optional<::semper::testing::Suite::Subscriber> buyer_sub_, seller_sub_;
};

TEST_F(DisputeTest, NonDeliveryUpheldWhenTheRespondentStaysSilentAndTheVerdictGoesToTheNotary) {
  // The buyer's order; the seller's signature over its content (its confirmation), time-stamped,
  // and certified by the notary.
  OrderEvidence order = Order("2026-0042", {&*buyer_});
  const std::string& confirmation = order.content;
  v1::EvidenceItem signed_confirmation = SignedDocument("order confirmation", confirmation, *seller_);
  v1::EvidenceItem notarized;
  notarized.set_label("notarized order confirmation");
  *notarized.mutable_notary_evidence() = Certify(confirmation, signed_confirmation.signed_document().signature());
  // The same entry with another (later, genuine) tree head: the inclusion proof does not lead there.
  v1::Evidence later = Certify("something else", Sign("something else", *seller_));
  v1::EvidenceItem wrong_head = notarized;
  wrong_head.set_label("notarized, wrong tree head");
  *wrong_head.mutable_notary_evidence()->mutable_tree_head() = later.tree_head();

  auto filed = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_,
                          {signed_confirmation, notarized, wrong_head, order.item}, order.sha256),
                    *buyer_);
  ASSERT_THAT(filed.status(), IsOk());
  EXPECT_EQ(filed->state(), v1::CASE_STATE_FILED);
  EXPECT_EQ(filed->claimant(), buyer_->certificate.Subject());
  EXPECT_EQ(filed->respondent(), seller_->certificate.Subject());

  // No answer: after the deadline the rules decide, and the verdict goes into the notary's log.
  v1::Case c = WaitFor(filed->case_id(), v1::CASE_STATE_CLOSED);
  EXPECT_THAT(Events(c), ::testing::ElementsAre("filed", "deadline-passed", "findings", "decided", "closed"));
  v1::VerdictStatement v = Verdict(c);
  EXPECT_EQ(v.outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD) << v.reasoning();
  EXPECT_EQ(v.decided_by(), "automatic rules");
  EXPECT_THAT(v.reasoning(), HasSubstr("did not answer"));
  ASSERT_EQ(v.findings_size(), 4);
  EXPECT_TRUE(v.findings(0).holds()) << v.findings(0).problem();
  EXPECT_THAT(v.findings(0).verified(), ::testing::ElementsAre("signature-time-stamp", "cms-signature",
                                                               "certificate-path", "status-good-at-signing-time"));
  EXPECT_THAT(v.findings(0).signed_by_party(), ::testing::ElementsAre("respondent"));
  EXPECT_TRUE(v.findings(1).holds()) << v.findings(1).problem();
  EXPECT_EQ(v.findings(1).kind(), "notary-attestation");
  EXPECT_THAT(v.findings(1).verified(), ::testing::Contains("tree-head-consistent"));
  EXPECT_FALSE(v.findings(2).holds());
  EXPECT_THAT(v.findings(2).problem(), HasSubstr("is not in the signed tree"));
  EXPECT_EQ(v.findings(3).kind(), "container/order");
  EXPECT_EQ(v.findings(3).order_buyer(), "claimant");
  EXPECT_EQ(v.findings(3).order_seller(), "respondent");
  EXPECT_EQ(v.subject_sha256(), order.sha256);
  EXPECT_THAT(v.remedies(), ::testing::Contains(HasSubstr("refunds 129.90 EUR")));
  EXPECT_TRUE(c.reveal_order().empty());  // the respondent is not pseudonymous

  auto cms = OpensslCmsVerify(c.verdict(), c.verdict_signature());
  EXPECT_EQ(cms.exit_code, 0) << cms.Describe();
  // The verdict is in semper-arbiter's audit trail, with its hash.
  EXPECT_EQ(
      *postgres().Query(database(), "SELECT count(*) FROM arbiter.audit WHERE action = 'verdict' AND subject = '" +
                                        c.case_id() + "' AND details LIKE '%" + HexEncode(Sha256(c.verdict())) + "%'"),
      "1");
  // The notary's entry for the verdict: its attestation names the verdict's hash.
  ASSERT_TRUE(c.has_verdict_evidence());
  v1::AttestationStatement att;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(c.verdict_evidence().statement(), &att).ok());
  EXPECT_EQ(att.document_sha256(), Sha256(c.verdict()));
  EXPECT_THAT(att.signer_subject(), HasSubstr("semper-arbiter signer"));
}

TEST_F(DisputeTest, NonDeliveryRejectedWhenTheRespondentShowsTheClaimantsReceipt) {
  OrderEvidence order = Order("2026-0043", {&*buyer_, &*seller_});
  auto filed = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {order.item}, order.sha256), *buyer_);
  ASSERT_THAT(filed.status(), IsOk());
  // Someone else than the respondent cannot answer.
  EXPECT_THAT(Answer(filed->case_id(), *buyer_, {}).status(),
              StatusWithMessage(absl::StatusCode::kPermissionDenied, HasSubstr("only the respondent")));
  auto answered = Answer(filed->case_id(), *seller_,
                         {Receipt(order.sha256, *buyer_, v1::RECEIPT_ACKNOWLEDGES_DELIVERY, "delivery receipt")});
  ASSERT_THAT(answered.status(), IsOk());
  EXPECT_THAT(answered->state(), ::testing::AnyOf(v1::CASE_STATE_DECIDED, v1::CASE_STATE_CLOSED));
  v1::VerdictStatement v = Verdict(*answered);
  EXPECT_EQ(v.outcome(), v1::VERDICT_OUTCOME_CLAIM_REJECTED) << v.reasoning();
  EXPECT_THAT(v.reasoning(), HasSubstr("delivery receipt"));
  // A second answer: the case is decided already.
  EXPECT_THAT(Answer(filed->case_id(), *seller_, {}).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  v1::Case c = WaitFor(filed->case_id(), v1::CASE_STATE_CLOSED);
  EXPECT_THAT(Events(c), ::testing::ElementsAre("filed", "answered", "findings", "decided", "closed"));
  EXPECT_EQ(OpensslCmsVerify(c.verdict(), c.verdict_signature()).exit_code, 0);
}

TEST_F(DisputeTest, NonPaymentUpheldOnTheBuyersSignedOrder) {
  // The buyer's order as a signed SEMPER container, its signature time-stamped.
  v1::ContainerContent content = OrderContent("2026-0044", 12990);
  auto sealed = Seal(content, {.signers = {SignerIdentity{buyer_->key, buyer_->certificate, Chain()}}});
  ASSERT_THAT(sealed.status(), IsOk());
  v1::EvidenceItem order;
  order.set_label("signed order");
  *order.mutable_container()->mutable_container() = sealed->signed_();
  order.mutable_container()->set_signature_time_stamp(Stamp(sealed->signed_().signatures(0)));
  auto filed = File(Claim(v1::CLAIM_KIND_NON_PAYMENT, *buyer_, {order}, Sha256(sealed->signed_().content())), *seller_);
  ASSERT_THAT(filed.status(), IsOk());
  // The buyer's answer shows only an unsigned claim of payment: nothing signed by the seller.
  v1::EvidenceItem stamp;
  stamp.set_label("my bank statement");
  stamp.mutable_time_stamp()->set_document("paid 129.90");
  stamp.mutable_time_stamp()->set_token(Stamp("paid 129.90"));
  auto answered = Answer(filed->case_id(), *buyer_, {stamp});
  ASSERT_THAT(answered.status(), IsOk());
  v1::VerdictStatement v = Verdict(*answered);
  EXPECT_EQ(v.outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD) << v.reasoning();
  ASSERT_EQ(v.findings_size(), 2);
  EXPECT_TRUE(v.findings(0).holds()) << v.findings(0).problem();
  EXPECT_EQ(v.findings(0).kind(), "container/order");
  EXPECT_THAT(v.findings(0).verified(), ::testing::Contains("status-good-at-signing-time"));
  EXPECT_TRUE(v.findings(1).holds());
  EXPECT_EQ(v.findings(1).kind(), "time-stamp");
  EXPECT_THAT(v.remedies(), ::testing::Contains(HasSubstr("pays 129.90 EUR")));
}

TEST_F(DisputeTest, RepudiationDecidedBySignatureAndRevocationTime) {
  // Before the compromise: the buyer signs order A, time-stamped at once.
  v1::EvidenceItem order_a = SignedDocument("order A", "order A by Bert Buyer", *buyer_);
  // Order C, signed before the compromise as well but never time-stamped: nothing proves when it
  // was signed, so the key's status at the decision counts.
  v1::EvidenceItem order_c = SignedDocument("order C", "order C by Bert Buyer", *buyer_, /*stamp=*/false);
  // A forged order: the buyer's signature over another document.
  v1::EvidenceItem forged;
  forged.set_label("order F");
  forged.mutable_signed_document()->set_document("order F for a car");
  forged.mutable_signed_document()->set_signature(Sign("a harmless text", *buyer_));
  auto case_a = File(Claim(v1::CLAIM_KIND_REPUDIATED_ORDER, *seller_, {}, Sha256("order A by Bert Buyer")), *buyer_);
  auto case_b = File(Claim(v1::CLAIM_KIND_REPUDIATED_ORDER, *seller_, {}, Sha256("order B by Bert Buyer")), *buyer_);
  auto case_f = File(Claim(v1::CLAIM_KIND_REPUDIATED_SIGNATURE, *seller_, {}, Sha256("order F for a car")), *buyer_);
  ASSERT_THAT(case_a.status(), IsOk());
  ASSERT_THAT(case_b.status(), IsOk());
  ASSERT_THAT(case_f.status(), IsOk());
  auto case_c = File(Claim(v1::CLAIM_KIND_REPUDIATED_ORDER, *seller_, {}, Sha256("order C by Bert Buyer")), *buyer_);
  ASSERT_THAT(case_c.status(), IsOk());
  // The buyer's key is compromised and revoked; whoever holds it signs order B, which can be
  // time-stamped only after the revocation.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Revoke(buyer_->certificate);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  v1::EvidenceItem order_b = SignedDocument("order B", "order B by Bert Buyer", *buyer_);

  auto a = Answer(case_a->case_id(), *seller_, {order_a});
  ASSERT_THAT(a.status(), IsOk());
  v1::VerdictStatement va = Verdict(*a);
  EXPECT_EQ(va.outcome(), v1::VERDICT_OUTCOME_CLAIM_REJECTED) << va.reasoning();
  EXPECT_THAT(va.findings(0).verified(), ::testing::Contains("status-good-at-signing-time"));

  auto b = Answer(case_b->case_id(), *seller_, {order_b});
  ASSERT_THAT(b.status(), IsOk());
  v1::VerdictStatement vb = Verdict(*b);
  EXPECT_EQ(vb.outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD) << vb.reasoning();
  EXPECT_FALSE(vb.findings(0).holds());
  EXPECT_THAT(vb.findings(0).problem(), HasSubstr("before the time-stamp proves the signature existed"));
  EXPECT_THAT(vb.findings(0).problem(), HasSubstr("KEY_COMPROMISE"));

  auto c = Answer(case_c->case_id(), *seller_, {order_c});
  ASSERT_THAT(c.status(), IsOk());
  v1::VerdictStatement vc = Verdict(*c);
  EXPECT_EQ(vc.outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD) << vc.reasoning();
  EXPECT_FALSE(vc.findings(0).holds());
  EXPECT_THAT(vc.findings(0).problem(), HasSubstr("KEY_COMPROMISE")) << vc.findings(0).problem();

  auto f = Answer(case_f->case_id(), *seller_, {forged});
  ASSERT_THAT(f.status(), IsOk());
  v1::VerdictStatement vf = Verdict(*f);
  EXPECT_EQ(vf.outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD) << vf.reasoning();
  EXPECT_FALSE(vf.findings(0).holds());
  EXPECT_THAT(vf.findings(0).problem(), HasSubstr("signature does not hold"));
  for (const v1::Case* k : {&*a, &*b, &*c, &*f})
    EXPECT_EQ(OpensslCmsVerify(k->verdict(), k->verdict_signature()).exit_code, 0);
}

// Finding (issue 19, 8): a container's one time-stamp, over its first signature, dated every
// signer. The seller signs an order container and stamps its signature; the buyer's key is
// compromised and revoked; the thief adds the buyer's signature. Shown with the seller's stamp
// only, the buyer's signature was judged made before the revocation. Each signer's time comes
// from a stamp over its own signature, or it has none.
TEST_F(DisputeTest, EachContainerSignerIsDatedOnlyByAStampOverItsOwnSignature) {
  v1::ContainerContent content = OrderContent("2026-0077", 99000);
  auto sealed = Seal(content, {.signers = {SignerIdentity{seller_->key, seller_->certificate, Chain()}}});
  ASSERT_THAT(sealed.status(), IsOk());
  const std::string bytes = sealed->signed_().content();
  const std::string seller_sig = sealed->signed_().signatures(0);
  const std::string seller_stamp = Stamp(seller_sig);
  // The buyer's own signature, made and stamped before the compromise.
  const std::string buyer_early = Sign(bytes, *buyer_);
  const std::string buyer_early_stamp = Stamp(buyer_early);
  std::vector<std::string> cases;
  for (int i = 0; i < 5; ++i) {
    auto filed = File(Claim(v1::CLAIM_KIND_REPUDIATED_ORDER, *seller_, {}, Sha256(bytes)), *buyer_);
    ASSERT_THAT(filed.status(), IsOk());
    cases.push_back(filed->case_id());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Revoke(buyer_->certificate);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const std::string buyer_late = Sign(bytes, *buyer_);  // by whoever holds the key now
  auto container = [&](const std::string& buyer_sig, std::vector<std::string> stamps, bool legacy = false) {
    v1::EvidenceItem item;
    item.set_label("the order, signed by both");
    v1::SignedContainer* sc = item.mutable_container()->mutable_container();
    sc->set_content(bytes);
    sc->add_signatures(seller_sig);
    sc->add_signatures(buyer_sig);
    if (legacy) {
      item.mutable_container()->set_signature_time_stamp(stamps.front());
    } else {
      for (const auto& t : stamps) item.mutable_container()->add_signature_time_stamps(t);
    }
    return item;
  };
  struct Try {
    std::string what;
    v1::EvidenceItem item;
    bool holds;
    std::string problem;
  };
  const std::vector<Try> tries = {
      {"the seller's stamp only (the earlier form), the buyer's signature after the revocation",
       container(buyer_late, {seller_stamp}, true), false, "KEY_COMPROMISE"},
      {"the seller's stamp only, the buyer's signature after the revocation", container(buyer_late, {seller_stamp}),
       false, "no time-stamp proves"},
      {"each stamped: the buyer's stamp after the revocation", container(buyer_late, {seller_stamp, Stamp(buyer_late)}),
       false, "before the time-stamp proves"},
      {"the stamps swapped", container(buyer_early, {buyer_early_stamp, seller_stamp}), false, "signature 0"},
      {"each stamped before the revocation", container(buyer_early, {seller_stamp, buyer_early_stamp}), true, ""},
  };
  for (size_t i = 0; i < tries.size(); ++i) {
    const Try& t = tries[i];
    auto answered = Answer(cases[i], *seller_, {t.item});
    ASSERT_THAT(answered.status(), IsOk()) << t.what;
    v1::VerdictStatement v = Verdict(*answered);
    ASSERT_EQ(v.findings_size(), 1) << t.what;
    EXPECT_EQ(v.findings(0).holds(), t.holds) << t.what << ": " << v.findings(0).problem();
    EXPECT_THAT(v.findings(0).problem(), HasSubstr(t.problem)) << t.what;
    EXPECT_EQ(v.outcome(), t.holds ? v1::VERDICT_OUTCOME_CLAIM_REJECTED : v1::VERDICT_OUTCOME_CLAIM_UPHELD)
        << t.what << ": " << v.reasoning();
    if (t.holds) {
      // Both signatures existed by the later of the two stamps.
      EXPECT_TRUE(v.findings(0).has_proven_time()) << t.what;
      EXPECT_THAT(v.findings(0).verified(), ::testing::Contains("status-good-at-signing-time"));
    }
  }
}

// Finding (issue 19, 9): the sweeper took the 100 oldest cases due; 100 that could never be
// decided (or closed) held back every later case for ever. Here 101 such cases (their stored
// claims unreadable, due long ago) stand before a genuine one: it is still decided and closed.
TEST_F(DisputeTest, CasesThatCannotBeDecidedHoldBackNoOther) {
  auto filed = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {}), *buyer_);
  ASSERT_THAT(filed.status(), IsOk());
  Sql("INSERT INTO arbiter.cases SELECT (jsonb_populate_record(NULL::arbiter.cases, to_jsonb(c) || jsonb_build_object("
      "'id', md5(g::text), 'claim', '\\x00', 'claim_sha256', NULL, 'answer_deadline', '2000-01-01T00:00:00Z', "
      "'filed_at', '2000-01-01T00:00:00Z'))).* FROM arbiter.cases c, generate_series(1, 101) g WHERE c.id = '" +
      filed->case_id() + "'");
  ASSERT_EQ(Sql("SELECT count(*) FROM arbiter.cases WHERE state = 'filed'"), "102");
  // The respondent stays silent: after the answer period the sweeper decides the genuine case.
  v1::Case c = WaitFor(filed->case_id(), v1::CASE_STATE_CLOSED);
  EXPECT_EQ(c.state(), v1::CASE_STATE_CLOSED);
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.cases WHERE state = 'filed' AND swept_at IS NOT NULL"), "101");
}

// Found by a reviewer: while semper-ca or semper-notary was down, the arbiter signed verdicts in
// which the items it could not ask about counted as evidence that does not hold. An item nobody
// could be asked about now neither holds nor fails: nothing is decided on it, and the case is
// decided once they answer again. A respondent's answer in time is kept meanwhile.
TEST_F(DisputeTest, AnOutageOfSemperCaOrTheNotaryDecidesNothingUntilTheyAnswer) {
  // semper-ca down over the deadline: the seller's confirmation cannot be checked.
  OrderEvidence order = Order("2026-0060", {&*buyer_, &*seller_});
  auto filed = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {order.item}, order.sha256), *buyer_);
  ASSERT_THAT(filed.status(), IsOk());
  ASSERT_THAT(suite_->Stop("ca"), IsOk());
  std::this_thread::sleep_for(std::chrono::seconds(6));  // the 4 s answer period and many sweeps
  EXPECT_EQ(GetCase(filed->case_id()).state(), v1::CASE_STATE_FILED);
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.cases WHERE verdict IS NOT NULL OR findings IS NOT NULL"), "0");
  ASSERT_THAT(suite_->Restart("ca"), IsOk());
  v1::Case c = WaitFor(filed->case_id(), v1::CASE_STATE_CLOSED);
  EXPECT_THAT(Events(c), ::testing::ElementsAre("filed", "deadline-passed", "findings", "decided", "closed"));
  v1::VerdictStatement v = Verdict(c);
  EXPECT_EQ(v.outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD) << v.reasoning();
  for (const auto& f : v.findings()) {
    EXPECT_TRUE(f.holds()) << f.problem();
    EXPECT_FALSE(f.undetermined());
  }

  // semper-notary down when the seller answers with the notary's evidence: the answer is kept (a
  // second one is refused), and decided on once the notary answers again.
  const std::string doc = "dispatch note 2026-0061";
  v1::EvidenceItem notarized;
  notarized.set_label("notarized dispatch note");
  *notarized.mutable_notary_evidence() = Certify(doc, Sign(doc, *seller_));
  OrderEvidence second = Order("2026-0061", {&*buyer_});
  ASSERT_THAT(suite_->Stop("notary"), IsOk());
  auto filed2 = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {second.item}, second.sha256), *buyer_);
  ASSERT_THAT(filed2.status(), IsOk());
  auto answered = Answer(filed2->case_id(), *seller_, {notarized});
  ASSERT_THAT(answered.status(), IsOk());
  EXPECT_EQ(answered->state(), v1::CASE_STATE_FILED);
  EXPECT_FALSE(answered->answer().empty());
  EXPECT_THAT(Events(*answered), ::testing::ElementsAre("filed", "answered"));
  EXPECT_THAT(Answer(filed2->case_id(), *seller_, {}).status(),
              StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("recorded already")));
  std::this_thread::sleep_for(std::chrono::seconds(5));  // past the deadline, the notary still down
  EXPECT_EQ(GetCase(filed2->case_id()).state(), v1::CASE_STATE_FILED);
  ASSERT_THAT(suite_->Restart("notary"), IsOk());
  v1::Case c2 = WaitFor(filed2->case_id(), v1::CASE_STATE_CLOSED);
  EXPECT_THAT(Events(c2), ::testing::ElementsAre("filed", "answered", "findings", "decided", "closed"));
  v1::VerdictStatement v2 = Verdict(c2);
  EXPECT_EQ(v2.answer_sha256(), Sha256(answered->answer()));
  ASSERT_EQ(v2.findings_size(), 2);
  EXPECT_EQ(v2.findings(1).submitted_by(), "respondent");
  EXPECT_TRUE(v2.findings(1).holds()) << v2.findings(1).problem();
  EXPECT_THAT(v2.findings(1).verified(), ::testing::Contains("tree-head-consistent"));
}

TEST_F(DisputeTest, AHumanArbitratorDecidesWhatTheRulesCannot) {
  auto filed = File(Claim(v1::CLAIM_KIND_NOT_AS_ORDERED, *seller_,
                          {SignedDocument("order confirmation", "confirmation: red shoes, size 42", *seller_)}),
                    *buyer_);
  ASSERT_THAT(filed.status(), IsOk());
  auto answered = Answer(filed->case_id(), *seller_, {});
  ASSERT_THAT(answered.status(), IsOk());
  EXPECT_EQ(answered->state(), v1::CASE_STATE_AWAITING_ARBITRATOR);
  EXPECT_TRUE(answered->verdict().empty());
  ASSERT_EQ(answered->findings_size(), 1);
  EXPECT_TRUE(answered->findings(0).holds());

  v1::DecideCaseRequest req;
  req.set_case_id(filed->case_id());
  req.set_outcome(v1::VERDICT_OUTCOME_PARTIALLY_UPHELD);
  req.set_reasoning("The shoes delivered are size 41; the seller offered an exchange.");
  v1::Case c;
  {
    grpc::ClientContext ctx;  // no client certificate
    EXPECT_EQ(Arbiter()->DecideCase(&ctx, req, &c).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;  // an administrator is not an arbitrator
    EXPECT_EQ(Arbiter("admin")->DecideCase(&ctx, req, &c).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    v1::DecideCaseRequest no_reason = req;
    no_reason.clear_reasoning();
    grpc::ClientContext ctx;
    EXPECT_EQ(Arbiter("arbitrator")->DecideCase(&ctx, no_reason, &c).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    // Stored findings changed outside the arbiter into bytes that do not parse: no verdict at all
    // (found by a reviewer: they became no findings, and the verdict listed none).
    const std::string where = " FROM arbiter.cases WHERE id = '" + filed->case_id() + "'";
    const std::string kept = Sql("SELECT encode(findings, 'hex')" + where);
    // Bytes that do not parse, none (they parse as no findings), and another case's message.
    // And one finding of the right count but not about the item in its place (another case's).
    v1::Case other_case;
    v1::Finding* moved = other_case.add_findings();
    *moved = answered->findings(0);
    moved->set_label("another case's item");
    for (const auto& [bytes, says] : std::vector<std::pair<std::string, std::string>>{
             {"'\\xff'", "findings cannot be parsed"},
             {"'\\x'", "0 stored findings for 1 items"},
             {"'\\x0a0568656c6c6f'", "stored findings for 1 items"},
             {"decode('" + HexEncode(other_case.SerializeAsString()) + "', 'hex')", "not about the item"}}) {
      Sql("UPDATE arbiter.cases SET findings = " + bytes + "::bytea WHERE id = '" + filed->case_id() + "'");
      grpc::ClientContext ctx;
      grpc::Status broken = Arbiter("arbitrator")->DecideCase(&ctx, req, &c);
      EXPECT_EQ(broken.error_code(), grpc::StatusCode::DATA_LOSS) << bytes << ": " << broken.error_message();
      EXPECT_THAT(broken.error_message(), HasSubstr(says));
      EXPECT_EQ(Sql("SELECT count(*)" + where + " AND verdict IS NULL AND state = 'awaiting-arbitrator'"), "1");
    }
    Sql("UPDATE arbiter.cases SET findings = decode('" + kept + "', 'hex') WHERE id = '" + filed->case_id() + "'");
  }
  grpc::ClientContext ctx;
  auto s = Arbiter("arbitrator")->DecideCase(&ctx, req, &c);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::VerdictStatement v = Verdict(c);
  EXPECT_EQ(v.outcome(), v1::VERDICT_OUTCOME_PARTIALLY_UPHELD);
  EXPECT_EQ(v.reasoning(), req.reasoning());
  EXPECT_THAT(v.decided_by(), HasSubstr("arbitrator"));
  {
    grpc::ClientContext again;
    EXPECT_EQ(Arbiter("arbitrator")->DecideCase(&again, req, &c).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  c = WaitFor(filed->case_id(), v1::CASE_STATE_CLOSED);
  EXPECT_THAT(Events(c),
              ::testing::ElementsAre("filed", "answered", "findings", "awaiting-arbitrator", "decided", "closed"));
  EXPECT_EQ(OpensslCmsVerify(c.verdict(), c.verdict_signature()).exit_code, 0);
  // A free-text claim whose respondent stays silent also waits for a human after the deadline.
  v1::ClaimStatement other = Claim(v1::CLAIM_KIND_OTHER, *seller_, {});
  other.set_text("The shop published my review under another name.");
  auto free_text = File(other, *buyer_);
  ASSERT_THAT(free_text.status(), IsOk());
  EXPECT_EQ(WaitFor(free_text->case_id(), v1::CASE_STATE_AWAITING_ARBITRATOR).verdict(), "");
}

// A pseudonym is revealed only when a verdict against it rests on what it signed. (Found by a
// reviewer, issue "Trust under attack (2 of 2)": a repudiation filed with no evidence against a
// pseudonym whose holder stayed silent was upheld with a reveal order.)
TEST_F(DisputeTest, ARevealOrderOnlyWhenTheVerdictAgainstAPseudonymRestsOnWhatItSigned) {
  auto issued = suite_->IssuePseudonym(*seller_sub_, v1::PSEUDONYM_KIND_ROLE, "bluebird-17");
  ASSERT_THAT(issued.status(), IsOk());
  Party pseudonym{issued->key, issued->certificate};

  auto unsupported = File(Claim(v1::CLAIM_KIND_REPUDIATED_ORDER, pseudonym, {}), *buyer_);
  ASSERT_THAT(unsupported.status(), IsOk());
  auto rejected = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, pseudonym, {}), *buyer_);
  ASSERT_THAT(rejected.status(), IsOk());
  OrderEvidence lamp = Order("2026-0042", {&*buyer_, &pseudonym}, &pseudonym);
  auto bound = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, pseudonym, {lamp.item}, lamp.sha256), *buyer_);
  ASSERT_THAT(bound.status(), IsOk());
  v1::Case n = WaitFor(unsupported->case_id(), v1::CASE_STATE_CLOSED);
  v1::Case r = WaitFor(rejected->case_id(), v1::CASE_STATE_CLOSED);
  v1::Case u = WaitFor(bound->case_id(), v1::CASE_STATE_CLOSED);
  // Upheld for want of the claimant's signature: the claimant is not bound, and nobody is revealed.
  EXPECT_EQ(Verdict(n).outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD);
  EXPECT_TRUE(n.reveal_order().empty());
  EXPECT_THAT(Events(n), ::testing::Not(::testing::Contains("reveal-ordered")));
  EXPECT_EQ(Verdict(r).outcome(), v1::VERDICT_OUTCOME_CLAIM_REJECTED);
  EXPECT_TRUE(r.reveal_order().empty());
  // Upheld on the pseudonym's own signed confirmation: revealed.
  EXPECT_EQ(Verdict(u).outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD) << Verdict(u).reasoning();
  ASSERT_FALSE(u.reveal_order().empty());
  EXPECT_THAT(Events(u), ::testing::Contains("reveal-ordered"));
  v1::RevealOrderStatement order;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(u.reveal_order(), &order).ok());
  EXPECT_EQ(order.pseudonym_certificate_serial(), pseudonym.certificate.SerialHex());
  EXPECT_EQ(order.case_id(), u.case_id());
  EXPECT_EQ(order.verdict_sha256(), Sha256(u.verdict()));
  EXPECT_EQ(OpensslCmsVerify(u.reveal_order(), u.reveal_order_signature()).exit_code, 0);
  // A changed order does not verify.
  std::string forged = u.reveal_order();
  forged.replace(forged.find("bluebird-17"), 11, "redbird-170");
  EXPECT_NE(OpensslCmsVerify(forged, u.reveal_order_signature()).exit_code, 0);
}

// A certificate is public: anyone shows anyone's. As a claim's only "evidence" it binds the
// respondent to nothing, and as an answer it is no receipt of the claimant. (Issue "Trust under
// attack (2 of 2)", finding 1: both won cases.)
TEST_F(DisputeTest, ACertificateBindsItsSubjectToNothing) {
  v1::EvidenceItem sellers_certificate;
  sellers_certificate.set_label("the seller's certificate");
  sellers_certificate.set_certificate(seller_->certificate.Der());
  auto only_a_certificate = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {sellers_certificate}), *buyer_);
  ASSERT_THAT(only_a_certificate.status(), IsOk());
  v1::VerdictStatement v = Verdict(WaitFor(only_a_certificate->case_id(), v1::CASE_STATE_CLOSED));
  EXPECT_EQ(v.outcome(), v1::VERDICT_OUTCOME_CLAIM_REJECTED) << v.reasoning();
  ASSERT_EQ(v.findings_size(), 1);
  EXPECT_TRUE(v.findings(0).holds());                  // a genuine certificate...
  EXPECT_EQ(v.findings(0).signed_by_party_size(), 0);  // ...that nobody signed anything with

  // The seller answers a claim that binds it with the buyer's certificate as its "receipt".
  v1::EvidenceItem buyers_certificate;
  buyers_certificate.set_label("receipt");
  buyers_certificate.set_certificate(buyer_->certificate.Der());
  OrderEvidence lamp = Order("2026-0042", {&*buyer_, &*seller_});
  auto bound = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {lamp.item}, lamp.sha256), *buyer_);
  ASSERT_THAT(bound.status(), IsOk());
  auto answered = Answer(bound->case_id(), *seller_, {buyers_certificate});
  ASSERT_THAT(answered.status(), IsOk());
  v1::VerdictStatement a = Verdict(WaitFor(bound->case_id(), v1::CASE_STATE_CLOSED));
  EXPECT_EQ(a.outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD) << a.reasoning();
}

// Issue 19, finding 1 (what a signature is over): the rules looked at who signed an item, not at
// what it signs. The claimant's own signed order, or its claim as GetCase shows it, counted as its
// receipt; any signature of the respondent (its signed answer in another case) bound it, and a
// pseudonym with a reveal order. A signature binds only over the content in dispute, and only the
// claimant's receipt naming that content and acknowledging the delivery discharges.
TEST_F(DisputeTest, ASignatureBindsOnlyOverTheContentInDispute) {
  auto issued = suite_->IssuePseudonym(*seller_sub_, v1::PSEUDONYM_KIND_ROLE, "heron-3");
  ASSERT_THAT(issued.status(), IsOk());
  Party heron{issued->key, issued->certificate};
  // Order A, which heron-3 confirmed; order B, which it never did.
  OrderEvidence a = Order("2026-0101", {&*buyer_, &heron}, &heron);
  OrderEvidence b = Order("2026-0102", {&*buyer_}, &heron);
  auto case_a = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, heron, {a.item}, a.sha256), *buyer_);
  ASSERT_THAT(case_a.status(), IsOk());
  // heron-3 answers with everything the buyer signed that is not its receipt of this delivery.
  v1::EvidenceItem buyers_order = a.item;  // the buyer's own signature over order A, alone
  buyers_order.set_label("the buyer's own order");
  buyers_order.mutable_container()->mutable_container()->mutable_signatures()->RemoveLast();
  buyers_order.mutable_container()->mutable_signature_time_stamps()->RemoveLast();
  const v1::Case shown = GetCase(case_a->case_id());
  v1::EvidenceItem claim_as_shown;
  claim_as_shown.set_label("the buyer's signed claim");
  claim_as_shown.mutable_signed_document()->set_document(shown.claim());
  claim_as_shown.mutable_signed_document()->set_signature(shown.claim_signature());
  auto answered = Answer(case_a->case_id(), heron,
                         {buyers_order, claim_as_shown,
                          Receipt(a.sha256, *buyer_, v1::RECEIPT_ACKNOWLEDGES_PAYMENT, "a receipt of payment"),
                          Receipt(a.sha256, *buyer_, v1::RECEIPT_ACKNOWLEDGES_CONTAINER, "a receipt of the order"),
                          Receipt(b.sha256, *buyer_, v1::RECEIPT_ACKNOWLEDGES_DELIVERY, "delivery of order B")});
  ASSERT_THAT(answered.status(), IsOk());
  v1::VerdictStatement va = Verdict(*answered);
  EXPECT_EQ(va.outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD) << va.reasoning();
  for (const auto& f : va.findings()) EXPECT_TRUE(f.holds()) << f.label() << ": " << f.problem();
  EXPECT_THAT(va.reasoning(), HasSubstr("the buyer's signed claim) is signed by a party but not over"));
  EXPECT_FALSE(WaitFor(case_a->case_id(), v1::CASE_STATE_CLOSED).reveal_order().empty());  // bound by its confirmation

  // Order B, with heron-3's signatures over other content: its answer in case A, as GetCase shows
  // it, and its confirmation of order A.
  const v1::Case answered_a = GetCase(case_a->case_id());
  v1::EvidenceItem herons_answer;
  herons_answer.set_label("heron-3's signed answer in another case");
  herons_answer.mutable_signed_document()->set_document(answered_a.answer());
  herons_answer.mutable_signed_document()->set_signature(answered_a.answer_signature());
  v1::EvidenceItem other_confirmation = SignedDocument("heron-3's confirmation of order A", a.content, heron);
  auto case_b =
      File(Claim(v1::CLAIM_KIND_NON_DELIVERY, heron, {b.item, herons_answer, other_confirmation}, b.sha256), *buyer_);
  ASSERT_THAT(case_b.status(), IsOk());
  v1::Case cb = WaitFor(case_b->case_id(), v1::CASE_STATE_CLOSED);
  v1::VerdictStatement vb = Verdict(cb);
  EXPECT_EQ(vb.outcome(), v1::VERDICT_OUTCOME_CLAIM_REJECTED) << vb.reasoning();
  for (const auto& f : vb.findings()) EXPECT_TRUE(f.holds()) << f.label() << ": " << f.problem();
  EXPECT_THAT(vb.reasoning(), HasSubstr("heron-3's signed answer in another case) is signed by a party "
                                        "but not over the content in dispute"));
  EXPECT_TRUE(cb.reveal_order().empty());
  // The honest receipt of delivery for order A would have ended case A: see
  // NonDeliveryRejectedWhenTheRespondentShowsTheClaimantsReceipt.
}

// An arbiter's replacement contract binds its parties only with the same checks of their
// certificates as a standard contract (found by a reviewer: it bound them with none). The buyer
// and the seller start an exchange, the buyer has it resolved; the seller's key is then revoked
// for compromise: the replacement contract no longer binds it.
TEST_F(DisputeTest, AReplacementContractBindsOnlyPartiesWhoseKeysStillHold) {
  v1::ArbiterCertificate arbiter;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(Arbiter()->GetArbiterCertificate(&ctx, {}, &arbiter).ok());
  }
  auto arbiter_cert = Certificate::FromDer(arbiter.certificate());
  ASSERT_THAT(arbiter_cert, IsOk());
  asw::Originator o(asw::Party{buyer_->key, buyer_->certificate}, seller_->certificate, *arbiter_cert,
                    "the buyer buys the lamp for EUR 50");
  auto me1 = o.Me1();
  ASSERT_THAT(me1, IsOk());
  auto r = asw::Responder::Accept(asw::Party{seller_->key, seller_->certificate}, *arbiter_cert, *me1);
  ASSERT_THAT(r, IsOk());
  auto me2 = r->Me2();
  ASSERT_THAT(me2, IsOk());
  ASSERT_THAT(o.Me3(*me2), IsOk());
  auto resolve = o.Resolve();
  ASSERT_THAT(resolve, IsOk());
  v1::ArbiterDecision decision;
  {
    grpc::ClientContext ctx;
    auto st = Arbiter()->Resolve(&ctx, *resolve, &decision);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  ASSERT_TRUE(decision.resolved());
  v1::EvidenceItem token;
  token.set_label("the replacement contract");
  *token.mutable_arbiter_token() = decision.token();
  const std::string me1_hash = asw::VerifyMe1(*me1)->hash;
  auto before = File(Claim(v1::CLAIM_KIND_REPUDIATED_SIGNATURE, *buyer_, {token}, me1_hash), *seller_);
  ASSERT_THAT(before.status(), IsOk());
  v1::VerdictStatement vb = Verdict(WaitFor(before->case_id(), v1::CASE_STATE_CLOSED));
  ASSERT_EQ(vb.findings_size(), 1);
  EXPECT_TRUE(vb.findings(0).holds()) << vb.findings(0).problem();
  EXPECT_THAT(vb.findings(0).verified(), ::testing::Contains("arbiter-decision-time"));
  EXPECT_THAT(vb.findings(0).verified(), ::testing::Contains("status-good-at-signing-time"));
  EXPECT_EQ(vb.outcome(), v1::VERDICT_OUTCOME_CLAIM_REJECTED) << vb.reasoning();  // the seller is bound by it
  // A compromise reported after the arbiter's decision does not undo it: the token proves the
  // signatures existed then (found by a reviewer: any later revocation voided it).
  Revoke(seller_->certificate);
  auto after = File(Claim(v1::CLAIM_KIND_REPUDIATED_SIGNATURE, *buyer_, {token}, me1_hash), *seller_);
  EXPECT_THAT(after.status(), StatusIs(absl::StatusCode::kFailedPrecondition));  // the seller cannot sign a claim now
  // An exchange whose responder's key was revoked before the arbiter decided binds nobody: the
  // arbiter refuses to resolve it, or the token it gives does not hold.
  asw::Originator o2(asw::Party{buyer_->key, buyer_->certificate}, seller_->certificate, *arbiter_cert,
                     "the buyer buys a second lamp");
  auto me1b = o2.Me1();
  ASSERT_THAT(me1b, IsOk());
  auto r2 = asw::Responder::Accept(asw::Party{seller_->key, seller_->certificate}, *arbiter_cert, *me1b);
  ASSERT_THAT(r2, IsOk());
  auto me2b = r2->Me2();  // by whoever holds the revoked key
  ASSERT_THAT(me2b, IsOk());
  ASSERT_THAT(o2.Me3(*me2b), IsOk());
  v1::ArbiterDecision late;
  grpc::ClientContext ctx;
  if (Arbiter()->Resolve(&ctx, *o2.Resolve(), &late).ok() && late.resolved()) {
    v1::EvidenceItem late_token;
    late_token.set_label("a replacement contract over a revoked key");
    *late_token.mutable_arbiter_token() = late.token();
    auto filed = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {late_token}, asw::VerifyMe1(*me1b)->hash), *buyer_);
    ASSERT_THAT(filed.status(), IsOk());
    v1::VerdictStatement v = Verdict(WaitFor(filed->case_id(), v1::CASE_STATE_CLOSED));
    ASSERT_EQ(v.findings_size(), 1);
    EXPECT_FALSE(v.findings(0).holds());
    EXPECT_THAT(v.findings(0).problem(), HasSubstr("KEY_COMPROMISE"));
  }
}

// What a later revocation or hold does to a signature: a signature a time-stamp dates before it
// still binds its signer (found by a reviewer: a party escaped its own signatures by revoking or
// holding its key), and one without a time-stamp binds only while its key is good at the
// decision (a second reviewer: dating it by its arrival let a thief who filed first keep a
// forgery its victim reported compromised before the decision). semperctl's order commands stamp
// what they sign.
TEST_F(DisputeTest, ALaterRevocationUndoesOnlySignaturesNoTimeStampDatesBeforeIt) {
  auto shop2 = suite_->Enroll("Second Shop GmbH", v1::CUSTOMER_KIND_ENTERPRISE);
  auto shop3 = suite_->Enroll("Third Shop GmbH", v1::CUSTOMER_KIND_ENTERPRISE);
  ASSERT_THAT(shop2.status(), IsOk());
  ASSERT_THAT(shop3.status(), IsOk());
  const Party other{shop2->key, shop2->certificate}, third{shop3->key, shop3->certificate};
  // 1. The third shop's stamped confirmation; the shop puts its key on hold once the claim is filed.
  OrderEvidence stamped = Order("2026-0201", {&*buyer_, &third}, &third);
  auto held = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, third, {stamped.item}, stamped.sha256), *buyer_);
  ASSERT_THAT(held.status(), IsOk());
  // 2. A "confirmation" of the second shop, unstamped (a thief with its key files at once); the
  // shop reports the compromise before the decision.
  OrderEvidence forged = Order("2026-0202", {&*buyer_, &other}, &other);
  forged.item.mutable_container()->mutable_signature_time_stamps()->RemoveLast();  // the buyer's stays
  auto thief = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, other, {forged.item}, forged.sha256), *buyer_);
  ASSERT_THAT(thief.status(), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_THAT(suite_->Revoke(third.certificate, v1::REVOCATION_REASON_CERTIFICATE_HOLD), IsOk());
  ASSERT_THAT(suite_->Revoke(other.certificate, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  // 3. The buyer signs (and stamps) a receipt of delivery, files non-delivery anyway, and revokes
  // its own key before the seller answers with the receipt.
  OrderEvidence delivered = Order("2026-0203", {&*buyer_, &*seller_});
  v1::EvidenceItem receipt =
      Receipt(delivered.sha256, *buyer_, v1::RECEIPT_ACKNOWLEDGES_DELIVERY, "the buyer's receipt");
  auto escape = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {delivered.item}, delivered.sha256), *buyer_);
  ASSERT_THAT(escape.status(), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_THAT(suite_->Revoke(buyer_->certificate, v1::REVOCATION_REASON_UNSPECIFIED), IsOk());
  auto answered = Answer(escape->case_id(), *seller_, {receipt});
  ASSERT_THAT(answered.status(), IsOk());
  v1::VerdictStatement v3 = Verdict(*answered);
  EXPECT_EQ(v3.outcome(), v1::VERDICT_OUTCOME_CLAIM_REJECTED) << v3.reasoning();
  ASSERT_EQ(v3.findings_size(), 2);
  EXPECT_TRUE(v3.findings(1).holds()) << v3.findings(1).problem();
  v1::VerdictStatement v1_ = Verdict(WaitFor(held->case_id(), v1::CASE_STATE_CLOSED));
  EXPECT_EQ(v1_.outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD) << v1_.reasoning();
  EXPECT_TRUE(v1_.findings(0).holds()) << v1_.findings(0).problem();
  v1::VerdictStatement v2 = Verdict(WaitFor(thief->case_id(), v1::CASE_STATE_CLOSED));
  EXPECT_EQ(v2.outcome(), v1::VERDICT_OUTCOME_CLAIM_REJECTED) << v2.reasoning();
  EXPECT_FALSE(v2.findings(0).holds());
  EXPECT_THAT(v2.findings(0).problem(), HasSubstr("KEY_COMPROMISE"));
}

// A pseudonym's name taken again (after the first holder's certificate expired or was revoked)
// is another party: what the first holder signed must not bind the second. And a JSON that calls
// itself a semper-liability guarantee is one only if semper-liability signed it. (Both found by a
// reviewer: the arbiter matched parties by subject and issuer, and took any signer's guarantee.)
TEST_F(DisputeTest, ANameTakenAgainIsAnotherPartyAndOnlyTheTrackerMakesAGuarantee) {
  auto ca_key = PrivateKey::FromPem(Slurp(P("pki/ca.key")), SecretData(kPass));
  ASSERT_TRUE(ca_key.ok());
  Certificate ca = Chain().front();
  auto pseudonym = [&]() {
    PrivateKey key = *PrivateKey::Generate(KeyType::kEcP256);
    CertificateTemplate t;
    t.subject = {{"C", "DE"}, {"2.5.4.65", "Shop"}, {"CN", "Shop"}};
    t.not_before = absl::Now() - absl::Minutes(1);
    t.not_after = absl::Now() + absl::Hours(24);
    t.key_usage = kKuDigitalSignature | kKuNonRepudiation;
    auto cert = IssueCertificate(t, key.public_key(), &ca, *ca_key);
    EXPECT_TRUE(cert.ok()) << cert.status();
    return Party{std::move(key), *cert};
  };
  Party first = pseudonym(), second = pseudonym();
  ASSERT_EQ(first.certificate.Subject(), second.certificate.Subject());
  // What the first "Shop" promised, claimed against the second.
  v1::EvidenceItem promise = SignedDocument("order confirmation", "Shop confirms: 1 lamp, EUR 50, in 2 days", first);
  auto filed = File(Claim(v1::CLAIM_KIND_NON_DELIVERY, second, {promise}), *buyer_);
  ASSERT_THAT(filed.status(), IsOk());
  v1::Case c = WaitFor(filed->case_id(), v1::CASE_STATE_CLOSED);
  v1::VerdictStatement v = Verdict(c);
  ASSERT_EQ(v.findings_size(), 1);
  EXPECT_THAT(v.findings(0).signed_by_party(), ::testing::ElementsAre("third-party"));
  EXPECT_NE(v.outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD) << v.reasoning();
  EXPECT_TRUE(c.reveal_order().empty()) << "a reveal order of the second holder on the first one's signature";
  // A "guarantee" the buyer signed itself, for someone's guarantee id.
  const std::string fake = R"({"type":"semper-liability-guarantee","guaranteeId":"G-0123456789abcdef01234567"})";
  auto with_fake =
      File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {SignedDocument("guarantee", fake, *buyer_)}), *buyer_);
  ASSERT_THAT(with_fake.status(), IsOk());
  v1::VerdictStatement fv = Verdict(WaitFor(with_fake->case_id(), v1::CASE_STATE_CLOSED));
  ASSERT_EQ(fv.findings_size(), 1);
  EXPECT_NE(fv.findings(0).kind(), "liability-guarantee");
  EXPECT_TRUE(fv.findings(0).guarantee_id().empty());
  EXPECT_EQ(fv.guarantee_orders_size(), 0);
}

TEST_F(DisputeTest, BadClaimsAreRefusedAndChangeNothing) {
  v1::ClaimStatement claim = Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {});
  v1::FileClaimRequest req;
  req.set_claim(claim.SerializeAsString());
  v1::Case c;
  {
    grpc::ClientContext ctx;  // unsigned
    EXPECT_EQ(Arbiter()->FileClaim(&ctx, req, &c).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    req.set_signature(Sign("something else", *buyer_));
    grpc::ClientContext ctx;
    auto s = Arbiter()->FileClaim(&ctx, req, &c);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  }
  v1::ClaimStatement no_kind = claim;
  no_kind.set_kind(v1::CLAIM_KIND_UNSPECIFIED);
  EXPECT_THAT(File(no_kind, *buyer_).status(),
              StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("claim.kind")));
  v1::ClaimStatement other = claim;
  other.set_kind(v1::CLAIM_KIND_OTHER);
  other.clear_text();
  EXPECT_THAT(File(other, *buyer_).status(),
              StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("claim.text")));
  v1::ClaimStatement self = Claim(v1::CLAIM_KIND_NON_DELIVERY, *buyer_, {});
  EXPECT_THAT(File(self, *buyer_).status(),
              StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("names the claimant")));
  v1::ClaimStatement junk = claim;
  junk.set_respondent_certificate("junk");
  EXPECT_THAT(File(junk, *buyer_).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  // What ends up in the verdict is bounded (issue 19, finding 9: a verdict larger than the notary
  // takes never closed, and its case was retried for ever).
  v1::ClaimStatement long_reference = claim;
  long_reference.set_subject_reference(std::string(201, 'r'));
  EXPECT_THAT(File(long_reference, *buyer_).status(),
              StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("claim.subject_reference")));
  v1::EvidenceItem labelled = SignedDocument(std::string(201, 'l'), "a document", *buyer_, /*stamp=*/false);
  EXPECT_THAT(File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {labelled}), *buyer_).status(),
              StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("claim.evidence[0].label")));
  // A claim (and an answer) with its evidence fits half a GetCase answer (found by a reviewer: a
  // claim near the request limit was filed, and then nobody could read the case).
  v1::EvidenceItem huge = SignedDocument("the catalogue", std::string(9 << 20, 'c'), *buyer_, /*stamp=*/false);
  EXPECT_THAT(File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {huge}), *buyer_).status(),
              StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("claim")));
  {
    v1::GetCaseRequest get;
    get.set_case_id(std::string(32, '0'));
    grpc::ClientContext ctx;
    EXPECT_EQ(Arbiter()->GetCase(&ctx, get, &c).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  // Nothing was filed: the buyer's list is empty.
  v1::ListCasesStatement ls;
  ls.set_type("semper-list-cases");
  *ls.mutable_made_at() = ToTimestamp(absl::Now());
  v1::ListCasesRequest list;
  list.set_request(ls.SerializeAsString());
  list.set_signature(Sign(list.request(), *buyer_));
  const v1::ListCasesRequest buyers_request = list;
  v1::ListCasesResponse listed;
  auto list_over = [&](const std::shared_ptr<grpc::Channel>& channel, const v1::ListCasesRequest& request) {
    listed.Clear();
    grpc::ClientContext ctx;
    return FromGrpcStatus(v1::Arbiter::NewStub(channel)->ListCases(&ctx, request, &listed));
  };
  ASSERT_THAT(list_over(suite_->ChannelAs("arbiter", *buyer_sub_), list), IsOk());
  EXPECT_EQ(listed.cases_size(), 0);
  // After a claim, both parties see it, each over TLS with its own certificate.
  auto filed = File(claim, *buyer_);
  ASSERT_THAT(filed.status(), IsOk());
  for (const auto* p : {&*buyer_sub_, &*seller_sub_}) {
    list.set_signature(Sign(list.request(), Party{p->key, p->certificate}));
    ASSERT_THAT(list_over(suite_->ChannelAs("arbiter", *p), list), IsOk());
    ASSERT_EQ(listed.cases_size(), 1);
    EXPECT_EQ(listed.cases(0).case_id(), filed->case_id());
  }
  // The buyer's signed request, captured (it is fresh for 5 minutes), lists nothing for whoever
  // sends it: without a certificate, as the seller (a party of the same case), or as a third
  // subscriber; that subscriber's own request lists none of the case.
  auto third = suite_->Enroll("Third Party Ltd", v1::CUSTOMER_KIND_ENTERPRISE);
  ASSERT_THAT(third.status(), IsOk());
  EXPECT_THAT(list_over(suite_->Channel("arbiter"), buyers_request),
              StatusIs(absl::StatusCode::kUnauthenticated, v1::UNAUTHENTICATED));
  for (const auto* thief : {&*seller_sub_, &*third}) {
    EXPECT_THAT(list_over(suite_->ChannelAs("arbiter", *thief), buyers_request),
                StatusIs(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED));
    EXPECT_EQ(listed.cases_size(), 0);
  }
  list.set_signature(Sign(list.request(), Party{third->key, third->certificate}));
  ASSERT_THAT(list_over(suite_->ChannelAs("arbiter", *third), list), IsOk());
  EXPECT_EQ(listed.cases_size(), 0);
  // The signed claim, as GetCase shows it to whoever knows the id, filed again (by the respondent
  // over its own TLS connection, by a stranger, re-signed by the claimant itself): no second case
  // (found by a reviewer: each copy opened a case with its own verdict).
  const v1::Case shown = GetCase(filed->case_id());
  v1::FileClaimRequest copy;
  copy.set_claim(shown.claim());
  copy.set_signature(shown.claim_signature());
  for (const auto& channel : {suite_->ChannelAs("arbiter", *seller_sub_), suite_->Channel("arbiter")}) {
    grpc::ClientContext ctx;
    v1::Case again;
    EXPECT_THAT(FromGrpcStatus(v1::Arbiter::NewStub(channel)->FileClaim(&ctx, copy, &again)),
                StatusIs(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS));
  }
  EXPECT_THAT(File(claim, *buyer_).status(), StatusIs(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS));
  list.set_signature(Sign(list.request(), Party{buyer_sub_->key, buyer_sub_->certificate}));
  ASSERT_THAT(list_over(suite_->ChannelAs("arbiter", *buyer_sub_), list), IsOk());
  EXPECT_EQ(listed.cases_size(), 1);
  // An answer after the deadline is refused; the deadline's decision stands.
  WaitFor(filed->case_id(), v1::CASE_STATE_CLOSED);
  EXPECT_THAT(Answer(filed->case_id(), *seller_, {}).status(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(DisputeTest, PartiesAndTheArbitratorUseSemperctl) {
  std::string buyer = FullWallet("buyer", *buyer_sub_), seller = FullWallet("seller", *seller_sub_);
  dir_.Write("seller.pem", seller_->certificate.Pem());
  // The buyer signs an order, the seller confirms it (both with semperctl); the buyer's evidence
  // as files: the seller's signed confirmation text with its time-stamp, and the notary's
  // evidence for it.
  auto signed_order =
      Ctl(buyer, {"order", "sign", "--seller", P("seller.pem"), "--amount", "89.00", "--order-id", "2026-0050",
                  "--description", "hand-made shoes, size 42", "--out", P("order.semper")});
  ASSERT_EQ(signed_order.exit_code, 0) << signed_order.Describe();
  // Only the seller the order names confirms it.
  auto not_the_seller = Ctl(buyer, {"order", "confirm", P("order.semper"), "--out", P("order.bad")});
  EXPECT_EQ(not_the_seller.exit_code, 3) << not_the_seller.Describe();
  EXPECT_FALSE(std::filesystem::exists(P("order.bad")));
  auto confirmed = Ctl(seller, {"order", "confirm", P("order.semper"), "--out", P("order.confirmed")});
  ASSERT_EQ(confirmed.exit_code, 0) << confirmed.Describe();
  EXPECT_THAT(confirmed.out, HasSubstr("hand-made shoes, size 42"));  // shown before signing
  auto shown_order = Ctl("", {"order", "show", P("order.confirmed")});
  ASSERT_EQ(shown_order.exit_code, 0) << shown_order.Describe();
  EXPECT_THAT(shown_order.out, HasSubstr("confirmed by:   the seller"));
  v1::SealedContainer confirmed_order;
  ASSERT_TRUE(confirmed_order.ParseFromString(Slurp(P("order.confirmed"))));
  const std::string order_sha256 = Sha256(confirmed_order.signed_().content());
  EXPECT_THAT(shown_order.out, HasSubstr(HexEncode(order_sha256)));
  std::string confirmation = "order confirmation 2026-0050: hand-made shoes, size 42";
  v1::EvidenceItem signed_confirmation = SignedDocument("c", confirmation, *seller_);
  dir_.Write("confirmation.txt", confirmation);
  dir_.Write("confirmation.sig", signed_confirmation.signed_document().signature());
  dir_.Write("confirmation.tst", signed_confirmation.signed_document().signature_time_stamp());
  std::string evidence_json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(
      Certify(confirmation, signed_confirmation.signed_document().signature()), &evidence_json, opts);
  dir_.Write("confirmation.evidence.json", evidence_json);
  // A claim that names nothing in dispute is refused before anything is signed.
  auto unnamed =
      Ctl(buyer, {"dispute", "file", "--against", P("seller.pem"), "--kind", "not-as-ordered", "--text", "x"});
  EXPECT_EQ(unnamed.exit_code, 2) << unnamed.Describe();
  EXPECT_THAT(unnamed.err, HasSubstr("--order"));
  // Time-stamps kept beside the order are checked before they go in, against --ca-file: without
  // it (a plaintext connection needs none), semperctl says so and files nothing.
  const bool stamped = std::filesystem::exists(P("order.confirmed.stamps"));
  if (!stamped) dir_.Write("order.confirmed.stamps", "");
  auto unchecked = RunCommand({SEMPERCTL, "--plaintext", "--arbiter", "127.0.0.1:1", "--yes", "dispute", "file",
                               "--against", P("seller.pem"), "--kind", "not-as-ordered", "--text", "x", "--order",
                               P("order.confirmed"), "--wallet", buyer, "--wallet-passphrase-file", P("wallet.pass")});
  EXPECT_EQ(unchecked.exit_code, 2) << unchecked.Describe();
  EXPECT_THAT(unchecked.err,
              HasSubstr("--ca-file: is required to check the time-stamps in " + P("order.confirmed.stamps")));
  if (!stamped) std::filesystem::remove(P("order.confirmed.stamps"));
  // Something there that is not a readable file (a directory, a dangling link): refused the same way
  // (found by a reviewer: it counted as no stamps).
  const bool had_stamps = std::filesystem::exists(P("order.confirmed.stamps"));
  if (had_stamps) std::filesystem::rename(P("order.confirmed.stamps"), P("order.confirmed.kept"));
  std::filesystem::create_directory(P("order.confirmed.stamps"));
  auto directory = Ctl(buyer, {"dispute", "file", "--against", P("seller.pem"), "--kind", "not-as-ordered", "--text",
                               "x", "--order", P("order.confirmed")});
  EXPECT_EQ(directory.exit_code, 2) << directory.Describe();
  EXPECT_THAT(directory.err, HasSubstr("not a readable file of time-stamps"));
  std::filesystem::remove(P("order.confirmed.stamps"));
  std::filesystem::create_symlink(P("nowhere"), P("order.confirmed.stamps"));
  EXPECT_EQ(Ctl(buyer, {"dispute", "file", "--against", P("seller.pem"), "--kind", "not-as-ordered", "--text", "x",
                        "--order", P("order.confirmed")})
                .exit_code,
            2);
  std::filesystem::remove(P("order.confirmed.stamps"));
  if (had_stamps) std::filesystem::rename(P("order.confirmed.kept"), P("order.confirmed.stamps"));
  auto filed =
      Ctl(buyer, {"dispute", "file", "--against", P("seller.pem"), "--kind", "not-as-ordered", "--text", "size 41 came",
                  "--order", P("order.confirmed"), "--reference", "2026-0050", "--amount", "89.00", "--evidence",
                  "signed:" + P("confirmation.txt") + "," + P("confirmation.sig") + "," + P("confirmation.tst") +
                      "#signed order confirmation",
                  "--evidence", "notary:" + P("confirmation.evidence.json") + "#notarized confirmation"});
  ASSERT_EQ(filed.exit_code, 0) << filed.Describe();
  EXPECT_THAT(filed.out, HasSubstr("signed order confirmation"));  // shown before signing
  EXPECT_THAT(filed.out, HasSubstr("89.00 EUR"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(filed.out, m, std::regex("Case ([0-9a-f]{32})"))) << filed.out;
  const std::string id = m[1].str();
  // The seller sees the case and answers.
  auto listed = Ctl(seller, {"dispute", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.Describe();
  EXPECT_THAT(listed.out, HasSubstr(id));
  auto answered = Ctl(seller, {"dispute", "answer", id, "--text", "we sent size 42"});
  ASSERT_EQ(answered.exit_code, 0) << answered.Describe();
  EXPECT_THAT(answered.out, HasSubstr("waiting for a human arbitrator"));
  EXPECT_THAT(answered.out, HasSubstr("[holds] claimant item 1 (the order in dispute, container/order)"));
  EXPECT_THAT(answered.out, HasSubstr("[holds] claimant item 2"));
  EXPECT_THAT(answered.out, HasSubstr("[holds] claimant item 3"));
  // Only an arbitrator decides.
  auto denied = Ctl("", {"dispute", "decide", id, "--outcome", "upheld", "--reason", "x"}, "admin");
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_THAT(denied.err, HasSubstr("PERMISSION_DENIED"));
  auto decided =
      Ctl("", {"dispute", "decide", id, "--outcome", "upheld", "--reason", "The sole shows size 41."}, "arbitrator");
  ASSERT_EQ(decided.exit_code, 0) << decided.Describe();
  WaitFor(id, v1::CASE_STATE_CLOSED);
  auto shown = Ctl("", {"dispute", "show", id, "--verdict-out", P("verdict")});
  ASSERT_EQ(shown.exit_code, 0) << shown.Describe();
  EXPECT_THAT(shown.out, HasSubstr("closed"));
  EXPECT_THAT(shown.out, HasSubstr("The sole shows size 41."));
  EXPECT_EQ(Verdict(GetCase(id)).subject_sha256(), order_sha256);
  auto verify =
      RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("verdict.sig"), "-content",
                  P("verdict.json"), "-CAfile", P("pki/root.pem"), "-purpose", "any", "-out", "/dev/null"});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
}

TEST_F(DisputeTest, AVerdictReleasesTheLiabilityGuaranteeItJudged) {
  // The buyer's SEMPER agreement, and the seller's guarantee for an order.
  v1::ContainerContent content = NewContainerContent(absl::Now());
  v1::Agreement* a = content.mutable_template_()->mutable_agreement();
  a->mutable_overall_limit()->set_currency("EUR");
  a->mutable_overall_limit()->set_minor_units(100000);
  a->mutable_per_transaction_limit()->set_currency("EUR");
  a->mutable_per_transaction_limit()->set_minor_units(50000);
  *a->mutable_valid_from() = ToTimestamp(absl::Now() - absl::Minutes(1));
  *a->mutable_valid_until() = ToTimestamp(absl::Now() + absl::Hours(24));
  a->set_applicable_law("DE");
  content.mutable_requested()->set_non_repudiation_of_origin(true);
  auto sealed = Seal(content, {.signers = {SignerIdentity{buyer_->key, buyer_->certificate, Chain()}}});
  ASSERT_THAT(sealed.status(), IsOk());
  auto tracker = v1::Liability::NewStub(suite_->Channel("liability"));
  auto as_seller = v1::Liability::NewStub(suite_->ChannelAs("liability", *seller_sub_));
  {
    v1::RegisterAgreementRequest req;
    *req.mutable_agreement() = sealed->signed_();
    v1::AgreementRecord rec;
    grpc::ClientContext ctx;
    auto s = tracker->RegisterAgreement(&ctx, req, &rec);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // Guarantees for two orders between the same buyer and seller; the dispute is about the first.
  v1::SealedContainer orders[2];
  v1::Guarantee guarantees[2];
  for (int i = 0; i < 2; ++i) {
    v1::GuaranteeRequest req;
    req.set_request_id(StrCat("order-2026-007", 7 + i));
    req.set_order(suite_->SignedOrder(*buyer_sub_, seller_->certificate, 12990, "EUR", StrCat("2026-007", 7 + i)));
    ASSERT_TRUE(orders[i].ParseFromString(req.order()));
    grpc::ClientContext ctx;
    auto s = as_seller->RequestGuarantee(&ctx, req, &guarantees[i]);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  const v1::Guarantee& guarantee = guarantees[0];
  const std::string order_content = orders[0].signed_().content();
  v1::GuaranteeStatement statement;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(guarantee.statement(), &statement).ok());
  EXPECT_EQ(statement.order_content_sha256(), Sha256(order_content));  // what a claim names
  v1::EvidenceItem order;
  order.set_label("the order");
  *order.mutable_container()->mutable_container() = orders[0].signed_();
  // Nothing was delivered: the buyer claims, with the confirmation and the guarantee as evidence.
  v1::EvidenceItem g;
  g.set_label("liability guarantee");
  g.mutable_signed_document()->set_document(guarantee.statement());
  g.mutable_signed_document()->set_signature(guarantee.signature());
  v1::EvidenceItem other_order_guarantee;
  other_order_guarantee.set_label("the guarantee for another order");
  other_order_guarantee.mutable_signed_document()->set_document(guarantees[1].statement());
  other_order_guarantee.mutable_signed_document()->set_signature(guarantees[1].signature());
  // First, two other subscribers who obtained the guarantee's statement file a case between
  // themselves with it as evidence (one confirms, the other claims): whatever that verdict says
  // about the guarantee, the tracker does not end a guarantee between other parties.
  {
    auto mallory = suite_->Enroll("Mallory Claimant", v1::CUSTOMER_KIND_INDIVIDUAL);
    auto eve = suite_->Enroll("Eve Respondent", v1::CUSTOMER_KIND_INDIVIDUAL);
    ASSERT_THAT(mallory.status(), IsOk());
    ASSERT_THAT(eve.status(), IsOk());
    const Party m{mallory->key, mallory->certificate}, e{eve->key, eve->certificate};
    auto other =
        File(Claim(v1::CLAIM_KIND_NON_DELIVERY, e, {SignedDocument("order confirmation", "confirmation 9", e), g}), m);
    ASSERT_THAT(other.status(), IsOk());
    v1::Case oc = WaitFor(other->case_id(), v1::CASE_STATE_CLOSED);
    // The verdict orders nothing about it (issue 19, finding 2): the finding does not hold. And
    // the tracker, which checks the verdict's parties itself, refuses it as well.
    const v1::VerdictStatement ov = Verdict(oc);
    EXPECT_EQ(ov.guarantee_orders_size(), 0);
    ASSERT_EQ(ov.findings_size(), 2);
    EXPECT_FALSE(ov.findings(1).holds());
    EXPECT_THAT(ov.findings(1).problem(), HasSubstr("not between this case's parties"));
    EXPECT_TRUE(ov.findings(1).guarantee_id().empty());
    // The tracker does not rely on that: the same verdict with an order for the guarantee added
    // (what an arbiter from before the fix signed; here signed with semper-arbiter's key) is
    // refused too, because the case is not between the guarantee's buyer and seller.
    v1::VerdictStatement with_order = ov;
    v1::GuaranteeOrder* order = with_order.add_guarantee_orders();
    order->set_guarantee_id(guarantee.guarantee_id());
    order->set_action("release");
    const std::string forged_verdict = StatementJson(with_order);
    auto arbiter_key = PrivateKey::FromPem(Slurp(P("pki/services/arbiter-signing.key")), SecretData(kPass));
    auto arbiter_cert = Certificate::FromPem(Slurp(P("pki/services/arbiter-signing.pem")));
    ASSERT_THAT(arbiter_key, IsOk());
    ASSERT_THAT(arbiter_cert, IsOk());
    const std::string forged_signature = *CmsSignDetached(forged_verdict, *arbiter_key, *arbiter_cert, Chain());
    for (bool settle : {false, true}) {
      v1::EndGuaranteeRequest req;
      req.set_guarantee_id(guarantee.guarantee_id());
      req.set_verdict(forged_verdict);
      req.set_verdict_signature(forged_signature);
      v1::Guarantee out;
      grpc::ClientContext ctx;
      grpc::Status s = settle ? tracker->SettleGuarantee(&ctx, req, &out) : tracker->ReleaseGuarantee(&ctx, req, &out);
      EXPECT_FALSE(s.ok()) << "a verdict between " << oc.claimant() << " and " << oc.respondent()
                           << " ended the guarantee";
      if (!settle) EXPECT_THAT(s.error_message(), HasSubstr("is not between"));
    }
  }
  // The buyer itself files a claim of non-payment against its seller, with the guarantee as its
  // only evidence: rejected, such a verdict would order the seller's guarantee released (found by
  // a reviewer). The guarantee's buyer is not the party a non-payment claim is against.
  {
    auto backwards = File(Claim(v1::CLAIM_KIND_NON_PAYMENT, *seller_, {g}), *buyer_);
    ASSERT_THAT(backwards.status(), IsOk());
    const v1::VerdictStatement bv = Verdict(WaitFor(backwards->case_id(), v1::CASE_STATE_CLOSED));
    EXPECT_EQ(bv.guarantee_orders_size(), 0) << bv.DebugString();
    ASSERT_EQ(bv.findings_size(), 1);
    EXPECT_FALSE(bv.findings(0).holds());
    EXPECT_THAT(bv.findings(0).problem(), HasSubstr("not the party this kind of claim is by or against"));
  }
  auto filed =
      File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_,
                 {order, SignedDocument("order confirmation", order_content, *seller_), g, other_order_guarantee},
                 Sha256(order_content)),
           *buyer_);
  ASSERT_THAT(filed.status(), IsOk());
  v1::Case c = WaitFor(filed->case_id(), v1::CASE_STATE_CLOSED);
  v1::VerdictStatement v = Verdict(c);
  ASSERT_EQ(v.outcome(), v1::VERDICT_OUTCOME_CLAIM_UPHELD) << v.reasoning();
  EXPECT_EQ(v.findings(2).kind(), "liability-guarantee");
  // The tracker's guarantee attests the buyer's signature over the order (found by a reviewer:
  // a buyer who retired its key repudiated an order the tracker had checked it signed).
  EXPECT_EQ(v.findings(2).content_sha256(), Sha256(order_content));
  EXPECT_THAT(v.findings(2).signed_by_party(), ::testing::Contains("claimant"));
  // The same parties' guarantee for their other order is not this case's (issue 19, finding 2).
  EXPECT_FALSE(v.findings(3).holds());
  EXPECT_THAT(v.findings(3).problem(), HasSubstr("not the one in dispute"));
  ASSERT_EQ(v.guarantee_orders_size(), 1);
  EXPECT_EQ(v.guarantee_orders(0).guarantee_id(), guarantee.guarantee_id());
  EXPECT_EQ(v.guarantee_orders(0).action(), "release");
  {
    // Nor does the tracker end it on this verdict with an order for it added (signed with
    // semper-arbiter's key): the verdict is about another order.
    v1::VerdictStatement with_order = v;
    v1::GuaranteeOrder* added = with_order.add_guarantee_orders();
    added->set_guarantee_id(guarantees[1].guarantee_id());
    added->set_action("release");
    const std::string forged_verdict = StatementJson(with_order);
    auto arbiter_key = PrivateKey::FromPem(Slurp(P("pki/services/arbiter-signing.key")), SecretData(kPass));
    auto arbiter_cert = Certificate::FromPem(Slurp(P("pki/services/arbiter-signing.pem")));
    ASSERT_THAT(arbiter_key, IsOk());
    v1::EndGuaranteeRequest req;
    req.set_guarantee_id(guarantees[1].guarantee_id());
    req.set_verdict(forged_verdict);
    req.set_verdict_signature(*CmsSignDetached(forged_verdict, *arbiter_key, *arbiter_cert, Chain()));
    v1::Guarantee out;
    grpc::ClientContext ctx;
    EXPECT_THAT(FromGrpcStatus(tracker->ReleaseGuarantee(&ctx, req, &out)),
                StatusWithMessage(absl::StatusCode::kPermissionDenied, HasSubstr("is not about")));
  }
  auto end = [&](bool settle, const std::string& verdict) {
    v1::EndGuaranteeRequest req;
    req.set_guarantee_id(guarantee.guarantee_id());
    req.set_verdict(verdict);
    req.set_verdict_signature(c.verdict_signature());
    v1::Guarantee out;
    grpc::ClientContext ctx;
    return settle ? tracker->SettleGuarantee(&ctx, req, &out) : tracker->ReleaseGuarantee(&ctx, req, &out);
  };
  // The verdict orders a release, not a settlement; a changed verdict does not verify.
  EXPECT_EQ(end(true, c.verdict()).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  std::string changed = c.verdict();
  changed.replace(changed.find("release"), 7, "settle ");
  EXPECT_NE(end(true, changed).error_code(), grpc::StatusCode::OK);
  auto released = end(false, c.verdict());
  EXPECT_TRUE(released.ok()) << released.error_message();
  v1::GetGuaranteeRequest get;
  get.set_guarantee_id(guarantee.guarantee_id());
  v1::Guarantee now;
  grpc::ClientContext ctx;
  ASSERT_TRUE(as_seller->GetGuarantee(&ctx, get, &now).ok());
  EXPECT_EQ(now.state(), v1::GUARANTEE_STATE_RELEASED);
}

TEST_F(DisputeTest, ConcurrentAnswersDecideOnce) {
  auto filed =
      File(Claim(v1::CLAIM_KIND_NON_DELIVERY, *seller_, {SignedDocument("c", "confirmation 77", *seller_)}), *buyer_);
  ASSERT_THAT(filed.status(), IsOk());
  v1::EvidenceItem receipt = SignedDocument("receipt", "received 77", *buyer_, false);
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto a = Answer(filed->case_id(), *seller_,
                      i % 2 == 0 ? std::vector<v1::EvidenceItem>{receipt} : std::vector<v1::EvidenceItem>{});
      (a.ok() ? ok : refused)++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(refused.load(), 7);
  v1::Case c = WaitFor(filed->case_id(), v1::CASE_STATE_CLOSED);
  std::vector<std::string> events = Events(c);
  EXPECT_EQ(std::count(events.begin(), events.end(), "decided"), 1);
}

}  // namespace
}  // namespace semper
