// X.509 parsing, path validation and issuance through OpenSSL 3.
#include "common/crypto/certificate.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <functional>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/digest.h"
#include "common/crypto/ossl.h"
#include "common/crypto/random.h"

namespace semper {
namespace {

absl::Status Malformed(std::string_view what) {
  return ossl::Error(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, what);
}

absl::Time FromAsn1Time(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

ossl::Asn1ObjectPtr ParseOid(std::string_view oid_or_name) {
  return ossl::Asn1ObjectPtr(OBJ_txt2obj(std::string(oid_or_name).c_str(), 0));
}

std::string KeyUsageConf(uint32_t ku) {
  std::vector<std::string> parts;
  if (ku & kKuDigitalSignature) parts.push_back("digitalSignature");
  if (ku & kKuNonRepudiation) parts.push_back("nonRepudiation");
  if (ku & kKuKeyEncipherment) parts.push_back("keyEncipherment");
  if (ku & kKuDataEncipherment) parts.push_back("dataEncipherment");
  if (ku & kKuKeyAgreement) parts.push_back("keyAgreement");
  if (ku & kKuKeyCertSign) parts.push_back("keyCertSign");
  if (ku & kKuCrlSign) parts.push_back("cRLSign");
  return StrCat("critical,", absl::StrJoin(parts, ","));
}

bool HasEku(X509* cert, int nid) {
  auto* ekus = static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr));
  if (ekus == nullptr) return false;
  bool found = false;
  for (int i = 0; i < sk_ASN1_OBJECT_num(ekus); ++i) {
    if (OBJ_obj2nid(sk_ASN1_OBJECT_value(ekus, i)) == nid) found = true;
  }
  EXTENDED_KEY_USAGE_free(ekus);
  return found;
}

}  // namespace

Certificate Certificate::FromX509(X509* cert) {
  X509_up_ref(cert);
  return Certificate(std::shared_ptr<X509>(cert, X509_free));
}

absl::StatusOr<Certificate> Certificate::FromDer(std::string_view der) {
  // The same few certificates (a buyer's, a seller's, the CA's) arrive in request after request,
  // and OpenSSL 3.0 decodes each one's key through its generic, lock-heavy decoder (~100 µs):
  // parsed certificates are kept, by their exact DER, and shared (they are immutable). Kept: at
  // most 4,096 of at most 8 KiB each (anyone can send large ones; those are parsed, not kept).
  constexpr size_t kMaxKeptBytes = 8192;
  static absl::Mutex mu(absl::kConstInit);
  static auto* parsed = new absl::flat_hash_map<std::string, std::shared_ptr<X509>>();
  const bool keep = der.size() <= kMaxKeptBytes;
  if (keep) {
    absl::MutexLock lock(&mu);
    // Looked up by the bytes themselves (no copy of the DER per call).
    if (auto it = parsed->find(absl::string_view(der.data(), der.size())); it != parsed->end()) {
      return Certificate(it->second);
    }
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return Malformed("not a DER X.509 certificate");
  }
  std::shared_ptr<X509> shared(cert.release(), X509_free);
  if (!keep) return Certificate(std::move(shared));
  absl::MutexLock lock(&mu);
  if (parsed->size() >= 4096) parsed->clear();
  parsed->emplace(std::string(der), shared);
  return Certificate(std::move(shared));
}

absl::StatusOr<Certificate> Certificate::FromPem(std::string_view pem) {
  auto bio = ossl::ReadBio(pem);
  ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Malformed("not a PEM X.509 certificate");
  return Certificate(std::shared_ptr<X509>(cert.release(), X509_free));
}

absl::StatusOr<std::vector<Certificate>> Certificate::ChainFromPem(std::string_view pem) {
  size_t expected = 0;
  for (size_t pos = 0; (pos = pem.find("-----BEGIN CERTIFICATE-----", pos)) != pem.npos; ++pos) {
    ++expected;
  }
  auto bio = ossl::ReadBio(pem);
  std::vector<Certificate> out;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.push_back(Certificate(std::shared_ptr<X509>(cert, X509_free)));
  }
  ossl::DrainErrors();
  if (out.empty() || out.size() != expected) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                     StrCat("PEM bundle holds ", expected, " certificate blocks, ", out.size(), " of them readable"));
  }
  return out;
}

