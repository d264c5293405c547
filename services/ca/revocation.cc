// CRL and OCSP encoding through OpenSSL.
#include "services/ca/revocation.h"

#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
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
                                     std::optional<int64_t> delta_base, absl::Time this_update, absl::Time next_update,
                                     std::string_view freshest_url) {
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
  if (!delta_base.has_value() && !freshest_url.empty()) {
    // FreshestCRL ::= CRLDistributionPoints: one distribution point, its full name the URL.
    CRL_DIST_POINTS* points = sk_DIST_POINT_new_null();
    DIST_POINT* point = DIST_POINT_new();
    GENERAL_NAME* uri = GENERAL_NAME_new();
    ASN1_IA5STRING* text = ASN1_IA5STRING_new();
    bool ok = points != nullptr && point != nullptr && uri != nullptr && text != nullptr &&
              (point->distpoint = DIST_POINT_NAME_new()) != nullptr;
    if (ok) {
      point->distpoint->type = 0;  // fullName
      ok = (point->distpoint->name.fullname = GENERAL_NAMES_new()) != nullptr;
    }
    ok = ok && ASN1_STRING_set(text, freshest_url.data(), static_cast<int>(freshest_url.size())) == 1;
    if (ok) {
      GENERAL_NAME_set0_value(uri, GEN_URI, text);
      text = nullptr;
      ok = sk_GENERAL_NAME_push(point->distpoint->name.fullname, uri) > 0;
      if (ok) uri = nullptr;
    }
    ok = ok && sk_DIST_POINT_push(points, point) > 0;
    if (ok) point = nullptr;
    ok = ok && X509_CRL_add1_ext_i2d(crl.get(), NID_freshest_crl, points, 0, 0) == 1;
    ASN1_IA5STRING_free(text);
    GENERAL_NAME_free(uri);
    DIST_POINT_free(point);
    sk_DIST_POINT_pop_free(points, DIST_POINT_free);
    if (!ok) return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "CRL freshest CRL extension");
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

absl::StatusOr<CrlPtr> ParseCrl(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  if (!crl) return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "stored CRL does not parse");
  return crl;
}

absl::StatusOr<int64_t> CrlNumber(std::string_view der) {
  SEMPER_ASSIGN_OR_RETURN(CrlPtr crl, ParseCrl(der));
  ossl::Asn1IntegerPtr number(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr)));
  int64_t out = 0;
  if (!number || ASN1_INTEGER_get_int64(&out, number.get()) != 1) {
    return MakeError(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "CRL has no usable CRL number");
  }
  return out;
}

absl::StatusOr<absl::Time> CrlNextUpdate(std::string_view der) {
  SEMPER_ASSIGN_OR_RETURN(CrlPtr crl, ParseCrl(der));
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
  struct tm tm {};
  if (next == nullptr || ASN1_TIME_to_tm(next, &tm) != 1) return InvalidField("crl", "has no nextUpdate");
  return absl::FromTM(tm, absl::UTCTimeZone());
}

