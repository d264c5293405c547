// semper-ca's anonymous one-use tokens (RFC 9474 blind signatures) against the daemon as a
// process and a real PostgreSQL: a kind signed by the CA (openssl cms -verify), blind issuance
// whose records do not match the redeemed token, exactly one acceptance under many concurrent
// redemptions at two replicas, bad input refused with nothing spent, and a clearing statement
// both sides verify with openssl.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <regex>
#include <set>
#include <thread>

#include "common/base/proto_time.h"
#include "common/crypto/blind_rsa.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/server/grpc_status.h"
#include "common/server/rate_limit.h"
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

class TokenTest : public ::semper::testing::PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    Suite::Options o = Suite::Options::Only({"arbiter"}, conninfo());
    o.ca_replicas = 2;  // two replicas on one database
    o.common_env = common_env_;
    auto suite = Suite::Start(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
    for (auto [name, target] : {std::pair{"Rhine Transit GmbH", &issuer_}, std::pair{"Rhine Kiosk GmbH", &acceptor_},
                                std::pair{"Other Kiosk GmbH", &other_}}) {
      auto s = suite_->Enroll(name, v1::CUSTOMER_KIND_ENTERPRISE);
      ASSERT_THAT(s.status(), IsOk());
      target->emplace(*s);
    }
    auto holder = suite_->Enroll("Hanna Holder", v1::CUSTOMER_KIND_INDIVIDUAL);
    ASSERT_THAT(holder.status(), IsOk());
    holder_.emplace(*holder);
  }

  std::vector<std::string> common_env_;

  std::unique_ptr<v1::Credentials::Stub> Stub(const std::string& daemon = "ca") {
    return v1::Credentials::NewStub(suite_->Channel(daemon));
  }
  std::unique_ptr<v1::Credentials::Stub> StubAs(const Suite::Subscriber& who, const std::string& daemon = "ca") {
    return v1::Credentials::NewStub(suite_->ChannelAs(daemon, who));
  }

  template <typename T>
  std::string Signed(const Suite::Subscriber& who, const T& statement, std::string* bytes) {
    *bytes = statement.SerializeAsString();
    return *CmsSignDetached(*bytes, who.key, who.certificate, suite_->Chain());
  }

  absl::StatusOr<v1::TokenKind> CreateKind(const Suite::Subscriber& who, const std::string& name) {
    return suite_->CreateTokenKind(who, name);
  }

  absl::StatusOr<v1::IssueBlindTokenResponse> IssueBlind(const Suite::Subscriber& who, const std::string& kind_id,
                                                         const std::string& blinded) {
    return suite_->IssueBlindToken(who, kind_id, blinded);
  }

  using Token = Suite::BlindToken;
  // The holder's side of the protocol: prepare, blind, have the issuer sign, finalize.
  Token Obtain(const v1::TokenKind& kind, const std::string& what) {
    auto t = suite_->ObtainToken(*issuer_, kind, what);
    EXPECT_THAT(t.status(), IsOk());
    return t.ok() ? *t : Token{};
  }

  absl::StatusOr<v1::RedeemTokenResponse> Redeem(v1::Credentials::Stub* stub, const std::string& kind_id,
                                                 const Token& t, const std::string& reference = "") {
    v1::RedeemTokenRequest req;
    req.set_kind_id(kind_id);
    req.set_message(t.message);
    req.set_signature(t.signature);
    req.set_reference(reference);
    v1::RedeemTokenResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub->RedeemToken(&ctx, req, &resp);
    if (!s.ok()) return FromGrpcStatus(s);
    return resp;
  }

  std::string Sql(const std::string& q) { return *postgres().Query(database(), q); }

  absl::StatusOr<v1::Credential> IssueCredential(const Suite::Subscriber& issuer, const Certificate& holder,
                                                 const std::string& kind, int uses,
                                                 absl::Duration valid = absl::Hours(24 * 30)) {
    v1::CredentialRequestStatement st;
    st.set_type("semper-credential-request");
    st.set_holder_certificate(holder.Der());
    st.set_kind(kind);
    st.set_rights(uses > 0 ? std::to_string(uses) + " rides, zones A-B" : "membership, all zones");
    st.set_uses(uses);
    *st.mutable_valid_until() = ToTimestamp(absl::Now() + valid);
    *st.mutable_made_at() = ToTimestamp(absl::Now());
    v1::IssueCredentialRequest req;
    req.set_signature(Signed(issuer, st, req.mutable_request()));
    v1::Credential c;
    grpc::ClientContext ctx;
    grpc::Status s = Stub()->IssueCredential(&ctx, req, &c);
    if (!s.ok()) return FromGrpcStatus(s);
    return c;
  }

  // The holder's presentation of `c` for `acceptor`, signed by `signer`.
  v1::RedeemCredentialRequest Presentation(const v1::Credential& c, const Suite::Subscriber& acceptor,
                                           const Suite::Subscriber& signer) {
    v1::PresentationStatement ps;
    ps.set_type("semper-credential-presentation");
    ps.set_credential_id(c.credential_id());
    ps.set_acceptor_subscriber_id(*acceptor.certificate.SubjectAttribute("serialNumber"));
    ps.set_nonce(RandomBytes(16));
    *ps.mutable_made_at() = ToTimestamp(absl::Now());
    v1::RedeemCredentialRequest req;
    req.set_credential_statement(c.statement());
    req.set_credential_signature(c.signature());
    req.set_presentation_signature(Signed(signer, ps, req.mutable_presentation()));
    return req;
  }

  absl::StatusOr<v1::RedeemCredentialResponse> Use(v1::Credentials::Stub* stub,
                                                   const v1::RedeemCredentialRequest& req) {
    v1::RedeemCredentialResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub->RedeemCredential(&ctx, req, &resp);
    if (!s.ok()) return FromGrpcStatus(s);
    return resp;
  }

  TempDir dir_;
  std::unique_ptr<Suite> suite_;
  std::optional<Suite::Subscriber> issuer_, acceptor_, other_, holder_;
};

