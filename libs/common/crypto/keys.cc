// Key generation, PEM/DER encoding and encrypted PKCS#8 through OpenSSL 3 EVP.
#include "common/crypto/keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include <unordered_set>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/der.h"
#include "common/crypto/ossl.h"

namespace semper {
namespace {

std::shared_ptr<EVP_PKEY> Share(EVP_PKEY* key) { return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free); }

absl::Status Malformed(std::string_view what) {
  return ossl::Error(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, what);
}

int PassphraseCallback(char* buf, int size, int /*rwflag*/, void* u) {
  const auto* secret = static_cast<const SecretData*>(u);
  if (secret == nullptr || secret->empty() || secret->size() > static_cast<size_t>(size)) return -1;
  std::copy(secret->Reveal().begin(), secret->Reveal().end(), buf);
  return static_cast<int>(secret->size());
}

}  // namespace

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEcP256:
      return "EC-P256";
    case KeyType::kEd25519:
      return "Ed25519";
    case KeyType::kRsa:
      return "RSA";
  }
  return "unknown";
}

namespace {

absl::Status Weak(std::string_view what) {
  return MakeError(absl::StatusCode::kInvalidArgument, v1::WEAK_KEY, StrCat("the public key is unusable: ", what));
}

using BnPtr = std::unique_ptr<BIGNUM, ossl::FnDeleter<BN_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, ossl::FnDeleter<BN_CTX_free>>;

// Edwards25519 in affine coordinates, enough to decode a point and multiply it by the cofactor.
// Not constant time: it only ever sees public keys.
struct Ed25519Field {
  BnPtr p{BN_new()}, d{BN_new()};
  Ed25519Field() {
    BIGNUM* raw = p.get();
    BN_set_bit(raw, 255);
    BN_sub_word(raw, 19);
    raw = d.get();
    BN_dec2bn(&raw, "37095705934669439343138083508754565189542113879843219016388785533085940283555");
  }
};

const Ed25519Field& Field() {
  static const Ed25519Field* f = new Ed25519Field();
  return *f;
}

// (x, y) <- 2(x, y): x' = 2xy / (1 + d x^2 y^2), y' = (y^2 + x^2) / (1 - d x^2 y^2). The formulas
// are complete on this curve (d is not a square), so no denominator is zero for a point on it.
bool Double(BIGNUM* x, BIGNUM* y, BN_CTX* ctx) {
  const Ed25519Field& f = Field();
  BnPtr xx(BN_new()), yy(BN_new()), t(BN_new()), num(BN_new()), den(BN_new());
  if (!xx || !yy || !t || !num || !den) return false;
  bool ok = BN_mod_sqr(xx.get(), x, f.p.get(), ctx) && BN_mod_sqr(yy.get(), y, f.p.get(), ctx) &&
            BN_mod_mul(t.get(), xx.get(), yy.get(), f.p.get(), ctx) &&
            BN_mod_mul(t.get(), t.get(), f.d.get(), f.p.get(), ctx);
  if (!ok) return false;
  // x' = 2xy / (1 + t)
  ok = BN_mod_mul(num.get(), x, y, f.p.get(), ctx) && BN_mod_add(num.get(), num.get(), num.get(), f.p.get(), ctx) &&
       BN_copy(den.get(), t.get()) && BN_add_word(den.get(), 1) && BN_nnmod(den.get(), den.get(), f.p.get(), ctx) &&
       BN_mod_inverse(den.get(), den.get(), f.p.get(), ctx) != nullptr;
  BnPtr nx(BN_new());
  ok = ok && nx && BN_mod_mul(nx.get(), num.get(), den.get(), f.p.get(), ctx);
  // y' = (y^2 + x^2) / (1 - t)
  ok = ok && BN_mod_add(num.get(), yy.get(), xx.get(), f.p.get(), ctx) && BN_one(den.get()) &&
       BN_mod_sub(den.get(), den.get(), t.get(), f.p.get(), ctx) &&
       BN_mod_inverse(den.get(), den.get(), f.p.get(), ctx) != nullptr &&
       BN_mod_mul(y, num.get(), den.get(), f.p.get(), ctx) && BN_copy(x, nx.get());
  return ok;
}

// RFC 8032 5.1.3 decoding, strictly: y below p, x recovered, x = 0 only with sign bit 0. Then the
// point times the cofactor 8 must not be the identity: the eight points of small order (the
// identity among them) make signatures that verify for anyone.
absl::Status CheckEd25519(const unsigned char* raw, size_t len) {
  if (len != 32) return Weak("an Ed25519 key is 32 bytes");
  unsigned char le[32];
  std::copy(raw, raw + 32, le);
  const bool sign = (le[31] & 0x80) != 0;
  le[31] &= 0x7f;
  const Ed25519Field& f = Field();
  BnCtxPtr ctx(BN_CTX_new());
  BnPtr y(BN_lebin2bn(le, 32, nullptr)), u(BN_new()), v(BN_new()), x(BN_new());
  if (!ctx || !y || !u || !v || !x) return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "bignum");
  if (BN_cmp(y.get(), f.p.get()) >= 0) return Weak("the Ed25519 point is not canonically encoded (y >= p)");
  // x^2 = (y^2 - 1) / (d y^2 + 1)
  bool ok = BN_mod_sqr(u.get(), y.get(), f.p.get(), ctx.get()) &&
            BN_mod_mul(v.get(), u.get(), f.d.get(), f.p.get(), ctx.get()) && BN_add_word(v.get(), 1) &&
            BN_nnmod(v.get(), v.get(), f.p.get(), ctx.get()) && BN_sub_word(u.get(), 1) &&
            BN_nnmod(u.get(), u.get(), f.p.get(), ctx.get()) &&
            BN_mod_inverse(v.get(), v.get(), f.p.get(), ctx.get()) != nullptr &&
            BN_mod_mul(u.get(), u.get(), v.get(), f.p.get(), ctx.get());
  if (!ok) return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "bignum");
  if (BN_is_zero(u.get())) {
    if (sign) return Weak("the Ed25519 point is not canonically encoded (x = 0 with sign bit set)");
    BN_zero(x.get());
  } else {
    if (BN_mod_sqrt(x.get(), u.get(), f.p.get(), ctx.get()) == nullptr) {
      ossl::DrainErrors();
      return Weak("the Ed25519 key is not a point on the curve");
    }
    if (BN_is_odd(x.get()) != (sign ? 1 : 0) && !BN_sub(x.get(), f.p.get(), x.get())) {
      return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "bignum");
    }
  }
  for (int i = 0; i < 3; ++i) {
    if (!Double(x.get(), y.get(), ctx.get()))
      return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "bignum");
  }
  if (BN_is_zero(x.get()) && BN_is_one(y.get())) {
    return Weak("the Ed25519 key is a point of small order, for which anyone can make signatures");
  }
  return absl::OkStatus();
}

