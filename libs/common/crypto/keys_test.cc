// PrivateKey / PublicKey: generation, encrypted PEM round trips, and refusal of bad input.
#include "common/crypto/keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/status_matchers.h"

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
  EXPECT_THAT(PrivateKey::FromPem(*pem, SecretData()),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY));
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

INSTANTIATE_TEST_SUITE_P(AllTypes, KeysTest,
                         ::testing::Values(KeyType::kEcP256, KeyType::kEd25519, KeyType::kRsa));

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

TEST(KeysTest, RsaTooShortRefused) {
  EXPECT_THAT(PrivateKey::Generate(KeyType::kRsa, 1024), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace semper
