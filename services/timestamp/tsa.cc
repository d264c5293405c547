// RFC 3161 requests parsed by OpenSSL, replies assembled here from precomputed DER.
#include "services/timestamp/tsa.h"

#include <openssl/ess.h>
#include <openssl/ts.h>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms_signer.h"
#include "common/crypto/der.h"
#include "common/crypto/digest.h"
#include "common/crypto/ossl.h"

namespace semper::tsa {
namespace {

using TsReqPtr = std::unique_ptr<TS_REQ, ossl::FnDeleter<TS_REQ_free>>;

// id-ct-TSTInfo, id-signedData and the CMS attribute types.
constexpr char kTstInfo[] = "1.2.840.113549.1.9.16.1.4";
constexpr char kSignedData[] = "1.2.840.113549.1.7.2";
constexpr char kContentType[] = "1.2.840.113549.1.9.3";
constexpr char kMessageDigest[] = "1.2.840.113549.1.9.4";
constexpr char kSigningCertificateV2[] = "1.2.840.113549.1.9.16.2.47";

// TimeStampResp { PKIStatusInfo { rejection, statusString, failInfo } }.
std::string RejectionDer(int failure_bit, std::string_view text) {
  std::string bits(static_cast<size_t>(failure_bit / 8 + 1), '\0');
  bits[static_cast<size_t>(failure_bit / 8)] = static_cast<char>(0x80 >> (failure_bit % 8));
  std::string bit_string(1, static_cast<char>(7 - failure_bit % 8));
  bit_string += bits;
  std::string info = der::Integer(2) + der::Tlv(der::kSequence, der::Tlv(der::kUtf8String, text)) +
                     der::Tlv(der::kBitString, bit_string);
  return der::Tlv(der::kSequence, der::Tlv(der::kSequence, info));
}

std::string Attribute(const char* oid, const std::string& value) {
  return der::Tlv(der::kSequence, der::Oid(oid) + der::Tlv(der::kSet, value));
}

std::string HashName(int nid) {
  return nid == NID_sha256 ? "sha256" : nid == NID_sha384 ? "sha384" : nid == NID_sha512 ? "sha512" : "";
}

}  // namespace

std::string SerialHex(uint64_t serial) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llX", static_cast<unsigned long long>(serial));
  return buf;
}

Stamped TimeStampAuthority::Rejection(int failure_bit, std::string text) {
  Stamped s;
  s.response_der = RejectionDer(failure_bit, text);
  s.failure_info = {std::string(FailureInfoName(failure_bit))};
  s.status_text = std::move(text);
  return s;
}

std::string_view FailureInfoName(int bit) {
  switch (bit) {
    case kBadAlg:
      return "badAlg";
    case kBadRequest:
      return "badRequest";
    case kBadDataFormat:
      return "badDataFormat";
    case kTimeNotAvailable:
      return "timeNotAvailable";
    case kUnacceptedPolicy:
      return "unacceptedPolicy";
    case kUnacceptedExtension:
      return "unacceptedExtension";
    case kAddInfoNotAvailable:
      return "addInfoNotAvailable";
    case kSystemFailure:
      return "systemFailure";
    default:
      return "";
  }
}

absl::StatusOr<uint64_t> SerialAllocator::Next() {
  absl::MutexLock lock(&mu_);
  if (next_in_block_ >= (uint64_t{1} << kBlockBits)) {
    SEMPER_ASSIGN_OR_RETURN(uint64_t block, next_block_());
    if (block == 0 || block >= (uint64_t{1} << (63 - kBlockBits))) {
      return MakeError(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "serial block out of range");
    }
    block_ = block;
    next_in_block_ = 0;
  }
  return (block_ << kBlockBits) | next_in_block_++;
}

