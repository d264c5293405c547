// semper-notary as a process with real semper-ca, semper-tsa and PostgreSQL: document
// certification (attestation checked by `openssl cms -verify`, its token by `openssl ts
// -verify`), the evidence log's proofs, refusals that append nothing, and a tampered database
// caught by the proofs and the audit.
#include <absl/strings/ascii.h>
#include <absl/strings/escaping.h>
#include <absl/strings/str_cat.h>
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/str_join.h"
#include "common/crypto/cms.h"
#include "common/crypto/csr.h"
#include "common/crypto/digest.h"
#include "common/crypto/merkle.h"
#include "common/crypto/random.h"
#include "common/crypto/timestamp.h"
#include "common/server/grpc_status.h"
#include "semper/v1/ca.grpc.pb.h"
#include "semper/v1/notary.grpc.pb.h"
#include "semper/v1/tsa.grpc.pb.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/suite.h"
#include "tests/support/wallet.h"

namespace semper {
namespace {

using ::semper::testing::ChildProcess;
using ::semper::testing::CommandResult;
using ::semper::testing::IsOk;
using ::semper::testing::RunCommand;
using ::semper::testing::Slurp;
using ::semper::testing::StatusIs;
using ::semper::testing::StatusWithMessage;
using ::semper::testing::Suite;
using ::semper::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kPass[] = "notary test passphrase 1";

// A subscriber's signature key and certificate, enrolled at the running semper-ca.
struct Signer {
  PrivateKey key;
  Certificate certificate;
  PrivateKey auth_key;
  Certificate auth_certificate;
};

class NotaryTest : public ::semper::testing::PostgresTest {
 protected:
  // semper-ca, semper-tsa and semper-notary, each with its HTTP port, on the suite's fixture.
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    auto o = Suite::Options::Only({"tsa", "notary"}, conninfo());
    o.passphrase = kPass;
    o.http = {"ca", "tsa", "notary"};
    auto suite = Suite::Start(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
    ca_port_ = suite_->port("ca");
    tsa_port_ = suite_->port("tsa");
    notary_port_ = suite_->port("notary");
  }

  void StartNotary(const std::vector<std::string>& extra_env = {}) {
    ASSERT_THAT(suite_->StartDaemon("notary", extra_env), IsOk());
  }
  // A clean stop: exit 0.
  void StopNotary() { ASSERT_THAT(suite_->Stop("notary"), IsOk()) << Slurp(P("notary.log")); }

  // The notary started once more on this database as a command (another replica's settings), for
  // a start that must refuse (60 s at most: one that serves instead is killed, and the test sees
  // its exit code).
  CommandResult StartNotaryThatMustRefuse() {
    std::vector<std::string> argv = {"timeout", "60"};
    for (std::string& a : suite_->Argv("notary3")) argv.push_back(std::move(a));
    return RunCommand(argv);
  }

  // A second replica of the notary on the same database ("notary2", its log notary2.log),
  // serving on `*port`.
  void StartReplica(int* port) {
    ASSERT_THAT(suite_->StartDaemon("notary2"), IsOk());
    *port = suite_->port("notary2");
  }
  // `who`'s detached CMS signature over `document`, with the suite's chain.
  std::string SignedBy(const Signer& who, const std::string& document) {
    return *CmsSignDetached(document, who.key, who.certificate, Chain());
  }
  // The notary stopped, and its log replaced by `n` rows put in by SQL as an upgrade from before
  // tiles finds them ("entry 0" ... with signatures that do not verify), none tiled.
  void ReplaceTheLogWithUntiledRows(int n) {
    StopNotary();
    Sql(
        absl::StrCat("DELETE FROM notary.tree_heads; DELETE FROM notary.tree_tiles; DELETE FROM notary.log_entries; "
                     "INSERT INTO notary.log_entries (index, kind, statement, signature) "
                     "SELECT g, 'attestation', convert_to('entry ' || g, 'UTF8'), '\\x00'::bytea "
                     "FROM generate_series(0, ",
                     n - 1, ") g; UPDATE notary.log_head SET size = ", n, ", tiled = 0"));
  }

  // SIGKILL: no shutdown, no flushing; then the same notary starts again on the same database.
  void KillAndRestartNotary() {
    ASSERT_THAT(suite_->Kill("notary"), IsOk());
    StartNotary();
  }

  static std::chrono::system_clock::time_point Deadline(int seconds) {
    return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
  }
  std::string P(const std::string& name) const { return dir_.path() + "/" + name; }

  std::shared_ptr<grpc::Channel> Channel(int port, bool admin = false) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Slurp(P("pki/root.pem"));
    if (admin) {
      auto key = PrivateKey::FromPem(Slurp(P("pki/admin/admin.key")), SecretData(kPass));
      ssl.pem_private_key = std::string(key->ToUnencryptedPemSecret().Reveal());
      ssl.pem_cert_chain = Slurp(P("pki/admin/admin.pem"));
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(ssl), args);
  }
  std::unique_ptr<v1::Notary::Stub> Notary(bool admin = false) {
    return v1::Notary::NewStub(Channel(notary_port_, admin));
  }
  // The notary as a subscriber's client (its authentication certificate in TLS); nullptr: a
  // stranger without a certificate.
  std::unique_ptr<v1::Notary::Stub> NotaryAs(const Signer* who) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Slurp(P("pki/root.pem"));
    if (who != nullptr) {
      ssl.pem_private_key = std::string(who->auth_key.ToUnencryptedPemSecret().Reveal());
      ssl.pem_cert_chain = who->auth_certificate.Pem() + Slurp(P("pki/ca.pem"));
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    return v1::Notary::NewStub(
        grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(notary_port_), grpc::SslCredentials(ssl), args));
  }

  // A gRPC server with a daemon's own TLS certificate and key (what its operator holds), for tests
  // of a daemon that lies; `*port` is where it listens.
  std::unique_ptr<grpc::Server> ServeAs(const std::string& daemon, grpc::Service* service, int* port) {
    auto key = PrivateKey::FromPem(Slurp(P("pki/services/" + daemon + "-tls.key")), SecretData(kPass));
    EXPECT_THAT(key, IsOk());
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back(
        {std::string(key->ToUnencryptedPemSecret().Reveal()), Slurp(P("pki/services/" + daemon + "-tls.pem"))});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), port);
    builder.RegisterService(service);
    return builder.BuildAndStart();
  }
  // semperctl's wallet for a signer (both keys), passphrase in "wpass".
  std::string WalletOf(const Signer& who, const std::string& name) {
    dir_.Write("wpass", "wallet passphrase");
    return ::semper::testing::WriteFullWallet(dir_, name, who.key, who.certificate, who.auth_key, who.auth_certificate,
                                              Slurp(P("pki/ca.pem")), "wallet passphrase");
  }
  // semperctl against a (lying) notary or TSA on `port`.
  CommandResult CtlAt(const std::string& daemon_flag, int port, std::vector<std::string> args) {
    std::vector<std::string> argv = {SEMPERCTL,         daemon_flag, "127.0.0.1:" + std::to_string(port),
                                     "--server-name",   "localhost", "--ca-file",
                                     P("pki/root.pem"), "--yes"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  // Registers and enrolls a subscriber at semper-ca; returns its keys and certificates.
  Signer Enroll(const std::string& name) {
    auto admin = v1::CertificationAuthority::NewStub(Channel(ca_port_, true));
    v1::RegisterSubscriberRequest reg;
    auto* s = reg.mutable_subscriber();
    s->set_name(name);
    s->set_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
    s->set_country("DE");
    s->set_applicable_law("DE");
    s->set_email("x@example.de");
    v1::RegisterSubscriberResponse registered;
    grpc::ClientContext c1;
    EXPECT_TRUE(admin->RegisterSubscriber(&c1, reg, &registered).ok());
    auto auth_key = *PrivateKey::Generate(KeyType::kEcP256);
    auto sig_key = *PrivateKey::Generate(KeyType::kEcP256);
    v1::EnrollRequest enroll;
    enroll.set_enrolment_code(registered.enrolment_code());
    enroll.set_authentication_csr(CertificationRequest::Create(auth_key, {})->Der());
    enroll.set_signature_csr(CertificationRequest::Create(sig_key, {})->Der());
    v1::EnrollResponse enrolled;
    grpc::ClientContext c2;
    auto status = v1::CertificationAuthority::NewStub(Channel(ca_port_))->Enroll(&c2, enroll, &enrolled);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return Signer{sig_key, *Certificate::FromDer(enrolled.signature().certificate()), auth_key,
                  *Certificate::FromDer(enrolled.authentication().certificate())};
  }
  std::vector<Certificate> Chain() { return {*Certificate::FromPem(Slurp(P("pki/ca.pem")))}; }

  absl::StatusOr<v1::Evidence> Certify(const std::string& document, const std::string& signature,
                                       bool hash_only = false, int port = 0) {
    v1::CertifyDocumentRequest req;
    if (hash_only) {
      req.set_document_sha256(Sha256(document));
    } else {
      req.set_document(document);
    }
    req.set_signature(signature);
    v1::Evidence e;
    grpc::ClientContext ctx;
    grpc::Status s = v1::Notary::NewStub(Channel(port == 0 ? notary_port_ : port))->CertifyDocument(&ctx, req, &e);
    if (!s.ok()) return FromGrpcStatus(s);
    return e;
  }
  // `n` documents signed by `who` and certified: their evidence.
  std::vector<v1::Evidence> CertifyMany(const Signer& who, const std::string& prefix, int n) {
    std::vector<v1::Evidence> out;
    for (int i = 0; i < n; ++i) {
      std::string doc = prefix + " " + std::to_string(i);
      auto e = Certify(doc, SignedBy(who, doc));
      EXPECT_THAT(e, IsOk());
      if (e.ok()) out.push_back(*e);
    }
    return out;
  }
  // semperctl against this notary; `yes`: answer its confirmations.
  CommandResult Ctl(std::vector<std::string> args, bool yes = true) {
    std::vector<std::string> argv = {SEMPERCTL,        "--notary",  "127.0.0.1:" + std::to_string(notary_port_),
                                     "--server-name",  "localhost", "--ca-file",
                                     P("pki/root.pem")};
    if (yes) argv.push_back("--yes");
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
  // What someone with database access does to entry `index`: one word of its statement changed.
  void RewriteEntry(int index) {
    Sql("UPDATE notary.log_entries SET statement = convert_to(replace(convert_from(statement, 'UTF8'), "
        "'semper-notarial-attestation', 'semper-notarial-attestatioN'), 'UTF8') WHERE index = " +
        std::to_string(index));
  }
  uint64_t TreeSize() {
    v1::SignedTreeHead head;
    grpc::ClientContext ctx;
    EXPECT_TRUE(Notary()->GetTreeHead(&ctx, {}, &head).ok());
    return head.tree_size();
  }
  // `openssl cms -verify` of a statement and the notary's signature over it.
  CommandResult OpensslCmsVerify(const std::string& statement, const std::string& signature) {
    dir_.Write("statement.json", statement);
    dir_.Write("statement.sig", signature);
    return RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("statement.sig"), "-content",
                       P("statement.json"), "-CAfile", P("pki/root.pem"), "-purpose", "any", "-out", "/dev/null",
                       "-signer", P("statement-signer.pem")});
  }
  // The README's check of a daemon's statement with openssl alone: the signature verifies, and
  // its signer's subject, which must be exactly the notary signing certificate's, the root's with
  // another CN ("" when it does not verify).
  std::string OpensslSignerSubject(const std::string& statement, const std::string& signature) {
    std::filesystem::remove(P("statement-signer.pem"));
    if (OpensslCmsVerify(statement, signature).exit_code != 0) return "";
    auto subject =
        RunCommand({"openssl", "x509", "-in", P("statement-signer.pem"), "-noout", "-subject", "-nameopt", "RFC2253"});
    return subject.exit_code == 0 ? std::string(absl::StripTrailingAsciiWhitespace(subject.out)) : "";
  }
  bool ByTheNotary(const std::string& statement, const std::string& signature) {
    return OpensslSignerSubject(statement, signature) == "subject=CN=semper-notary signer,O=semper,C=DE";
  }
  // The client's check of evidence: the notary's signature, the inclusion proof into the tree
  // head, and the tree head's signature.
  bool EvidenceHolds(const v1::Evidence& e) {
    const auto& proof = e.inclusion();
    std::vector<std::string> path(proof.audit_path().begin(), proof.audit_path().end());
    return ByTheNotary(e.statement(), e.signature()) &&
           VerifyMerkleInclusion(proof.leaf_index(), proof.tree_size(), MerkleLeafHash(e.statement()), path,
                                 e.tree_head().root_hash()) &&
           proof.tree_size() == e.tree_head().tree_size() &&
           ByTheNotary(e.tree_head().statement(), e.tree_head().signature());
  }
  // What anyone sees of entry `index` (GetEvidence as a stranger) must be its leaf hash and proof
  // only; the proof must hold.
  v1::Evidence PublicEntry(uint64_t index) {
    v1::GetEvidenceRequest get;
    get.set_index(index);
    v1::Evidence e;
    grpc::ClientContext ctx;
    EXPECT_TRUE(NotaryAs(nullptr)->GetEvidence(&ctx, get, &e).ok());
    return e;
  }
  bool LeafHolds(const v1::Evidence& e) {
    const auto& proof = e.inclusion();
    std::vector<std::string> path(proof.audit_path().begin(), proof.audit_path().end());
    return proof.leaf_index() == e.index() && proof.tree_size() == e.tree_head().tree_size() &&
           VerifyMerkleInclusion(proof.leaf_index(), proof.tree_size(), e.leaf_hash(), path,
                                 e.tree_head().root_hash()) &&
           OpensslCmsVerify(e.tree_head().statement(), e.tree_head().signature()).exit_code == 0;
  }
  // Finding 4 of "Trust under attack (1 of 2)": the public log showed who certified, contracted
  // and mailed what. Reads every entry as a stranger: a leaf hash and a proof that holds, no
  // statement, kind or signature, and none of `secrets` (names, ids, hashes) anywhere in the
  // answer; the leaf hash is the one in the parties' evidence.
  void ExpectThePublicLogShowsOnlyLeafHashes(const std::vector<v1::Evidence>& held,
                                             const std::vector<std::string>& secrets) {
    const uint64_t size = TreeSize();
    ASSERT_GT(size, 0u);
    for (uint64_t i = 0; i < size; ++i) {
      v1::Evidence e = PublicEntry(i);
      EXPECT_EQ(e.index(), i);
      EXPECT_EQ(e.leaf_hash().size(), 32u) << i;
      EXPECT_TRUE(e.statement().empty() && e.signature().empty() && e.kind().empty()) << i;
      EXPECT_TRUE(LeafHolds(e)) << i;
      const std::string wire = e.SerializeAsString();
      for (const std::string& secret : secrets) EXPECT_EQ(wire.find(secret), std::string::npos) << i << ": " << secret;
    }
    std::set<std::string> nonces;
    for (const v1::Evidence& h : held) {
      std::smatch nonce;
      if (std::regex_search(h.statement(), nonce, std::regex("\"nonce\": ?\"([^\"]*)\""))) nonces.insert(nonce[1]);
      EXPECT_EQ(h.leaf_hash(), MerkleLeafHash(h.statement()));
      EXPECT_EQ(PublicEntry(h.index()).leaf_hash(), h.leaf_hash()) << h.index();
      // The nonce that keeps the leaf hash from confirming a guess of the statement.
      EXPECT_THAT(std::string(h.statement()), ::testing::ContainsRegex("\"nonce\": ?\"[A-Za-z0-9+/]{22}==\""))
          << h.statement();
    }
    EXPECT_EQ(nonces.size(), held.size()) << "a nonce came twice";
  }
  std::string Sql(const std::string& sql) { return *postgres().Query(database(), sql); }

  TempDir dir_;
  std::unique_ptr<Suite> suite_;
  int ca_port_ = 0, tsa_port_ = 0, notary_port_ = 0;
};