std::string Certificate::Der() const {
  absl::call_once(names_->der_once, [this] { names_->der = ossl::ToDer(i2d_X509, cert_.get()); });
  return names_->der;
}

std::string Certificate::Pem() const {
  auto bio = ossl::WriteBio();
  PEM_write_bio_X509(bio.get(), cert_.get());
  return ossl::BioContents(bio.get());
}

const Certificate::Names& Certificate::names() const {
  absl::call_once(names_->once, [this] {
    names_->subject = ossl::NameToString(X509_get_subject_name(cert_.get()));
    names_->issuer = ossl::NameToString(X509_get_issuer_name(cert_.get()));
    ossl::BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_.get()), nullptr));
    if (char* hex = bn ? BN_bn2hex(bn.get()) : nullptr; hex != nullptr) {
      names_->serial_hex = hex;
      OPENSSL_free(hex);
    }
  });
  return *names_;
}

std::string Certificate::Subject() const { return names().subject; }
std::string Certificate::Issuer() const { return names().issuer; }
std::string Certificate::SerialHex() const { return names().serial_hex; }

absl::Time Certificate::not_before() const { return FromAsn1Time(X509_get0_notBefore(cert_.get())); }
absl::Time Certificate::not_after() const { return FromAsn1Time(X509_get0_notAfter(cert_.get())); }

absl::StatusOr<PublicKey> Certificate::public_key() const { return PublicKey::FromEvp(X509_get0_pubkey(cert_.get())); }

std::string Certificate::SpkiDer() const {
  if (EVP_PKEY* key = X509_get0_pubkey(cert_.get()); key != nullptr) {
    if (auto pub = PublicKey::FromEvp(key); pub.ok()) return pub->CanonicalDer();
  }
  ossl::DrainErrors();
  return ossl::ToDer(i2d_X509_PUBKEY, X509_get_X509_PUBKEY(cert_.get()));
}

bool Certificate::is_ca() const { return (X509_get_extension_flags(cert_.get()) & EXFLAG_CA) != 0; }

std::optional<uint32_t> Certificate::key_usage() const {
  if ((X509_get_extension_flags(cert_.get()) & EXFLAG_KUSAGE) == 0) return std::nullopt;
  uint32_t ossl_ku = X509_get_key_usage(cert_.get());
  uint32_t ku = 0;
  if (ossl_ku & KU_DIGITAL_SIGNATURE) ku |= kKuDigitalSignature;
  if (ossl_ku & KU_NON_REPUDIATION) ku |= kKuNonRepudiation;
  if (ossl_ku & KU_KEY_ENCIPHERMENT) ku |= kKuKeyEncipherment;
  if (ossl_ku & KU_DATA_ENCIPHERMENT) ku |= kKuDataEncipherment;
  if (ossl_ku & KU_KEY_AGREEMENT) ku |= kKuKeyAgreement;
  if (ossl_ku & KU_KEY_CERT_SIGN) ku |= kKuKeyCertSign;
  if (ossl_ku & KU_CRL_SIGN) ku |= kKuCrlSign;
  return ku;
}

std::optional<std::string> Certificate::SubjectAttribute(std::string_view oid_or_name) const {
  std::vector<std::string> values = SubjectAttributes(oid_or_name);
  if (values.empty()) return std::nullopt;
  return values.front();
}

std::vector<std::string> Certificate::SubjectAttributes(std::string_view oid_or_name) const {
  return ossl::NameAttributes(X509_get_subject_name(cert_.get()), oid_or_name);
}

std::optional<std::string> Certificate::ExtensionValue(std::string_view oid) const {
  auto obj = ParseOid(oid);
  if (!obj) return std::nullopt;
  int idx = X509_get_ext_by_OBJ(cert_.get(), obj.get(), -1);
  if (idx < 0) return std::nullopt;
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(cert_.get(), idx));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<size_t>(ASN1_STRING_length(data)));
}

