// TrustStore::VerifyPath results for certificates that come again and again (the parties'
// certificates in every request), by their exact DER: a certificate found valid is reused for
// at most `ttl` and never past its notAfter; failures are not kept. Parsing a certificate costs
// ~100 µs in OpenSSL 3.0's decoder, so the parsed certificate is kept too. Revocation is not
// checked here. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"

namespace semper {

class VerifiedCertificates {
 public:
  VerifiedCertificates(const TrustStore* trust, std::vector<Certificate> intermediates, KeyPurpose purpose,
                       absl::Duration ttl = absl::Minutes(1), size_t max_entries = 100000)
      : trust_(trust), intermediates_(std::move(intermediates)), purpose_(purpose), ttl_(ttl), max_(max_entries) {}

  absl::Status Check(const Certificate& cert, absl::Time now);
  // Parses `der` (once) and checks it; INVALID_FIELD `field` when it does not parse.
  absl::StatusOr<Certificate> CheckDer(const std::string& der, absl::Time now, std::string_view field);

 private:
  struct Entry {
    Certificate cert;
    absl::Time until;
  };
  absl::StatusOr<Certificate> Verify(const std::string& der, const Certificate& cert, absl::Time now);
  const TrustStore* trust_;
  std::vector<Certificate> intermediates_;
  KeyPurpose purpose_;
  absl::Duration ttl_;
  size_t max_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semper