absl::StatusOr<std::unique_ptr<TimeStampAuthority>> TimeStampAuthority::New(TsaOptions options) {
  if (options.serials == nullptr) return InvalidField("serials", "is required");
  if (options.policies.empty()) return InvalidField("tsa.policies", "must name at least one policy OID");
  if (options.clock_precision_digits < 0 || options.clock_precision_digits > 6) {
    return InvalidField("tsa.clock_precision_digits", "must be 0 to 6");
  }
  if (options.accuracy < absl::Microseconds(1) || options.accuracy > absl::Hours(1)) {
    return InvalidField("tsa.accuracy", "must be between 1 µs and 1 h");
  }
  if (X509_check_private_key(options.signer.x509(), options.key.evp()) != 1) {
    ossl::DrainErrors();
    return MakeError(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY, "the TSA key does not match its certificate");
  }
  // RFC 3161 2.3: the certificate must carry the timeStamping EKU, critical, and only it.
  int crit = -1;
  auto* eku =
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(options.signer.x509(), NID_ext_key_usage, &crit, nullptr));
  bool ok = eku != nullptr && crit == 1 && sk_ASN1_OBJECT_num(eku) == 1 &&
            OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) == NID_time_stamp;
  sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
  if (!ok) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD,
                     StrCat("the TSA certificate (", options.signer.Subject(),
                            ") must carry a critical extendedKeyUsage of timeStamping only"));
  }
  std::unique_ptr<TimeStampAuthority> tsa(new TimeStampAuthority(std::move(options)));
  SEMPER_RETURN_IF_ERROR(tsa->Prepare());
  return tsa;
}

absl::Status TimeStampAuthority::Prepare() {
  for (const std::string& p : o_.policies) {
    std::string oid = der::Oid(p);
    if (oid.empty()) return InvalidField("tsa.policies", StrCat("\"", p, "\" is not a dotted OID"));
    ossl::Asn1ObjectPtr obj(OBJ_txt2obj(p.c_str(), 1));
    char canonical[128];
    OBJ_obj2txt(canonical, sizeof canonical, obj.get(), 1);
    policies_.emplace_back(canonical, oid);
  }
  int64_t micros = absl::ToInt64Microseconds(o_.accuracy);
  std::string accuracy;
  if (micros / 1000000 > 0) accuracy += der::Integer(static_cast<uint64_t>(micros / 1000000));
  if (micros / 1000 % 1000 > 0) {
    accuracy += der::Tlv(der::Primitive(0), der::Contents(der::Integer(static_cast<uint64_t>(micros / 1000 % 1000))));
  }
  if (micros % 1000 > 0) {
    accuracy += der::Tlv(der::Primitive(1), der::Contents(der::Integer(static_cast<uint64_t>(micros % 1000))));
  }
  accuracy_ = der::Tlv(der::kSequence, accuracy);
  std::string name = ossl::ToDer(i2d_X509_NAME, X509_get_subject_name(o_.signer.x509()));
  tsa_name_ = der::Tlv(der::Constructed(0), der::Tlv(der::Constructed(4), name));
  std::string certs = o_.signer.Der();
  for (const Certificate& c : o_.issuers) certs += c.Der();
  certificates_ = der::Tlv(der::Constructed(0), certs);
  signer_id_ = der::Tlv(der::kSequence, ossl::ToDer(i2d_X509_NAME, X509_get_issuer_name(o_.signer.x509())) +
                                            ossl::ToDer(i2d_ASN1_INTEGER, X509_get0_serialNumber(o_.signer.x509())));
  // Ed25519 signs the attributes themselves, and RFC 8419 asks SHA-512 for the message digest.
  const bool ed25519 = o_.key.type() == KeyType::kEd25519;
  content_digest_ = ed25519 ? HashAlgorithm::kSha512 : HashAlgorithm::kSha256;
  digest_algorithm_ = der::Tlv(der::kSequence, der::Oid(ed25519 ? "2.16.840.1.101.3.4.2.3" : "2.16.840.1.101.3.4.2.1"));
  signature_algorithm_ = ed25519 ? der::Tlv(der::kSequence, der::Oid("1.3.101.112"))
                         : o_.key.type() == KeyType::kRsa
                             ? der::Tlv(der::kSequence, der::Oid("1.2.840.113549.1.1.11") + der::Tlv(der::kNull, ""))
                             : der::Tlv(der::kSequence, der::Oid("1.2.840.10045.4.3.2"));
  content_type_attribute_ = Attribute(kContentType, der::Oid(kTstInfo));
  std::unique_ptr<ESS_SIGNING_CERT_V2, ossl::FnDeleter<ESS_SIGNING_CERT_V2_free>> ess(
      OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), o_.signer.x509(), nullptr, 1));
  if (!ess) return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "signingCertificateV2");
  signing_certificate_attribute_ = Attribute(kSigningCertificateV2, ossl::ToDer(i2d_ESS_SIGNING_CERT_V2, ess.get()));
  std::shared_ptr<EVP_MD_CTX> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (EVP_DigestSignInit(ctx.get(), nullptr, ed25519 ? nullptr : EVP_sha256(), nullptr, o_.key.evp()) != 1) {
    return ossl::Error(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM, "the TSA key cannot sign");
  }
  sign_template_ = std::move(ctx);
  if (Sign("probe").empty())
    return ossl::Error(absl::StatusCode::kInvalidArgument, v1::INTERNAL_ERROR, "the TSA key cannot sign");
  return absl::OkStatus();
}

