// Detached SignedData from parts prepared once (see cms_signer.h).
#include "common/crypto/cms_signer.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/der.h"
#include "common/crypto/digest.h"
#include "common/crypto/ossl.h"

namespace semper {
namespace {

constexpr char kData[] = "1.2.840.113549.1.7.1";
constexpr char kContentType[] = "1.2.840.113549.1.9.3";
constexpr char kMessageDigest[] = "1.2.840.113549.1.9.4";
constexpr char kSigningTime[] = "1.2.840.113549.1.9.5";

absl::Status Malformed(std::string_view what) {
  return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                   StrCat("not a detached SignedData: ", what));
}

std::string Attribute(std::string_view oid, const std::string& value) {
  return der::Tlv(der::kSequence, der::Oid(oid) + der::Tlv(der::kSet, value));
}

// Encodings that never change, made once.
const std::string& SignedDataOid() {
  static const std::string* oid = new std::string(der::Oid("1.2.840.113549.1.7.2"));
  return *oid;
}
const std::string& ContentTypeData() {
  static const std::string* attribute = new std::string(Attribute(kContentType, der::Oid(kData)));
  return *attribute;
}
const std::string& SigningTimeOid() {
  static const std::string* oid = new std::string(der::Oid(kSigningTime));
  return *oid;
}
const std::string& MessageDigestOid() {
  static const std::string* oid = new std::string(der::Oid(kMessageDigest));
  return *oid;
}

// The parts of a ContentInfo holding SignedData.
}  // namespace

absl::StatusOr<SignedDataParts> CmsDissectSignedData(std::string_view der) {
  SignedDataParts p;
  std::string_view info = der::Contents(der);
  if (info.empty() || static_cast<unsigned char>(der[0]) != der::kSequence) return Malformed("no ContentInfo");
  p.content_type = der::Next(&info);
  std::string_view explicit_content = der::Next(&info);
  if (p.content_type != SignedDataOid() || explicit_content.empty() || !info.empty() ||
      static_cast<unsigned char>(explicit_content[0]) != der::Constructed(0)) {
    return Malformed("content type is not signedData");
  }
  std::string_view signed_data = der::Contents(explicit_content);
  if (signed_data.empty() || static_cast<unsigned char>(signed_data[0]) != der::kSequence)
    return Malformed("no SignedData");
  std::string_view fields = der::Contents(signed_data);
  p.version = der::Next(&fields);
  p.digest_algorithms = der::Next(&fields);
  p.encapsulated = der::Next(&fields);
  p.rest = fields;
  if (p.version.empty() || p.digest_algorithms.empty() || p.encapsulated.empty() || p.rest.empty()) {
    return Malformed("SignedData is incomplete");
  }
  return p;
}

namespace {

// RFC 5652 11.3: UTCTime for 1950-2049, GeneralizedTime otherwise; whole seconds.
std::string SigningTime(absl::Time t) {
  const absl::CivilSecond c = absl::ToCivilSecond(t, absl::UTCTimeZone());
  if (c.year() >= 1950 && c.year() < 2050) {
    return der::Tlv(0x17, absl::FormatTime("%y%m%d%H%M%SZ", t, absl::UTCTimeZone()));
  }
  return der::GeneralizedTime(absl::FromCivil(c, absl::UTCTimeZone()), 0);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CmsDetachedSigner>> CmsDetachedSigner::New(PrivateKey key, Certificate signer,
                                                                                std::vector<Certificate> chain) {
  // OpenSSL makes the reference structure; what does not change is taken from it.
  CmsSignOptions options;
  options.include_certificates = false;
  SEMPER_ASSIGN_OR_RETURN(std::string probe, CmsSignDetached("probe", key, signer, chain, options));
  SEMPER_ASSIGN_OR_RETURN(SignedDataParts parts, CmsDissectSignedData(probe));
  std::string_view infos = der::Contents(parts.rest);
  std::string_view info = der::Contents(der::Next(&infos));
  std::shared_ptr<CmsDetachedSigner> s(new CmsDetachedSigner());
  s->version_ = std::string(parts.version);
  s->digest_algorithms_ = std::string(parts.digest_algorithms);
  s->encapsulated_ = std::string(parts.encapsulated);
  s->signer_version_ = std::string(der::Next(&info));
  s->signer_id_ = std::string(der::Next(&info));
  s->digest_algorithm_ = std::string(der::Next(&info));
  std::string_view attributes = der::Next(&info);
  s->signature_algorithm_ = std::string(der::Next(&info));
  if (s->signature_algorithm_.empty() || attributes.empty() ||
      s->encapsulated_ != der::Tlv(der::kSequence, der::Oid(kData))) {
    return MakeError(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "unexpected SignedData from OpenSSL");
  }
  // [0] IMPLICIT SET OF, in DER's order (as OpenSSL writes it).
  std::vector<std::string> certs = {signer.Der()};
  for (const Certificate& c : chain) certs.push_back(c.Der());
  s->certificates_ = der::Tlv(der::Constructed(0), der::Contents(der::SetOf(std::move(certs))));

  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key.evp()) != 1) {
    return ossl::Error(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM, "the key cannot sign");
  }
  if (key.type() == KeyType::kRsa && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                                      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "PSS setup");
  }
  s->sign_template_ =
      std::shared_ptr<void>(ctx.release(), [](void* c) { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(c)); });
  return std::shared_ptr<const CmsDetachedSigner>(std::move(s));
}

