// Certification of documents: the signer's detached CMS signature checked (path at the clock's
// now), the signer's certificate good at semper-ca, a time-stamp over the document's SHA-256 from
// semper-tsa, and the notary's signed attestation of all three appended to the evidence log.
// Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/base/clock.h"
#include "common/crypto/certificate.h"
#include "semper/v1/notary.pb.h"
#include "services/notary/log.h"

namespace semper::notary {

class StatementSigner;

class Attestations {
 public:
  struct Deps {
    EvidenceLog* log = nullptr;
    const StatementSigner* signer = nullptr;
    const TrustStore* trust = nullptr;
    // semper-ca: OK when the certificate is good now.
    std::function<absl::Status(const Certificate&)> check_status;
    // semper-tsa: a verified token over a SHA-256 digest, and the time it states.
    std::function<absl::StatusOr<std::string>(std::string_view sha256, absl::Time* gen_time)> time_stamp;
    Clock clock = SystemClock();
    size_t max_document_bytes = 16 << 20;
  };
  explicit Attestations(Deps deps) : d_(std::move(deps)) {}

  using Done = std::function<void(absl::StatusOr<v1::Evidence>)>;
  // `done` gets the attestation's evidence once it is in the log (on the log's committer
  // thread), or the refusal at once. `signer_subject`, when not null, is set to the signer's
  // subject before `done` runs (for the caller's log line).
  void Certify(const v1::CertifyDocumentRequest& req, Done done, std::string* signer_subject = nullptr) const;

 private:
  Deps d_;
};

}  // namespace semper::notary
