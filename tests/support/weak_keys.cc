#include "tests/support/weak_keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdexcept>

#include "common/base/status.h"
#include "common/crypto/der.h"
#include "common/crypto/digest.h"
#include "common/crypto/ossl.h"

namespace semper::testing {
namespace {

using BnPtr = std::unique_ptr<BIGNUM, ossl::FnDeleter<BN_free>>;

std::string Bits(std::string_view bytes) {
  return der::Tlv(der::kBitString, std::string(1, '\0') + std::string(bytes));
}

std::string UnsignedInteger(const BIGNUM* bn) {
  std::string be(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(be.data()));
  if (be.empty() || (static_cast<unsigned char>(be[0]) & 0x80) != 0) be.insert(be.begin(), '\0');
  return der::Tlv(der::kInteger, be);
}

std::string AlgorithmOid(const char* dotted, bool null_params) {
  std::string body = der::Oid(dotted);
  if (null_params) body += der::Tlv(der::kNull, "");
  return der::Tlv(der::kSequence, body);
}

std::string Name(const std::string& cn) {
  std::unique_ptr<X509_NAME, ossl::FnDeleter<X509_NAME_free>> name(X509_NAME_new());
  X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                             -1, 0);
  return ossl::ToDer(i2d_X509_NAME, name.get());
}

std::string Info(const std::string& spki, const std::string& cn) {
  return der::Tlv(der::kSequence, der::Integer(0) + Name(cn) + spki + der::Tlv(der::Constructed(0), ""));
}

std::string Request(const std::string& info, const std::string& algorithm, const std::string& signature) {
  return der::Tlv(der::kSequence, info + algorithm + Bits(signature));
}

BnPtr Hex(const char* hex) {
  BIGNUM* bn = nullptr;
  BN_hex2bn(&bn, hex);
  return BnPtr(bn);
}

// EMSA-PKCS1-v1_5 over SHA-256 of `message` for a 2048-bit modulus (RFC 8017 9.2).
std::string Pkcs1Sha256Padded(const std::string& message) {
  static constexpr unsigned char kDigestInfo[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                                  0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
  std::string t = std::string(reinterpret_cast<const char*>(kDigestInfo), sizeof kDigestInfo) + Sha256(message);
  return std::string("\x00\x01", 2) + std::string(256 - 3 - t.size(), '\xff') + std::string(1, '\0') + t;
}

// Checks with OpenSSL's own X509_REQ that the forged self-signature verifies.
void RequireVerifies(const std::string& der, const std::string& what) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<X509_REQ, ossl::FnDeleter<X509_REQ_free>> req(
      d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  EVP_PKEY* key = req ? X509_REQ_get0_pubkey(req.get()) : nullptr;
  if (key == nullptr || X509_REQ_verify(req.get(), key) != 1) {
    ossl::DrainErrors();
    throw std::runtime_error("forged request does not verify: " + what);
  }
}

// Ed25519 with a small-order public key A: [S]B = R + [k]A holds for R = [S]B whatever the
// message, so R = B (S = 1) signs everything.
std::string Ed25519Request(const std::string& point, const std::string& cn) {
  std::string base(32, '\x66');
  base[0] = '\x58';
  std::string s(32, '\0');
  s[0] = 1;
  return Request(Info(Ed25519Spki(point), cn), AlgorithmOid("1.3.101.112", false), base + s);
}

// ECDSA with Q = infinity: u1 G + u2 Q = u1 G, so with R = kG, r = x(R), s = e / k the signature
// verifies for any digest e.
std::string P256InfinityRequest(const std::string& cn) {
  std::string info = Info(P256Spki(std::string(1, '\0')), cn);
  std::string e_bytes = Sha256(info);
  std::unique_ptr<EC_GROUP, ossl::FnDeleter<EC_GROUP_free>> group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  std::unique_ptr<BN_CTX, ossl::FnDeleter<BN_CTX_free>> ctx(BN_CTX_new());
  const BIGNUM* n = EC_GROUP_get0_order(group.get());
  BnPtr k(BN_new()), r(BN_new()), s(BN_new()),
      e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e_bytes.data()), 32, nullptr));
  BN_rand_range(k.get(), n);
  std::unique_ptr<EC_POINT, ossl::FnDeleter<EC_POINT_free>> R(EC_POINT_new(group.get()));
  EC_POINT_mul(group.get(), R.get(), k.get(), nullptr, nullptr, ctx.get());
  EC_POINT_get_affine_coordinates(group.get(), R.get(), r.get(), nullptr, ctx.get());
  BN_nnmod(r.get(), r.get(), n, ctx.get());
  BnPtr kinv(BN_mod_inverse(nullptr, k.get(), n, ctx.get()));
  BN_mod_mul(s.get(), e.get(), kinv.get(), n, ctx.get());
  std::string sig = der::Tlv(der::kSequence, UnsignedInteger(r.get()) + UnsignedInteger(s.get()));
  return Request(info, AlgorithmOid("1.2.840.10045.4.3.2", false), sig);
}