TEST_F(NotaryTest, CertifiesASignedDocumentWithEvidenceStandardToolsCheck) {
  Signer alice = Enroll("Alice");
  std::string document = "Purchase order 4711: 12 crates of apples, EUR 240.\n";
  auto signature = CmsSignDetached(document, alice.key, alice.certificate, Chain());
  ASSERT_THAT(signature, IsOk());
  auto e = Certify(document, *signature);
  ASSERT_THAT(e, IsOk()) << Slurp(P("notary.log"));
  EXPECT_EQ(e->kind(), "attestation");
  EXPECT_TRUE(EvidenceHolds(*e));
  auto verified = OpensslCmsVerify(e->statement(), e->signature());
  EXPECT_EQ(verified.exit_code, 0) << verified.Describe();
  EXPECT_THAT(verified.err, HasSubstr("Verification successful"));

  // What the attestation says, and its time-stamp checked by openssl ts.
  v1::AttestationStatement st;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(e->statement(), &st).ok()) << e->statement();
  EXPECT_EQ(st.type(), "semper-notarial-attestation");
  EXPECT_EQ(st.document_sha256(), Sha256(document));
  EXPECT_EQ(st.signer_subject(), alice.certificate.Subject());
  EXPECT_EQ(st.signer_certificate_serial(), alice.certificate.SerialHex());
  EXPECT_THAT(st.verified(), ::testing::ElementsAre("cms-signature", "certificate-path", "certificate-status-good"));
  EXPECT_EQ(st.document_signature(), *signature);
  dir_.Write("token.der", st.time_stamp_token());
  auto ts = RunCommand({"openssl", "ts", "-verify", "-digest", HexEncode(Sha256(document)), "-token_in", "-in",
                        P("token.der"), "-CAfile", P("pki/root.pem"), "-untrusted", P("pki/ca.pem")});
  EXPECT_EQ(ts.exit_code, 0) << ts.Describe();
  // The client's signature, as kept in the attestation, still verifies over the document.
  dir_.Write("doc.txt", document);
  dir_.Write("client.sig", st.document_signature());
  auto client =
      RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("client.sig"), "-content",
                  P("doc.txt"), "-CAfile", P("pki/root.pem"), "-purpose", "any", "-out", "/dev/null"});
  EXPECT_EQ(client.exit_code, 0) << client.Describe();

  // Only the hash shown: the same checks, against the signature's messageDigest.
  auto by_hash = Certify(document, *signature, /*hash_only=*/true);
  ASSERT_THAT(by_hash, IsOk());
  v1::AttestationStatement hashed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(by_hash->statement(), &hashed).ok());
  EXPECT_TRUE(hashed.hash_only());
  EXPECT_EQ(hashed.document_sha256(), Sha256(document));
  EXPECT_THAT(Certify(document + "x", *signature, /*hash_only=*/true),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));

  // The same evidence, fetched again, proves into a later tree head; and the heads are consistent.
  v1::SignedTreeHead first = e->tree_head();
  Signer bob = Enroll("Bob");
  for (int i = 0; i < 3; ++i) {
    std::string doc = "order " + std::to_string(i);
    ASSERT_THAT(Certify(doc, *CmsSignDetached(doc, bob.key, bob.certificate, Chain())), IsOk());
  }
  // Anyone may read the log, as leaf hashes: the entry proves into the later tree head.
  v1::Evidence again = PublicEntry(e->index());
  EXPECT_EQ(again.tree_head().tree_size(), first.tree_size() + 4);
  EXPECT_EQ(again.leaf_hash(), MerkleLeafHash(e->statement()));
  EXPECT_TRUE(again.statement().empty());
  EXPECT_TRUE(LeafHolds(again));
  v1::GetConsistencyProofRequest cons;
  cons.set_old_size(first.tree_size());
  v1::ConsistencyProof proof;
  grpc::ClientContext c2;
  ASSERT_TRUE(Notary()->GetConsistencyProof(&c2, cons, &proof).ok());
  std::vector<std::string> p(proof.proof().begin(), proof.proof().end());
  EXPECT_TRUE(VerifyMerkleConsistency(first.tree_size(), proof.new_size(), first.root_hash(),
                                      proof.new_tree_head().root_hash(), p));
}

