// PKCS#10 through OpenSSL's X509_REQ.
#include "common/crypto/csr.h"

#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/ossl.h"

namespace semper {

using ReqPtr = std::unique_ptr<X509_REQ, ossl::FnDeleter<X509_REQ_free>>;

absl::StatusOr<CertificationRequest> CertificationRequest::Checked(X509_REQ* owned) {
  std::shared_ptr<X509_REQ> req(owned, X509_REQ_free);
  EVP_PKEY* pkey = X509_REQ_get0_pubkey(req.get());
  if (pkey == nullptr) {
    return ossl::Error(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                       "certification request has no usable public key");
  }
  SEMPER_ASSIGN_OR_RETURN(PublicKey key, PublicKey::FromEvp(pkey));
  if (X509_REQ_verify(req.get(), pkey) != 1) {
    ossl::DrainErrors();
    return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                     "the certification request's self-signature does not verify");
  }
  return CertificationRequest(std::move(req), std::move(key));
}

absl::StatusOr<CertificationRequest> CertificationRequest::FromDer(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!req || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return ossl::Error(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                       "not a DER PKCS#10 certification request");
  }
  return Checked(req.release());
}

absl::StatusOr<CertificationRequest> CertificationRequest::FromPem(std::string_view pem) {
  auto bio = ossl::ReadBio(pem);
  ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) {
    return ossl::Error(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                       "not a PEM certification request");
  }
  return Checked(req.release());
}

absl::StatusOr<CertificationRequest> CertificationRequest::Create(
    const PrivateKey& key, const std::vector<std::pair<std::string, std::string>>& subject) {
  ReqPtr req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  for (const auto& [field, value] : subject) {
    if (X509_NAME_add_entry_by_txt(name, field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0) != 1) {
      ossl::DrainErrors();
      return InvalidField(StrCat("subject.", field), "unknown attribute or invalid value");
    }
  }
  X509_REQ_set_pubkey(req.get(), key.evp());
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = key.type() == KeyType::kEd25519 ? nullptr : EVP_sha256();
  if (EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key.evp()) != 1 ||
      (key.type() == KeyType::kRsa && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                                       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) ||
      X509_REQ_sign_ctx(req.get(), ctx.get()) <= 0) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "signing the request failed");
  }
  return Checked(req.release());
}

std::string CertificationRequest::SpkiDer() const {
  return ossl::ToDer(i2d_X509_PUBKEY, X509_REQ_get_X509_PUBKEY(req_.get()));
}

std::string CertificationRequest::Der() const { return ossl::ToDer(i2d_X509_REQ, req_.get()); }

std::string CertificationRequest::Pem() const {
  auto bio = ossl::WriteBio();
  PEM_write_bio_X509_REQ(bio.get(), req_.get());
  return ossl::BioContents(bio.get());
}

std::string CertificationRequest::Subject() const {
  return ossl::NameToString(X509_REQ_get_subject_name(req_.get()));
}

std::optional<std::string> CertificationRequest::SubjectAttribute(std::string_view oid_or_name) const {
  std::vector<std::string> values = ossl::NameAttributes(X509_REQ_get_subject_name(req_.get()), oid_or_name);
  if (values.empty()) return std::nullopt;
  return values.front();
}

}  // namespace semper
