// Credential presentations, checked without the database.
#include "services/ca/presentation.h"

#include <google/protobuf/util/json_util.h>

#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"

namespace semper::ca {

absl::StatusOr<CheckedPresentation> CheckPresentation(const v1::RedeemCredentialRequest& req,
                                                      const std::string& acceptor, const TrustStore& trust,
                                                      absl::Time now) {
  CheckedPresentation out;
  v1::CredentialStatement& cs = out.credential;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(req.credential_statement(), &cs, opts).ok() ||
      cs.type() != "semper-credential") {
    return MalformedField("credential_statement",
                          "is not a semper-credential statement (proto3 JSON as semper-ca signed it)");
  }
  v1::PresentationStatement& ps = out.presentation;
  if (!ps.ParseFromString(req.presentation()) || ps.type() != "semper-credential-presentation") {
    return MalformedField("presentation",
                          "must be a serialized PresentationStatement of type \"semper-credential-presentation\"");
  }
  SEMPER_RETURN_IF_ERROR(RequireFresh(ps.made_at(), now, "presentation.made_at"));
  if (ps.credential_id() != cs.credential_id())
    return InvalidField("presentation.credential_id", "names another credential");
  if (ps.acceptor_subscriber_id() != acceptor) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     "the presentation was made for another acceptor");
  }
  if (ps.nonce().size() < 16 || ps.nonce().size() > 64)
    return InvalidField("presentation.nonce", "must be 16 to 64 random bytes");
  auto ca_signed =
      CmsVerifyDetached(req.credential_signature(), req.credential_statement(), trust, now, KeyPurpose::kAny);
  if (!ca_signed.ok()) return FieldError("credential_signature", ca_signed.status());
  // Presented by its holder: the presentation signed with the key the credential names.
  if (req.presentation_signature().empty())
    return InvalidField("presentation_signature", "the holder's signature is required");
  auto signers =
      CmsVerifyDetached(req.presentation_signature(), req.presentation(), trust, now, KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return FieldError("presentation_signature", signers.status());
  if (signers->size() != 1 || Sha256(signers->front().certificate.SpkiDer()) != cs.holder_key_sha256()) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     "the credential is presented by someone other than its holder");
  }
  out.holder = signers->front().certificate;
  return out;
}

}  // namespace semper::ca