TEST_F(NotaryTest, RefusalsAppendNothing) {
  Signer alice = Enroll("Alice");
  std::string document = "contract text";
  uint64_t before = TreeSize();
  // A signature over other bytes.
  EXPECT_THAT(Certify(document, *CmsSignDetached("other text", alice.key, alice.certificate, Chain())),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  // The authentication certificate is not for signing documents (no nonRepudiation).
  EXPECT_THAT(Certify(document, *CmsSignDetached(document, alice.auth_key, alice.auth_certificate, Chain())),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  // A signer from another PKI.
  auto stranger = *PrivateKey::Generate(KeyType::kEcP256);
  CertificateTemplate t;
  t.subject = {{"CN", "Stranger"}};
  t.not_before = absl::Now() - absl::Hours(1);
  t.not_after = absl::Now() + absl::Hours(1);
  t.key_usage = kKuNonRepudiation | kKuDigitalSignature;
  auto self_signed = *IssueCertificate(t, stranger.public_key(), nullptr, stranger);
  EXPECT_THAT(Certify(document, *CmsSignDetached(document, stranger, self_signed, {})),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  // Garbage and empty input.
  EXPECT_THAT(Certify(document, "not CMS"), StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  EXPECT_THAT(Certify("", "x"), StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  // A revoked signer certificate.
  auto admin = v1::CertificationAuthority::NewStub(Channel(ca_port_, true));
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial(alice.certificate.SerialHex());
  revoke.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  v1::RevokeCertificateResponse revoked;
  grpc::ClientContext ctx;
  ASSERT_TRUE(admin->RevokeCertificate(&ctx, revoke, &revoked).ok());
  EXPECT_THAT(Certify(document, *CmsSignDetached(document, alice.key, alice.certificate, Chain())),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED));
  EXPECT_EQ(TreeSize(), before);
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.log_entries"), std::to_string(before));
}

TEST_F(NotaryTest, ATamperedDatabaseIsCaught) {
  Signer alice = Enroll("Alice");
  std::vector<v1::Evidence> evidence = CertifyMany(alice, "document", 5);
  ASSERT_EQ(evidence.size(), 5u);
  v1::AuditLogResponse audit;
  grpc::ClientContext c0;
  ASSERT_TRUE(Notary(true)->AuditLog(&c0, {}, &audit).ok());
  EXPECT_TRUE(audit.ok());
  EXPECT_EQ(audit.tree_size(), 5u);
  // Only an administrator may audit.
  grpc::ClientContext c1;
  EXPECT_THAT(FromGrpcStatus(Notary()->AuditLog(&c1, {}, &audit)), StatusIs(absl::StatusCode::kUnauthenticated));

  // The stored tree's coverage lowered by hand: the audit compares no tile beyond it, and says so.
  Sql("UPDATE notary.log_head SET tiled = 0");
  grpc::ClientContext cl;
  ASSERT_TRUE(Notary(true)->AuditLog(&cl, {}, &audit).ok());
  EXPECT_FALSE(audit.ok());
  EXPECT_EQ(audit.tiled(), 0u);
  Sql("UPDATE notary.log_head SET tiled = 5");
  grpc::ClientContext cr;
  ASSERT_TRUE(Notary(true)->AuditLog(&cr, {}, &audit).ok());
  EXPECT_TRUE(audit.ok());
  EXPECT_EQ(audit.tiled(), 5u);

  // A stored head's signed statement replaced by another genuine one (what GetTreeHead serves):
  // inconsistent, although its size and root columns are right (found by a reviewer).
  Sql("CREATE TABLE kept_head AS SELECT statement, signature FROM notary.tree_heads WHERE tree_size = 5");
  Sql("UPDATE notary.tree_heads SET statement = (SELECT statement FROM notary.tree_heads WHERE tree_size = 4), "
      "signature = (SELECT signature FROM notary.tree_heads WHERE tree_size = 4) WHERE tree_size = 5");
  grpc::ClientContext cs;
  ASSERT_TRUE(Notary(true)->AuditLog(&cs, {}, &audit).ok());
  EXPECT_THAT(audit.inconsistent_tree_heads(), ::testing::ElementsAre(5u));
  EXPECT_FALSE(audit.ok());
  Sql("UPDATE notary.tree_heads h SET statement = k.statement, signature = k.signature FROM kept_head k "
      "WHERE h.tree_size = 5; DROP TABLE kept_head");

  // Someone with database access rewrites entry 2's statement.
  RewriteEntry(2);
  v1::Evidence changed = PublicEntry(2);
  EXPECT_NE(changed.leaf_hash(), evidence[2].leaf_hash());
  EXPECT_FALSE(LeafHolds(changed));  // the proof does not hold for the changed entry
  grpc::ClientContext c3;
  ASSERT_TRUE(Notary(true)->AuditLog(&c3, {}, &audit).ok());
  EXPECT_FALSE(audit.ok());
  EXPECT_THAT(audit.bad_entries(), ::testing::Contains(2u));
  EXPECT_FALSE(audit.inconsistent_tree_heads().empty());

  // A stored tile changed shows in the audit (its proofs would not verify against the heads).
  Sql("UPDATE notary.tree_tiles SET hashes = set_byte(hashes, 0, get_byte(hashes, 0) # 1) WHERE level = 1 AND idx = 0");
  grpc::ClientContext ct;
  ASSERT_TRUE(Notary(true)->AuditLog(&ct, {}, &audit).ok());
  EXPECT_THAT(audit.bad_tiles(), ::testing::Contains("1:0"));

  // A removed entry is caught as well, and a restarted notary refuses to serve the log.
  Sql("DELETE FROM notary.log_entries WHERE index = 4");
  grpc::ClientContext c4;
  ASSERT_TRUE(Notary(true)->AuditLog(&c4, {}, &audit).ok());
  EXPECT_THAT(audit.inconsistent_tree_heads(), ::testing::Contains(5u));
  StopNotary();
  auto restart = StartNotaryThatMustRefuse();
  EXPECT_EQ(restart.exit_code, 1);
  EXPECT_THAT(restart.out + restart.err, HasSubstr("missing"));
}

// Issue 19, finding 9: the notary kept its whole Merkle tree in memory and read every entry at
// start, so that start-up time and memory grew with the log. The tree is stored in tiles beside
// the entries; a start reads the right edge only (about one tile per level). Here a log of
// 200,000 entries written before tiles existed (rows put in by SQL, as an upgrade finds them) is
// tiled at the first start; every later start reads at most 2 x 18 tiles; proofs hold against
// the tree an independent computation gives, and appends go on from there.
TEST_F(NotaryTest, AStartReadsTheRightEdgeOfTheStoredTreeNotTheLog) {
  constexpr int kEntries = 200000;
  ASSERT_NO_FATAL_FAILURE(ReplaceTheLogWithUntiledRows(kEntries));
  MerkleLog expected;
  for (int i = 0; i < kEntries; ++i) expected.Append(MerkleLeafHash(absl::StrCat("entry ", i)));
  auto tiles_read = [&]() {
    std::smatch m;
    const std::string log = Slurp(P("notary.log"));
    EXPECT_TRUE(std::regex_search(log, m, std::regex("evidence_log_loaded.*tiles_read[\"=: ]+([0-9]+)"))) << log;
    return m.empty() ? -1 : std::stoi(m[1].str());
  };
  StartNotary();  // tiles the old entries, then starts from the right edge
  EXPECT_LE(tiles_read(), 36);
  EXPECT_EQ(Sql("SELECT tiled FROM notary.log_head"), std::to_string(kEntries));
  EXPECT_LE(std::stoi(Sql("SELECT count(*) FROM notary.tree_tiles")), 2 * kEntries / 256 + 40);
  StopNotary();
  StartNotary();
  EXPECT_LE(tiles_read(), 36);
  v1::SignedTreeHead head;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(Notary()->GetTreeHead(&ctx, {}, &head).ok());
  }
  ASSERT_EQ(head.tree_size(), static_cast<uint64_t>(kEntries));
  EXPECT_EQ(head.root_hash(), expected.Root(kEntries));
  EXPECT_TRUE(ByTheNotary(head.statement(), head.signature()));
  for (uint64_t index :
       {uint64_t{0}, uint64_t{255}, uint64_t{256}, uint64_t{65535}, uint64_t{123457}, uint64_t{kEntries - 1}}) {
    v1::Evidence e = PublicEntry(index);
    EXPECT_EQ(e.leaf_hash(), MerkleLeafHash(absl::StrCat("entry ", index)));
    EXPECT_TRUE(LeafHolds(e)) << index;
  }
  // Appends go on from the stored tree, with a consistency proof from the old head.
  Signer alice = Enroll("Alice");
  ASSERT_EQ(CertifyMany(alice, "after the upgrade", 3).size(), 3u);
  v1::GetConsistencyProofRequest req;
  req.set_old_size(kEntries);
  v1::ConsistencyProof proof;
  grpc::ClientContext ctx;
  ASSERT_TRUE(Notary()->GetConsistencyProof(&ctx, req, &proof).ok());
  EXPECT_EQ(proof.new_size(), static_cast<uint64_t>(kEntries + 3));
  std::vector<std::string> path(proof.proof().begin(), proof.proof().end());
  EXPECT_TRUE(VerifyMerkleConsistency(kEntries, proof.new_size(), expected.Root(kEntries),
                                      proof.new_tree_head().root_hash(), path));
  // A stored tile changed outside the notary is an error where it is read, never a wrong proof.
  Sql("UPDATE notary.tree_tiles SET hashes = substring(hashes from 1 for 32) WHERE level = 0 AND idx = 400");
  v1::GetEvidenceRequest get;
  get.set_index(102500);  // in that tile, which no earlier call read
  v1::Evidence e;
  grpc::ClientContext gctx;
  EXPECT_EQ(NotaryAs(nullptr)->GetEvidence(&gctx, get, &e).error_code(), grpc::StatusCode::DATA_LOSS);

  // The latest head's root is checked at start whatever its size (found by a reviewer: only a head
  // of exactly the stored size was, and a new one was signed over whatever the tiles said). The
  // heads of the three appends are gone, and the stored node of the last 64 of the 200,000 entries
  // (level 6, the last complete subtree the head's root is made of) is changed: the notary refuses
  // to start rather than sign a head that does not extend the one of 200,000 entries.
  StopNotary();
  constexpr int kNode = (kEntries - 64) / 64;  // node 3124 of level 6
  Sql(absl::StrCat("DELETE FROM notary.tree_heads WHERE tree_size > ", kEntries,
                   "; UPDATE notary.tree_tiles SET hashes = set_byte(hashes, ", (kNode % 256) * 32,
                   ", get_byte(hashes, ", (kNode % 256) * 32, ") # 1) WHERE level = 6 AND idx = ", kNode / 256));
  auto refused = StartNotaryThatMustRefuse();
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.out + refused.err, HasSubstr(absl::StrCat("signed tree head of size ", kEntries)));
  EXPECT_EQ(Sql(absl::StrCat("SELECT count(*) FROM notary.tree_heads WHERE tree_size > ", kEntries)), "0");
}

// What the audit compares (found by a reviewer of the stored tree): a full tile with bytes added
// after its 256 hashes passed, a changed full tile at the right edge was listed twice, tiles
// beyond the tree were never looked at, a row put in at index 10^12 made the audit recompute 10^12
// placeholder leaves, and tiles a starting notary had not yet written were listed as bad. Here the
// log holds 1,536 rows put in by SQL, with signatures that do not verify (so every entry is bad:
// the lists stop at 1,000, the totals do not), tiled by the notary at its start.
TEST_F(NotaryTest, TheAuditComparesEveryStoredTileOnceAndListsABoundedReport) {
  constexpr int kEntries = 1536;  // six full tiles at level 0, three at level 1: full right edges
  ASSERT_NO_FATAL_FAILURE(ReplaceTheLogWithUntiledRows(kEntries));
  StartNotary();
  auto audit = [&]() {
    v1::AuditLogResponse out;
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(120));
    grpc::Status s = Notary(true)->AuditLog(&ctx, {}, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  };
  auto listed = [](const v1::AuditLogResponse& a, const std::string& tile) {
    return std::count(a.bad_tiles().begin(), a.bad_tiles().end(), tile);
  };
  v1::AuditLogResponse clean = audit();
  EXPECT_EQ(clean.tree_size(), static_cast<uint64_t>(kEntries));
  EXPECT_EQ(clean.bad_entries_size(), 1000);
  EXPECT_EQ(clean.bad_entries_total(), static_cast<uint64_t>(kEntries));
  EXPECT_EQ(clean.bad_tiles_total(), 0u);
  EXPECT_EQ(clean.inconsistent_tree_heads_size(), 0);
  EXPECT_FALSE(clean.ok());

  const std::string flip = "UPDATE notary.tree_tiles SET hashes = set_byte(hashes, 5, get_byte(hashes, 5) # 1) ";
  // A full tile with 32 more bytes after its 256 hashes.
  Sql("UPDATE notary.tree_tiles SET hashes = hashes || sha256('x') WHERE level = 0 AND idx = 2");
  // The full tile at the right edge of level 0, and of level 1, changed.
  Sql(flip + "WHERE level = 0 AND idx = 5");
  Sql(flip + "WHERE level = 1 AND idx = 2");
  // Tiles beyond the tree: the next one of level 0, and one far above the tree's height.
  Sql("INSERT INTO notary.tree_tiles (level, idx, hashes) VALUES (0, 6, sha256('a')), (40, 0, sha256('b'))");
  // A row beyond the log, at index 10^12.
  Sql("INSERT INTO notary.log_entries (index, kind, statement, signature) VALUES "
      "(1000000000000, 'attestation', 'stray', '\\x00')");
  v1::AuditLogResponse tampered = audit();
  EXPECT_EQ(listed(tampered, "0:2"), 1);
  EXPECT_EQ(listed(tampered, "0:5"), 1);
  EXPECT_EQ(listed(tampered, "1:2"), 1);
  EXPECT_EQ(listed(tampered, "0:6"), 1);
  EXPECT_EQ(listed(tampered, "40:0"), 1);
  EXPECT_EQ(tampered.bad_tiles_total(), 5u);
  EXPECT_EQ(tampered.bad_entries_total(), static_cast<uint64_t>(kEntries + 1));
  EXPECT_EQ(tampered.tree_size(), static_cast<uint64_t>(kEntries));
  EXPECT_EQ(tampered.inconsistent_tree_heads_size(), 0);

  // Put back; then the tiles of entries 512 and on are gone and the stored tree covers only the
  // first 512, as while a starting notary tiles an older version's entries: not listed.
  Sql("DELETE FROM notary.log_entries WHERE index = 1000000000000; "
      "DELETE FROM notary.tree_tiles WHERE level = 40 OR (level = 0 AND idx = 6); "
      "UPDATE notary.tree_tiles SET hashes = substring(hashes from 1 for 8192) WHERE level = 0 AND idx = 2");
  Sql(flip + "WHERE level = 0 AND idx = 5");
  Sql(flip + "WHERE level = 1 AND idx = 2");
  EXPECT_EQ(audit().bad_tiles_total(), 0u);
  Sql("DELETE FROM notary.tree_tiles WHERE level = 0 AND idx >= 2; UPDATE notary.log_head SET tiled = 512");
  v1::AuditLogResponse tiling = audit();
  EXPECT_EQ(tiling.bad_tiles_total(), 0u) << absl::StrJoin(tiling.bad_tiles(), " ");
  EXPECT_EQ(tiling.inconsistent_tree_heads_size(), 0);
  EXPECT_EQ(tiling.tiled(), 512u);  // what was not compared, said (ok is false then)
  Sql("UPDATE notary.log_head SET tiled = " + std::to_string(kEntries));
  v1::AuditLogResponse missing = audit();
  EXPECT_EQ(missing.bad_tiles_total(), 4u);  // 0:2 to 0:5, now that the tree says it covers them

  // Found by a reviewer of the fix: tiles at a negative index went unseen; tree heads had no cap;
  // a stored size raised to 10^12 with a row just below it made 10^12 placeholders. 1,500 heads of
  // sizes the log never had, such a tile, and such a size and row: the audit ends at once, counts
  // the missing rows and lists the first 1,000 of each.
  Sql("INSERT INTO notary.tree_tiles (level, idx, hashes) VALUES (0, -1, sha256('c'))");
  Sql("INSERT INTO notary.tree_heads (tree_size, root_hash, statement, signature) "
      "SELECT 2000 + g, sha256('h'), '\\x00', '\\x00' FROM generate_series(1, 1500) g");
  // Rows at 2^20 and 2^21 too (found by a reviewer of that fix: the bound was on each gap, and
  // rows put in every 2^20 indices were each recomputed): the audit recomputes 2^20 placeholders
  // in all, then stops and counts.
  Sql("UPDATE notary.log_head SET size = 1000000000000; INSERT INTO notary.log_entries (index, kind, statement, "
      "signature) VALUES (1048576, 'attestation', 'a', '\\x00'), (2097152, 'attestation', 'b', '\\x00'), "
      "(999999999999, 'attestation', 'far', '\\x00')");
  const absl::Time before = absl::Now();
  v1::AuditLogResponse far = audit();
  EXPECT_LT(absl::Now() - before, absl::Seconds(90));
  EXPECT_EQ(listed(far, "0:-1"), 1);
  EXPECT_EQ(far.inconsistent_tree_heads_size(), 1000);
  EXPECT_EQ(far.inconsistent_tree_heads_total(), 1500u);
  EXPECT_EQ(far.bad_entries_size(), 1000);
  // Every row's signature (1,536 and the row at 2^20), the 2^20 - 1,536 missing rows before it,
  // and the 2^20 - 1 after it, where the recomputation stops.
  EXPECT_EQ(far.bad_entries_total(), 2097152u);
  EXPECT_FALSE(far.ok());
}

// Two replicas on one database (found by a reviewer): a replica checked only the latest head it
// had signed itself, and only after its append had committed. Replica B appends two entries and
// signs the head of size 4; someone with database access then changes the stored node over those
// four entries. Replica A, whose own latest head (size 2) the change leaves alone, appends next:
// it reads the tree again, finds that it no longer extends B's head, and appends and signs
// nothing, where it signed a head of size 5 that forked the log.
TEST_F(NotaryTest, AReplicaSignsNoHeadThatDoesNotExtendAnotherReplicasHead) {
  Signer alice = Enroll("Alice");
  auto sign = [&](const std::string& doc) { return SignedBy(alice, doc); };
  ASSERT_EQ(CertifyMany(alice, "through A", 2).size(), 2u);
  int port_b = 0;
  ASSERT_NO_FATAL_FAILURE(StartReplica(&port_b));
  absl::StatusOr<v1::Evidence> by_b;
  for (const std::string doc : {"through B 0", "through B 1"}) {
    by_b = Certify(doc, sign(doc), false, port_b);
    ASSERT_THAT(by_b, IsOk());
  }
  ASSERT_EQ(by_b->tree_head().tree_size(), 4u);
  ASSERT_EQ(Sql("SELECT max(tree_size) FROM notary.tree_heads"), "4");
  Sql("UPDATE notary.tree_tiles SET hashes = set_byte(hashes, 0, get_byte(hashes, 0) # 1) WHERE level = 2 AND idx = 0");

  auto forked = Certify("through A again", sign("through A again"));
  EXPECT_THAT(forked, StatusWithMessage(absl::StatusCode::kDataLoss, HasSubstr("signed tree head of size 4")));
  EXPECT_EQ(Sql("SELECT size FROM notary.log_head"), "4");
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.log_entries"), "4");
  EXPECT_EQ(Sql("SELECT max(tree_size) FROM notary.tree_heads"), "4");
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.tree_heads WHERE tree_size > 4"), "0");
  // A read through A (which reads the stored tree again), then another append: still refused
  // (found by a reviewer: the read left the tree looking checked, and the next append signed a
  // head of size 5 that forked the log). And after an append A refused for another reason too.
  {
    v1::GetConsistencyProofRequest req;
    req.set_old_size(1);
    v1::ConsistencyProof proof;
    grpc::ClientContext ctx;
    EXPECT_TRUE(Notary()->GetConsistencyProof(&ctx, req, &proof).ok());
  }
  EXPECT_THAT(Certify("through A, after a read", sign("through A, after a read")),
              StatusWithMessage(absl::StatusCode::kDataLoss, HasSubstr("signed tree head of size 4")));
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.log_entries"), "4");
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.tree_heads WHERE tree_size > 4"), "0");

  // Put back, A appends again; its head extends B's (a consistency proof from B's head holds).
  Sql("UPDATE notary.tree_tiles SET hashes = set_byte(hashes, 0, get_byte(hashes, 0) # 1) WHERE level = 2 AND idx = 0");
  ASSERT_THAT(Certify("through A again", sign("through A again")), IsOk());
  v1::GetConsistencyProofRequest req;
  req.set_old_size(4);
  v1::ConsistencyProof proof;
  grpc::ClientContext ctx;
  ASSERT_TRUE(Notary()->GetConsistencyProof(&ctx, req, &proof).ok());
  EXPECT_EQ(proof.new_size(), 5u);
  std::vector<std::string> path(proof.proof().begin(), proof.proof().end());
  EXPECT_TRUE(VerifyMerkleConsistency(4, 5, by_b->tree_head().root_hash(), proof.new_tree_head().root_hash(), path));
  EXPECT_THAT(suite_->Stop("notary2"), IsOk());
}

// Found by a reviewer of the replica check: a replica whose own latest head covered every entry
// left did not look at the heads other replicas stored. Replica B appends two entries and signs
// heads of sizes 3 and 4; someone with database access removes them (entries, size, tiles) and
// leaves the heads. Replica A, whose own latest head is of size 2, appends nothing and signs
// nothing: a head of size 4 was signed over entries that are gone.
TEST_F(NotaryTest, AReplicaNoticesThatEntriesAnotherReplicaSignedWereRemoved) {
  Signer alice = Enroll("Alice");
  auto sign = [&](const std::string& doc) { return SignedBy(alice, doc); };
  ASSERT_EQ(CertifyMany(alice, "through A", 2).size(), 2u);
  int port_b = 0;
  ASSERT_NO_FATAL_FAILURE(StartReplica(&port_b));
  for (const std::string doc : {"through B 0", "through B 1"})
    ASSERT_THAT(Certify(doc, sign(doc), false, port_b), IsOk());
  EXPECT_THAT(suite_->Stop("notary2"), IsOk());
  Sql("DELETE FROM notary.log_entries WHERE index >= 2; UPDATE notary.log_head SET size = 2, tiled = 2; "
      "UPDATE notary.tree_tiles SET hashes = substring(hashes from 1 for 64) WHERE level = 0 AND idx = 0; "
      "UPDATE notary.tree_tiles SET hashes = substring(hashes from 1 for 32) WHERE level = 1 AND idx = 0; "
      "DELETE FROM notary.tree_tiles WHERE level = 2");
  EXPECT_THAT(Certify("through A again", sign("through A again")),
              StatusWithMessage(absl::StatusCode::kDataLoss, HasSubstr("a tree head of size 4 was signed")));
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.log_entries"), "2");
  EXPECT_EQ(
      Sql("SELECT string_agg(tree_size::text, ',' ORDER BY tree_size) FROM notary.tree_heads WHERE tree_size > 0"),
      "1,2,3,4");
}

// The operator holds the notary's key and the database: it rewrites an entry, throws away the
// signed tree heads and restarts the notary, which signs a new head over the rewritten log. The
// audit, which trusts the stored heads, sees nothing; a tree head a client kept from before
// catches it (`semperctl notary consistency` exits 3), and so does the evidence a party holds.
TEST_F(NotaryTest, AnOperatorWhoRewritesTheLogAndSignsNewHeadsIsCaughtByAKeptHead) {
  Signer alice = Enroll("Alice");
  std::vector<v1::Evidence> held = CertifyMany(alice, "invoice", 3);
  ASSERT_EQ(held.size(), 3u);
  auto ctl = [&](std::vector<std::string> args) { return Ctl(std::move(args)); };
  auto kept = ctl({"notary", "tree-head", "--out", P("kept.json")});
  ASSERT_EQ(kept.exit_code, 0) << kept.Describe();
  ASSERT_EQ(ctl({"notary", "consistency", P("kept.json")}).exit_code, 0);
  RewriteEntry(1);
  // It throws away what the notary derived from the log too (the stored tree), which the notary
  // builds again at start from the rewritten entries.
  Sql("DELETE FROM notary.tree_heads; DELETE FROM notary.tree_tiles; UPDATE notary.log_head SET tiled = 0");
  KillAndRestartNotary();
  v1::AuditLogResponse audit;
  grpc::ClientContext c0;
  ASSERT_TRUE(Notary(true)->AuditLog(&c0, {}, &audit).ok());
  EXPECT_EQ(audit.inconsistent_tree_heads_size(), 0);  // the re-signed heads match the rewritten log
  auto checked = ctl({"notary", "consistency", P("kept.json")});
  EXPECT_EQ(checked.exit_code, 3) << checked.Describe();
  EXPECT_THAT(checked.out, HasSubstr("NOT CONSISTENT"));
  // The party's evidence of entry 1 no longer proves into the log the notary now shows.
  EXPECT_NE(PublicEntry(1).leaf_hash(), held[1].leaf_hash());
  EXPECT_TRUE(EvidenceHolds(held[1]));  // against the head it came with: what the party can show
}

// Entries appended by notaries from before the nonce was added are statements without one; such a row
// (signed with the notary's key, as the earlier version did) is in the log when this version
// starts. A stranger gets what it gets of any entry: its leaf hash and a proof, never the
// statement, its kind, its signature or anything named in it. (What is left, and said in the
// threat model: whoever knows such a statement in full confirms it against the leaf hash.)
TEST_F(NotaryTest, AnEntryAnEarlierVersionWroteIsServedAsItsLeafHashOnly) {
  Signer alice = Enroll("Alice");
  ASSERT_EQ(CertifyMany(alice, "before", 1).size(), 1u);
  StopNotary();
  const std::string subject = alice.certificate.Subject();
  const std::string document_sha256 = Sha256("the earlier version's document");
  const std::string legacy =
      absl::StrCat(R"({"type":"semper-notarial-attestation","documentSha256":")", absl::Base64Escape(document_sha256),
                   R"(","signerSubject":")", subject, R"(","signerCertificateSerial":")", alice.certificate.SerialHex(),
                   R"(","verified":["cms-signature","certificate-path","certificate-status-good"]})");
  auto notary_key = PrivateKey::FromPem(Slurp(P("pki/services/notary-signing.key")), SecretData(kPass));
  auto notary_certificate = Certificate::FromPem(Slurp(P("pki/services/notary-signing.pem")));
  ASSERT_THAT(notary_key, IsOk());
  ASSERT_THAT(notary_certificate, IsOk());
  auto legacy_signature = CmsSignDetached(legacy, *notary_key, *notary_certificate, Chain());
  ASSERT_THAT(legacy_signature, IsOk());
  Sql(
      absl::StrCat("INSERT INTO notary.log_entries (index, kind, statement, signature) VALUES (1, 'attestation', "
                   "decode('",
                   HexEncode(legacy), "', 'hex'), decode('", HexEncode(*legacy_signature),
                   "', 'hex')); UPDATE notary.log_head SET size = 2"));
  StartNotary();
  ASSERT_EQ(CertifyMany(alice, "after", 1).size(), 1u);  // a head over the earlier entry too
  ASSERT_EQ(TreeSize(), 3u);
  v1::AuditLogResponse audit;
  grpc::ClientContext actx;
  ASSERT_TRUE(Notary(true)->AuditLog(&actx, {}, &audit).ok());
  EXPECT_TRUE(audit.ok()) << audit.DebugString();  // the row is a genuine entry of the log

  v1::Evidence e = PublicEntry(1);
  EXPECT_EQ(e.leaf_hash(), MerkleLeafHash(legacy));
  EXPECT_TRUE(LeafHolds(e));
  EXPECT_TRUE(e.statement().empty() && e.signature().empty() && e.kind().empty());
  const std::string wire = e.SerializeAsString();
  for (const std::string& secret : {subject, std::string("Alice"), document_sha256, absl::Base64Escape(document_sha256),
                                    alice.certificate.SerialHex(),
                                    // its signature value (the end of the CMS; its start is the
                                    // same header as the tree head's signature in the answer)
                                    legacy_signature->substr(legacy_signature->size() - 32)}) {
    EXPECT_EQ(wire.find(secret), std::string::npos) << secret;
  }
  // The party's own certificate does not read it from the public log either.
  v1::GetEvidenceRequest get;
  get.set_index(1);
  v1::Evidence as_alice;
  grpc::ClientContext gctx;
  ASSERT_TRUE(NotaryAs(&alice)->GetEvidence(&gctx, get, &as_alice).ok());
  EXPECT_TRUE(as_alice.statement().empty() && as_alice.signature().empty() && as_alice.kind().empty());
}

