// semper-ca's pseudonyms, against the daemon as a process and a real PostgreSQL: issuance on an
// identity and on an earlier pseudonym (openssl verifies the certificates; nothing in them links
// two pseudonyms of one subscriber), every refusal with nothing written, reveal only with an
// order semper-arbiter signed (logged each time; a forged order refused), and revocation for
// keyCompromise carried to the pseudonyms derived from the certificate.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "absl/strings/escaping.h"
#include "common/base/proto_json.h"
#include "common/base/proto_time.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/csr.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/server/grpc_status.h"
#include "semper/v1/arbiter.grpc.pb.h"
#include "semper/v1/ca.grpc.pb.h"
#include "semper/v1/notary.grpc.pb.h"
#include "semper/v1/privacy.grpc.pb.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/suite.h"
#include "tests/support/wallet.h"
#include "tests/support/weak_keys.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::RunCommand;
using ::semper::testing::Slurp;
using ::semper::testing::StatusIs;
using ::semper::testing::StatusWithMessage;
using ::semper::testing::Suite;
using ::semper::testing::TempDir;
using ::testing::HasSubstr;

class PseudonymTest : public ::semper::testing::PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    Suite::Options o = Suite::Options::Only(Daemons(), conninfo());
    o.http = {"ca"};
    auto suite = Suite::Start(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
    auto alice = suite_->Enroll("Alice Example", v1::CUSTOMER_KIND_INDIVIDUAL);
    ASSERT_THAT(alice.status(), IsOk());
    alice_.emplace(*alice);
  }

  virtual std::vector<std::string> Daemons() { return {"arbiter"}; }
  std::string Sql(const std::string& q) { return *postgres().Query(database(), q); }

  // A request as the holder would make it, signed by `base`.
  v1::IssuePseudonymRequest Request(const Suite::Subscriber& base, const PrivateKey& key, v1::PseudonymKind kind,
                                    const std::string& name = "", absl::Time made_at = absl::Now()) {
    return RequestFor(base, CertificationRequest::Create(key, {{"CN", "ignored"}})->Der(), kind, name, made_at);
  }
  v1::IssuePseudonymRequest RequestFor(const Suite::Subscriber& base, const std::string& csr, v1::PseudonymKind kind,
                                       const std::string& name = "", absl::Time made_at = absl::Now()) {
    v1::PseudonymRequestStatement st;
    st.set_type("semper-pseudonym-request");
    st.set_csr(csr);
    st.set_kind(kind);
    st.set_name(name);
    *st.mutable_made_at() = ToTimestamp(made_at);
    v1::IssuePseudonymRequest req;
    req.set_request(st.SerializeAsString());
    req.set_signature(*CmsSignDetached(req.request(), base.key, base.certificate, suite_->Chain()));
    return req;
  }

  absl::StatusOr<v1::IssuePseudonymResponse> Issue(const v1::IssuePseudonymRequest& req) {
    v1::IssuePseudonymResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = v1::Pseudonyms::NewStub(suite_->Channel("ca"))->IssuePseudonym(&ctx, req, &resp);
    if (!s.ok()) return FromGrpcStatus(s);
    return resp;
  }

  // A reveal order signed with `key`/`cert` (semper-arbiter's own, or a forger's).
  v1::RevealPseudonymRequest Order(const Certificate& pseudonym, const PrivateKey& key, const Certificate& cert) {
    v1::RevealOrderStatement o;
    o.set_type("semper-reveal-order");
    o.set_case_id("C-0000000000000001");
    o.set_verdict_sha256(Sha256("verdict"));
    o.set_pseudonym_subject(pseudonym.Subject());
    o.set_pseudonym_certificate_serial(pseudonym.SerialHex());
    o.set_pseudonym_issuer(pseudonym.Issuer());
    o.set_pseudonym_certificate_sha256(Sha256(pseudonym.Der()));
    o.set_reason("the claim was upheld against the pseudonymous respondent");
    *o.mutable_ordered_at() = ToTimestamp(absl::Now());
    v1::RevealPseudonymRequest req;
    req.set_order(StatementJson(o));
    req.set_order_signature(*CmsSignDetached(req.order(), key, cert, suite_->Chain()));
    return req;
  }

  absl::StatusOr<v1::RevealPseudonymResponse> Reveal(const v1::RevealPseudonymRequest& req) {
    v1::RevealPseudonymResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = v1::Pseudonyms::NewStub(suite_->Channel("ca"))->RevealPseudonym(&ctx, req, &resp);
    if (!s.ok()) return FromGrpcStatus(s);
    return resp;
  }

  PrivateKey ServiceKey(const std::string& name) {
    return *PrivateKey::FromPem(Slurp(suite_->P("pki/services/" + name + ".key")), SecretData("suite test passphrase"));
  }
  Certificate ServiceCert(const std::string& name) {
    return *Certificate::FromPem(Slurp(suite_->P("pki/services/" + name + ".pem")));
  }

  // Opens a sealed link with semper-arbiter's escrow key.
  v1::PseudonymLink Open(const std::string& sealed) {
    auto json = CmsDecrypt(sealed, ServiceKey("arbiter-escrow"), ServiceCert("arbiter-escrow"));
    EXPECT_THAT(json.status(), IsOk());
    v1::PseudonymLink link;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &link).ok());
    return link;
  }

  v1::CertificateState State(const Certificate& cert) {
    v1::GetCertificateStatusRequest req;
    req.set_serial(cert.SerialHex());
    v1::CertificateStatus st;
    grpc::ClientContext ctx;
    EXPECT_TRUE(v1::CertificationAuthority::NewStub(suite_->Channel("ca"))->GetCertificateStatus(&ctx, req, &st).ok());
    return st.state();
  }

  // The state once the keyCompromise cascade (which runs after the revocation commits, with
  // semper-arbiter) has had up to 20 s to reach `cert`.
  v1::CertificateState EventuallyRevoked(const Certificate& cert) {
    const absl::Time until = absl::Now() + absl::Seconds(20);
    v1::CertificateState st = State(cert);
    while (st != v1::CERTIFICATE_STATE_REVOKED && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(100));
      st = State(cert);
    }
    return st;
  }

  // semper-arbiter's DerivePseudonymCascadeKey, called over `channel`.
  absl::StatusOr<v1::PseudonymCascadeKey> CascadeKey(std::shared_ptr<grpc::Channel> channel,
                                                     const v1::DerivePseudonymCascadeKeyRequest& req) {
    v1::PseudonymCascadeKey resp;
    grpc::ClientContext ctx;
    grpc::Status s = v1::Arbiter::NewStub(channel)->DerivePseudonymCascadeKey(&ctx, req, &resp);
    if (!s.ok()) return FromGrpcStatus(s);
    return resp;
  }
  absl::StatusOr<v1::PseudonymTags> Tags(std::shared_ptr<grpc::Channel> channel, const v1::TagPseudonymRequest& req) {
    v1::PseudonymTags resp;
    grpc::ClientContext ctx;
    grpc::Status s = v1::Arbiter::NewStub(channel)->TagPseudonym(&ctx, req, &resp);
    if (!s.ok()) return FromGrpcStatus(s);
    return resp;
  }
  // A channel to the arbiter as one of the suite's daemons (semper-ca's TLS certificate).
  std::shared_ptr<grpc::Channel> AsService(const std::string& daemon) {
    return suite_->ChannelWith(daemon, Slurp(suite_->P("pki/services/ca-tls.pem")),
                               std::string(ServiceKey("ca-tls").ToUnencryptedPemSecret().Reveal()));
  }

  TempDir dir_;
  std::unique_ptr<Suite> suite_;
  std::optional<Suite::Subscriber> alice_;
};

