// PublicKeySign / PublicKeyVerify over EVP_DigestSign and EVP_DigestVerify.
#include "common/crypto/signature.h"

#include <openssl/rsa.h>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/ossl.h"

namespace semper {
namespace {

bool KeyFits(KeyType type, SignatureAlgorithm algorithm) {
  switch (algorithm) {
    case SignatureAlgorithm::kEcdsaP256Sha256:
      return type == KeyType::kEcP256;
    case SignatureAlgorithm::kEd25519:
      return type == KeyType::kEd25519;
    case SignatureAlgorithm::kRsaPssSha256:
      return type == KeyType::kRsa;
  }
  return false;
}

absl::Status Mismatch(KeyType type, SignatureAlgorithm algorithm) {
  return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                   StrCat("a ", KeyTypeName(type), " key cannot be used with ", SignatureAlgorithmName(algorithm)));
}

// Prepares a sign or verify context: digest (none for Ed25519) and PSS parameters.
absl::Status InitContext(EVP_MD_CTX* ctx, EVP_PKEY* key, SignatureAlgorithm algorithm, bool sign) {
  const EVP_MD* md = algorithm == SignatureAlgorithm::kEd25519 ? nullptr : EVP_sha256();
  EVP_PKEY_CTX* pctx = nullptr;
  int rc = sign ? EVP_DigestSignInit(ctx, &pctx, md, nullptr, key) : EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key);
  if (rc != 1) {
    return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "signature init failed");
  }
  if (algorithm == SignatureAlgorithm::kRsaPssSha256) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1) {
      return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "PSS setup failed");
    }
  }
  return absl::OkStatus();
}

class EvpSign final : public PublicKeySign {
 public:
  EvpSign(PrivateKey key, SignatureAlgorithm algorithm) : key_(std::move(key)), algorithm_(algorithm) {}

  absl::StatusOr<std::string> Sign(std::string_view data) const override {
    ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    SEMPER_RETURN_IF_ERROR(InitContext(ctx.get(), key_.evp(), algorithm_, /*sign=*/true));
    size_t len = 0;
    const auto* in = reinterpret_cast<const unsigned char*>(data.data());
    if (EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) != 1) {
      return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "signing failed");
    }
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, data.size()) != 1) {
      return ossl::Error(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "signing failed");
    }
    sig.resize(len);
    return sig;
  }
  SignatureAlgorithm algorithm() const override { return algorithm_; }

 private:
  const PrivateKey key_;
  const SignatureAlgorithm algorithm_;
};

class EvpVerify final : public PublicKeyVerify {
 public:
  EvpVerify(PublicKey key, SignatureAlgorithm algorithm) : key_(std::move(key)), algorithm_(algorithm) {}

  absl::Status Verify(std::string_view signature, std::string_view data) const override {
    ossl::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    SEMPER_RETURN_IF_ERROR(InitContext(ctx.get(), key_.evp(), algorithm_, /*sign=*/false));
    int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                              reinterpret_cast<const unsigned char*>(data.data()), data.size());
    ossl::DrainErrors();
    if (rc != 1) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                       StrCat(SignatureAlgorithmName(algorithm_), " signature does not verify over the given data"));
    }
    return absl::OkStatus();
  }
  SignatureAlgorithm algorithm() const override { return algorithm_; }

 private:
  const PublicKey key_;
  const SignatureAlgorithm algorithm_;
};

}  // namespace

std::string_view SignatureAlgorithmName(SignatureAlgorithm algorithm) {
  switch (algorithm) {
    case SignatureAlgorithm::kEcdsaP256Sha256:
      return "ECDSA-P256-SHA256";
    case SignatureAlgorithm::kEd25519:
      return "Ed25519";
    case SignatureAlgorithm::kRsaPssSha256:
      return "RSA-PSS-SHA256";
  }
  return "unknown";
}

SignatureAlgorithm DefaultSignatureAlgorithm(KeyType type) {
  switch (type) {
    case KeyType::kEcP256:
      return SignatureAlgorithm::kEcdsaP256Sha256;
    case KeyType::kEd25519:
      return SignatureAlgorithm::kEd25519;
    case KeyType::kRsa:
      return SignatureAlgorithm::kRsaPssSha256;
  }
  return SignatureAlgorithm::kEcdsaP256Sha256;
}

absl::StatusOr<std::unique_ptr<PublicKeySign>> PublicKeySign::New(const PrivateKey& key, SignatureAlgorithm algorithm) {
  if (!KeyFits(key.type(), algorithm)) return Mismatch(key.type(), algorithm);
  return std::make_unique<EvpSign>(key, algorithm);
}

absl::StatusOr<std::unique_ptr<PublicKeyVerify>> PublicKeyVerify::New(const PublicKey& key,
                                                                      SignatureAlgorithm algorithm) {
  if (!KeyFits(key.type(), algorithm)) return Mismatch(key.type(), algorithm);
  return std::make_unique<EvpVerify>(key, algorithm);
}

}  // namespace semper
