// Certificates: parsing, path validation at a time, key usage, and damaged input.
#include "common/crypto/certificate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/crypto/csr.h"
#include "common/crypto/oids.h"
#include "common/crypto/ossl.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_pki.h"
#include "tests/support/weak_keys.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::LeafSpec;
using ::semper::testing::StatusIs;
using ::semper::testing::TestPki;

const TestPki& Pki() { return ::semper::testing::SharedTestPki(); }

TEST(CertificateTest, ParsesWhatItIssues) {
  LeafSpec spec;
  spec.common_name = "Alice Buyer";
  spec.extensions.push_back({"1.2.3.4.5", false,
                             std::string("\x13\x02"
                                         "DE",
                                         4)});
  auto alice = Pki().Issue(spec);
  auto der = Certificate::FromDer(alice.certificate.Der());
  ASSERT_THAT(der, IsOk());
  EXPECT_EQ(der->Der(), alice.certificate.Der());
  auto pem = Certificate::FromPem(alice.certificate.Pem());
  ASSERT_THAT(pem, IsOk());
  EXPECT_EQ(pem->SubjectAttribute("CN"), "Alice Buyer");
  EXPECT_EQ(pem->SubjectAttribute("2.5.4.6"), "DE");
  EXPECT_EQ(pem->Subject(), "CN=Alice Buyer,O=Example,C=DE");
  EXPECT_EQ(pem->Issuer(), Pki().ca().Subject());
  EXPECT_FALSE(pem->is_ca());
  EXPECT_TRUE(Pki().ca().is_ca());
  EXPECT_EQ(pem->key_usage(), kKuDigitalSignature | kKuNonRepudiation);
  EXPECT_EQ(pem->ExtensionValue("1.2.3.4.5"), std::string("\x13\x02"
                                                          "DE",
                                                          4));
  EXPECT_FALSE(pem->ExtensionValue("1.2.3.4.6").has_value());
  EXPECT_EQ(pem->Fingerprint().size(), 64u);
  EXPECT_FALSE(pem->SerialHex().empty());
  auto pub = pem->public_key();
  ASSERT_THAT(pub, IsOk());
  EXPECT_TRUE(pub->Equals(alice.key.public_key()));
  EXPECT_EQ(pem->SpkiDer(), alice.key.public_key().Der());
}