absl::Status CheckEc(EVP_PKEY* key) {
  // Named P-256 only (explicit curve parameters are refused even when they are P-256's), and not
  // the hybrid point form (06, 07) that nobody else writes.
  char text[32] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING, text, sizeof text, &len) == 1 &&
      std::string_view(text) != OSSL_PKEY_EC_ENCODING_GROUP) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                     "EC keys must name their curve (P-256), not spell out its parameters");
  }
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, text, sizeof text, &len) == 1 &&
      std::string_view(text) == OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_HYBRID) {
    return Weak("a P-256 point in the hybrid form (06, 07) is not accepted");
  }
  if (EVP_PKEY_get0_provider(key) == nullptr) {
    // A legacy key (a PKCS#11 engine's handle to our own key): the point, if it has one.
    const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key);
    const EC_POINT* point = ec != nullptr ? EC_KEY_get0_public_key(ec) : nullptr;
    if (point == nullptr) return absl::OkStatus();
    if (EC_POINT_is_at_infinity(EC_KEY_get0_group(ec), point) == 1 ||
        EC_POINT_is_on_curve(EC_KEY_get0_group(ec), point, nullptr) != 1) {
      ossl::DrainErrors();
      return Weak("the P-256 key is the point at infinity or not on the curve");
    }
    return absl::OkStatus();
  }
  // Not the point at infinity (encoded as the single byte 00). On the curve it is by import:
  // OpenSSL refuses a point off the curve when it decodes one (EC_POINT_set_affine_coordinates),
  // and P-256 has cofactor 1, so there is no other small subgroup. (EVP_PKEY_public_check_quick
  // says the same but fetches the key manager on every call: half of a guarantee's CPU went to
  // its locks.)
  unsigned char point[133];
  size_t point_len = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &point_len) != 1 ||
      point_len < 33 || (point[0] != 0x02 && point[0] != 0x03 && point[0] != 0x04)) {
    ossl::DrainErrors();
    return Weak("the P-256 key is the point at infinity or not on the curve");
  }
  return absl::OkStatus();
}