TEST_F(PseudonymTest, PseudonymsCarryNothingThatLinksThemAndOpensslVerifiesThem) {
  auto role = suite_->IssuePseudonym(*alice_, v1::PSEUDONYM_KIND_ROLE, "Blue Heron Trading");
  ASSERT_THAT(role.status(), IsOk());
  auto once = suite_->IssuePseudonym(*alice_, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(once.status(), IsOk());
  // On a pseudonym, too.
  auto nested = suite_->IssuePseudonym(*role, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(nested.status(), IsOk());

  EXPECT_EQ(role->certificate.SubjectAttribute("2.5.4.65"), "Blue Heron Trading");
  EXPECT_EQ(role->certificate.Subject(), "CN=Blue Heron Trading,pseudonym=Blue Heron Trading");
  EXPECT_THAT(once->certificate.SubjectAttribute("2.5.4.65").value_or(""), ::testing::MatchesRegex("P-[0-9a-f]{16}"));
  for (const auto* p : {&*role, &*once, &*nested}) {
    const Certificate& c = p->certificate;
    // Nothing of the identity: no subscriber number, country, name or organisation.
    EXPECT_FALSE(c.SubjectAttribute("serialNumber").has_value());
    EXPECT_FALSE(c.SubjectAttribute("C").has_value());
    EXPECT_EQ(c.Subject().find("Alice"), std::string::npos);
    EXPECT_NE(c.SpkiDer(), alice_->certificate.SpkiDer());
    // Valid from the hour, not from the second of issuance.
    EXPECT_EQ(absl::ToUnixSeconds(c.not_before()) % 3600, 0);
    // openssl accepts it for signatures.
    dir_.Write("p.pem", c.Pem());
    auto r = RunCommand({"openssl", "verify", "-CAfile", suite_->P("pki/root.pem"), "-untrusted",
                         suite_->P("pki/ca.pem"), "-purpose", "any", dir_.path() + "/p.pem"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
  }
  EXPECT_NE(role->certificate.SpkiDer(), once->certificate.SpkiDer());
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonyms"), "3");
  // The register holds no subscriber for them, and no link in clear.
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.certificates WHERE profile = 'pseudonym' AND subscriber_id IS NULL"), "3");
  const std::string sealed = Sql("SELECT encode(sealed_link, 'escape') FROM ca.pseudonyms LIMIT 1");
  EXPECT_EQ(sealed.find(alice_->certificate.SerialHex()), std::string::npos);
}

// A holder who wants a pseudonym it can later deny (a key anyone can sign for), or to reuse a
// certified key in another encoding so that two pseudonyms link through it.
TEST_F(PseudonymTest, KeysAnyoneCanSignForAndReencodedKeysAreRefused) {
  for (const auto& forged : ::semper::testing::ForgedRequests("ignored")) {
    EXPECT_THAT(Issue(RequestFor(*alice_, forged.der, v1::PSEUDONYM_KIND_TRANSACTION)).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY))
        << forged.name;
  }
  auto key = *PrivateKey::Generate(KeyType::kEcP256);
  EXPECT_THAT(
      Issue(RequestFor(*alice_, ::semper::testing::Sha1SignedRequest(key, "ignored"), v1::PSEUDONYM_KIND_TRANSACTION))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
  // The holder's own signature key, compressed: still not fresh.
  EXPECT_THAT(Issue(RequestFor(*alice_, ::semper::testing::CompressedP256Request(alice_->key, "ignored"),
                               v1::PSEUDONYM_KIND_TRANSACTION))
                  .status(),
              StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("fresh key")));
  // A pseudonym's key, compressed, for a second pseudonym: not fresh either.
  auto first = Issue(Request(*alice_, key, v1::PSEUDONYM_KIND_TRANSACTION));
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(Issue(RequestFor(*alice_, ::semper::testing::CompressedP256Request(key, "ignored"),
                               v1::PSEUDONYM_KIND_TRANSACTION))
                  .status(),
              StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("fresh key")));
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonyms"), "1");
}

TEST_F(PseudonymTest, EveryRefusalIsClearAndWritesNothing) {
  auto key = *PrivateKey::Generate(KeyType::kEcP256);
  // The holder's own signature key again: not fresh.
  EXPECT_THAT(Issue(Request(*alice_, alice_->key, v1::PSEUDONYM_KIND_TRANSACTION)).status(),
              StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("fresh key")));
  EXPECT_THAT(
      Issue(Request(*alice_, key, v1::PSEUDONYM_KIND_TRANSACTION, "", absl::Now() - absl::Minutes(10))).status(),
      StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("made_at")));
  EXPECT_THAT(Issue(Request(*alice_, key, v1::PSEUDONYM_KIND_ROLE, "")).status(),
              StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
  EXPECT_THAT(Issue(Request(*alice_, key, v1::PSEUDONYM_KIND_ROLE, "<script>")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Issue(Request(*alice_, key, v1::PSEUDONYM_KIND_TRANSACTION, "Chosen")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Issue(Request(*alice_, key, v1::PSEUDONYM_KIND_UNSPECIFIED)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Signed under a certificate the CA never issued.
  auto stranger = *PrivateKey::Generate(KeyType::kEcP256);
  CertificateTemplate t;
  t.subject = {{"CN", "Alice Example"}};
  t.not_before = absl::Now() - absl::Minutes(1);
  t.not_after = absl::Now() + absl::Hours(1);
  t.key_usage = kKuNonRepudiation;
  auto self_signed = IssueCertificate(t, stranger.public_key(), nullptr, stranger);
  ASSERT_THAT(self_signed.status(), IsOk());
  v1::IssuePseudonymRequest forged = Request(*alice_, key, v1::PSEUDONYM_KIND_TRANSACTION);
  forged.set_signature(*CmsSignDetached(forged.request(), stranger, *self_signed, {}));
  EXPECT_FALSE(Issue(forged).ok());
  // A tampered request: the signature no longer covers it.
  v1::IssuePseudonymRequest tampered = Request(*alice_, key, v1::PSEUDONYM_KIND_TRANSACTION);
  tampered.mutable_request()->back() ^= 1;
  EXPECT_THAT(Issue(tampered).status(), StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  // A name someone else holds.
  auto bob = suite_->Enroll("Bob Example", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(bob.status(), IsOk());
  ASSERT_THAT(suite_->IssuePseudonym(*bob, v1::PSEUDONYM_KIND_ROLE, "Grey Wolf").status(), IsOk());
  EXPECT_THAT(Issue(Request(*alice_, key, v1::PSEUDONYM_KIND_ROLE, "Grey Wolf")).status(),
              StatusWithMessage(absl::StatusCode::kAlreadyExists, HasSubstr("held by someone else")));
  // A revoked base.
  ASSERT_THAT(suite_->Revoke(bob->certificate, v1::REVOCATION_REASON_SUPERSEDED), IsOk());
  EXPECT_THAT(Issue(Request(*bob, key, v1::PSEUDONYM_KIND_TRANSACTION)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED));
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonyms"), "1");  // Bob's "Grey Wolf" only
  // The key was never certified: it still works.
  EXPECT_THAT(Issue(Request(*alice_, key, v1::PSEUDONYM_KIND_ROLE, "Grey Owl")).status(), IsOk());
}

TEST_F(PseudonymTest, OnlyAnOrderOfTheArbiterRevealsAndEveryRevealIsLogged) {
  auto role = suite_->IssuePseudonym(*alice_, v1::PSEUDONYM_KIND_ROLE, "Quiet Seller");
  ASSERT_THAT(role.status(), IsOk());
  auto nested = suite_->IssuePseudonym(*role, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(nested.status(), IsOk());
  const PrivateKey arbiter_key = ServiceKey("arbiter-signing");
  const Certificate arbiter = ServiceCert("arbiter-signing");

  // Forged: signed by the holder, or by another service; tampered after signing.
  EXPECT_THAT(Reveal(Order(role->certificate, alice_->key, alice_->certificate)).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Reveal(Order(role->certificate, ServiceKey("notary-signing"), ServiceCert("notary-signing"))).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  v1::RevealPseudonymRequest tampered = Order(role->certificate, arbiter_key, arbiter);
  tampered.set_order(std::string(tampered.order()).replace(tampered.order().find("C-0000"), 6, "C-9999"));
  EXPECT_THAT(Reveal(tampered).status(), StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  EXPECT_THAT(Reveal(Order(alice_->certificate, arbiter_key, arbiter)).status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonym_reveals"), "0");

  auto revealed = Reveal(Order(role->certificate, arbiter_key, arbiter));
  ASSERT_THAT(revealed.status(), IsOk());
  v1::PseudonymLink link = Open(revealed->sealed_link());
  EXPECT_EQ(link.pseudonym_serial(), role->certificate.SerialHex());
  EXPECT_EQ(link.base_serial(), alice_->certificate.SerialHex());
  EXPECT_EQ(link.subscriber_name(), "Alice Example");
  EXPECT_EQ(link.subscriber_id(), alice_->certificate.SubjectAttribute("serialNumber"));
  // A pseudonym of a pseudonym: its link names the first (a second order opens that one's link,
  // as above); nothing of the identity is inside.
  auto deeper = Reveal(Order(nested->certificate, arbiter_key, arbiter));
  ASSERT_THAT(deeper.status(), IsOk());
  v1::PseudonymLink outer = Open(deeper->sealed_link());
  EXPECT_EQ(outer.base_serial(), role->certificate.SerialHex());
  EXPECT_TRUE(outer.base_is_pseudonym());
  EXPECT_EQ(outer.subscriber_id(), "");
  // Nobody but the arbiter opens a link: not the CA's own key.
  EXPECT_FALSE(CmsDecrypt(revealed->sealed_link(), ServiceKey("ca-tls"), ServiceCert("ca-tls")).ok());

  // The log: both reveals, with the case, for the administrator only.
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonym_reveals"), "2");
  EXPECT_EQ(Sql("SELECT string_agg(case_id, ',') FROM ca.pseudonym_reveals"), "C-0000000000000001,C-0000000000000001");
  v1::GetPseudonymRevealsRequest lreq;
  v1::GetPseudonymRevealsResponse log;
  grpc::ClientContext c1;
  ASSERT_TRUE(v1::Pseudonyms::NewStub(suite_->Channel("ca", "admin"))->GetPseudonymReveals(&c1, lreq, &log).ok());
  ASSERT_EQ(log.reveals_size(), 2);
  EXPECT_EQ(log.reveals(1).pseudonym_serial(), role->certificate.SerialHex());
  grpc::ClientContext c2;
  EXPECT_EQ(v1::Pseudonyms::NewStub(suite_->Channel("ca"))->GetPseudonymReveals(&c2, lreq, &log).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);  // no client certificate
  // Append-only.
  Sql("DELETE FROM ca.pseudonym_reveals");
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonym_reveals"), "2");
}

TEST_F(PseudonymTest, KeyCompromiseOfTheIdentityRevokesWhatWasDerivedFromIt) {
  auto role = suite_->IssuePseudonym(*alice_, v1::PSEUDONYM_KIND_ROLE, "Red Kite");
  auto once = suite_->IssuePseudonym(*alice_, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(role.status(), IsOk());
  ASSERT_THAT(once.status(), IsOk());
  auto nested = suite_->IssuePseudonym(*role, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(nested.status(), IsOk());
  auto bob = suite_->Enroll("Bob Example", v1::CUSTOMER_KIND_INDIVIDUAL);
  auto bobs = suite_->IssuePseudonym(*bob, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(bobs.status(), IsOk());
  // Another reason leaves what was derived alone.
  auto second = suite_->IssuePseudonym(*once, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(second.status(), IsOk());
  ASSERT_THAT(suite_->Revoke(once->certificate, v1::REVOCATION_REASON_SUPERSEDED), IsOk());
  EXPECT_EQ(State(second->certificate), v1::CERTIFICATE_STATE_GOOD);

  ASSERT_THAT(suite_->Revoke(alice_->certificate, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  EXPECT_EQ(State(alice_->certificate), v1::CERTIFICATE_STATE_REVOKED);
  EXPECT_EQ(EventuallyRevoked(role->certificate), v1::CERTIFICATE_STATE_REVOKED);
  EXPECT_EQ(EventuallyRevoked(nested->certificate), v1::CERTIFICATE_STATE_REVOKED);
  // `second` was issued on `once`, which Alice's key obtained: it goes too, though `once`
  // itself had been revoked before: `once` keeps its revocation time, and its reason becomes
  // keyCompromise (RFC 5280 5.3.1 lets a CA say so later), which is what the arbiter checks
  // before it gives the key that finds `second`.
  EXPECT_EQ(EventuallyRevoked(second->certificate), v1::CERTIFICATE_STATE_REVOKED);
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonym_cascades"), "0");
  EXPECT_EQ(State(bobs->certificate), v1::CERTIFICATE_STATE_GOOD);
  EXPECT_EQ(Sql("SELECT revocation_reason FROM ca.certificates WHERE serial = '" + once->certificate.SerialHex() + "'"),
            "1");
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.certificates WHERE serial = '" + once->certificate.SerialHex() +
                "' AND revoked_at < (SELECT revoked_at FROM ca.certificates WHERE serial = '" +
                alice_->certificate.SerialHex() + "')"),
            "1");
}

// A reader of a database copy, and the CA's operator with every key the CA holds (the link key
// file included), try to group a holder's pseudonyms or find them from the holder's serial.
TEST_F(PseudonymTest, NeitherADatabaseCopyNorTheOperatorLinksAHoldersPseudonyms) {
  const size_t ca_log_before = Slurp(suite_->P("ca.log")).size();
  const size_t arbiter_log_before = Slurp(suite_->P("arbiter.log")).size();
  auto role = suite_->IssuePseudonym(*alice_, v1::PSEUDONYM_KIND_ROLE, "Little Egret");
  auto once = suite_->IssuePseudonym(*alice_, v1::PSEUDONYM_KIND_TRANSACTION);
  auto twice = suite_->IssuePseudonym(*alice_, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(role.status(), IsOk());
  ASSERT_THAT(once.status(), IsOk());
  ASSERT_THAT(twice.status(), IsOk());
  auto nested = suite_->IssuePseudonym(*role, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(nested.status(), IsOk());
  // The same holder may take its role name again (a new key); someone else may not (above).
  auto again = suite_->IssuePseudonym(*alice_, v1::PSEUDONYM_KIND_ROLE, "Little Egret");
  ASSERT_THAT(again.status(), IsOk());
  // Neither log names the base at issuance.
  EXPECT_THAT(Slurp(suite_->P("arbiter.log")).substr(arbiter_log_before),
              ::testing::Not(HasSubstr(alice_->certificate.SerialHex())));
  EXPECT_THAT(Slurp(suite_->P("arbiter.log")).substr(arbiter_log_before), HasSubstr("pseudonym.tagged"));
  EXPECT_THAT(Slurp(suite_->P("ca.log")).substr(ca_log_before),
              ::testing::Not(HasSubstr(alice_->certificate.SerialHex())));
  EXPECT_THAT(Slurp(suite_->P("ca.log")).substr(ca_log_before),
              ::testing::Not(HasSubstr(role->certificate.SerialHex())));

  // No column value repeats among one holder's pseudonyms.
  EXPECT_EQ(Sql("SELECT count(DISTINCT parent_tag) FROM ca.pseudonyms"), "5");
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonyms WHERE tag_scheme = 2"), "5");
  EXPECT_EQ(Sql("SELECT count(DISTINCT sealed_link) FROM ca.pseudonyms"), "5");
  // The operator computes what the tags were made of before (its link key over every serial it
  // issued): nothing matches.
  const std::string link_hex = Slurp(suite_->P("pki/pseudonym-link.key")).substr(0, 64);
  const std::string link_key = absl::HexStringToBytes(link_hex);
  for (const std::string& serial : {alice_->certificate.SerialHex(), role->certificate.SerialHex()}) {
    const std::string tag = HmacSha256(link_key, "semper-pseudonym-link\n" + serial);
    EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonyms WHERE parent_tag = '\\x" + HexEncode(tag) + "'"), "0");
  }
  // Every sealed link has one length, however long the holder's name or deep the nesting.
  EXPECT_EQ(Sql("SELECT count(DISTINCT length(sealed_link)) FROM ca.pseudonyms"), "1");

  // semper-arbiter gives the operator (as one of the suite's daemons) no holder's key for the
  // asking: only for a certificate revoked for keyCompromise.
  auto as_service = AsService("arbiter");
  v1::DerivePseudonymCascadeKeyRequest by_cert;
  by_cert.set_compromised_certificate(alice_->certificate.Der());
  for (const Certificate& c : suite_->Chain()) by_cert.add_intermediates(c.Der());
  EXPECT_THAT(CascadeKey(as_service, by_cert).status(),
              StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("not revoked for keyCompromise")));
  // Nor for a certificate the operator makes itself with the holder's serial (and revokes), with
  // its own key or the holder's: the CA knows no such certificate.
  for (bool holders_key : {false, true}) {
    const PrivateKey own = *PrivateKey::Generate(KeyType::kEcP256);
    CertificateTemplate t;
    t.subject = {{"CN", "Alice Example"}};
    t.serial = absl::HexStringToBytes(alice_->certificate.SerialHex());
    t.not_before = absl::Now() - absl::Minutes(1);
    t.not_after = absl::Now() + absl::Hours(1);
    t.key_usage = kKuNonRepudiation;
    const PrivateKey ca_key = *PrivateKey::FromPem(Slurp(suite_->P("pki/ca.key")), SecretData("suite test passphrase"));
    const Certificate ca_cert = *Certificate::FromPem(Slurp(suite_->P("pki/ca.pem")));
    auto forged =
        IssueCertificate(t, holders_key ? *alice_->certificate.public_key() : own.public_key(), &ca_cert, ca_key);
    ASSERT_THAT(forged.status(), IsOk());
    v1::DerivePseudonymCascadeKeyRequest req;
    req.set_compromised_certificate(forged->Der());
    for (const Certificate& c : suite_->Chain()) req.add_intermediates(c.Der());
    EXPECT_FALSE(CascadeKey(as_service, req).ok());
    // ... nor tags for a request it signs with that certificate's key: they are another key's.
    if (!holders_key) {
      v1::PseudonymRequestStatement st;
      st.set_type("semper-pseudonym-request");
      st.set_csr(CertificationRequest::Create(*PrivateKey::Generate(KeyType::kEcP256), {{"CN", "x"}})->Der());
      st.set_kind(v1::PSEUDONYM_KIND_ROLE);
      st.set_name("Little Egret");
      *st.mutable_made_at() = ToTimestamp(absl::Now());
      v1::TagPseudonymRequest treq;
      treq.set_request(st.SerializeAsString());
      treq.set_signature(*CmsSignDetached(treq.request(), own, *forged, suite_->Chain()));
      auto tags = Tags(as_service, treq);
      ASSERT_THAT(tags.status(), IsOk());
      EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonyms WHERE name_tag = '\\x" + HexEncode(tags->name_tag()) + "'"),
                "0");
    }
  }
  // An old request of the holder's, replayed; a request the holder did not sign.
  auto stale = Request(*alice_, *PrivateKey::Generate(KeyType::kEcP256), v1::PSEUDONYM_KIND_TRANSACTION, "",
                       absl::Now() - absl::Minutes(10));
  v1::TagPseudonymRequest replay;
  replay.set_request(stale.request());
  replay.set_signature(stale.signature());
  EXPECT_THAT(Tags(as_service, replay).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  auto fresh = Request(*alice_, *PrivateKey::Generate(KeyType::kEcP256), v1::PSEUDONYM_KIND_TRANSACTION);
  v1::TagPseudonymRequest altered;
  altered.set_request(fresh.request() + "x");
  altered.set_signature(fresh.signature());
  EXPECT_THAT(Tags(as_service, altered).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  // A recorded fresh request yields the tag of the pseudonym it asks for, bound to its new key,
  // and of no other: no existing tag is made again.
  v1::TagPseudonymRequest recorded;
  recorded.set_request(fresh.request());
  recorded.set_signature(fresh.signature());
  auto fresh_tags = Tags(as_service, recorded);
  ASSERT_THAT(fresh_tags.status(), IsOk());
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonyms WHERE parent_tag = '\\x" + HexEncode(fresh_tags->tag()) + "'"),
            "0");
  // Not a daemon of the suite: the holder itself, the administrator; a stranger without a
  // certificate is not even authenticated.
  for (auto channel : {suite_->ChannelAs("arbiter", *alice_), suite_->Channel("arbiter", "admin")}) {
    EXPECT_THAT(CascadeKey(channel, by_cert).status(), StatusIs(absl::StatusCode::kPermissionDenied));
    EXPECT_THAT(Tags(channel, recorded).status(), StatusIs(absl::StatusCode::kPermissionDenied));
  }
  EXPECT_THAT(CascadeKey(suite_->Channel("arbiter"), by_cert).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  // Revoked for another reason than keyCompromise: no key either.
  ASSERT_THAT(suite_->Revoke(*alice_->authentication_certificate, v1::REVOCATION_REASON_SUPERSEDED), IsOk());
  v1::DerivePseudonymCascadeKeyRequest superseded;
  superseded.set_compromised_certificate(alice_->authentication_certificate->Der());
  for (const Certificate& c : suite_->Chain()) superseded.add_intermediates(c.Der());
  EXPECT_THAT(CascadeKey(as_service, superseded).status(), StatusIs(absl::StatusCode::kFailedPrecondition));

  // After a keyCompromise, the key the arbiter gives makes exactly the holder's tags, and the
  // arbiter's own audit trail names the certificate.
  ASSERT_THAT(suite_->Revoke(alice_->certificate, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  auto key = CascadeKey(as_service, by_cert);
  ASSERT_THAT(key.status(), IsOk());
  // A certificate made up with the compromised serial and the CA's name but another holder's key
  // (unsigned by the CA) gets nothing: its path does not verify.
  {
    auto bob = suite_->Enroll("Bob Example", v1::CUSTOMER_KIND_INDIVIDUAL);
    ASSERT_THAT(bob.status(), IsOk());
    const PrivateKey stranger = *PrivateKey::Generate(KeyType::kEcP256);
    const Certificate ca_cert = *Certificate::FromPem(Slurp(suite_->P("pki/ca.pem")));
    CertificateTemplate t;
    t.subject = {{"CN", "Bob Example"}};
    t.serial = absl::HexStringToBytes(alice_->certificate.SerialHex());
    t.not_before = absl::Now() - absl::Minutes(1);
    t.not_after = absl::Now() + absl::Hours(1);
    t.key_usage = kKuNonRepudiation;
    // A look-alike of the issuing CA (its name, another key) signs it.
    CertificateTemplate fake;
    fake.subject = {{"CN", ca_cert.SubjectAttribute("CN").value_or("x")}};
    fake.not_before = absl::Now() - absl::Hours(1);
    fake.not_after = absl::Now() + absl::Hours(1);
    fake.is_ca = true;
    fake.key_usage = kKuKeyCertSign;
    auto fake_ca = IssueCertificate(fake, stranger.public_key(), nullptr, stranger);
    ASSERT_THAT(fake_ca.status(), IsOk());
    auto made_up = IssueCertificate(t, *bob->certificate.public_key(), &*fake_ca, stranger);
    ASSERT_THAT(made_up.status(), IsOk());
    v1::DerivePseudonymCascadeKeyRequest req;
    req.set_compromised_certificate(made_up->Der());
    req.add_intermediates(fake_ca->Der());
    EXPECT_FALSE(CascadeKey(as_service, req).ok());
  }
  int made = 0;
  for (const auto* p : {&*role, &*once, &*twice, &*nested, &*again}) {
    const std::string serial = p->certificate.SerialHex();
    const std::string tag = Sql("SELECT encode(parent_tag, 'hex') FROM ca.pseudonyms WHERE serial = '" + serial + "'");
    if (tag == HexEncode(HmacSha256(key->key(), "semper-pseudonym-tag\n" + Sha256(p->certificate.SpkiDer())))) ++made;
  }
  EXPECT_EQ(made, 4);  // all but `nested`, whose base is `role`
  // (The cascade asked for it too.)
  EXPECT_NE(Sql("SELECT count(*) FROM arbiter.audit WHERE action = 'pseudonym-cascade-key' AND subject = '" +
                alice_->certificate.SerialHex() + "'"),
            "0");
}

// While semper-arbiter is away: no pseudonym is issued (nothing written), and a keyCompromise
// still revokes the base at once and its pseudonyms when the arbiter is back.
TEST_F(PseudonymTest, WithoutTheArbiterNothingIsIssuedAndTheCascadeWaits) {
  auto role = suite_->IssuePseudonym(*alice_, v1::PSEUDONYM_KIND_ROLE, "Sea Eagle");
  ASSERT_THAT(role.status(), IsOk());
  ASSERT_THAT(suite_->Stop("arbiter"), IsOk());
  EXPECT_THAT(Issue(Request(*alice_, *PrivateKey::Generate(KeyType::kEcP256), v1::PSEUDONYM_KIND_TRANSACTION)).status(),
              StatusIs(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE));
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonyms"), "1");
  ASSERT_THAT(suite_->Revoke(alice_->certificate, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  EXPECT_EQ(State(alice_->certificate), v1::CERTIFICATE_STATE_REVOKED);
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(State(role->certificate), v1::CERTIFICATE_STATE_GOOD);
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.pseudonym_cascades WHERE attempts > 0"), "1");
  ASSERT_THAT(suite_->Restart("arbiter"), IsOk());
  EXPECT_EQ(EventuallyRevoked(role->certificate), v1::CERTIFICATE_STATE_REVOKED);
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.blocked_keys"), "2");
}

// A key found stolen after its certificate was revoked for another reason; a role name asked for
// by two holders at once; a pseudonym asked for while its base is being revoked.
TEST_F(PseudonymTest, LateCompromiseNameRacesAndIssuanceDuringRevocation) {
  auto bob = suite_->Enroll("Bob Example", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(bob.status(), IsOk());
  auto bobs = suite_->IssuePseudonym(*bob, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(bobs.status(), IsOk());
  ASSERT_THAT(suite_->Revoke(bob->certificate, v1::REVOCATION_REASON_SUPERSEDED), IsOk());
  const std::string when =
      Sql("SELECT revoked_at FROM ca.certificates WHERE serial = '" + bob->certificate.SerialHex() + "'");
  ASSERT_THAT(suite_->Revoke(bob->certificate, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  EXPECT_EQ(Sql("SELECT revocation_reason FROM ca.certificates WHERE serial = '" + bob->certificate.SerialHex() + "'"),
            "1");
  EXPECT_EQ(Sql("SELECT revoked_at FROM ca.certificates WHERE serial = '" + bob->certificate.SerialHex() + "'"), when);
  EXPECT_EQ(EventuallyRevoked(bobs->certificate), v1::CERTIFICATE_STATE_REVOKED);
  EXPECT_FALSE(suite_->Revoke(bob->certificate, v1::REVOCATION_REASON_KEY_COMPROMISE).ok());  // once

  // Eight requests for one role name, from two holders at once: one holder gets it.
  auto carol = suite_->Enroll("Carol Example", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(carol.status(), IsOk());
  std::vector<v1::IssuePseudonymRequest> asks;
  for (int i = 0; i < 8; ++i) {
    asks.push_back(Request(i % 2 == 0 ? *alice_ : *carol, *PrivateKey::Generate(KeyType::kEcP256),
                           v1::PSEUDONYM_KIND_ROLE, "Heron Five"));
  }
  std::vector<std::thread> threads;
  for (const auto& a : asks) threads.emplace_back([this, &a] { (void)Issue(a); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(Sql("SELECT count(DISTINCT name_tag) FROM ca.pseudonyms p JOIN ca.certificates c USING (serial) "
                "WHERE c.subject LIKE '%Heron Five%'"),
            "1");

  // A pseudonym in flight while its base is revoked for keyCompromise: refused, or found by the
  // cascade, never left good. The pseudonyms table is held for 3 s so that the issuance waits
  // at its insert while the revocation runs.
  std::thread hold([this] {
    (void)postgres().Query(database(),
                           "BEGIN; LOCK TABLE ca.pseudonyms IN EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;");
  });
  absl::SleepFor(absl::Milliseconds(300));
  absl::StatusOr<v1::IssuePseudonymResponse> in_flight = absl::UnknownError("not asked");
  std::thread issue([&] {
    in_flight = Issue(Request(*alice_, *PrivateKey::Generate(KeyType::kEcP256), v1::PSEUDONYM_KIND_TRANSACTION));
  });
  absl::SleepFor(absl::Milliseconds(700));
  absl::Status revoked = suite_->Revoke(alice_->certificate, v1::REVOCATION_REASON_KEY_COMPROMISE);
  issue.join();
  hold.join();
  ASSERT_THAT(revoked, IsOk());
  if (in_flight.ok()) {
    EXPECT_EQ(EventuallyRevoked(*Certificate::FromDer(in_flight->certificate())), v1::CERTIFICATE_STATE_REVOKED);
  } else {
    EXPECT_THAT(in_flight.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  }
}

// A pseudonym's end date cut to its base's would name the base (an identity certificate's end is
// unique to the second): one that would outlive its base is refused, with the most it may ask.
TEST_F(PseudonymTest, APseudonymDoesNotOutliveItsBaseNorCarryItsEndDate) {
  auto once = suite_->IssuePseudonym(*alice_, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(once.status(), IsOk());
  v1::PseudonymRequestStatement st;
  st.set_type("semper-pseudonym-request");
  st.set_csr(CertificationRequest::Create(*PrivateKey::Generate(KeyType::kEcP256), {{"CN", "x"}})->Der());
  st.set_kind(v1::PSEUDONYM_KIND_ROLE);
  st.set_name("Long Lived");
  st.set_valid_seconds(3 * 86400);  // the transaction pseudonym lives 1 day
  *st.mutable_made_at() = ToTimestamp(absl::Now());
  v1::IssuePseudonymRequest req;
  req.set_request(st.SerializeAsString());
  req.set_signature(*CmsSignDetached(req.request(), once->key, once->certificate, suite_->Chain()));
  EXPECT_THAT(Issue(req).status(), StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("cannot outlive")));
  EXPECT_EQ(
      Sql("SELECT count(*) FROM ca.certificates WHERE profile = 'pseudonym' AND not_after = '" +
          Sql("SELECT not_after FROM ca.certificates WHERE serial = '" + alice_->certificate.SerialHex() + "'") + "'"),
      "0");
}

// A pseudonym deals with the notary as itself: it sends certified mail and signs contracts, and
// reads them afterwards by presenting the pseudonym's certificate (its only one) in TLS. Its
// holder's own certificates do not read them (they would link the two), nor does anyone else.
class PseudonymNotaryTest : public PseudonymTest {
 protected:
  std::vector<std::string> Daemons() override { return {"tsa", "notary", "arbiter"}; }
  std::unique_ptr<v1::Notary::Stub> NotaryAs(const Suite::Subscriber* who) {
    if (who == nullptr) return v1::Notary::NewStub(suite_->Channel("notary"));
    if (who->authentication_certificate.has_value()) return v1::Notary::NewStub(suite_->ChannelAs("notary", *who));
    std::string chain = who->certificate.Pem();
    for (const Certificate& c : suite_->Chain()) chain += c.Pem();
    return v1::Notary::NewStub(
        suite_->ChannelWith("notary", chain, std::string(who->key.ToUnencryptedPemSecret().Reveal())));
  }
};

TEST_F(PseudonymNotaryTest, APseudonymReadsItsMailAndContractsAsItselfAndNobodyElseDoes) {
  auto bob = suite_->Enroll("Bob Example", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(bob.status(), IsOk());
  auto carol = suite_->Enroll("Carol Example", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(carol.status(), IsOk());
  auto shop = suite_->IssuePseudonym(*alice_, v1::PSEUDONYM_KIND_ROLE, "Shop Alpha");
  ASSERT_THAT(shop.status(), IsOk());
  auto other = suite_->IssuePseudonym(*carol, v1::PSEUDONYM_KIND_ROLE, "Shop Beta");
  ASSERT_THAT(other.status(), IsOk());
  // A TLS client, never a TLS server: a role pseudonym named "localhost" would otherwise pass as
  // any daemon to a client that checks names (found by a reviewer).
  auto host = suite_->IssuePseudonym(*carol, v1::PSEUDONYM_KIND_ROLE, "localhost");
  ASSERT_THAT(host.status(), IsOk());
  auto trust = TrustStore::FromPem(Slurp(suite_->P("pki/root.pem")));
  ASSERT_THAT(trust.status(), IsOk());
  EXPECT_FALSE(trust->VerifyPath(host->certificate, suite_->Chain(), absl::Now(), KeyPurpose::kServerAuth).ok());
  EXPECT_THAT(trust->VerifyPath(host->certificate, suite_->Chain(), absl::Now(), KeyPurpose::kClientAuth).status(),
              IsOk());
  dir_.Write("host.pem", host->certificate.Pem());
  dir_.Write("chain.pem", suite_->Chain().front().Pem());
  auto as_server = RunCommand({"openssl", "verify", "-purpose", "sslserver", "-CAfile", suite_->P("pki/root.pem"),
                               "-untrusted", dir_.path() + "/chain.pem", dir_.path() + "/host.pem"});
  EXPECT_NE(as_server.exit_code, 0) << as_server.Describe();
  // The shop mails Bob.
  const std::string enveloped = *CmsEncrypt("Your order ships today.", {*bob->authentication_certificate});
  v1::DepositMailRequest deposit;
  deposit.set_recipient_certificate(bob->authentication_certificate->Der());
  deposit.set_enveloped_message(enveloped);
  deposit.set_origin_signature(*CmsSignDetached(enveloped, shop->key, shop->certificate, suite_->Chain()));
  *deposit.mutable_deadline() = ToTimestamp(absl::Now() + absl::Hours(1));
  v1::CertifiedMail mail;
  {
    grpc::ClientContext ctx;
    grpc::Status st = NotaryAs(nullptr)->DepositMail(&ctx, deposit, &mail);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  auto get_mail = [&](const Suite::Subscriber* who) {
    v1::GetMailRequest req;
    req.set_id(mail.id());
    v1::CertifiedMail out;
    grpc::ClientContext ctx;
    return FromGrpcStatus(NotaryAs(who)->GetMail(&ctx, req, &out));
  };
  EXPECT_THAT(get_mail(&*shop), IsOk());
  EXPECT_THAT(get_mail(&*bob), IsOk());
  EXPECT_THAT(get_mail(&*alice_), StatusIs(absl::StatusCode::kPermissionDenied));  // the holder, as itself
  EXPECT_THAT(get_mail(&*other), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(get_mail(nullptr), StatusIs(absl::StatusCode::kUnauthenticated));
  // The shop and Bob sign a contract; the shop reads it, and its text, as itself.
  const std::string text = "Shop Alpha delivers 3 lamps to Bob for EUR 90.";
  v1::CreateContractRequest create;
  create.set_contract(text);
  create.set_title("Lamps");
  create.add_signer_certificates(shop->certificate.Der());
  create.add_signer_certificates(bob->certificate.Der());
  *create.mutable_deadline() = ToTimestamp(absl::Now() + absl::Hours(1));
  v1::NotarizedContract contract;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(NotaryAs(nullptr)->CreateContract(&ctx, create, &contract).ok());
  }
  auto read = [&](const Suite::Subscriber* who) {
    v1::GetContractTextRequest req;
    req.set_id(contract.id());
    v1::ContractText out;
    grpc::ClientContext ctx;
    return FromGrpcStatus(NotaryAs(who)->GetContractText(&ctx, req, &out));
  };
  auto state = [&](const Suite::Subscriber* who) {
    v1::GetContractRequest req;
    req.set_id(contract.id());
    v1::NotarizedContract out;
    grpc::ClientContext ctx;
    return FromGrpcStatus(NotaryAs(who)->GetContract(&ctx, req, &out));
  };
  EXPECT_THAT(read(&*shop), IsOk());
  EXPECT_THAT(state(&*shop), IsOk());
  EXPECT_THAT(read(&*alice_), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(state(&*alice_), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(state(&*other), StatusIs(absl::StatusCode::kPermissionDenied));
  auto sign = [&](const Suite::Subscriber& who, const Suite::Subscriber* as) {
    v1::SignContractRequest req;
    req.set_id(contract.id());
    req.set_signature(*CmsSignDetached("semper-contract:" + contract.id() + ":" + HexEncode(Sha256(text)), who.key,
                                       who.certificate, suite_->Chain()));
    v1::NotarizedContract out;
    grpc::ClientContext ctx;
    return FromGrpcStatus(NotaryAs(as)->SignContract(&ctx, req, &out));
  };
  ASSERT_THAT(sign(*shop, &*shop), IsOk());
  ASSERT_THAT(sign(*bob, &*bob), IsOk());
  EXPECT_THAT(sign(*shop, &*shop), IsOk());  // its repeated signature, as itself
  EXPECT_THAT(sign(*shop, &*alice_), StatusIs(absl::StatusCode::kPermissionDenied));  // not as the holder
  EXPECT_THAT(state(&*shop), IsOk());
  // With semperctl: a pseudonym's wallet (one certificate, `semperctl pseudonym request` writes
  // it) asks as the pseudonym.
  dir_.Write("wallet.pass", "wallet passphrase");
  std::string chain;
  for (const Certificate& c : suite_->Chain()) chain += c.Pem();
  const std::string shop_wallet =
      ::semper::testing::WriteWallet(dir_, "shop", shop->key, shop->certificate, chain, "wallet passphrase");
  const std::string holder_wallet = ::semper::testing::WriteFullWallet(
      dir_, "alice-full", alice_->key, alice_->certificate, *alice_->authentication_key,
      *alice_->authentication_certificate, chain, "wallet passphrase");
  auto ctl = [&](const std::string& wallet, std::vector<std::string> args) {
    std::vector<std::string> argv = {SEMPERCTL,
                                     "--notary",
                                     "127.0.0.1:" + std::to_string(suite_->port("notary")),
                                     "--server-name",
                                     "localhost",
                                     "--ca-file",
                                     suite_->P("pki/root.pem"),
                                     "--yes",
                                     "notary"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--wallet", wallet, "--wallet-passphrase-file", dir_.path() + "/wallet.pass"});
    return RunCommand(argv);
  };
  auto shown = ctl(shop_wallet, {"mail", "show", mail.id()});
  EXPECT_EQ(shown.exit_code, 0) << shown.Describe();
  EXPECT_THAT(shown.out, HasSubstr("waiting for the recipient's receipt"));
  auto by_holder = ctl(holder_wallet, {"mail", "show", mail.id()});
  EXPECT_NE(by_holder.exit_code, 0) << by_holder.Describe();
  EXPECT_THAT(by_holder.out + by_holder.err, HasSubstr("PERMISSION_DENIED"));
  auto contract_shown = ctl(shop_wallet, {"contract", "show", contract.id()});
  EXPECT_EQ(contract_shown.exit_code, 0) << contract_shown.Describe();
  EXPECT_THAT(contract_shown.out, HasSubstr("completed: signed by everyone"));
}

TEST_F(PseudonymTest, HoldersAndArbitratorsUseSemperctl) {
  dir_.Write("wallet.pass", "wallet passphrase");
  const std::string wallet = ::semper::testing::WriteWallet(dir_, "alice", alice_->key, alice_->certificate,
                                                            Slurp(suite_->P("pki/ca.pem")), "wallet passphrase");
  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {SEMPERCTL,
                                     "--server",
                                     "127.0.0.1:" + std::to_string(suite_->port("ca")),
                                     "--server-name",
                                     "localhost",
                                     "--ca-file",
                                     suite_->P("pki/root.pem"),
                                     "--yes"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  };
  auto made = ctl({"pseudonym", "request", "--wallet", wallet, "--wallet-passphrase-file", dir_.path() + "/wallet.pass",
                   "--out", dir_.path() + "/owl", "--kind", "role", "--name", "Snow Owl"});
  ASSERT_EQ(made.exit_code, 0) << made.Describe();
  EXPECT_THAT(made.out, HasSubstr("role pseudonym named \"Snow Owl\""));  // shown before signing
  EXPECT_THAT(made.out, HasSubstr("Pseudonym Snow Owl"));
  auto owl = Certificate::ChainFromPem(Slurp(dir_.path() + "/owl/signature.pem"));
  ASSERT_THAT(owl.status(), IsOk());
  EXPECT_EQ(owl->front().SubjectAttribute("2.5.4.65"), "Snow Owl");
  // The new wallet signs like any other: a transaction pseudonym on the role pseudonym.
  auto again = ctl({"pseudonym", "request", "--wallet", dir_.path() + "/owl", "--wallet-passphrase-file",
                    dir_.path() + "/wallet.pass", "--out", dir_.path() + "/once", "--shared-issuer"});
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  EXPECT_THAT(again.out, HasSubstr("does not name the operator"));
  auto once = Certificate::ChainFromPem(Slurp(dir_.path() + "/once/signature.pem"));
  ASSERT_THAT(once.status(), IsOk());
  EXPECT_EQ(once->front().Issuer(), "CN=SEMPER Pseudonym Issuer,O=SEMPER");

  // The arbitrator opens the owl's link with an order of semper-arbiter and the escrow key.
  v1::RevealPseudonymRequest order = Order(owl->front(), ServiceKey("arbiter-signing"), ServiceCert("arbiter-signing"));
  dir_.Write("order.json", order.order());
  dir_.Write("order.sig", order.order_signature());
  dir_.Write("escrow.pass", "suite test passphrase");
  auto revealed =
      ctl({"pseudonym", "reveal", "--order", dir_.path() + "/order.json", "--order-signature",
           dir_.path() + "/order.sig", "--escrow-cert", suite_->P("pki/services/arbiter-escrow.pem"), "--escrow-key",
           suite_->P("pki/services/arbiter-escrow.key"), "--escrow-passphrase-file", dir_.path() + "/escrow.pass"});
  ASSERT_EQ(revealed.exit_code, 0) << revealed.Describe();
  EXPECT_THAT(revealed.out, HasSubstr("Holder: subscriber "));
  EXPECT_THAT(revealed.out, HasSubstr("Alice Example"));
  auto log = ctl({"--cert", suite_->P("pki/admin/admin.pem"), "--key", suite_->P("pki/admin/admin.key"),
                  "--key-passphrase-file", dir_.path() + "/escrow.pass", "pseudonym", "reveals"});
  EXPECT_EQ(log.exit_code, 0) << log.Describe();
  EXPECT_THAT(log.out, HasSubstr(owl->front().SerialHex()));

  // An operator whose semper-ca answers the owl's order with another pseudonym's sealed link (a
  // genuine one, from its database): semperctl names the mismatch and reveals nothing.
  const std::string other_link =
      Sql("SELECT encode(sealed_link, 'hex') FROM ca.pseudonyms ORDER BY issued_at DESC LIMIT 1");
  ASSERT_FALSE(other_link.empty());
  struct LyingCa final : v1::Pseudonyms::Service {
    std::string link;
    grpc::Status RevealPseudonym(grpc::ServerContext*, const v1::RevealPseudonymRequest*,
                                 v1::RevealPseudonymResponse* resp) override {
      resp->set_sealed_link(link);
      resp->set_reveal_number(1);
      return grpc::Status::OK;
    }
  } lying;
  lying.link = absl::HexStringToBytes(other_link);
  int lying_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &lying_port);
  builder.RegisterService(&lying);
  auto server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto lied = RunCommand({SEMPERCTL, "--server", "127.0.0.1:" + std::to_string(lying_port), "--plaintext", "--yes",
                          "pseudonym", "reveal", "--order", dir_.path() + "/order.json", "--order-signature",
                          dir_.path() + "/order.sig", "--escrow-cert", suite_->P("pki/services/arbiter-escrow.pem"),
                          "--escrow-key", suite_->P("pki/services/arbiter-escrow.key"), "--escrow-passphrase-file",
                          dir_.path() + "/escrow.pass"});
  EXPECT_NE(lied.exit_code, 0) << lied.Describe();
  EXPECT_THAT(lied.out + lied.err, HasSubstr("the CA sent the link of certificate"));
  EXPECT_THAT(lied.out, ::testing::Not(HasSubstr("Holder:")));
  server->Shutdown();
}

TEST_F(PseudonymTest, TheSharedPseudonymIssuerNamesNoOperatorAndPublishesItsOwnStatus) {
  auto key = *PrivateKey::Generate(KeyType::kEcP256);
  v1::PseudonymRequestStatement st;
  st.set_type("semper-pseudonym-request");
  st.set_csr(CertificationRequest::Create(key, {})->Der());
  st.set_kind(v1::PSEUDONYM_KIND_TRANSACTION);
  st.set_shared_issuer(true);
  *st.mutable_made_at() = ToTimestamp(absl::Now());
  v1::IssuePseudonymRequest req;
  req.set_request(st.SerializeAsString());
  req.set_signature(*CmsSignDetached(req.request(), alice_->key, alice_->certificate, suite_->Chain()));
  auto issued = Issue(req);
  ASSERT_THAT(issued.status(), IsOk());
  auto cert = Certificate::FromDer(issued->certificate());
  ASSERT_THAT(cert.status(), IsOk());
  const Certificate shared = *Certificate::FromPem(Slurp(suite_->P("pki/pseudonym-ca.pem")));
  EXPECT_EQ(cert->Issuer(), "CN=SEMPER Pseudonym Issuer,O=SEMPER");
  EXPECT_NE(cert->Issuer(), suite_->Chain().front().Subject());
  ASSERT_EQ(issued->chain_size(), 2);
  EXPECT_EQ(issued->chain(0), shared.Der());
  EXPECT_EQ(State(*cert), v1::CERTIFICATE_STATE_GOOD);
  dir_.Write("p.pem", cert->Pem());
  dir_.Write("issuers.pem", shared.Pem() + Slurp(suite_->P("pki/root.pem")));
  const std::string P = dir_.path() + "/";
  auto r = RunCommand({"openssl", "verify", "-CAfile", suite_->P("pki/root.pem"), "-untrusted",
                       suite_->P("pki/pseudonym-ca.pem"), "-purpose", "any", P + "p.pem"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  const std::string url = "http://127.0.0.1:" + std::to_string(suite_->port("ca-http"));
  auto ocsp = [&](const std::string& issuer_pem) {
    return RunCommand({"openssl", "ocsp", "-issuer", issuer_pem, "-cert", P + "p.pem", "-url", url + "/ocsp", "-CAfile",
                       P + "issuers.pem"});
  };
  auto good = ocsp(suite_->P("pki/pseudonym-ca.pem"));
  EXPECT_EQ(good.exit_code, 0) << good.Describe();
  EXPECT_THAT(good.out, HasSubstr(": good"));
  // Asked as if the operator's issuing CA had issued it: not one of its certificates.
  auto wrong = RunCommand({"openssl", "ocsp", "-issuer", suite_->P("pki/ca.pem"), "-serial", "0x" + cert->SerialHex(),
                           "-url", url + "/ocsp", "-CAfile", suite_->P("pki/root.pem")});
  EXPECT_THAT(wrong.out, HasSubstr(": unknown"));

  // Revoked (with its base, for keyCompromise): the shared issuer's own CRL lists it, the
  // operator's does not.
  ASSERT_THAT(suite_->Revoke(alice_->certificate, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  EXPECT_EQ(EventuallyRevoked(*cert), v1::CERTIFICATE_STATE_REVOKED);
  EXPECT_THAT(ocsp(suite_->P("pki/pseudonym-ca.pem")).out, HasSubstr(": revoked"));
  httplib::Client http("127.0.0.1", suite_->port("ca-http"));
  auto crl = http.Get("/crl/pseudonyms");
  ASSERT_TRUE(crl && crl->status == 200);
  dir_.Write("p.crl", crl->body);
  auto text = RunCommand(
      {"openssl", "crl", "-inform", "DER", "-in", P + "p.crl", "-CAfile", P + "issuers.pem", "-noout", "-text"});
  EXPECT_EQ(text.exit_code, 0) << text.Describe();
  EXPECT_THAT(text.err + text.out, HasSubstr("verify OK"));
  EXPECT_THAT(text.out, HasSubstr("Issuer: O = SEMPER, CN = SEMPER Pseudonym Issuer"));
  EXPECT_THAT(text.out, HasSubstr(cert->SerialHex()));
  auto main_crl = http.Get("/crl");
  ASSERT_TRUE(main_crl && main_crl->status == 200);
  dir_.Write("ca.crl", main_crl->body);
  auto main_text = RunCommand({"openssl", "crl", "-inform", "DER", "-in", P + "ca.crl", "-noout", "-text"});
  EXPECT_THAT(main_text.out, HasSubstr(alice_->certificate.SerialHex()));
  EXPECT_THAT(main_text.out, ::testing::Not(HasSubstr(cert->SerialHex())));
}

}  // namespace
}  // namespace semper
