// PrivateKey / PublicKey: generation, encrypted PEM round trips, and refusal of bad input.
#include "common/crypto/keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/x509.h>

#include "tests/support/status_matchers.h"
#include "tests/support/weak_keys.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::StatusIs;

class KeysTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(KeysTest, EncryptedPemRoundTrip) {
  auto key = PrivateKey::Generate(GetParam(), 2048);
  ASSERT_THAT(key, IsOk());
  SecretData pass("correct horse battery");
  auto pem = key->ToEncryptedPem(pass);
  ASSERT_THAT(pem, IsOk());
  EXPECT_NE(pem->find("BEGIN ENCRYPTED PRIVATE KEY"), std::string::npos);
  auto back = PrivateKey::FromPem(*pem, pass);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->type(), GetParam());
  EXPECT_TRUE(back->public_key().Equals(key->public_key()));
}

TEST_P(KeysTest, WrongPassphraseIsRefused) {
  auto key = PrivateKey::Generate(GetParam(), 2048);
  ASSERT_THAT(key, IsOk());
  auto pem = key->ToEncryptedPem(SecretData("correct horse battery"));
  ASSERT_THAT(pem, IsOk());
  EXPECT_THAT(PrivateKey::FromPem(*pem, SecretData("wrong horse battery")),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY));
  EXPECT_THAT(PrivateKey::FromPem(*pem, SecretData()), StatusIs(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY));
}

TEST_P(KeysTest, PublicKeyDerAndPemRoundTrip) {
  auto key = PrivateKey::Generate(GetParam(), 2048);
  ASSERT_THAT(key, IsOk());
  PublicKey pub = key->public_key();
  auto from_der = PublicKey::FromDer(pub.Der());
  ASSERT_THAT(from_der, IsOk());
  EXPECT_TRUE(from_der->Equals(pub));
  auto from_pem = PublicKey::FromPem(pub.Pem());
  ASSERT_THAT(from_pem, IsOk());
  EXPECT_TRUE(from_pem->Equals(pub));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, KeysTest, ::testing::Values(KeyType::kEcP256, KeyType::kEd25519, KeyType::kRsa));

TEST(KeysTest, UnencryptedKeyRefusedUnlessAllowed) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_THAT(key, IsOk());
  SecretData plain = key->ToUnencryptedPemSecret();
  EXPECT_THAT(PrivateKey::FromPem(plain.Reveal(), SecretData()),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  EXPECT_THAT(PrivateKey::FromPem(plain.Reveal(), SecretData(), /*allow_unencrypted=*/true), IsOk());
}

