// Renewal of a subscriber's certificates on proof of its authentication key (issue 23), against
// semper-ca as a process on a real PostgreSQL: called as every kind of caller, in and out of the
// renewal window, after holds, suspensions and keyCompromise revocations, many times at once;
// and through semperctl renew, once (with a lost answer retried) and as a daemon across two
// renewals of certificates that live a minute.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>

#include <filesystem>
#include <regex>
#include <thread>

#include "common/base/status.h"
#include "common/crypto/certificate.h"
#include "common/crypto/csr.h"
#include "common/server/grpc_status.h"
#include "common/server/peer.h"
#include "semper/v1/ca.grpc.pb.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/suite.h"
#include "tests/support/weak_keys.h"

namespace semper {
namespace {

using ::semper::testing::ChildProcess;
using ::semper::testing::CommandResult;
using ::semper::testing::IsOk;
using ::semper::testing::RunCommand;
using ::semper::testing::Slurp;
using ::semper::testing::StatusIs;
using ::semper::testing::Suite;
using ::semper::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kPass[] = "renewal test passphrase";
constexpr char kWalletPass[] = "wallet passphrase";

class RenewalTest : public ::semper::testing::PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    auto o = Suite::Options::Only({}, conninfo());
    o.passphrase = kPass;
    auto suite = Suite::Init(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
    ASSERT_THAT(suite_->StartDaemon("ca", ExtraEnv()), IsOk());
    dir_.Write("pass", kPass);
    dir_.Write("wpass", kWalletPass);
  }
  // The window open from a certificate's first day, unless a test says otherwise.
  virtual std::vector<std::string> ExtraEnv() { return {"SEMPER_CA_RENEWAL_WINDOW=19200h"}; }

  std::string P(const std::string& name) const { return dir_.path() + "/" + name; }
  std::string Count(const std::string& sql) { return *postgres().Query(database(), sql); }

  std::unique_ptr<v1::CertificationAuthority::Stub> As(const Suite::Subscriber& who) {
    return v1::CertificationAuthority::NewStub(suite_->ChannelAs("ca", who));
  }
  std::unique_ptr<v1::CertificationAuthority::Stub> Admin() {
    return v1::CertificationAuthority::NewStub(suite_->Channel("ca", "admin"));
  }

  struct Request {
    v1::RenewRequest request;
    PrivateKey authentication_key, signature_key;
  };
  static Request Fresh() {
    Request r{{}, *PrivateKey::Generate(KeyType::kEcP256), *PrivateKey::Generate(KeyType::kEcP256)};
    r.request.set_authentication_csr(CertificationRequest::Create(r.authentication_key, {})->Der());
    r.request.set_signature_csr(CertificationRequest::Create(r.signature_key, {})->Der());
    return r;
  }
  static absl::Status Renew(v1::CertificationAuthority::Stub* stub, const v1::RenewRequest& req,
                            v1::EnrollResponse* resp = nullptr) {
    v1::EnrollResponse local;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return FromGrpcStatus(stub->Renew(&ctx, req, resp != nullptr ? resp : &local));
  }
  // The subscriber a renewal made (its keys, its certificates).
  static Suite::Subscriber Renewed(const Request& r, const v1::EnrollResponse& resp) {
    return {r.signature_key, *Certificate::FromDer(resp.signature().certificate()), r.authentication_key,
            *Certificate::FromDer(resp.authentication().certificate())};
  }
  absl::Status Revoke(const std::string& serial, v1::RevocationReason reason) {
    v1::RevokeCertificateRequest r;
    r.set_serial(serial);
    r.set_reason(reason);
    v1::RevokeCertificateResponse resp;
    grpc::ClientContext ctx;
    return FromGrpcStatus(Admin()->RevokeCertificate(&ctx, r, &resp));
  }
  v1::CertificateStatus Status(const std::string& serial) {
    v1::GetCertificateStatusRequest r;
    r.set_serial(serial);
    v1::CertificateStatus st;
    grpc::ClientContext ctx;
    EXPECT_TRUE(Admin()->GetCertificateStatus(&ctx, r, &st).ok());
    return st;
  }
  // Refused because the certificate presented is revoked or on hold: by the access gate (which
  // hears of it through the revocation feed within about 100 ms) or, before that, by the handler.
  static bool RefusedAsRevoked(const absl::Status& s) {
    const bool gate = s.code() == absl::StatusCode::kUnauthenticated &&
                      std::string(s.message()).find("is revoked or on hold") != std::string::npos;
    const bool handler = s.code() == absl::StatusCode::kFailedPrecondition && ReasonOf(s) == v1::CERTIFICATE_REVOKED;
    EXPECT_TRUE(gate || handler) << s;
    return gate || handler;
  }
  // A new enrolment code for subscriber `id` (as the administrator), and an enrolment with it.
  absl::StatusOr<Suite::Subscriber> EnrolAgain(const std::string& id) {
    v1::IssueEnrolmentCodeRequest req;
    req.set_subscriber_id(id);
    v1::RegisterSubscriberResponse code;
    grpc::ClientContext ctx;
    if (grpc::Status s = Admin()->IssueEnrolmentCode(&ctx, req, &code); !s.ok()) return FromGrpcStatus(s);
    SEMPER_ASSIGN_OR_RETURN(auto enrolment, suite_->NewEnrolment(code.enrolment_code()));
    return suite_->Complete(enrolment);
  }
  std::string SubscriberCertificates() {
    return Count("SELECT count(*) FROM ca.certificates WHERE subscriber_id IS NOT NULL");
  }

