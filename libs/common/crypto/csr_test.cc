// Certification requests: our own parser against OpenSSL's encoder, and every way a request can
// be wrong.
#include "common/crypto/csr.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include "common/crypto/ossl.h"
#include "tests/support/status_matchers.h"
#include "tests/support/weak_keys.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::StatusIs;

// A request made by OpenSSL alone for `key`, with `cn` as subject.
std::string OpensslRequest(EVP_PKEY* key, const char* cn, const EVP_MD* md) {
  std::unique_ptr<X509_REQ, ossl::FnDeleter<X509_REQ_free>> req(X509_REQ_new());
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key);
  EXPECT_GT(X509_REQ_sign(req.get(), key, md), 0);
  return ossl::ToDer(i2d_X509_REQ, req.get());
}

TEST(CertificationRequestTest, ReadsWhatOpensslWritesForEveryKeyType) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kEd25519, KeyType::kRsa}) {
    auto key = PrivateKey::Generate(type, 2048);
    ASSERT_THAT(key, IsOk());
    std::string der = OpensslRequest(key->evp(), "Alice", type == KeyType::kEd25519 ? nullptr : EVP_sha256());
    auto csr = CertificationRequest::FromDer(der);
    ASSERT_THAT(csr, IsOk()) << KeyTypeName(type);
    EXPECT_EQ(csr->public_key().type(), type);
    EXPECT_TRUE(csr->public_key().Equals(key->public_key())) << KeyTypeName(type);
    EXPECT_EQ(csr->SpkiDer(), key->public_key().Der());
    EXPECT_EQ(csr->Der(), der);
    EXPECT_EQ(csr->Subject(), "CN=Alice");
    EXPECT_EQ(csr->SubjectAttribute("CN"), "Alice");
    EXPECT_EQ(csr->SubjectAttribute("O"), std::nullopt);
    auto from_pem = CertificationRequest::FromPem(csr->Pem());
    ASSERT_THAT(from_pem, IsOk());
    EXPECT_EQ(from_pem->Der(), der);
    // OpenSSL reads what we print.
    std::string pem = csr->Pem();
    auto bio = ossl::ReadBio(pem);
    std::unique_ptr<X509_REQ, ossl::FnDeleter<X509_REQ_free>> back(
        PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    ASSERT_NE(back, nullptr);
    EXPECT_EQ(X509_REQ_verify(back.get(), X509_REQ_get0_pubkey(back.get())), 1);
  }
}

TEST(CertificationRequestTest, SignatureOverOtherBytesIsRefused) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  std::string der = OpensslRequest(key->evp(), "Alice", EVP_sha256());
  std::string changed = der;
  changed[changed.find("Alice")] = 'M';  // the subject the key signed is not the one presented
  EXPECT_THAT(CertificationRequest::FromDer(changed),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  std::string bad_signature = der;
  bad_signature[bad_signature.size() - 5] ^= 0x01;
  EXPECT_THAT(CertificationRequest::FromDer(bad_signature), StatusIs(absl::StatusCode::kInvalidArgument));
  // Someone else's signature over the same request info.
  auto other = PrivateKey::Generate(KeyType::kEcP256);
  std::unique_ptr<X509_REQ, ossl::FnDeleter<X509_REQ_free>> req(X509_REQ_new());
  X509_REQ_set_pubkey(req.get(), key->evp());
  X509_REQ_sign(req.get(), other->evp(), EVP_sha256());
  EXPECT_THAT(CertificationRequest::FromDer(ossl::ToDer(i2d_X509_REQ, req.get())),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
}

TEST(CertificationRequestTest, DamagedEncodingsAreMalformed) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  std::string der = OpensslRequest(key->evp(), "Alice", EVP_sha256());
  EXPECT_THAT(CertificationRequest::FromDer(""), StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  EXPECT_THAT(CertificationRequest::FromDer(der + "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  for (size_t cut : {size_t{1}, der.size() / 2, der.size() - 1}) {
    EXPECT_THAT(CertificationRequest::FromDer(der.substr(0, cut)),
                StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT))
        << cut;
  }
  // A public key that is not a point on the curve.
  std::string point = key->public_key().Der().substr(26);  // the 65-byte uncompressed point
  ASSERT_EQ(point.size(), 65u);
  std::string off_curve = der;
  off_curve[off_curve.find(point) + 64] ^= 0x01;
  EXPECT_THAT(CertificationRequest::FromDer(off_curve),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  EXPECT_THAT(
      CertificationRequest::FromPem("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"),
      StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
}

TEST(CertificationRequestTest, WeakOrUnacceptedKeysAreRefused) {
  ossl::EvpPkeyPtr p384(EVP_EC_gen("P-384"));
  EXPECT_THAT(CertificationRequest::FromDer(OpensslRequest(p384.get(), "x", EVP_sha384())),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
  ossl::EvpPkeyPtr rsa1024(EVP_RSA_gen(1024));
  EXPECT_THAT(CertificationRequest::FromDer(OpensslRequest(rsa1024.get(), "x", EVP_sha256())),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
}

// Requests built by hand as an attacker would, each with a self-signature that verifies (OpenSSL
// accepts it) for a key that anyone can sign for.
TEST(CertificationRequestTest, ForgeableKeysAreRefusedThoughTheSelfSignatureVerifies) {
  for (const auto& forged : ::semper::testing::ForgedRequests("Example GmbH")) {
    EXPECT_THAT(CertificationRequest::FromDer(forged.der), StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY))
        << forged.name;
  }
}

TEST(CertificationRequestTest, Sha1SignedRequestsAreRefused) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kRsa}) {
    auto key = PrivateKey::Generate(type, 2048);
    EXPECT_THAT(CertificationRequest::FromDer(::semper::testing::Sha1SignedRequest(*key, "x")),
                StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM))
        << KeyTypeName(type);
  }
}

TEST(CertificationRequestTest, PssWithMgf1OverSha1IsRefused) {
  auto key = PrivateKey::Generate(KeyType::kRsa, 2048);
  EXPECT_THAT(CertificationRequest::FromDer(::semper::testing::PssMgf1Sha1Request(*key, "x")),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
  // Ours (MGF1 over SHA-256) passes.
  EXPECT_THAT(CertificationRequest::Create(*key, {{"CN", "x"}}), IsOk());
}

TEST(CertificationRequestTest, ACompressedKeyIsCertifiedInItsCanonicalForm) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  auto csr = CertificationRequest::FromDer(::semper::testing::CompressedP256Request(*key, "x"));
  ASSERT_THAT(csr, IsOk());
  EXPECT_EQ(csr->SpkiDer(), key->public_key().Der());
  EXPECT_EQ(ossl::ToDer(i2d_X509_PUBKEY, csr->spki()), key->public_key().Der());
}

TEST(PublicKeyTest, FastAndGenericPathsAgree) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kEd25519, KeyType::kRsa}) {
    auto key = PrivateKey::Generate(type, 2048);
    std::string der = key->public_key().Der();
    auto parsed = PublicKey::FromDer(der);
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(parsed->Der(), der);
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    ossl::EvpPkeyPtr generic(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
    EXPECT_EQ(EVP_PKEY_eq(parsed->evp(), generic.get()), 1) << KeyTypeName(type);
  }
  EXPECT_THAT(PublicKey::FromDer("\x30\x03\x02\x01\x00"),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
}

}  // namespace
}  // namespace semper
