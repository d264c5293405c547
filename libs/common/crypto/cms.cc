// CMS SignedData and EnvelopedData through OpenSSL's CMS API.
#include "common/crypto/cms.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include <ctime>
#include <optional>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms_signer.h"
#include "common/crypto/der.h"
#include "common/crypto/digest.h"
#include "common/crypto/ossl.h"

namespace semper {
namespace {

const EVP_MD* DigestMd(HashAlgorithm algorithm) {
  switch (algorithm) {
    case HashAlgorithm::kSha256:
      return EVP_sha256();
    case HashAlgorithm::kSha384:
      return EVP_sha384();
    case HashAlgorithm::kSha512:
      return EVP_sha512();
  }
  return EVP_sha256();
}

absl::StatusOr<ossl::CmsPtr> ParseCms(std::string_view der, int expected_type_nid) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ossl::CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
  if (!cms || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return ossl::Error(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, "not a DER CMS ContentInfo");
  }
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != expected_type_nid) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                     StrCat("CMS content type is not ", OBJ_nid2ln(expected_type_nid)));
  }
  return cms;
}

// A DER ContentInfo holding SignedData, split into the same ContentInfo without the SignedData's
// certificates field and the encodings of those certificates. nullopt when `der` is not laid out
// so (BER lengths, certificate choices other than a certificate, anything unexpected): the
// caller then parses it whole.
struct SplitSignedData {
  std::string without_certificates;
  std::vector<std::string_view> certificates;
};
std::optional<SplitSignedData> SplitCertificates(std::string_view der) {
  auto tag_of = [](std::string_view tlv) { return tlv.empty() ? -1 : static_cast<unsigned char>(tlv[0]); };
  auto parts = CmsDissectSignedData(der);
  if (!parts.ok()) return std::nullopt;
  std::string_view rest = parts->rest;
  SplitSignedData out;
  if (tag_of(rest) == der::Constructed(0)) {
    std::string_view certificates = der::Contents(der::Next(&rest));
    if (certificates.empty()) return std::nullopt;
    while (!certificates.empty()) {
      std::string_view one = der::Next(&certificates);
      if (tag_of(one) != der::kSequence) return std::nullopt;
      out.certificates.push_back(one);
    }
  }
  // What follows must be what SignedData allows there (crls [1], signerInfos SET): a second [0]
  // would become the certificates of the rest, where the whole would not parse.
  if (tag_of(rest) != der::Constructed(1) && tag_of(rest) != der::kSet) return std::nullopt;
  // crls and signerInfos as they are
  std::string signed_data = StrCat(parts->version, parts->digest_algorithms, parts->encapsulated, rest);
  out.without_certificates =
      der::Tlv(der::kSequence,
               StrCat(parts->content_type, der::Tlv(der::Constructed(0), der::Tlv(der::kSequence, signed_data))));
  return out;
}

// ParseCms for SignedData with its embedded certificates parsed by Certificate::FromDer, which
// keeps them by their exact DER (d2i_CMS_ContentInfo decodes every embedded certificate's key
// through OpenSSL 3.0's decoder framework on every parse: ~100 us and global locks each, more
// than the signature's check): the same CMS_ContentInfo as parsing `der` whole (the same
// certificates in the same order), or that parse when the shortcut does not apply.
absl::StatusOr<ossl::CmsPtr> ParseSignedData(std::string_view der) {
  std::optional<SplitSignedData> split = SplitCertificates(der);
  if (split.has_value() && !split->certificates.empty()) {
    std::vector<Certificate> certificates;
    for (std::string_view c : split->certificates) {
      auto parsed = Certificate::FromDer(c);
      if (!parsed.ok()) break;
      certificates.push_back(*std::move(parsed));
    }
    auto cms = certificates.size() == split->certificates.size()
                   ? ParseCms(split->without_certificates, NID_pkcs7_signed)
                   : absl::StatusOr<ossl::CmsPtr>(absl::InternalError("a certificate does not parse"));
    bool added = cms.ok();
    // CMS_add1_cert refuses a certificate already present: a SignedData listing one twice is
    // parsed whole, as it always was.
    for (size_t i = 0; added && i < certificates.size(); ++i) {
      added = CMS_add1_cert(cms->get(), certificates[i].x509()) == 1;
    }
    ERR_clear_error();
    if (added) return cms;
  }
  return ParseCms(der, NID_pkcs7_signed);
}