std::string Certificate::Fingerprint() const { return HexEncode(Sha256(Der())); }

absl::StatusOr<TrustStore> TrustStore::New(std::vector<Certificate> roots) {
  if (roots.empty()) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD,
                     "a trust store needs at least one root certificate");
  }
  for (const Certificate& root : roots) {
    if (!root.is_ca() || (X509_get_extension_flags(root.x509()) & EXFLAG_SS) == 0) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::CERTIFICATE_UNTRUSTED,
                       StrCat("trust anchor ", root.Subject(), " is not a self-signed CA certificate"));
    }
  }
  return TrustStore(std::move(roots));
}

absl::StatusOr<TrustStore> TrustStore::FromPem(std::string_view pem) {
  SEMPER_ASSIGN_OR_RETURN(auto roots, Certificate::ChainFromPem(pem));
  return New(std::move(roots));
}

// Paths found, by SHA-256 over the purpose and the exact DER of the leaf and of each intermediate
// (length-prefixed), with the times [from, until) around the time it was found in which no
// certificate of the path, of the intermediates given or of the roots starts or ends its validity:
// within them OpenSSL would find the same path (it picks the first issuer valid at the time).
// Bounded: emptied when full.
struct TrustStore::KeptPaths {
  struct Path {
    std::vector<Certificate> certificates;
    time_t from, until;  // notBefore counts from its second, notAfter is the first second expired
  };
  static constexpr size_t kMaxEntries = 4096;
  absl::Mutex mu;
  absl::flat_hash_map<std::string, Path> paths ABSL_GUARDED_BY(mu);
};

TrustStore::TrustStore(std::vector<Certificate> roots)
    : roots_(std::move(roots)), kept_(std::make_shared<KeptPaths>()) {}

absl::StatusOr<std::vector<Certificate>> TrustStore::VerifyPath(const Certificate& leaf,
                                                                const std::vector<Certificate>& intermediates,
                                                                absl::Time at, KeyPurpose purpose) const {
  std::string key_input = StrCat(static_cast<int>(purpose), ":");
  auto add = [&](const Certificate& c) {
    const std::string der = c.Der();
    StrAppend(&key_input, der.size(), ":", der);
  };
  add(leaf);
  for (const Certificate& c : intermediates) add(c);
  const std::string key = Sha256(key_input);
  const time_t t = absl::ToTimeT(at);
  {
    absl::MutexLock lock(&kept_->mu);
    auto it = kept_->paths.find(key);
    if (it != kept_->paths.end() && it->second.from <= t && t < it->second.until) {
      return it->second.certificates;
    }
  }
  SEMPER_ASSIGN_OR_RETURN(std::vector<Certificate> path, BuildPath(leaf, intermediates, at, purpose));
  KeptPaths::Path kept{path, std::numeric_limits<time_t>::min(), std::numeric_limits<time_t>::max()};
  auto bound = [&](const Certificate& c) {
    for (const time_t b : {absl::ToTimeT(c.not_before()), absl::ToTimeT(c.not_after())}) {
      if (b <= t) {
        kept.from = std::max(kept.from, b);
      } else {
        kept.until = std::min(kept.until, b);
      }
    }
  };
  for (const Certificate& c : path) bound(c);
  for (const Certificate& c : intermediates) bound(c);
  for (const Certificate& c : roots_) bound(c);
  absl::MutexLock lock(&kept_->mu);
  if (kept_->paths.size() >= KeptPaths::kMaxEntries) kept_->paths.clear();
  kept_->paths.insert_or_assign(key, std::move(kept));
  return path;
}

