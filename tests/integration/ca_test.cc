// semper-ca as a process against a real PostgreSQL, driven by the real semperctl binary and by
// gRPC clients with and without certificates; what it issues checked by the openssl CLI.
#include <absl/strings/ascii.h>
#include <absl/strings/escaping.h>
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <pqxx/pqxx>
#include <regex>
#include <set>
#include <thread>

#include "common/base/status.h"
#include "common/crypto/certificate.h"
#include "common/crypto/csr.h"
#include "common/crypto/ossl.h"
#include "common/crypto/random.h"
#include "common/server/grpc_status.h"
#include "common/server/revocation_watch.h"
#include "semper/v1/ca.grpc.pb.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/suite.h"
#include "tests/support/weak_keys.h"

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
using ::testing::Not;

constexpr char kPass[] = "ca test passphrase 123";

class CaDaemonTest : public ::semper::testing::PostgresTest {
 protected:
  // semper-ca alone (and its HTTP port) on the suite's fixture; PrepareKeys may change the PKI
  // the init made before it starts.
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    auto o = Suite::Options::Only({}, conninfo());
    o.passphrase = kPass;
    o.http = {"ca"};
    auto suite = Suite::Init(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
    ASSERT_NO_FATAL_FAILURE(PrepareKeys());
    ASSERT_THAT(suite_->StartDaemon("ca", ExtraEnv()), IsOk());
    port_ = suite_->port("ca");
    http_port_ = suite_->port("ca-http");
  }

  std::string P(const std::string& name) const { return dir_.path() + "/" + name; }
  virtual void PrepareKeys() {}
  virtual std::vector<std::string> ExtraEnv() { return {}; }

