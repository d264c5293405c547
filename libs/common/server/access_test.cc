// The role matrix: complete for every RPC of the suite's protos, equal to docs/roles.md, and its
// decisions.
#include "common/server/access.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/crypto/certificate.h"
#include "common/server/peer.h"
#include "semper/v1/arbiter.grpc.pb.h"
#include "semper/v1/ca.grpc.pb.h"
#include "semper/v1/liability.grpc.pb.h"
#include "semper/v1/notary.grpc.pb.h"
#include "semper/v1/privacy.grpc.pb.h"
#include "semper/v1/tsa.grpc.pb.h"
#include "tests/support/suite.h"
#include "tests/support/test_pki.h"
#include "tests/support/weak_keys.h"

namespace semper {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(AccessMatrix, HasOneRowForEveryRpcOfTheSuiteAndNoOther) {
  std::set<std::string> rpcs;
  for (const char* name : {"semper.v1.CertificationAuthority", "semper.v1.Pseudonyms", "semper.v1.Credentials",
                           "semper.v1.TimeStamp", "semper.v1.Notary", "semper.v1.Arbiter", "semper.v1.Liability"}) {
    const auto* service = ::semper::testing::SuiteService(name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i)
      rpcs.insert("/" + service->full_name() + "/" + service->method(i)->name());
  }
  std::set<std::string> rows;
  for (const AccessRule& r : SuiteAccessMatrix()) {
    EXPECT_TRUE(rows.insert(r.method).second) << "two rows for " << r.method;
    if (r.method.rfind("/semper.v1.", 0) == 0) {
      EXPECT_TRUE(rpcs.count(r.method)) << r.method << " is not an RPC";
    }
  }
  for (const std::string& rpc : rpcs) EXPECT_TRUE(rows.count(rpc)) << rpc << " has no row in the role matrix";
  EXPECT_TRUE(rows.count("/grpc.health.v1.Health/Check"));
}

TEST(AccessMatrix, IsWhatDocsRolesMdSays) {
  std::ifstream in(SEMPER_SOURCE_DIR "/docs/roles.md");
  ASSERT_TRUE(in.good()) << "docs/roles.md is missing";
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const std::string begin = "<!-- role-matrix:begin -->\n", end = "<!-- role-matrix:end -->";
  auto b = doc.find(begin), e = doc.find(end);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(doc.substr(b + begin.size(), e - b - begin.size()), RoleMatrixMarkdown(SuiteAccessMatrix()))
      << "docs/roles.md differs from the enforced matrix; the table should read:\n"
      << RoleMatrixMarkdown(SuiteAccessMatrix());
}

TEST(AccessPolicy, DecidesByRowAndRole) {
  AccessPolicy policy({{"/s.S/Open", {}, ""}, {"/s.S/Admin", {Role::kAdministrator, Role::kArbitrator}, ""}});
  EXPECT_TRUE(policy.Check("/s.S/Open", false, {}, "").ok());
  EXPECT_TRUE(policy.Check("/s.S/Admin", true, {Role::kArbitrator}, "CN=A").ok());

  absl::Status none = policy.Check("/s.S/Admin", false, {}, "");
  EXPECT_EQ(none.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(none.message()), StartsWith(std::string(kAccessDenialPrefix)));
  EXPECT_THAT(std::string(none.message()), HasSubstr("administrator or arbitrator"));

  absl::Status wrong = policy.Check("/s.S/Admin", true, {Role::kSubscriber}, "CN=Bob");
  EXPECT_EQ(wrong.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(wrong.message()), HasSubstr("CN=Bob"));

  absl::Status unknown = policy.Check("/s.S/Other", true, {Role::kAdministrator}, "CN=A");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("does not exist"));
  EXPECT_EQ(policy.Check("", true, {Role::kAdministrator}, "CN=A").code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(policy.Check("/s.S/Other", false, {}, "").code(), absl::StatusCode::kUnimplemented);
}

// A pseudonym's name can be issued again to someone else (after expiry, revocation or a hold):
// its party is its certificate, never its name. A subscriber's two certificates are one party.
TEST(PartyTest, PseudonymsAreTheirCertificateSubscribersTheirId) {
  const auto& pki = ::semper::testing::SharedTestPki();
  ::semper::testing::LeafSpec spec;
  spec.common_name = "Night Owl Books";
  auto a = pki.Issue(spec), b = pki.Issue(spec);
  ASSERT_EQ(a.certificate.Subject(), b.certificate.Subject());
  EXPECT_NE(PartyOf(a.certificate), PartyOf(b.certificate));
  EXPECT_NE(PartyOfSubject(a.certificate.Subject()), PartyOf(a.certificate));
  spec.extra_subject = {{"serialNumber", "S-0000000042"}};
  spec.common_name = "Example GmbH";
  auto auth = pki.Issue(spec), sig = pki.Issue(spec);
  EXPECT_EQ(PartyOf(auth.certificate), PartyOf(sig.certificate));
  EXPECT_EQ(PartyOf(auth.certificate), "subscriber:S-0000000042");
  EXPECT_EQ(PartyOfSubject(sig.certificate.Subject()), PartyOf(auth.certificate));
  // A name that contains the text of another subscriber's id is not that subscriber.
  spec.extra_subject = {};
  spec.common_name = "x,serialNumber=S-0000000042";
  auto tricky = pki.Issue(spec);
  EXPECT_NE(PartyOfSubject(tricky.certificate.Subject()), "subscriber:S-0000000042");
}

// A client certificate that the suite's CA (or any CA in the path) signed for a key anyone can sign
// for, carrying a role: the gate's KnownCertificateOf refuses it (WEAK_KEY), so no handler ever
// sees it as a party. (A TLS handshake with such a certificate needs a client that forges
// CertificateVerify; the gate reads the certificate the TLS layer verified, which is this PEM.)
TEST(GateTest, AClientCertificateForAForgeableKeyIsRefused) {
  auto ca_key = PrivateKey::Generate(KeyType::kEcP256);
  CertificateTemplate ct;
  ct.subject = {{"CN", "Old CA"}};
  ct.not_before = absl::Now() - absl::Hours(1);
  ct.not_after = absl::Now() + absl::Hours(24);
  ct.is_ca = true;
  ct.key_usage = kKuKeyCertSign | kKuCrlSign;
  auto ca = IssueCertificate(ct, ca_key->public_key(), nullptr, *ca_key);
  ASSERT_TRUE(ca.ok());
  std::string n(256, '\xC5');  // an odd 2048-bit modulus; e = 1 makes any value its own signature
  n.back() = '\x01';
  for (const std::string& spki_der :
       {::semper::testing::Ed25519Spki(::semper::testing::Ed25519SmallOrderPoints()[0]),
        ::semper::testing::P256Spki(std::string(1, '\0')), ::semper::testing::RsaSpki(n, 1)}) {
    CertificateTemplate t;
    t.subject = RoleSubjectAttributes({Role::kAdministrator});
    t.subject.push_back({"CN", "Deniable Administrator"});
    t.not_before = absl::Now() - absl::Minutes(1);
    t.not_after = absl::Now() + absl::Hours(1);
    t.key_usage = kKuDigitalSignature;
    t.extended_key_usage = {"clientAuth"};
    auto cert = ::semper::testing::CertificateForSpkiDer(spki_der, t, *ca, *ca_key);
    ASSERT_TRUE(cert.ok()) << cert.status();
    auto known = KnownCertificateOf(cert->Pem());
    ASSERT_FALSE(known.ok()) << "a forgeable key passed the gate";
    EXPECT_EQ(known.status().code(), absl::StatusCode::kInvalidArgument) << known.status();
  }
}

}  // namespace
}  // namespace semper
