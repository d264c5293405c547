// Key generation, PEM/DER encoding and encrypted PKCS#8 through OpenSSL 3 EVP.
#include "common/crypto/keys.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "common/base/strings.h"
#include "common/base/status.h"
#include "common/crypto/ossl.h"

namespace semper {
namespace {

std::shared_ptr<EVP_PKEY> Share(EVP_PKEY* key) {
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

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

absl::StatusOr<KeyType> ClassifyKey(EVP_PKEY* key) {
  if (key == nullptr) return Malformed("no key");
  if (EVP_PKEY_is_a(key, "ED25519")) return KeyType::kEd25519;
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) == 1 &&
        std::string_view(group) == "prime256v1") {
      return KeyType::kEcP256;
    }
    if (EVP_PKEY_get0_provider(key) == nullptr && EVP_PKEY_get_bits(key) == 256) {
      // A legacy key (PKCS#11 engine) of 256 bits: the group query is not answered for those.
      const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key);
      if (ec != nullptr && EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) == NID_X9_62_prime256v1) {
        return KeyType::kEcP256;
      }
    }
    return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                     StrCat("EC curve ", group, " is not accepted; use P-256"));
  }
  if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS")) {
    int bits = EVP_PKEY_get_bits(key);
    if (bits < 2048) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                       StrCat("RSA key of ", bits, " bits is too short; use 2048 or more"));
    }
    return KeyType::kRsa;
  }
  return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                   StrCat("key type ", EVP_PKEY_get0_type_name(key),
                                " is not accepted; use ECDSA P-256, Ed25519 or RSA"));
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

std::string PublicKey::Der() const {
  return ossl::ToDer(i2d_PUBKEY, key_.get());
}

std::string PublicKey::Pem() const {
  auto bio = ossl::WriteBio();
  PEM_write_bio_PUBKEY(bio.get(), key_.get());
  return ossl::BioContents(bio.get());
}

bool PublicKey::Equals(const PublicKey& other) const {
  return EVP_PKEY_eq(key_.get(), other.key_.get()) == 1;
}

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
  ossl::EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, PassphraseCallback,
                                               const_cast<SecretData*>(&passphrase)));
  if (!key) {
    ossl::DrainErrors();
    if (encrypted) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY,
                       "cannot decrypt the private key: wrong passphrase or damaged file");
    }
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                     "not a PEM private key");
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
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), EVP_aes_256_cbc(), nullptr, 0,
                                    PassphraseCallback,
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