  std::shared_ptr<grpc::Channel> Channel(const std::string& cert_file, const std::string& key_file,
                                         const std::string& passphrase = kPass) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Slurp(P("pki/root.pem"));
    if (!cert_file.empty()) {
      auto key = PrivateKey::FromPem(Slurp(key_file), SecretData(passphrase));
      EXPECT_THAT(key, IsOk());
      ssl.pem_private_key = std::string(key->ToUnencryptedPemSecret().Reveal());
      ssl.pem_cert_chain = Slurp(cert_file);
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_), grpc::SslCredentials(ssl), args);
  }
  std::unique_ptr<v1::CertificationAuthority::Stub> Admin() {
    return v1::CertificationAuthority::NewStub(Channel(P("pki/admin/admin.pem"), P("pki/admin/admin.key")));
  }
  std::unique_ptr<v1::CertificationAuthority::Stub> Anonymous() {
    return v1::CertificationAuthority::NewStub(Channel("", ""));
  }

  CommandResult Ctl(std::vector<std::string> args, bool as_admin = true) {
    std::vector<std::string> argv = {SEMPERCTL,         "--server",  "127.0.0.1:" + std::to_string(port_),
                                     "--server-name",   "localhost", "--ca-file",
                                     P("pki/root.pem"), "--yes"};
    if (as_admin) {
      argv.insert(argv.end(), {"--cert", P("pki/admin/admin.pem"), "--key", P("pki/admin/admin.key"),
                               "--key-passphrase-file", P("pass")});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  // Registers through semperctl; returns the enrolment code.
  std::string RegisterEnterprise(const std::string& name = "Example GmbH") {
    auto r = Ctl({"subscriber", "register", "--name", name, "--kind", "enterprise", "--country", "DE", "--law", "DE",
                  "--vat", "VATDE-123456789", "--email", "ops@example.de"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    std::smatch m;
    EXPECT_TRUE(std::regex_search(r.out, m, std::regex("Enrolment code: ([A-Z0-9-]+)"))) << r.out;
    return m.size() > 1 ? m[1].str() : "";
  }

  std::string Count(const std::string& sql) { return *postgres().Query(database(), sql); }

  v1::EnrollRequest FreshEnrollRequest(const std::string& code) {
    v1::EnrollRequest req;
    req.set_enrolment_code(code);
    req.set_authentication_csr(CertificationRequest::Create(*PrivateKey::Generate(KeyType::kEcP256), {})->Der());
    req.set_signature_csr(CertificationRequest::Create(*PrivateKey::Generate(KeyType::kEcP256), {})->Der());
    return req;
  }

  absl::Status EnrollDirect(const v1::EnrollRequest& req, v1::EnrollResponse* resp = nullptr) {
    v1::EnrollResponse local;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return FromGrpcStatus(Anonymous()->Enroll(&ctx, req, resp != nullptr ? resp : &local));
  }

  TempDir dir_;
  std::unique_ptr<Suite> suite_;
  int port_ = 0;
  int http_port_ = 0;
};

TEST_F(CaDaemonTest, RegisterEnrollAndOpensslAcceptsTheCertificates) {
  std::string code = RegisterEnterprise();
  ASSERT_EQ(code.size(), 24u);
  dir_.Write("wpass", "wallet passphrase");
  auto e = Ctl({"enroll", "--code", code, "--wallet", P("wallet"), "--wallet-passphrase-file", P("wpass")}, false);
  ASSERT_EQ(e.exit_code, 0) << e.Describe();
  EXPECT_THAT(e.out, HasSubstr("organizationIdentifier=VATDE-123456789"));

  struct stat st;
  ASSERT_EQ(stat(P("wallet").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(P("wallet/signature.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  for (const char* which : {"authentication", "signature"}) {
    auto v = RunCommand({"openssl", "verify", "-x509_strict", "-CAfile", P("pki/root.pem"), "-untrusted",
                         P("pki/ca.pem"), P(std::string("wallet/") + which + ".pem")});
    EXPECT_EQ(v.exit_code, 0) << v.Describe();
  }
  auto text = RunCommand({"openssl", "x509", "-in", P("wallet/signature.pem"), "-noout", "-subject", "-ext",
                          "keyUsage,crlDistributionPoints,authorityInfoAccess"});
  EXPECT_THAT(text.out, HasSubstr("organizationIdentifier = VATDE-123456789"));
  EXPECT_THAT(text.out, HasSubstr("Non Repudiation"));
  EXPECT_THAT(text.out, HasSubstr("/crl"));
  EXPECT_THAT(text.out, HasSubstr("OCSP - URI:"));
  auto purpose = RunCommand({"openssl", "verify", "-purpose", "sslclient", "-CAfile", P("pki/root.pem"), "-untrusted",
                             P("pki/ca.pem"), P("wallet/authentication.pem")});
  EXPECT_EQ(purpose.exit_code, 0) << purpose.Describe();
  // A local user who copies the wallet: each key is encrypted and opens with the wallet passphrase
  // only. The operator of semper-ca (its database, a backup, its log): neither key's secret is in
  // anything semper-ca received (enrolment sends CSRs).
  dir_.Write("wrong", "wallet passphrasf");
  const std::string dump = *postgres().Dump(database());
  ASSERT_THAT(dump, HasSubstr("CREATE TABLE ca.certificates"));
  const std::string log = Slurp(P("ca.log"));
  for (const char* which : {"authentication", "signature"}) {
    const std::string file = P(std::string("wallet/") + which + ".key");
    ASSERT_EQ(stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << which;
    EXPECT_THAT(Slurp(file), HasSubstr("BEGIN ENCRYPTED PRIVATE KEY")) << which;
    auto key = RunCommand({"openssl", "pkey", "-in", file, "-passin", "file:" + P("wpass"), "-noout", "-text"});
    ASSERT_EQ(key.exit_code, 0) << key.Describe();
    for (const std::string& pass : {std::string("file:") + P("wrong"), std::string("pass:")}) {
      EXPECT_NE(RunCommand({"openssl", "pkey", "-in", file, "-passin", pass, "-noout"}).exit_code, 0) << which;
    }
    auto with_wrong = Ctl({"--cert", P(std::string("wallet/") + which + ".pem"), "--key", file, "--key-passphrase-file",
                           P("wrong"), "subscriber", "list"},
                          false);
    EXPECT_EQ(with_wrong.exit_code, 2) << with_wrong.Describe();
    EXPECT_THAT(with_wrong.err, HasSubstr("wrong passphrase"));
    // The private scalar: "priv:" of openssl's dump, hex with colons, up to "pub:".
    std::smatch m;
    ASSERT_TRUE(std::regex_search(key.out, m, std::regex("priv:\\s*([0-9a-f:\\s]+)pub:"))) << key.out;
    std::string hex = std::regex_replace(m[1].str(), std::regex("[:\\s]"), "");
    if (hex.size() > 64) hex = hex.substr(hex.size() - 64);  // a leading 00
    ASSERT_EQ(hex.size(), 64u) << key.out;
    const std::string raw = absl::HexStringToBytes(hex);
    // What was sent is there: the public key (in the certificate), so the search sees such bytes.
    std::smatch pub;
    ASSERT_TRUE(std::regex_search(key.out, pub, std::regex("pub:\\s*([0-9a-f:\\s]+)"))) << key.out;
    EXPECT_THAT(dump, HasSubstr(std::regex_replace(pub[1].str(), std::regex("[:\\s]"), ""))) << which;
    for (const std::string& form : {hex, absl::AsciiStrToUpper(hex), absl::Base64Escape(raw), raw}) {
      EXPECT_EQ(dump.find(form), std::string::npos) << which << " key in semper-ca's database";
      EXPECT_EQ(log.find(form), std::string::npos) << which << " key in semper-ca's log";
    }
    // ... nor as a key file would hold it: each line of its unencrypted PKCS#8 PEM, its DER in hex.
    auto pem = RunCommand({"openssl", "pkey", "-in", file, "-passin", "file:" + P("wpass")});
    auto der = RunCommand({"openssl", "pkey", "-in", file, "-passin", "file:" + P("wpass"), "-outform", "DER"});
    ASSERT_EQ(pem.exit_code, 0) << pem.Describe();
    ASSERT_THAT(pem.out, HasSubstr("BEGIN PRIVATE KEY"));
    std::vector<std::string> forms = {HexEncode(der.out)};
    for (size_t at = 0, end; (end = pem.out.find('\n', at)) != std::string::npos; at = end + 1) {
      std::string line = pem.out.substr(at, end - at);
      if (line.size() >= 16 && line.find("-----") == std::string::npos) forms.push_back(line);
    }
    ASSERT_GE(forms.size(), 3u);
    for (const std::string& form : forms) {
      EXPECT_EQ(dump.find(form), std::string::npos) << which << " key file in semper-ca's database";
      EXPECT_EQ(log.find(form), std::string::npos) << which << " key file in semper-ca's log";
    }
  }

  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE profile <> 'service'"), "2");
  EXPECT_EQ(Count("SELECT count(*) FROM ca.enrolment_codes WHERE used_at IS NOT NULL"), "1");
  EXPECT_EQ(Count("SELECT string_agg(action, ',' ORDER BY id) FROM ca.subscriber_changes"), "registered,enrolled");

  // A code works once.
  auto again = Ctl({"enroll", "--code", code, "--wallet", P("wallet2"), "--wallet-passphrase-file", P("wpass")}, false);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("already used"));
  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE profile <> 'service'"), "2");

  // The subscriber's own certificate does not make it an officer.
  auto list = Ctl({"--cert", P("wallet/authentication.pem"), "--key", P("wallet/authentication.key"),
                   "--key-passphrase-file", P("wpass"), "subscriber", "list"},
                  false);
  EXPECT_EQ(list.exit_code, 1);
  EXPECT_THAT(list.err, HasSubstr("PERMISSION_DENIED"));
  auto anon = Ctl({"subscriber", "list"}, false);
  EXPECT_THAT(anon.err, HasSubstr("UNAUTHENTICATED"));
  auto ok_list = Ctl({"subscriber", "list"});
  EXPECT_EQ(ok_list.exit_code, 0) << ok_list.Describe();
  EXPECT_THAT(ok_list.out, HasSubstr("Example GmbH"));
}

TEST_F(CaDaemonTest, TheCertificatesOfInitAreInTheRegister) {
  // The daemons' and administrators' certificates that init issued are known (GOOD), so that
  // semper-notary can certify what semper-arbiter signs; counted once however often it starts
  // (13 from init, and the CA's statement signer made at its first start).
  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE profile = 'service'"), "14");
  for (const char* file : {"services/arbiter-signing.pem", "services/tsa-signing.pem", "admin/arbitrator.pem",
                           "services/ca-signing.pem"}) {
    v1::GetCertificateStatusRequest req;
    req.set_certificate(Certificate::FromPem(Slurp(P(std::string("pki/") + file)))->Der());
    v1::CertificateStatus status;
    grpc::ClientContext ctx;
    ASSERT_TRUE(Anonymous()->GetCertificateStatus(&ctx, req, &status).ok());
    EXPECT_EQ(status.state(), v1::CERTIFICATE_STATE_GOOD) << file;
  }
}

// The root's CRL re-signed for 10 days before the start: semper-ca shows how long it has left and
// warns, beside the certificates it uses (README, Year two).
class CaRootCrlEndingTest : public CaDaemonTest {
  void PrepareKeys() override {
    auto r = RunCommand({SEMPER_CA, "root-crl", "--dir", P("pki"), "--passphrase-file", P("pass"), "--days", "10"});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
  }
};

TEST_F(CaRootCrlEndingTest, TheRootCrlAndTheCertificatesInUseShowTheirEnd) {
  httplib::Client client("127.0.0.1", http_port_);
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(metrics->body, m, std::regex(R"(semper_root_crl_expiry_seconds ([0-9.e+]+)\n)")))
      << metrics->body;
  EXPECT_GT(std::stod(m[1]), 10 * 86400 - 600);
  EXPECT_LE(std::stod(m[1]), 10 * 86400);
  for (const char* setting :
       {"tls.cert_file", "tls.client_ca_file", "ca.dir/root.pem", "ca.dir/ca.pem", "ca.dir/pseudonym-ca.pem",
        "ca.ocsp_cert_file", "ca.dir/services/ca-signing.pem", "ca.escrow_cert_file", "ca.arbiter_cert_file"}) {
    EXPECT_THAT(metrics->body, HasSubstr(std::string("semper_certificate_expiry_seconds{setting=\"") + setting + "\""))
        << setting;
  }
  const std::string log = Slurp(P("ca.log"));
  EXPECT_THAT(log, HasSubstr("root_crl_expiring"));
  EXPECT_THAT(log, HasSubstr("semper-ca root-crl"));
  // The certificates of init last years: no warning for them.
  EXPECT_THAT(log, Not(HasSubstr("certificate_expiring")));
}

TEST_F(CaDaemonTest, BadRegistrationsAreRefusedAndWriteNothing) {
  auto no_vat = Ctl({"subscriber", "register", "--name", "Firma", "--kind", "enterprise", "--country", "DE", "--law",
                     "DE", "--email", "a@b.de"});
  EXPECT_EQ(no_vat.exit_code, 1);
  EXPECT_THAT(no_vat.err, HasSubstr("subscriber.vat_reference"));
  auto bad_vat = Ctl({"subscriber", "register", "--name", "Firma", "--kind", "enterprise", "--country", "DE", "--law",
                      "DE", "--vat", "VATDE-12", "--email", "a@b.de"});
  EXPECT_THAT(bad_vat.err, HasSubstr("not a valid VAT number format for DE"));
  auto wrong_country = Ctl({"subscriber", "register", "--name", "Firma", "--kind", "enterprise", "--country", "FR",
                            "--law", "FR", "--vat", "VATDE-123456789", "--email", "a@b.de"});
  EXPECT_THAT(wrong_country.err, HasSubstr("is a DE reference"));
  auto bad_mail = Ctl({"subscriber", "register", "--name", "Ann", "--kind", "individual", "--country", "AT", "--law",
                       "AT", "--email", "nope"});
  EXPECT_THAT(bad_mail.err, HasSubstr("subscriber.email"));
  EXPECT_EQ(Count("SELECT count(*) FROM ca.subscribers"), "0");
  EXPECT_EQ(Count("SELECT count(*) FROM ca.enrolment_codes"), "0");

  // Without an officer's certificate nothing is registered either.
  v1::RegisterSubscriberRequest req;
  auto* s = req.mutable_subscriber();
  s->set_name("Ann");
  s->set_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
  s->set_country("AT");
  s->set_applicable_law("AT");
  s->set_email("ann@example.at");
  grpc::ClientContext ctx;
  v1::RegisterSubscriberResponse resp;
  EXPECT_THAT(FromGrpcStatus(Anonymous()->RegisterSubscriber(&ctx, req, &resp)),
              StatusIs(absl::StatusCode::kUnauthenticated, v1::UNAUTHENTICATED));
  EXPECT_EQ(Count("SELECT count(*) FROM ca.subscribers"), "0");
}

TEST_F(CaDaemonTest, BadEnrolmentsAreRefusedAndLeaveTheCodeUsable) {
  std::string code = RegisterEnterprise();
  v1::EnrollRequest good = FreshEnrollRequest(code);

  v1::EnrollRequest malformed = good;
  malformed.set_authentication_csr("\x30\x03\x02\x01\x00");
  EXPECT_THAT(EnrollDirect(malformed), StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));

  // A request whose signed part was changed after signing: the self-signature fails.
  v1::EnrollRequest forged = good;
  std::string csr =
      CertificationRequest::Create(*PrivateKey::Generate(KeyType::kEcP256), {{"CN", "Example GmbH"}})->Der();
  csr.replace(csr.find("Example GmbH"), 12, "Examplf GmbH");
  forged.set_signature_csr(csr);
  EXPECT_THAT(EnrollDirect(forged), StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));

  v1::EnrollRequest weak = good;
  weak.set_signature_csr(CertificationRequest::Create(*PrivateKey::Generate(KeyType::kRsa, 2048), {})->Der());
  EXPECT_THAT(EnrollDirect(weak), StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));

  v1::EnrollRequest same_key = good;
  same_key.set_signature_csr(same_key.authentication_csr());
  EXPECT_THAT(EnrollDirect(same_key), StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));

  v1::EnrollRequest wrong_name = good;
  auto k = PrivateKey::Generate(KeyType::kEcP256);
  wrong_name.set_signature_csr(CertificationRequest::Create(*k, {{"CN", "Someone Else"}})->Der());
  EXPECT_THAT(EnrollDirect(wrong_name), StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));

  v1::EnrollRequest unknown = FreshEnrollRequest("AAAA-BBBB-CCCC-DDDD-EEEE");
  EXPECT_THAT(EnrollDirect(unknown), StatusIs(absl::StatusCode::kNotFound));
  v1::EnrollRequest short_code = FreshEnrollRequest("ABC");
  EXPECT_THAT(EnrollDirect(short_code), StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));

  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE profile <> 'service'"), "0");
  EXPECT_EQ(Count("SELECT count(*) FROM ca.enrolment_codes WHERE used_at IS NULL"), "1");
  // Typed in lower case without dashes, the code still works after all those failures.
  std::string typed;
  for (char c : code) {
    if (c != '-') typed.push_back(static_cast<char>(std::tolower(c)));
  }
  good.set_enrolment_code(typed);
  v1::EnrollResponse resp;
  EXPECT_THAT(EnrollDirect(good, &resp), IsOk());
  EXPECT_EQ(resp.chain_size(), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE profile <> 'service'"), "2");
  // Each certificate comes with the chain a client presents: itself, then the issuing CA.
  for (const auto* issued : {&resp.authentication(), &resp.signature()}) {
    auto chain = Certificate::ChainFromPem(issued->chain_pem());
    ASSERT_THAT(chain.status(), IsOk()) << issued->profile();
    ASSERT_EQ(chain->size(), 2u);
    EXPECT_EQ((*chain)[0].Der(), issued->certificate());
    EXPECT_EQ((*chain)[1].Der(), resp.chain(0));
  }
  // The code is spent: a second enrolment with it is ALREADY_USED (docs/errors.md), not WRONG_STATE.
  EXPECT_THAT(EnrollDirect(FreshEnrollRequest(code)),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::ALREADY_USED));
  // Fields that do not parse name themselves (MALFORMED_INPUT, metadata "field").
  EXPECT_EQ(ErrorInfoOf(EnrollDirect(malformed)).metadata().at("field"), "authentication_csr");
}

