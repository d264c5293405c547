// CMS SignedData (detached) and EnvelopedData: round trips and failures.
#include "common/crypto/cms.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/base/strings.h"
#include "common/crypto/cms_signer.h"
#include "common/crypto/der.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_pki.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::LeafSpec;
using ::semper::testing::StatusIs;
using ::semper::testing::TestPki;

const TestPki& Pki() { return ::semper::testing::SharedTestPki(); }

class CmsSignTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(CmsSignTest, SignVerifyDetached) {
  LeafSpec spec;
  spec.key_type = GetParam();
  spec.common_name = "Signer";
  auto signer = Pki().Issue(spec);
  std::string content("exact bytes\r\nwith CRLF and \0 NUL", 32);
  auto sig = CmsSignDetached(content, signer.key, signer.certificate, signer.chain);
  ASSERT_THAT(sig, IsOk());
  auto signers = CmsVerifyDetached(*sig, content, Pki().trust(), absl::Now(), KeyPurpose::kNonRepudiation);
  ASSERT_THAT(signers, IsOk());
  ASSERT_EQ(signers->size(), 1u);
  EXPECT_EQ((*signers)[0].certificate.Der(), signer.certificate.Der());
  EXPECT_EQ((*signers)[0].path.size(), 3u);
  ASSERT_TRUE((*signers)[0].claimed_signing_time.has_value());
  EXPECT_LT(absl::AbsDuration(*(*signers)[0].claimed_signing_time - absl::Now()), absl::Minutes(1));