std::optional<absl::Time> SigningTime(CMS_SignerInfo* si) {
  int idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
  if (idx < 0) return std::nullopt;
  ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, idx), 0);
  if (value == nullptr) return std::nullopt;
  const ASN1_TIME* t = nullptr;
  if (value->type == V_ASN1_UTCTIME) t = value->value.utctime;
  if (value->type == V_ASN1_GENERALIZEDTIME) t = value->value.generalizedtime;
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return absl::FromTimeT(timegm(&tm));
}

}  // namespace

absl::StatusOr<std::string> CmsSignDetached(std::string_view content, const PrivateKey& key, const Certificate& signer,
                                            const std::vector<Certificate>& chain, const CmsSignOptions& options) {
  if (X509_check_private_key(signer.x509(), key.evp()) != 1) {
    ossl::DrainErrors();
    return MakeError(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY,
                     "the signing key does not match the signer certificate");
  }
  if (key.type() == KeyType::kEd25519) {
    // RFC 8419 EdDSA in CMS arrived in OpenSSL 3.2; Debian 12 ships 3.0, whose CMS cannot do it.
    return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                     "CMS signatures with Ed25519 keys are not supported by this OpenSSL (3.0); "
                     "use an ECDSA P-256 or RSA key for documents");
  }
  const unsigned flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
  ossl::CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, flags));
  if (!cms) return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "CMS_sign");
  const EVP_MD* md = DigestMd(options.digest);
  CMS_SignerInfo* si = CMS_add1_signer(cms.get(), signer.x509(), key.evp(), md,
                                       flags | CMS_KEY_PARAM | (options.include_certificates ? 0 : CMS_NOCERTS));
  if (si == nullptr) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "CMS_add1_signer");
  }
  if (key.type() == KeyType::kRsa) {
    EVP_PKEY_CTX* pctx = CMS_SignerInfo_get0_pkey_ctx(si);
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
      return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "PSS setup");
    }
  }
  if (options.include_certificates) {
    for (const Certificate& c : chain) CMS_add1_cert(cms.get(), c.x509());
  }
  auto in = ossl::ReadBio(content);
  if (CMS_final(cms.get(), in.get(), nullptr, flags) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "CMS signing failed");
  }
  return ossl::ToDer(i2d_CMS_ContentInfo, cms.get());
}

absl::StatusOr<std::string> CmsAddCertificates(std::string_view cms_der, const std::vector<Certificate>& certs) {
  const auto* p = reinterpret_cast<const unsigned char*>(cms_der.data());
  ossl::CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(cms_der.size())));
  if (!cms) return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, "not a CMS structure");
  for (const Certificate& c : certs) {
    if (CMS_add1_cert(cms.get(), c.x509()) != 1) {
      return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "CMS_add1_cert");
    }
  }
  return ossl::ToDer(i2d_CMS_ContentInfo, cms.get());
}

namespace {

constexpr char kSignatureTimeStampOid[] = "1.2.840.113549.1.9.16.2.14";

absl::StatusOr<ossl::CmsPtr> SignedDataWithSigners(std::string_view cms_der) {
  SEMPER_ASSIGN_OR_RETURN(ossl::CmsPtr cms, ParseCms(cms_der, NID_pkcs7_signed));
  if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms.get())) < 1) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, "CMS SignedData has no signer");
  }
  return cms;
}

}  // namespace

namespace {

std::vector<std::string> ValueDigestsOf(CMS_ContentInfo* cms) {
  STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms);
  std::vector<std::string> out;
  for (int i = 0; i < sk_CMS_SignerInfo_num(infos); ++i) {
    const ASN1_OCTET_STRING* value = CMS_SignerInfo_get0_signature(sk_CMS_SignerInfo_value(infos, i));
    out.push_back(Sha256(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                                          static_cast<size_t>(ASN1_STRING_length(value)))));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> CmsSignatureValueDigests(std::string_view cms_der) {
  SEMPER_ASSIGN_OR_RETURN(ossl::CmsPtr cms, SignedDataWithSigners(cms_der));
  return ValueDigestsOf(cms.get());
}

absl::StatusOr<std::string> CmsAddSignatureTimeStamps(std::string_view cms_der,
                                                      const std::vector<std::string>& tokens) {
  SEMPER_ASSIGN_OR_RETURN(ossl::CmsPtr cms, SignedDataWithSigners(cms_der));
  STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms.get());
  if (tokens.size() != static_cast<size_t>(sk_CMS_SignerInfo_num(infos))) {
    return InvalidField("tokens", "one signature time-stamp per signer");
  }
  ossl::Asn1ObjectPtr oid(OBJ_txt2obj(kSignatureTimeStampOid, 1));
  for (size_t i = 0; i < tokens.size(); ++i) {
    // The attribute's value is the token itself (a ContentInfo SEQUENCE), written as it is.
    if (CMS_unsigned_add1_attr_by_OBJ(sk_CMS_SignerInfo_value(infos, static_cast<int>(i)), oid.get(), V_ASN1_SEQUENCE,
                                      tokens[i].data(), static_cast<int>(tokens[i].size())) != 1) {
      return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "adding a signature time-stamp");
    }
  }
  return ossl::ToDer(i2d_CMS_ContentInfo, cms.get());
}