// A subscriber who wants certificates it can later deny: keys anyone can sign for (each request's
// self-signature verifies), a request signed with SHA-1, and one key given twice in two encodings.
TEST_F(CaDaemonTest, ForgeableKeysWeakHashesAndReencodedKeysAreRefused) {
  std::string code = RegisterEnterprise();
  v1::EnrollRequest good = FreshEnrollRequest(code);
  for (const auto& forged : ::semper::testing::ForgedRequests("Example GmbH")) {
    v1::EnrollRequest weak = good;
    weak.set_signature_csr(forged.der);
    EXPECT_THAT(EnrollDirect(weak), StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY)) << forged.name;
    weak = good;
    weak.set_authentication_csr(forged.der);
    EXPECT_THAT(EnrollDirect(weak), StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY)) << forged.name;
  }
  v1::EnrollRequest sha1 = good;
  sha1.set_signature_csr(::semper::testing::Sha1SignedRequest(*PrivateKey::Generate(KeyType::kEcP256), "Example GmbH"));
  EXPECT_THAT(EnrollDirect(sha1), StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));

  auto key = *PrivateKey::Generate(KeyType::kEcP256);
  v1::EnrollRequest same_key;
  same_key.set_enrolment_code(code);
  same_key.set_authentication_csr(CertificationRequest::Create(key, {{"CN", "Example GmbH"}})->Der());
  same_key.set_signature_csr(::semper::testing::CompressedP256Request(key, "Example GmbH"));
  EXPECT_THAT(EnrollDirect(same_key),
              StatusWithMessage(absl::StatusCode::kInvalidArgument, HasSubstr("different key")));
  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE profile <> 'service'"), "0");

  // A compressed key is certified in its canonical (uncompressed) form, which openssl reads.
  v1::EnrollRequest compressed = good;
  compressed.set_signature_csr(::semper::testing::CompressedP256Request(key, "Example GmbH"));
  v1::EnrollResponse resp;
  ASSERT_THAT(EnrollDirect(compressed, &resp), IsOk());
  auto cert = Certificate::FromDer(resp.signature().certificate());
  ASSERT_THAT(cert, IsOk());
  EXPECT_EQ(ossl::ToDer(i2d_X509_PUBKEY, X509_get_X509_PUBKEY(cert->x509())), key.public_key().Der());

  // Its key, compromised and revoked, is never certified again, in either encoding.
  grpc::ClientContext ctx;
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial(resp.signature().serial());
  revoke.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  v1::RevokeCertificateResponse revoked;
  ASSERT_TRUE(Admin()->RevokeCertificate(&ctx, revoke, &revoked).ok());
  for (bool compress : {false, true}) {
    const std::string name = compress ? "Third GmbH" : "Second GmbH";
    v1::EnrollRequest again = FreshEnrollRequest(RegisterEnterprise(name));
    again.set_signature_csr(compress ? ::semper::testing::CompressedP256Request(key, name)
                                     : CertificationRequest::Create(key, {{"CN", name}})->Der());
    EXPECT_THAT(EnrollDirect(again), StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED))
        << "blocked key certified again, compressed: " << compress;
  }
}

