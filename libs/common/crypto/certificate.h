// X.509 v3 certificates (RFC 5280) and path validation against a trust store at a given time.
// Certificate and TrustStore are immutable after construction and safe to share between threads.
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/keys.h"

namespace semper {

// keyUsage bits, as in RFC 5280 4.2.1.3.
enum KeyUsageBit : uint32_t {
  kKuDigitalSignature = 1u << 0,
  kKuNonRepudiation = 1u << 1,  // contentCommitment
  kKuKeyEncipherment = 1u << 2,
  kKuDataEncipherment = 1u << 3,
  kKuKeyAgreement = 1u << 4,
  kKuKeyCertSign = 1u << 5,
  kKuCrlSign = 1u << 6,
};

// What a certificate is being validated for.
enum class KeyPurpose {
  kAny,
  kDigitalSignature,  // authentication signatures: digitalSignature
  kNonRepudiation,    // signatures on documents: nonRepudiation (contentCommitment)
  kClientAuth,        // TLS client: digitalSignature + EKU clientAuth (if EKU present)
  kServerAuth,        // TLS server: digitalSignature + EKU serverAuth (if EKU present)
  kTimeStamping,      // TSA: EKU timeStamping, critical and sole (RFC 3161 2.3)
  kOcspSigning,       // OCSP responder: EKU OCSPSigning
  kEncryption,        // CMS recipient: keyEncipherment or keyAgreement
};

class Certificate {
 public:
  static absl::StatusOr<Certificate> FromDer(std::string_view der);
  static absl::StatusOr<Certificate> FromPem(std::string_view pem);
  // Every certificate of a PEM bundle, in order; fails if there is none or one is damaged.
  static absl::StatusOr<std::vector<Certificate>> ChainFromPem(std::string_view pem);
  // Takes a reference of an OpenSSL certificate.
  static Certificate FromX509(X509* cert);

  std::string Der() const;
  std::string Pem() const;
  std::string Subject() const;  // RFC 2253 form: "CN=Alice,O=Example,C=DE"
  std::string Issuer() const;
  std::string SerialHex() const;
  absl::Time not_before() const;
  absl::Time not_after() const;
  absl::StatusOr<PublicKey> public_key() const;
  // The key's canonical DER SubjectPublicKeyInfo (PublicKey::CanonicalDer; as it stands in the
  // certificate when the key does not decode). Hash and compare keys by it.
  std::string SpkiDer() const;
  bool is_ca() const;
  // keyUsage bits; nullopt when the certificate has no keyUsage extension.
  std::optional<uint32_t> key_usage() const;
  // The first value of a subject attribute given by OID ("2.5.4.97") or short name ("CN").
  std::optional<std::string> SubjectAttribute(std::string_view oid_or_name) const;
  // Every value of a subject attribute, in order.
  std::vector<std::string> SubjectAttributes(std::string_view oid_or_name) const;
  // The extnValue contents (DER) of an extension, by dotted OID.
  std::optional<std::string> ExtensionValue(std::string_view oid) const;
  // SHA-256 of the DER encoding: a stable identifier for logs and lookups.
  std::string Fingerprint() const;

  X509* x509() const { return cert_.get(); }

 private:
  explicit Certificate(std::shared_ptr<X509> cert) : cert_(std::move(cert)), names_(std::make_shared<Names>()) {}
  // Subject, issuer and serial as text, and the DER encoding, made on first use and shared by the
  // copies (a request path asks for them several times; OpenSSL formats a name in a few
  // microseconds and encodes a certificate anew on every i2d_X509, ~10 us).
  struct Names {
    absl::once_flag once;
    std::string subject, issuer, serial_hex;
    absl::once_flag der_once;
    std::string der;
  };
  const Names& names() const;
  std::shared_ptr<X509> cert_;
  std::shared_ptr<Names> names_;
};

class TrustStore {
 public:
  // At least one root; every root must be a self-signed CA certificate.
  static absl::StatusOr<TrustStore> New(std::vector<Certificate> roots);
  static absl::StatusOr<TrustStore> FromPem(std::string_view pem);

