// CRL and OCSP encoding through OpenSSL.
#include "services/ca/revocation.h"

#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/ossl.h"

namespace semper::ca {
namespace {

using CrlPtr = std::unique_ptr<X509_CRL, ossl::FnDeleter<X509_CRL_free>>;
using TimePtr = std::unique_ptr<ASN1_TIME, ossl::FnDeleter<ASN1_TIME_free>>;
using OcspReqPtr = std::unique_ptr<OCSP_REQUEST, ossl::FnDeleter<OCSP_REQUEST_free>>;
using OcspRespPtr = std::unique_ptr<OCSP_RESPONSE, ossl::FnDeleter<OCSP_RESPONSE_free>>;
using OcspBasicPtr = std::unique_ptr<OCSP_BASICRESP, ossl::FnDeleter<OCSP_BASICRESP_free>>;
using OcspIdPtr = std::unique_ptr<OCSP_CERTID, ossl::FnDeleter<OCSP_CERTID_free>>;

TimePtr Asn1Time(absl::Time t) { return TimePtr(ASN1_TIME_set(nullptr, absl::ToTimeT(t))); }

ossl::Asn1IntegerPtr SerialFromHex(const std::string& hex) {
  BIGNUM* bn = nullptr;
  if (BN_hex2bn(&bn, hex.c_str()) == 0) return nullptr;
  ossl::BignumPtr owned(bn);
  return ossl::Asn1IntegerPtr(BN_to_ASN1_INTEGER(bn, nullptr));
}

std::string SerialToHex(const ASN1_INTEGER* serial) {
  ossl::BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

std::string ResponseDer(int status, OCSP_BASICRESP* basic) {
  OcspRespPtr resp(OCSP_response_create(status, basic));
  return ossl::ToDer(i2d_OCSP_RESPONSE, resp.get());
}

}  // namespace

absl::StatusOr<std::string> BuildCrl(const Certificate& issuer, const PrivateKey& key,
                                     const std::vector<RevokedEntry>& entries, int64_t number,
                                     std::optional<int64_t> delta_base, absl::Time this_update,
                                     absl::Time next_update) {
  CrlPtr crl(X509_CRL_new());
  X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2);
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer.x509()));
  X509_CRL_set1_lastUpdate(crl.get(), Asn1Time(this_update).get());
  X509_CRL_set1_nextUpdate(crl.get(), Asn1Time(next_update).get());
  for (const RevokedEntry& e : entries) {
    X509_REVOKED* r = X509_REVOKED_new();
    auto serial = SerialFromHex(e.serial_hex);
    if (!serial) {
      X509_REVOKED_free(r);
      return MakeError(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, StrCat("bad stored serial ", e.serial_hex));
    }
    X509_REVOKED_set_serialNumber(r, serial.get());
    X509_REVOKED_set_revocationDate(r, Asn1Time(e.revoked_at).get());
    if (e.reason != 0) {
      ASN1_ENUMERATED* reason = ASN1_ENUMERATED_new();
      ASN1_ENUMERATED_set(reason, e.reason);
      X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0);
      ASN1_ENUMERATED_free(reason);
    }
    X509_CRL_add0_revoked(crl.get(), r);
  }
  ossl::Asn1IntegerPtr crl_number(ASN1_INTEGER_new());
  ASN1_INTEGER_set_int64(crl_number.get(), number);
  X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, crl_number.get(), 0, 0);
  if (delta_base.has_value()) {
    ossl::Asn1IntegerPtr base(ASN1_INTEGER_new());
    ASN1_INTEGER_set_int64(base.get(), *delta_base);
    X509_CRL_add1_ext_i2d(crl.get(), NID_delta_crl, base.get(), 1, 0);
  }
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer.x509(), nullptr, nullptr, crl.get(), 0);
  ossl::X509ExtensionPtr aki(X509V3_EXT_conf_nid(nullptr, &v3, NID_authority_key_identifier, "keyid:always"));
  if (!aki || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "CRL authority key identifier");
  }
  X509_CRL_sort(crl.get());
  const EVP_MD* md = key.type() == KeyType::kEd25519 ? nullptr : EVP_sha256();
  if (X509_CRL_sign(crl.get(), key.evp(), md) <= 0) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "CRL signing");
  }
  return ossl::ToDer(i2d_X509_CRL, crl.get());
}

