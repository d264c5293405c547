// Suite signers.
#include "common/crypto/suite_signer.h"

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/oids.h"

namespace semper {

absl::Status CheckSuiteSigner(const Certificate& cert, std::string_view daemon) {
  const std::string expected = StrCat("semper-", daemon, " signer");
  const std::vector<std::string> cn = cert.SubjectAttributes("CN");
  if (cn.size() == 1 && cn.front() == expected && cert.SubjectAttributes("serialNumber").empty() &&
      cert.SubjectAttributes(oids::kPseudonym).empty()) {
    return absl::OkStatus();
  }
  return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                   StrCat("signed by ", cert.Subject(), ", not by semper-", daemon, "'s signing key"));
}

}  // namespace semper
