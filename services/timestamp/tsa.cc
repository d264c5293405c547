// RFC 3161 through OpenSSL's TS_RESP_CTX; rejections OpenSSL does not make are encoded here.
#include "services/timestamp/tsa.h"

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/ossl.h"

namespace semper::tsa {
namespace {

using TsRespPtr = std::unique_ptr<TS_RESP, ossl::FnDeleter<TS_RESP_free>>;
using TsReqPtr = std::unique_ptr<TS_REQ, ossl::FnDeleter<TS_REQ_free>>;


// DER of one TLV.
std::string Tlv(unsigned char tag, std::string_view content) {
  std::string out(1, static_cast<char>(tag));
  size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<char>(n));
  } else {
    std::string len;
    for (; n > 0; n >>= 8) len.insert(len.begin(), static_cast<char>(n & 0xff));
    out.push_back(static_cast<char>(0x80 | len.size()));
    out += len;
  }
  out.append(content);
  return out;
}

// TimeStampResp { PKIStatusInfo { rejection, statusString, failInfo } }.
std::string RejectionDer(int failure_bit, std::string_view text) {
  std::string bits(static_cast<size_t>(failure_bit / 8 + 1), '\0');
  bits[static_cast<size_t>(failure_bit / 8)] = static_cast<char>(0x80 >> (failure_bit % 8));
  std::string bit_string(1, static_cast<char>(7 - failure_bit % 8));
  bit_string += bits;
  std::string info = Tlv(0x02, std::string(1, '\x02')) + Tlv(0x30, Tlv(0x0c, text)) + Tlv(0x03, bit_string);
  return Tlv(0x30, Tlv(0x30, info));
}

std::string NameOf(const ASN1_OBJECT* obj) {
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof buf, obj, 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(std::min<int>(n, sizeof buf - 1))) : "";
}

struct CallData {
  const TsaOptions* o;
  uint64_t serial = 0;
  absl::Time gen_time;
};

ASN1_INTEGER* SerialCallback(TS_RESP_CTX*, void* data) {
  auto* d = static_cast<CallData*>(data);
  auto serial = d->o->serials->Next();
  if (!serial.ok()) return nullptr;  // OpenSSL answers a rejection
  d->serial = *serial;
  ASN1_INTEGER* out = ASN1_INTEGER_new();
  ASN1_INTEGER_set_uint64(out, *serial);
  return out;
}

int TimeCallback(TS_RESP_CTX*, void* data, long* sec, long* usec) {
  auto* d = static_cast<CallData*>(data);
  if (d->o->clock_check && !d->o->clock_check().ok()) return 0;  // timeNotAvailable
  int64_t micros = absl::ToUnixMicros(d->o->clock());
  int64_t unit = 1;
  for (int i = d->o->clock_precision_digits; i < 6; ++i) unit *= 10;
  micros -= micros % unit;  // genTime is written truncated to the precision
  *sec = static_cast<long>(micros / 1000000);
  *usec = static_cast<long>(micros % 1000000);
  d->gen_time = absl::FromUnixMicros(micros);
  return 1;
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
    case kBadAlg: return "badAlg";
    case kBadRequest: return "badRequest";
    case kBadDataFormat: return "badDataFormat";
    case kTimeNotAvailable: return "timeNotAvailable";
    case kUnacceptedPolicy: return "unacceptedPolicy";
    case kUnacceptedExtension: return "unacceptedExtension";
    case kAddInfoNotAvailable: return "addInfoNotAvailable";
    case kSystemFailure: return "systemFailure";
    default: return "";
  }
}