// A subscriber's signature key chains to the suite's root just as the notary's does: evidence that
// a subscriber made itself (an attestation of a document it never had certified, under a tree head
// it signed) must not verify, for semperctl (`notary verify`) or any other client of VerifyEvidence.
TEST_F(NotaryTest, EvidenceASubscriberSignedItselfDoesNotVerify) {
  Signer mallory = Enroll("Mallory");
  dir_.Write("doc.txt", "Mallory owes nobody anything.\n");
  v1::AttestationStatement st;
  st.set_type("semper-notarial-attestation");
  st.set_document_sha256(Sha256(Slurp(P("doc.txt"))));
  st.set_signer_subject(mallory.certificate.Subject());
  st.add_verified("cms-signature");
  std::string statement;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(st, &statement).ok());
  v1::TreeHeadStatement head;
  head.set_type("semper-notary-tree-head");
  head.set_tree_size(1);
  head.set_root_hash(MerkleLeafHash(statement));
  *head.mutable_timestamp() = google::protobuf::util::TimeUtil::GetCurrentTime();
  std::string head_json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(head, &head_json).ok());
  v1::Evidence forged;
  forged.set_index(0);
  forged.set_kind("attestation");
  forged.set_statement(statement);
  forged.set_signature(*CmsSignDetached(statement, mallory.key, mallory.certificate, Chain()));
  forged.set_leaf_hash(MerkleLeafHash(statement));
  forged.mutable_inclusion()->set_leaf_index(0);
  forged.mutable_inclusion()->set_tree_size(1);
  forged.mutable_tree_head()->set_tree_size(1);
  forged.mutable_tree_head()->set_root_hash(head.root_hash());
  forged.mutable_tree_head()->set_statement(head_json);
  forged.mutable_tree_head()->set_signature(*CmsSignDetached(head_json, mallory.key, mallory.certificate, Chain()));
  // Everything else about it holds: the signatures chain to the root, the proof is right. The
  // README's openssl check names the signer, which is not the notary.
  EXPECT_EQ(OpensslCmsVerify(forged.statement(), forged.signature()).exit_code, 0);
  EXPECT_THAT(OpensslSignerSubject(forged.statement(), forged.signature()),
              ::testing::StartsWith("subject=CN=Mallory,"));
  EXPECT_FALSE(EvidenceHolds(forged));
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(forged, &json).ok());
  dir_.Write("forged.json", json);
  auto verified = RunCommand(
      {SEMPERCTL, "--ca-file", P("pki/root.pem"), "notary", "verify", P("forged.json"), "--document", P("doc.txt")});
  EXPECT_EQ(verified.exit_code, 3) << verified.Describe();
  EXPECT_THAT(verified.out, HasSubstr("not by semper-notary's signing key"));
}

// The operator of semper-notary or semper-tsa (it holds their keys) answers semperctl with a
// genuine answer to another request, or a changed one. semperctl checks each against what it
// sent (document, imprint, nonce, proof), keeps nothing and says so; the honest answer is kept.
TEST_F(NotaryTest, SemperctlKeepsNothingADishonestNotaryOrTsaAnswers) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob");
  const std::string wallet = WalletOf(alice, "alice");
  dir_.Write("a.txt", "Delivery note 18: 3 crates.\n");
  dir_.Write("b.txt", "Delivery note 19: 30 crates.\n");
  auto genuine = [&](const std::string& file) {
    auto e = Certify(Slurp(P(file)), *CmsSignDetached(Slurp(P(file)), alice.key, alice.certificate, Chain()));
    EXPECT_THAT(e, IsOk());
    return *e;
  };
  const v1::Evidence for_a = genuine("a.txt"), for_b = genuine("b.txt");
  auto by_bob = Certify(Slurp(P("b.txt")), *CmsSignDetached(Slurp(P("b.txt")), bob.key, bob.certificate, Chain()));
  ASSERT_THAT(by_bob, IsOk());
  // Answers from `answer`, or (honest) from the real notary.
  struct LyingNotary final : v1::Notary::Service {
    v1::Evidence answer;
    std::unique_ptr<v1::Notary::Stub> honest;
    grpc::Status CertifyDocument(grpc::ServerContext*, const v1::CertifyDocumentRequest* req,
                                 v1::Evidence* resp) override {
      if (honest != nullptr) {
        grpc::ClientContext ctx;
        return honest->CertifyDocument(&ctx, *req, resp);
      }
      *resp = answer;
      return grpc::Status::OK;
    }
  } notary;
  int notary_port = 0;
  auto notary_server = ServeAs("notary", &notary, &notary_port);
  ASSERT_NE(notary_server, nullptr);
  v1::Evidence changed = for_b;
  changed.mutable_statement()->replace(changed.statement().find("semper-notarial-attestation"), 6, "SEMPER");
  v1::Evidence other_head = for_b;
  *other_head.mutable_tree_head() = for_a.tree_head();  // a genuine head, of another size
  v1::Evidence other_proof = for_b;
  *other_proof.mutable_inclusion() = for_a.inclusion();
  for (const auto& [what, lie] : std::vector<std::pair<std::string, v1::Evidence>>{
           {"the evidence of another document", for_a},
           {"the same party's earlier attestation of this document", for_b},
           {"another party's attestation of this document", *by_bob},
           {"a changed statement", changed},
           {"another tree head", other_head},
           {"another entry's proof", other_proof}}) {
    notary.answer = lie;
    auto r = CtlAt("--notary", notary_port,
                   {"notary", "certify", P("b.txt"), "--wallet", wallet, "--wallet-passphrase-file", P("wpass")});
    EXPECT_NE(r.exit_code, 0) << what << ": " << r.Describe();
    EXPECT_THAT(r.err, HasSubstr("the notary's answer")) << what;
    EXPECT_FALSE(std::filesystem::exists(P("b.txt.evidence.json"))) << what;
  }
  notary.honest = Notary();
  auto honest = CtlAt("--notary", notary_port,
                      {"notary", "certify", P("b.txt"), "--wallet", wallet, "--wallet-passphrase-file", P("wpass")});
  EXPECT_EQ(honest.exit_code, 0) << honest.Describe();
  EXPECT_TRUE(std::filesystem::exists(P("b.txt.evidence.json")));

  // The TSA: genuine replies of semper-tsa, for another document and for this one with another
  // nonce (a reply to someone else's request, or an old one replayed).
  auto stamp = [&](const std::string& digest) {
    v1::StampRequest req;
    req.set_request(*MakeTimeStampRequest(HashAlgorithm::kSha256, digest, {true, "", RandomBytes(16)}));
    v1::StampResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(v1::TimeStamp::NewStub(Channel(tsa_port_))->Stamp(&ctx, req, &resp).ok());
    return resp;
  };
  struct LyingTsa final : v1::TimeStamp::Service {
    v1::StampResponse answer;
    v1::TokenRecord record;
    grpc::Status Stamp(grpc::ServerContext*, const v1::StampRequest*, v1::StampResponse* resp) override {
      *resp = answer;
      return grpc::Status::OK;
    }
    grpc::Status LookupToken(grpc::ServerContext*, const v1::LookupTokenRequest*, v1::TokenRecord* resp) override {
      *resp = record;
      return grpc::Status::OK;
    }
  } tsa;
  int tsa_port = 0;
  auto tsa_server = ServeAs("tsa", &tsa, &tsa_port);
  ASSERT_NE(tsa_server, nullptr);
  for (const auto& [what, lie] : std::vector<std::pair<std::string, v1::StampResponse>>{
           {"a token for another document", stamp(Sha256(Slurp(P("a.txt"))))},
           {"a token for this document with another nonce", stamp(Sha256(Slurp(P("b.txt"))))}}) {
    tsa.answer = lie;
    auto r = CtlAt("--tsa", tsa_port, {"tsa", "stamp", P("b.txt")});
    EXPECT_NE(r.exit_code, 0) << what << ": " << r.Describe();
    EXPECT_THAT(r.err, HasSubstr("the TSA's answer")) << what;
    EXPECT_FALSE(std::filesystem::exists(P("b.txt.tsr"))) << what;
  }
  // A lookup of b.txt's token answered with the genuine record of a.txt's.
  const v1::StampResponse for_a_token = stamp(Sha256(Slurp(P("a.txt"))));
  tsa.record.set_serial(for_a_token.serial());
  tsa.record.set_imprint(Sha256(Slurp(P("b.txt"))));  // what was asked: the token says otherwise
  tsa.record.set_token(*TimeStampTokenOf(for_a_token.response()));
  auto looked_up =
      CtlAt("--tsa", tsa_port, {"tsa", "lookup", for_a_token.serial(), "--file", P("b.txt"), "--out", P("b.token")});
  EXPECT_EQ(looked_up.exit_code, 3) << looked_up.Describe();
  EXPECT_FALSE(std::filesystem::exists(P("b.token")));
  notary_server->Shutdown();
  tsa_server->Shutdown();
}

TEST_F(NotaryTest, SemperctlCertifiesAndChecksEvidenceOffline) {
  Signer alice = Enroll("Alice");
  std::string wallet = P("wallet");
  std::filesystem::create_directories(wallet);
  dir_.Write("wallet/signature.pem", alice.certificate.Pem() + Slurp(P("pki/ca.pem")));
  dir_.Write("wallet/signature.key", *alice.key.ToEncryptedPem(SecretData("wallet passphrase")));
  dir_.Write("wpass", "wallet passphrase");
  dir_.Write("doc.txt", "Delivery note 17: received 12 crates in good order.\n");
  dir_.Write("other.txt", "something else\n");
  auto ctl = [&](std::vector<std::string> args, bool yes = true) { return Ctl(std::move(args), yes); };
  // Without confirmation nothing is signed or sent.
  auto unconfirmed =
      ctl({"notary", "certify", P("doc.txt"), "--wallet", wallet, "--wallet-passphrase-file", P("wpass")}, false);
  EXPECT_EQ(unconfirmed.exit_code, 1);
  EXPECT_THAT(unconfirmed.out, HasSubstr(HexEncode(Sha256(Slurp(P("doc.txt"))))));  // shown before anything is signed
  EXPECT_EQ(TreeSize(), 0u);
  auto certified = ctl({"notary", "certify", P("doc.txt"), "--wallet", wallet, "--wallet-passphrase-file", P("wpass")});
  ASSERT_EQ(certified.exit_code, 0) << certified.Describe();
  auto verified = ctl({"notary", "verify", P("doc.txt.evidence.json"), "--document", P("doc.txt")});
  EXPECT_EQ(verified.exit_code, 0) << verified.Describe();
  EXPECT_EQ(ctl({"notary", "verify", P("doc.txt.evidence.json"), "--document", P("other.txt")}).exit_code, 3);
  std::string evidence = Slurp(P("doc.txt.evidence.json"));
  // One character of the signed statement changed (its base64 in the JSON).
  std::string forged = evidence;
  size_t at = forged.find("\"statement\": \"") + 40;
  forged[at] = forged[at] == 'A' ? 'B' : 'A';
  dir_.Write("forged.json", forged);
  EXPECT_EQ(ctl({"notary", "verify", P("forged.json")}).exit_code, 3);

  // Keep a tree head; later the log must extend it.
  ASSERT_EQ(ctl({"notary", "tree-head", "--out", P("sth.json")}).exit_code, 0);
  ASSERT_EQ(
      ctl({"notary", "certify", P("other.txt"), "--wallet", wallet, "--wallet-passphrase-file", P("wpass")}).exit_code,
      0);
  auto consistent = ctl({"notary", "consistency", P("sth.json"), "--out", P("proof.json")});
  EXPECT_EQ(consistent.exit_code, 0) << consistent.Describe();
  EXPECT_EQ(ctl({"notary", "verify-consistency", P("sth.json"), P("proof.json")}).exit_code, 0);
  // A kept tree head that the notary never signed (or another root) is refused.
  std::string sth = Slurp(P("sth.json"));
  dir_.Write("bad-sth.json", std::regex_replace(sth, std::regex("\"tree_size\": \"1\""), "\"tree_size\": \"2\""));
  ASSERT_NE(Slurp(P("bad-sth.json")), sth);
  EXPECT_EQ(ctl({"notary", "verify-consistency", P("bad-sth.json"), P("proof.json")}).exit_code, 3);
}

// A notary that answers from canned, genuine answers (what an operator with the notary's keys
// and database can send), counting the calls that would change something.
struct LyingNotary final : v1::Notary::Service {
  v1::CertifiedMail mail;
  v1::AcceptedMail accepted;
  v1::NotarizedContract contract, signed_contract;
  std::string text;
  std::atomic<int> accepts{0}, signs{0};
  grpc::Status GetMail(grpc::ServerContext*, const v1::GetMailRequest*, v1::CertifiedMail* resp) override {
    *resp = mail;
    return grpc::Status::OK;
  }
  grpc::Status AcceptMail(grpc::ServerContext*, const v1::AcceptMailRequest*, v1::AcceptedMail* resp) override {
    ++accepts;
    *resp = accepted;
    return grpc::Status::OK;
  }
  grpc::Status GetContract(grpc::ServerContext*, const v1::GetContractRequest*, v1::NotarizedContract* resp) override {
    *resp = contract;
    return grpc::Status::OK;
  }
  grpc::Status GetContractText(grpc::ServerContext*, const v1::GetContractTextRequest*,
                               v1::ContractText* resp) override {
    resp->set_contract(text);
    return grpc::Status::OK;
  }
  grpc::Status SignContract(grpc::ServerContext*, const v1::SignContractRequest*,
                            v1::NotarizedContract* resp) override {
    ++signs;
    *resp = signed_contract;
    return grpc::Status::OK;
  }
};