// RSA with e = 1: the signature is the padded digest itself (PKCS#1 v1.5, SHA-256).
std::string RsaExponentOneRequest(const std::string& cn) {
  // A 2048-bit odd modulus above every padded message (top byte 0xff).
  std::string n(256, '\x5b');
  n[0] = '\xff';
  n[255] = '\x01';
  std::string info = Info(RsaSpki(n, 1), cn);
  std::string em = Pkcs1Sha256Padded(info);
  return Request(info, AlgorithmOid("1.2.840.113549.1.1.11", true), em);
}

// RSA with a prime modulus n: d = e^-1 mod (n - 1) is known to anyone; PKCS#1 v1.5 over SHA-256.
std::string RsaPrimeModulusRequest(const std::string& cn) {
  std::unique_ptr<BN_CTX, ossl::FnDeleter<BN_CTX_free>> ctx(BN_CTX_new());
  BnPtr n(BN_new()), e(BN_new()), n1(BN_new());
  BN_set_word(e.get(), 65537);
  do {
    BN_generate_prime_ex(n.get(), 2048, 0, nullptr, nullptr, nullptr);
    BN_sub(n1.get(), n.get(), BN_value_one());
  } while (BnPtr(BN_mod_inverse(nullptr, e.get(), n1.get(), ctx.get())) == nullptr);
  BnPtr d(BN_mod_inverse(nullptr, e.get(), n1.get(), ctx.get()));
  std::string n_be(256, '\0');
  BN_bn2binpad(n.get(), reinterpret_cast<unsigned char*>(n_be.data()), 256);
  std::string info = Info(RsaSpki(n_be, 65537), cn);
  std::string em = Pkcs1Sha256Padded(info);
  BnPtr m(BN_bin2bn(reinterpret_cast<const unsigned char*>(em.data()), 256, nullptr)), sig(BN_new());
  BN_mod_exp(sig.get(), m.get(), d.get(), n.get(), ctx.get());
  std::string sig_be(256, '\0');
  BN_bn2binpad(sig.get(), reinterpret_cast<unsigned char*>(sig_be.data()), 256);
  return Request(info, AlgorithmOid("1.2.840.113549.1.1.11", true), sig_be);
}

}  // namespace

std::string RsaPssSpki(const std::string& n_be, unsigned long e) {
  BnPtr n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n_be.data()), static_cast<int>(n_be.size()), nullptr));
  BnPtr ebn(BN_new());
  BN_set_word(ebn.get(), e);
  std::string key = der::Tlv(der::kSequence, UnsignedInteger(n.get()) + UnsignedInteger(ebn.get()));
  return der::Tlv(der::kSequence, AlgorithmOid("1.2.840.113549.1.1.10", false) + Bits(key));
}

std::string PssMgf1Sha1Request(const PrivateKey& key, const std::string& cn) {
  std::unique_ptr<X509_REQ, ossl::FnDeleter<X509_REQ_free>> req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key.evp());
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key.evp()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha1()) != 1 || X509_REQ_sign_ctx(req.get(), ctx.get()) <= 0) {
    throw std::runtime_error("PSS signing failed");
  }
  return ossl::ToDer(i2d_X509_REQ, req.get());
}

std::string Ed25519Spki(const std::string& raw32) {
  return der::Tlv(der::kSequence, AlgorithmOid("1.3.101.112", false) + Bits(raw32));
}

std::string P256Spki(const std::string& point) {
  return der::Tlv(
      der::kSequence,
      der::Tlv(der::kSequence, der::Oid("1.2.840.10045.2.1") + der::Oid("1.2.840.10045.3.1.7")) + Bits(point));
}

std::string RsaSpki(const std::string& n_be, unsigned long e) {
  BnPtr n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n_be.data()), static_cast<int>(n_be.size()), nullptr));
  BnPtr ebn(BN_new());
  BN_set_word(ebn.get(), e);
  std::string key = der::Tlv(der::kSequence, UnsignedInteger(n.get()) + UnsignedInteger(ebn.get()));
  return der::Tlv(der::kSequence, AlgorithmOid("1.2.840.113549.1.1.1", true) + Bits(key));
}

