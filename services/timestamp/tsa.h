// The RFC 3161 engine of semper-tsa: validates a TimeStampReq and answers a signed token or a
// rejection with the right PKIFailureInfo, never anything else. The token (TSTInfo in CMS
// SignedData with contentType, messageDigest and ESSCertIDv2 signingCertificateV2 attributes,
// RFC 3161 + RFC 5816) is assembled from parts computed once at start: OpenSSL's TS_RESP_CTX
// spends 80 µs a token, four times the ECDSA signature, on building and encoding objects.
// `openssl ts -verify` checks the result in the tests. Thread-safe.
#pragma once

#include <openssl/evp.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/base/clock.h"
#include "common/crypto/certificate.h"
#include "common/crypto/digest.h"
#include "common/crypto/keys.h"

namespace semper::tsa {

// Serial numbers that are never reused, across restarts and replicas: blocks of 2^24 reserved
// from a source that never returns a block twice (a PostgreSQL sequence), handed out in order.
// Thread-safe.
class SerialAllocator {
 public:
  static constexpr int kBlockBits = 24;
  explicit SerialAllocator(std::function<absl::StatusOr<uint64_t>()> next_block) : next_block_(std::move(next_block)) {}
  absl::StatusOr<uint64_t> Next();

 private:
  std::function<absl::StatusOr<uint64_t>()> next_block_;
  absl::Mutex mu_;
  uint64_t block_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_in_block_ ABSL_GUARDED_BY(mu_) = uint64_t{1} << kBlockBits;  // exhausted: fetch a block first
};

struct TsaOptions {
  Certificate signer;                 // carries the critical timeStamping EKU
  std::vector<Certificate> issuers;   // sent with the token when certReq is set
  PrivateKey key;                     // ECDSA P-256, RSA or Ed25519 (RFC 8419)
  std::vector<std::string> policies;  // OIDs; the first is the default
  absl::Duration accuracy = absl::Seconds(1);
  int clock_precision_digits = 3;  // decimal digits of genTime's fraction (0..6)
  size_t max_nonce_bytes = 32;
  size_t max_request_bytes = 4096;
  // OK when the clock may be trusted; otherwise the TSA answers timeNotAvailable, or, when
  // `clock_check_warns` (tsa.clock_check = "warn", the local suite's default), stamps anyway and
  // marks the reply `clock_unsynchronised` for the operator's log and metrics.
  std::function<absl::Status()> clock_check;
  bool clock_check_warns = false;
  // Called for each token granted although the clock check failed ("warn"), whichever way it was
  // asked for (HTTP, gRPC, a batch's root): the daemon counts and logs it.
  std::function<void()> on_unsynchronised;
  Clock clock = SystemClock();
  // Refuse to stamp while the clock is outside the signer certificate's validity (always, in
  // semper-tsa; tests of verifiers turn it off to make the tokens no TSA should).
  bool require_valid_certificate = true;
  SerialAllocator* serials = nullptr;
};

// A reply and, for a granted token, what it says.
struct Stamped {
  std::string response_der;  // TimeStampResp
  int status = 2;            // PKIStatus
  std::vector<std::string> failure_info;
  std::string status_text;
  bool granted() const { return status == 0 || status == 1; }
  // Granted only.
  std::string serial_hex;
  absl::Time gen_time;
  std::string hash_algorithm;  // "sha256", "sha384", "sha512"
  std::string imprint;
  std::string policy;
  std::string token_der;              // TimeStampToken (ContentInfo), as sent
  bool cert_req = false;              // the token carries the TSA's certificates
  bool clock_unsynchronised = false;  // granted although the clock check failed ("warn")
  // Refused because the clock is outside the TSA certificate's validity (until the operator
  // installs a valid one: not worth a retry).
  bool certificate_not_valid = false;
  // The token without the TSA's certificates, as recorded (the certificates are the same in every
  // token; WithCertificates puts them back).
  std::string stored_token_der;
};

class TimeStampAuthority {
 public:
  // Checks the certificate (critical timeStamping EKU only, matching key) and the options.
  static absl::StatusOr<std::unique_ptr<TimeStampAuthority>> New(TsaOptions options);

  Stamped Stamp(std::string_view request_der) const;
  // A token over a SHA-256 digest, as if requested with certReq and no nonce (batch roots).
  Stamped StampDigest(std::string_view sha256) const;

  const TsaOptions& options() const { return o_; }
  // A recorded token with this TSA's certificates put back (the token as it was sent with
  // certReq); MALFORMED_INPUT if `token_der` is not a token without certificates.
  absl::StatusOr<std::string> WithCertificates(std::string_view token_der) const;

  // A rejection (status 2) with one PKIFailureInfo bit and a text.
  static Stamped Rejection(int failure_bit, std::string text);

 private:
  explicit TimeStampAuthority(TsaOptions options) : o_(std::move(options)) {}
  absl::Status Prepare();
  std::string Sign(std::string_view data) const;

  TsaOptions o_;
  // DER parts computed once.
  std::vector<std::pair<std::string, std::string>> policies_;  // dotted, DER OID
  std::string accuracy_;                                       // Accuracy
  std::string tsa_name_;                                       // tsa [0] GeneralName (directoryName)
  std::string certificates_;                                   // [0] IMPLICIT CertificateSet: signer and issuers
  std::string signer_id_;                                      // IssuerAndSerialNumber
  HashAlgorithm content_digest_ = HashAlgorithm::kSha256;
  std::string digest_algorithm_;  // sha256, or sha512 with Ed25519
  std::string signature_algorithm_;
  std::string content_type_attribute_;
  std::string signing_certificate_attribute_;  // signingCertificateV2 with ESSCertIDv2
  std::shared_ptr<EVP_MD_CTX> sign_template_;
};

// Serial numbers as text: upper-case hex without leading zeros.
std::string SerialHex(uint64_t serial);

// PKIFailureInfo bits (RFC 3161 section 2.4.2).
enum FailureBit {
  kBadAlg = 0,
  kBadRequest = 2,
  kBadDataFormat = 5,
  kTimeNotAvailable = 14,
  kUnacceptedPolicy = 15,
  kUnacceptedExtension = 16,
  kAddInfoNotAvailable = 17,
  kSystemFailure = 25,
};

// PKIFailureInfo bit names (RFC 3161 section 2.4.2) by bit number, "" for unused bits.
std::string_view FailureInfoName(int bit);

}  // namespace semper::tsa