class NotaryMailTest : public NotaryTest {
 protected:
  absl::StatusOr<v1::CertifiedMail> Deposit(const Signer& from, const Signer& to, const std::string& message,
                                            absl::Duration valid, std::string* enveloped, std::string* origin) {
    *enveloped = *CmsEncrypt(message, {to.auth_certificate});
    *origin = *CmsSignDetached(*enveloped, from.key, from.certificate, Chain());
    v1::DepositMailRequest req;
    req.set_recipient_certificate(to.auth_certificate.Der());
    req.set_enveloped_message(*enveloped);
    req.set_origin_signature(*origin);
    *req.mutable_deadline() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now() + valid));
    v1::CertifiedMail m;
    grpc::ClientContext ctx;
    grpc::Status st = Notary()->DepositMail(&ctx, req, &m);
    if (!st.ok()) return FromGrpcStatus(st);
    return m;
  }
  absl::StatusOr<v1::AcceptedMail> Accept(const Signer& as, const v1::CertifiedMail& m,
                                          const std::string& receipt_text = "") {
    v1::AcceptMailRequest req;
    req.set_id(m.id());
    std::string text =
        receipt_text.empty() ? "semper-receipt:" + m.id() + ":" + HexEncode(m.message_sha256()) : receipt_text;
    req.set_receipt_signature(*CmsSignDetached(text, as.key, as.certificate, Chain()));
    v1::AcceptedMail out;
    grpc::ClientContext ctx;
    grpc::Status st = NotaryAs(&as)->AcceptMail(&ctx, req, &out);
    if (!st.ok()) return FromGrpcStatus(st);
    return out;
  }
  absl::StatusOr<v1::CertifiedMail> GetAs(const Signer* as, const std::string& id) {
    v1::GetMailRequest req;
    req.set_id(id);
    v1::CertifiedMail m;
    grpc::ClientContext ctx;
    grpc::Status st = NotaryAs(as)->GetMail(&ctx, req, &m);
    if (!st.ok()) return FromGrpcStatus(st);
    return m;
  }
  v1::CertifiedMail Get(const std::string& id, const Signer& as) {
    auto m = GetAs(&as, id);
    EXPECT_THAT(m, IsOk());
    return m.ok() ? *m : v1::CertifiedMail();
  }
  int OutcomesInLog(const std::string& id) {
    return std::stoi(
        Sql("SELECT count(*) FROM notary.log_entries WHERE kind IN ('mail-delivery', 'mail-non-delivery') "
            "AND convert_from(statement, 'UTF8') LIKE '%" +
            id + "%'"));
  }
};

TEST_F(NotaryMailTest, TheMessageIsReleasedOnlyAgainstTheRecipientsReceipt) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob"), carol = Enroll("Carol");
  std::string message = "Invoice 99: EUR 240, due by 15 December.\n", enveloped, origin;
  auto mail = Deposit(alice, bob, message, absl::Hours(1), &enveloped, &origin);
  ASSERT_THAT(mail, IsOk()) << Slurp(P("notary.log"));
  EXPECT_EQ(mail->state(), v1::MAIL_STATE_WAITING);
  // The sender has evidence of submission at once.
  ASSERT_EQ(mail->submission().kind(), "mail-submission");
  EXPECT_TRUE(EvidenceHolds(mail->submission()));
  v1::MailSubmissionStatement submitted;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(mail->submission().statement(), &submitted).ok());
  EXPECT_EQ(submitted.sender_subject(), alice.certificate.Subject());
  EXPECT_EQ(submitted.message_sha256(), Sha256(enveloped));
  // Someone else's receipt, or a receipt for other bytes, releases nothing.
  EXPECT_THAT(Accept(carol, *mail), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Accept(bob, *mail, "semper-receipt:" + mail->id() + ":00"),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  EXPECT_EQ(Get(mail->id(), alice).state(), v1::MAIL_STATE_WAITING);
  // Bob's receipt: he gets the message and the evidence of origin...
  auto accepted = Accept(bob, *mail);
  ASSERT_THAT(accepted, IsOk());
  EXPECT_EQ(accepted->enveloped_message(), enveloped);
  auto plain = CmsDecrypt(accepted->enveloped_message(), bob.auth_key, bob.auth_certificate);
  ASSERT_THAT(plain, IsOk());
  EXPECT_EQ(*plain, message);
  auto trust = TrustStore::FromPem(Slurp(P("pki/root.pem")));
  auto origin_ok = CmsVerifyDetached(accepted->origin_signature(), accepted->enveloped_message(), *trust, absl::Now(),
                                     KeyPurpose::kNonRepudiation);
  ASSERT_THAT(origin_ok, IsOk());
  EXPECT_EQ(origin_ok->front().certificate.Subject(), alice.certificate.Subject());
  EXPECT_EQ(accepted->mail().state(), v1::MAIL_STATE_DELIVERED);
  // ... and Alice gets the evidence of receipt, whose receipt signature openssl checks.
  v1::CertifiedMail seen = Get(mail->id(), alice);
  EXPECT_EQ(seen.state(), v1::MAIL_STATE_DELIVERED);
  ASSERT_EQ(seen.outcome().kind(), "mail-delivery");
  EXPECT_TRUE(EvidenceHolds(seen.outcome()));
  v1::MailDeliveryStatement delivered;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(seen.outcome().statement(), &delivered).ok());
  dir_.Write("receipt.txt", "semper-receipt:" + mail->id() + ":" + HexEncode(mail->message_sha256()));
  dir_.Write("receipt.sig", delivered.receipt_signature());
  auto receipt =
      RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("receipt.sig"), "-content",
                  P("receipt.txt"), "-CAfile", P("pki/root.pem"), "-purpose", "any", "-out", "/dev/null"});
  EXPECT_EQ(receipt.exit_code, 0) << receipt.Describe();
  EXPECT_EQ(OutcomesInLog(mail->id()), 1);
  // Accepting again gives the same answer, and appends nothing.
  EXPECT_THAT(Accept(bob, *mail), IsOk());
  EXPECT_EQ(OutcomesInLog(mail->id()), 1);
}

// Finding 4 of "Trust under attack (1 of 2)": anyone with a mail's id read who mailed whom, and
// the public log showed it to everyone. Now only sender and recipient read a mail (by TLS
// identity), others get the same refusal whether the id exists or not, and the log shows leaf
// hashes only: of the submission, the delivery, the affidavit of non-delivery and an attestation.
TEST_F(NotaryMailTest, OnlyTheSenderAndTheRecipientSeeAMailAndTheLogNamesNobody) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob"), carol = Enroll("Carol");
  std::string enveloped, origin;
  auto mail = Deposit(alice, bob, "Dear Bob, the goods left today.", absl::Hours(1), &enveloped, &origin);
  ASSERT_THAT(mail, IsOk());
  EXPECT_THAT(GetAs(nullptr, mail->id()), StatusIs(absl::StatusCode::kUnauthenticated, v1::UNAUTHENTICATED));
  auto by_carol = GetAs(&carol, mail->id());
  EXPECT_THAT(by_carol, StatusIs(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED));
  const std::string unused = "M-0123456789abcdef";
  auto no_such = GetAs(&carol, unused);
  EXPECT_THAT(no_such, StatusIs(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED));
  // The same refusal for an id in use and one that is not: Carol cannot tell them apart.
  std::string told = std::string(by_carol.status().message()), told_unused = std::string(no_such.status().message());
  told.replace(told.find(mail->id()), mail->id().size(), unused);
  EXPECT_EQ(told, told_unused);
  EXPECT_THAT(GetAs(&alice, mail->id()), IsOk());
  EXPECT_THAT(GetAs(&bob, mail->id()), IsOk());
  // Carol's refusals changed nothing; Bob takes delivery.
  ASSERT_THAT(Accept(bob, *mail), IsOk());
  v1::CertifiedMail delivered = Get(mail->id(), alice);
  ASSERT_EQ(delivered.state(), v1::MAIL_STATE_DELIVERED);
  EXPECT_THAT(GetAs(&carol, mail->id()), StatusIs(absl::StatusCode::kPermissionDenied));
  // Bob's receipt is in the evidence of delivery, which Alice shows to others: a copy of it
  // does not read the mail, presented by a stranger or by Carol; Bob as himself does.
  v1::MailDeliveryStatement receipt;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(delivered.outcome().statement(), &receipt).ok());
  auto replay = [&](const Signer* as, const std::string& id, const std::string& signature) {
    v1::AcceptMailRequest req;
    req.set_id(id);
    req.set_receipt_signature(signature);
    v1::AcceptedMail out;
    grpc::ClientContext ctx;
    return FromGrpcStatus(NotaryAs(as)->AcceptMail(&ctx, req, &out));
  };
  EXPECT_THAT(replay(nullptr, mail->id(), receipt.receipt_signature()),
              StatusIs(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED));
  EXPECT_THAT(replay(&carol, mail->id(), receipt.receipt_signature()),
              StatusIs(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED));
  EXPECT_THAT(replay(&bob, mail->id(), receipt.receipt_signature()), IsOk());
  // AcceptMail tells a stranger nothing about which ids are in use: the same answers for one in
  // use and one that is not, for garbage and for a receipt over the wrong bytes.
  for (const std::string& signature :
       {std::string("AAAA"),
        *CmsSignDetached("semper-receipt:" + unused + ":00", carol.key, carol.certificate, Chain()),
        *CmsSignDetached("semper-receipt:" + unused + ":" + HexEncode(Sha256(unused)), carol.key, carol.certificate,
                         Chain())}) {
    absl::Status used = replay(nullptr, mail->id(), signature), free = replay(nullptr, unused, signature);
    EXPECT_EQ(used.code(), free.code()) << used << " / " << free;
    EXPECT_EQ(ReasonOf(used), ReasonOf(free)) << used << " / " << free;
  }
  // A mail nobody takes: the affidavit of non-delivery, for the sender.
  std::string enveloped2, origin2;
  auto unread = Deposit(alice, bob, "Dear Bob, a second notice.", absl::Seconds(1), &enveloped2, &origin2);
  ASSERT_THAT(unread, IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  v1::CertifiedMail lapsed = Get(unread->id(), alice);
  ASSERT_EQ(lapsed.state(), v1::MAIL_STATE_NOT_DELIVERED);
  ASSERT_TRUE(lapsed.has_outcome());
  // The notary never had the message in clear.
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.mails WHERE position(convert_to('the goods left', 'UTF8') in message) > 0 "
                "OR position(convert_to('second notice', 'UTF8') in message) > 0"),
            "0");
  std::string document = "Alice's price list, valid from 1 January.";
  auto attested = Certify(document, *CmsSignDetached(document, alice.key, alice.certificate, Chain()));
  ASSERT_THAT(attested, IsOk());
  ExpectThePublicLogShowsOnlyLeafHashes(
      {delivered.submission(), delivered.outcome(), lapsed.submission(), lapsed.outcome(), *attested},
      {"Alice", "Bob", mail->id(), unread->id(), mail->message_sha256(), HexEncode(mail->message_sha256()),
       Sha256(document), "semper-mail", "mail-"});
}

// A deposit in someone else's name: an origin signature over other bytes, by an authentication
// key, from another PKI, or by a revoked key; a recipient certificate of another PKI. Each is
// refused with its reason and stores nothing.
// The notary's operator answers the recipient's semperctl with genuine records and messages of
// another mail from the same sender: the record of mail 1 with mail 2's hash, mail 2's message
// for mail 1, mail 2's record when asked for mail 1. semperctl takes each message only as the
// notary's signed statement of submission names it: nothing signed or saved; the honest answers
// are taken.
TEST_F(NotaryMailTest, SemperctlTakesOnlyTheMessageTheSignedSubmissionNames) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob");
  std::string enveloped1, enveloped2, origin;
  auto m1 = Deposit(alice, bob, "Invoice 1: EUR 10.\n", absl::Hours(1), &enveloped1, &origin);
  auto m2 = Deposit(alice, bob, "Invoice 2: EUR 10,000.\n", absl::Hours(1), &enveloped2, &origin);
  ASSERT_THAT(m1, IsOk());
  ASSERT_THAT(m2, IsOk());
  const v1::CertifiedMail record1 = Get(m1->id(), bob), record2 = Get(m2->id(), bob);
  auto accepted2 = Accept(bob, *m2);
  ASSERT_THAT(accepted2, IsOk());
  const std::string wallet = WalletOf(bob, "bob");
  LyingNotary notary;
  int port = 0;
  auto server = ServeAs("notary", &notary, &port);
  ASSERT_NE(server, nullptr);
  auto accept = [&] {
    return CtlAt("--notary", port,
                 {"notary", "mail", "accept", m1->id(), "--wallet", wallet, "--wallet-passphrase-file", P("wpass"),
                  "--out", P("received.txt")});
  };
  v1::CertifiedMail with_other_hash = record1;
  with_other_hash.set_message_sha256(record2.message_sha256());
  struct Lie {
    std::string what;
    v1::CertifiedMail mail;
    bool receipt_signed;  // the lie shows only in the answer to the receipt
  };
  for (const Lie& lie : std::vector<Lie>{{"mail 1's record with mail 2's hash", with_other_hash, false},
                                         {"mail 2's record for mail 1", record2, false},
                                         {"mail 2's message for mail 1", record1, true}}) {
    notary.mail = lie.mail;
    notary.accepted = *accepted2;
    notary.accepts = 0;
    auto r = accept();
    EXPECT_NE(r.exit_code, 0) << lie.what << ": " << r.Describe();
    EXPECT_THAT(r.err, ::testing::AnyOf(HasSubstr("released another message"), HasSubstr("than its signed statement"),
                                        HasSubstr("answered about another mail")))
        << lie.what;
    EXPECT_EQ(notary.accepts.load(), lie.receipt_signed ? 1 : 0) << lie.what << ": a receipt was signed";
    EXPECT_FALSE(std::filesystem::exists(P("received.txt"))) << lie.what;
  }
  // The state shown is the signed outcome's: a waiting mail shown as delivered (its submission
  // relabelled as the delivery, or no outcome at all), or as not delivered.
  auto show = [&] {
    return CtlAt("--notary", port,
                 {"notary", "mail", "show", m1->id(), "--wallet", wallet, "--wallet-passphrase-file", P("wpass"),
                  "--out", P("shown.json")});
  };
  v1::CertifiedMail relabelled = record1;
  relabelled.set_state(v1::MAIL_STATE_DELIVERED);
  *relabelled.mutable_outcome() = record1.submission();
  relabelled.mutable_outcome()->set_kind("mail-delivery");
  v1::CertifiedMail no_outcome = record1;
  no_outcome.set_state(v1::MAIL_STATE_DELIVERED);
  v1::CertifiedMail not_delivered = record1;
  not_delivered.set_state(v1::MAIL_STATE_NOT_DELIVERED);
  for (const auto& [what, lie] :
       std::vector<std::pair<std::string, v1::CertifiedMail>>{{"the submission relabelled as the delivery", relabelled},
                                                              {"delivered without an outcome", no_outcome},
                                                              {"not delivered without an outcome", not_delivered}}) {
    notary.mail = lie;
    auto r = show();
    EXPECT_NE(r.exit_code, 0) << what << ": " << r.Describe();
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr("delivered"))) << what;
    EXPECT_FALSE(std::filesystem::exists(P("shown.json"))) << what;
  }
  // Mail 1's message with a signature of origin by someone else (carol signs the ciphertext).
  auto accepted1 = Accept(bob, *m1);
  ASSERT_THAT(accepted1, IsOk());
  Signer carol = Enroll("Carol");
  v1::AcceptedMail other_origin = *accepted1;
  other_origin.set_origin_signature(
      *CmsSignDetached(accepted1->enveloped_message(), carol.key, carol.certificate, Chain()));
  notary.mail = record1;
  notary.accepted = other_origin;
  auto by_carol = accept();
  EXPECT_NE(by_carol.exit_code, 0) << by_carol.Describe();
  EXPECT_THAT(by_carol.err, HasSubstr("signature of origin"));
  EXPECT_FALSE(std::filesystem::exists(P("received.txt")));
  // The honest answers: mail 1's record, and its message against bob's receipt.
  notary.mail = record1;
  notary.accepted = *accepted1;
  auto honest = accept();
  EXPECT_EQ(honest.exit_code, 0) << honest.Describe();
  EXPECT_EQ(Slurp(P("received.txt")), "Invoice 1: EUR 10.\n");
  notary.mail = Get(m1->id(), bob);
  auto shown = show();
  EXPECT_EQ(shown.exit_code, 0) << shown.Describe();
  EXPECT_THAT(shown.out, HasSubstr("delivered against the recipient's receipt"));
  server->Shutdown();
}