TEST(KeysTest, ShortPassphraseRefused) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_THAT(key, IsOk());
  EXPECT_THAT(key->ToEncryptedPem(SecretData("short")), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(KeysTest, GarbageAndTruncatedInputRefused) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  ASSERT_THAT(key, IsOk());
  std::string der = key->public_key().Der();
  EXPECT_THAT(PublicKey::FromDer(der.substr(0, der.size() - 3)),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
  EXPECT_THAT(PublicKey::FromDer(der + "x"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PublicKey::FromDer(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PublicKey::FromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto pem = key->ToEncryptedPem(SecretData("passphrase!"));
  ASSERT_THAT(pem, IsOk());
  EXPECT_THAT(PrivateKey::FromPem(pem->substr(0, pem->size() / 2), SecretData("passphrase!")),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Keys anyone can sign for are refused wherever a key is read (every PublicKey passes
// ClassifyKey), with WEAK_KEY and a message that says why.
TEST(WeakKeysTest, Ed25519PointsOfSmallOrderAreRefused) {
  for (const std::string& point : ::semper::testing::Ed25519SmallOrderPoints()) {
    auto key = PublicKey::FromDer(::semper::testing::Ed25519Spki(point));
    EXPECT_THAT(key, StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY));
    if (!key.ok()) EXPECT_THAT(std::string(key.status().message()), ::testing::HasSubstr("small order"));
  }
}

TEST(WeakKeysTest, Ed25519NonCanonicalOrOffCurveEncodingsAreRefused) {
  for (const std::string& point : ::semper::testing::Ed25519NonCanonicalPoints()) {
    EXPECT_THAT(PublicKey::FromDer(::semper::testing::Ed25519Spki(point)),
                StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY));
  }
  // y = 2 is not the y of any point: (y^2 - 1) / (d y^2 + 1) has no square root.
  std::string y2(32, '\0');
  y2[0] = 2;
  auto key = PublicKey::FromDer(::semper::testing::Ed25519Spki(y2));
  EXPECT_THAT(key, StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY));
  if (!key.ok()) EXPECT_THAT(std::string(key.status().message()), ::testing::HasSubstr("not a point on the curve"));
}

TEST(WeakKeysTest, RealEd25519KeysPass) {
  for (int i = 0; i < 64; ++i) {
    auto key = PrivateKey::Generate(KeyType::kEd25519);
    ASSERT_THAT(key, IsOk());
    ASSERT_THAT(PublicKey::FromDer(key->public_key().Der()), IsOk());
  }
}

TEST(WeakKeysTest, P256InfinityHybridAndOffCurveAreRefused) {
  EXPECT_THAT(PublicKey::FromDer(::semper::testing::P256Spki(std::string(1, '\0'))),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY));
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  std::string der = key->public_key().Der();
  std::string point = der.substr(der.size() - 65);
  std::string hybrid = point;
  hybrid[0] = static_cast<char>(0x06 | (static_cast<unsigned char>(point[64]) & 1));
  EXPECT_THAT(PublicKey::FromDer(::semper::testing::P256Spki(hybrid)),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY));
  std::string off = point;
  off[64] ^= 1;
  EXPECT_THAT(PublicKey::FromDer(::semper::testing::P256Spki(off)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PublicKey::FromDer(::semper::testing::P256Spki(point)), IsOk());
}

TEST(WeakKeysTest, CompressedP256KeyHasTheCanonicalFormOfTheUncompressedOne) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  std::string der = key->public_key().Der();
  std::string point = der.substr(der.size() - 65);
  std::string compressed =
      std::string(1, static_cast<char>(0x02 | (static_cast<unsigned char>(point[64]) & 1))) + point.substr(1, 32);
  auto parsed = PublicKey::FromDer(::semper::testing::P256Spki(compressed));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->CanonicalDer(), der);
  EXPECT_EQ(key->public_key().CanonicalDer(), der);
}

// An RSA key's modulus, big-endian (empty if it has none).
std::string ModulusOf(const PrivateKey& key) {
  BIGNUM* n = nullptr;
  if (EVP_PKEY_get_bn_param(key.evp(), OSSL_PKEY_PARAM_RSA_N, &n) != 1) return "";
  std::unique_ptr<BIGNUM, decltype(&BN_free)> n_owned(n, BN_free);
  std::string n_be(static_cast<size_t>(BN_num_bytes(n)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(n_be.data()));
  return n_be;
}

TEST(WeakKeysTest, RsaExponentsBelow65537OrEvenAreRefused) {
  auto key = PrivateKey::Generate(KeyType::kRsa, 2048);
  ASSERT_THAT(key, IsOk());
  const std::string n_be = ModulusOf(*key);
  ASSERT_FALSE(n_be.empty());
  for (unsigned long e : {1UL, 3UL, 17UL, 65536UL, 65538UL}) {
    EXPECT_THAT(PublicKey::FromDer(::semper::testing::RsaSpki(n_be, e)),
                StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY))
        << "e = " << e;
  }
  EXPECT_THAT(PublicKey::FromDer(::semper::testing::RsaSpki(n_be, 65537)), IsOk());
  std::string even = n_be;
  even.back() = static_cast<char>(even.back() & 0xfe);
  EXPECT_THAT(PublicKey::FromDer(::semper::testing::RsaSpki(even, 65537)),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY));
}

