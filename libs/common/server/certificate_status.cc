// semper-ca's certificate status, asked over gRPC.
#include "common/server/certificate_status.h"

#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/server/daemon.h"
#include "common/server/grpc_status.h"

namespace semper {

absl::Status CalledError(std::string_view who, const grpc::Status& called) {
  switch (called.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return UpstreamError(who, called);
    default: {
      absl::Status answered = FromGrpcStatus(called);
      if (answered.code() == absl::StatusCode::kUnavailable) answered = absl::InternalError(answered.message());
      return Annotate(answered, StrCat(who, " answered"));
    }
  }
}

absl::StatusOr<v1::CertificateStatus> CertificateStatusClient::Status(const Certificate& cert,
                                                                      std::optional<absl::Time> at) const {
  v1::GetCertificateStatusRequest req;
  req.set_certificate(cert.Der());
  if (at.has_value()) *req.mutable_at() = ToTimestamp(*at);
  v1::CertificateStatus status;
  grpc::Status called = ca_->GetCertificateStatus(UpstreamContext(deadline_).get(), req, &status);
  // Any failure is semper-ca's or this daemon's, never the caller's: a CA that refuses this
  // daemon (its certificate revoked or not accepted there) or fails answers DEPENDENCY_UNAVAILABLE
  // to the client, who retries, and to the arbiter's evidence checks, which decide nothing on it.
  if (!called.ok()) {
    return UpstreamError(
        "semper-ca",
        grpc::Status(called.error_code(),
                     StrCat(called.error_message(), " (",
                            absl::StatusCodeToString(static_cast<absl::StatusCode>(called.error_code())), ")")));
  }
  return status;
}

absl::Status CertificateStatusClient::RequireGood(const Certificate& cert, std::string_view whose) const {
  SEMPER_ASSIGN_OR_RETURN(v1::CertificateStatus status, Status(cert));
  if (status.state() == v1::CERTIFICATE_STATE_REVOKED) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED,
                     StrCat(whose, " certificate ", status.serial(), " is revoked (",
                            v1::RevocationReason_Name(status.reason()), ")"));
  }
  if (status.state() != v1::CERTIFICATE_STATE_GOOD) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED,
                     StrCat("semper-ca does not know ", whose, " certificate"));
  }
  return absl::OkStatus();
}

}  // namespace semper