TEST_F(NotaryMailTest, DepositsThatDoNotBindTheSenderAreRefusedAndStoreNothing) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob");
  auto deposit = [&](const std::string& enveloped, const std::string& origin, const Certificate& to) {
    v1::DepositMailRequest req;
    req.set_recipient_certificate(to.Der());
    req.set_enveloped_message(enveloped);
    req.set_origin_signature(origin);
    *req.mutable_deadline() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now() + absl::Hours(1)));
    v1::CertifiedMail m;
    grpc::ClientContext ctx;
    return FromGrpcStatus(Notary()->DepositMail(&ctx, req, &m));
  };
  const std::string enveloped = *CmsEncrypt("Pay EUR 900 to account 4711.", {bob.auth_certificate});
  EXPECT_THAT(deposit(enveloped, *CmsSignDetached(enveloped + "x", alice.key, alice.certificate, Chain()),
                      bob.auth_certificate),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  EXPECT_THAT(deposit(enveloped, *CmsSignDetached(enveloped, alice.auth_key, alice.auth_certificate, Chain()),
                      bob.auth_certificate),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  auto stranger = *PrivateKey::Generate(KeyType::kEcP256);
  CertificateTemplate t;
  t.subject = {{"CN", "Alice"}, {"serialNumber", *alice.certificate.SubjectAttribute("serialNumber")}};
  t.not_before = absl::Now() - absl::Hours(1);
  t.not_after = absl::Now() + absl::Hours(1);
  t.key_usage = kKuNonRepudiation | kKuDigitalSignature | kKuKeyEncipherment | kKuKeyAgreement;
  auto forged = *IssueCertificate(t, stranger.public_key(), nullptr, stranger);
  EXPECT_THAT(deposit(enveloped, *CmsSignDetached(enveloped, stranger, forged, {}), bob.auth_certificate),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  EXPECT_THAT(deposit(enveloped, *CmsSignDetached(enveloped, alice.key, alice.certificate, Chain()), forged),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  // The evidence of submission names the recipient: an envelope Alice signed for Bob is not mail
  // to Carol, and what is not an envelope is no mail at all.
  Signer carol = Enroll("Carol");
  EXPECT_THAT(
      deposit(enveloped, *CmsSignDetached(enveloped, alice.key, alice.certificate, Chain()), carol.auth_certificate),
      StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  const std::string not_enveloped =
      *CmsSignDetached("Pay EUR 900 to account 4711.", alice.key, alice.certificate, Chain());
  EXPECT_THAT(deposit(not_enveloped, *CmsSignDetached(not_enveloped, alice.key, alice.certificate, Chain()),
                      bob.auth_certificate),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  auto admin = v1::CertificationAuthority::NewStub(Channel(ca_port_, true));
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial(alice.certificate.SerialHex());
  revoke.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  v1::RevokeCertificateResponse revoked;
  grpc::ClientContext ctx;
  ASSERT_TRUE(admin->RevokeCertificate(&ctx, revoke, &revoked).ok());
  EXPECT_THAT(
      deposit(enveloped, *CmsSignDetached(enveloped, alice.key, alice.certificate, Chain()), bob.auth_certificate),
      StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED));
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.mails"), "0");
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.log_entries"), "0");
}

// Finding (issue 19, 5, for mail): Bob, once he held Alice's signed envelope (from AcceptMail),
// deposited it again and got a second evidence of submission "from Alice", with a later time and
// deadline. A signed envelope makes one mail; a copy, by Bob or anyone, makes none.
TEST_F(NotaryMailTest, ACopyOfADepositMakesNoSecondMail) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob");
  std::string enveloped, origin;
  auto mail = Deposit(alice, bob, "Notice of termination, effective 31 December.", absl::Hours(1), &enveloped, &origin);
  ASSERT_THAT(mail, IsOk());
  auto accepted = Accept(bob, *mail);
  ASSERT_THAT(accepted, IsOk());
  const std::string entries = Sql("SELECT count(*) FROM notary.log_entries");
  // The delivered envelope and origin signature deposited again, with a later deadline.
  auto deposit_copy = [&](const Signer* as) {
    v1::DepositMailRequest req;
    req.set_recipient_certificate(bob.auth_certificate.Der());
    req.set_enveloped_message(accepted->enveloped_message());
    req.set_origin_signature(accepted->origin_signature());
    *req.mutable_deadline() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now() + absl::Hours(48)));
    v1::CertifiedMail m;
    grpc::ClientContext ctx;
    return FromGrpcStatus(NotaryAs(as)->DepositMail(&ctx, req, &m));
  };
  for (const Signer* as : std::vector<const Signer*>{nullptr, &bob}) {
    EXPECT_THAT(deposit_copy(as), StatusIs(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS));
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.mails"), "1");
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.log_entries"), entries);
  // A database from before this check may hold such copies already: the upgrade keeps them (a
  // reviewer found that the first form of the migration stopped the notary from starting) and
  // takes no new one. The schema as the earlier version left it, with a copy of the mail:
  StopNotary();
  Sql("DROP INDEX notary.mails_message_once; ALTER TABLE notary.mails DROP COLUMN message_once; "
      "DELETE FROM notary.schema_migrations WHERE version = '2026120801'; "
      "INSERT INTO notary.mails (id, sender_subject, recipient_subject, recipient_subscriber, message, message_sha256, "
      "origin_signature, deadline, state, submission_statement, submission_signature, sender_party, created_at) "
      "SELECT 'M-00000000000000aa', sender_subject, recipient_subject, recipient_subscriber, message, message_sha256, "
      "origin_signature, deadline, 'waiting', submission_statement, submission_signature, sender_party, now() "
      "FROM notary.mails WHERE id = '" +
      mail->id() + "'");
  StartNotary();
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.mails"), "2");
  EXPECT_EQ(Sql("SELECT id FROM notary.mails WHERE message_once IS NOT NULL"), mail->id());
  EXPECT_THAT(deposit_copy(nullptr), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.mails"), "2");
}

// Finding (issue 19, 6): delivery was decided and committed before the message travelled in the
// answer, and the answer could not travel: semperctl took at most gRPC's default 4 MiB (the
// README allows 16 MiB), and a deposit padded with a large origin signature made every AcceptMail
// answer larger than the notary's own 32 MiB limit, while the mail stayed delivered. What the
// notary takes in fits what it sends back out, and the recipient obtains what it receipted.
TEST_F(NotaryMailTest, WhatTheNotaryTakesInItSendsBackOut) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob");
  const std::string wa = WalletOf(alice, "alice"), wb = WalletOf(bob, "bob");
  dir_.Write("bob-auth.pem", bob.auth_certificate.Pem());
  // 6 MiB through semperctl, both ways: above gRPC's default answer size.
  const std::string big = RandomBytes(6 << 20);
  dir_.Write("big.bin", big);
  auto sent = CtlAt("--notary", notary_port_,
                    {"notary", "mail", "send", P("big.bin"), "--to", P("bob-auth.pem"), "--wallet", wa,
                     "--wallet-passphrase-file", P("wpass"), "--out", P("big.mail.json")});
  ASSERT_EQ(sent.exit_code, 0) << sent.Describe();
  std::smatch id;
  ASSERT_TRUE(std::regex_search(sent.out, id, std::regex("Mail (M-[0-9a-f]+)"))) << sent.out;
  auto taken = CtlAt("--notary", notary_port_,
                     {"notary", "mail", "accept", id[1].str(), "--wallet", wb, "--wallet-passphrase-file", P("wpass"),
                      "--out", P("received.bin")});
  ASSERT_EQ(taken.exit_code, 0) << taken.Describe();
  EXPECT_TRUE(Slurp(P("received.bin")) == big);
  // A 6 MiB contract text: read and signed with semperctl by both.
  const std::string text = "Terms, with an annex.\n" + std::string(6 << 20, 'x');
  v1::NotarizedContract contract;
  {
    v1::CreateContractRequest req;
    req.set_contract(text);
    req.set_title("With an annex");
    req.add_signer_certificates(alice.certificate.Der());
    req.add_signer_certificates(bob.certificate.Der());
    *req.mutable_deadline() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now() + absl::Hours(1)));
    grpc::ClientContext ctx;
    ASSERT_TRUE(Notary()->CreateContract(&ctx, req, &contract).ok());
  }
  for (const auto& [who, wallet] : {std::pair<std::string, std::string>{"alice", wa}, {"bob", wb}}) {
    auto signed_by = CtlAt("--notary", notary_port_,
                           {"notary", "contract", "sign", contract.id(), "--wallet", wallet, "--wallet-passphrase-file",
                            P("wpass"), "--text-out", P(who + ".contract.txt")});
    ASSERT_EQ(signed_by.exit_code, 0) << who << signed_by.Describe();
    EXPECT_TRUE(Slurp(P(who + ".contract.txt")) == text);
  }
  {
    v1::GetContractRequest req;
    req.set_id(contract.id());
    v1::NotarizedContract now;
    grpc::ClientContext ctx;
    ASSERT_TRUE(NotaryAs(&alice)->GetContract(&ctx, req, &now).ok());
    EXPECT_EQ(now.state(), v1::CONTRACT_STATE_COMPLETED);
  }
  // Padding that would make the answers too large: refused, nothing stored.
  const std::string mails = Sql("SELECT count(*) FROM notary.mails");
  std::vector<Certificate> padding;  // distinct certificates a signature may carry, 200 of them
  const PrivateKey pad_key = *PrivateKey::Generate(KeyType::kEcP256);
  for (int i = 0; i < 200; ++i) {
    CertificateTemplate t;
    t.subject = {{"CN", "padding " + std::to_string(i)}};
    t.not_before = absl::Now() - absl::Hours(1);
    t.not_after = absl::Now() + absl::Hours(1);
    t.key_usage = kKuDigitalSignature;
    padding.push_back(*IssueCertificate(t, pad_key.public_key(), nullptr, pad_key));
  }
  const std::string enveloped = *CmsEncrypt("hello", {bob.auth_certificate});
  const std::string padded =
      *CmsAddCertificates(*CmsSignDetached(enveloped, alice.key, alice.certificate, Chain()), padding);
  ASSERT_GT(padded.size(), size_t{64} << 10);
  v1::DepositMailRequest deposit;
  deposit.set_recipient_certificate(bob.auth_certificate.Der());
  deposit.set_enveloped_message(enveloped);
  deposit.set_origin_signature(padded);
  *deposit.mutable_deadline() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now() + absl::Hours(1)));
  {
    v1::CertifiedMail m;
    grpc::ClientContext ctx;
    EXPECT_THAT(FromGrpcStatus(Notary()->DepositMail(&ctx, deposit, &m)),
                StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM notary.mails"), mails);
  // A notary whose gRPC limit is 8 MiB takes items of at most 2 MiB, and hands them out again. A
  // 7 MiB mail deposited before the operator lowered the limit is not delivered (its answer
  // could not be sent): refused before anything is decided (found by a reviewer).
  std::string env_pending, origin_pending;
  auto pending = Deposit(alice, bob, std::string(7 << 20, 'p'), absl::Hours(1), &env_pending, &origin_pending);
  ASSERT_THAT(pending, IsOk());
  StopNotary();
  StartNotary({"SEMPER_GRPC_MAX_MESSAGE_BYTES=8388608"});
  EXPECT_THAT(Accept(bob, *pending), StatusIs(absl::StatusCode::kFailedPrecondition, v1::LIMIT_EXCEEDED));
  EXPECT_EQ(Sql("SELECT state FROM notary.mails WHERE id = '" + pending->id() + "'"), "waiting");
  std::string env_small, origin_small;
  EXPECT_THAT(Deposit(alice, bob, std::string((2 << 20) + 1, 'a'), absl::Hours(1), &env_small, &origin_small),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  auto fits = Deposit(alice, bob, std::string((2 << 20) - 4096, 'b'), absl::Hours(1), &env_small, &origin_small);
  ASSERT_THAT(fits, IsOk());
  auto received = CtlAt("--notary", notary_port_,
                        {"notary", "mail", "accept", fits->id(), "--wallet", wb, "--wallet-passphrase-file", P("wpass"),
                         "--out", P("small.bin")});
  EXPECT_EQ(received.exit_code, 0) << received.Describe();
  // Below 8 MiB the notary does not start, and says why.
  StopNotary();
  ChildProcess too_small(suite_->Argv("notary3", {"SEMPER_GRPC_MAX_MESSAGE_BYTES=4194304"}), P("small-notary.log"));
  EXPECT_NE(too_small.Wait(20000), 0);
  EXPECT_THAT(Slurp(P("small-notary.log")), HasSubstr("grpc.max_message_bytes"));
  StartNotary();
}

TEST_F(NotaryMailTest, NoReceiptBeforeTheDeadlineGivesAnAffidavitAndNoMessage) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob");
  std::string enveloped, origin;
  auto mail = Deposit(alice, bob, "a short-lived notice", absl::Seconds(2), &enveloped, &origin);
  ASSERT_THAT(mail, IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  v1::CertifiedMail seen = Get(mail->id(), alice);
  EXPECT_EQ(seen.state(), v1::MAIL_STATE_NOT_DELIVERED);
  ASSERT_EQ(seen.outcome().kind(), "mail-non-delivery");
  EXPECT_TRUE(EvidenceHolds(seen.outcome()));
  EXPECT_THAT(Accept(bob, *mail), StatusIs(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE));
  EXPECT_EQ(OutcomesInLog(mail->id()), 1);
}

TEST_F(NotaryMailTest, AReceiptRacingTheDeadlineHasOneOutcomeForEveryone) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob");
  for (int round = 0; round < 3; ++round) {
    std::string enveloped, origin;
    auto mail = Deposit(alice, bob, "race " + std::to_string(round), absl::Milliseconds(1500), &enveloped, &origin);
    ASSERT_THAT(mail, IsOk());
    std::atomic<int> released{0}, refused{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 10; ++t) {
      threads.emplace_back([&, t] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1200 + 60 * t));  // around the deadline
        if (t % 3 == 0) {
          Get(mail->id(), alice);
          return;
        }
        auto r = Accept(bob, *mail);
        if (r.ok()) {
          EXPECT_EQ(r->enveloped_message(), enveloped);
          ++released;
        } else {
          ++refused;
        }
      });
    }
    for (auto& t : threads) t.join();
    v1::CertifiedMail final_state = Get(mail->id(), alice);
    ASSERT_NE(final_state.state(), v1::MAIL_STATE_WAITING);
    if (final_state.state() == v1::MAIL_STATE_DELIVERED) {
      EXPECT_GT(released.load(), 0);
    } else {
      EXPECT_EQ(released.load(), 0) << "the message left after the deadline decided non-delivery";
    }
    EXPECT_EQ(OutcomesInLog(mail->id()), 1);
    EXPECT_TRUE(EvidenceHolds(final_state.outcome()));
  }
}