absl::StatusOr<std::vector<Certificate>> TrustStore::BuildPath(const Certificate& leaf,
                                                               const std::vector<Certificate>& intermediates,
                                                               absl::Time at, KeyPurpose purpose) const {
  // A store per call: verification parameters (time, purpose) are then never shared.
  ossl::X509StorePtr store(X509_STORE_new());
  for (const Certificate& root : roots_) X509_STORE_add_cert(store.get(), root.x509());
  ossl::X509StackPtr untrusted(sk_X509_new_null());
  for (const Certificate& c : intermediates) {
    X509_up_ref(c.x509());
    sk_X509_push(untrusted.get(), c.x509());
  }
  ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf.x509(), untrusted.get()) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "verify context");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(at));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  switch (purpose) {
    case KeyPurpose::kClientAuth:
      X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
      break;
    case KeyPurpose::kServerAuth:
      X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
      break;
    case KeyPurpose::kTimeStamping:
      X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_TIMESTAMP_SIGN);
      break;
    default:
      break;
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    X509* bad = X509_STORE_CTX_get_current_cert(ctx.get());
    std::string who = bad != nullptr ? ossl::NameToString(X509_get_subject_name(bad)) : leaf.Subject();
    ossl::DrainErrors();
    return MakeError(
        absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED,
        StrCat("certificate \"", who, "\" is not trusted at ",
               absl::FormatTime(absl::RFC3339_sec, at, absl::UTCTimeZone()), ": ", X509_verify_cert_error_string(err)),
        {{"x509_error", X509_verify_cert_error_string(err)}});
  }

  // A path is only as good as the key at its end: a certificate for a key that anyone can sign
  // for (issued by another CA, or before keys were checked) proves nothing about its subject.
  absl::Status key_ok;
  if (auto key = leaf.public_key(); !key.ok()) {
    key_ok = key.status();
  } else {
    key_ok = CheckKeyForCertification(*key);
  }
  if (!key_ok.ok()) {
    return MakeError(absl::StatusCode::kFailedPrecondition,
                     ReasonOf(key_ok) == v1::WEAK_KEY ? v1::WEAK_KEY : v1::CERTIFICATE_UNTRUSTED,
                     StrCat("certificate \"", leaf.Subject(), "\" is not relied on: ", key_ok.message()),
                     {{"x509_error", "public key"}});
  }
  auto misuse = [&](std::string_view need) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED,
                     StrCat("certificate \"", leaf.Subject(), "\" is not for ", need), {{"x509_error", "key usage"}});
  };
  std::optional<uint32_t> ku = leaf.key_usage();
  auto ku_has = [&](uint32_t bits) { return ku.has_value() && (*ku & bits) != 0; };
  if (purpose != KeyPurpose::kAny && leaf.is_ca()) return misuse("end-entity use (it is a CA)");
  switch (purpose) {
    case KeyPurpose::kAny:
      break;
    case KeyPurpose::kDigitalSignature:
      if (!ku_has(kKuDigitalSignature)) return misuse("digital signatures (digitalSignature)");
      break;
    case KeyPurpose::kNonRepudiation:
      if (!ku_has(kKuNonRepudiation)) return misuse("signing documents (nonRepudiation)");
      break;
    case KeyPurpose::kClientAuth:
    case KeyPurpose::kServerAuth:
      if (ku.has_value() && !ku_has(kKuDigitalSignature | kKuKeyAgreement)) {
        return misuse("TLS (digitalSignature)");
      }
      break;
    case KeyPurpose::kTimeStamping: {
      int idx = X509_get_ext_by_NID(leaf.x509(), NID_ext_key_usage, -1);
      if (idx < 0 || X509_EXTENSION_get_critical(X509_get_ext(leaf.x509(), idx)) != 1) {
        return misuse("time-stamping (critical extendedKeyUsage timeStamping)");
      }
      break;
    }
    case KeyPurpose::kOcspSigning:
      if (!HasEku(leaf.x509(), NID_OCSP_sign)) return misuse("OCSP signing (OCSPSigning)");
      break;
    case KeyPurpose::kEncryption:
      if (!ku_has(kKuKeyEncipherment | kKuKeyAgreement)) {
        return misuse("encryption (keyEncipherment or keyAgreement)");
      }
      break;
  }

  ossl::X509StackPtr chain(X509_STORE_CTX_get1_chain(ctx.get()));
  std::vector<Certificate> path;
  for (int i = 0; i < sk_X509_num(chain.get()); ++i) {
    path.push_back(Certificate::FromX509(sk_X509_value(chain.get(), i)));
  }
  return path;
}

