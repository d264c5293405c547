// Enrolment: two certification requests and an enrolment code.
#include "services/ca/enrolment.h"

#include "common/base/status.h"
#include "common/crypto/csr.h"
#include "common/crypto/digest.h"
#include "services/ca/service.h"

namespace semper::ca {

absl::StatusOr<v1::EnrollResponse> Enrolment::Enroll(const v1::EnrollRequest& req) const {
  const std::string code = CanonicalEnrolmentCode(req.enrolment_code());
  if (code.size() != 20) {
    return InvalidField("enrolment_code", "must be the 20-character code, e.g. ABCD-EFGH-JKMN-PQRS-TUVW");
  }
  auto auth = CertificationRequest::FromDer(req.authentication_csr());
  if (!auth.ok()) return FieldError("authentication_csr", auth.status());
  auto sig = CertificationRequest::FromDer(req.signature_csr());
  if (!sig.ok()) return FieldError("signature_csr", sig.status());
  if (auth->SpkiDer() == sig->SpkiDer()) {
    return InvalidField("signature_csr", "must be for a different key than the authentication key");
  }
  const absl::Time now = d_.clock();
  SEMPER_ASSIGN_OR_RETURN(
      auto enrolled,
      d_.store->Enroll(Sha256(code), {Sha256(auth->SpkiDer()), Sha256(sig->SpkiDer())},
                       [&](const v1::Subscriber& s) -> absl::StatusOr<std::vector<IssuedRecord>> {
                         SEMPER_RETURN_IF_ERROR(CheckRequest(*auth, s, "authentication_csr"));
                         SEMPER_RETURN_IF_ERROR(CheckRequest(*sig, s, "signature_csr"));
                         std::vector<IssuedRecord> out;
                         for (auto [profile, csr] : {std::pair{SubscriberProfile::kAuthentication, &*auth},
                                                     std::pair{SubscriberProfile::kSignature, &*sig}}) {
                           CertificateTemplate t =
                               SubscriberTemplate(s, profile, csr->public_key().type(), now, d_.profiles);
                           SEMPER_ASSIGN_OR_RETURN(
                               IssuedCertificate c,
                               IssueCertificateForSpki(t, csr->spki(), d_.pki->issuing_ca(), d_.pki->issuing_key()));
                           out.push_back(IssuedRecord{c, std::string(ProfileName(profile))});
                         }
                         return out;
                       }));
  v1::EnrollResponse resp;
  resp.set_subscriber_id(enrolled.first.id());
  for (const IssuedRecord& rec : enrolled.second) {
    v1::IssuedCertificate* ic =
        rec.profile == "authentication" ? resp.mutable_authentication() : resp.mutable_signature();
    ic->set_certificate(rec.certificate.der);
    ic->set_serial(rec.certificate.serial_hex);
    ic->set_profile(rec.profile);
    if (auto issued = Certificate::FromDer(rec.certificate.der); issued.ok()) {
      ic->set_chain_pem(issued->Pem() + d_.pki->issuing_ca().Pem());
    }
  }
  resp.add_chain(d_.pki->issuing_ca().Der());
  resp.add_chain(d_.pki->root().Der());
  return resp;
}

}  // namespace semper::ca