// semper-notary killed (SIGKILL) while the recipient takes delivery of 24 mails at once: after
// the restart every acknowledged delivery stands as acknowledged; a mail in flight is delivered
// once when the recipient asks again (the same message), and each mail has exactly one outcome
// in the evidence log, which sender and recipient see alike and which verifies.
TEST_F(NotaryMailTest, KilledWhileMailIsDeliveredEachMailHasOneOutcome) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob");
  constexpr int kMails = 24;
  std::vector<v1::CertifiedMail> mails;
  std::vector<std::string> messages;
  for (int i = 0; i < kMails; ++i) {
    std::string enveloped, origin;
    auto m = Deposit(alice, bob, "invoice " + std::to_string(i), absl::Hours(1), &enveloped, &origin);
    ASSERT_THAT(m, IsOk());
    mails.push_back(*m);
    messages.push_back(enveloped);
  }
  std::vector<int64_t> acked(kMails, -1);
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kMails; ++i) {
    threads.emplace_back([&, i] {
      auto r = Accept(bob, mails[i]);
      if (r.ok()) acked[i] = static_cast<int64_t>(r->mail().outcome().index());
      ++answered;
    });
  }
  while (answered.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  KillAndRestartNotary();
  for (auto& t : threads) t.join();
  int acknowledged = 0;
  for (int64_t a : acked) acknowledged += a >= 0 ? 1 : 0;
  std::printf("killed after the first answer: %d of %d deliveries acknowledged\n", acknowledged, kMails);
  for (int i = 0; i < kMails; ++i) {
    v1::CertifiedMail seen = Get(mails[i].id(), alice);
    if (acked[i] >= 0) {
      EXPECT_EQ(seen.state(), v1::MAIL_STATE_DELIVERED) << i;
    }
    // The recipient asks again (a retry of its receipt): the same message, delivered once; the
    // outcome may take until the pending evidence is appended.
    auto again = Accept(bob, mails[i]);
    ASSERT_THAT(again, IsOk()) << i;
    EXPECT_EQ(again->enveloped_message(), messages[i]) << i;
    v1::CertifiedMail final_state = Get(mails[i].id(), alice);
    for (int wait = 0; !final_state.has_outcome() && wait < 150; ++wait) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      final_state = Get(mails[i].id(), alice);
    }
    ASSERT_TRUE(final_state.has_outcome()) << i;
    EXPECT_EQ(final_state.state(), v1::MAIL_STATE_DELIVERED) << i;
    if (acked[i] >= 0) {
      EXPECT_EQ(static_cast<int64_t>(final_state.outcome().index()), acked[i]) << i;
    }
    EXPECT_TRUE(EvidenceHolds(final_state.outcome())) << i;
    EXPECT_EQ(OutcomesInLog(mails[i].id()), 1) << i;
  }
}

class NotaryContractTest : public NotaryTest {
 protected:
  absl::StatusOr<v1::NotarizedContract> Create(const std::string& text, const std::vector<const Signer*>& signers,
                                               absl::Duration valid = absl::Hours(1)) {
    v1::CreateContractRequest req;
    req.set_contract(text);
    req.set_title("Supply agreement");
    for (const Signer* s : signers) req.add_signer_certificates(s->certificate.Der());
    *req.mutable_deadline() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now() + valid));
    v1::NotarizedContract c;
    grpc::ClientContext ctx;
    grpc::Status st = Notary()->CreateContract(&ctx, req, &c);
    if (!st.ok()) return FromGrpcStatus(st);
    return c;
  }
  absl::StatusOr<v1::NotarizedContract> SignAs(const Signer& s, const std::string& id, const std::string& text) {
    v1::SignContractRequest req;
    req.set_id(id);
    req.set_signature(
        *CmsSignDetached("semper-contract:" + id + ":" + HexEncode(Sha256(text)), s.key, s.certificate, Chain()));
    v1::NotarizedContract c;
    grpc::ClientContext ctx;
    grpc::Status st = NotaryAs(&s)->SignContract(&ctx, req, &c);
    if (!st.ok()) return FromGrpcStatus(st);
    return c;
  }
  absl::StatusOr<v1::NotarizedContract> DeclineAs(const Signer& s, const std::string& id, const std::string& reason) {
    v1::DeclineContractRequest req;
    req.set_id(id);
    req.set_reason(reason);
    req.set_signature(*CmsSignDetached("semper-decline:" + id + ":" + reason, s.key, s.certificate, Chain()));
    v1::NotarizedContract c;
    grpc::ClientContext ctx;
    grpc::Status st = NotaryAs(&s)->DeclineContract(&ctx, req, &c);
    if (!st.ok()) return FromGrpcStatus(st);
    return c;
  }
  absl::StatusOr<v1::NotarizedContract> GetAs(const Signer* as, const std::string& id) {
    v1::GetContractRequest req;
    req.set_id(id);
    v1::NotarizedContract c;
    grpc::ClientContext ctx;
    grpc::Status st = NotaryAs(as)->GetContract(&ctx, req, &c);
    if (!st.ok()) return FromGrpcStatus(st);
    return c;
  }
  v1::NotarizedContract Get(const std::string& id, const Signer& as) {
    auto c = GetAs(&as, id);
    EXPECT_THAT(c, IsOk());
    return c.ok() ? *c : v1::NotarizedContract();
  }
};