absl::Status CheckRsa(EVP_PKEY* key) {
  const RSA* rsa = EVP_PKEY_get0_RSA(key);
  if (rsa == nullptr) return Weak("no RSA key");
  const BIGNUM *n = nullptr, *e = nullptr;
  RSA_get0_key(rsa, &n, &e, nullptr);
  if (n == nullptr || e == nullptr) return Weak("no RSA modulus or exponent");
  if (BN_num_bits(n) > 16384) return Weak("an RSA modulus of more than 16384 bits is not accepted");
  if (!BN_is_odd(n)) return Weak("the RSA modulus is even");
  if (!BN_is_odd(e) || BN_num_bits(e) < 17 || BN_num_bits(e) > 256 || BN_cmp(e, n) >= 0) {
    return Weak("the RSA public exponent must be odd, at least 65537 and below 2^256");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<KeyType> ClassifyKey(EVP_PKEY* key) {
  if (key == nullptr) return Malformed("no key");
  if (EVP_PKEY_is_a(key, "ED25519")) {
    unsigned char raw[32];
    size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) {
      ossl::DrainErrors();
      return Malformed("not an Ed25519 public key");
    }
    SEMPER_RETURN_IF_ERROR(CheckEd25519(raw, len));
    return KeyType::kEd25519;
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {0};
    size_t len = 0;
    bool p256 = EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1 &&
                std::string_view(group) == "prime256v1";
    if (!p256 && EVP_PKEY_get0_provider(key) == nullptr && EVP_PKEY_get_bits(key) == 256) {
      // A legacy key (PKCS#11 engine) of 256 bits: the group query is not answered for those.
      const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key);
      p256 = ec != nullptr && EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) == NID_X9_62_prime256v1;
    }
    if (!p256) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                       StrCat("EC curve ", group, " is not accepted; use P-256"));
    }
    SEMPER_RETURN_IF_ERROR(CheckEc(key));
    return KeyType::kEcP256;
  }
  if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS")) {
    int bits = EVP_PKEY_get_bits(key);
    if (bits < 2048) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                       StrCat("RSA key of ", bits, " bits is too short; use 2048 or more"));
    }
    SEMPER_RETURN_IF_ERROR(CheckRsa(key));
    return KeyType::kRsa;
  }
  return MakeError(
      absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
      StrCat("key type ", EVP_PKEY_get0_type_name(key), " is not accepted; use ECDSA P-256, Ed25519 or RSA"));
}

namespace {

// The odd primes below 2^16, for trial division of RSA moduli.
const std::vector<BN_ULONG>& SmallPrimes() {
  static const std::vector<BN_ULONG>* primes = [] {
    auto* out = new std::vector<BN_ULONG>();
    std::vector<bool> composite(1 << 16, false);
    for (size_t i = 3; i < composite.size(); i += 2) {
      if (composite[i]) continue;
      out->push_back(static_cast<BN_ULONG>(i));
      for (size_t j = i * i; j < composite.size(); j += 2 * i) composite[j] = true;
    }
    return out;
  }();
  return *primes;
}

// Moduli found good (by SHA-256): the primality test costs milliseconds, and a subscriber's key
// is checked at every path that ends in it.
absl::Mutex checked_mu(absl::kConstInit);
std::unordered_set<std::string>* checked_moduli ABSL_GUARDED_BY(checked_mu) = nullptr;

}  // namespace

absl::Status CheckKeyForCertification(const PublicKey& key) {
  if (key.type() != KeyType::kRsa) return absl::OkStatus();  // ClassifyKey checked them fully
  const RSA* rsa = EVP_PKEY_get0_RSA(key.evp());
  const BIGNUM* n = nullptr;
  if (rsa != nullptr) RSA_get0_key(rsa, &n, nullptr, nullptr);
  if (n == nullptr) return Weak("no RSA modulus");
  if (BN_num_bits(n) > 4096) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                     StrCat("an RSA key of ", BN_num_bits(n), " bits is not certified; use 2048 to 4096"));
  }
  const std::string id = [&] {
    std::string be(static_cast<size_t>(BN_num_bytes(n)), '\0');
    BN_bn2bin(n, reinterpret_cast<unsigned char*>(be.data()));
    unsigned char md[32];
    SHA256(reinterpret_cast<const unsigned char*>(be.data()), be.size(), md);
    return std::string(reinterpret_cast<const char*>(md), sizeof md);
  }();
  {
    absl::MutexLock lock(&checked_mu);
    if (checked_moduli != nullptr && checked_moduli->contains(id)) return absl::OkStatus();
  }
  // No factor below 2^16 (OpenSSL's check below stops at 751).
  for (BN_ULONG p : SmallPrimes()) {
    if (BN_mod_word(n, p) == 0) return Weak(StrCat("the RSA modulus has the factor ", p));
  }
  // SP 800-56B 6.4.2.1 (OpenSSL's public check): the modulus is composite and not a prime power.
  // A prime modulus makes its private exponent public.
  ossl::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.evp(), nullptr));
  if (!ctx) return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "key context");
  if (EVP_PKEY_public_check(ctx.get()) != 1) {
    ossl::DrainErrors();
    return Weak("the RSA modulus is prime, a prime power or has small factors");
  }
  absl::MutexLock lock(&checked_mu);
  if (checked_moduli == nullptr || checked_moduli->size() > 100000) {
    delete checked_moduli;
    checked_moduli = new std::unordered_set<std::string>();
  }
  checked_moduli->insert(id);
  return absl::OkStatus();
}