TEST(CertificateTest, ChainFromPem) {
  auto chain = Certificate::ChainFromPem(Pki().CaPem() + Pki().RootPem());
  ASSERT_THAT(chain, IsOk());
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[1].Der(), Pki().root().Der());
  std::string damaged = Pki().CaPem() + Pki().RootPem();
  damaged[damaged.size() / 2 + 40] = '!';
  EXPECT_THAT(Certificate::ChainFromPem(damaged), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Certificate::ChainFromPem(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CertificateTest, GarbageAndTruncatedDerRefused) {
  std::string der = Pki().ca().Der();
  EXPECT_THAT(Certificate::FromDer(der.substr(0, der.size() - 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  EXPECT_THAT(Certificate::FromDer(der + std::string(1, '\0')), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Certificate::FromDer("\x30\x03\x02\x01\x01"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Certificate::FromDer(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Certificate::FromPem("not a certificate"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(TrustStoreTest, ValidPathAtNow) {
  auto leaf = Pki().Issue("Bob Seller", kKuDigitalSignature);
  auto path = Pki().trust().VerifyPath(leaf.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kDigitalSignature);
  ASSERT_THAT(path, IsOk());
  ASSERT_EQ(path->size(), 3u);
  EXPECT_EQ((*path)[2].Der(), Pki().root().Der());
}

TEST(TrustStoreTest, MissingIntermediateFails) {
  auto leaf = Pki().Issue("Bob Seller", kKuDigitalSignature);
  EXPECT_THAT(Pki().trust().VerifyPath(leaf.certificate, {}, absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
}

TEST(TrustStoreTest, ExpiredAndNotYetValid) {
  LeafSpec spec;
  spec.not_before = absl::Now() - absl::Hours(48);
  spec.not_after = absl::Now() - absl::Hours(24);
  auto expired = Pki().Issue(spec);
  auto s = Pki().trust().VerifyPath(expired.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kAny);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  EXPECT_THAT(std::string(s.status().message()), ::testing::HasSubstr("expired"));
  // The same certificate was valid at a time inside its validity period.
  EXPECT_THAT(
      Pki().trust().VerifyPath(expired.certificate, {Pki().ca()}, absl::Now() - absl::Hours(36), KeyPurpose::kAny),
      IsOk());

  spec.not_before = absl::Now() + absl::Hours(24);
  spec.not_after = absl::Now() + absl::Hours(48);
  auto future = Pki().Issue(spec);
  s = Pki().trust().VerifyPath(future.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kAny);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  EXPECT_THAT(std::string(s.status().message()), ::testing::HasSubstr("not yet valid"));
}

// VerifyPath keeps the paths it found: a kept path answers only for the same leaf, intermediates
// and purpose, and only at times within every certificate's validity on it.
TEST(TrustStoreTest, AKeptPathAnswersOnlyWhatItProved) {
  LeafSpec spec;
  spec.common_name = "Kept Path";
  spec.not_before = absl::Now() - absl::Hours(2);
  spec.not_after = absl::Now() + absl::Hours(2);
  auto leaf = Pki().Issue(spec);
  const TrustStore& trust = Pki().trust();
  ASSERT_THAT(trust.VerifyPath(leaf.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kNonRepudiation), IsOk());
  auto again =
      trust.VerifyPath(leaf.certificate, {Pki().ca()}, absl::Now() - absl::Hours(1), KeyPurpose::kNonRepudiation);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->front().Der(), leaf.certificate.Der());
  EXPECT_EQ(again->size(), 3u);
  // Outside the leaf's validity, though the path was kept.
  EXPECT_THAT(
      trust.VerifyPath(leaf.certificate, {Pki().ca()}, absl::Now() + absl::Hours(3), KeyPurpose::kNonRepudiation),
      StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  EXPECT_THAT(
      trust.VerifyPath(leaf.certificate, {Pki().ca()}, absl::Now() - absl::Hours(3), KeyPurpose::kNonRepudiation),
      StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  // Another purpose, or without the intermediate: decided anew.
  EXPECT_THAT(trust.VerifyPath(leaf.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kTimeStamping),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  EXPECT_THAT(trust.VerifyPath(leaf.certificate, {}, absl::Now(), KeyPurpose::kNonRepudiation),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  // At the second a certificate ends (notAfter is its first second expired, as OpenSSL counts),
  // after its last valid second was kept.
  LeafSpec edge;
  edge.common_name = "Edge";
  const absl::Time end = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) + 3600);
  edge.not_before = end - absl::Hours(2);
  edge.not_after = end;
  auto edged = Pki().Issue(edge);
  EXPECT_THAT(trust.VerifyPath(edged.certificate, {Pki().ca()}, end - absl::Seconds(1), KeyPurpose::kAny), IsOk());
  EXPECT_THAT(trust.VerifyPath(edged.certificate, {Pki().ca()}, end, KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  EXPECT_THAT(trust.VerifyPath(edged.certificate, {Pki().ca()}, edge.not_before, KeyPurpose::kAny), IsOk());
  EXPECT_THAT(trust.VerifyPath(edged.certificate, {Pki().ca()}, edge.not_before - absl::Seconds(1), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  // A copy of the store shares what was kept, and still answers right.
  TrustStore copy = trust;
  EXPECT_THAT(copy.VerifyPath(leaf.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kNonRepudiation), IsOk());
  EXPECT_THAT(copy.VerifyPath(leaf.certificate, {Pki().ca()}, absl::Now() + absl::Hours(3), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
}

TEST(TrustStoreTest, WrongKeyUsageFails) {
  auto auth_only = Pki().Issue("Auth Key", kKuDigitalSignature);
  EXPECT_THAT(Pki().trust().VerifyPath(auth_only.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kNonRepudiation),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  auto sig_only = Pki().Issue("Signature Key", kKuNonRepudiation);
  EXPECT_THAT(Pki().trust().VerifyPath(sig_only.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kNonRepudiation),
              IsOk());
  EXPECT_THAT(Pki().trust().VerifyPath(sig_only.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kDigitalSignature),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Pki().trust().VerifyPath(sig_only.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kEncryption),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(TrustStoreTest, TimeStampingNeedsCriticalEku) {
  LeafSpec spec;
  spec.key_usage = kKuDigitalSignature;
  spec.extended_key_usage = {"timeStamping"};
  spec.extended_key_usage_critical = false;
  auto lax = Pki().Issue(spec);
  EXPECT_THAT(Pki().trust().VerifyPath(lax.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kTimeStamping),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  spec.extended_key_usage_critical = true;
  auto tsa = Pki().Issue(spec);
  EXPECT_THAT(Pki().trust().VerifyPath(tsa.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kTimeStamping), IsOk());
  // A client certificate is no TSA certificate.
  spec.extended_key_usage = {"clientAuth"};
  auto client = Pki().Issue(spec);
  EXPECT_THAT(Pki().trust().VerifyPath(client.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kTimeStamping),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Pki().trust().VerifyPath(client.certificate, {Pki().ca()}, absl::Now(), KeyPurpose::kClientAuth), IsOk());
}

TEST(TrustStoreTest, LeafIssuedByEndEntityIsRejected) {
  // Basic constraints: an end-entity certificate cannot issue certificates.
  auto ee = Pki().Issue("Not A CA", kKuDigitalSignature);
  auto victim_key = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_THAT(victim_key, IsOk());
  CertificateTemplate t;
  t.subject = {{"CN", "Forged"}};
  t.not_before = absl::Now() - absl::Hours(1);
  t.not_after = absl::Now() + absl::Hours(1);
  t.key_usage = kKuDigitalSignature;
  auto forged = IssueCertificate(t, victim_key->public_key(), &ee.certificate, ee.key);
  ASSERT_THAT(forged, IsOk());
  EXPECT_THAT(Pki().trust().VerifyPath(*forged, {ee.certificate, Pki().ca()}, absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
}

TEST(TrustStoreTest, OtherRootIsNotTrusted) {
  TestPki other(KeyType::kEcP256, "Other");
  auto leaf = other.Issue("Mallory", kKuDigitalSignature);
  EXPECT_THAT(Pki().trust().VerifyPath(leaf.certificate, {other.ca()}, absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
}

TEST(TrustStoreTest, RejectsNonCaAnchor) {
  auto leaf = Pki().Issue("Leaf", kKuDigitalSignature);
  EXPECT_THAT(TrustStore::New({leaf.certificate}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TrustStore::New({}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(IssueCertificateTest, IssuerKeyMustMatch) {
  auto wrong = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_THAT(wrong, IsOk());
  CertificateTemplate t;
  t.subject = {{"CN", "x"}};
  t.not_before = absl::Now();
  t.not_after = absl::Now() + absl::Hours(1);
  EXPECT_THAT(IssueCertificate(t, wrong->public_key(), &Pki().ca(), *wrong),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY));
  t.not_after = t.not_before;
  EXPECT_THAT(IssueCertificate(t, wrong->public_key(), nullptr, *wrong), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(IssueCertificateTest, Ed25519AndRsaPssCas) {
  for (KeyType type : {KeyType::kEd25519, KeyType::kRsa}) {
    TestPki pki(type, "Alt");
    auto leaf = pki.Issue("Leaf", kKuDigitalSignature);
    EXPECT_THAT(pki.trust().VerifyPath(leaf.certificate, {pki.ca()}, absl::Now(), KeyPurpose::kDigitalSignature),
                IsOk())
        << KeyTypeName(type);
  }
}

TEST(IssueCertificateTest, ForRequestKeyOfEveryType) {
  // The issuing key is the test CA's; TestPki keeps it private, so a local CA stands in.
  auto ca_key = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_THAT(ca_key, IsOk());
  CertificateTemplate ct;
  ct.subject = {{"CN", "Local CA"}};
  ct.not_before = absl::Now() - absl::Hours(1);
  ct.not_after = absl::Now() + absl::Hours(24);
  ct.is_ca = true;
  ct.key_usage = kKuKeyCertSign | kKuCrlSign;
  auto ca = IssueCertificate(ct, ca_key->public_key(), nullptr, *ca_key);
  ASSERT_THAT(ca, IsOk());
  auto trust = TrustStore::New({*ca});
  ASSERT_THAT(trust, IsOk());
  for (KeyType type : {KeyType::kEcP256, KeyType::kEd25519, KeyType::kRsa}) {
    auto key = PrivateKey::Generate(type, 2048);
    ASSERT_THAT(key, IsOk());
    auto csr = CertificationRequest::Create(*key, {});
    ASSERT_THAT(csr, IsOk());
    CertificateTemplate t;
    t.subject = {{"CN", "Subject"}};
    t.not_before = absl::Now() - absl::Minutes(1);
    t.not_after = absl::Now() + absl::Hours(1);
    t.key_usage = kKuDigitalSignature;
    auto issued = IssueCertificateForSpki(t, csr->spki(), *ca, *ca_key);
    ASSERT_THAT(issued, IsOk()) << KeyTypeName(type);
    auto cert = Certificate::FromDer(issued->der);
    ASSERT_THAT(cert, IsOk());
    EXPECT_EQ(issued->serial_hex, cert->SerialHex());
    EXPECT_EQ(issued->subject, "CN=Subject");
    EXPECT_EQ(issued->spki_der, cert->SpkiDer());
    EXPECT_EQ(cert->SpkiDer(), key->public_key().Der()) << KeyTypeName(type);
    EXPECT_TRUE(cert->public_key()->Equals(key->public_key())) << KeyTypeName(type);
    EXPECT_THAT(trust->VerifyPath(*cert, {}, absl::Now(), KeyPurpose::kDigitalSignature), IsOk()) << KeyTypeName(type);
  }
}

// A certificate that a trusted CA issued for a key anyone can sign for (another CA's, or one of
// ours from before keys were checked) is not relied on: the path fails with WEAK_KEY.
TEST(TrustStoreTest, APathToAForgeableKeyIsRefused) {
  auto ca_key = PrivateKey::Generate(KeyType::kEcP256);
  CertificateTemplate ct;
  ct.subject = {{"CN", "Lax CA"}};
  ct.not_before = absl::Now() - absl::Hours(1);
  ct.not_after = absl::Now() + absl::Hours(24);
  ct.is_ca = true;
  ct.key_usage = kKuKeyCertSign | kKuCrlSign;
  auto ca = IssueCertificate(ct, ca_key->public_key(), nullptr, *ca_key);
  ASSERT_THAT(ca, IsOk());
  auto trust = TrustStore::New({*ca});
  ASSERT_THAT(trust, IsOk());
  for (const std::string& spki_der : {::semper::testing::Ed25519Spki(::semper::testing::Ed25519SmallOrderPoints()[0]),
                                      ::semper::testing::P256Spki(std::string(1, '\0'))}) {
    CertificateTemplate t;
    t.subject = {{"CN", "Deniable"}};
    t.not_before = absl::Now() - absl::Minutes(1);
    t.not_after = absl::Now() + absl::Hours(1);
    t.key_usage = kKuDigitalSignature | kKuNonRepudiation;
    auto cert = ::semper::testing::CertificateForSpkiDer(spki_der, t, *ca, *ca_key);
    ASSERT_THAT(cert, IsOk());
    auto path = trust->VerifyPath(*cert, {}, absl::Now(), KeyPurpose::kNonRepudiation);
    EXPECT_THAT(path, StatusIs(absl::StatusCode::kFailedPrecondition));
    // OpenSSL does not even decode the point at infinity; the Ed25519 identity it decodes.
    if (!path.ok() && cert->public_key().status().code() != absl::StatusCode::kInvalidArgument) {
      ADD_FAILURE() << "unexpected key status";
    }
    if (X509_get0_pubkey(cert->x509()) != nullptr) {
      EXPECT_THAT(path, StatusIs(absl::StatusCode::kFailedPrecondition, v1::WEAK_KEY));
    }
  }
}

}  // namespace
}  // namespace semper