TEST_F(TokenTest, AKindIsSignedByTheCaAndATokenIsUnlinkableToItsIssuance) {
  auto kind = CreateKind(*issuer_, "Single ride, zone A");
  ASSERT_THAT(kind.status(), IsOk());
  EXPECT_THAT(kind->id(), ::testing::MatchesRegex("K-[0-9a-f]{16}"));
  EXPECT_EQ(kind->issuer_name(), "Rhine Transit GmbH");
  // The kind's statement (with its public key's hash) verifies with openssl.
  dir_.Write("kind.json", kind->statement());
  dir_.Write("kind.sig", kind->signature());
  auto r = RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", dir_.path() + "/kind.sig",
                       "-content", dir_.path() + "/kind.json", "-CAfile", suite_->P("pki/root.pem"), "-purpose", "any",
                       "-out", "/dev/null"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  v1::TokenKindStatement ks;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(kind->statement(), &ks).ok());
  EXPECT_EQ(ks.public_key_sha256(), Sha256(kind->public_key()));

  Token a = Obtain(*kind, "ride for Hanna");
  Token b = Obtain(*kind, "ride for Hanna");
  // What the CA recorded at issuance (the blinded messages' hashes) matches nothing it sees at
  // redemption: not the message, not its hash, not the signature.
  const std::string issued = Sql("SELECT string_agg(encode(blinded_sha256, 'hex'), ',') FROM ca.token_issuances");
  for (const Token* t : {&a, &b}) {
    EXPECT_EQ(issued.find(HexEncode(Sha256(t->message))), std::string::npos);
    EXPECT_EQ(issued.find(HexEncode(Sha256(t->signature))), std::string::npos);
    EXPECT_NE(issued.find(HexEncode(Sha256(t->blinded))), std::string::npos);
  }
  auto stub = StubAs(*acceptor_);
  auto ra = Redeem(stub.get(), kind->id(), a);
  ASSERT_THAT(ra.status(), IsOk());
  EXPECT_EQ(ra->outcome(), v1::REDEMPTION_OUTCOME_ACCEPTED);
  EXPECT_THAT(Redeem(stub.get(), kind->id(), b).status(), IsOk());
  // The spent set holds the messages' hashes, which the issuance records do not.
  const std::string spent = Sql("SELECT string_agg(encode(message_sha256, 'hex'), ',') FROM ca.spent_tokens");
  EXPECT_NE(spent.find(HexEncode(Sha256(a.message))), std::string::npos);
  for (const std::string& h : {HexEncode(Sha256(a.blinded)), HexEncode(Sha256(b.blinded))}) {
    EXPECT_EQ(spent.find(h), std::string::npos);
  }
}