absl::StatusOr<PublicKey> PublicKey::FromEvp(EVP_PKEY* key) {
  SEMPER_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(key));
  EVP_PKEY_up_ref(key);
  return PublicKey(Share(key), type);
}

absl::StatusOr<PublicKey> PublicKey::FromDer(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ossl::SpkiPartsPtr parts(reinterpret_cast<ossl::SpkiParts*>(
      ASN1_item_d2i(nullptr, &p, static_cast<long>(der.size()), ossl::SpkiParts_it())));
  if (!parts || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return Malformed("not a DER SubjectPublicKeyInfo");
  }
  return FromSpki(parts->algor, parts->key);
}

absl::StatusOr<PublicKey> PublicKey::FromSpki(const X509_ALGOR* algor, const ASN1_BIT_STRING* key) {
  const ASN1_OBJECT* alg = nullptr;
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  X509_ALGOR_get0(&alg, &param_type, &param, algor);
  if ((key->flags & ASN1_STRING_FLAG_BITS_LEFT) != 0 && (key->flags & 0x07) != 0) {
    return Malformed("public key bits are not whole bytes");
  }
  const unsigned char* bits = ASN1_STRING_get0_data(key);
  const auto bits_len = static_cast<size_t>(ASN1_STRING_length(key));
  ossl::EvpPkeyPtr pkey;
  int nid = OBJ_obj2nid(alg);
  if (nid == NID_X9_62_id_ecPublicKey && param_type == V_ASN1_OBJECT &&
      OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(param)) == NID_X9_62_prime256v1) {
    // SEC 1 2.3.3: uncompressed (04) or compressed (02, 03); not the point at infinity (00) and
    // not the hybrid form (06, 07) that nobody else accepts.
    if (!((bits_len == 65 && bits[0] == 0x04) || (bits_len == 33 && (bits[0] == 0x02 || bits[0] == 0x03)))) {
      return Weak("a P-256 point is 65 bytes starting 04 or 33 bytes starting 02 or 03");
    }
    thread_local ossl::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    char group[] = "prime256v1";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<unsigned char*>(bits), bits_len),
        OSSL_PARAM_construct_end()};
    EVP_PKEY* out = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
      return Malformed("not a point on P-256");
    }
    pkey.reset(out);
  } else if (nid == NID_ED25519 && param_type == V_ASN1_UNDEF) {
    pkey.reset(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, bits, bits_len));
    if (!pkey) return Malformed("not an Ed25519 public key");
  } else {
    // Everything else through OpenSSL's generic decoder.
    std::unique_ptr<X509_PUBKEY, ossl::FnDeleter<X509_PUBKEY_free>> spki(X509_PUBKEY_new());
    SEMPER_RETURN_IF_ERROR(ossl::SetSpki(spki.get(), algor, bits, static_cast<int>(bits_len)));
    std::string der = ossl::ToDer(i2d_X509_PUBKEY, spki.get());
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    pkey.reset(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
    if (!pkey) return Malformed("not a usable public key");
  }
  return FromEvp(pkey.get());
}

absl::StatusOr<PublicKey> PublicKey::FromPem(std::string_view pem) {
  auto bio = ossl::ReadBio(pem);
  ossl::EvpPkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return Malformed("not a PEM public key");
  return FromEvp(key.get());
}

std::string PublicKey::Der() const { return ossl::ToDer(i2d_PUBKEY, key_.get()); }

std::string PublicKey::Pem() const {
  auto bio = ossl::WriteBio();
  PEM_write_bio_PUBKEY(bio.get(), key_.get());
  return ossl::BioContents(bio.get());
}

