// RFC 9474 with OpenSSL 3: BIGNUM arithmetic for the client, EVP for the RSA operations.
#include "common/crypto/blind_rsa.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/digest.h"
#include "common/crypto/ossl.h"
#include "common/crypto/random.h"

namespace semper::blind_rsa {
namespace {

constexpr size_t kHashLen = 48;  // SHA-384
constexpr size_t kSaltLen = 48;

using BnCtxPtr = std::unique_ptr<BN_CTX, ossl::FnDeleter<BN_CTX_free>>;

absl::Status NotRsa() {
  return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM, "blind signatures need an RSA key");
}

struct RsaPublic {
  ossl::BignumPtr n, e;
  size_t bits = 0, len = 0;
};

absl::StatusOr<RsaPublic> PublicOf(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) return NotRsa();
  BIGNUM *n = nullptr, *e = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    BN_free(n);
    BN_free(e);
    return ossl::Error(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM, "reading the RSA key");
  }
  RsaPublic p{ossl::BignumPtr(n), ossl::BignumPtr(e)};
  p.bits = static_cast<size_t>(BN_num_bits(n));
  p.len = (p.bits + 7) / 8;
  return p;
}

std::string I2osp(const BIGNUM* x, size_t len) {
  std::string out(len, '\0');
  BN_bn2binpad(x, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(len));
  return out;
}

ossl::BignumPtr Os2ip(std::string_view bytes) {
  return ossl::BignumPtr(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr));
}

// MGF1 with SHA-384 (RFC 8017 B.2.1).
std::string Mgf1(std::string_view seed, size_t len) {
  std::string mask;
  for (uint32_t counter = 0; mask.size() < len; ++counter) {
    std::string c = {static_cast<char>(counter >> 24), static_cast<char>(counter >> 16),
                     static_cast<char>(counter >> 8), static_cast<char>(counter)};
    mask += ComputeDigest(HashAlgorithm::kSha384, StrCat(seed, c));
  }
  mask.resize(len);
  return mask;
}

// EMSA-PSS-ENCODE (RFC 8017 9.1.1) with SHA-384 and a random 48-byte salt, emBits = modBits - 1.
absl::StatusOr<std::string> PssEncode(std::string_view message, size_t em_bits) {
  const size_t em_len = (em_bits + 7) / 8;
  if (em_len < kHashLen + kSaltLen + 2) return InvalidField("key", "the RSA modulus is too small for PSS with SHA-384");
  const std::string m_hash = ComputeDigest(HashAlgorithm::kSha384, message);
  const std::string salt = RandomBytes(kSaltLen);
  const std::string h = ComputeDigest(HashAlgorithm::kSha384, StrCat(std::string(8, '\0'), m_hash, salt));
  std::string db(em_len - kSaltLen - kHashLen - 2, '\0');
  db.push_back('\x01');
  db += salt;
  const std::string mask = Mgf1(h, em_len - kHashLen - 1);
  for (size_t i = 0; i < db.size(); ++i) db[i] = static_cast<char>(db[i] ^ mask[i]);
  db[0] = static_cast<char>(static_cast<unsigned char>(db[0]) & (0xff >> (8 * em_len - em_bits)));
  return StrCat(db, h, "\xbc");
}

}  // namespace

std::string Prepare(std::string_view message) { return StrCat(RandomBytes(32), message); }