absl::StatusOr<uint64_t> SerialAllocator::Next() {
  std::lock_guard<std::mutex> lock(mu_);
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
  for (const std::string& p : options.policies) {
    ossl::Asn1ObjectPtr obj(OBJ_txt2obj(p.c_str(), 1));
    if (!obj) return InvalidField("tsa.policies", StrCat("\"", p, "\" is not a dotted OID"));
  }
  if (options.clock_precision_digits < 0 || options.clock_precision_digits > 6) {
    return InvalidField("tsa.clock_precision_digits", "must be 0 to 6");
  }
  if (options.accuracy < absl::Microseconds(1) || options.accuracy > absl::Hours(1)) {
    return InvalidField("tsa.accuracy", "must be between 1 µs and 1 h");
  }
  if (options.key.type() == KeyType::kEd25519) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                     "OpenSSL 3.0 (Debian 12) cannot sign or verify RFC 3161 tokens with Ed25519 (its PKCS#7 code "
                     "has no one-shot signatures); use an ECDSA P-256 or RSA key");
  }
  if (X509_check_private_key(options.signer.x509(), options.key.evp()) != 1) {
    ossl::DrainErrors();
    return MakeError(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY, "the TSA key does not match its certificate");
  }
  // RFC 3161 2.3: the certificate must carry the timeStamping EKU, critical, and only it.
  int crit = -1;
  auto* eku = static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(options.signer.x509(), NID_ext_key_usage, &crit, nullptr));
  bool ok = eku != nullptr && crit == 1 && sk_ASN1_OBJECT_num(eku) == 1 &&
            OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) == NID_time_stamp;
  sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
  if (!ok) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD,
                     StrCat("the TSA certificate (", options.signer.Subject(),
                            ") must carry a critical extendedKeyUsage of timeStamping only"));
  }
  std::unique_ptr<TimeStampAuthority> tsa(new TimeStampAuthority(std::move(options)));
  TS_RESP_CTX* probe = tsa->Acquire();
  if (probe == nullptr) return ossl::Error(absl::StatusCode::kInvalidArgument, v1::INTERNAL_ERROR, "setting up the TSA");
  tsa->Release(probe);
  return tsa;
}

TimeStampAuthority::~TimeStampAuthority() {
  for (TS_RESP_CTX* ctx : free_) TS_RESP_CTX_free(ctx);
}

TS_RESP_CTX* TimeStampAuthority::Acquire() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      TS_RESP_CTX* ctx = free_.back();
      free_.pop_back();
      return ctx;
    }
  }
  TS_RESP_CTX* ctx = TS_RESP_CTX_new();
  ossl::X509StackPtr certs(sk_X509_new_null());
  for (const Certificate& c : o_.issuers) {
    X509_up_ref(c.x509());
    sk_X509_push(certs.get(), c.x509());
  }
  ossl::Asn1ObjectPtr def(OBJ_txt2obj(o_.policies[0].c_str(), 1));
  int64_t micros = absl::ToInt64Microseconds(o_.accuracy);
  bool ok = ctx != nullptr && TS_RESP_CTX_set_signer_cert(ctx, o_.signer.x509()) == 1 &&
            TS_RESP_CTX_set_signer_key(ctx, o_.key.evp()) == 1 && TS_RESP_CTX_set_certs(ctx, certs.get()) == 1 &&
            TS_RESP_CTX_set_def_policy(ctx, def.get()) == 1 && TS_RESP_CTX_add_md(ctx, EVP_sha256()) == 1 &&
            TS_RESP_CTX_add_md(ctx, EVP_sha384()) == 1 && TS_RESP_CTX_add_md(ctx, EVP_sha512()) == 1 &&
            TS_RESP_CTX_set_accuracy(ctx, static_cast<int>(micros / 1000000), static_cast<int>(micros / 1000 % 1000),
                                     static_cast<int>(micros % 1000)) == 1 &&
            TS_RESP_CTX_set_clock_precision_digits(ctx, static_cast<unsigned>(o_.clock_precision_digits)) == 1 &&
            TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) == 1 &&
            TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) == 1;
  for (size_t i = 1; ok && i < o_.policies.size(); ++i) {
    ossl::Asn1ObjectPtr p(OBJ_txt2obj(o_.policies[i].c_str(), 1));
    ok = TS_RESP_CTX_add_policy(ctx, p.get()) == 1;
  }
  if (!ok) {
    TS_RESP_CTX_free(ctx);
    return nullptr;
  }
  TS_RESP_CTX_add_flags(ctx, TS_TSA_NAME);
  return ctx;
}

void TimeStampAuthority::Release(TS_RESP_CTX* ctx) const {
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(ctx);
}

std::vector<std::string> TimeStampAuthority::FailureNames(const TS_RESP* resp) {
  std::vector<std::string> out;
  const ASN1_BIT_STRING* bits = TS_STATUS_INFO_get0_failure_info(TS_RESP_get_status_info(const_cast<TS_RESP*>(resp)));
  if (bits == nullptr) return out;
  for (int bit = 0; bit <= kSystemFailure; ++bit) {
    if (ASN1_BIT_STRING_get_bit(bits, bit) == 1) {
      std::string_view name = FailureInfoName(bit);
      out.push_back(name.empty() ? StrCat("bit", bit) : std::string(name));
    }
  }
  return out;
}

