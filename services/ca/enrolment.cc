// Enrolment and renewal: two certification requests, and the proof (an enrolment code, or the
// current authentication certificate).
#include "services/ca/enrolment.h"

#include "common/base/status.h"
#include "common/crypto/csr.h"
#include "common/crypto/digest.h"
#include "services/ca/service.h"

namespace semper::ca {

struct Enrolment::Requests {
  CertificationRequest authentication, signature;
};

// Both requests parsed (DER, self-signed), for two different keys.
absl::StatusOr<Enrolment::Requests> Enrolment::ParseRequests(const std::string& authentication_csr,
                                                             const std::string& signature_csr) {
  auto auth = CertificationRequest::FromDer(authentication_csr);
  if (!auth.ok()) return FieldError("authentication_csr", auth.status());
  auto sig = CertificationRequest::FromDer(signature_csr);
  if (!sig.ok()) return FieldError("signature_csr", sig.status());
  if (auth->SpkiDer() == sig->SpkiDer()) {
    return InvalidField("signature_csr", "must be for a different key than the authentication key");
  }
  return Requests{*std::move(auth), *std::move(sig)};
}

absl::StatusOr<std::vector<IssuedRecord>> Enrolment::Issue(const Requests& r, const v1::Subscriber& s,
                                                           absl::Time now) const {
  SEMPER_RETURN_IF_ERROR(CheckRequest(r.authentication, s, "authentication_csr"));
  SEMPER_RETURN_IF_ERROR(CheckRequest(r.signature, s, "signature_csr"));
  std::vector<IssuedRecord> out;
  for (auto [profile, csr] : {std::pair{SubscriberProfile::kAuthentication, &r.authentication},
                              std::pair{SubscriberProfile::kSignature, &r.signature}}) {
    CertificateTemplate t = SubscriberTemplate(s, profile, csr->public_key().type(), now, d_.profiles);
    SEMPER_ASSIGN_OR_RETURN(IssuedCertificate c,
                            IssueCertificateForSpki(t, csr->spki(), d_.pki->issuing_ca(), d_.pki->issuing_key()));
    out.push_back(IssuedRecord{c, std::string(ProfileName(profile))});
  }
  return out;
}

v1::EnrollResponse Enrolment::Response(const std::pair<v1::Subscriber, std::vector<IssuedRecord>>& issued) const {
  v1::EnrollResponse resp;
  resp.set_subscriber_id(issued.first.id());
  for (const IssuedRecord& rec : issued.second) {
    v1::IssuedCertificate* ic =
        rec.profile == "authentication" ? resp.mutable_authentication() : resp.mutable_signature();
    ic->set_certificate(rec.certificate.der);
    ic->set_serial(rec.certificate.serial_hex);
    ic->set_profile(rec.profile);
    if (auto cert = Certificate::FromDer(rec.certificate.der); cert.ok()) {
      ic->set_chain_pem(cert->Pem() + d_.pki->issuing_ca().Pem());
    }
  }
  resp.add_chain(d_.pki->issuing_ca().Der());
  resp.add_chain(d_.pki->root().Der());
  return resp;
}

absl::StatusOr<v1::EnrollResponse> Enrolment::Enroll(const v1::EnrollRequest& req) const {
  const std::string code = CanonicalEnrolmentCode(req.enrolment_code());
  if (code.size() != 20) {
    return InvalidField("enrolment_code", "must be the 20-character code, e.g. ABCD-EFGH-JKMN-PQRS-TUVW");
  }
  SEMPER_ASSIGN_OR_RETURN(Requests r, ParseRequests(req.authentication_csr(), req.signature_csr()));
  const absl::Time now = d_.clock();
  SEMPER_ASSIGN_OR_RETURN(
      auto enrolled, d_.store->Enroll(Sha256(code), {Sha256(r.authentication.SpkiDer()), Sha256(r.signature.SpkiDer())},
                                      [&](const v1::Subscriber& s) { return Issue(r, s, now); }));
  return Response(enrolled);
}

absl::StatusOr<v1::EnrollResponse> Enrolment::Renew(const Certificate& caller, const std::string& actor,
                                                    const v1::RenewRequest& req) const {
  SEMPER_ASSIGN_OR_RETURN(Requests r, ParseRequests(req.authentication_csr(), req.signature_csr()));
  const absl::Time now = d_.clock();
  SEMPER_ASSIGN_OR_RETURN(
      auto renewed,
      d_.store->Renew(caller.SerialHex(), caller.Der(),
                      {Sha256(r.authentication.SpkiDer()), Sha256(r.signature.SpkiDer())}, d_.profiles.renewal_window,
                      actor, [&](const v1::Subscriber& s) { return Issue(r, s, now); }));
  return Response(renewed);
}

}  // namespace semper::ca