namespace {

absl::StatusOr<std::vector<std::vector<std::string>>> TimeStampsOf(CMS_ContentInfo* cms) {
  STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms);
  ossl::Asn1ObjectPtr oid(OBJ_txt2obj(kSignatureTimeStampOid, 1));
  std::vector<std::vector<std::string>> out;
  for (int i = 0; i < sk_CMS_SignerInfo_num(infos); ++i) {
    CMS_SignerInfo* si = sk_CMS_SignerInfo_value(infos, i);
    std::vector<std::string>& tokens = out.emplace_back();
    for (int idx = CMS_unsigned_get_attr_by_OBJ(si, oid.get(), -1); idx >= 0;
         idx = CMS_unsigned_get_attr_by_OBJ(si, oid.get(), idx)) {
      X509_ATTRIBUTE* attr = CMS_unsigned_get_attr(si, idx);
      if (X509_ATTRIBUTE_count(attr) < 1) {
        return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                         "a signature time-stamp attribute without a token");
      }
      for (int v = 0; v < X509_ATTRIBUTE_count(attr); ++v) {
        ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attr, v);
        if (value == nullptr || value->type != V_ASN1_SEQUENCE) {
          return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                           "a signature time-stamp attribute that is not a token");
        }
        tokens.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value->value.sequence)),
                            static_cast<size_t>(ASN1_STRING_length(value->value.sequence)));
      }
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::vector<std::string>>> CmsSignatureTimeStamps(std::string_view cms_der) {
  SEMPER_ASSIGN_OR_RETURN(ossl::CmsPtr cms, SignedDataWithSigners(cms_der));
  return TimeStampsOf(cms.get());
}

namespace {

// Detached SignedData with at least one signer and SHA-2 digests only.
absl::StatusOr<ossl::CmsPtr> CheckedSignedData(std::string_view cms_der) {
  SEMPER_ASSIGN_OR_RETURN(ossl::CmsPtr cms, ParseSignedData(cms_der));
  ASN1_OCTET_STRING** econtent = CMS_get0_content(cms.get());
  if (econtent != nullptr && *econtent != nullptr) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                     "CMS signature is not detached: it embeds content");
  }
  STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms.get());
  if (sk_CMS_SignerInfo_num(infos) < 1) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, "CMS SignedData has no signer");
  }
  for (int i = 0; i < sk_CMS_SignerInfo_num(infos); ++i) {
    X509_ALGOR* dig = nullptr;
    CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(infos, i), nullptr, nullptr, &dig, nullptr);
    const ASN1_OBJECT* obj = nullptr;
    X509_ALGOR_get0(&obj, nullptr, nullptr, dig);
    int nid = OBJ_obj2nid(obj);
    if (nid != NID_sha256 && nid != NID_sha384 && nid != NID_sha512) {
      return MakeError(
          absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
          StrCat("CMS digest algorithm ", OBJ_nid2sn(nid), " is not accepted; use SHA-256, SHA-384 or SHA-512"));
    }
  }

  return cms;
}

// Every signer's certificate path through `trust` at `at` for `purpose`, with the embedded
// certificates as intermediates.
absl::StatusOr<std::vector<CmsSigner>> SignerPaths(CMS_ContentInfo* cms, const TrustStore& trust, absl::Time at,
                                                   KeyPurpose purpose) {
  STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms);
  ossl::X509StackPtr embedded(CMS_get1_certs(cms));
  std::vector<Certificate> intermediates;
  for (int i = 0; i < sk_X509_num(embedded.get()); ++i) {
    intermediates.push_back(Certificate::FromX509(sk_X509_value(embedded.get(), i)));
  }
  std::vector<CmsSigner> signers;
  for (int i = 0; i < sk_CMS_SignerInfo_num(infos); ++i) {
    CMS_SignerInfo* si = sk_CMS_SignerInfo_value(infos, i);
    X509* signer_x509 = nullptr;
    CMS_SignerInfo_get0_algs(si, nullptr, &signer_x509, nullptr, nullptr);
    if (signer_x509 == nullptr) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                       "CMS signer certificate is not included");
    }
    Certificate cert = Certificate::FromX509(signer_x509);
    SEMPER_ASSIGN_OR_RETURN(auto path, trust.VerifyPath(cert, intermediates, at, purpose));
    signers.push_back(CmsSigner{cert, std::move(path), SigningTime(si)});
  }
  return signers;
}

}  // namespace