std::vector<std::string> Ed25519SmallOrderPoints() {
  // Little-endian encodings: y = 1 (identity), y = p - 1 (order 2), y = 0 with either sign (order
  // 4), and the four points of order 8 (two y values, either sign).
  auto le = [](const char* hex_be, bool sign) {
    BnPtr bn = Hex(hex_be);
    std::string out(32, '\0');
    BN_bn2lebinpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), 32);
    if (sign) out[31] = static_cast<char>(out[31] | 0x80);
    return out;
  };
  const char* kP1 = "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffec";  // p - 1
  const char* kY8a = "05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826";
  const char* kY8b = "7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7";
  return {le("1", false),  le(kP1, false), le("0", false),  le("0", true),
          le(kY8a, false), le(kY8a, true), le(kY8b, false), le(kY8b, true)};
}

std::vector<std::string> Ed25519NonCanonicalPoints() {
  std::string p_plus_1(32, '\xff');
  p_plus_1[0] = '\xee';
  p_plus_1[31] = '\x7f';
  std::string identity_with_sign(32, '\0');
  identity_with_sign[0] = 1;
  identity_with_sign[31] = '\x80';
  return {p_plus_1, identity_with_sign};
}

std::vector<ForgedRequest> ForgedRequests(const std::string& cn) {
  std::vector<ForgedRequest> out = {
      {"Ed25519 identity", Ed25519Request(Ed25519SmallOrderPoints()[0], cn)},
      {"P-256 point at infinity", P256InfinityRequest(cn)},
      {"RSA e = 1", RsaExponentOneRequest(cn)},
      {"RSA with a prime modulus", RsaPrimeModulusRequest(cn)},
  };
  for (const ForgedRequest& r : out) RequireVerifies(r.der, r.name);
  return out;
}

std::string Sha1SignedRequest(const PrivateKey& key, const std::string& cn) {
  std::unique_ptr<X509_REQ, ossl::FnDeleter<X509_REQ_free>> req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key.evp());
  if (X509_REQ_sign(req.get(), key.evp(), EVP_sha1()) <= 0) throw std::runtime_error("SHA-1 signing failed");
  return ossl::ToDer(i2d_X509_REQ, req.get());
}

std::string CompressedP256Request(const PrivateKey& key, const std::string& cn) {
  BIGNUM *x = nullptr, *y = nullptr;
  if (EVP_PKEY_get_bn_param(key.evp(), OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
      EVP_PKEY_get_bn_param(key.evp(), OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
    throw std::runtime_error("not a P-256 key");
  }
  BnPtr xp(x), yp(y);
  unsigned char point[33];
  point[0] = static_cast<unsigned char>(0x02 | BN_is_odd(y));
  BN_bn2binpad(x, point + 1, 32);
  std::string info = Info(P256Spki(std::string(reinterpret_cast<const char*>(point), sizeof point)), cn);
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.evp());
  EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(info.data()), info.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(info.data()), info.size());
  sig.resize(len);
  std::string der = Request(info, AlgorithmOid("1.2.840.10045.4.3.2", false), sig);
  RequireVerifies(der, "compressed P-256");
  return der;
}

absl::StatusOr<Certificate> CertificateForSpkiDer(const std::string& spki_der, const CertificateTemplate& tmpl,
                                                  const Certificate& issuer, const PrivateKey& issuer_key) {
  const auto* p = reinterpret_cast<const unsigned char*>(spki_der.data());
  ossl::SpkiPartsPtr parts(reinterpret_cast<ossl::SpkiParts*>(
      ASN1_item_d2i(nullptr, &p, static_cast<long>(spki_der.size()), ossl::SpkiParts_it())));
  if (!parts) return absl::InvalidArgumentError("not a SubjectPublicKeyInfo");
  std::unique_ptr<X509_PUBKEY, ossl::FnDeleter<X509_PUBKEY_free>> spki(X509_PUBKEY_new());
  SEMPER_RETURN_IF_ERROR(
      ossl::SetSpki(spki.get(), parts->algor, ASN1_STRING_get0_data(parts->key), ASN1_STRING_length(parts->key)));
  SEMPER_ASSIGN_OR_RETURN(IssuedCertificate issued, IssueCertificateForSpki(tmpl, spki.get(), issuer, issuer_key));
  return Certificate::FromDer(issued.der);
}

}  // namespace semper::testing