absl::StatusOr<std::vector<RevokedEntry>> CrlEntries(std::string_view der) {
  SEMPER_ASSIGN_OR_RETURN(CrlPtr crl, ParseCrl(der));
  std::vector<RevokedEntry> out;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    const X509_REVOKED* r = sk_X509_REVOKED_value(revoked, i);
    RevokedEntry e;
    e.serial_hex = SerialToHex(X509_REVOKED_get0_serialNumber(r));
    struct tm tm {};
    if (ASN1_TIME_to_tm(X509_REVOKED_get0_revocationDate(r), &tm) == 1)
      e.revoked_at = absl::FromTM(tm, absl::UTCTimeZone());
    int crit = 0;
    auto* reason = static_cast<ASN1_ENUMERATED*>(X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, nullptr));
    if (reason != nullptr) {
      e.reason = static_cast<int>(ASN1_ENUMERATED_get(reason));
      ASN1_ENUMERATED_free(reason);
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<RevokedEntry> DeltaEntries(const std::vector<RevokedEntry>& base, const std::vector<RevokedEntry>& current,
                                       absl::Time now) {
  absl::flat_hash_map<std::string_view, int> in_base;
  for (const RevokedEntry& e : base) in_base.emplace(e.serial_hex, e.reason);
  absl::flat_hash_set<std::string_view> in_current;
  std::vector<RevokedEntry> out;
  for (const RevokedEntry& e : current) {
    in_current.insert(e.serial_hex);
    auto it = in_base.find(e.serial_hex);
    if (it == in_base.end() || it->second != e.reason) out.push_back(e);
  }
  for (const RevokedEntry& e : base) {
    if (!in_current.contains(e.serial_hex)) out.push_back({e.serial_hex, now, CRL_REASON_REMOVE_FROM_CRL});
  }
  return out;
}

OcspResponder::OcspResponder(Certificate issuer, Certificate signer, PrivateKey signer_key, absl::Duration validity)
    : issuer_(std::move(issuer)), signer_(std::move(signer)), key_(std::move(signer_key)), validity_(validity) {
  for (int nid : {NID_sha1, NID_sha256, NID_sha384, NID_sha512}) {
    const EVP_MD* md = EVP_get_digestbynid(nid);
    unsigned char name[EVP_MAX_MD_SIZE], key[EVP_MAX_MD_SIZE];
    unsigned int name_len = 0, key_len = 0;
    const ASN1_BIT_STRING* bits = X509_get0_pubkey_bitstr(issuer_.x509());
    if (md == nullptr || X509_NAME_digest(X509_get_subject_name(issuer_.x509()), md, name, &name_len) != 1 ||
        EVP_Digest(ASN1_STRING_get0_data(bits), static_cast<size_t>(ASN1_STRING_length(bits)), key, &key_len, md,
                   nullptr) != 1) {
      continue;
    }
    issuer_hashes_.push_back({nid, std::string(reinterpret_cast<char*>(name), name_len),
                              std::string(reinterpret_cast<char*>(key), key_len)});
  }
  std::shared_ptr<EVP_MD_CTX> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  const char* md = key_.type() == KeyType::kEd25519 ? nullptr : "SHA256";
  if (EVP_DigestSignInit_ex(ctx.get(), nullptr, md, nullptr, nullptr, key_.evp(), nullptr) == 1) {
    sign_template_ = std::move(ctx);
  } else {
    ossl::DrainErrors();  // every response will then say internalError; the daemon checks at start
  }
}

bool OcspResponder::IsOurs(int nid, const ASN1_OCTET_STRING* name_hash, const ASN1_OCTET_STRING* key_hash) const {
  auto same = [](const std::string& a, const ASN1_OCTET_STRING* b) {
    return a.size() == static_cast<size_t>(ASN1_STRING_length(b)) &&
           CRYPTO_memcmp(a.data(), ASN1_STRING_get0_data(b), a.size()) == 0;
  };
  for (const IssuerHashes& h : issuer_hashes_) {
    if (h.nid == nid) return same(h.name_hash, name_hash) && same(h.key_hash, key_hash);
  }
  return false;
}

bool OcspResponder::Serves(std::string_view request_der) const {
  const auto* p = reinterpret_cast<const unsigned char*>(request_der.data());
  OcspReqPtr req(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(request_der.size())));
  if (!req || OCSP_request_onereq_count(req.get()) < 1) {
    ossl::DrainErrors();
    return false;
  }
  ASN1_OCTET_STRING* name_hash = nullptr;
  ASN1_OCTET_STRING* key_hash = nullptr;
  ASN1_OBJECT* md_obj = nullptr;
  OCSP_id_get0_info(&name_hash, &md_obj, &key_hash, nullptr,
                    OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), 0)));
  return md_obj != nullptr && name_hash != nullptr && key_hash != nullptr &&
         IsOurs(OBJ_obj2nid(md_obj), name_hash, key_hash);
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
    ASN1_OCTET_STRING* name_hash = nullptr;
    ASN1_OCTET_STRING* key_hash = nullptr;
    ASN1_OBJECT* md_obj = nullptr;
    ASN1_INTEGER* serial = nullptr;
    OCSP_id_get0_info(&name_hash, &md_obj, &key_hash, &serial, cid);
    StatusRecord record;
    if (md_obj != nullptr && serial != nullptr && name_hash != nullptr && key_hash != nullptr &&
        IsOurs(OBJ_obj2nid(md_obj), name_hash, key_hash)) {
      auto found = lookup(SerialToHex(serial));
      if (!found.ok()) return ResponseDer(OCSP_RESPONSE_STATUS_INTERNALERROR, nullptr);
      record = *found;
    }
    int status = record.state == StatusRecord::State::kGood      ? V_OCSP_CERTSTATUS_GOOD
                 : record.state == StatusRecord::State::kRevoked ? V_OCSP_CERTSTATUS_REVOKED
                                                                 : V_OCSP_CERTSTATUS_UNKNOWN;
    TimePtr revoked = Asn1Time(record.revoked_at);
    // Known correct since it was read (never after the response), and "revoked" never before the
    // revocation's own time (one dated after the read began, which the read waited for).
    TimePtr as_of;
    if (record.as_of.has_value()) {
      absl::Time t = std::min(*record.as_of, now);
      if (status == V_OCSP_CERTSTATUS_REVOKED) t = std::max(t, record.revoked_at);
      as_of = Asn1Time(t);
    }
    if (OCSP_basic_add1_status(basic.get(), cid, status, record.reason,
                               status == V_OCSP_CERTSTATUS_REVOKED ? revoked.get() : nullptr,
                               as_of != nullptr ? as_of.get() : this_update.get(), next_update.get()) == nullptr) {
      return ResponseDer(OCSP_RESPONSE_STATUS_INTERNALERROR, nullptr);
    }
  }
  OCSP_copy_nonce(basic.get(), req.get());
  ossl::X509StackPtr extra(sk_X509_new_null());
  X509_up_ref(issuer_.x509());
  sk_X509_push(extra.get(), issuer_.x509());
  ossl::EvpMdCtxPtr sign_ctx(EVP_MD_CTX_new());
  if (!sign_template_ || EVP_MD_CTX_copy_ex(sign_ctx.get(), sign_template_.get()) != 1 ||
      OCSP_basic_sign_ctx(basic.get(), signer_.x509(), sign_ctx.get(), extra.get(), OCSP_RESPID_KEY) != 1) {
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