  // semperctl as the holder of a wallet (no client certificate of its own: renew presents the
  // wallet's).
  CommandResult Ctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {SEMPERCTL,         "--server",  "127.0.0.1:" + std::to_string(suite_->port("ca")),
                                     "--server-name",   "localhost", "--ca-file",
                                     P("pki/root.pem"), "--yes"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
  CommandResult AsAdmin(std::vector<std::string> args) {
    std::vector<std::string> all = {
        "--cert", P("pki/admin/admin.pem"), "--key", P("pki/admin/admin.key"), "--key-passphrase-file", P("pass")};
    all.insert(all.end(), args.begin(), args.end());
    return Ctl(all);
  }
  // Registers `name` and enrols a wallet through semperctl; returns the wallet's directory.
  std::string Wallet(const std::string& name) {
    auto r = AsAdmin({"subscriber", "register", "--name", name, "--kind", "enterprise", "--country", "DE", "--law",
                      "DE", "--vat", "VATDE-123456789", "--email", "ops@example.de"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    std::smatch m;
    EXPECT_TRUE(std::regex_search(r.out, m, std::regex("Enrolment code: ([A-Z0-9-]+)"))) << r.out;
    const std::string wallet = P("wallet-" + std::to_string(wallets_++));
    auto e = Ctl({"enroll", "--code", m.size() > 1 ? m[1].str() : "", "--wallet", wallet, "--wallet-passphrase-file",
                  P("wpass")});
    EXPECT_EQ(e.exit_code, 0) << e.Describe();
    return wallet;
  }
  static Certificate First(const std::string& pem_file) { return Certificate::ChainFromPem(Slurp(pem_file))->front(); }
  CommandResult OpensslVerify(const std::string& pem_file) {
    return RunCommand({"openssl", "verify", "-CAfile", P("pki/root.pem"), "-untrusted", P("pki/ca.pem"), pem_file});
  }

  TempDir dir_;
  std::unique_ptr<Suite> suite_;
  int wallets_ = 0;
};

// Who may renew: the subscriber, with its own authentication certificate as the CA issued it.
// Everyone else, and every other certificate, is refused, and nothing is written.
TEST_F(RenewalTest, OnlyTheSubscribersOwnAuthenticationCertificateRenews) {
  auto alice = suite_->Enroll("Alice Renewal", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(alice.status(), IsOk());
  const std::string before = SubscriberCertificates();
  const Request req = Fresh();

  EXPECT_THAT(Renew(v1::CertificationAuthority::NewStub(suite_->Channel("ca")).get(), req.request),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Renew(Admin().get(), req.request), StatusIs(absl::StatusCode::kPermissionDenied));
  // Her signature certificate and key as the TLS client (no clientAuth, no role): not a proof.
  Suite::Subscriber by_signature{alice->key, alice->certificate, alice->key, alice->certificate};
  // (The TLS layer refuses it already: no clientAuth.)
  auto sig_refused = Renew(As(by_signature).get(), req.request);
  EXPECT_TRUE(sig_refused.code() == absl::StatusCode::kUnavailable ||
              sig_refused.code() == absl::StatusCode::kPermissionDenied)
      << sig_refused;
  // A certificate with her subject, the subscriber role and clientAuth, signed by the issuing
  // CA's key but not by the CA's issuance (what someone with a copy of ca.key could make): the
  // register does not know it.
  {
    auto ca_key = PrivateKey::FromPem(Slurp(P("pki/ca.key")), SecretData(kPass));
    ASSERT_THAT(ca_key.status(), IsOk());
    auto ca = Certificate::FromPem(Slurp(P("pki/ca.pem")));
    PrivateKey key = *PrivateKey::Generate(KeyType::kEcP256);
    CertificateTemplate t;
    t.subject = {{"C", "DE"}, {"serialNumber", *alice->authentication_certificate->SubjectAttribute("serialNumber")}};
    for (auto& a : RoleSubjectAttributes({Role::kSubscriber})) t.subject.push_back(a);
    t.subject.push_back({"CN", "Alice Renewal"});
    t.not_before = absl::Now() - absl::Hours(1);
    t.not_after = absl::Now() + absl::Hours(1);
    t.key_usage = kKuDigitalSignature;
    t.extended_key_usage = {"clientAuth"};
    auto forged = IssueCertificate(t, key.public_key(), &*ca, *ca_key);
    ASSERT_THAT(forged.status(), IsOk());
    Suite::Subscriber forger{key, *forged, key, *forged};
    EXPECT_THAT(Renew(As(forger).get(), req.request), StatusIs(absl::StatusCode::kPermissionDenied));
  }
  // Bad requests from Alice herself: garbage, one key twice, her current keys, forgeable keys.
  {
    v1::RenewRequest garbage = req.request;
    garbage.set_signature_csr("not a CSR");
    EXPECT_THAT(Renew(As(*alice).get(), garbage), StatusIs(absl::StatusCode::kInvalidArgument));
    v1::RenewRequest same = req.request;
    same.set_signature_csr(req.request.authentication_csr());
    EXPECT_THAT(Renew(As(*alice).get(), same), StatusIs(absl::StatusCode::kInvalidArgument));
    v1::RenewRequest current;
    current.set_authentication_csr(CertificationRequest::Create(*alice->authentication_key, {})->Der());
    current.set_signature_csr(CertificationRequest::Create(alice->key, {})->Der());
    auto refused = Renew(As(*alice).get(), current);
    EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(std::string(refused.message()), HasSubstr("certified before"));
    for (const auto& weak : ::semper::testing::ForgedRequests("")) {
      v1::RenewRequest w = req.request;
      w.set_signature_csr(weak.der);
      auto weak_refused = Renew(As(*alice).get(), w);
      EXPECT_THAT(weak_refused, StatusIs(absl::StatusCode::kInvalidArgument)) << weak.name << ": " << weak_refused;
    }
  }
  EXPECT_EQ(SubscriberCertificates(), before);
  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE renewed_from IS NOT NULL"), "0");

  // Alice renews: two certificates for the new keys, the subject from her record, chains that
  // openssl verifies; a retry gets the same two; other keys are a second renewal, refused.
  v1::EnrollResponse renewed, again;
  ASSERT_THAT(Renew(As(*alice).get(), req.request, &renewed), IsOk());
  auto new_auth = Certificate::FromDer(renewed.authentication().certificate());
  auto new_sig = Certificate::FromDer(renewed.signature().certificate());
  ASSERT_THAT(new_auth.status(), IsOk());
  ASSERT_THAT(new_sig.status(), IsOk());
  EXPECT_EQ(new_auth->SpkiDer(), req.authentication_key.public_key().Der());
  EXPECT_EQ(new_sig->SpkiDer(), req.signature_key.public_key().Der());
  EXPECT_EQ(new_auth->Subject(), alice->authentication_certificate->Subject());
  EXPECT_EQ(new_sig->Subject(), alice->certificate.Subject());
  EXPECT_EQ(renewed.subscriber_id(), *alice->certificate.SubjectAttribute("serialNumber"));
  dir_.Write("renewed-auth.pem", renewed.authentication().chain_pem());
  dir_.Write("renewed-sig.pem", renewed.signature().chain_pem());
  EXPECT_EQ(OpensslVerify(P("renewed-auth.pem")).exit_code, 0) << OpensslVerify(P("renewed-auth.pem")).Describe();
  EXPECT_EQ(OpensslVerify(P("renewed-sig.pem")).exit_code, 0);
  ASSERT_THAT(Renew(As(*alice).get(), req.request, &again), IsOk());
  EXPECT_EQ(again.authentication().serial(), renewed.authentication().serial());
  EXPECT_EQ(again.signature().serial(), renewed.signature().serial());
  auto second = Renew(As(*alice).get(), Fresh().request);
  EXPECT_EQ(ReasonOf(second), v1::ALREADY_USED) << second;
  EXPECT_THAT(std::string(second.message()), HasSubstr(renewed.authentication().serial()));
  // Her old certificates stay good; the new authentication certificate renews in its turn.
  EXPECT_EQ(Status(alice->authentication_certificate->SerialHex()).state(), v1::CERTIFICATE_STATE_GOOD);
  EXPECT_EQ(Status(alice->certificate.SerialHex()).state(), v1::CERTIFICATE_STATE_GOOD);
  EXPECT_THAT(Renew(As(Renewed(req, renewed)).get(), Fresh().request), IsOk());
  // The new signature certificate does not authenticate a renewal.
  const Suite::Subscriber new_by_signature{req.signature_key, *new_sig, req.signature_key, *new_sig};
  auto new_sig_refused = Renew(As(new_by_signature).get(), Fresh().request);
  EXPECT_TRUE(new_sig_refused.code() == absl::StatusCode::kUnavailable ||
              new_sig_refused.code() == absl::StatusCode::kPermissionDenied)
      << new_sig_refused;
  EXPECT_EQ(SubscriberCertificates(), std::to_string(std::stoi(before) + 4));
  EXPECT_EQ(Count("SELECT count(*) FROM ca.subscriber_changes WHERE action = 'renewed'"), "2");
  EXPECT_EQ(Count("SELECT count(*) FROM ca.audit WHERE action = 'renewal answered again'"), "1");

  // Another subscriber's renewal leaves Alice's alone.
  auto bob = suite_->Enroll("Bob Renewal", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(bob.status(), IsOk());
  v1::EnrollResponse bobs;
  ASSERT_THAT(Renew(As(*bob).get(), Fresh().request, &bobs), IsOk());
  EXPECT_EQ(bobs.subscriber_id(), *bob->certificate.SubjectAttribute("serialNumber"));
  EXPECT_NE(bobs.subscriber_id(), renewed.subscriber_id());
}

// A certificate on hold, a suspended subscriber, a revoked certificate: no renewal. A
// keyCompromise of a certificate revokes what was renewed from it and closes renewal for the
// subscriber until an officer's new code.
TEST_F(RenewalTest, HoldsSuspensionsAndKeyCompromiseStopRenewal) {
  auto carol = suite_->Enroll("Carol Renewal", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(carol.status(), IsOk());
  const std::string carol_id = *carol->certificate.SubjectAttribute("serialNumber");
  const std::string a1 = carol->authentication_certificate->SerialHex();
  const std::string before = SubscriberCertificates();

  ASSERT_THAT(Revoke(a1, v1::REVOCATION_REASON_CERTIFICATE_HOLD), IsOk());
  EXPECT_TRUE(RefusedAsRevoked(Renew(As(*carol).get(), Fresh().request)));
  auto release = AsAdmin({"certificate", "release-hold", a1});
  ASSERT_EQ(release.exit_code, 0) << release.Describe();
  auto suspend = AsAdmin({"subscriber", "suspend", carol_id, "--reason", "test"});
  ASSERT_EQ(suspend.exit_code, 0) << suspend.Describe();
  EXPECT_TRUE(RefusedAsRevoked(Renew(As(*carol).get(), Fresh().request)));  // its certificates are on hold
  EXPECT_EQ(SubscriberCertificates(), before);
  auto reactivate = AsAdmin({"subscriber", "reactivate", carol_id});
  ASSERT_EQ(reactivate.exit_code, 0) << reactivate.Describe();

  // Someone with Carol's authentication key renews first (A2, S2 for the thief's keys); Carol's
  // own renewal is then refused, which tells her; she revokes A1 for keyCompromise: A2 and S2
  // go with it, their keys are blocked, and the thief's A2 cannot renew.
  Request thief = Fresh();
  v1::EnrollResponse stolen;
  ASSERT_THAT(Renew(As(*carol).get(), thief.request, &stolen), IsOk());
  EXPECT_EQ(ReasonOf(Renew(As(*carol).get(), Fresh().request)), v1::ALREADY_USED);
  // A second lineage: Carol enrols again with a new code (B1), before the compromise is known.
  auto b1 = EnrolAgain(carol_id);
  ASSERT_THAT(b1.status(), IsOk());

  ASSERT_THAT(Revoke(a1, v1::REVOCATION_REASON_KEY_COMPROMISE), IsOk());
  for (const auto& serial : {stolen.authentication().serial(), stolen.signature().serial()}) {
    v1::CertificateStatus st = Status(serial);
    EXPECT_EQ(st.state(), v1::CERTIFICATE_STATE_REVOKED) << serial;
    EXPECT_EQ(st.reason(), v1::REVOCATION_REASON_KEY_COMPROMISE) << serial;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM ca.blocked_keys WHERE reason = 'keyCompromise of the certificate it was "
                  "renewed from'"),
            "2");
  EXPECT_TRUE(RefusedAsRevoked(Renew(As(Renewed(thief, stolen)).get(), Fresh().request)));
  // No certificate of Carol's from before the compromise renews: not B1 either.
  auto closed = Renew(As(*b1).get(), Fresh().request);
  EXPECT_EQ(ReasonOf(closed), v1::CERTIFICATE_REVOKED) << closed;
  EXPECT_THAT(std::string(closed.message()), HasSubstr("new code"));
  auto c1 = EnrolAgain(carol_id);
  ASSERT_THAT(c1.status(), IsOk());
  // B1 was issued before the compromise (and might be in the thief's copy of her wallet): it does
  // not renew, though an enrolment came after.
  auto old_lineage = Renew(As(*b1).get(), Fresh().request);
  EXPECT_EQ(ReasonOf(old_lineage), v1::CERTIFICATE_REVOKED) << old_lineage;
  // The thief's blocked keys are not certified again, by renewal or otherwise.
  Request reuse = Fresh();
  reuse.request.set_authentication_csr(thief.request.authentication_csr());
  auto blocked = Renew(As(*c1).get(), reuse.request);
  EXPECT_EQ(ReasonOf(blocked), v1::CERTIFICATE_REVOKED) << blocked;
  EXPECT_THAT(std::string(blocked.message()), HasSubstr("key compromise"));
  EXPECT_THAT(Renew(As(*c1).get(), Fresh().request), IsOk());
}

// Many renewals from one certificate at once, each on its own connection: exactly one succeeds.
TEST_F(RenewalTest, ManyRenewalsAtOnceFromOneCertificateMakeOne) {
  auto dave = suite_->Enroll("Dave Renewal", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(dave.status(), IsOk());
  constexpr int kClients = 8;
  std::vector<Request> requests;
  for (int i = 0; i < kClients; ++i) requests.push_back(Fresh());
  std::vector<absl::Status> results(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] { results[i] = Renew(As(*dave).get(), requests[i].request); });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  for (const auto& s : results) {
    if (s.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(ReasonOf(s), v1::ALREADY_USED) << s;
    }
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE renewed_from IS NOT NULL"), "2");

  // Two subscribers renewing at once with the same two new keys: one of them gets them.
  for (int round = 0; round < 4; ++round) {
    auto x = suite_->Enroll("Xena Renewal " + std::to_string(round), v1::CUSTOMER_KIND_INDIVIDUAL);
    auto y = suite_->Enroll("Yves Renewal " + std::to_string(round), v1::CUSTOMER_KIND_INDIVIDUAL);
    ASSERT_THAT(x.status(), IsOk());
    ASSERT_THAT(y.status(), IsOk());
    const Request shared = Fresh();
    absl::Status rx, ry;
    std::thread tx([&] { rx = Renew(As(*x).get(), shared.request); });
    std::thread ty([&] { ry = Renew(As(*y).get(), shared.request); });
    tx.join();
    ty.join();
    EXPECT_EQ(rx.ok() + ry.ok(), 1) << rx << " / " << ry;
    const absl::Status& refused = rx.ok() ? ry : rx;
    EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument)) << refused;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT spki_sha256 FROM ca.certificates GROUP BY spki_sha256 "
                  "HAVING count(DISTINCT subscriber_id) > 1) AS shared"),
            "0");
}

class RenewalWindowTest : public RenewalTest {
 protected:
  std::vector<std::string> ExtraEnv() override { return {}; }  // the default: the last third
};

TEST_F(RenewalWindowTest, RenewalOpensInTheLastThirdOfTheValidity) {
  auto erin = suite_->Enroll("Erin Renewal", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(erin.status(), IsOk());
  auto early = Renew(As(*erin).get(), Fresh().request);
  EXPECT_THAT(early, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ReasonOf(early), v1::WRONG_STATE);
  EXPECT_THAT(std::string(early.message()), HasSubstr("opens at"));
  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE renewed_from IS NOT NULL"), "0");
}

// semperctl renew: the new keys are kept before the CA is asked, so that a retry after a lost
// answer asks for the same keys; the wallet then holds the new keys and certificates, which
// authenticate its holder.
TEST_F(RenewalTest, SemperctlRenewsAWalletAndRetriesWithTheSameKeys) {
  const std::string wallet = Wallet("Frank Renewal GmbH");
  const std::string old_auth = First(wallet + "/authentication.pem").SerialHex();
  const std::string old_sig = First(wallet + "/signature.pem").SerialHex();
  const std::string old_key = Slurp(wallet + "/authentication.key");

  ASSERT_THAT(suite_->Stop("ca"), IsOk());
  auto lost = Ctl({"renew", "--wallet", wallet, "--wallet-passphrase-file", P("wpass")});
  EXPECT_EQ(lost.exit_code, 1) << lost.Describe();
  EXPECT_THAT(lost.err, HasSubstr("UNAVAILABLE"));
  const std::string pending = Slurp(wallet + "/authentication.key.next");
  ASSERT_FALSE(pending.empty());
  EXPECT_EQ(Slurp(wallet + "/authentication.key"), old_key);  // the wallet is unchanged
  ASSERT_THAT(suite_->StartDaemon("ca", ExtraEnv()), IsOk());

  // Another key type asked for now: the pending keys are sent all the same (the CA may have
  // certified them already, its answer lost).
  auto r = Ctl({"renew", "--wallet", wallet, "--wallet-passphrase-file", P("wpass"), "--key-type", "rsa"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("asked for again"));
  EXPECT_THAT(r.out, HasSubstr("--key-type is not followed"));
  EXPECT_THAT(r.out, HasSubstr("Renewed subscriber"));
  EXPECT_THAT(r.out, HasSubstr("(was " + old_auth + ")"));
  EXPECT_EQ(Slurp(wallet + "/authentication.key"), pending);
  for (const char* left : {"authentication.key.next", "signature.key.next", "authentication.pem.next",
                           "signature.pem.next", "chain.pem.next", "renewal.done"}) {
    EXPECT_FALSE(std::filesystem::exists(wallet + "/" + left)) << left;
  }
  const Certificate new_auth = First(wallet + "/authentication.pem");
  EXPECT_NE(new_auth.SerialHex(), old_auth);
  EXPECT_NE(First(wallet + "/signature.pem").SerialHex(), old_sig);
  EXPECT_EQ(OpensslVerify(wallet + "/authentication.pem").exit_code, 0);
  EXPECT_EQ(OpensslVerify(wallet + "/signature.pem").exit_code, 0);
  // The key file matches the certificate, and the wallet authenticates its holder: it revokes
  // its old signature certificate as itself.
  auto mod = RunCommand(
      {"openssl", "pkey", "-in", wallet + "/authentication.key", "-passin", "file:" + P("wpass"), "-pubout"});
  auto cert_key = RunCommand({"openssl", "x509", "-in", wallet + "/authentication.pem", "-noout", "-pubkey"});
  EXPECT_EQ(mod.out, cert_key.out);
  auto revoke = Ctl({"--cert", wallet + "/authentication.pem", "--key", wallet + "/authentication.key",
                     "--key-passphrase-file", P("wpass"), "certificate", "revoke", old_sig, "--reason", "superseded"});
  EXPECT_EQ(revoke.exit_code, 0) << revoke.Describe();
  // While another renewal of the wallet runs (its lock held), a second one waits for nothing and
  // changes nothing.
  {
    int fd = ::open((wallet + "/.lock").c_str(), O_RDWR | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);
    auto busy = Ctl({"renew", "--wallet", wallet, "--wallet-passphrase-file", P("wpass")});
    ::close(fd);
    EXPECT_EQ(busy.exit_code, 1) << busy.Describe();
    EXPECT_THAT(busy.err, HasSubstr("another renewal"));
    EXPECT_FALSE(std::filesystem::exists(wallet + "/authentication.key.next"));
    EXPECT_EQ(First(wallet + "/authentication.pem").SerialHex(), new_auth.SerialHex());
  }
  // A link planted where the new keys go is replaced, not written through.
  dir_.Write("victim", "untouched");
  std::filesystem::create_symlink(P("victim"), wallet + "/authentication.key.next");
  dir_.Write("wrong", "not the passphrase");
  auto wrong = Ctl({"renew", "--wallet", wallet, "--wallet-passphrase-file", P("wrong")});
  EXPECT_NE(wrong.exit_code, 0);  // a wrong passphrase changes nothing
  EXPECT_EQ(First(wallet + "/authentication.pem").SerialHex(), new_auth.SerialHex());
  auto again = Ctl({"renew", "--wallet", wallet, "--wallet-passphrase-file", P("wpass")});
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  EXPECT_EQ(Slurp(P("victim")), "untouched");
  EXPECT_FALSE(std::filesystem::is_symlink(wallet + "/authentication.key"));
  const Certificate third = First(wallet + "/authentication.pem");
  // Refused for good (the certificate revoked): the keys made for it are not kept.
  ASSERT_THAT(Revoke(third.SerialHex(), v1::REVOCATION_REASON_SUPERSEDED), IsOk());
  auto revoked = Ctl({"renew", "--wallet", wallet, "--wallet-passphrase-file", P("wpass")});
  EXPECT_EQ(revoked.exit_code, 1) << revoked.Describe();
  EXPECT_FALSE(std::filesystem::exists(wallet + "/authentication.key.next"));
  EXPECT_FALSE(std::filesystem::exists(wallet + "/renewal.pending"));
}

TEST_F(RenewalTest, AWrongPassphraseChangesNothing) {
  const std::string wallet = Wallet("Hugo Renewal GmbH");
  const std::string before = First(wallet + "/authentication.pem").SerialHex();
  // A wrong passphrase changes nothing.
  dir_.Write("wrong", "not the passphrase");
  auto wrong = Ctl({"renew", "--wallet", wallet, "--wallet-passphrase-file", P("wrong")});
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_EQ(First(wallet + "/authentication.pem").SerialHex(), before);
  EXPECT_FALSE(std::filesystem::exists(wallet + "/authentication.key.next"));
}

// Certificates that live a minute (ca.subscriber_validity): semperctl renew --daemon renews each
// when two thirds of it have passed, and the wallet keeps working across.
class RenewalDaemonTest : public RenewalTest {
 protected:
  std::vector<std::string> ExtraEnv() override { return {"SEMPER_CA_SUBSCRIBER_VALIDITY=60s"}; }
};

TEST_F(RenewalDaemonTest, TheDaemonRenewsBeforeEachEnd) {
  const std::string wallet = Wallet("Grace Renewal GmbH");
  std::set<std::string> serials = {First(wallet + "/authentication.pem").SerialHex()};
  ChildProcess daemon(
      {SEMPERCTL, "--server", "127.0.0.1:" + std::to_string(suite_->port("ca")), "--server-name", "localhost",
       "--ca-file", P("pki/root.pem"), "renew", "--daemon", "--wallet", wallet, "--wallet-passphrase-file", P("wpass")},
      P("daemon.log"));
  // Issued with not_before a minute back: 120 s of validity, renewed 20 s after enrolment, then
  // every 20 s or so.
  const absl::Time deadline = absl::Now() + absl::Seconds(100);
  while (serials.size() < 3 && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto chain = Certificate::ChainFromPem(Slurp(wallet + "/authentication.pem"));
    if (chain.ok() && !chain->empty()) serials.insert(chain->front().SerialHex());
  }
  EXPECT_EQ(serials.size(), 3u) << Slurp(P("daemon.log"));
  // Never expired in between: each renewal came before the certificate it replaced ended.
  const Certificate now = First(wallet + "/authentication.pem");
  EXPECT_GT(now.not_after(), absl::Now());
  EXPECT_EQ(OpensslVerify(wallet + "/authentication.pem").exit_code, 0);
  daemon.Signal(SIGTERM);
  daemon.Wait(5000);
  const std::string log = Slurp(P("daemon.log"));
  EXPECT_THAT(log, HasSubstr("next renewal at"));
  EXPECT_THAT(log, HasSubstr("Renewed subscriber"));
  EXPECT_EQ(Count("SELECT count(*) FROM ca.subscriber_changes WHERE action = 'renewed'"),
            std::to_string(serials.size() - 1));
}

}  // namespace
}  // namespace semper