namespace {

// Copies algorithm and key bits of `from` into `to` without decoding or encoding the key.
absl::Status CopySpki(X509_PUBKEY* from, X509_PUBKEY* to) {
  const unsigned char* bits = nullptr;
  int bits_len = 0;
  X509_ALGOR* algor = nullptr;
  if (X509_PUBKEY_get0_param(nullptr, &bits, &bits_len, &algor, from) != 1) {
    return ossl::Error(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, "public key info");
  }
  return ossl::SetSpki(to, algor, bits, bits_len);
}

absl::StatusOr<Certificate> IssueWith(const CertificateTemplate& tmpl,
                                      const std::function<absl::Status(X509*)>& set_key, const Certificate* issuer,
                                      const PrivateKey& issuer_key);

}  // namespace

absl::StatusOr<IssuedCertificate> IssueCertificateForSpki(const CertificateTemplate& tmpl, X509_PUBKEY* subject_spki,
                                                          const Certificate& issuer, const PrivateKey& issuer_key) {
  SEMPER_ASSIGN_OR_RETURN(Certificate raw,
                          IssueWith(
                              tmpl, [subject_spki](X509* x) { return CopySpki(subject_spki, X509_get_X509_PUBKEY(x)); },
                              &issuer, issuer_key));
  // `raw` has the key undecoded, so it is not handed out as a Certificate (path validation
  // would fail on it); its encoded fields are all a CA needs.
  return IssuedCertificate{raw.Der(), raw.SerialHex(), raw.Subject(), raw.SpkiDer(), raw.not_before(), raw.not_after()};
}

absl::StatusOr<Certificate> IssueCertificate(const CertificateTemplate& tmpl, const PublicKey& subject_key,
                                             const Certificate* issuer, const PrivateKey& issuer_key) {
  if (issuer == nullptr && EVP_PKEY_eq(subject_key.evp(), issuer_key.evp()) != 1) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY,
                     "a self-signed certificate must be signed by the subject's own key");
  }
  return IssueWith(
      tmpl,
      [&subject_key](X509* x) {
        return X509_set_pubkey(x, subject_key.evp()) == 1
                   ? absl::OkStatus()
                   : ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "setting the public key");
      },
      issuer, issuer_key);
}