  // Builds and checks a path from `leaf` through `intermediates` to a root, as it stood at time
  // `at`: signatures, validity periods, basic constraints and path length, critical extensions,
  // the key usage / extended key usage that `purpose` needs, and the leaf's public key (one that
  // anyone could sign for fails with WEAK_KEY). Returns the path, leaf first.
  // Revocation is not checked here (the CA's OCSP and CRL do that).
  // A path found is kept (for the same leaf, intermediates and purpose, by their exact DER) and
  // reused for any `at` within every certificate's validity on it: nothing else it depends on
  // can change. Failures are not kept. Thread-safe.
  absl::StatusOr<std::vector<Certificate>> VerifyPath(const Certificate& leaf,
                                                      const std::vector<Certificate>& intermediates, absl::Time at,
                                                      KeyPurpose purpose) const;

  const std::vector<Certificate>& roots() const { return roots_; }

 private:
  struct KeptPaths;  // shared by the copies of one store
  explicit TrustStore(std::vector<Certificate> roots);
  absl::StatusOr<std::vector<Certificate>> BuildPath(const Certificate& leaf,
                                                     const std::vector<Certificate>& intermediates, absl::Time at,
                                                     KeyPurpose purpose) const;
  std::vector<Certificate> roots_;
  std::shared_ptr<KeptPaths> kept_;
};

// What a new certificate says; IssueCertificate signs it.
struct CertificateTemplate {
  // Subject attributes in order, by short name or OID: {{"C","DE"},{"O","Example"},{"CN","x"}}.
  std::vector<std::pair<std::string, std::string>> subject;
  // Big-endian serial bytes; empty means 16 random bytes (positive, RFC 5280 4.1.2.2).
  std::string serial;
  absl::Time not_before;
  absl::Time not_after;
  bool is_ca = false;
  int path_length = -1;  // CA only; -1 for no constraint
  uint32_t key_usage = 0;
  std::vector<std::string> extended_key_usage;  // OIDs or short names ("clientAuth")
  bool extended_key_usage_critical = false;
  std::vector<std::string> crl_urls;
  std::string ocsp_url;
  std::vector<std::string> dns_names;     // subjectAltName dNSName
  std::vector<std::string> ip_addresses;  // subjectAltName iPAddress
  struct Extension {
    std::string oid;
    bool critical = false;
    std::string der_value;  // extnValue contents
  };
  std::vector<Extension> extensions;
};

// Signs a certificate for `subject_key`. With `issuer` null the certificate is self-signed by
// `issuer_key` (which must then be the subject's key). The signature algorithm follows the
// issuer key: ECDSA-SHA256, Ed25519, or RSASSA-PSS-SHA256.
absl::StatusOr<Certificate> IssueCertificate(const CertificateTemplate& tmpl, const PublicKey& subject_key,
                                             const Certificate* issuer, const PrivateKey& issuer_key);

// The same for a key given as a SubjectPublicKeyInfo structure, copied field by field: the fast
// path for a CA certifying the key of a request (OpenSSL 3.0 re-encodes an EVP_PKEY through its
// slow encoder machinery, which otherwise dominates the cost of issuing).
// What IssueCertificateForSpki returns: the signed certificate and the facts a CA records about
// it, without a parsed certificate object (parsing would decode the key again).
struct IssuedCertificate {
  std::string der;
  std::string serial_hex;
  std::string subject;  // RFC 2253
  std::string spki_der;
  absl::Time not_before;
  absl::Time not_after;
};
absl::StatusOr<IssuedCertificate> IssueCertificateForSpki(const CertificateTemplate& tmpl, X509_PUBKEY* subject_spki,
                                                          const Certificate& issuer, const PrivateKey& issuer_key);

}  // namespace semper