std::string PublicKey::CanonicalDer() const {
  if (type_ == KeyType::kEcP256) {
    const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key_.get());
    unsigned char point[65];
    if (ec != nullptr &&
        EC_POINT_point2oct(EC_KEY_get0_group(ec), EC_KEY_get0_public_key(ec), POINT_CONVERSION_UNCOMPRESSED, point,
                           sizeof point, nullptr) == sizeof point) {
      static constexpr unsigned char kPrefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                                  0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                                  0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
      std::string out(reinterpret_cast<const char*>(kPrefix), sizeof kPrefix);
      out.append(reinterpret_cast<const char*>(point), sizeof point);
      return out;
    }
  }
  if (type_ == KeyType::kRsa) {
    // rsaEncryption with NULL parameters (RFC 3279 2.3.1) over RSAPublicKey {n, e}, whether the
    // key came as rsaEncryption or as RSASSA-PSS.
    const RSA* rsa = EVP_PKEY_get0_RSA(key_.get());
    const BIGNUM *n = nullptr, *e = nullptr;
    if (rsa != nullptr) RSA_get0_key(rsa, &n, &e, nullptr);
    if (n != nullptr && e != nullptr) {
      auto integer = [](const BIGNUM* bn) {
        std::string be(static_cast<size_t>(BN_num_bytes(bn)), '\0');
        BN_bn2bin(bn, reinterpret_cast<unsigned char*>(be.data()));
        if (be.empty() || (static_cast<unsigned char>(be[0]) & 0x80) != 0) be.insert(be.begin(), '\0');
        return der::Tlv(der::kInteger, be);
      };
      std::string key = der::Tlv(der::kSequence, integer(n) + integer(e));
      return der::Tlv(der::kSequence,
                      der::Tlv(der::kSequence, der::Oid("1.2.840.113549.1.1.1") + der::Tlv(der::kNull, "")) +
                          der::Tlv(der::kBitString, std::string(1, '\0') + key));
    }
  }
  return Der();
}

bool PublicKey::Equals(const PublicKey& other) const { return EVP_PKEY_eq(key_.get(), other.key_.get()) == 1; }

absl::StatusOr<PrivateKey> PrivateKey::Generate(KeyType type, int rsa_bits) {
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::kEcP256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kEd25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case KeyType::kRsa:
      if (rsa_bits < 2048 || rsa_bits > 8192) {
        return InvalidField("rsa_bits", "must be between 2048 and 8192");
      }
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(rsa_bits));
      break;
  }
  if (key == nullptr) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "key generation failed");
  }
  return PrivateKey(Share(key), type);
}

absl::StatusOr<PrivateKey> PrivateKey::FromPem(std::string_view pem, const SecretData& passphrase,
                                               bool allow_unencrypted) {
  const bool encrypted = pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos;
  if (!encrypted && !allow_unencrypted) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                     "private key is not an encrypted PKCS#8 PEM (BEGIN ENCRYPTED PRIVATE KEY)");
  }
  if (encrypted && passphrase.empty()) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY,
                     "private key is encrypted and no passphrase was given");
  }
  auto bio = ossl::ReadBio(pem);
  ossl::EvpPkeyPtr key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, PassphraseCallback, const_cast<SecretData*>(&passphrase)));
  if (!key) {
    ossl::DrainErrors();
    if (encrypted) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY,
                       "cannot decrypt the private key: wrong passphrase or damaged file");
    }
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, "not a PEM private key");
  }
  SEMPER_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(key.get()));
  return PrivateKey(Share(key.release()), type);
}

absl::StatusOr<PrivateKey> PrivateKey::FromEvp(EVP_PKEY* owned) {
  std::shared_ptr<EVP_PKEY> key = Share(owned);
  SEMPER_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(key.get()));
  return PrivateKey(std::move(key), type);
}

absl::StatusOr<std::string> PrivateKey::ToEncryptedPem(const SecretData& passphrase) const {
  if (passphrase.size() < 8) {
    return InvalidField("passphrase", "must be at least 8 characters");
  }
  auto bio = ossl::WriteBio();
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), EVP_aes_256_cbc(), nullptr, 0, PassphraseCallback,
                                    const_cast<SecretData*>(&passphrase)) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "encrypting key failed");
  }
  return ossl::BioContents(bio.get());
}

SecretData PrivateKey::ToUnencryptedPemSecret() const {
  auto bio = ossl::WriteBio();
  PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::string pem = ossl::BioContents(bio.get());
  SecretData secret(pem);
  OPENSSL_cleanse(pem.data(), pem.size());
  return secret;
}

PublicKey PrivateKey::public_key() const {
  // A public-only copy, so that code holding a PublicKey never holds private material.
  std::string bytes = ossl::ToDer(i2d_PUBKEY, key_.get());
  return *PublicKey::FromDer(bytes);
}

}  // namespace semper