TEST(WeakKeysTest, AnRsaKeyAsPssHasTheCanonicalFormOfRsaEncryption) {
  auto key = PrivateKey::Generate(KeyType::kRsa, 2048);
  ASSERT_THAT(key, IsOk());
  const std::string n_be = ModulusOf(*key);
  ASSERT_FALSE(n_be.empty());
  auto pss = PublicKey::FromDer(::semper::testing::RsaPssSpki(n_be, 65537));
  ASSERT_THAT(pss, IsOk());
  EXPECT_EQ(pss->CanonicalDer(), key->public_key().Der());
  EXPECT_EQ(key->public_key().CanonicalDer(), key->public_key().Der());
}

TEST(WeakKeysTest, AHybridP256PointIsRefusedThroughOpensslsOwnDecoderToo) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  std::string der = key->public_key().Der();
  std::string hybrid = der;
  hybrid[der.size() - 65] = static_cast<char>(0x06 | (static_cast<unsigned char>(der.back()) & 1));
  const auto* p = reinterpret_cast<const unsigned char*>(hybrid.data());
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> generic(d2i_PUBKEY(nullptr, &p, static_cast<long>(hybrid.size())),
                                                              EVP_PKEY_free);
  if (generic)
    EXPECT_THAT(PublicKey::FromEvp(generic.get()), StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY));
  EXPECT_THAT(PublicKey::FromDer(hybrid), StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY));
}

// A modulus that anyone can factor makes a key anyone can sign for: a small factor (OpenSSL's own
// check stops at 751), a prime modulus. Over 4096 bits: not certified (a check costs seconds).
TEST(WeakKeysTest, RsaModuliAnyoneCanFactorAreNotCertified) {
  std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)> ctx(BN_CTX_new(), BN_CTX_free);
  auto key_for = [&](const BIGNUM* n) {
    std::string n_be(static_cast<size_t>(BN_num_bytes(n)), '\0');
    BN_bn2bin(n, reinterpret_cast<unsigned char*>(n_be.data()));
    return PublicKey::FromDer(::semper::testing::RsaSpki(n_be, 65537));
  };
  std::unique_ptr<BIGNUM, decltype(&BN_free)> q(BN_new(), BN_free), n(BN_new(), BN_free), f(BN_new(), BN_free);
  ASSERT_EQ(BN_generate_prime_ex(q.get(), 2040, 0, nullptr, nullptr, nullptr), 1);
  for (BN_ULONG factor : {757UL, 65521UL}) {
    BN_set_word(f.get(), factor);
    BN_mul(n.get(), q.get(), f.get(), ctx.get());
    auto key = key_for(n.get());
    ASSERT_THAT(key, IsOk());  // a cheap read accepts it...
    EXPECT_THAT(CheckKeyForCertification(*key), StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY))
        << "factor " << factor;  // ...certification does not
  }
  ASSERT_EQ(BN_generate_prime_ex(n.get(), 2048, 0, nullptr, nullptr, nullptr), 1);
  auto prime = key_for(n.get());
  ASSERT_THAT(prime, IsOk());
  EXPECT_THAT(CheckKeyForCertification(*prime), StatusIs(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY));
  auto big = PrivateKey::Generate(KeyType::kRsa, 6144);
  ASSERT_THAT(big, IsOk());
  EXPECT_THAT(CheckKeyForCertification(big->public_key()),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
  for (int bits : {2048, 3072, 4096}) {
    auto real = PrivateKey::Generate(KeyType::kRsa, bits);
    ASSERT_THAT(real, IsOk());
    EXPECT_THAT(CheckKeyForCertification(real->public_key()), IsOk()) << bits;
  }
}

TEST(KeysTest, RsaTooShortRefused) {
  EXPECT_THAT(PrivateKey::Generate(KeyType::kRsa, 1024), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace semper
