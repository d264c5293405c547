// semper-liability's checks of agreements and verdicts.
#include "services/liability/checks.h"

#include <google/protobuf/util/json_util.h>

#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/container/container.h"
#include "common/crypto/cms.h"

namespace semper::liability {

absl::StatusOr<CheckedAgreement> CheckAgreement(const v1::SignedContainer& agreement, const TrustStore& trust,
                                                absl::Time now) {
  v1::SealedContainer sealed;
  *sealed.mutable_signed_() = agreement;
  OpenOptions options;
  options.trust = &trust;
  options.at = now;
  options.required.set_non_repudiation_of_origin(true);
  auto open = Open(sealed, options);
  if (!open.ok()) return FieldError("agreement", open.status());
  OpenedContainer& opened = *open;
  if (!opened.content.template_().has_agreement()) {
    return InvalidField("agreement.content.template", "must be an Agreement");
  }
  if (opened.origin_signers.size() != 1) return InvalidField("agreement.signatures", "must be the buyer's alone");
  CheckedAgreement out{opened.origin_signers.front().certificate, opened.content.template_().agreement()};
  if (FromTimestamp(out.agreement.valid_until()) <= now) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED, "the agreement's validity has already ended");
  }
  return out;
}

absl::StatusOr<v1::VerdictStatement> CheckVerdict(std::string_view verdict, std::string_view signature,
                                                  const TrustStore& trust, const Certificate& arbiter, absl::Time now) {
  auto signers = CmsVerifyDetached(signature, verdict, trust, now, KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return FieldError("verdict_signature", signers.status());
  if (signers->size() != 1 || signers->front().certificate.Der() != arbiter.Der()) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED, "the verdict is not semper-arbiter's");
  }
  v1::VerdictStatement v;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(std::string(verdict), &v, opts).ok() ||
      v.type() != "semper-verdict") {
    return InvalidField("verdict", "is not a semper-verdict statement");
  }
  return v;
}

}  // namespace semper::liability
