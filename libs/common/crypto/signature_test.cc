// PublicKeySign / PublicKeyVerify: round trips and every way a signature must fail.
#include "common/crypto/signature.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "tests/support/status_matchers.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::StatusIs;

class SignatureTest : public ::testing::TestWithParam<KeyType> {
 protected:
  void SetUp() override {
    auto key = PrivateKey::Generate(GetParam(), 2048);
    ASSERT_THAT(key, IsOk());
    key_ = *key;
    algorithm_ = DefaultSignatureAlgorithm(GetParam());
  }
  std::optional<PrivateKey> key_;
  SignatureAlgorithm algorithm_{};
};

TEST_P(SignatureTest, SignThenVerify) {
  auto signer = PublicKeySign::New(*key_, algorithm_);
  ASSERT_THAT(signer, IsOk());
  auto verifier = PublicKeyVerify::New(key_->public_key(), algorithm_);
  ASSERT_THAT(verifier, IsOk());
  std::string data = "order #42: 3 x widget, EUR 29.97";
  auto sig = (*signer)->Sign(data);
  ASSERT_THAT(sig, IsOk());
  EXPECT_THAT((*verifier)->Verify(*sig, data), IsOk());
  EXPECT_THAT((*verifier)->Verify(*sig, ""), StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
}

TEST_P(SignatureTest, TamperedDataFails) {
  auto signer = PublicKeySign::New(*key_, algorithm_);
  auto verifier = PublicKeyVerify::New(key_->public_key(), algorithm_);
  ASSERT_THAT(signer, IsOk());
  ASSERT_THAT(verifier, IsOk());
  std::string data = "pay 100 EUR";
  auto sig = (*signer)->Sign(data);
  ASSERT_THAT(sig, IsOk());
  EXPECT_THAT((*verifier)->Verify(*sig, "pay 900 EUR"),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
}

TEST_P(SignatureTest, TamperedSignatureFails) {
  auto signer = PublicKeySign::New(*key_, algorithm_);
  auto verifier = PublicKeyVerify::New(key_->public_key(), algorithm_);
  ASSERT_THAT(signer, IsOk());
  ASSERT_THAT(verifier, IsOk());
  auto sig = (*signer)->Sign("data");
  ASSERT_THAT(sig, IsOk());
  for (size_t i : {size_t{0}, sig->size() / 2, sig->size() - 1}) {
    std::string bad = *sig;
    bad[i] ^= 0x01;
    EXPECT_THAT((*verifier)->Verify(bad, "data"), StatusIs(absl::StatusCode::kInvalidArgument)) << i;
  }
  EXPECT_THAT((*verifier)->Verify(sig->substr(0, sig->size() - 1), "data"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT((*verifier)->Verify("", "data"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT((*verifier)->Verify(RandomBytes(sig->size()), "data"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(SignatureTest, WrongKeyFails) {
  auto other = PrivateKey::Generate(GetParam(), 2048);
  ASSERT_THAT(other, IsOk());
  auto signer = PublicKeySign::New(*key_, algorithm_);
  auto verifier = PublicKeyVerify::New(other->public_key(), algorithm_);
  ASSERT_THAT(signer, IsOk());
  ASSERT_THAT(verifier, IsOk());
  auto sig = (*signer)->Sign("data");
  ASSERT_THAT(sig, IsOk());
  EXPECT_THAT((*verifier)->Verify(*sig, "data"), StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, SignatureTest,
                         ::testing::Values(KeyType::kEcP256, KeyType::kEd25519, KeyType::kRsa));

TEST(SignatureAlgorithmTest, WrongAlgorithmForKeyRefused) {
  auto ec = PrivateKey::Generate(KeyType::kEcP256);
  auto ed = PrivateKey::Generate(KeyType::kEd25519);
  ASSERT_THAT(ec, IsOk());
  ASSERT_THAT(ed, IsOk());
  EXPECT_THAT(PublicKeySign::New(*ec, SignatureAlgorithm::kEd25519),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
  EXPECT_THAT(PublicKeySign::New(*ed, SignatureAlgorithm::kRsaPssSha256),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
  EXPECT_THAT(PublicKeyVerify::New(ec->public_key(), SignatureAlgorithm::kEd25519),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
}

TEST(DigestTest, KnownAnswers) {
  // FIPS 180-2 "abc" vectors.
  EXPECT_EQ(HexEncode(ComputeDigest(HashAlgorithm::kSha256, "abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(ComputeDigest(HashAlgorithm::kSha384, "abc")).substr(0, 16), "cb00753f45a35e8b");
  EXPECT_EQ(HexEncode(ComputeDigest(HashAlgorithm::kSha512, "abc")).substr(0, 16), "ddaf35a193617aba");
  EXPECT_EQ(ComputeDigest(HashAlgorithm::kSha512, "").size(), 64u);
}

TEST(RandomTest, BytesDiffer) {
  EXPECT_EQ(RandomBytes(32).size(), 32u);
  EXPECT_NE(RandomBytes(32), RandomBytes(32));
  EXPECT_EQ(RandomId().size(), 32u);
}

}  // namespace
}  // namespace semper
