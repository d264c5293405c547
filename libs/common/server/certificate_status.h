// semper-ca's GetCertificateStatus as every daemon asks it (the notary, the liability tracker,
// the arbiter): one call with a deadline. Any failed call is DEPENDENCY_UNAVAILABLE naming
// semper-ca and the code it got: the status of a certificate the daemon holds cannot fail for a
// reason of the daemon's client. Thread-safe.
#pragma once

#include <grpcpp/support/status.h>

#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"
#include "semper/v1/ca.grpc.pb.h"

namespace semper {

class CertificateStatusClient {
 public:
  explicit CertificateStatusClient(std::shared_ptr<v1::CertificationAuthority::StubInterface> ca,
                                   absl::Duration deadline = absl::Seconds(5))
      : ca_(std::move(ca)), deadline_(deadline) {}

  // The certificate's status now, or at `at`, as semper-ca holds it (a certificate it did not
  // issue is UNKNOWN there).
  absl::StatusOr<v1::CertificateStatus> Status(const Certificate& cert,
                                               std::optional<absl::Time> at = std::nullopt) const;
  // OK when semper-ca says the certificate is good now; CERTIFICATE_REVOKED (naming the reason)
  // or CERTIFICATE_UNTRUSTED otherwise. `whose`: "the signer's", "the buyer's", ...
  absl::Status RequireGood(const Certificate& cert, std::string_view whose) const;

 private:
  std::shared_ptr<v1::CertificationAuthority::StubInterface> ca_;
  absl::Duration deadline_;
};

// A failed call to another daemon: DEPENDENCY_UNAVAILABLE when it did not answer (unreachable,
// deadline, cancelled, overloaded), else its answer, annotated with who gave it (an UNAVAILABLE
// answer becomes INTERNAL: it answered).
absl::Status CalledError(std::string_view who, const grpc::Status& called);

}  // namespace semper