std::string OcspResponder::Respond(
    std::string_view request_der,
    const std::function<absl::StatusOr<StatusRecord>(const std::string& serial_hex)>& lookup, absl::Time now,
    bool* successful) const {
  if (successful != nullptr) *successful = false;
  const auto* p = reinterpret_cast<const unsigned char*>(request_der.data());
  OcspReqPtr req(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(request_der.size())));
  int count = req ? OCSP_request_onereq_count(req.get()) : 0;
  if (!req || p != reinterpret_cast<const unsigned char*>(request_der.data()) + request_der.size() || count < 1 ||
      count > 16) {
    ossl::DrainErrors();
    return ResponseDer(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, nullptr);
  }
  OcspBasicPtr basic(OCSP_BASICRESP_new());
  TimePtr this_update = Asn1Time(now);
  TimePtr next_update = Asn1Time(now + validity_);
  for (int i = 0; i < count; ++i) {
    OCSP_CERTID* cid = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), i));
    ASN1_OBJECT* md_obj = nullptr;
    ASN1_INTEGER* serial = nullptr;
    OCSP_id_get0_info(nullptr, &md_obj, nullptr, &serial, cid);
    const EVP_MD* md = md_obj != nullptr ? EVP_get_digestbyobj(md_obj) : nullptr;
    StatusRecord record;
    if (md != nullptr && serial != nullptr) {
      OcspIdPtr ours(OCSP_cert_id_new(md, X509_get_subject_name(issuer_.x509()),
                                      X509_get0_pubkey_bitstr(issuer_.x509()), serial));
      if (ours && OCSP_id_issuer_cmp(ours.get(), cid) == 0) {
        auto found = lookup(SerialToHex(serial));
        if (!found.ok()) return ResponseDer(OCSP_RESPONSE_STATUS_INTERNALERROR, nullptr);
        record = *found;
      }
    }
    int status = record.state == StatusRecord::State::kGood      ? V_OCSP_CERTSTATUS_GOOD
                 : record.state == StatusRecord::State::kRevoked ? V_OCSP_CERTSTATUS_REVOKED
                                                                 : V_OCSP_CERTSTATUS_UNKNOWN;
    TimePtr revoked = Asn1Time(record.revoked_at);
    if (OCSP_basic_add1_status(basic.get(), cid, status, record.reason, status == V_OCSP_CERTSTATUS_REVOKED ? revoked.get() : nullptr,
                               this_update.get(), next_update.get()) == nullptr) {
      return ResponseDer(OCSP_RESPONSE_STATUS_INTERNALERROR, nullptr);
    }
  }
  OCSP_copy_nonce(basic.get(), req.get());
  ossl::X509StackPtr extra(sk_X509_new_null());
  X509_up_ref(issuer_.x509());
  sk_X509_push(extra.get(), issuer_.x509());
  if (OCSP_basic_sign(basic.get(), signer_.x509(), key_.evp(), EVP_sha256(), extra.get(), OCSP_RESPID_KEY) != 1) {
    ossl::DrainErrors();
    return ResponseDer(OCSP_RESPONSE_STATUS_INTERNALERROR, nullptr);
  }
  if (successful != nullptr) *successful = true;
  return ResponseDer(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic.get());
}

std::optional<std::string> OcspCache::Get(const std::string& request_der, absl::Time now) const {
  if (ttl_ <= absl::ZeroDuration()) return std::nullopt;
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(request_der);
  if (it == entries_.end() || it->second.second < now) return std::nullopt;
  return it->second.first;
}

uint64_t OcspCache::Generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

void OcspCache::Put(const std::string& request_der, std::string response_der, absl::Time now, uint64_t generation) {
  if (ttl_ <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  if (generation != generation_) return;
  // Crude but bounded: a full cache starts over rather than tracking recency.
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_[request_der] = {std::move(response_der), now + ttl_};
}

void OcspCache::Clear() {
  absl::MutexLock lock(&mu_);
  ++generation_;
  entries_.clear();
}

bool OcspCache::Cacheable(std::string_view request_der) {
  const auto* p = reinterpret_cast<const unsigned char*>(request_der.data());
  OcspReqPtr req(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(request_der.size())));
  if (!req) {
    ossl::DrainErrors();
    return false;
  }
  return OCSP_REQUEST_get_ext_by_NID(req.get(), NID_id_pkix_OCSP_Nonce, -1) < 0;
}

std::optional<StatusRecord> StatusCache::Get(const std::string& serial, absl::Time now) const {
  if (ttl_ <= absl::ZeroDuration()) return std::nullopt;
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(serial);
  if (it == entries_.end() || it->second.second < now) return std::nullopt;
  return it->second.first;
}

uint64_t StatusCache::Generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

void StatusCache::Put(const std::string& serial, const StatusRecord& record, absl::Time now, uint64_t generation) {
  if (ttl_ <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  if (generation != generation_) return;
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_[serial] = {record, now + ttl_};
}

void StatusCache::Clear() {
  absl::MutexLock lock(&mu_);
  ++generation_;
  entries_.clear();
}

}  // namespace semper::ca