// Finding: a status change whose transaction took its number and committed after more than 2,000
// later numbers (or 30 s) was never pushed to watchers, who then believed the key good.
TEST_F(CaDaemonTest, AStatusChangeThatCommitsLateIsStillPushedToWatchers) {
  v1::EnrollResponse enrolled;
  ASSERT_THAT(EnrollDirect(FreshEnrollRequest(RegisterEnterprise()), &enrolled), IsOk());
  const std::string serial = enrolled.signature().serial();
  // 2,100 other certificates whose status changes while the first revocation is in flight.
  ASSERT_THAT(postgres().Query(database(),
                               "INSERT INTO ca.certificates (serial, subscriber_id, profile, subject, spki_sha256, "
                               "not_before, not_after, der) SELECT 'DD' || lpad(to_hex(g), 8, '0'), subscriber_id, "
                               "profile, subject, sha256(g::text::bytea), not_before, not_after, der "
                               "FROM ca.certificates, generate_series(1, 2100) g WHERE serial = '" +
                                   serial + "'"),
              IsOk());
  // Only the suite's daemons (and administrators) may watch: a stranger is refused.
  {
    grpc::ClientContext ctx;
    auto reader = Anonymous()->WatchRevocations(&ctx, v1::WatchRevocationsRequest());
    v1::RevocationEvent e;
    EXPECT_FALSE(reader->Read(&e));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  RevocationWatch watch(std::shared_ptr<v1::CertificationAuthority::StubInterface>(Admin()), absl::Seconds(30));
  absl::StatusOr<bool> known = absl::UnknownError("not asked");
  for (absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until && !known.ok();) {
    known = watch.Revoked(serial);
    if (!known.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_THAT(known, IsOk());
  EXPECT_FALSE(*known);

  pqxx::connection late(conninfo());
  pqxx::work revocation(late);
  revocation.exec0("UPDATE ca.certificates SET revoked_at = now(), revocation_reason = 1 WHERE serial = '" + serial +
                   "'");
  std::thread others([&] {
    pqxx::connection c(conninfo());
    pqxx::work t(c);
    t.exec0("UPDATE ca.certificates SET revoked_at = now(), revocation_reason = 4 WHERE serial LIKE 'DD%'");
    t.commit();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the feed polls every 100 ms
  revocation.commit();
  others.join();
  absl::Time committed = absl::Now();
  bool seen = false;
  while (!seen && absl::Now() - committed < absl::Seconds(5)) {
    auto r = watch.Revoked(serial);
    seen = r.ok() && *r;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(seen) << "the late revocation never reached the watcher";
  // And the changes that waited for it, after it.
  bool others_seen = false;
  while (!others_seen && absl::Now() - committed < absl::Seconds(5)) {
    auto r = watch.Revoked("DD00000834");
    others_seen = r.ok() && *r;
    if (!others_seen) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(others_seen);

  // A watcher ahead of the database (restored from a backup, or failed over to a standby that had
  // not seen the last changes) gets the whole history, not just heartbeats.
  grpc::ClientContext ctx;
  v1::WatchRevocationsRequest ahead;
  ahead.set_after_seq(int64_t{1} << 40);
  auto reader = Admin()->WatchRevocations(&ctx, ahead);
  v1::RevocationEvent e;
  bool got_it = false;
  while (reader->Read(&e) && !e.serial().empty()) got_it |= e.serial() == serial;
  ctx.TryCancel();
  (void)reader->Finish();
  EXPECT_TRUE(got_it) << "a watcher ahead of the database was told nothing";
}

// Snapshots in pages of 300 changes: a long history takes many queries, and the feed's polls
// (every 100 ms) land in between.
class CaSmallFeedPagesTest : public CaDaemonTest {
 protected:
  std::vector<std::string> ExtraEnv() override { return {"SEMPER_CA_REVOCATION_FEED_PAGE=300"}; }
};

// Finding 6 of "Trust under attack (1 of 2)": a watcher could be marked current by a heartbeat
// before its snapshot arrived (a daemon starting with part of the history). A CA with 30,000
// status changes (100 snapshot pages) while revocations keep coming: the first heartbeat a new
// watcher gets must follow every change numbered up to when it connected.
TEST_F(CaSmallFeedPagesTest, NoHeartbeatReachesAWatcherBeforeItsSnapshotIsComplete) {
  v1::EnrollResponse enrolled;
  ASSERT_THAT(EnrollDirect(FreshEnrollRequest(RegisterEnterprise()), &enrolled), IsOk());
  const std::string serial = enrolled.signature().serial();
  constexpr int kHistory = 30000, kLive = 400;
  ASSERT_THAT(
      postgres().Query(database(),
                       "INSERT INTO ca.certificates (serial, subscriber_id, profile, subject, spki_sha256, not_before, "
                       "not_after, der, revoked_at, revocation_reason, status_seq, status_changed_at) "
                       "SELECT 'EE' || lpad(to_hex(g), 8, '0'), subscriber_id, profile, subject, "
                       "sha256(('h' || g)::bytea), not_before, not_after, '\\x30'::bytea, now(), 1, "
                       "nextval('ca.status_changes'), now() FROM ca.certificates, generate_series(1, " +
                           std::to_string(kHistory) + ") g WHERE serial = '" + serial + "'"),
      IsOk());
  ASSERT_THAT(
      postgres().Query(database(),
                       "INSERT INTO ca.certificates (serial, subscriber_id, profile, subject, spki_sha256, not_before, "
                       "not_after, der) SELECT 'EF' || lpad(to_hex(g), 8, '0'), subscriber_id, profile, subject, "
                       "sha256(('l' || g)::bytea), not_before, not_after, '\\x30'::bytea "
                       "FROM ca.certificates, generate_series(1, " +
                           std::to_string(kLive) + ") g WHERE serial = '" + serial + "'"),
      IsOk());
  // Revocations keep coming while the watcher connects: the feed's polls push them (each poll
  // followed by a heartbeat for current watchers) in between the snapshot's pages.
  std::atomic<bool> stop{false};
  std::thread live([&] {
    pqxx::connection c(conninfo());
    for (int i = 1; i <= kLive && !stop; ++i) {
      pqxx::work t(c);
      t.exec0(
          "UPDATE ca.certificates SET revoked_at = now(), revocation_reason = 1 WHERE serial = 'EF' || lpad(to_hex(" +
          std::to_string(i) + "), 8, '0')");
      t.commit();
      std::this_thread::sleep_for(std::chrono::milliseconds(15));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int round = 0; round < 3; ++round) {
    const int64_t last = std::stoll(Count("SELECT max(status_seq) FROM ca.certificates"));
    const int64_t expected =
        std::stoll(Count("SELECT count(*) FROM ca.certificates WHERE status_seq <= " + std::to_string(last)));
    grpc::ClientContext ctx;
    auto reader = Admin()->WatchRevocations(&ctx, v1::WatchRevocationsRequest());
    v1::RevocationEvent e;
    std::set<int64_t> seen;
    bool heartbeat = false;
    while (!heartbeat && reader->Read(&e)) {
      if (e.serial().empty()) {
        heartbeat = true;
      } else if (e.seq() <= last) {
        seen.insert(e.seq());
      }
    }
    ctx.TryCancel();
    (void)reader->Finish();
    ASSERT_TRUE(heartbeat) << "no heartbeat at all";
    EXPECT_EQ(static_cast<int64_t>(seen.size()), expected)
        << "round " << round << ": a heartbeat told the watcher it was current with " << seen.size() << " of the "
        << expected << " changes it connected after";
  }
  stop = true;
  live.join();
}

TEST_F(CaDaemonTest, ExpiredCodeIsRefused) {
  std::string code = RegisterEnterprise();
  ASSERT_THAT(postgres().Query(database(), "UPDATE ca.enrolment_codes SET expires_at = now() - interval '1 second'"),
              IsOk());
  EXPECT_THAT(EnrollDirect(FreshEnrollRequest(code)), StatusIs(absl::StatusCode::kFailedPrecondition, v1::EXPIRED));
  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE profile <> 'service'"), "0");
}

TEST_F(CaDaemonTest, OneCodeUsedByManyClientsAtOnceIsAcceptedExactlyOnce) {
  std::string code = RegisterEnterprise();
  constexpr int kClients = 16;
  std::vector<v1::EnrollRequest> requests;
  for (int i = 0; i < kClients; ++i) requests.push_back(FreshEnrollRequest(code));
  std::vector<absl::Status> results(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    // Each client on its own connection.
    threads.emplace_back([&, i] { results[i] = EnrollDirect(requests[i]); });
  }
  for (auto& t : threads) t.join();
  int ok = 0, used = 0;
  for (const auto& s : results) {
    if (s.ok())
      ++ok;
    else if (s.code() == absl::StatusCode::kFailedPrecondition && ReasonOf(s) == v1::ALREADY_USED)
      ++used;
    else
      ADD_FAILURE() << s;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(used, kClients - 1);
  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE profile <> 'service'"), "2");
}

// Enroll sent again after a lost answer gets that enrolment's two certificates, and nothing else:
// not with other keys, not once either certificate is revoked (a keyCompromise blocks the key
// too), not another code's certificates for the same keys, not expired ones.
TEST_F(CaDaemonTest, AnEnrolmentSentAgainGetsItsOwnCertificatesOnlyWhileTheyAreGood) {
  const std::string code = RegisterEnterprise("Retry GmbH");
  const v1::EnrollRequest first_req = FreshEnrollRequest(code);
  v1::EnrollResponse first, again;
  ASSERT_THAT(EnrollDirect(first_req, &first), IsOk());
  ASSERT_THAT(EnrollDirect(first_req, &again), IsOk());
  EXPECT_EQ(again.authentication().serial(), first.authentication().serial());
  EXPECT_EQ(again.signature().serial(), first.signature().serial());
  EXPECT_EQ(again.authentication().certificate(), first.authentication().certificate());
  EXPECT_EQ(again.signature().certificate(), first.signature().certificate());
  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE profile <> 'service'"), "2");
  // The code with other keys, or with one of the keys swapped for another, is a second use.
  v1::EnrollRequest other_keys = FreshEnrollRequest(code);
  EXPECT_EQ(ReasonOf(EnrollDirect(other_keys)), v1::ALREADY_USED);
  v1::EnrollRequest swapped = first_req;
  swapped.set_signature_csr(other_keys.signature_csr());
  EXPECT_EQ(ReasonOf(EnrollDirect(swapped)), v1::ALREADY_USED);
  v1::EnrollRequest crossed = first_req;  // the keys' roles exchanged
  crossed.set_authentication_csr(first_req.signature_csr());
  crossed.set_signature_csr(first_req.authentication_csr());
  EXPECT_EQ(ReasonOf(EnrollDirect(crossed)), v1::ALREADY_USED);

  // A second code of the subscriber certifies the same keys again; the first certificates are
  // revoked: the first code's retry gets nothing (not the second code's certificates).
  v1::IssueEnrolmentCodeRequest more;
  more.set_subscriber_id(first.subscriber_id());
  v1::RegisterSubscriberResponse second_code;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(Admin()->IssueEnrolmentCode(&ctx, more, &second_code).ok());
  }
  v1::EnrollRequest second_req = first_req;
  second_req.set_enrolment_code(second_code.enrolment_code());
  v1::EnrollResponse second;
  const absl::Status re_enrolled = EnrollDirect(second_req, &second);
  auto revoke = [&](const std::string& serial, v1::RevocationReason reason) {
    v1::RevokeCertificateRequest r;
    r.set_serial(serial);
    r.set_reason(reason);
    v1::RevokeCertificateResponse resp;
    grpc::ClientContext ctx;
    return Admin()->RevokeCertificate(&ctx, r, &resp).ok();
  };
  ASSERT_TRUE(revoke(first.authentication().serial(), v1::REVOCATION_REASON_SUPERSEDED));
  EXPECT_EQ(ReasonOf(EnrollDirect(first_req)), v1::ALREADY_USED) << "a revoked enrolment was answered again";
  if (re_enrolled.ok()) {
    // The second enrolment's retry still works; after a keyCompromise of its signature key it
    // does not (the key is blocked).
    ASSERT_THAT(EnrollDirect(second_req, &again), IsOk());
    EXPECT_EQ(again.signature().serial(), second.signature().serial());
    ASSERT_TRUE(revoke(second.signature().serial(), v1::REVOCATION_REASON_KEY_COMPROMISE));
    EXPECT_EQ(ReasonOf(EnrollDirect(second_req)), v1::ALREADY_USED);
  }
  // Every answer again is in the audit trail.
  EXPECT_NE(Count("SELECT count(*) FROM ca.audit WHERE action = 'answer again'"), "0");
}

TEST_F(CaDaemonTest, ListPagesThroughSubscribers) {
  for (int i = 0; i < 5; ++i) RegisterEnterprise("Firma " + std::to_string(i));
  auto admin = Admin();
  std::vector<std::string> seen;
  std::string token;
  do {
    v1::ListSubscribersRequest req;
    req.set_page_size(2);
    req.set_page_token(token);
    v1::ListSubscribersResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin->ListSubscribers(&ctx, req, &resp).ok());
    for (const auto& s : resp.subscribers()) seen.push_back(s.name());
    token = resp.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(seen, (std::vector<std::string>{"Firma 4", "Firma 3", "Firma 2", "Firma 1", "Firma 0"}));
}

class CaRevocationTest : public CaDaemonTest {
 protected:
  // Registers and enrols `name`; returns the wallet directory.
  std::string Enrolled(const std::string& name) {
    std::string code = RegisterEnterprise(name);
    dir_.Write("wpass", "wallet passphrase");
    std::string wallet = P("wallet-" + std::to_string(wallets_++));
    auto e = Ctl({"enroll", "--code", code, "--wallet", wallet, "--wallet-passphrase-file", P("wpass")}, false);
    EXPECT_EQ(e.exit_code, 0) << e.Describe();
    return wallet;
  }
  std::string Serial(const std::string& pem_file) {
    auto r = RunCommand({"openssl", "x509", "-in", pem_file, "-noout", "-serial"});
    return r.out.substr(r.out.find('=') + 1, r.out.find('\n') - r.out.find('=') - 1);
  }
  // As the subscriber holding `wallet`.
  CommandResult CtlAs(const std::string& wallet, std::vector<std::string> args) {
    std::vector<std::string> all = {
        "--cert",  wallet + "/authentication.pem", "--key", wallet + "/authentication.key", "--key-passphrase-file",
        P("wpass")};
    all.insert(all.end(), args.begin(), args.end());
    return Ctl(all, false);
  }
  std::string Get(const std::string& path, int* status = nullptr) {
    httplib::Client client("127.0.0.1", http_port_);
    auto res = client.Get(path.c_str());
    if (status != nullptr) *status = res ? res->status : -1;
    return res ? res->body : "";
  }
  // Fetches the CRLs to PEM files: crl.pem (issuing CA, full), root-crl.pem, delta.pem.
  void FetchCrls() {
    dir_.Write("crl.der", Get("/crl"));
    dir_.Write("delta.der", Get("/crl/delta"));
    dir_.Write("root-crl.der", Get("/crl/root"));
    for (const char* n : {"crl", "delta", "root-crl"}) {
      auto r = RunCommand(
          {"openssl", "crl", "-inform", "DER", "-in", P(std::string(n) + ".der"), "-out", P(std::string(n) + ".pem")});
      ASSERT_EQ(r.exit_code, 0) << n << r.Describe();
    }
    dir_.Write("crls.pem", Slurp(P("crl.pem")) + Slurp(P("root-crl.pem")));
  }
  CommandResult VerifyWithCrls(const std::string& cert) {
    return RunCommand({"openssl", "verify", "-crl_check_all", "-CRLfile", P("crls.pem"), "-CAfile", P("pki/root.pem"),
                       "-untrusted", P("pki/ca.pem"), cert});
  }
  CommandResult Ocsp(const std::string& cert) {
    return RunCommand({"openssl", "ocsp", "-issuer", P("pki/ca.pem"), "-cert", cert, "-url",
                       "http://127.0.0.1:" + std::to_string(http_port_) + "/ocsp", "-CAfile", P("pki/root.pem")});
  }
  int wallets_ = 0;
};

TEST_F(CaRevocationTest, RevocationShowsInCrlOcspAndStatus) {
  std::string wallet = Enrolled("Example GmbH");
  std::string sig = wallet + "/signature.pem";
  std::string serial = Serial(sig);

  FetchCrls();
  dir_.Write("base.pem", Slurp(P("crl.pem")));  // issued at start: the base of later deltas
  auto crl_ok = RunCommand({"openssl", "crl", "-in", P("crl.pem"), "-CAfile", P("pki/chain.pem"), "-noout"});
  EXPECT_EQ(crl_ok.exit_code, 0) << crl_ok.Describe();
  EXPECT_THAT(crl_ok.err + crl_ok.out, HasSubstr("verify OK"));
  auto before = VerifyWithCrls(sig);
  EXPECT_EQ(before.exit_code, 0) << before.Describe();
  auto ocsp_good = Ocsp(sig);
  EXPECT_EQ(ocsp_good.exit_code, 0) << ocsp_good.Describe();
  EXPECT_THAT(ocsp_good.out, HasSubstr(sig + ": good"));
  EXPECT_THAT(ocsp_good.err, HasSubstr("Response verify OK"));
  EXPECT_EQ(Ctl({"certificate", "status", sig}).exit_code, 0);
  auto certtool = RunCommand({"certtool", "--verify", "--load-ca-certificate", P("pki/root.pem"), "--infile", sig});
  EXPECT_EQ(certtool.exit_code, 0) << certtool.Describe();

  // A nonce-less request is answered from the cache of signed responses; a revocation must
  // still show at once.
  auto no_nonce = [&] {
    return RunCommand({"openssl", "ocsp", "-no_nonce", "-issuer", P("pki/ca.pem"), "-cert", sig, "-url",
                       "http://127.0.0.1:" + std::to_string(http_port_) + "/ocsp", "-CAfile", P("pki/root.pem")});
  };
  EXPECT_THAT(no_nonce().out, HasSubstr(sig + ": good"));
  EXPECT_THAT(no_nonce().out, HasSubstr(sig + ": good"));

  // Without confirmation (no --yes, nobody at the terminal) nothing is revoked.
  auto unconfirmed = RunCommand({SEMPERCTL, "--server", "127.0.0.1:" + std::to_string(port_), "--server-name",
                                 "localhost", "--ca-file", P("pki/root.pem"), "--cert", wallet + "/authentication.pem",
                                 "--key", wallet + "/authentication.key", "--key-passphrase-file", P("wpass"),
                                 "certificate", "revoke", serial, "--reason", "keyCompromise"});
  EXPECT_EQ(unconfirmed.exit_code, 1) << unconfirmed.Describe();
  EXPECT_THAT(unconfirmed.out, HasSubstr(serial));  // what would be revoked, shown before the question
  EXPECT_THAT(unconfirmed.err, HasSubstr("nothing revoked"));
  EXPECT_THAT(no_nonce().out, HasSubstr(sig + ": good"));
  // The subscriber revokes its own signature certificate.
  auto revoke = CtlAs(wallet, {"certificate", "revoke", serial, "--reason", "keyCompromise"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.Describe();
  EXPECT_THAT(revoke.out, HasSubstr("REVOCATION_REASON_KEY_COMPROMISE"));

  EXPECT_THAT(no_nonce().out, HasSubstr(sig + ": revoked"));
  auto ocsp_revoked = Ocsp(sig);
  EXPECT_THAT(ocsp_revoked.out, HasSubstr(sig + ": revoked"));
  EXPECT_THAT(ocsp_revoked.out, HasSubstr("Reason: keyCompromise"));
  EXPECT_THAT(ocsp_revoked.err, HasSubstr("Response verify OK"));
  FetchCrls();
  auto listed = RunCommand({"openssl", "crl", "-in", P("crl.pem"), "-noout", "-text"});
  EXPECT_THAT(listed.out, HasSubstr("Serial Number: " + serial));
  EXPECT_THAT(listed.out, HasSubstr("Key Compromise"));
  // It names its deltas' address: without it OpenSSL 3.0.20 and later apply no delta.
  EXPECT_THAT(listed.out, HasSubstr("X509v3 Freshest CRL"));
  EXPECT_THAT(listed.out, HasSubstr("/crl/delta"));
  auto after = VerifyWithCrls(sig);
  EXPECT_NE(after.exit_code, 0);
  EXPECT_THAT(after.out + after.err, HasSubstr("certificate revoked"));
  // The delta against the base lists the revocation: a relying party that keeps the base CRL
  // learns it from the small delta (openssl verify -use_deltas).
  auto delta = RunCommand({"openssl", "crl", "-in", P("delta.pem"), "-noout", "-text"});
  EXPECT_THAT(delta.out, HasSubstr("Delta CRL Indicator"));
  EXPECT_THAT(delta.out, HasSubstr("Serial Number: " + serial));
  auto delta_ok = RunCommand({"openssl", "crl", "-in", P("delta.pem"), "-CAfile", P("pki/chain.pem"), "-noout"});
  EXPECT_THAT(delta_ok.err + delta_ok.out, HasSubstr("verify OK"));
  auto base_numbers = RunCommand({"openssl", "crl", "-in", P("base.pem"), "-noout", "-crlnumber"});
  EXPECT_THAT(delta.out, HasSubstr(base_numbers.out.substr(base_numbers.out.find('=') + 1, 2)));
  auto with_deltas = [&](const std::string& files) {
    dir_.Write("base-crls.pem", files + Slurp(P("root-crl.pem")));
    return RunCommand({"openssl", "verify", "-crl_check", "-use_deltas", "-CRLfile", P("base-crls.pem"), "-CAfile",
                       P("pki/root.pem"), "-untrusted", P("pki/ca.pem"), sig});
  };
  EXPECT_EQ(with_deltas(Slurp(P("base.pem"))).exit_code, 0) << "the base alone predates the revocation";
  auto base_and_delta = with_deltas(Slurp(P("base.pem")) + Slurp(P("delta.pem")));
  EXPECT_NE(base_and_delta.exit_code, 0);
  EXPECT_THAT(base_and_delta.out + base_and_delta.err, HasSubstr("certificate revoked"));
  EXPECT_EQ(Ctl({"certificate", "status", serial}).exit_code, 3);
  // Revoking twice is refused.
  auto twice = Ctl({"certificate", "revoke", serial, "--reason", "superseded"});
  EXPECT_THAT(twice.err, HasSubstr("already revoked"));

  // The compromised key cannot be certified again, even with a fresh code.
  std::string code = RegisterEnterprise("Example GmbH");
  auto key = PrivateKey::FromPem(Slurp(wallet + "/signature.key"), SecretData("wallet passphrase"));
  ASSERT_THAT(key, IsOk());
  v1::EnrollRequest reuse = FreshEnrollRequest(code);
  reuse.set_signature_csr(CertificationRequest::Create(*key, {})->Der());
  EXPECT_THAT(EnrollDirect(reuse), StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED));
}

TEST_F(CaRevocationTest, SubscribersRevokeOnlyTheirOwnAndHoldsCanBeReleased) {
  std::string alice = Enrolled("Alice GmbH");
  std::string bob = Enrolled("Bob GmbH");
  std::string bob_auth = Serial(bob + "/authentication.pem");
  auto denied = CtlAs(alice, {"certificate", "revoke", bob_auth});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_THAT(denied.err, HasSubstr("PERMISSION_DENIED"));
  auto anonymous = Ctl({"certificate", "revoke", bob_auth}, false);
  EXPECT_THAT(anonymous.err, HasSubstr("UNAUTHENTICATED"));
  EXPECT_EQ(Count("SELECT count(*) FROM ca.certificates WHERE revoked_at IS NOT NULL"), "0");

  auto hold = Ctl({"certificate", "revoke", bob_auth, "--reason", "certificateHold"});
  ASSERT_EQ(hold.exit_code, 0) << hold.Describe();
  EXPECT_THAT(Ocsp(bob + "/authentication.pem").out, HasSubstr("revoked"));
  auto release = Ctl({"certificate", "release-hold", bob_auth});
  ASSERT_EQ(release.exit_code, 0) << release.Describe();
  EXPECT_THAT(Ocsp(bob + "/authentication.pem").out, HasSubstr(": good"));
  FetchCrls();
  EXPECT_EQ(VerifyWithCrls(bob + "/authentication.pem").exit_code, 0);
  auto not_held = Ctl({"certificate", "release-hold", bob_auth});
  EXPECT_THAT(not_held.err, HasSubstr("not on hold"));
  // A bad serial is an input error, an unknown one is NOT_FOUND.
  EXPECT_THAT(Ctl({"certificate", "revoke", "xyz"}).err, HasSubstr("INVALID_FIELD"));
  EXPECT_THAT(Ctl({"certificate", "revoke", "ABCDEF"}).err, HasSubstr("NOT_FOUND"));
}

TEST_F(CaRevocationTest, OcspAnswersUnknownGetAndGarbage) {
  std::string wallet = Enrolled("Example GmbH");
  // A serial this CA never issued.
  auto unknown = RunCommand({"openssl", "ocsp", "-issuer", P("pki/ca.pem"), "-serial", "0x1234", "-url",
                             "http://127.0.0.1:" + std::to_string(http_port_) + "/ocsp", "-CAfile", P("pki/root.pem")});
  EXPECT_THAT(unknown.out, HasSubstr("0x1234: unknown"));
  // GET with the request in the URL (RFC 6960 A.1).
  auto req = RunCommand({"openssl", "ocsp", "-issuer", P("pki/ca.pem"), "-cert", wallet + "/signature.pem", "-no_nonce",
                         "-reqout", P("req.der")});
  ASSERT_EQ(req.exit_code, 0) << req.Describe();
  std::string b64 = RunCommand({"openssl", "base64", "-A", "-in", P("req.der")}).out;
  std::string escaped;
  for (char c : b64) {
    if (c == '+')
      escaped += "%2B";
    else if (c == '/')
      escaped += "%2F";
    else if (c == '=')
      escaped += "%3D";
    else
      escaped.push_back(c);
  }
  int status = 0;
  dir_.Write("resp.der", Get("/ocsp/" + escaped, &status));
  EXPECT_EQ(status, 200);
  auto text = RunCommand({"openssl", "ocsp", "-respin", P("resp.der"), "-resp_text", "-noverify"});
  EXPECT_THAT(text.out, HasSubstr("Cert Status: good"));
  // Garbage gets malformedRequest (OCSPResponse with status 1), and a wrong content type 415.
  httplib::Client client("127.0.0.1", http_port_);
  auto bad = client.Post("/ocsp", "garbage", "application/ocsp-request");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->body, std::string("\x30\x03\x0a\x01\x01", 5));
  auto wrong_type = client.Post("/ocsp", "garbage", "text/plain");
  ASSERT_TRUE(wrong_type);
  EXPECT_EQ(wrong_type->status, 415);
  Get("/ocsp/%zz", &status);
  EXPECT_EQ(status, 400);
}

TEST_F(CaRevocationTest, RecordsAreUpdatedSuspendedReactivatedAndClosedWithHistory) {
  std::string wallet = Enrolled("Example GmbH");
  std::string id = Count("SELECT id FROM ca.subscribers");
  auto upd = Ctl({"subscriber", "update", id, "--email", "billing@example.de"});
  ASSERT_EQ(upd.exit_code, 0) << upd.Describe();
  EXPECT_THAT(Ctl({"subscriber", "show", id}).out, HasSubstr("billing@example.de"));
  auto bad = Ctl({"subscriber", "update", id, "--vat", "VATDE-1"});
  EXPECT_THAT(bad.err, HasSubstr("subscriber.vat_reference"));

  auto suspend = Ctl({"subscriber", "suspend", id, "--reason", "unpaid fees"});
  ASSERT_EQ(suspend.exit_code, 0) << suspend.Describe();
  EXPECT_THAT(Ocsp(wallet + "/signature.pem").out, HasSubstr(": revoked"));
  // A suspended subscriber gets no new enrolment code.
  EXPECT_THAT(Ctl({"subscriber", "new-code", id}).err, HasSubstr("not active"));
  auto reactivate = Ctl({"subscriber", "reactivate", id});
  ASSERT_EQ(reactivate.exit_code, 0) << reactivate.Describe();
  EXPECT_THAT(Ocsp(wallet + "/signature.pem").out, HasSubstr(": good"));

  // Closing revokes everything and cannot be undone: without confirmation, nothing happens.
  auto not_closed =
      RunCommand({SEMPERCTL, "--server", "127.0.0.1:" + std::to_string(port_), "--server-name", "localhost",
                  "--ca-file", P("pki/root.pem"), "--cert", P("pki/admin/admin.pem"), "--key", P("pki/admin/admin.key"),
                  "--key-passphrase-file", P("pass"), "subscriber", "close", id, "--reason", "contract ended"});
  EXPECT_EQ(not_closed.exit_code, 1) << not_closed.Describe();
  EXPECT_THAT(not_closed.out, HasSubstr("cannot be undone"));
  EXPECT_THAT(Ocsp(wallet + "/signature.pem").out, HasSubstr(": good"));
  auto close = Ctl({"subscriber", "close", id, "--reason", "contract ended"});
  ASSERT_EQ(close.exit_code, 0) << close.Describe();
  auto ocsp = Ocsp(wallet + "/authentication.pem");
  EXPECT_THAT(ocsp.out, HasSubstr(": revoked"));
  EXPECT_THAT(ocsp.out, HasSubstr("cessationOfOperation"));
  EXPECT_THAT(Ctl({"subscriber", "reactivate", id}).err, HasSubstr("closing is final"));

  auto history = Ctl({"subscriber", "history", id});
  ASSERT_EQ(history.exit_code, 0) << history.Describe();
  for (const char* action : {"registered", "enrolled", "updated", "suspended", "reactivated", "closed"}) {
    EXPECT_THAT(history.out, HasSubstr(action));
  }
  EXPECT_THAT(history.out, HasSubstr("billing@example.de"));
  EXPECT_THAT(history.out, HasSubstr("CN=Administrator"));
  EXPECT_THAT(history.out, HasSubstr("unpaid fees"));
}

// The issuing CA's key in a SoftHSM2 token instead of ca.key.
class CaTokenTest : public CaDaemonTest {
 protected:
  void PrepareKeys() override {
    std::string tokens = P("tokens");
    std::filesystem::create_directories(tokens);
    conf_ = dir_.Write("softhsm2.conf", "directories.tokendir = " + tokens + "\nobjectstore.backend = file\n");
    setenv("SOFTHSM2_CONF", conf_.c_str(), 1);
    auto init = RunCommand({"softhsm2-util", "--init-token", "--free", "--label", "semper-ca", "--pin", "24681357",
                            "--so-pin", "13572468"});
    ASSERT_EQ(init.exit_code, 0) << init.Describe();
    auto key = PrivateKey::FromPem(Slurp(P("pki/ca.key")), SecretData(kPass));
    ASSERT_THAT(key, IsOk());
    std::string plain = dir_.Write("ca-plain.pem", std::string(key->ToUnencryptedPemSecret().Reveal()));
    auto import = RunCommand({"softhsm2-util", "--import", plain, "--token", "semper-ca", "--label", "issuing", "--id",
                              "01", "--pin", "24681357"});
    ASSERT_EQ(import.exit_code, 0) << import.Describe();
    // Neither the plain copy nor the encrypted file is left for the daemon to fall back on.
    ASSERT_TRUE(std::filesystem::remove(plain));
    ASSERT_TRUE(std::filesystem::remove(P("pki/ca.key")));
    dir_.Write("pin", "24681357");
  }
  std::vector<std::string> ExtraEnv() override {
    return {"SOFTHSM2_CONF=" + conf_, "SEMPER_CA_KEY_URI=pkcs11:token=semper-ca;object=issuing;type=private",
            "SEMPER_CA_PKCS11_PIN_FILE=" + P("pin")};
  }
  std::string conf_;
};

TEST_F(CaTokenTest, IssuesCertificatesAndCrlsWithTheKeyInTheToken) {
  EXPECT_THAT(Slurp(P("ca.log")), HasSubstr("source=pkcs11"));
  std::string code = RegisterEnterprise();
  dir_.Write("wpass", "wallet passphrase");
  auto e = Ctl({"enroll", "--code", code, "--wallet", P("wallet"), "--wallet-passphrase-file", P("wpass")}, false);
  ASSERT_EQ(e.exit_code, 0) << e.Describe() << Slurp(P("ca.log"));
  auto v = RunCommand({"openssl", "verify", "-x509_strict", "-CAfile", P("pki/root.pem"), "-untrusted", P("pki/ca.pem"),
                       P("wallet/signature.pem")});
  EXPECT_EQ(v.exit_code, 0) << v.Describe();
  // The CRL is signed in the token too.
  httplib::Client client("127.0.0.1", http_port_);
  auto crl = client.Get("/crl");
  ASSERT_TRUE(crl);
  dir_.Write("crl.der", crl->body);
  auto c =
      RunCommand({"openssl", "crl", "-inform", "DER", "-in", P("crl.der"), "-CAfile", P("pki/chain.pem"), "-noout"});
  EXPECT_THAT(c.out + c.err, HasSubstr("verify OK"));
}

// Two replicas of semper-ca on one database: a revocation made at one reaches the other's OCSP
// answers within a second, though that replica cached a signed GOOD response for 5 s
// (ca.ocsp_cache_ttl): every replica's revocation feed clears its caches.
class CaReplicasTest : public ::semper::testing::PostgresTest {};

TEST_F(CaReplicasTest, ARevocationAtOneReplicaReachesTheOthersOcspWithinASecond) {
  TempDir dir;
  auto o = Suite::Options::Only({}, conninfo());
  o.ca_replicas = 2;
  o.http = {"ca"};
  auto suite = Suite::Start(&dir, o);
  ASSERT_THAT(suite.status(), IsOk());
  auto holder = (*suite)->Enroll("Replica Shop GmbH", v1::CUSTOMER_KIND_ENTERPRISE);
  ASSERT_THAT(holder.status(), IsOk());
  const std::string cert = dir.Write("holder.pem", holder->certificate.Pem());
  // Asked at the first replica, without a nonce: the signed answer is cached there.
  auto ocsp = [&] {
    auto r = RunCommand({"openssl", "ocsp", "-no_nonce", "-issuer", (*suite)->P("pki/ca.pem"), "-cert", cert, "-url",
                         "http://127.0.0.1:" + std::to_string((*suite)->port("ca-http")) + "/ocsp", "-CAfile",
                         (*suite)->P("pki/root.pem")});
    return r.out + r.err;
  };
  ASSERT_THAT(ocsp(), HasSubstr(": good"));
  // Revoked at the second.
  grpc::ClientContext ctx;
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial(holder->certificate.SerialHex());
  revoke.set_reason(v1::REVOCATION_REASON_CESSATION_OF_OPERATION);
  v1::RevokeCertificateResponse revoked;
  ASSERT_TRUE(v1::CertificationAuthority::NewStub((*suite)->Channel("ca2", "admin"))
                  ->RevokeCertificate(&ctx, revoke, &revoked)
                  .ok());
  const absl::Time asked = absl::Now();
  std::string answer;
  while (absl::Now() - asked < absl::Seconds(3)) {
    answer = ocsp();
    if (answer.find(": revoked") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(answer, HasSubstr(": revoked"));
  EXPECT_LT(absl::Now() - asked, absl::Seconds(1)) << "the first replica answered from its cache for too long";
}

// CRLs are published once per change across replicas: one base at the start of three replicas,
// one per schedule interval whichever replicas' timers fire, and one full CRL and one delta per
// revocation, at the replica that made it.
TEST_F(CaReplicasTest, ReplicasPublishEachCrlOnce) {
  TempDir dir;
  auto o = Suite::Options::Only({}, conninfo());
  o.ca_replicas = 3;
  o.env["ca"] = {"SEMPER_CA_CRL_INTERVAL=2s"};
  auto suite = Suite::Init(&dir, o);
  ASSERT_THAT(suite.status(), IsOk());
  auto sql = [&](const std::string& q) { return *postgres().Query(database(), q); };
  ASSERT_THAT((*suite)->StartDaemon("ca"), IsOk());
  const absl::Time first_start = absl::Now();
  ASSERT_THAT((*suite)->StartDaemon("ca2"), IsOk());
  ASSERT_THAT((*suite)->StartDaemon("ca3"), IsOk());
  // Three replicas, each with its start and its schedule, for at least 7 s: four intervals at most.
  absl::SleepFor(absl::Seconds(7) - (absl::Now() - first_start));
  const int64_t elapsed_intervals = (absl::Now() - first_start) / absl::Seconds(2);
  const int64_t bases = std::stoll(sql("SELECT count(*) FROM ca.crls WHERE is_base"));
  EXPECT_GE(bases, 2) << "the schedule issued no base";
  EXPECT_LE(bases, elapsed_intervals + 1) << "replicas issued a base each instead of one per interval";
  // Bases are at least nine tenths of an interval apart.
  EXPECT_EQ(sql("SELECT count(*) FROM (SELECT this_update - lag(this_update) OVER (ORDER BY number) AS gap "
                "FROM ca.crls WHERE is_base) g WHERE gap < interval '1.8 seconds'"),
            "0");
  // A revocation: one full CRL and its delta, whatever the replicas (the schedule issues bases with
  // empty deltas; only a change issues a full CRL that is not a base).
  auto holder = (*suite)->Enroll("Crl Shop GmbH", v1::CUSTOMER_KIND_ENTERPRISE, "ca,ca2,ca3");
  ASSERT_THAT(holder.status(), IsOk());
  const std::string changes = "SELECT count(*) FROM ca.crls WHERE NOT is_base AND delta_base IS NULL";
  const std::string before = sql(changes);
  grpc::ClientContext ctx;
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial(holder->certificate.SerialHex());
  revoke.set_reason(v1::REVOCATION_REASON_CESSATION_OF_OPERATION);
  v1::RevokeCertificateResponse revoked;
  ASSERT_TRUE(v1::CertificationAuthority::NewStub((*suite)->Channel("ca3", "admin"))
                  ->RevokeCertificate(&ctx, revoke, &revoked)
                  .ok());
  EXPECT_EQ(std::stoll(sql(changes)) - std::stoll(before), 1);
  EXPECT_EQ(sql("SELECT count(*) FROM ca.crls d, (SELECT max(number) AS n FROM ca.crls WHERE NOT is_base AND "
                "delta_base IS NULL) f WHERE d.number = f.n + 1 AND d.delta_base IS NOT NULL"),
            "1")
      << "the revocation's full CRL has no delta beside it";
  // A status change whose CRL was never published (its replica died between the commit and the
  // publication: made here in SQL) is in the next base any replica's schedule issues, however
  // recent the latest base.
  auto lost = (*suite)->Enroll("Lost Crl GmbH", v1::CUSTOMER_KIND_ENTERPRISE, "ca2");
  ASSERT_THAT(lost.status(), IsOk());
  sql("UPDATE ca.certificates SET revoked_at = now(), revocation_reason = 5 WHERE serial = '" +
      lost->certificate.SerialHex() + "'");
  const std::string covered =
      "SELECT count(*) FROM ca.crls WHERE is_base AND status_seq >= (SELECT status_seq FROM "
      "ca.certificates WHERE serial = '" +
      lost->certificate.SerialHex() + "')";
  std::string found = "0";
  for (absl::Time end = absl::Now() + absl::Seconds(4); absl::Now() < end && found == "0";) {
    absl::SleepFor(absl::Milliseconds(200));
    found = sql(covered);
  }
  EXPECT_NE(found, "0") << "no base CRL included a status change whose publication was lost";
}

TEST(CaInitTest, InitRefusesToOverwriteAndNeedsAGoodPassphrase) {
  TempDir dir;
  dir.Write("short", "short");
  auto r = RunCommand({SEMPER_CA, "init", "--dir", dir.path() + "/pki", "--passphrase-file", dir.path() + "/short"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("at least 12 characters"));
  dir.Write("pass", kPass);
  r = RunCommand({SEMPER_CA, "init", "--dir", dir.path() + "/pki", "--passphrase-file", dir.path() + "/pass"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  std::string root_before = Slurp(dir.path() + "/pki/root.pem");
  r = RunCommand({SEMPER_CA, "init", "--dir", dir.path() + "/pki", "--passphrase-file", dir.path() + "/pass"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(Slurp(dir.path() + "/pki/root.pem"), root_before);
  for (const char* cert :
       {"services/tsa-signing.pem", "services/ocsp-signing.pem", "services/notary-tls.pem", "admin/admin.pem"}) {
    auto v = RunCommand({"openssl", "verify", "-x509_strict", "-CAfile", dir.path() + "/pki/root.pem", "-untrusted",
                         dir.path() + "/pki/ca.pem", dir.path() + "/pki/" + cert});
    EXPECT_EQ(v.exit_code, 0) << cert << v.Describe();
  }
  auto tsa = RunCommand({"openssl", "verify", "-purpose", "timestampsign", "-CAfile", dir.path() + "/pki/root.pem",
                         "-untrusted", dir.path() + "/pki/ca.pem", dir.path() + "/pki/services/tsa-signing.pem"});
  EXPECT_EQ(tsa.exit_code, 0) << tsa.Describe();
  auto eku = RunCommand(
      {"openssl", "x509", "-in", dir.path() + "/pki/services/tsa-signing.pem", "-noout", "-ext", "extendedKeyUsage"});
  EXPECT_THAT(eku.out, HasSubstr("critical"));
  struct stat st;
  ASSERT_EQ(stat((dir.path() + "/pki/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THAT(Slurp(dir.path() + "/pki/ca.key"), HasSubstr("BEGIN ENCRYPTED PRIVATE KEY"));

  // The root's CRL is re-signed offline before it expires, numbered on.
  std::string crl_before = Slurp(dir.path() + "/pki/root.crl");
  dir.Write("wrong", "not the passphrase at all");
  r = RunCommand({SEMPER_CA, "root-crl", "--dir", dir.path() + "/pki", "--passphrase-file", dir.path() + "/wrong"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Slurp(dir.path() + "/pki/root.crl"), crl_before);
  r = RunCommand(
      {SEMPER_CA, "root-crl", "--dir", dir.path() + "/pki", "--passphrase-file", dir.path() + "/pass", "--days", "30"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("CRL number 2"));
  auto renewed = RunCommand({"openssl", "crl", "-inform", "DER", "-in", dir.path() + "/pki/root.crl", "-CAfile",
                             dir.path() + "/pki/root.pem", "-noout", "-crlnumber", "-nextupdate"});
  EXPECT_THAT(renewed.out + renewed.err, HasSubstr("verify OK"));
  EXPECT_THAT(renewed.out, HasSubstr("crlNumber=0x02"));
  EXPECT_THAT(renewed.out, HasSubstr(absl::FormatTime("%b", absl::Now() + absl::Hours(24 * 30), absl::UTCTimeZone())));
}

}  // namespace
}  // namespace semper
