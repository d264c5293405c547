// RFC 3161 on the client side: requests and the verification of tokens against data, for
// semperctl and for the daemons that rely on time-stamps (notary, arbiter). Verification is
// OpenSSL's own (TS_RESP_verify_token): signature, ESSCertID(v2) binding, the TSA certificate's
// critical timeStamping usage and its path to the given roots, the imprint and the nonce.
// Thread-safe (pure functions).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"
#include "common/crypto/digest.h"

namespace semper {

struct TimeStampRequestOptions {
  bool cert_req = true;
  std::string policy;  // dotted OID; empty: the TSA's default
  std::string nonce;   // big-endian bytes; empty: no nonce
};

// DER TimeStampReq over `digest` (which must be DigestSize(algorithm) bytes).
absl::StatusOr<std::string> MakeTimeStampRequest(HashAlgorithm algorithm, std::string_view digest,
                                                 const TimeStampRequestOptions& options = {});

struct TimeStampInfo {
  std::string serial_hex;
  absl::Time gen_time;
  std::string policy;
  std::string hash_algorithm;  // "sha256", ...
  std::string imprint;
  std::string tsa_name;        // from the token's tsa field, RFC 2253 form, or empty
  std::string signer_subject;  // the TSA certificate that signed
};

// The token inside a TimeStampResp (DER), or the token itself if `der` is one; MALFORMED_INPUT
// otherwise, and the status text of a rejection as FAILED_PRECONDITION.
absl::StatusOr<std::string> TimeStampTokenOf(std::string_view der);

// Verifies a token (or a TimeStampResp carrying one) for `digest` under `roots`; `nonce` must
// match when given. The TSA certificate must be in the token (certReq) or in `untrusted`.
// SIGNATURE_INVALID with OpenSSL's reason when anything does not hold. The TSA certificate's
// path is checked as it stands now, or at `path_at` (a token kept from earlier, e.g. a signature
// time-stamp: at its own genTime, so that it keeps verifying after the TSA certificate expires).
absl::StatusOr<TimeStampInfo> VerifyTimeStampToken(std::string_view der, std::string_view digest,
                                                   const std::vector<Certificate>& roots,
                                                   const std::vector<Certificate>& untrusted = {},
                                                   std::optional<std::string> nonce = std::nullopt,
                                                   std::optional<absl::Time> path_at = std::nullopt);

// What a token says, without verifying it (for display before verification, or audit).
absl::StatusOr<TimeStampInfo> ReadTimeStampToken(std::string_view der);

}  // namespace semper
