// RSA blind signatures (RFC 9474), variant RSABSSA-SHA384-PSS-Randomized: the issuer signs a
// message it never sees, and the result is an ordinary RSASSA-PSS signature (SHA-384, MGF1 with
// SHA-384, 48-byte salt) over the prepared message, which any RSA-PSS verifier accepts (tested
// with `openssl dgst -verify`). Built on OpenSSL's BIGNUM for the blinding and its RSA private
// operation (with its own blinding and constant-time code) for the signature. Thread-safe (pure
// functions).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/crypto/keys.h"

namespace semper::blind_rsa {

// The client's side.
// Prepare (RFC 9474 4.1, randomized): 32 random bytes, then the message.
std::string Prepare(std::string_view message);

struct Blinding {
  std::string blinded_message;  // to the signer: exactly the modulus length
  std::string inv;              // kept by the client: the inverse of the blinding factor
};
// Blind (4.2): EMSA-PSS encoding of `prepared`, multiplied by r^e mod n for a random r.
absl::StatusOr<Blinding> Blind(const PublicKey& key, std::string_view prepared);
// Finalize (4.4): removes the blinding and verifies the result; the signature over `prepared`.
absl::StatusOr<std::string> Finalize(const PublicKey& key, std::string_view prepared, std::string_view blind_signature,
                                     std::string_view inv);

// The signer's side (4.3): RSASP1 of the blinded message, checked with RSAVP1 before it leaves.
// INVALID_FIELD "blinded_message" if it is not exactly the modulus length or not below n.
absl::StatusOr<std::string> BlindSign(const PrivateKey& key, std::string_view blinded_message);

// Anyone: RSASSA-PSS-VERIFY (SHA-384, MGF1-SHA-384, salt 48) of `signature` over `prepared`.
absl::Status Verify(const PublicKey& key, std::string_view prepared, std::string_view signature);

}  // namespace semper::blind_rsa