namespace {

absl::StatusOr<Certificate> IssueWith(const CertificateTemplate& tmpl,
                                      const std::function<absl::Status(X509*)>& set_key, const Certificate* issuer,
                                      const PrivateKey& issuer_key) {
  if (tmpl.subject.empty()) return InvalidField("subject", "must name at least one attribute");
  if (tmpl.not_after <= tmpl.not_before) {
    return InvalidField("not_after", "must be later than not_before");
  }
  if (issuer != nullptr && X509_check_private_key(issuer->x509(), issuer_key.evp()) != 1) {
    ossl::DrainErrors();
    return MakeError(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY,
                     "issuer key does not match the issuer certificate");
  }
  ossl::X509Ptr x(X509_new());
  X509_set_version(x.get(), X509_VERSION_3);

  std::string serial = tmpl.serial;
  if (serial.empty()) {
    serial = RandomBytes(16);
    serial[0] = static_cast<char>((serial[0] & 0x7f) | 0x40);  // positive, full length
  }
  ossl::BignumPtr bn(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()), static_cast<int>(serial.size()), nullptr));
  if (!bn || BN_is_zero(bn.get())) return InvalidField("serial", "must be a positive number");
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get()));

  ossl::X509NamePtr name(X509_NAME_new());
  for (const auto& [field, value] : tmpl.subject) {
    if (X509_NAME_add_entry_by_txt(name.get(), field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0) != 1) {
      ossl::DrainErrors();
      return InvalidField(StrCat("subject.", field), "unknown attribute or invalid value");
    }
  }
  X509_set_subject_name(x.get(), name.get());
  X509_set_issuer_name(x.get(), issuer != nullptr ? X509_get_subject_name(issuer->x509()) : name.get());
  ASN1_TIME_set(X509_getm_notBefore(x.get()), absl::ToTimeT(tmpl.not_before));
  ASN1_TIME_set(X509_getm_notAfter(x.get()), absl::ToTimeT(tmpl.not_after));
  SEMPER_RETURN_IF_ERROR(set_key(x.get()));

  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer != nullptr ? issuer->x509() : x.get(), x.get(), nullptr, nullptr, 0);
  auto add = [&](int nid, const std::string& value) -> absl::Status {
    ossl::X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str()));
    if (!ext || X509_add_ext(x.get(), ext.get(), -1) != 1) {
      return ossl::Error(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD,
                         StrCat("extension ", OBJ_nid2sn(nid), "=", value));
    }
    return absl::OkStatus();
  };
  std::string bc = tmpl.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE";
  if (tmpl.is_ca && tmpl.path_length >= 0) StrAppend(&bc, ",pathlen:", tmpl.path_length);
  SEMPER_RETURN_IF_ERROR(add(NID_basic_constraints, bc));
  if (tmpl.key_usage != 0) SEMPER_RETURN_IF_ERROR(add(NID_key_usage, KeyUsageConf(tmpl.key_usage)));
  if (!tmpl.extended_key_usage.empty()) {
    std::string eku = absl::StrJoin(tmpl.extended_key_usage, ",");
    if (tmpl.extended_key_usage_critical) eku = StrCat("critical,", eku);
    SEMPER_RETURN_IF_ERROR(add(NID_ext_key_usage, eku));
  }
  SEMPER_RETURN_IF_ERROR(add(NID_subject_key_identifier, "hash"));
  SEMPER_RETURN_IF_ERROR(add(NID_authority_key_identifier, "keyid:always"));
  if (!tmpl.crl_urls.empty()) {
    std::vector<std::string> uris;
    for (const auto& u : tmpl.crl_urls) uris.push_back(StrCat("URI:", u));
    SEMPER_RETURN_IF_ERROR(add(NID_crl_distribution_points, absl::StrJoin(uris, ",")));
  }
  if (!tmpl.ocsp_url.empty()) {
    SEMPER_RETURN_IF_ERROR(add(NID_info_access, StrCat("OCSP;URI:", tmpl.ocsp_url)));
  }
  if (!tmpl.dns_names.empty() || !tmpl.ip_addresses.empty()) {
    std::vector<std::string> names;
    for (const auto& d : tmpl.dns_names) names.push_back(StrCat("DNS:", d));
    for (const auto& ip : tmpl.ip_addresses) names.push_back(StrCat("IP:", ip));
    SEMPER_RETURN_IF_ERROR(add(NID_subject_alt_name, absl::StrJoin(names, ",")));
  }
  for (const auto& e : tmpl.extensions) {
    auto obj = ParseOid(e.oid);
    ossl::Asn1OctetStringPtr data(ASN1_OCTET_STRING_new());
    if (!obj || !data ||
        ASN1_OCTET_STRING_set(data.get(), reinterpret_cast<const unsigned char*>(e.der_value.data()),
                              static_cast<int>(e.der_value.size())) != 1) {
      return InvalidField("extensions", StrCat("bad extension ", e.oid));
    }
    ossl::X509ExtensionPtr ext(X509_EXTENSION_create_by_OBJ(nullptr, obj.get(), e.critical ? 1 : 0, data.get()));
    if (!ext || X509_add_ext(x.get(), ext.get(), -1) != 1) {
      return ossl::Error(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD, StrCat("extension ", e.oid));
    }
  }

  ossl::EvpMdCtxPtr md_ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = issuer_key.type() == KeyType::kEd25519 ? nullptr : EVP_sha256();
  if (EVP_DigestSignInit(md_ctx.get(), &pctx, md, nullptr, issuer_key.evp()) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "certificate signing");
  }
  if (issuer_key.type() == KeyType::kRsa && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                                             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "PSS setup");
  }
  if (X509_sign_ctx(x.get(), md_ctx.get()) <= 0) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "certificate signing");
  }
  return Certificate::FromX509(x.get());
}

}  // namespace

}  // namespace semper