std::string TimeStampAuthority::Sign(std::string_view data) const {
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (EVP_MD_CTX_copy_ex(ctx.get(), sign_template_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    ossl::DrainErrors();
    return "";
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    ossl::DrainErrors();
    return "";
  }
  sig.resize(len);
  return sig;
}

Stamped TimeStampAuthority::Stamp(std::string_view request_der) const {
  // The checks and texts follow OpenSSL's own TSA (crypto/ts/ts_rsp_sign.c), in its order.
  if (request_der.size() > o_.max_request_bytes) {
    return Rejection(kBadDataFormat, StrCat("request larger than ", o_.max_request_bytes, " bytes"));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(request_der.data());
  TsReqPtr req(d2i_TS_REQ(nullptr, &p, static_cast<long>(request_der.size())));
  if (!req || p != reinterpret_cast<const unsigned char*>(request_der.data()) + request_der.size()) {
    ossl::DrainErrors();
    return Rejection(kBadDataFormat, "Bad request format or system error.");
  }
  if (TS_REQ_get_version(req.get()) != 1) return Rejection(kBadRequest, "Bad request version.");
  TS_MSG_IMPRINT* imprint = TS_REQ_get_msg_imprint(req.get());
  const X509_ALGOR* alg = TS_MSG_IMPRINT_get_algo(imprint);
  int nid = OBJ_obj2nid(alg->algorithm);
  std::string hash = HashName(nid);
  if (hash.empty()) return Rejection(kBadAlg, "Message digest algorithm is not supported.");
  if (alg->parameter != nullptr && ASN1_TYPE_get(alg->parameter) != V_ASN1_NULL) {
    return Rejection(kBadAlg, "Superfluous message digest parameter.");
  }
  const ASN1_OCTET_STRING* digest = TS_MSG_IMPRINT_get_msg(imprint);
  if (ASN1_STRING_length(digest) != EVP_MD_get_size(EVP_get_digestbynid(nid))) {
    return Rejection(kBadDataFormat, "Bad message digest.");
  }
  const std::pair<std::string, std::string>* policy = &policies_.front();
  if (const ASN1_OBJECT* asked = TS_REQ_get_policy_id(req.get()); asked != nullptr) {
    char text[128];
    OBJ_obj2txt(text, sizeof text, asked, 1);
    policy = nullptr;
    for (const auto& candidate : policies_) {
      if (candidate.first == text) policy = &candidate;
    }
    if (policy == nullptr) return Rejection(kUnacceptedPolicy, "Requested policy is not supported.");
  }
  if (TS_REQ_get_ext_count(req.get()) > 0) return Rejection(kUnacceptedExtension, "Unsupported extension.");
  const ASN1_INTEGER* nonce = TS_REQ_get_nonce(req.get());
  if (nonce != nullptr && static_cast<size_t>(ASN1_STRING_length(nonce)) > o_.max_nonce_bytes) {
    return Rejection(kBadRequest, StrCat("nonce longer than ", o_.max_nonce_bytes, " bytes"));
  }
  const bool unsynchronised = o_.clock_check && !o_.clock_check().ok();
  if (unsynchronised && !o_.clock_check_warns) {
    return Rejection(kTimeNotAvailable, "the TSA's clock is not synchronised; no time-stamps until it is");
  }
  int64_t micros = absl::ToUnixMicros(o_.clock());
  int64_t unit = 1;
  for (int i = o_.clock_precision_digits; i < 6; ++i) unit *= 10;
  absl::Time gen_time = absl::FromUnixMicros(micros - micros % unit);  // truncated to the precision written
  // A token whose time lies outside the TSA certificate's validity verifies nowhere (RFC 3161
  // relying parties check the signer at genTime): none is issued, and the operator renews.
  if (o_.require_valid_certificate && (gen_time < o_.signer.not_before() || gen_time >= o_.signer.not_after())) {
    Stamped refused = Rejection(
        kSystemFailure,
        StrCat("the TSA's certificate is not valid now (valid from ",
               absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", o_.signer.not_before(), absl::UTCTimeZone()), " until ",
               absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", o_.signer.not_after(), absl::UTCTimeZone()),
               "): no time-stamps until the operator installs a valid one"));
    refused.certificate_not_valid = true;
    return refused;
  }
  auto serial = o_.serials->Next();
  if (!serial.ok()) return Rejection(kSystemFailure, "Error during serial number generation.");

  std::string imprint_der = ossl::ToDer(i2d_TS_MSG_IMPRINT, imprint);
  std::string tst_info = der::Tlv(
      der::kSequence, der::Integer(1) + policy->second + imprint_der + der::Integer(*serial) +
                          der::GeneralizedTime(gen_time, o_.clock_precision_digits) + accuracy_ +
                          (nonce != nullptr ? ossl::ToDer(i2d_ASN1_INTEGER, nonce) : std::string()) + tsa_name_);
  std::string attributes =
      der::SetOf({content_type_attribute_,
                  Attribute(kMessageDigest, der::Tlv(der::kOctetString, ComputeDigest(content_digest_, tst_info))),
                  signing_certificate_attribute_});
  std::string signature = Sign(attributes);
  if (signature.empty()) return Rejection(kSystemFailure, "the TSA could not sign");
  std::string signer_info = der::Tlv(der::kSequence, der::Integer(1) + signer_id_ + digest_algorithm_ +
                                                         der::Tlv(der::Constructed(0), der::Contents(attributes)) +
                                                         signature_algorithm_ + der::Tlv(der::kOctetString, signature));
  std::string encapsulated = der::Tlv(
      der::kSequence, der::Oid(kTstInfo) + der::Tlv(der::Constructed(0), der::Tlv(der::kOctetString, tst_info)));
  auto token = [&](bool with_certificates) {
    std::string signed_data = der::Tlv(
        der::kSequence, der::Integer(3) + der::Tlv(der::kSet, digest_algorithm_) + encapsulated +
                            (with_certificates ? certificates_ : std::string()) + der::Tlv(der::kSet, signer_info));
    return der::Tlv(der::kSequence, der::Oid(kSignedData) + der::Tlv(der::Constructed(0), signed_data));
  };

  Stamped out;
  out.status = 0;
  out.cert_req = TS_REQ_get_cert_req(req.get()) != 0;
  out.stored_token_der = token(false);
  out.token_der = out.cert_req ? token(true) : out.stored_token_der;
  out.response_der = der::Tlv(der::kSequence, der::Tlv(der::kSequence, der::Integer(0)) + out.token_der);
  out.serial_hex = SerialHex(*serial);
  out.gen_time = gen_time;
  out.hash_algorithm = hash;
  out.imprint.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(digest)),
                     static_cast<size_t>(ASN1_STRING_length(digest)));
  out.policy = policy->first;
  out.clock_unsynchronised = unsynchronised;
  if (unsynchronised && o_.on_unsynchronised) o_.on_unsynchronised();
  return out;
}

absl::StatusOr<std::string> TimeStampAuthority::WithCertificates(std::string_view token_der) const {
  return CmsSpliceCertificates(token_der, certificates_);
}

Stamped TimeStampAuthority::StampDigest(std::string_view sha256) const {
  TsReqPtr req(TS_REQ_new());
  TS_MSG_IMPRINT* imprint = TS_MSG_IMPRINT_new();
  X509_ALGOR* alg = X509_ALGOR_new();
  X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, nullptr);
  TS_MSG_IMPRINT_set_algo(imprint, alg);
  TS_MSG_IMPRINT_set_msg(imprint, reinterpret_cast<unsigned char*>(const_cast<char*>(sha256.data())),
                         static_cast<int>(sha256.size()));
  TS_REQ_set_version(req.get(), 1);
  TS_REQ_set_msg_imprint(req.get(), imprint);
  TS_REQ_set_cert_req(req.get(), 1);
  X509_ALGOR_free(alg);
  TS_MSG_IMPRINT_free(imprint);
  return Stamp(ossl::ToDer(i2d_TS_REQ, req.get()));
}

}  // namespace semper::tsa