namespace {

// CmsVerifyDetached's checks on a SignedData that CheckedSignedData accepted.
absl::StatusOr<std::vector<CmsSigner>> VerifyDetached(CMS_ContentInfo* cms, std::string_view content,
                                                      const TrustStore& trust, absl::Time at, KeyPurpose purpose) {
  // Signatures first (CMS_verify), paths after, each at the caller's time and purpose.
  ossl::X509StorePtr unused_store(X509_STORE_new());
  // The content behind a buffering filter, not as a memory BIO: for a memory BIO, OpenSSL 3.0's
  // CMS_verify makes its own copy and leaks it when the SignedData names a digest it does not
  // know (found by fuzz_cms; a remote client could repeat that at will).
  auto data = ossl::ReadBio(content);
  ossl::BioPtr buffered(BIO_new(BIO_f_buffer()));
  if (!buffered) return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "BIO_new");
  BIO_push(buffered.get(), data.release());
  if (CMS_verify(cms, nullptr, unused_store.get(), buffered.get(), nullptr, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) !=
      1) {
    return ossl::Error(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                       "CMS signature does not verify over the given content");
  }
  return SignerPaths(cms, trust, at, purpose);
}

}  // namespace

absl::StatusOr<std::vector<CmsSigner>> CmsVerifyDetached(std::string_view cms_der, std::string_view content,
                                                         const TrustStore& trust, absl::Time at, KeyPurpose purpose) {
  SEMPER_ASSIGN_OR_RETURN(ossl::CmsPtr cms, CheckedSignedData(cms_der));
  return VerifyDetached(cms.get(), content, trust, at, purpose);
}

absl::StatusOr<CmsVerifiedSignature> CmsVerifyDetachedWithTimeStamps(std::string_view cms_der, std::string_view content,
                                                                     const TrustStore& trust, absl::Time at,
                                                                     KeyPurpose purpose) {
  SEMPER_ASSIGN_OR_RETURN(ossl::CmsPtr cms, CheckedSignedData(cms_der));
  CmsVerifiedSignature out;
  SEMPER_ASSIGN_OR_RETURN(out.signers, VerifyDetached(cms.get(), content, trust, at, purpose));
  out.value_digests = ValueDigestsOf(cms.get());
  SEMPER_ASSIGN_OR_RETURN(out.time_stamps, TimeStampsOf(cms.get()));
  return out;
}

absl::StatusOr<std::vector<CmsSigner>> CmsVerifyDetachedDigest(std::string_view cms_der, HashAlgorithm algorithm,
                                                               std::string_view digest, const TrustStore& trust,
                                                               absl::Time at, KeyPurpose purpose) {
  SEMPER_ASSIGN_OR_RETURN(ossl::CmsPtr cms, CheckedSignedData(cms_der));
  STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms.get());
  ossl::X509StackPtr embedded(CMS_get1_certs(cms.get()));
  if (CMS_set1_signers_certs(cms.get(), embedded.get(), 0) < 0) {
    return ossl::Error(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                       "CMS signer certificate is not included");
  }
  for (int i = 0; i < sk_CMS_SignerInfo_num(infos); ++i) {
    CMS_SignerInfo* si = sk_CMS_SignerInfo_value(infos, i);
    X509_ALGOR* dig = nullptr;
    CMS_SignerInfo_get0_algs(si, nullptr, nullptr, &dig, nullptr);
    const ASN1_OBJECT* obj = nullptr;
    X509_ALGOR_get0(&obj, nullptr, nullptr, dig);
    if (OBJ_obj2nid(obj) != EVP_MD_get_type(DigestMd(algorithm))) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                       StrCat("the signature uses another digest than ", HashName(algorithm)));
    }
    // Without the content, only the signed attributes can be checked: their messageDigest must be
    // the digest given, and the signature must cover them.
    ASN1_OCTET_STRING* md = static_cast<ASN1_OCTET_STRING*>(
        CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest), -3, V_ASN1_OCTET_STRING));
    if (md == nullptr || std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(md)),
                                          static_cast<size_t>(ASN1_STRING_length(md))) != digest) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                       "the signature is not over data with this digest");
    }
    if (CMS_SignerInfo_verify(si) != 1) {
      return ossl::Error(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID, "CMS signature does not verify");
    }
  }
  return SignerPaths(cms.get(), trust, at, purpose);
}