  std::string tampered = content;
  tampered[0] ^= 1;
  EXPECT_THAT(CmsVerifyDetached(*sig, tampered, Pki().trust(), absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  // Line endings are part of the signed bytes: no canonicalisation.
  std::string lf = content;
  lf.erase(lf.find('\r'), 1);
  EXPECT_THAT(CmsVerifyDetached(*sig, lf, Pki().trust(), absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
}

INSTANTIATE_TEST_SUITE_P(CmsCapableTypes, CmsSignTest, ::testing::Values(KeyType::kEcP256, KeyType::kRsa));

TEST_P(CmsSignTest, PreparedSignerMakesWhatCmsSignMakes) {
  LeafSpec spec;
  spec.key_type = GetParam();
  spec.common_name = "Prepared Signer";
  auto signer = Pki().Issue(spec);
  auto prepared = CmsDetachedSigner::New(signer.key, signer.certificate, {Pki().ca()});
  ASSERT_THAT(prepared, IsOk());
  std::string content("a guarantee\0 with a NUL", 23);
  const absl::Time at = absl::FromUnixSeconds(1795000000);  // 2026-11-18
  auto sig = (*prepared)->Sign(content, at);
  ASSERT_THAT(sig, IsOk());
  auto signers =
      CmsVerifyDetached(sig->with_certificates, content, Pki().trust(), absl::Now(), KeyPurpose::kNonRepudiation);
  ASSERT_THAT(signers, IsOk());
  EXPECT_EQ(signers->front().certificate.Der(), signer.certificate.Der());
  EXPECT_EQ(signers->front().claimed_signing_time, at);
  EXPECT_THAT(CmsVerifyDetachedDigest(sig->with_certificates, HashAlgorithm::kSha256, Sha256(content), Pki().trust(),
                                      absl::Now(), KeyPurpose::kNonRepudiation),
              IsOk());
  EXPECT_THAT(CmsVerifyDetached(sig->with_certificates, content + "!", Pki().trust(), absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  // Stored without certificates, put back: the same bytes as signed with them.
  EXPECT_LT(sig->without_certificates.size() + 500, sig->with_certificates.size());
  EXPECT_FALSE(
      CmsVerifyDetached(sig->without_certificates, content, Pki().trust(), absl::Now(), KeyPurpose::kAny).ok());
  auto restored = (*prepared)->WithCertificates(sig->without_certificates);
  ASSERT_THAT(restored, IsOk());
  EXPECT_EQ(*restored, sig->with_certificates);
  EXPECT_EQ(*CmsAddCertificates(sig->without_certificates, {signer.certificate, Pki().ca()}), sig->with_certificates);
  // Signatures differ (a fresh ECDSA nonce or PSS salt each time) but both verify.
  auto again = (*prepared)->Sign(content, at);
  EXPECT_NE(again->without_certificates, sig->without_certificates);
  EXPECT_THAT(CmsVerifyDetached(again->with_certificates, content, Pki().trust(), absl::Now(), KeyPurpose::kAny),
              IsOk());
}

TEST(CmsTest, SigningTimeOutsideUtcTimeRangeIsGeneralized) {
  auto signer = Pki().Issue("Far Future", kKuNonRepudiation);
  auto prepared = CmsDetachedSigner::New(signer.key, signer.certificate, {Pki().ca()});
  ASSERT_THAT(prepared, IsOk());
  const absl::Time at = absl::FromCivil(absl::CivilSecond(2051, 1, 2, 3, 4, 5), absl::UTCTimeZone());
  auto sig = (*prepared)->Sign("x", at);
  ASSERT_THAT(sig, IsOk());
  EXPECT_NE(sig->with_certificates.find("20510102030405Z"), std::string::npos);
  auto signers = CmsVerifyDetached(sig->with_certificates, "x", Pki().trust(), absl::Now(), KeyPurpose::kAny);
  ASSERT_THAT(signers, IsOk());
  EXPECT_EQ(signers->front().claimed_signing_time, at);
}

TEST(CmsTest, SplicingCertificatesRefusesWhatIsNotBareSignedData) {
  auto signer = Pki().Issue("Splice", kKuNonRepudiation);
  auto full = CmsSignDetached("x", signer.key, signer.certificate, {Pki().ca()});
  ASSERT_THAT(full, IsOk());
  const std::string block = der::Tlv(der::Constructed(0), signer.certificate.Der());
  EXPECT_THAT(CmsSpliceCertificates(*full, block), StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  EXPECT_THAT(CmsSpliceCertificates("garbage", block),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  EXPECT_THAT(CmsSpliceCertificates(full->substr(0, full->size() - 1), block),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  auto enveloped = CmsEncrypt("secret", {signer.certificate});
  ASSERT_THAT(enveloped, IsOk());
  EXPECT_THAT(CmsSpliceCertificates(*enveloped, block),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
}

// Verification takes embedded certificates it parsed before from a cache (by their exact DER):
// that must change no outcome, for the same signature, the same certificates in another order,
// another party's certificate in their place, bytes of a kept certificate changed, none embedded.
TEST(CmsTest, CertificatesKeptFromEarlierSignaturesChangeNoOutcome) {
  auto signer = Pki().Issue("Kept Signer", kKuNonRepudiation);
  auto other = Pki().Issue("Other Signer", kKuNonRepudiation);
  const std::string content = "an order signed again and again";
  auto prepared = CmsDetachedSigner::New(signer.key, signer.certificate, {Pki().ca()});
  ASSERT_THAT(prepared, IsOk());
  auto sig = (*prepared)->Sign(content, absl::Now());
  ASSERT_THAT(sig, IsOk());
  auto verify = [&](const std::string& der) {
    return CmsVerifyDetached(der, content, Pki().trust(), absl::Now(), KeyPurpose::kNonRepudiation);
  };
  auto first = verify(sig->with_certificates);
  ASSERT_THAT(first, IsOk());
  for (int again = 0; again < 3; ++again) {
    auto next = verify(sig->with_certificates);
    ASSERT_THAT(next, IsOk());
    ASSERT_EQ(next->size(), 1u);
    EXPECT_EQ(next->front().certificate.Der(), first->front().certificate.Der());
    ASSERT_EQ(next->front().path.size(), first->front().path.size());
    for (size_t i = 0; i < next->front().path.size(); ++i) {
      EXPECT_EQ(next->front().path[i].Der(), first->front().path[i].Der());
    }
  }
  // The same certificates in the other order.
  auto reordered = CmsAddCertificates(sig->without_certificates, {Pki().ca(), signer.certificate});
  ASSERT_THAT(reordered, IsOk());
  auto again = verify(*reordered);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->front().certificate.Der(), signer.certificate.Der());
  // Another party's certificate instead of the signer's: no signer certificate.
  auto swapped = CmsAddCertificates(sig->without_certificates, {other.certificate, Pki().ca()});
  ASSERT_THAT(swapped, IsOk());
  EXPECT_FALSE(verify(*swapped).ok());
  // None embedded, with the signer's certificate kept: still not included.
  EXPECT_FALSE(verify(sig->without_certificates).ok());
  // The signer's certificate with one byte of its signature changed: another certificate, whose
  // path does not verify, though the kept one did.
  std::string changed = sig->with_certificates;
  const size_t at = changed.find(signer.certificate.Der());
  ASSERT_NE(at, std::string::npos);
  changed[at + signer.certificate.Der().size() - 2] ^= 0x01;
  EXPECT_FALSE(verify(changed).ok());
  // And the original once more.
  EXPECT_THAT(verify(sig->with_certificates), IsOk());
  // Two certificates fields, which no parse of the whole accepts: refused as malformed, also
  // with both certificates kept (the shortcut must not take the second for the first).
  auto parts = CmsDissectSignedData(sig->without_certificates);
  ASSERT_THAT(parts, IsOk());
  const std::string twice = der::Tlv(
      der::kSequence,
      StrCat(parts->content_type,
             der::Tlv(der::Constructed(0),
                      der::Tlv(der::kSequence, StrCat(parts->version, parts->digest_algorithms, parts->encapsulated,
                                                      der::Tlv(der::Constructed(0), signer.certificate.Der()),
                                                      der::Tlv(der::Constructed(0), Pki().ca().Der()), parts->rest)))));
  for (int round = 0; round < 2; ++round) {
    EXPECT_THAT(verify(twice), StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT)) << round;
  }
}

TEST(CmsTest, PreparedSignerRefusesEd25519) {
  LeafSpec spec;
  spec.key_type = KeyType::kEd25519;
  auto ed = Pki().Issue(spec);
  EXPECT_THAT(CmsDetachedSigner::New(ed.key, ed.certificate, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
}

TEST(CmsTest, VerifiesAgainstADigestWhenOnlyTheHashIsKnown) {
  auto signer = Pki().Issue("Hash Signer", kKuNonRepudiation);
  std::string content = "a document the verifier never sees";
  auto sig = CmsSignDetached(content, signer.key, signer.certificate, {Pki().ca()});
  ASSERT_THAT(sig, IsOk());
  auto ok = CmsVerifyDetachedDigest(*sig, HashAlgorithm::kSha256, Sha256(content), Pki().trust(), absl::Now(),
                                    KeyPurpose::kNonRepudiation);
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(ok->front().certificate.Subject(), signer.certificate.Subject());
  EXPECT_THAT(CmsVerifyDetachedDigest(*sig, HashAlgorithm::kSha256, Sha256("other"), Pki().trust(), absl::Now(),
                                      KeyPurpose::kNonRepudiation),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  EXPECT_THAT(CmsVerifyDetachedDigest(*sig, HashAlgorithm::kSha384, ComputeDigest(HashAlgorithm::kSha384, content),
                                      Pki().trust(), absl::Now(), KeyPurpose::kNonRepudiation),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
  // A flipped byte in the signature value.
  std::string bad = *sig;
  bad[bad.size() - 3] ^= 0x01;
  EXPECT_FALSE(CmsVerifyDetachedDigest(bad, HashAlgorithm::kSha256, Sha256(content), Pki().trust(), absl::Now(),
                                       KeyPurpose::kNonRepudiation)
                   .ok());
}

TEST(CmsTest, CertificatesCanBeLeftOutAndPutBackWithoutChangingTheSignature) {
  auto signer = Pki().Issue("Compact Signer", kKuNonRepudiation);
  std::string content = "a guarantee stored without its certificates";
  CmsSignOptions options;
  options.include_certificates = false;
  auto bare = CmsSignDetached(content, signer.key, signer.certificate, {Pki().ca()}, options);
  ASSERT_THAT(bare, IsOk());
  auto full = CmsSignDetached(content, signer.key, signer.certificate, {Pki().ca()});
  EXPECT_LT(bare->size() + 500, full->size());
  // Without the certificates the signer cannot be found; with them put back it verifies.
  EXPECT_FALSE(CmsVerifyDetached(*bare, content, Pki().trust(), absl::Now(), KeyPurpose::kNonRepudiation).ok());
  auto restored = CmsAddCertificates(*bare, {signer.certificate, Pki().ca()});
  ASSERT_THAT(restored, IsOk());
  auto ok = CmsVerifyDetached(*restored, content, Pki().trust(), absl::Now(), KeyPurpose::kNonRepudiation);
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(ok->front().certificate.Subject(), signer.certificate.Subject());
  EXPECT_FALSE(CmsVerifyDetached(*restored, "changed", Pki().trust(), absl::Now(), KeyPurpose::kNonRepudiation).ok());
}

TEST(CmsTest, Ed25519SignerRefusedClearly) {
  LeafSpec spec;
  spec.key_type = KeyType::kEd25519;
  auto ed = Pki().Issue(spec);
  EXPECT_THAT(CmsSignDetached("x", ed.key, ed.certificate, ed.chain),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
}

TEST(CmsTest, UntrustedSignerFails) {
  TestPki other(KeyType::kEcP256, "Other");
  auto mallory = other.Issue("Mallory", kKuNonRepudiation);
  auto sig = CmsSignDetached("x", mallory.key, mallory.certificate, mallory.chain);
  ASSERT_THAT(sig, IsOk());
  EXPECT_THAT(CmsVerifyDetached(*sig, "x", Pki().trust(), absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
}

TEST(CmsTest, ExpiredSignerFailsNowButPassesAtSigningTime) {
  LeafSpec spec;
  spec.not_before = absl::Now() - absl::Hours(2);
  spec.not_after = absl::Now() + absl::Minutes(30);
  auto signer = Pki().Issue(spec);
  auto sig = CmsSignDetached("contract", signer.key, signer.certificate, signer.chain);
  ASSERT_THAT(sig, IsOk());
  EXPECT_THAT(CmsVerifyDetached(*sig, "contract", Pki().trust(), absl::Now() + absl::Hours(1), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
  EXPECT_THAT(CmsVerifyDetached(*sig, "contract", Pki().trust(), absl::Now(), KeyPurpose::kAny), IsOk());
}

TEST(CmsTest, KeyUsageChecked) {
  auto auth = Pki().Issue("Auth Only", kKuDigitalSignature);
  auto sig = CmsSignDetached("x", auth.key, auth.certificate, auth.chain);
  ASSERT_THAT(sig, IsOk());
  EXPECT_THAT(CmsVerifyDetached(*sig, "x", Pki().trust(), absl::Now(), KeyPurpose::kNonRepudiation),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED));
}

TEST(CmsTest, WrongKeyForCertificateRefused) {
  auto a = Pki().Issue("A", kKuNonRepudiation);
  auto b = Pki().Issue("B", kKuNonRepudiation);
  EXPECT_THAT(CmsSignDetached("x", b.key, a.certificate, a.chain),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY));
}

TEST(CmsTest, GarbageAndTruncatedRefused) {
  auto s = Pki().Issue("S", kKuNonRepudiation);
  auto sig = CmsSignDetached("x", s.key, s.certificate, s.chain);
  ASSERT_THAT(sig, IsOk());
  EXPECT_THAT(CmsVerifyDetached(sig->substr(0, sig->size() - 10), "x", Pki().trust(), absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  EXPECT_THAT(CmsVerifyDetached("garbage", "x", Pki().trust(), absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  EXPECT_THAT(CmsVerifyDetached("", "x", Pki().trust(), absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A flipped byte in the signature value (near the end of the DER).
  std::string bad = *sig;
  bad[bad.size() - 5] ^= 0x40;
  EXPECT_THAT(CmsVerifyDetached(bad, "x", Pki().trust(), absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CmsTest, EnvelopedRoundTripEcAndRsa) {
  LeafSpec ec_spec;
  ec_spec.key_usage = kKuKeyAgreement | kKuDigitalSignature;
  auto ec = Pki().Issue(ec_spec);
  LeafSpec rsa_spec;
  rsa_spec.key_type = KeyType::kRsa;
  rsa_spec.key_usage = kKuKeyEncipherment | kKuDigitalSignature;
  auto rsa = Pki().Issue(rsa_spec);
  std::string secret = "access code 1234-5678";
  auto env = CmsEncrypt(secret, {ec.certificate, rsa.certificate});
  ASSERT_THAT(env, IsOk());
  EXPECT_EQ(env->find(secret), std::string::npos);
  auto a = CmsDecrypt(*env, ec.key, ec.certificate);
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(*a, secret);
  auto b = CmsDecrypt(*env, rsa.key, rsa.certificate);
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(*b, secret);
}

TEST(CmsTest, EnvelopedForNamesExactlyItsRecipients) {
  LeafSpec ec_spec;
  ec_spec.key_usage = kKuKeyAgreement | kKuDigitalSignature;
  auto ec = Pki().Issue(ec_spec), other_ec = Pki().Issue(ec_spec);
  LeafSpec rsa_spec;
  rsa_spec.key_type = KeyType::kRsa;
  rsa_spec.key_usage = kKuKeyEncipherment | kKuDigitalSignature;
  auto rsa = Pki().Issue(rsa_spec), other_rsa = Pki().Issue(rsa_spec);
  auto both = CmsEncrypt("x", {ec.certificate, rsa.certificate});
  ASSERT_THAT(both, IsOk());
  for (const auto* named : {&ec, &rsa}) {
    auto r = CmsEnvelopedFor(*both, named->certificate);
    ASSERT_THAT(r, IsOk());
    EXPECT_TRUE(*r);
  }
  for (const auto* other : {&other_ec, &other_rsa}) {
    auto r = CmsEnvelopedFor(*both, other->certificate);
    ASSERT_THAT(r, IsOk());
    EXPECT_FALSE(*r);
  }
  auto signed_data = CmsSignDetached("x", ec.key, ec.certificate, {});
  ASSERT_THAT(signed_data, IsOk());
  EXPECT_THAT(CmsEnvelopedFor(*signed_data, ec.certificate),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  EXPECT_THAT(CmsEnvelopedFor("junk", ec.certificate),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
}

TEST(CmsTest, NonRecipientCannotDecrypt) {
  auto alice = Pki().Issue("Alice", kKuKeyAgreement);
  auto eve = Pki().Issue("Eve", kKuKeyAgreement);
  auto env = CmsEncrypt("for alice", {alice.certificate});
  ASSERT_THAT(env, IsOk());
  EXPECT_THAT(CmsDecrypt(*env, eve.key, eve.certificate),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::DECRYPTION_FAILED));
  EXPECT_THAT(CmsDecrypt(*env, eve.key, alice.certificate),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY));
  EXPECT_THAT(CmsDecrypt("junk", alice.key, alice.certificate), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CmsTest, Ed25519RecipientRefused) {
  LeafSpec spec;
  spec.key_type = KeyType::kEd25519;
  auto ed = Pki().Issue(spec);
  EXPECT_THAT(CmsEncrypt("x", {ed.certificate}),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
  EXPECT_THAT(CmsEncrypt("x", {}), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace semper
