// The notary's attestation of a signed document.
#include "services/notary/attest.h"

#include "common/base/proto_json.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "services/notary/limits.h"
#include "services/notary/service.h"

namespace semper::notary {

void Attestations::Certify(const v1::CertifyDocumentRequest& req, Done done, std::string* signer_subject) const {
  const bool hash_only = req.document().empty();
  if (hash_only && req.document_sha256().size() != 32) {
    return done(InvalidField("document", "is required, or its 32-byte SHA-256 in document_sha256"));
  }
  if (!hash_only && !req.document_sha256().empty()) {
    return done(InvalidField("document_sha256", "give the document or its hash, not both"));
  }
  if (req.document().size() > d_.max_document_bytes) {
    return done(InvalidField("document", StrCat("must be at most ", d_.max_document_bytes, " bytes")));
  }
  if (req.signature().empty()) return done(InvalidField("signature", "must be a detached CMS signature"));
  if (absl::Status s = CheckSize("signature", req.signature(), kMaxSignatureBytes); !s.ok()) return done(s);
  const absl::Time now = d_.clock();
  const std::string digest = hash_only ? req.document_sha256() : Sha256(req.document());
  auto signers = hash_only
                     ? CmsVerifyDetachedDigest(req.signature(), HashAlgorithm::kSha256, digest, *d_.trust, now,
                                               KeyPurpose::kNonRepudiation)
                     : CmsVerifyDetached(req.signature(), req.document(), *d_.trust, now, KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return done(FieldError("signature", signers.status()));
  if (signers->size() != 1) return done(InvalidField("signature", "must have exactly one signer"));
  const Certificate& signer = signers->front().certificate;

  // The signer's certificate as semper-ca sees it now, and a time-stamp over the document.
  if (absl::Status status = d_.check_status(signer); !status.ok()) return done(status);
  absl::Time gen_time;
  auto token = d_.time_stamp(digest, &gen_time);
  if (!token.ok()) return done(token.status());

  v1::AttestationStatement st;
  st.set_type("semper-notarial-attestation");
  st.set_document_sha256(digest);
  st.set_document_size(req.document().size());
  st.set_signer_subject(signer.Subject());
  st.set_signer_certificate_serial(signer.SerialHex());
  st.set_signer_issuer(signer.Issuer());
  st.set_signer_certificate_sha256(Sha256(signer.Der()));
  st.add_verified("cms-signature");
  st.add_verified("certificate-path");
  st.add_verified("certificate-status-good");
  st.set_certificate_status("good");
  *st.mutable_status_checked_at() = ToTimestamp(now);
  st.set_time_stamp_token(*token);
  *st.mutable_time_stamped_at() = ToTimestamp(gen_time);
  st.set_document_signature(req.signature());
  st.set_hash_only(hash_only);
  st.set_nonce(RandomBytes(16));
  std::string json = StatementJson(st);
  auto signature = d_.signer->Sign(json);
  if (!signature.ok()) return done(signature.status());
  if (signer_subject != nullptr) *signer_subject = signer.Subject();
  d_.log->Append({"attestation", std::move(json), *std::move(signature)}, std::move(done));
}

}  // namespace semper::notary
