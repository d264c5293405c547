// RFC 3161 client side through OpenSSL's TS API.
#include "common/crypto/timestamp.h"

#include <openssl/ess.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>

#include <vector>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/ossl.h"

namespace semper {
namespace {

using TsReqPtr = std::unique_ptr<TS_REQ, ossl::FnDeleter<TS_REQ_free>>;
using TsRespPtr = std::unique_ptr<TS_RESP, ossl::FnDeleter<TS_RESP_free>>;
using Pkcs7Ptr = std::unique_ptr<PKCS7, ossl::FnDeleter<PKCS7_free>>;
using TstInfoPtr = std::unique_ptr<TS_TST_INFO, ossl::FnDeleter<TS_TST_INFO_free>>;
using VerifyCtxPtr = std::unique_ptr<TS_VERIFY_CTX, ossl::FnDeleter<TS_VERIFY_CTX_free>>;

absl::Status Malformed(std::string_view what) {
  return ossl::Error(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, what);
}

int NidOf(HashAlgorithm a) {
  switch (a) {
    case HashAlgorithm::kSha256:
      return NID_sha256;
    case HashAlgorithm::kSha384:
      return NID_sha384;
    case HashAlgorithm::kSha512:
      return NID_sha512;
  }
  return NID_undef;
}

std::string Text(const ASN1_STRING* s) {
  return s == nullptr ? ""
                      : std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                    static_cast<size_t>(ASN1_STRING_length(s)));
}

std::string SerialText(const ASN1_INTEGER* serial) {
  ossl::BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  // BN_bn2hex pads to whole bytes; serials are shown without leading zeros.
  size_t nz = out.find_first_not_of('0');
  return nz == std::string::npos ? "0" : out.substr(nz);
}

absl::StatusOr<std::string> TokenBytes(std::string_view der);

// One parse when `der` is a token (the common case); a response is unwrapped first.
// A token is SignedData whose encapsulated content is present and is a TSTInfo, carried as an
// OCTET STRING. Checked before anything reads the content: OpenSSL's PKCS7_to_TS_TST_INFO (also
// inside TS_RESP_verify_token) dereferences a missing content (issue "Trust under attack (2 of
// 2)", finding 4: such a token in dispute evidence crashed semper-arbiter at every restart).
absl::Status CheckTokenShape(PKCS7* p7) {
  if (!PKCS7_type_is_signed(p7) || p7->d.sign == nullptr || p7->d.sign->contents == nullptr) {
    return Malformed("not a time-stamp token: not SignedData");
  }
  PKCS7* content = p7->d.sign->contents;
  if (content->type == nullptr || OBJ_obj2nid(content->type) != NID_id_smime_ct_TSTInfo) {
    return Malformed("not a time-stamp token: the signed content is not a TSTInfo");
  }
  if (content->d.other == nullptr || content->d.other->type != V_ASN1_OCTET_STRING ||
      content->d.other->value.octet_string == nullptr) {
    return Malformed("not a time-stamp token: the TSTInfo is missing");
  }
  return absl::OkStatus();
}

absl::StatusOr<Pkcs7Ptr> ParseToken(std::string_view der) {
  {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    Pkcs7Ptr p7(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
    if (p7 && p == reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
      SEMPER_RETURN_IF_ERROR(CheckTokenShape(p7.get()));
      return p7;
    }
    ossl::DrainErrors();
  }
  SEMPER_ASSIGN_OR_RETURN(std::string token, TokenBytes(der));
  const auto* p = reinterpret_cast<const unsigned char*>(token.data());
  Pkcs7Ptr p7(d2i_PKCS7(nullptr, &p, static_cast<long>(token.size())));
  if (!p7) return Malformed("not a time-stamp token");
  SEMPER_RETURN_IF_ERROR(CheckTokenShape(p7.get()));
  return p7;
}

TimeStampInfo InfoOf(TS_TST_INFO* tst) {
  TimeStampInfo info;
  info.serial_hex = SerialText(TS_TST_INFO_get_serial(tst));
  const ASN1_GENERALIZEDTIME* t = TS_TST_INFO_get_time(tst);
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) == 1) {
    info.gen_time = absl::FromTM(tm, absl::UTCTimeZone());
    // ASN1_TIME_to_tm drops the fraction: read it from the text (YYYYMMDDHHMMSS.fffZ).
    std::string text = Text(t);
    size_t dot = text.find('.');
    if (dot != std::string::npos) {
      int64_t micros = 0, scale = 100000;
      for (size_t i = dot + 1; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && scale > 0; ++i) {
        micros += (text[i] - '0') * scale;
        scale /= 10;
      }
      info.gen_time += absl::Microseconds(micros);
    }
  }
  char oid[128];
  int n = OBJ_obj2txt(oid, sizeof oid, TS_TST_INFO_get_policy_id(tst), 1);
  if (n > 0) info.policy.assign(oid, static_cast<size_t>(std::min<int>(n, sizeof oid - 1)));
  TS_MSG_IMPRINT* imprint = TS_TST_INFO_get_msg_imprint(tst);
  int nid = OBJ_obj2nid(TS_MSG_IMPRINT_get_algo(imprint)->algorithm);
  info.hash_algorithm = nid == NID_sha256   ? "sha256"
                        : nid == NID_sha384 ? "sha384"
                        : nid == NID_sha512 ? "sha512"
                                            : OBJ_nid2sn(nid);
  info.imprint = Text(TS_MSG_IMPRINT_get_msg(imprint));
  const GENERAL_NAME* tsa = TS_TST_INFO_get_tsa(tst);
  if (tsa != nullptr && tsa->type == GEN_DIRNAME) info.tsa_name = ossl::NameToString(tsa->d.directoryName);
  return info;
}

