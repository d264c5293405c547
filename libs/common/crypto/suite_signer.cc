// Suite signers.
#include "common/crypto/suite_signer.h"

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/oids.h"

namespace semper {

namespace {

bool IsSuiteCertificate(const Certificate& cert, std::string_view common_name) {
  const std::vector<std::string> cn = cert.SubjectAttributes("CN");
  return cn.size() == 1 && cn.front() == common_name && cert.SubjectAttributes("serialNumber").empty() &&
         cert.SubjectAttributes(oids::kPseudonym).empty();
}

}  // namespace

absl::Status CheckSuiteSigner(const Certificate& cert, std::string_view daemon) {
  if (IsSuiteCertificate(cert, StrCat("semper-", daemon, " signer"))) return absl::OkStatus();
  return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                   StrCat("signed by ", cert.Subject(), ", not by semper-", daemon, "'s signing key"));
}

absl::Status CheckSuiteCertificate(const Certificate& cert, std::string_view common_name) {
  if (IsSuiteCertificate(cert, common_name)) return absl::OkStatus();
  return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED,
                   StrCat(cert.Subject(), " is not the suite's \"", common_name, "\""));
}

}  // namespace semper