absl::StatusOr<std::string> CmsDetachedSigner::SignAttributes(std::string_view attributes) const {
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(attributes.data());
  if (!ctx || EVP_MD_CTX_copy_ex(ctx.get(), static_cast<EVP_MD_CTX*>(sign_template_.get())) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data, attributes.size()) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "signing failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, attributes.size()) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "signing failed");
  }
  sig.resize(len);
  return sig;
}

std::string CmsDetachedSigner::Assemble(std::string_view signer_info, bool with_certificates) const {
  std::string signed_data = der::Tlv(
      der::kSequence, StrCat(version_, digest_algorithms_, encapsulated_,
                             with_certificates ? certificates_ : std::string(), der::Tlv(der::kSet, signer_info)));
  return der::Tlv(der::kSequence, SignedDataOid() + der::Tlv(der::Constructed(0), signed_data));
}

absl::StatusOr<CmsDetachedSigner::Signature> CmsDetachedSigner::Sign(std::string_view content,
                                                                     absl::Time signing_time) const {
  std::string attributes = der::SetOf(
      {ContentTypeData(), der::Tlv(der::kSequence, SigningTimeOid() + der::Tlv(der::kSet, SigningTime(signing_time))),
       der::Tlv(der::kSequence,
                MessageDigestOid() + der::Tlv(der::kSet, der::Tlv(der::kOctetString, Sha256(content))))});
  SEMPER_ASSIGN_OR_RETURN(std::string signature, SignAttributes(attributes));
  std::string signer_info =
      der::Tlv(der::kSequence, StrCat(signer_version_, signer_id_, digest_algorithm_,
                                      der::Tlv(der::Constructed(0), der::Contents(attributes)), signature_algorithm_,
                                      der::Tlv(der::kOctetString, signature)));
  return Signature{Assemble(signer_info, false), Assemble(signer_info, true)};
}

absl::StatusOr<std::string> CmsDetachedSigner::WithCertificates(std::string_view without_certificates) const {
  return CmsSpliceCertificates(without_certificates, certificates_);
}

absl::StatusOr<std::string> CmsSpliceCertificates(std::string_view signed_data_der, std::string_view certificates) {
  SEMPER_ASSIGN_OR_RETURN(SignedDataParts p, CmsDissectSignedData(signed_data_der));
  std::string_view rest = p.rest;
  std::string_view signer_infos = der::Next(&rest);
  if (signer_infos.empty() || !rest.empty() || static_cast<unsigned char>(signer_infos[0]) != der::kSet) {
    return Malformed("it already carries certificates or CRLs, or its signerInfos are damaged");
  }
  std::string rebuilt =
      der::Tlv(der::kSequence, StrCat(p.version, p.digest_algorithms, p.encapsulated, certificates, signer_infos));
  return der::Tlv(der::kSequence, StrCat(p.content_type, der::Tlv(der::Constructed(0), rebuilt)));
}

}  // namespace semper