absl::StatusOr<std::string> CmsEncrypt(std::string_view plaintext, const std::vector<Certificate>& recipients) {
  if (recipients.empty()) return InvalidField("recipients", "at least one recipient is needed");
  const unsigned flags = CMS_BINARY | CMS_PARTIAL;
  auto in = ossl::ReadBio(plaintext);
  ossl::CmsPtr cms(CMS_encrypt(nullptr, in.get(), EVP_aes_256_cbc(), flags));
  if (!cms) return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "CMS_encrypt");
  for (const Certificate& r : recipients) {
    SEMPER_ASSIGN_OR_RETURN(PublicKey key, r.public_key());
    if (key.type() == KeyType::kEd25519) {
      return MakeError(
          absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
          StrCat("recipient \"", r.Subject(), "\" has an Ed25519 key, which cannot receive encrypted data"));
    }
    CMS_RecipientInfo* ri = CMS_add1_recipient_cert(cms.get(), r.x509(), flags | CMS_KEY_PARAM);
    if (ri == nullptr) {
      return ossl::Error(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                         StrCat("cannot encrypt to \"", r.Subject(), "\""));
    }
    if (key.type() == KeyType::kRsa) {
      EVP_PKEY_CTX* pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
      if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) != 1) {
        return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "OAEP setup");
      }
    }
  }
  if (CMS_final(cms.get(), in.get(), nullptr, flags) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "CMS encryption failed");
  }
  return ossl::ToDer(i2d_CMS_ContentInfo, cms.get());
}

absl::StatusOr<bool> CmsEnvelopedFor(std::string_view enveloped_der, const Certificate& cert) {
  SEMPER_ASSIGN_OR_RETURN(ossl::CmsPtr cms, ParseCms(enveloped_der, NID_pkcs7_enveloped));
  STACK_OF(CMS_RecipientInfo)* infos = CMS_get0_RecipientInfos(cms.get());
  bool named = false;
  for (int i = 0; infos != nullptr && i < sk_CMS_RecipientInfo_num(infos); ++i) {
    CMS_RecipientInfo* ri = sk_CMS_RecipientInfo_value(infos, i);
    switch (CMS_RecipientInfo_type(ri)) {
      case CMS_RECIPINFO_TRANS:
        named |= CMS_RecipientInfo_ktri_cert_cmp(ri, cert.x509()) == 0;
        break;
      case CMS_RECIPINFO_AGREE: {
        STACK_OF(CMS_RecipientEncryptedKey)* keys = CMS_RecipientInfo_kari_get0_reks(ri);
        for (int k = 0; keys != nullptr && k < sk_CMS_RecipientEncryptedKey_num(keys); ++k) {
          named |= CMS_RecipientEncryptedKey_cert_cmp(sk_CMS_RecipientEncryptedKey_value(keys, k), cert.x509()) == 0;
        }
        break;
      }
      default:
        break;
    }
  }
  ossl::DrainErrors();
  return named;
}

absl::StatusOr<std::string> CmsDecrypt(std::string_view enveloped_der, const PrivateKey& key, const Certificate& cert) {
  if (X509_check_private_key(cert.x509(), key.evp()) != 1) {
    ossl::DrainErrors();
    return MakeError(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY,
                     "the decryption key does not match the recipient certificate");
  }
  SEMPER_ASSIGN_OR_RETURN(ossl::CmsPtr cms, ParseCms(enveloped_der, NID_pkcs7_enveloped));
  // OpenSSL gets a copy of the key for this call alone, so that nothing it leaves in the key while
  // parsing a party's EnvelopedData outlives the call: fuzz_container found a heap corruption that
  // only the decryption path reached (reproduced twice in ~2M inputs with the shared key, none in
  // ~5M with a copy). A key that cannot be copied (a PKCS#11 token's) is used as it is.
  ossl::EvpPkeyPtr own(EVP_PKEY_dup(key.evp()));
  ossl::DrainErrors();
  EVP_PKEY* use = own ? own.get() : key.evp();
  auto out = ossl::WriteBio();
  if (CMS_decrypt(cms.get(), use, cert.x509(), nullptr, out.get(), CMS_BINARY) != 1) {
    ossl::DrainErrors();
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::DECRYPTION_FAILED,
                     "cannot decrypt: not addressed to this certificate, or damaged");
  }
  return ossl::BioContents(out.get());
}

}  // namespace semper