absl::StatusOr<Blinding> Blind(const PublicKey& key, std::string_view prepared) {
  SEMPER_ASSIGN_OR_RETURN(RsaPublic pk, PublicOf(key.evp()));
  SEMPER_ASSIGN_OR_RETURN(std::string encoded, PssEncode(prepared, pk.bits - 1));
  BnCtxPtr ctx(BN_CTX_new());
  ossl::BignumPtr m = Os2ip(encoded);
  ossl::BignumPtr gcd(BN_new()), r(BN_new()), r_inv(BN_new()), x(BN_new()), z(BN_new());
  if (!ctx || !m || !gcd || !r || !r_inv || !x || !z || BN_gcd(gcd.get(), m.get(), pk.n.get(), ctx.get()) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "blinding");
  }
  if (!BN_is_one(gcd.get())) return InvalidField("message", "encodes to a value that shares a factor with the modulus");
  // r uniformly in [1, n) and invertible mod n.
  for (int attempt = 0;; ++attempt) {
    if (attempt > 64 || BN_priv_rand_range(r.get(), pk.n.get()) != 1) {
      return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "drawing the blinding factor");
    }
    if (BN_is_zero(r.get())) continue;
    BN_set_flags(r.get(), BN_FLG_CONSTTIME);
    if (BN_mod_inverse(r_inv.get(), r.get(), pk.n.get(), ctx.get()) != nullptr) break;
  }
  if (BN_mod_exp(x.get(), r.get(), pk.e.get(), pk.n.get(), ctx.get()) != 1 ||
      BN_mod_mul(z.get(), m.get(), x.get(), pk.n.get(), ctx.get()) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "blinding");
  }
  return Blinding{I2osp(z.get(), pk.len), I2osp(r_inv.get(), pk.len)};
}

absl::StatusOr<std::string> BlindSign(const PrivateKey& key, std::string_view blinded_message) {
  SEMPER_ASSIGN_OR_RETURN(RsaPublic pk, PublicOf(key.evp()));
  if (blinded_message.size() != pk.len) {
    return InvalidField("blinded_message", StrCat("must be exactly ", pk.len, " bytes (the modulus length), not ",
                                                  blinded_message.size()));
  }
  ossl::BignumPtr m = Os2ip(blinded_message);
  if (!m || BN_cmp(m.get(), pk.n.get()) >= 0) return InvalidField("blinded_message", "is not below the modulus");
  // RSASP1: the raw private operation (OpenSSL blinds it and uses CRT in constant time).
  ossl::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.evp(), nullptr));
  size_t len = pk.len;
  std::string s(len, '\0');
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_NO_PADDING) != 1 ||
      EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(s.data()), &len,
                    reinterpret_cast<const unsigned char*>(blinded_message.data()), blinded_message.size()) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "the RSA private operation");
  }
  s.resize(len);
  // RSAVP1 of the result must give the blinded message back (a fault would leak the key).
  BnCtxPtr bctx(BN_CTX_new());
  ossl::BignumPtr sb = Os2ip(s), back(BN_new());
  if (!bctx || !sb || !back || BN_mod_exp(back.get(), sb.get(), pk.e.get(), pk.n.get(), bctx.get()) != 1 ||
      BN_cmp(back.get(), m.get()) != 0) {
    return MakeError(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "the blind signature did not verify: not sent");
  }
  return I2osp(sb.get(), pk.len);
}

absl::StatusOr<std::string> Finalize(const PublicKey& key, std::string_view prepared, std::string_view blind_signature,
                                     std::string_view inv) {
  SEMPER_ASSIGN_OR_RETURN(RsaPublic pk, PublicOf(key.evp()));
  if (blind_signature.size() != pk.len || inv.size() != pk.len) {
    return InvalidField("blind_signature", StrCat("must be exactly ", pk.len, " bytes"));
  }
  BnCtxPtr ctx(BN_CTX_new());
  ossl::BignumPtr z = Os2ip(blind_signature), r_inv = Os2ip(inv), s(BN_new());
  if (!ctx || !z || !r_inv || !s || BN_mod_mul(s.get(), z.get(), r_inv.get(), pk.n.get(), ctx.get()) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "unblinding");
  }
  std::string sig = I2osp(s.get(), pk.len);
  SEMPER_RETURN_IF_ERROR(Verify(key, prepared, sig));
  return sig;
}

absl::Status Verify(const PublicKey& key, std::string_view prepared, std::string_view signature) {
  if (EVP_PKEY_get_base_id(key.evp()) != EVP_PKEY_RSA) return NotRsa();
  ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha384(), nullptr, key.evp()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, static_cast<int>(kSaltLen)) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "RSA-PSS verification setup");
  }
  if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(prepared.data()), prepared.size()) != 1) {
    ossl::DrainErrors();
    return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID, "the blind signature does not verify");
  }
  return absl::OkStatus();
}

}  // namespace semper::blind_rsa