Stamped TimeStampAuthority::Stamp(std::string_view request_der) const {
  auto reject = [](int bit, std::string text) { return Rejection(bit, std::move(text)); };
  if (request_der.size() > o_.max_request_bytes) {
    return reject(kBadDataFormat, StrCat("request larger than ", o_.max_request_bytes, " bytes"));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(request_der.data());
  TsReqPtr parsed(d2i_TS_REQ(nullptr, &p, static_cast<long>(request_der.size())));
  if (!parsed || p != reinterpret_cast<const unsigned char*>(request_der.data()) + request_der.size()) {
    ossl::DrainErrors();
    return reject(kBadDataFormat, "not a DER TimeStampReq");
  }
  const ASN1_INTEGER* nonce = TS_REQ_get_nonce(parsed.get());
  if (nonce != nullptr && static_cast<size_t>(ASN1_STRING_length(nonce)) > o_.max_nonce_bytes) {
    return reject(kBadRequest, StrCat("nonce longer than ", o_.max_nonce_bytes, " bytes"));
  }
  // OpenSSL answers a refusing time callback with "unspecified": refuse here with timeNotAvailable.
  if (o_.clock_check) {
    if (!o_.clock_check().ok()) {
      return reject(kTimeNotAvailable, "the TSA's clock is not synchronised; no time-stamps until it is");
    }
  }
  auto bio = ossl::ReadBio(request_der);
  return Respond(bio.get());
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

Stamped TimeStampAuthority::Respond(BIO* request) const {
  Stamped out;
  TS_RESP_CTX* ctx = Acquire();
  if (ctx == nullptr) {
    ossl::DrainErrors();
    return Rejection(kSystemFailure, "the TSA cannot sign now");
  }
  CallData data{&o_};
  TS_RESP_CTX_set_serial_cb(ctx, SerialCallback, &data);
  TS_RESP_CTX_set_time_cb(ctx, TimeCallback, &data);
  TsRespPtr resp(TS_RESP_create_response(ctx, request));
  Release(ctx);
  ossl::DrainErrors();
  if (!resp) return Rejection(kSystemFailure, "the TSA failed to answer");
  TS_STATUS_INFO* si = TS_RESP_get_status_info(resp.get());
  out.status = static_cast<int>(ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si)));
  out.failure_info = FailureNames(resp.get());
  const STACK_OF(ASN1_UTF8STRING)* text = TS_STATUS_INFO_get0_text(si);
  for (int i = 0; i < sk_ASN1_UTF8STRING_num(text); ++i) {
    const ASN1_UTF8STRING* t = sk_ASN1_UTF8STRING_value(text, i);
    if (!out.status_text.empty()) out.status_text += "; ";
    out.status_text.append(reinterpret_cast<const char*>(ASN1_STRING_get0_data(t)), static_cast<size_t>(ASN1_STRING_length(t)));
  }
  out.response_der = ossl::ToDer(i2d_TS_RESP, resp.get());
  if (!out.granted()) return out;
  TS_TST_INFO* tst = TS_RESP_get_tst_info(resp.get());
  out.serial_hex = SerialHex(data.serial);
  out.gen_time = data.gen_time;
  TS_MSG_IMPRINT* imprint = TS_TST_INFO_get_msg_imprint(tst);
  int nid = OBJ_obj2nid(TS_MSG_IMPRINT_get_algo(imprint)->algorithm);
  out.hash_algorithm = nid == NID_sha256 ? "sha256" : nid == NID_sha384 ? "sha384" : nid == NID_sha512 ? "sha512" : "";
  const ASN1_OCTET_STRING* msg = TS_MSG_IMPRINT_get_msg(imprint);
  out.imprint.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(msg)), static_cast<size_t>(ASN1_STRING_length(msg)));
  out.policy = NameOf(TS_TST_INFO_get_policy_id(tst));
  out.token_der = ossl::ToDer(i2d_PKCS7, TS_RESP_get_token(resp.get()));
  return out;
}

}  // namespace semper::tsa
