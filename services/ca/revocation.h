// Publishing certificate status in the standard forms: CRLs (RFC 5280 section 5, full and
// delta) and OCSP responses (RFC 6960) signed by a delegated responder. Pure functions over the
// records given; thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"

namespace semper::ca {

struct RevokedEntry {
  std::string serial_hex;
  absl::Time revoked_at;
  int reason = 0;  // RFC 5280 CRLReason
};

// A DER CRL v2 signed by the issuing CA: CRL number, authority key identifier, and for a delta
// CRL (delta_base set) the critical deltaCRLIndicator.
absl::StatusOr<std::string> BuildCrl(const Certificate& issuer, const PrivateKey& key,
                                     const std::vector<RevokedEntry>& entries, int64_t number,
                                     std::optional<int64_t> delta_base, absl::Time this_update,
                                     absl::Time next_update);

struct StatusRecord {
  enum class State { kGood, kRevoked, kUnknown } state = State::kUnknown;
  absl::Time revoked_at;
  int reason = 0;
};

class OcspResponder {
 public:
  // `signer` is a delegated responder certificate (id-kp-OCSPSigning) issued by `issuer`.
  OcspResponder(Certificate issuer, Certificate signer, PrivateKey signer_key, absl::Duration validity)
      : issuer_(std::move(issuer)), signer_(std::move(signer)), key_(std::move(signer_key)), validity_(validity) {}

  // A DER OCSPResponse for any input: malformedRequest for garbage, internalError if the lookup
  // fails, otherwise a signed BasicOCSPResponse with one SingleResponse per request (good,
  // revoked or unknown), the request's nonce echoed.
  std::string Respond(std::string_view request_der,
                      const std::function<absl::StatusOr<StatusRecord>(const std::string& serial_hex)>& lookup,
                      absl::Time now) const;

 private:
  Certificate issuer_;
  Certificate signer_;
  PrivateKey key_;
  absl::Duration validity_;
};

}  // namespace semper::ca