TEST_F(TokenTest, ManyConcurrentRedemptionsOfOneTokenAcceptItOnce) {
  auto kind = CreateKind(*issuer_, "Coffee voucher");
  ASSERT_THAT(kind.status(), IsOk());
  std::vector<Token> tokens;
  for (int i = 0; i < 4; ++i) tokens.push_back(Obtain(*kind, "voucher " + std::to_string(i)));
  // 64 clients, two replicas of semper-ca: each token presented 16 times at once.
  std::atomic<int> ready{0}, accepted{0}, used{0}, other{0};
  std::vector<int> accepted_per(tokens.size(), 0);
  std::mutex mu;
  std::vector<std::thread> clients;
  for (int c = 0; c < 64; ++c) {
    clients.emplace_back([&, c] {
      auto stub = StubAs(*acceptor_, c % 2 == 0 ? "ca" : "ca2");
      ++ready;
      while (ready.load() < 64) std::this_thread::yield();
      auto r = Redeem(stub.get(), kind->id(), tokens[c % tokens.size()]);
      if (r.ok()) {
        ++accepted;
        std::lock_guard<std::mutex> lock(mu);
        ++accepted_per[c % tokens.size()];
      } else if (ReasonOf(r.status()) == v1::ALREADY_USED) {
        ++used;
      } else {
        ++other;
        ADD_FAILURE() << r.status();
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(accepted.load(), 4);
  EXPECT_EQ(used.load(), 60);
  EXPECT_EQ(other.load(), 0);
  for (int n : accepted_per) EXPECT_EQ(n, 1);
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.spent_tokens"), "4");
  // Later, with the time of the first use in the message.
  EXPECT_THAT(Redeem(StubAs(*acceptor_).get(), kind->id(), tokens[0]).status(),
              StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("redeemed before (20")));
}

// An acceptor whose answer was lost (a failover) sends the redemption again with its own
// reference and gets the same redemption; the token is still accepted once: not again without
// the reference, with another one, or by another acceptor with the same one. Retries racing each
// other at both replicas get one redemption.
TEST_F(TokenTest, AnAcceptorsRetryWithItsReferenceGetsTheSameRedemptionAndNothingMore) {
  auto kind = CreateKind(*issuer_, "Ferry ticket");
  ASSERT_THAT(kind.status(), IsOk());
  Token t = Obtain(*kind, "ferry 1");
  auto first = Redeem(StubAs(*acceptor_).get(), kind->id(), t, "order 4711");
  ASSERT_THAT(first.status(), IsOk());
  auto again = Redeem(StubAs(*acceptor_, "ca2").get(), kind->id(), t, "order 4711");
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_EQ(again->redemption_id(), first->redemption_id());
  EXPECT_EQ(again->redeemed_at().seconds(), first->redeemed_at().seconds());
  EXPECT_EQ(again->redeemed_at().nanos(), first->redeemed_at().nanos());
  for (auto [who, reference] : {std::pair{&*acceptor_, ""}, std::pair{&*acceptor_, "order 4712"},
                                std::pair{&*other_, "order 4711"}, std::pair{&*acceptor_, "ORDER 4711"}}) {
    EXPECT_THAT(Redeem(StubAs(*who).get(), kind->id(), t, reference).status(),
                StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("redeemed before")))
        << reference;
  }
  // A token redeemed without a reference has no retry.
  Token bare = Obtain(*kind, "ferry 2");
  ASSERT_THAT(Redeem(StubAs(*acceptor_).get(), kind->id(), bare).status(), IsOk());
  EXPECT_EQ(ReasonOf(Redeem(StubAs(*acceptor_).get(), kind->id(), bare, "order 1").status()), v1::ALREADY_USED);
  // Twenty copies of one redemption at once, at both replicas: one redemption, the same for all.
  Token raced = Obtain(*kind, "ferry 3");
  std::vector<std::string> ids(20);
  std::vector<std::thread> clients;
  for (int c = 0; c < 20; ++c) {
    clients.emplace_back([&, c] {
      auto r = Redeem(StubAs(*acceptor_, c % 2 == 0 ? "ca" : "ca2").get(), kind->id(), raced, "order 9");
      ASSERT_THAT(r.status(), IsOk());
      ids[static_cast<size_t>(c)] = r->redemption_id();
    });
  }
  for (auto& c : clients) c.join();
  for (const std::string& id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.spent_tokens"), "3");
  // Too long a reference, or one with a control character (a NUL would cut the group's array of
  // references short and fail every redemption committed with it), is refused and spends nothing;
  // a redemption sent at the same moment is not disturbed.
  Token other = Obtain(*kind, "ferry 4");
  Token bystander = Obtain(*kind, "ferry 5");
  for (const std::string& bad : {std::string(201, 'x'), std::string("order\0 1", 8), std::string("order\x01")}) {
    std::thread honest;
    absl::StatusOr<v1::RedeemTokenResponse> honest_result = absl::UnknownError("not run");
    if (bad.size() == 8) {
      honest = std::thread([&] { honest_result = Redeem(StubAs(*other_).get(), kind->id(), bystander, "order 77"); });
    }
    EXPECT_EQ(ReasonOf(Redeem(StubAs(*acceptor_).get(), kind->id(), other, bad).status()), v1::INVALID_FIELD);
    if (honest.joinable()) {
      honest.join();
      EXPECT_THAT(honest_result.status(), IsOk());
    }
  }
  // The same with the kind's id: the real id, a NUL, then anything (libpq would find the kind by
  // the id cut at the NUL).
  {
    v1::RedeemTokenRequest req;
    req.set_kind_id(kind->id() + std::string("\0x", 2));
    req.set_message(other.message);
    req.set_signature(other.signature);
    v1::RedeemTokenResponse resp;
    grpc::ClientContext ctx;
    EXPECT_EQ(ReasonOf(FromGrpcStatus(StubAs(*acceptor_)->RedeemToken(&ctx, req, &resp))), v1::INVALID_FIELD);
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.spent_tokens"), "4");
}

TEST_F(TokenTest, BadInputIsRefusedAndSpendsNothing) {
  auto kind = CreateKind(*issuer_, "Museum ticket");
  ASSERT_THAT(kind.status(), IsOk());
  auto pk = PublicKey::FromDer(kind->public_key());
  // Only an enterprise issues; only the kind's issuer has tokens signed.
  EXPECT_THAT(CreateKind(*holder_, "My tokens").status(), StatusIs(absl::StatusCode::kPermissionDenied));
  auto blinding = blind_rsa::Blind(*pk, blind_rsa::Prepare("x"));
  EXPECT_THAT(IssueBlind(*other_, kind->id(), blinding->blinded_message).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // A blinded message of the wrong size, or not below the modulus.
  EXPECT_THAT(IssueBlind(*issuer_, kind->id(), std::string(255, '\x01')).status(),
              StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("256 bytes")));
  EXPECT_THAT(IssueBlind(*issuer_, kind->id(), std::string(256, '\xff')).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(IssueBlind(*issuer_, "K-0000000000000000", blinding->blinded_message).status(),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.token_issuances"), "0");

  Token t = Obtain(*kind, "ticket");
  auto stub = StubAs(*acceptor_);
  // Forged: a signature of another kind's key, a changed message, garbage.
  auto other_kind = CreateKind(*issuer_, "Other ticket");
  ASSERT_THAT(other_kind.status(), IsOk());
  Token foreign = Obtain(*other_kind, "ticket");
  EXPECT_THAT(Redeem(stub.get(), kind->id(), foreign).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  Token changed = t;
  changed.message.back() ^= 1;
  EXPECT_THAT(Redeem(stub.get(), kind->id(), changed).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  Token garbage{t.message, std::string(256, '\x07'), ""};
  EXPECT_THAT(Redeem(stub.get(), kind->id(), garbage).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Redeem(stub.get(), kind->id(), Token{"short", t.signature, ""}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  // Without an accepting organisation's certificate.
  EXPECT_THAT(Redeem(Stub().get(), kind->id(), t).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.spent_tokens"), "0");
  EXPECT_THAT(Redeem(stub.get(), kind->id(), t).status(), IsOk());
}

TEST_F(TokenTest, AClearingStatementBothSidesVerify) {
  auto kind = CreateKind(*issuer_, "Single ride, zone B");
  ASSERT_THAT(kind.status(), IsOk());
  const absl::Time from = absl::Now() - absl::Minutes(1);
  auto at_acceptor = StubAs(*acceptor_);
  auto at_other = StubAs(*other_);
  for (int i = 0; i < 3; ++i) ASSERT_THAT(Redeem(at_acceptor.get(), kind->id(), Obtain(*kind, "r")).status(), IsOk());
  ASSERT_THAT(Redeem(at_other.get(), kind->id(), Obtain(*kind, "r")).status(), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  v1::GetClearingStatementRequest req;
  req.set_issuer_subscriber_id(*issuer_->certificate.SubjectAttribute("serialNumber"));
  req.set_acceptor_subscriber_id(*acceptor_->certificate.SubjectAttribute("serialNumber"));
  *req.mutable_from() = ToTimestamp(from);
  *req.mutable_until() = ToTimestamp(absl::Now());
  req.mutable_until()->set_nanos(req.until().nanos() / 1000 * 1000 + 500);  // below the microsecond
  std::string hash;
  for (const Suite::Subscriber* side : {&*issuer_, &*acceptor_}) {
    v1::GetClearingStatementResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(StubAs(*side)->GetClearingStatement(&ctx, req, &resp).ok());
    v1::ClearingStatement st;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(resp.statement(), &st).ok());
    // The bounds it signs are the bounds it counted: to the microsecond, as redemptions are dated.
    EXPECT_EQ(st.until().seconds(), req.until().seconds());
    EXPECT_EQ(st.until().nanos(), req.until().nanos() - 500);
    // The same period asked for again (by the other side): the same redemptions.
    if (!hash.empty()) EXPECT_EQ(st.redemptions_sha256(), hash);
    hash = st.redemptions_sha256();
    ASSERT_EQ(st.lines_size(), 1);
    EXPECT_EQ(st.lines(0).redemptions(), 3);
    EXPECT_EQ(st.lines(0).value().minor_units(), 870);
    dir_.Write("c.json", resp.statement());
    dir_.Write("c.sig", resp.signature());
    auto r = RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", dir_.path() + "/c.sig",
                         "-content", dir_.path() + "/c.json", "-CAfile", suite_->P("pki/root.pem"), "-purpose", "any",
                         "-out", "/dev/null"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
  }
  // Not for a third party.
  v1::GetClearingStatementResponse resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(at_other->GetClearingStatement(&ctx, req, &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(TokenTest, ATenRidePassLosesARideEachUseAndTheLastIsTakenOnce) {
  auto pass = IssueCredential(*issuer_, holder_->certificate, "pass", 10);
  ASSERT_THAT(pass.status(), IsOk());
  EXPECT_EQ(pass->uses_left(), 10);
  // Anyone checks it offline: the statement and the CA's signature, with openssl.
  dir_.Write("pass.json", pass->statement());
  dir_.Write("pass.sig", pass->signature());
  auto r = RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", dir_.path() + "/pass.sig",
                       "-content", dir_.path() + "/pass.json", "-CAfile", suite_->P("pki/root.pem"), "-purpose", "any",
                       "-out", "/dev/null"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  v1::CredentialStatement cs;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(pass->statement(), &cs).ok());
  EXPECT_EQ(cs.holder_key_sha256(), Sha256(holder_->certificate.SpkiDer()));
  EXPECT_EQ(cs.issuer_name(), "Rhine Transit GmbH");

  auto stub = StubAs(*acceptor_);
  auto first = Use(stub.get(), Presentation(*pass, *acceptor_, *holder_));
  ASSERT_THAT(first.status(), IsOk());
  EXPECT_EQ(first->uses_left(), 9);
  // 32 presentations at once, at two replicas, for the 9 rides left: exactly 9 accepted.
  std::vector<v1::RedeemCredentialRequest> presentations;
  for (int i = 0; i < 32; ++i) presentations.push_back(Presentation(*pass, *acceptor_, *holder_));
  std::atomic<int> ready{0}, accepted{0}, used{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 32; ++c) {
    clients.emplace_back([&, c] {
      auto s = StubAs(*acceptor_, c % 2 == 0 ? "ca" : "ca2");
      ++ready;
      while (ready.load() < 32) std::this_thread::yield();
      auto u = Use(s.get(), presentations[c]);
      if (u.ok()) {
        ++accepted;
      } else if (ReasonOf(u.status()) == v1::ALREADY_USED) {
        ++used;
      } else {
        ++other;
        ADD_FAILURE() << u.status();
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(accepted.load(), 9);
  EXPECT_EQ(used.load(), 23);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Sql("SELECT uses_left FROM ca.credentials"), "0");
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.credential_uses"), "10");
  EXPECT_THAT(Use(stub.get(), Presentation(*pass, *acceptor_, *holder_)).status(),
              StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("no use left: all 10 were taken")));
  auto state = [&] {
    v1::GetCredentialRequest g;
    g.set_credential_id(pass->credential_id());
    v1::Credential c;
    grpc::ClientContext ctx;
    EXPECT_TRUE(Stub()->GetCredential(&ctx, g, &c).ok());
    return c;
  }();
  EXPECT_EQ(state.uses_left(), 0);
  EXPECT_TRUE(state.has_last_used_at());
}

TEST_F(TokenTest, ACredentialIsRefusedWhenForgedExpiredReplayedOrNotPresentedByItsHolder) {
  auto ticket = IssueCredential(*issuer_, holder_->certificate, "ticket", 1);
  ASSERT_THAT(ticket.status(), IsOk());
  auto stub = StubAs(*acceptor_);
  // Someone else presents it (the acceptor itself, signing the presentation).
  EXPECT_THAT(Use(stub.get(), Presentation(*ticket, *acceptor_, *acceptor_)).status(),
              StatusWithMessage(absl::StatusCode::kPermissionDenied, HasSubstr("other than its holder")));
  // Made for another acceptor.
  EXPECT_THAT(Use(stub.get(), Presentation(*ticket, *other_, *holder_)).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // Forged: more uses written into the statement.
  v1::Credential forged = *ticket;
  std::string st = forged.statement();
  st.replace(st.find("\"uses\":1"), 8, "\"uses\":9");
  forged.set_statement(st);
  EXPECT_THAT(Use(stub.get(), Presentation(forged, *acceptor_, *holder_)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  // Only an enterprise issues.
  EXPECT_THAT(IssueCredential(*holder_, holder_->certificate, "pass", 5).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(IssueCredential(*issuer_, holder_->certificate, "coupon", 5).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A replayed presentation counts once.
  v1::RedeemCredentialRequest once = Presentation(*ticket, *acceptor_, *holder_);
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.credential_uses"), "0");
  ASSERT_THAT(Use(stub.get(), once).status(), IsOk());
  auto membership = IssueCredential(*issuer_, holder_->certificate, "membership", 0);
  ASSERT_THAT(membership.status(), IsOk());
  v1::RedeemCredentialRequest m = Presentation(*membership, *acceptor_, *holder_);
  auto mu = Use(stub.get(), m);
  ASSERT_THAT(mu.status(), IsOk());
  EXPECT_EQ(mu->uses_left(), -1);  // unlimited
  EXPECT_THAT(Use(stub.get(), m).status(),
              StatusWithMessage(absl::StatusCode::kFailedPrecondition, HasSubstr("presentation")));
  // Expired: valid for a second.
  auto brief = IssueCredential(*issuer_, holder_->certificate, "voucher", 3, absl::Seconds(1));
  ASSERT_THAT(brief.status(), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_THAT(Use(stub.get(), Presentation(*brief, *acceptor_, *holder_)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::EXPIRED));
  // Without an acceptor's certificate.
  EXPECT_THAT(Use(Stub().get(), Presentation(*membership, *acceptor_, *holder_)).status(),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.credential_uses"), "2");
  // A holder under a pseudonym: bound to the pseudonym's key.
  auto pseudonym = suite_->IssuePseudonym(*holder_, v1::PSEUDONYM_KIND_TRANSACTION);
  ASSERT_THAT(pseudonym.status(), IsOk());
  auto anonymous = IssueCredential(*issuer_, pseudonym->certificate, "ticket", 1);
  ASSERT_THAT(anonymous.status(), IsOk());
  EXPECT_EQ(anonymous->statement().find("Hanna"), std::string::npos);
  EXPECT_THAT(Use(stub.get(), Presentation(*anonymous, *acceptor_, *holder_)).status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Use(stub.get(), Presentation(*anonymous, *acceptor_, *pseudonym)).status(), IsOk());
}

TEST_F(TokenTest, IssuersHoldersAndAcceptorsUseSemperctl) {
  const std::string pass = "wallet passphrase";
  dir_.Write("wallet.pass", pass);
  const std::string ca_pem = ::semper::testing::Slurp(suite_->P("pki/ca.pem"));
  const std::string issuer =
      ::semper::testing::WriteWallet(dir_, "issuer", issuer_->key, issuer_->certificate, ca_pem, pass);
  const std::string holder =
      ::semper::testing::WriteWallet(dir_, "holder", holder_->key, holder_->certificate, ca_pem, pass);
  dir_.Write("acceptor.pem", acceptor_->authentication_certificate->Pem() + ca_pem);
  dir_.Write("acceptor.key", *acceptor_->authentication_key->ToEncryptedPem(SecretData(pass)));
  const std::string P = dir_.path() + "/";
  auto ctl = [&](std::vector<std::string> args, bool as_acceptor = false) {
    std::vector<std::string> argv = {SEMPERCTL,
                                     "--server",
                                     "127.0.0.1:" + std::to_string(suite_->port("ca")),
                                     "--server-name",
                                     "localhost",
                                     "--ca-file",
                                     suite_->P("pki/root.pem"),
                                     "--yes"};
    if (as_acceptor) {
      argv.insert(argv.end(), {"--cert", P + "acceptor.pem", "--key", P + "acceptor.key", "--key-passphrase-file",
                               P + "wallet.pass"});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  };
  auto made = ctl({"token", "kind", "create", "--wallet", issuer, "--wallet-passphrase-file", P + "wallet.pass",
                   "--name", "Single ride", "--value", "2.90", "--valid-days", "30"});
  ASSERT_EQ(made.exit_code, 0) << made.Describe();
  EXPECT_THAT(made.out, HasSubstr("face value:  2.90 EUR"));  // shown before signing
  std::smatch m;
  ASSERT_TRUE(std::regex_search(made.out, m, std::regex("Token kind (K-[0-9a-f]+)"))) << made.out;
  const std::string kind = m[1].str();
  auto blinded = ctl({"token", "blind", "--kind", kind, "--message", "ride 1", "--out", P + "t"});
  ASSERT_EQ(blinded.exit_code, 0) << blinded.Describe();
  auto signed_ = ctl({"token", "sign", "--kind", kind, "--blinded", P + "t.blinded", "--wallet", issuer,
                      "--wallet-passphrase-file", P + "wallet.pass", "--out", P + "t.bsig"});
  ASSERT_EQ(signed_.exit_code, 0) << signed_.Describe();
  auto finalized =
      ctl({"token", "finalize", "--state", P + "t.state", "--blind-signature", P + "t.bsig", "--out", P + "t.token"});
  ASSERT_EQ(finalized.exit_code, 0) << finalized.Describe();
  auto redeemed = ctl({"token", "redeem", "--token", P + "t.token"}, true);
  EXPECT_EQ(redeemed.exit_code, 0) << redeemed.Describe();
  EXPECT_THAT(redeemed.out, HasSubstr("Accepted"));
  auto again = ctl({"token", "redeem", "--token", P + "t.token"}, true);
  EXPECT_NE(again.exit_code, 0);
  EXPECT_THAT(again.err, HasSubstr("redeemed before"));

  auto issued = ctl({"credential", "issue", "--wallet", issuer, "--wallet-passphrase-file", P + "wallet.pass",
                     "--holder", holder + "/signature.pem", "--kind", "pass", "--rights", "10 rides, zones A-B",
                     "--uses", "10", "--out", P + "pass.json"});
  ASSERT_EQ(issued.exit_code, 0) << issued.Describe();
  EXPECT_THAT(issued.out, HasSubstr("rights: 10 rides, zones A-B"));
  auto verified = ctl({"credential", "verify", "--credential", P + "pass.json"});
  EXPECT_EQ(verified.exit_code, 0) << verified.Describe();
  const std::string acceptor_id = *acceptor_->certificate.SubjectAttribute("serialNumber");
  auto presented = ctl({"credential", "present", "--credential", P + "pass.json", "--acceptor", acceptor_id, "--wallet",
                        holder, "--wallet-passphrase-file", P + "wallet.pass", "--out", P + "p.json"});
  ASSERT_EQ(presented.exit_code, 0) << presented.Describe();
  auto used = ctl({"credential", "redeem", "--presentation", P + "p.json"}, true);
  EXPECT_EQ(used.exit_code, 0) << used.Describe();
  EXPECT_THAT(used.out, HasSubstr("9 left"));

  // A statement is for a period that has ended: up to the next whole second, once it has passed.
  const absl::Time until = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) + 1);
  absl::SleepFor(until - absl::Now() + absl::Milliseconds(50));
  auto clearing = ctl({"token", "clearing", "--issuer", *issuer_->certificate.SubjectAttribute("serialNumber"),
                       "--acceptor", acceptor_id, "--from", "2020-01-01T00:00:00Z", "--until",
                       absl::FormatTime(absl::RFC3339_sec, until, absl::UTCTimeZone()), "--out", P + "clearing"},
                      true);
  ASSERT_EQ(clearing.exit_code, 0) << clearing.Describe();
  EXPECT_THAT(clearing.out, HasSubstr("Single ride"));
  EXPECT_THAT(clearing.out, HasSubstr("2.90 EUR"));
  EXPECT_THAT(clearing.out, HasSubstr("pass"));
}

// Whoever saw an organisation's signed CreateTokenKind request sends it again and again: each
// copy would cost the CA an RSA key and a row. The same request makes one kind, returned again.
TEST_F(TokenTest, AReplayedKindRequestMakesNoSecondKind) {
  v1::TokenKindRequestStatement st;
  st.set_type("semper-token-kind-request");
  st.set_name("Replayed ride");
  *st.mutable_valid_until() = ToTimestamp(absl::Now() + absl::Hours(24 * 30));
  *st.mutable_made_at() = ToTimestamp(absl::Now());
  v1::CreateTokenKindRequest req;
  req.set_signature(Signed(*issuer_, st, req.mutable_request()));
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    v1::TokenKind kind;
    grpc::ClientContext ctx;
    ASSERT_TRUE(Stub(i == 1 ? "ca2" : "ca")->CreateTokenKind(&ctx, req, &kind).ok()) << i;
    ids.insert(kind.id());
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.token_kinds WHERE name = 'Replayed ride'"), "1");
}

class TokenLimitTest : public TokenTest {
 protected:
  void SetUp() override {
    // A bucket of 250 that refills slowly, so that what a key costs is seen however long the
    // sanitizer build takes to make one.
    common_env_ = {"SEMPER_LIMITS_PER_SECOND=1", "SEMPER_LIMITS_BURST=250"};
    TokenTest::SetUp();
  }
};

// Copies of one signed request sent at once, from four callers (a replay by whoever saw it, or
// an impatient client): one RSA key is made and the organisation is charged once; the copies are
// told to come back for the kind (RESOURCE_EXHAUSTED with a retry hint) and then get it. Before,
// each copy in flight made its own key and was charged to the organisation, whose next request
// was then refused.
TEST_F(TokenLimitTest, CopiesOfARequestInFlightMakeOneKeyAndChargeTheOrganisationOnce) {
  v1::TokenKindRequestStatement st;
  st.set_type("semper-token-kind-request");
  st.set_name("Copied ride");
  *st.mutable_valid_until() = ToTimestamp(absl::Now() + absl::Hours(24 * 30));
  *st.mutable_made_at() = ToTimestamp(absl::Now());
  v1::CreateTokenKindRequest req;
  req.set_signature(Signed(*issuer_, st, req.mutable_request()));
  const std::vector<const Suite::Subscriber*> callers = {&*issuer_, &*acceptor_, &*other_, &*holder_};
  std::vector<absl::StatusOr<v1::TokenKind>> answers(callers.size(), absl::UnknownError("not asked"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < callers.size(); ++i) {
    threads.emplace_back([&, i] {
      v1::TokenKind kind;
      grpc::ClientContext ctx;
      grpc::Status s = StubAs(*callers[i])->CreateTokenKind(&ctx, req, &kind);
      answers[i] = s.ok() ? absl::StatusOr<v1::TokenKind>(kind) : absl::StatusOr<v1::TokenKind>(FromGrpcStatus(s));
    });
  }
  for (auto& t : threads) t.join();
  std::string id;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (answers[i].ok()) {
      if (id.empty()) id = answers[i]->id();
      EXPECT_EQ(answers[i]->id(), id);
    } else {
      EXPECT_THAT(answers[i].status(), StatusIs(absl::StatusCode::kResourceExhausted)) << i;
      EXPECT_THAT(std::string(answers[i].status().message()), HasSubstr("being made now")) << i;
    }
  }
  // Once it is stored, each copy gets the same kind.
  for (int wait = 0; Sql("SELECT count(*) FROM ca.token_kinds WHERE name = 'Copied ride'") == "0" && wait < 300;
       ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (size_t i = 0; i < callers.size(); ++i) {
    if (answers[i].ok()) continue;
    v1::TokenKind kind;
    grpc::ClientContext ctx;
    grpc::Status s = StubAs(*callers[i])->CreateTokenKind(&ctx, req, &kind);
    ASSERT_TRUE(s.ok()) << i << ": " << s.error_message();
    if (id.empty()) id = kind.id();
    EXPECT_EQ(kind.id(), id) << i;
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.token_kinds WHERE name = 'Copied ride'"), "1");
  // Charged once: the organisation's next kind fits in its budget (sent by a caller whose own
  // budget is untouched, so that only the organisation's counts).
  auto courier = suite_->Enroll("Courier GmbH", v1::CUSTOMER_KIND_ENTERPRISE);
  ASSERT_THAT(courier.status(), IsOk());
  v1::TokenKindRequestStatement next = st;
  next.set_name("Next ride");
  *next.mutable_made_at() = ToTimestamp(absl::Now());
  v1::CreateTokenKindRequest next_req;
  next_req.set_signature(Signed(*issuer_, next, next_req.mutable_request()));
  v1::TokenKind kind;
  grpc::ClientContext ctx;
  grpc::Status s = StubAs(*courier)->CreateTokenKind(&ctx, next_req, &kind);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// An enterprise (or anyone from its address) asking for token kinds as fast as it can: each costs
// the CA an RSA key (~0.2 s of CPU), so each is charged as a hundred ordinary calls: two fit in a
// burst of 250 (after the enrolments of the set-up), the third waits for tokens.
TEST_F(TokenLimitTest, CreatingTokenKindsIsChargedWhatItCosts) {
  ASSERT_THAT(CreateKind(*issuer_, "Ride one").status(), IsOk());
  ASSERT_THAT(CreateKind(*issuer_, "Ride two").status(), IsOk());
  absl::StatusOr<v1::TokenKind> third = CreateKind(*issuer_, "Ride three");
  EXPECT_THAT(third.status(), StatusIs(absl::StatusCode::kResourceExhausted, v1::LIMIT_EXCEEDED));
  ASSERT_TRUE(RetryAfterOf(third.status()).has_value());
  EXPECT_GE(*RetryAfterOf(third.status()), absl::Seconds(20));  // tens of tokens at 1/s
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.token_kinds"), "2");
  // Cheap calls are not limited meanwhile.
  v1::GetTokenKindRequest get;
  get.set_kind_id(Sql("SELECT min(id) FROM ca.token_kinds"));
  v1::TokenKind kind;
  grpc::ClientContext ctx;
  EXPECT_TRUE(Stub()->GetTokenKind(&ctx, get, &kind).ok());
}

}  // namespace
}  // namespace semper
