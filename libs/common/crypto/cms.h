// CMS (RFC 5652): detached SignedData over exact bytes, and EnvelopedData to certificates.
// Pure functions over immutable inputs; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"
#include "common/crypto/digest.h"
#include "common/crypto/keys.h"

namespace semper {

struct CmsSignOptions {
  // Digest of the content and signed attributes.
  HashAlgorithm digest = HashAlgorithm::kSha256;
  // Whether the signer's certificate and `chain` go into the SignedData (they are not signed:
  // CmsAddCertificates can put them in later, e.g. after storing the signature without them).
  bool include_certificates = true;
};

// DER SignedData, detached (no eContent), binary (no line-ending canonicalisation), over exactly
// `content`, with the signer's certificate and `chain` embedded and a signingTime attribute.
// RSA keys sign with RSASSA-PSS. Ed25519 keys are refused (UNSUPPORTED_ALGORITHM): OpenSSL 3.0,
// which Debian 12 ships, has no EdDSA in CMS (RFC 8419 support came with 3.2).
absl::StatusOr<std::string> CmsSignDetached(std::string_view content, const PrivateKey& key, const Certificate& signer,
                                            const std::vector<Certificate>& chain, const CmsSignOptions& options = {});

// The same SignedData with `certs` added to its certificates (the signatures do not change).
absl::StatusOr<std::string> CmsAddCertificates(std::string_view cms_der, const std::vector<Certificate>& certs);

struct CmsSigner {
  Certificate certificate;
  // The validated path, signer first, trust anchor last.
  std::vector<Certificate> path;
  // The signingTime attribute: the signer's own claim, not proof (a time-stamp is proof).
  std::optional<absl::Time> claimed_signing_time;
};

// Verifies detached SignedData over `content`: every SignerInfo's signature (SHA-2 digests only),
// and every signer's certificate path through `trust` as it stood at `at`, for `purpose`.
// Fails with SIGNATURE_INVALID, CERTIFICATE_UNTRUSTED or MALFORMED_INPUT; never partly succeeds.
absl::StatusOr<std::vector<CmsSigner>> CmsVerifyDetached(std::string_view cms_der, std::string_view content,
                                                         const TrustStore& trust, absl::Time at, KeyPurpose purpose);

// The same when only the content's digest is known: the signed attributes' messageDigest must
// equal `digest` (computed with `algorithm`, which the signer must have used) and the signature
// must cover them. Signatures without signed attributes cannot be checked this way.
absl::StatusOr<std::vector<CmsSigner>> CmsVerifyDetachedDigest(std::string_view cms_der, HashAlgorithm algorithm,
                                                               std::string_view digest, const TrustStore& trust,
                                                               absl::Time at, KeyPurpose purpose);

// CAdES-T signature time-stamps (ETSI EN 319 122-1 5.3, RFC 3161 appendix A): a time-stamp
// token over the SHA-256 of a SignerInfo's signature value, carried as that SignerInfo's unsigned
// attribute id-aa-signatureTimeStampToken (1.2.840.113549.1.9.16.2.14). Unsigned: adding one
// changes no signature.
//
// Per SignerInfo of the SignedData, SHA-256 of its signature value (what its time-stamp covers).
absl::StatusOr<std::vector<std::string>> CmsSignatureValueDigests(std::string_view cms_der);
// The same SignedData with tokens[i] (a DER TimeStampToken) added to SignerInfo i; one token per
// SignerInfo. A SignerInfo that already carries one keeps it and gets the new one beside it.
absl::StatusOr<std::string> CmsAddSignatureTimeStamps(std::string_view cms_der, const std::vector<std::string>& tokens);
// Per SignerInfo, the signature time-stamp tokens it carries (DER, in order; none: empty).
absl::StatusOr<std::vector<std::vector<std::string>>> CmsSignatureTimeStamps(std::string_view cms_der);

// CmsVerifyDetached, CmsSignatureValueDigests and CmsSignatureTimeStamps of one SignedData from
// one parse (parsing decodes every embedded certificate, which costs more than the signature's
// check): what a container's origin signature needs. Fails as CmsVerifyDetached does, and then
// as the other two.
struct CmsVerifiedSignature {
  std::vector<CmsSigner> signers;                     // as CmsVerifyDetached, in SignerInfo order
  std::vector<std::string> value_digests;             // per SignerInfo
  std::vector<std::vector<std::string>> time_stamps;  // per SignerInfo
};
absl::StatusOr<CmsVerifiedSignature> CmsVerifyDetachedWithTimeStamps(std::string_view cms_der, std::string_view content,
                                                                     const TrustStore& trust, absl::Time at,
                                                                     KeyPurpose purpose);

// DER EnvelopedData (AES-256-CBC content encryption) readable by each recipient certificate:
// ECDH key agreement for P-256 keys, RSA-OAEP for RSA keys. Ed25519 keys cannot receive.
absl::StatusOr<std::string> CmsEncrypt(std::string_view plaintext, const std::vector<Certificate>& recipients);

// Whether EnvelopedData names `cert` as one of its recipients (a key-transport or key-agreement
// RecipientInfo identifying it by issuer and serial or by subject key identifier): true or false;
// MALFORMED_INPUT when `enveloped_der` is not EnvelopedData. Nothing is decrypted.
absl::StatusOr<bool> CmsEnvelopedFor(std::string_view enveloped_der, const Certificate& cert);

// Decrypts EnvelopedData for the recipient `cert` holding `key`.
absl::StatusOr<std::string> CmsDecrypt(std::string_view enveloped_der, const PrivateKey& key, const Certificate& cert);

}  // namespace semper