TEST_F(NotaryContractTest, TwoPartiesSignAndEachGetsTheSealedContract) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob"), carol = Enroll("Carol");
  std::string text = "Alice sells Bob 12 crates of apples for EUR 240, delivery by 1 December.\n";
  auto c = Create(text, {&alice, &bob});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->state(), v1::CONTRACT_STATE_OPEN);
  EXPECT_EQ(c->contract_sha256(), Sha256(text));
  // Who is not named, and a signature over other bytes, are refused.
  EXPECT_THAT(SignAs(carol, c->id(), text), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(SignAs(alice, c->id(), text + " (amended)"),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  auto first = SignAs(alice, c->id(), text);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->state(), v1::CONTRACT_STATE_OPEN);
  EXPECT_THAT(SignAs(alice, c->id(), text), IsOk());  // repeated: no change
  auto done = SignAs(bob, c->id(), text);
  ASSERT_THAT(done, IsOk()) << Slurp(P("notary.log"));
  EXPECT_EQ(done->state(), v1::CONTRACT_STATE_COMPLETED);
  ASSERT_EQ(done->outcome().kind(), "signed-contract");
  EXPECT_TRUE(EvidenceHolds(done->outcome()));
  // Every signer gets the same sealed contract.
  v1::NotarizedContract seen = Get(c->id(), bob);
  EXPECT_EQ(seen.outcome().index(), done->outcome().index());
  EXPECT_EQ(seen.outcome().statement(), done->outcome().statement());
  v1::SignedContractStatement st;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(done->outcome().statement(), &st).ok());
  ASSERT_EQ(st.signers_size(), 2);
  // What each party signed names the contract and its text, and openssl agrees.
  dir_.Write("signed.txt", "semper-contract:" + c->id() + ":" + HexEncode(Sha256(text)));
  for (const auto& s : st.signers()) {
    dir_.Write("party.sig", s.signature());
    auto v = RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("party.sig"), "-content",
                         P("signed.txt"), "-CAfile", P("pki/root.pem"), "-purpose", "any", "-out", "/dev/null"});
    EXPECT_EQ(v.exit_code, 0) << s.subject() << v.Describe();
  }
  dir_.Write("contract.tst", st.time_stamp_token());
  auto ts = RunCommand({"openssl", "ts", "-verify", "-digest", HexEncode(Sha256(text)), "-token_in", "-in",
                        P("contract.tst"), "-CAfile", P("pki/root.pem"), "-untrusted", P("pki/ca.pem")});
  EXPECT_EQ(ts.exit_code, 0) << ts.Describe();
  // A decision is final.
  EXPECT_THAT(DeclineAs(alice, c->id(), "changed my mind"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(Get(c->id(), alice).state(), v1::CONTRACT_STATE_COMPLETED);
  // Creation is checked too.
  EXPECT_THAT(Create(text, {&alice}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Create(text, {&alice, &alice}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Create(text, {&alice, &bob}, -absl::Minutes(1)), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Finding (issue 19, 5): a signature covered only the contract's text. After Alice signed, or
// even signed and then declined, contract C1, Bob copied her signature from GetContract(C1) into a
// new contract with the same text and signers, and completed it with a signing time she never
// had. A signature names the contract it is for: a copy signs no other contract, nor does a
// signature over the text alone.
TEST_F(NotaryContractTest, ASignatureSignsOnlyTheContractItNames) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob");
  const std::string text = "Alice sells Bob the orchard for EUR 90,000.\n";
  auto c1 = Create(text, {&alice, &bob});
  ASSERT_THAT(c1, IsOk());
  ASSERT_THAT(SignAs(alice, c1->id(), text), IsOk());
  const std::string alices = Get(c1->id(), bob).signers(0).signature();  // what Bob sees of C1
  ASSERT_FALSE(alices.empty());
  ASSERT_THAT(DeclineAs(alice, c1->id(), "changed my mind"), IsOk());
  ASSERT_EQ(Get(c1->id(), alice).state(), v1::CONTRACT_STATE_ABORTED);
  auto copy_into = [&](const std::string& id, const std::string& signature) {
    v1::SignContractRequest req;
    req.set_id(id);
    req.set_signature(signature);
    v1::NotarizedContract out;
    grpc::ClientContext ctx;
    return FromGrpcStatus(NotaryAs(&bob)->SignContract(&ctx, req, &out));
  };
  auto c2 = Create(text, {&alice, &bob});
  ASSERT_THAT(c2, IsOk());
  ASSERT_THAT(SignAs(bob, c2->id(), text), IsOk());
  const uint64_t entries = TreeSize();
  // Alice's signature from C1; her signature over the text alone (what C1 took before); hers for
  // C2 over another text; hers for C2 with the text but not the id.
  for (const std::string& forged :
       {alices, *CmsSignDetached(text, alice.key, alice.certificate, Chain()),
        *CmsSignDetached("semper-contract:" + c2->id() + ":" + HexEncode(Sha256(text + " ")), alice.key,
                         alice.certificate, Chain()),
        *CmsSignDetached("semper-contract::" + HexEncode(Sha256(text)), alice.key, alice.certificate, Chain())}) {
    EXPECT_THAT(copy_into(c2->id(), forged), StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  }
  v1::NotarizedContract still = Get(c2->id(), bob);
  EXPECT_EQ(still.state(), v1::CONTRACT_STATE_OPEN);
  EXPECT_EQ(still.signers(0).state(), v1::SIGNER_STATE_PENDING);
  EXPECT_EQ(TreeSize(), entries);
  // Alice's own signature of C2 completes it; C1 stays aborted, and serves no signature.
  auto done = SignAs(alice, c2->id(), text);
  ASSERT_THAT(done, IsOk());
  EXPECT_EQ(done->state(), v1::CONTRACT_STATE_COMPLETED);
  v1::NotarizedContract aborted = Get(c1->id(), bob);
  EXPECT_EQ(aborted.state(), v1::CONTRACT_STATE_ABORTED);
  for (const auto& signer : aborted.signers()) EXPECT_TRUE(signer.signature().empty()) << signer.subject();
  // A contract left open across the upgrade with a signature an earlier version stored (over the
  // text alone: here the copy from C1 planted as such): Bob's signature does not seal it; Alice is
  // asked again, and her own signature of C3 does.
  auto c3 = Create(text, {&alice, &bob});
  ASSERT_THAT(c3, IsOk());
  Sql("UPDATE notary.contract_signers SET state = 'signed', at = now(), signature = decode('" +
      HexEncode(*CmsSignDetached(text, alice.key, alice.certificate, Chain())) + "', 'hex') WHERE contract_id = '" +
      c3->id() + "' AND position = 0");
  auto bobs = SignAs(bob, c3->id(), text);
  ASSERT_THAT(bobs, IsOk());
  EXPECT_EQ(bobs->state(), v1::CONTRACT_STATE_OPEN);
  EXPECT_EQ(bobs->signers(0).state(), v1::SIGNER_STATE_PENDING);
  EXPECT_EQ(bobs->signers(1).state(), v1::SIGNER_STATE_SIGNED);
  auto sealed3 = SignAs(alice, c3->id(), text);
  ASSERT_THAT(sealed3, IsOk());
  EXPECT_EQ(sealed3->state(), v1::CONTRACT_STATE_COMPLETED);
}

// Finding: GetContractText treated the id as a secret, but every decided contract's id is in the
// public evidence log: anyone read every contract. The text, the state and the evidence are for
// the signers it names, and the log shows leaf hashes only.
// The notary's operator shows a signer another contract's text for contract 1, or answers its
// signature with another contract's completion. semperctl signs only a text whose hash is the
// contract's, and keeps only an outcome about this contract; the honest answers are taken.
TEST_F(NotaryContractTest, SemperctlSignsOnlyTheContractsTextAndKeepsOnlyItsOutcome) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob");
  const std::string text1 = "Supply agreement 1: 10 crates a month.\n", text2 = "Supply agreement 2: 1000 crates.\n";
  auto c1 = Create(text1, {&alice, &bob});
  auto c2 = Create(text2, {&alice, &bob});
  ASSERT_THAT(c1, IsOk());
  ASSERT_THAT(c2, IsOk());
  ASSERT_THAT(SignAs(bob, c1->id(), text1), IsOk());
  ASSERT_THAT(SignAs(bob, c2->id(), text2), IsOk());
  auto completed2 = SignAs(alice, c2->id(), text2);
  ASSERT_THAT(completed2, IsOk());
  ASSERT_TRUE(completed2->has_outcome());
  auto seen1 = GetAs(&alice, c1->id());
  ASSERT_THAT(seen1, IsOk());
  const std::string wallet = WalletOf(alice, "alice");
  LyingNotary notary;
  int port = 0;
  auto server = ServeAs("notary", &notary, &port);
  ASSERT_NE(server, nullptr);
  auto sign = [&] {
    return CtlAt("--notary", port,
                 {"notary", "contract", "sign", c1->id(), "--wallet", wallet, "--wallet-passphrase-file", P("wpass"),
                  "--out", P("contract.json")});
  };
  notary.contract = *seen1;
  notary.text = text2;
  auto other_text = sign();
  EXPECT_NE(other_text.exit_code, 0) << other_text.Describe();
  EXPECT_THAT(other_text.err, HasSubstr("not the contract's"));
  EXPECT_THAT(other_text.out, ::testing::Not(HasSubstr("1000 crates")));  // never shown as what is signed
  EXPECT_EQ(notary.signs.load(), 0);
  notary.text = text1;
  v1::NotarizedContract renamed = *completed2;
  renamed.set_id(c1->id());
  for (const auto& [what, answer] : std::vector<std::pair<std::string, v1::NotarizedContract>>{
           {"contract 2's completion", *completed2}, {"contract 2's completion renamed", renamed}}) {
    notary.signed_contract = answer;
    auto r = sign();
    EXPECT_NE(r.exit_code, 0) << what << ": " << r.Describe();
    EXPECT_THAT(r.err,
                ::testing::AnyOf(HasSubstr("than its signed statement"), HasSubstr("answered about another contract")))
        << what;
    EXPECT_FALSE(std::filesystem::exists(P("contract.json"))) << what;
  }
  // A declined contract shown as completed: its abort relabelled as the signed contract.
  auto c3 = Create("Supply agreement 3: declined.\n", {&alice, &bob});
  ASSERT_THAT(c3, IsOk());
  auto declined = DeclineAs(bob, c3->id(), "no");
  ASSERT_THAT(declined, IsOk());
  ASSERT_TRUE(declined->has_outcome());
  v1::NotarizedContract shown_completed = *GetAs(&alice, c3->id());
  shown_completed.set_state(v1::CONTRACT_STATE_COMPLETED);
  shown_completed.mutable_outcome()->set_kind("signed-contract");
  notary.contract = shown_completed;
  auto shown = CtlAt("--notary", port,
                     {"notary", "contract", "show", c3->id(), "--wallet", wallet, "--wallet-passphrase-file",
                      P("wpass"), "--out", P("c3.json")});
  EXPECT_NE(shown.exit_code, 0) << shown.Describe();
  EXPECT_THAT(shown.out, ::testing::Not(HasSubstr("completed")));
  EXPECT_FALSE(std::filesystem::exists(P("c3.json")));
  notary.contract = *seen1;
  auto completed1 = SignAs(alice, c1->id(), text1);
  ASSERT_THAT(completed1, IsOk());
  notary.signed_contract = *completed1;
  auto honest = sign();
  EXPECT_EQ(honest.exit_code, 0) << honest.Describe();
  EXPECT_TRUE(std::filesystem::exists(P("contract.json")));
  server->Shutdown();
}

TEST_F(NotaryContractTest, OnlyTheNamedSignersReadTheContract) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob"), carol = Enroll("Carol");
  std::string text = "Alice lends Bob EUR 5,000 at 3 % a year.\n";
  auto c = Create(text, {&alice, &bob});
  ASSERT_THAT(c, IsOk());
  auto read = [&](const Signer* who, const std::string& id) -> absl::StatusOr<std::string> {
    v1::GetContractTextRequest req;
    req.set_id(id);
    v1::ContractText t;
    grpc::ClientContext ctx;
    grpc::Status st = NotaryAs(who)->GetContractText(&ctx, req, &t);
    if (!st.ok()) return FromGrpcStatus(st);
    return t.contract();
  };
  const std::string unused = "C-0123456789abcdef";
  EXPECT_THAT(read(nullptr, c->id()).status(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(read(&carol, c->id()).status(), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(read(&carol, unused).status(), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(GetAs(nullptr, c->id()), StatusIs(absl::StatusCode::kUnauthenticated));
  auto state_by_carol = GetAs(&carol, c->id());
  EXPECT_THAT(state_by_carol, StatusIs(absl::StatusCode::kPermissionDenied));
  auto no_such = GetAs(&carol, unused);
  EXPECT_THAT(no_such, StatusIs(absl::StatusCode::kPermissionDenied));
  std::string told = std::string(state_by_carol.status().message());
  told.replace(told.find(c->id()), c->id().size(), unused);
  EXPECT_EQ(told, std::string(no_such.status().message()));  // an id in use looks like one that is not
  auto by_alice = read(&alice, c->id());
  ASSERT_THAT(by_alice, IsOk());
  EXPECT_EQ(*by_alice, text);
  ASSERT_THAT(SignAs(alice, c->id(), text), IsOk());
  auto done = SignAs(bob, c->id(), text);
  ASSERT_THAT(done, IsOk());
  ASSERT_TRUE(done->has_outcome());
  // Decided: still only the signers; the log names nobody.
  EXPECT_THAT(read(&carol, c->id()).status(), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(GetAs(&carol, c->id()), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(read(&bob, c->id()), IsOk());
  EXPECT_THAT(GetAs(&bob, c->id()), IsOk());
  // A signer's signature is in the contract's evidence, which the parties show to others: a copy
  // does not read the contract, presented by a stranger or by Carol.
  v1::SignedContractStatement sealed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(done->outcome().statement(), &sealed).ok());
  auto resign = [&](const Signer* as, const std::string& id, const std::string& signature) {
    v1::SignContractRequest req;
    req.set_id(id);
    req.set_signature(signature);
    v1::NotarizedContract out;
    grpc::ClientContext ctx;
    return FromGrpcStatus(NotaryAs(as)->SignContract(&ctx, req, &out));
  };
  EXPECT_THAT(resign(nullptr, c->id(), sealed.signers(0).signature()), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(resign(&carol, c->id(), sealed.signers(0).signature()), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(resign(&alice, c->id(), sealed.signers(0).signature()), IsOk());
  // Neither SignContract nor DeclineContract tells someone not named which ids are in use.
  for (const std::string& signature :
       {std::string("AAAA"), *CmsSignDetached("some text", carol.key, carol.certificate, Chain()),
        *CmsSignDetached("semper-no-contract:" + unused, carol.key, carol.certificate, Chain())}) {
    absl::Status used = resign(nullptr, c->id(), signature), free = resign(nullptr, unused, signature);
    EXPECT_EQ(used.code(), free.code()) << used << " / " << free;
    EXPECT_EQ(ReasonOf(used), ReasonOf(free)) << used << " / " << free;
  }
  auto decline_by_carol = [&](const std::string& id) {
    v1::DeclineContractRequest req;
    req.set_id(id);
    req.set_reason("");
    req.set_signature(*CmsSignDetached("semper-decline:" + id + ":", carol.key, carol.certificate, Chain()));
    v1::NotarizedContract out;
    grpc::ClientContext ctx;
    return FromGrpcStatus(Notary()->DeclineContract(&ctx, req, &out));
  };
  absl::Status used = decline_by_carol(c->id()), free = decline_by_carol(unused);
  EXPECT_THAT(used, StatusIs(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED));
  std::string told_used = std::string(used.message());
  told_used.replace(told_used.find(c->id()), c->id().size(), unused);
  EXPECT_EQ(told_used, std::string(free.message()));
  // Nor its deadline, nor does it decide the abort that is due.
  auto lapsing = Create("Alice buys Bob's bicycle.", {&alice, &bob}, absl::Seconds(1));
  ASSERT_THAT(lapsing, IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  const uint64_t size_before = TreeSize();
  EXPECT_THAT(decline_by_carol(lapsing->id()), StatusIs(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED));
  // Nor a signature by Carol, who knows the id and the text.
  EXPECT_THAT(
      resign(nullptr, lapsing->id(),
             *CmsSignDetached("semper-contract:" + lapsing->id() + ":" + HexEncode(Sha256("Alice buys Bob's bicycle.")),
                              carol.key, carol.certificate, Chain())),
      StatusIs(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED));
  EXPECT_EQ(TreeSize(), size_before);
  EXPECT_EQ(Get(lapsing->id(), alice).state(), v1::CONTRACT_STATE_ABORTED);  // a signer asking decides it
  // An aborted one too.
  auto declined = Create("Carol rents Alice a van.", {&alice, &carol});
  ASSERT_THAT(declined, IsOk());
  auto aborted = DeclineAs(carol, declined->id(), "the van is sold");
  ASSERT_THAT(aborted, IsOk());
  ASSERT_TRUE(aborted->has_outcome());
  ExpectThePublicLogShowsOnlyLeafHashes(
      {done->outcome(), aborted->outcome(), Get(lapsing->id(), bob).outcome()},
      {"Alice", "Bob", "Carol", c->id(), declined->id(), Sha256(text), "Supply agreement", "van is sold", "contract"});
}

// A decline ends a contract for everyone, so only a named signer's signature over exactly
// "semper-decline:<id>:<reason>" may: not a signer not named, not a decline signed for another
// contract or another reason, not an authentication key. Limits: 2 to 32 signers, 90 days.
TEST_F(NotaryContractTest, DeclinesThatDoNotBindANamedSignerAreRefusedAndChangeNothing) {
  Signer alice = Enroll("Alice"), bob = Enroll("Bob"), carol = Enroll("Carol");
  std::string text = "Bob paints Alice's fence for EUR 300.";
  auto c = Create(text, {&alice, &bob});
  ASSERT_THAT(c, IsOk());
  auto other = Create("another contract", {&alice, &bob});
  ASSERT_THAT(other, IsOk());
  auto decline = [&](const PrivateKey& key, const Certificate& cert, const std::string& id, const std::string& reason,
                     const std::string& signed_text) {
    v1::DeclineContractRequest req;
    req.set_id(id);
    req.set_reason(reason);
    req.set_signature(*CmsSignDetached(signed_text, key, cert, Chain()));
    v1::NotarizedContract out;
    grpc::ClientContext ctx;
    return FromGrpcStatus(Notary()->DeclineContract(&ctx, req, &out));
  };
  const uint64_t before = TreeSize();
  EXPECT_THAT(decline(carol.key, carol.certificate, c->id(), "no", "semper-decline:" + c->id() + ":no"),
              StatusIs(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED));
  EXPECT_THAT(decline(bob.key, bob.certificate, c->id(), "no", "semper-decline:" + other->id() + ":no"),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  EXPECT_THAT(decline(bob.key, bob.certificate, c->id(), "too expensive", "semper-decline:" + c->id() + ":no"),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  EXPECT_THAT(decline(bob.auth_key, bob.auth_certificate, c->id(), "no", "semper-decline:" + c->id() + ":no"),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  EXPECT_EQ(Get(c->id(), alice).state(), v1::CONTRACT_STATE_OPEN);
  EXPECT_EQ(TreeSize(), before);
  ASSERT_THAT(SignAs(alice, c->id(), text), IsOk());
  ASSERT_THAT(SignAs(bob, c->id(), text), IsOk());
  EXPECT_EQ(Get(c->id(), bob).state(), v1::CONTRACT_STATE_COMPLETED);
  // The limits.
  std::vector<const Signer*> many(33, &alice);
  EXPECT_THAT(Create(text, many), StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  EXPECT_THAT(Create(text, {&alice, &bob}, absl::Hours(24 * 91)),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
}

TEST_F(NotaryContractTest, ConcurrentSignAndDeclineDecideOnceForEveryone) {
  Signer a = Enroll("A"), b = Enroll("B"), c = Enroll("C");
  for (int round = 0; round < 3; ++round) {
    std::string text = "round " + std::to_string(round);
    auto contract = Create(text, {&a, &b, &c});
    ASSERT_THAT(contract, IsOk());
    ASSERT_THAT(SignAs(a, contract->id(), text), IsOk());
    ASSERT_THAT(SignAs(b, contract->id(), text), IsOk());
    // C signs (completing it) while C and B decline (aborting it), all at once.
    std::vector<std::thread> threads;
    std::atomic<int> completed{0}, aborted{0}, refused{0};
    for (int t = 0; t < 12; ++t) {
      threads.emplace_back([&, t] {
        auto r = t % 3 == 0   ? DeclineAs(c, contract->id(), "no")
                 : t % 3 == 1 ? DeclineAs(b, contract->id(), "no")
                              : SignAs(c, contract->id(), text);
        if (!r.ok()) {
          ++refused;
        } else if (r->state() == v1::CONTRACT_STATE_COMPLETED) {
          ++completed;
        } else if (r->state() == v1::CONTRACT_STATE_ABORTED) {
          ++aborted;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_TRUE(completed == 0 || aborted == 0) << "both outcomes were answered";
    v1::NotarizedContract final_state = Get(contract->id(), a);
    EXPECT_NE(final_state.state(), v1::CONTRACT_STATE_OPEN);
    EXPECT_TRUE(EvidenceHolds(final_state.outcome()));
    for (int i = 0; i < 4; ++i) {
      v1::NotarizedContract again = Get(contract->id(), a);
      EXPECT_EQ(again.state(), final_state.state());
      EXPECT_EQ(again.outcome().index(), final_state.outcome().index());
    }
    // Exactly one outcome of this contract in the log.
    EXPECT_EQ(Sql("SELECT count(*) FROM notary.log_entries WHERE kind IN ('signed-contract', 'contract-abort') AND "
                  "convert_from(statement, 'UTF8') LIKE '%" +
                  contract->id() + "%'"),
              "1");
  }
}

// semper-notary killed (SIGKILL) while the second party signs 24 contracts at once (each
// signature completes one: decision, statement, time-stamp, evidence): after the restart an
// acknowledged completion stands with the same evidence; a contract in flight is completed once
// when the party signs again; both parties see one outcome, once in the log, and it verifies.
TEST_F(NotaryContractTest, KilledWhileContractsCompleteEveryPartySeesOneOutcome) {
  Signer a = Enroll("A"), b = Enroll("B");
  constexpr int kContracts = 24;
  std::vector<std::string> ids, texts;
  for (int i = 0; i < kContracts; ++i) {
    texts.push_back("contract " + std::to_string(i) + ": A delivers, B pays EUR " + std::to_string(100 + i));
    auto c = Create(texts.back(), {&a, &b});
    ASSERT_THAT(c, IsOk());
    ids.push_back(c->id());
    ASSERT_THAT(SignAs(a, c->id(), texts.back()), IsOk());
  }
  std::vector<int64_t> acked(kContracts, -1);
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kContracts; ++i) {
    threads.emplace_back([&, i] {
      auto r = SignAs(b, ids[i], texts[i]);
      if (r.ok() && r->state() == v1::CONTRACT_STATE_COMPLETED && r->has_outcome()) {
        acked[i] = static_cast<int64_t>(r->outcome().index());
      }
      ++answered;
    });
  }
  while (answered.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  KillAndRestartNotary();
  for (auto& t : threads) t.join();
  int acknowledged = 0;
  for (int64_t x : acked) acknowledged += x >= 0 ? 1 : 0;
  std::printf("killed after the first answer: %d of %d completions acknowledged\n", acknowledged, kContracts);
  for (int i = 0; i < kContracts; ++i) {
    // B signs again (its retry); the outcome may take until the pending evidence is appended.
    auto again = SignAs(b, ids[i], texts[i]);
    ASSERT_THAT(again, IsOk()) << i;
    EXPECT_EQ(again->state(), v1::CONTRACT_STATE_COMPLETED) << i;
    v1::NotarizedContract seen = Get(ids[i], a);
    for (int wait = 0; !seen.has_outcome() && wait < 150; ++wait) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      seen = Get(ids[i], a);
    }
    ASSERT_TRUE(seen.has_outcome()) << i;
    if (acked[i] >= 0) {
      EXPECT_EQ(static_cast<int64_t>(seen.outcome().index()), acked[i]) << i;
    }
    EXPECT_TRUE(EvidenceHolds(seen.outcome())) << i;
    EXPECT_EQ(Sql("SELECT count(*) FROM notary.log_entries WHERE kind IN ('signed-contract', 'contract-abort') AND "
                  "convert_from(statement, 'UTF8') LIKE '%" +
                  ids[i] + "%'"),
              "1")
        << i;
  }
}

TEST_F(NotaryContractTest, TheDeadlinePassingAbortsAndLateSignaturesAreRefused) {
  Signer a = Enroll("A"), b = Enroll("B");
  std::string text = "short-lived offer";
  auto contract = Create(text, {&a, &b}, absl::Seconds(2));
  ASSERT_THAT(contract, IsOk());
  ASSERT_THAT(SignAs(a, contract->id(), text), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto late = SignAs(b, contract->id(), text);
  EXPECT_THAT(late, StatusIs(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE));
  v1::NotarizedContract seen = Get(contract->id(), b);
  EXPECT_EQ(seen.state(), v1::CONTRACT_STATE_ABORTED);
  ASSERT_EQ(seen.outcome().kind(), "contract-abort");
  EXPECT_THAT(seen.outcome().statement(), HasSubstr("deadline passed"));
  EXPECT_TRUE(EvidenceHolds(seen.outcome()));
}

}  // namespace
}  // namespace semper