absl::Status Invalid(std::string_view what) {
  return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                   StrCat("the time-stamp token does not verify: ", what));
}

// What TS_RESP_verify_token checks, for an Ed25519 signer (RFC 8419), which OpenSSL 3.0's PKCS#7
// code cannot verify (it has no one-shot signatures): the TSA certificate's path to the roots for
// time-stamping, the ESSCertIDv2 binding, contentType, the SHA-512 messageDigest of the TSTInfo,
// the signature over the signed attributes, and the TSTInfo's version and imprint.
absl::Status VerifyEd25519Token(PKCS7* p7, PKCS7_SIGNER_INFO* si, std::string_view digest,
                                const std::vector<Certificate>& roots, const std::vector<Certificate>& untrusted,
                                std::optional<absl::Time> path_at) {
  X509_ALGOR* digest_alg = nullptr;
  PKCS7_SIGNER_INFO_get0_algs(si, nullptr, &digest_alg, nullptr);
  if (digest_alg == nullptr || OBJ_obj2nid(digest_alg->algorithm) != NID_sha512) {
    return Invalid("an Ed25519 signer must use SHA-512 (RFC 8419)");
  }
  ossl::X509StackPtr pool(sk_X509_new_null());
  STACK_OF(X509)* carried = p7->d.sign->cert;
  for (int i = 0; i < sk_X509_num(carried); ++i) {
    X509_up_ref(sk_X509_value(carried, i));
    sk_X509_push(pool.get(), sk_X509_value(carried, i));
  }
  for (const Certificate& c : untrusted) {
    X509_up_ref(c.x509());
    sk_X509_push(pool.get(), c.x509());
  }
  X509* signer = nullptr;
  for (int i = 0; i < sk_X509_num(pool.get()) && signer == nullptr; ++i) {
    X509* c = sk_X509_value(pool.get(), i);
    if (X509_NAME_cmp(X509_get_issuer_name(c), si->issuer_and_serial->issuer) == 0 &&
        ASN1_INTEGER_cmp(X509_get0_serialNumber(c), si->issuer_and_serial->serial) == 0) {
      signer = c;
    }
  }
  if (signer == nullptr) return Invalid("the TSA certificate is neither in the token nor given");
  ossl::X509StorePtr store(X509_STORE_new());
  for (const Certificate& r : roots) X509_STORE_add_cert(store.get(), r.x509());
  ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (X509_STORE_CTX_init(ctx.get(), store.get(), signer, pool.get()) != 1) return Invalid("chain");
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_TIMESTAMP_SIGN);
  if (path_at.has_value()) X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(*path_at));
  if (X509_verify_cert(ctx.get()) != 1) {
    return Invalid(X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
  }
  ossl::X509StackPtr chain(X509_STORE_CTX_get1_chain(ctx.get()));
  ASN1_TYPE* ess_attr = PKCS7_get_signed_attribute(si, NID_id_smime_aa_signingCertificateV2);
  if (ess_attr == nullptr || ess_attr->type != V_ASN1_SEQUENCE) return Invalid("no signingCertificateV2 attribute");
  const unsigned char* p = ess_attr->value.sequence->data;
  std::unique_ptr<ESS_SIGNING_CERT_V2, ossl::FnDeleter<ESS_SIGNING_CERT_V2_free>> ess(
      d2i_ESS_SIGNING_CERT_V2(nullptr, &p, ess_attr->value.sequence->length));
  if (!ess || OSSL_ESS_check_signing_certs(nullptr, ess.get(), chain.get(), 1) <= 0) {
    ossl::DrainErrors();
    return Invalid("signingCertificateV2 does not name the signer");
  }
  ASN1_TYPE* content_type = PKCS7_get_signed_attribute(si, NID_pkcs9_contentType);
  if (content_type == nullptr || content_type->type != V_ASN1_OBJECT ||
      OBJ_obj2nid(content_type->value.object) != NID_id_smime_ct_TSTInfo) {
    return Invalid("contentType is not TSTInfo");
  }
  ASN1_TYPE* other = p7->d.sign->contents->d.other;
  if (other == nullptr || other->type != V_ASN1_OCTET_STRING) return Invalid("no TSTInfo");
  std::string tst_der = Text(other->value.octet_string);
  ASN1_OCTET_STRING* message_digest = PKCS7_digest_from_attributes(si->auth_attr);
  if (message_digest == nullptr || Text(message_digest) != ComputeDigest(HashAlgorithm::kSha512, tst_der)) {
    return Invalid("messageDigest does not match the TSTInfo");
  }
  unsigned char* encoded = nullptr;
  int encoded_len =
      ASN1_item_i2d(reinterpret_cast<ASN1_VALUE*>(si->auth_attr), &encoded, ASN1_ITEM_rptr(PKCS7_ATTR_VERIFY));
  std::string attrs(reinterpret_cast<char*>(encoded), encoded_len > 0 ? static_cast<size_t>(encoded_len) : 0);
  OPENSSL_free(encoded);
  ossl::EvpMdCtxPtr verify(EVP_MD_CTX_new());
  if (attrs.empty() || EVP_DigestVerifyInit(verify.get(), nullptr, nullptr, nullptr, X509_get0_pubkey(signer)) != 1 ||
      EVP_DigestVerify(verify.get(), si->enc_digest->data, static_cast<size_t>(si->enc_digest->length),
                       reinterpret_cast<const unsigned char*>(attrs.data()), attrs.size()) != 1) {
    ossl::DrainErrors();
    return Invalid("the Ed25519 signature is wrong");
  }
  TstInfoPtr tst(PKCS7_to_TS_TST_INFO(p7));
  if (!tst || TS_TST_INFO_get_version(tst.get()) != 1) return Invalid("TSTInfo version");
  if (Text(TS_MSG_IMPRINT_get_msg(TS_TST_INFO_get_msg_imprint(tst.get()))) != digest) {
    return Invalid("the message imprint is of other data");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> MakeTimeStampRequest(HashAlgorithm algorithm, std::string_view digest,
                                                 const TimeStampRequestOptions& options) {
  if (digest.size() != DigestSize(algorithm)) {
    return InvalidField("digest", StrCat("must be ", DigestSize(algorithm), " bytes for ", HashName(algorithm)));
  }
  TsReqPtr req(TS_REQ_new());
  TS_MSG_IMPRINT* imprint = TS_MSG_IMPRINT_new();
  X509_ALGOR* alg = X509_ALGOR_new();
  X509_ALGOR_set0(alg, OBJ_nid2obj(NidOf(algorithm)), V_ASN1_NULL, nullptr);
  TS_MSG_IMPRINT_set_algo(imprint, alg);
  TS_MSG_IMPRINT_set_msg(imprint, reinterpret_cast<unsigned char*>(const_cast<char*>(digest.data())),
                         static_cast<int>(digest.size()));
  TS_REQ_set_version(req.get(), 1);
  TS_REQ_set_msg_imprint(req.get(), imprint);
  X509_ALGOR_free(alg);
  TS_MSG_IMPRINT_free(imprint);
  TS_REQ_set_cert_req(req.get(), options.cert_req ? 1 : 0);
  if (!options.policy.empty()) {
    ossl::Asn1ObjectPtr policy(OBJ_txt2obj(options.policy.c_str(), 1));
    if (!policy) return InvalidField("policy", "must be a dotted OID");
    TS_REQ_set_policy_id(req.get(), policy.get());
  }
  if (!options.nonce.empty()) {
    ossl::BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(options.nonce.data()),
                                 static_cast<int>(options.nonce.size()), nullptr));
    ossl::Asn1IntegerPtr nonce(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    TS_REQ_set_nonce(req.get(), nonce.get());
  }
  return ossl::ToDer(i2d_TS_REQ, req.get());
}

namespace {
absl::StatusOr<std::string> TokenBytes(std::string_view der) { return TimeStampTokenOf(der); }

absl::StatusOr<TimeStampInfo> InfoOfToken(PKCS7* p7) {
  TstInfoPtr tst(PKCS7_to_TS_TST_INFO(p7));
  if (!tst) return Malformed("the token carries no TSTInfo");
  TimeStampInfo info = InfoOf(tst.get());
  STACK_OF(PKCS7_SIGNER_INFO)* signers = PKCS7_get_signer_info(p7);
  if (sk_PKCS7_SIGNER_INFO_num(signers) == 1) {
    X509* signer = PKCS7_cert_from_signer_info(p7, sk_PKCS7_SIGNER_INFO_value(signers, 0));
    if (signer != nullptr) info.signer_subject = ossl::NameToString(X509_get_subject_name(signer));
  }
  return info;
}
}  // namespace

absl::StatusOr<std::string> TimeStampTokenOf(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  TsRespPtr resp(d2i_TS_RESP(nullptr, &p, static_cast<long>(der.size())));
  if (resp && p == reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    PKCS7* token = TS_RESP_get_token(resp.get());
    if (token == nullptr) {
      std::string text;
      const STACK_OF(ASN1_UTF8STRING)* texts = TS_STATUS_INFO_get0_text(TS_RESP_get_status_info(resp.get()));
      for (int i = 0; i < sk_ASN1_UTF8STRING_num(texts); ++i) text += Text(sk_ASN1_UTF8STRING_value(texts, i));
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat("the TSA refused: ", text.empty() ? "no reason given" : text));
    }
    return ossl::ToDer(i2d_PKCS7, token);
  }
  ossl::DrainErrors();
  p = reinterpret_cast<const unsigned char*>(der.data());
  Pkcs7Ptr p7(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
  if (!p7 || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return Malformed("neither a TimeStampResp nor a TimeStampToken");
  }
  return std::string(der);
}

absl::StatusOr<TimeStampInfo> ReadTimeStampToken(std::string_view der) {
  SEMPER_ASSIGN_OR_RETURN(Pkcs7Ptr p7, ParseToken(der));
  return InfoOfToken(p7.get());
}

absl::StatusOr<TimeStampInfo> VerifyTimeStampToken(std::string_view der, std::string_view digest,
                                                   const std::vector<Certificate>& roots,
                                                   const std::vector<Certificate>& untrusted,
                                                   std::optional<std::string> nonce,
                                                   std::optional<absl::Time> path_at) {
  SEMPER_ASSIGN_OR_RETURN(Pkcs7Ptr p7, ParseToken(der));
  STACK_OF(PKCS7_SIGNER_INFO)* signer_infos = PKCS7_get_signer_info(p7.get());
  if (sk_PKCS7_SIGNER_INFO_num(signer_infos) != 1) return Invalid("a token has exactly one signer");
  PKCS7_SIGNER_INFO* si = sk_PKCS7_SIGNER_INFO_value(signer_infos, 0);
  X509_ALGOR* signature_alg = nullptr;
  PKCS7_SIGNER_INFO_get0_algs(si, nullptr, nullptr, &signature_alg);
  const bool ed25519 = signature_alg != nullptr && OBJ_obj2nid(signature_alg->algorithm) == NID_ED25519;
  // Which verification applies follows from the signer's key, not only from what the token says:
  // an Ed25519 algorithm with another key, or another algorithm with an Ed25519 key, is refused.
  if (si->issuer_and_serial == nullptr) return Invalid("the token does not name its signer");
  std::vector<X509*> candidates;
  for (int i = 0; p7->d.sign->cert != nullptr && i < sk_X509_num(p7->d.sign->cert); ++i) {
    candidates.push_back(sk_X509_value(p7->d.sign->cert, i));
  }
  for (const Certificate& c : untrusted) candidates.push_back(c.x509());
  for (X509* c : candidates) {
    if (X509_NAME_cmp(X509_get_issuer_name(c), si->issuer_and_serial->issuer) == 0 &&
        ASN1_INTEGER_cmp(X509_get0_serialNumber(c), si->issuer_and_serial->serial) == 0) {
      EVP_PKEY* key = X509_get0_pubkey(c);
      if (key == nullptr || (EVP_PKEY_get_id(key) == EVP_PKEY_ED25519) != ed25519) {
        return Invalid("the token's signature algorithm does not fit its signer's key");
      }
    }
  }
  if (ed25519) SEMPER_RETURN_IF_ERROR(VerifyEd25519Token(p7.get(), si, digest, roots, untrusted, path_at));
  VerifyCtxPtr ctx(TS_VERIFY_CTX_new());
  X509_STORE* store = X509_STORE_new();
  for (const Certificate& r : roots) X509_STORE_add_cert(store, r.x509());
  if (path_at.has_value()) X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), absl::ToTimeT(*path_at));
  TS_VERIFY_CTX_set_store(ctx.get(), store);
  if (!untrusted.empty()) {
    STACK_OF(X509)* certs = sk_X509_new_null();
    for (const Certificate& c : untrusted) {
      X509_up_ref(c.x509());
      sk_X509_push(certs, c.x509());
    }
    TS_VERIFY_CTX_set_certs(ctx.get(), certs);
  }
  auto* imprint = static_cast<unsigned char*>(OPENSSL_memdup(digest.data(), digest.size()));
  TS_VERIFY_CTX_set_imprint(ctx.get(), imprint, static_cast<long>(digest.size()));
  int flags = TS_VFY_VERSION | TS_VFY_SIGNER | TS_VFY_SIGNATURE | TS_VFY_IMPRINT;
  TS_VERIFY_CTX_set_flags(ctx.get(), flags);
  if (!ed25519 && TS_RESP_verify_token(ctx.get(), p7.get()) != 1) {
    return ossl::Error(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                       "the time-stamp token does not verify");
  }
  if (nonce.has_value()) {  // OpenSSL 3.0 has no setter for the expected nonce
    TstInfoPtr tst(PKCS7_to_TS_TST_INFO(p7.get()));
    ossl::BignumPtr want(
        BN_bin2bn(reinterpret_cast<const unsigned char*>(nonce->data()), static_cast<int>(nonce->size()), nullptr));
    const ASN1_INTEGER* got = tst ? TS_TST_INFO_get_nonce(tst.get()) : nullptr;
    ossl::BignumPtr got_bn(got != nullptr ? ASN1_INTEGER_to_BN(got, nullptr) : nullptr);
    if (!got_bn || BN_cmp(want.get(), got_bn.get()) != 0) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                       "the time-stamp token does not carry the request's nonce");
    }
  }
  return InfoOfToken(p7.get());
}

}  // namespace semper
