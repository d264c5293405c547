// RFC 9474 blind signatures: the protocol, what the signer sees, and refusals. openssl's own
// RSA-PSS verification of the result is in tests/interop.
#include "common/crypto/blind_rsa.h"

#include <gtest/gtest.h>

#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "tests/support/status_matchers.h"

namespace semper::blind_rsa {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::StatusIs;

const PrivateKey& Issuer() {
  static const PrivateKey* key = new PrivateKey(*PrivateKey::Generate(KeyType::kRsa, 2048));
  return *key;
}

TEST(BlindRsaTest, ASignatureOverAMessageTheSignerNeverSaw) {
  const PublicKey pk = Issuer().public_key();
  const std::string prepared = Prepare("one ride, zone A");
  EXPECT_EQ(prepared.size(), 32u + 16u);
  auto blinding = Blind(pk, prepared);
  ASSERT_THAT(blinding.status(), IsOk());
  EXPECT_EQ(blinding->blinded_message.size(), 256u);
  auto blind_sig = BlindSign(Issuer(), blinding->blinded_message);
  ASSERT_THAT(blind_sig.status(), IsOk());
  auto sig = Finalize(pk, prepared, *blind_sig, blinding->inv);
  ASSERT_THAT(sig.status(), IsOk());
  EXPECT_THAT(Verify(pk, prepared, *sig), IsOk());
  // What the signer saw matches nothing that is later redeemed.
  EXPECT_NE(*blind_sig, *sig);
  EXPECT_EQ(blinding->blinded_message.find(prepared), std::string::npos);
  EXPECT_EQ(blinding->blinded_message.find(*sig), std::string::npos);
  // Another message, or a changed signature, does not verify.
  EXPECT_THAT(Verify(pk, Prepare("one ride, zone A"), *sig),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  std::string bad = *sig;
  bad[10] ^= 1;
  EXPECT_THAT(Verify(pk, prepared, bad), StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
}

TEST(BlindRsaTest, TheSameMessageBlindsDifferentlyEachTime) {
  // Unlinkability: two issuances of one prepared message look unrelated to the signer, and
  // either result verifies.
  const PublicKey pk = Issuer().public_key();
  const std::string prepared = Prepare("voucher");
  auto a = Blind(pk, prepared);
  auto b = Blind(pk, prepared);
  ASSERT_THAT(a.status(), IsOk());
  ASSERT_THAT(b.status(), IsOk());
  EXPECT_NE(a->blinded_message, b->blinded_message);
  auto sa = Finalize(pk, prepared, *BlindSign(Issuer(), a->blinded_message), a->inv);
  auto sb = Finalize(pk, prepared, *BlindSign(Issuer(), b->blinded_message), b->inv);
  ASSERT_THAT(sa.status(), IsOk());
  ASSERT_THAT(sb.status(), IsOk());
  EXPECT_NE(*sa, *sb);  // randomized PSS: a fresh salt each time
  // Unblinding with the other issuance's factor gives no valid signature.
  EXPECT_FALSE(Finalize(pk, prepared, *BlindSign(Issuer(), a->blinded_message), b->inv).ok());
}

TEST(BlindRsaTest, BadInputIsRefused) {
  const PublicKey pk = Issuer().public_key();
  EXPECT_THAT(BlindSign(Issuer(), std::string(255, '\x01')),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  EXPECT_THAT(BlindSign(Issuer(), std::string(257, '\x01')),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  EXPECT_THAT(BlindSign(Issuer(), std::string(256, '\xff')),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  auto ec = *PrivateKey::Generate(KeyType::kEcP256);
  EXPECT_THAT(BlindSign(ec, std::string(32, '\x01')),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
  EXPECT_THAT(Blind(ec.public_key(), "x").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
  // A blind signature from another key does not finalize.
  static const PrivateKey other = *PrivateKey::Generate(KeyType::kRsa, 2048);
  const std::string prepared = Prepare("ticket");
  auto blinding = Blind(pk, prepared);
  auto foreign = BlindSign(other, blinding->blinded_message);  // may exceed the other modulus: refused then
  if (foreign.ok()) {
    EXPECT_FALSE(Finalize(pk, prepared, *foreign, blinding->inv).ok());
  }
  EXPECT_THAT(Finalize(pk, prepared, "short", blinding->inv).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(HmacTest, Rfc4231TestCase2) {
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

}  // namespace
}  // namespace semper::blind_rsa
