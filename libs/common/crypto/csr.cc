// PKCS#10 parsed with our own ASN.1 templates rather than X509_REQ: OpenSSL 3.0 decodes the key
// inside d2i_X509_REQ through its generic decoder (about 100 µs per request, most of a CA's
// cost of issuing); here the key is built by PublicKey::FromSpki and the self-signature checked
// over the request info exactly as received.
#include "common/crypto/csr.h"

#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/ossl.h"

namespace semper {
namespace {

using ossl::SpkiParts;
using ossl::SpkiParts_it;

// CertificationRequestInfo, keeping its received encoding for the signature check.
struct RequestInfo {
  ASN1_ENCODING enc;
  ASN1_INTEGER* version;
  X509_NAME* subject;
  SpkiParts* spki;
  STACK_OF(X509_ATTRIBUTE) * attributes;
};

struct Request {
  RequestInfo* info;
  X509_ALGOR* signature_algorithm;
  ASN1_BIT_STRING* signature;
};

ASN1_SEQUENCE_enc(RequestInfo, enc, 0) =
    {
        ASN1_SIMPLE(RequestInfo, version, ASN1_INTEGER),
        ASN1_SIMPLE(RequestInfo, subject, X509_NAME),
        ASN1_SIMPLE(RequestInfo, spki, SpkiParts),
        ASN1_IMP_SET_OF(RequestInfo, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END_ref(RequestInfo, RequestInfo)

        ASN1_SEQUENCE(Request) =
            {
                ASN1_SIMPLE(Request, info, RequestInfo),
                ASN1_SIMPLE(Request, signature_algorithm, X509_ALGOR),
                ASN1_SIMPLE(Request, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(Request)

                void FreeRequest(Request * r) {
  ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(r), ASN1_ITEM_rptr(Request));
}
using RequestPtr = std::unique_ptr<Request, ossl::FnDeleter<FreeRequest>>;
using ReqPtr = std::unique_ptr<X509_REQ, ossl::FnDeleter<X509_REQ_free>>;

absl::Status Malformed(std::string_view what) {
  return ossl::Error(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, what);
}

absl::Status WeakHash(std::string_view what) {
  return MakeError(
      absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
      StrCat("the certification request is signed with ", what, "; sign it with SHA-256, SHA-384, SHA-512 or Ed25519"));
}

bool StrongDigest(int nid) { return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512; }

// The self-signature's algorithm: SHA-1 (and anything older) lets a request be reused under a
// colliding one, so only the SHA-2 family and Ed25519 are accepted; RSA-PSS names its hash in
// parameters, where an absent hash means SHA-1.
absl::Status CheckSignatureAlgorithm(const X509_ALGOR* algor) {
  const ASN1_OBJECT* oid = nullptr;
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  X509_ALGOR_get0(&oid, &param_type, &param, algor);
  const int nid = OBJ_obj2nid(oid);
  if (nid == NID_ED25519) return absl::OkStatus();
  if (nid == NID_rsassaPss) {
    if (param_type != V_ASN1_SEQUENCE) return WeakHash("RSA-PSS without parameters (SHA-1)");
    const auto* seq = static_cast<const ASN1_STRING*>(param);
    const unsigned char* p = ASN1_STRING_get0_data(seq);
    std::unique_ptr<RSA_PSS_PARAMS, ossl::FnDeleter<RSA_PSS_PARAMS_free>> pss(
        d2i_RSA_PSS_PARAMS(nullptr, &p, ASN1_STRING_length(seq)));
    if (!pss) {
      ossl::DrainErrors();
      return Malformed("certification request has unreadable RSA-PSS parameters");
    }
    auto digest_of = [](const X509_ALGOR* a) {
      if (a == nullptr) return NID_sha1;
      const ASN1_OBJECT* o = nullptr;
      X509_ALGOR_get0(&o, nullptr, nullptr, a);
      return OBJ_obj2nid(o);
    };
    if (!StrongDigest(digest_of(pss->hashAlgorithm))) return WeakHash("RSA-PSS over SHA-1 or an unknown hash");
    // The mask generation: MGF1 over SHA-1 when absent (the DER default).
    int mgf_hash = NID_sha1;
    if (pss->maskGenAlgorithm != nullptr) {
      const ASN1_OBJECT* mgf = nullptr;
      int mgf_param_type = V_ASN1_UNDEF;
      const void* mgf_param = nullptr;
      X509_ALGOR_get0(&mgf, &mgf_param_type, &mgf_param, pss->maskGenAlgorithm);
      mgf_hash = NID_undef;
      if (OBJ_obj2nid(mgf) == NID_mgf1 && mgf_param_type == V_ASN1_SEQUENCE) {
        const auto* mseq = static_cast<const ASN1_STRING*>(mgf_param);
        const unsigned char* mp = ASN1_STRING_get0_data(mseq);
        std::unique_ptr<X509_ALGOR, ossl::FnDeleter<X509_ALGOR_free>> hash(
            d2i_X509_ALGOR(nullptr, &mp, ASN1_STRING_length(mseq)));
        if (hash) mgf_hash = digest_of(hash.get());
      }
    }
    if (!StrongDigest(mgf_hash)) return WeakHash("RSA-PSS with MGF1 over SHA-1 or an unknown mask generation");
    return absl::OkStatus();
  }
  int md = NID_undef, pk = NID_undef;
  if (OBJ_find_sigid_algs(nid, &md, &pk) != 1) return WeakHash("an unknown signature algorithm");
  if (!StrongDigest(md)) return WeakHash(md == NID_sha1 ? "SHA-1" : StrCat(OBJ_nid2sn(md)));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CertificationRequest> CertificationRequest::FromDer(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  RequestPtr req(
      reinterpret_cast<Request*>(ASN1_item_d2i(nullptr, &p, static_cast<long>(der.size()), ASN1_ITEM_rptr(Request))));
  if (!req || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return Malformed("not a DER PKCS#10 certification request");
  }
  if (ASN1_INTEGER_get(req->info->version) != 0) return Malformed("certification request version is not 1");
  auto key = PublicKey::FromSpki(req->info->spki->algor, req->info->spki->key);
  if (!key.ok()) {
    if (ReasonOf(key.status()) == v1::UNSUPPORTED_ALGORITHM || ReasonOf(key.status()) == v1::WEAK_KEY) {
      return key.status();
    }
    return Malformed("certification request has no usable public key");
  }
  SEMPER_RETURN_IF_ERROR(CheckSignatureAlgorithm(req->signature_algorithm));
  if (ASN1_item_verify(ASN1_ITEM_rptr(RequestInfo), req->signature_algorithm, req->signature, req->info, key->evp()) !=
      1) {
    ossl::DrainErrors();
    return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                     "the certification request's self-signature does not verify");
  }
  // Only now the costly checks (an RSA modulus's factors): a request whose signature does not
  // verify costs no more than the verification.
  SEMPER_RETURN_IF_ERROR(CheckKeyForCertification(*key));
  // What gets certified is the key's canonical form (a compressed P-256 point uncompressed, RSA as
  // rsaEncryption), so that "the same key" is the same bytes in every certificate and hash.
  std::string canonical = key->CanonicalDer();
  const auto* cp = reinterpret_cast<const unsigned char*>(canonical.data());
  ossl::SpkiPartsPtr parts(reinterpret_cast<ossl::SpkiParts*>(
      ASN1_item_d2i(nullptr, &cp, static_cast<long>(canonical.size()), ossl::SpkiParts_it())));
  if (!parts) return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "canonical key encoding");
  std::shared_ptr<X509_PUBKEY> spki(X509_PUBKEY_new(), X509_PUBKEY_free);
  SEMPER_RETURN_IF_ERROR(
      ossl::SetSpki(spki.get(), parts->algor, ASN1_STRING_get0_data(parts->key), ASN1_STRING_length(parts->key)));
  std::shared_ptr<X509_NAME> subject(req->info->subject, X509_NAME_free);
  req->info->subject = nullptr;
  return CertificationRequest(std::string(der), std::move(subject), std::move(spki), *std::move(key));
}

absl::StatusOr<CertificationRequest> CertificationRequest::FromPem(std::string_view pem) {
  auto bio = ossl::ReadBio(pem);
  ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return Malformed("not a PEM certification request");
  return FromDer(ossl::ToDer(i2d_X509_REQ, req.get()));
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
  return FromDer(ossl::ToDer(i2d_X509_REQ, req.get()));
}

std::string CertificationRequest::SpkiDer() const { return ossl::ToDer(i2d_X509_PUBKEY, spki_.get()); }

std::string CertificationRequest::Der() const { return der_; }

std::string CertificationRequest::Pem() const {
  auto bio = ossl::WriteBio();
  PEM_write_bio(bio.get(), "CERTIFICATE REQUEST", "", reinterpret_cast<const unsigned char*>(der_.data()),
                static_cast<long>(der_.size()));
  return ossl::BioContents(bio.get());
}

std::string CertificationRequest::Subject() const { return ossl::NameToString(subject_.get()); }

std::optional<std::string> CertificationRequest::SubjectAttribute(std::string_view oid_or_name) const {
  std::vector<std::string> values = ossl::NameAttributes(subject_.get(), oid_or_name);
  if (values.empty()) return std::nullopt;
  return values.front();
}

}  // namespace semper
