// The CA's own keys and certificates: creating them (semper-ca init), loading them at start,
// and the certificate profiles it issues. Immutable after loading; thread-safe.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/base/secret.h"
#include "common/crypto/certificate.h"
#include "common/crypto/csr.h"
#include "common/crypto/keys.h"
#include "common/server/signing_key.h"
#include "semper/v1/ca.pb.h"

namespace semper::ca {

struct InitOptions {
  std::filesystem::path dir;  // created; must not hold a CA already
  std::string organization = "semper";
  std::string country = "DE";
  std::vector<std::string> hostnames = {"localhost"};  // SANs of the daemons' TLS certificates
  std::vector<std::string> ip_addresses = {"127.0.0.1"};
  std::string admin_name = "Administrator";
  absl::Duration root_validity = absl::Hours(24 * 365 * 20);
  absl::Duration ca_validity = absl::Hours(24 * 365 * 10);
  absl::Duration service_validity = absl::Hours(24 * 365 * 2);
  absl::Duration root_crl_validity = absl::Hours(24 * 365);
};

// What init wrote, for the operator.
struct InitResult {
  std::vector<std::string> files;
  std::string root_fingerprint;
};

// Creates the root, the issuing CA, TLS and signing certificates for every daemon, and the first
// administrator's client certificate. Every private key is written as encrypted PKCS#8 (mode
// 0600) with `passphrase`.
absl::StatusOr<InitResult> InitPki(const InitOptions& options, const SecretData& passphrase);

// Re-signs `dir`/root.crl with the root key (which stays offline otherwise), numbered one above
// the current one and valid for `validity`. Returns the new CRL number.
absl::StatusOr<int64_t> RenewRootCrl(const std::filesystem::path& dir, const SecretData& passphrase,
                                     absl::Duration validity);

// The issuing CA as the daemon uses it.
class Pki {
 public:
  // The certificates in `dir` and the keys from `issuing_key` (usually dir/ca.key, encrypted PEM,
  // or a key in a PKCS#11 token), which must belong to dir/ca.pem, and `pseudonym_issuer_key`
  // (dir/pseudonym-ca.key or a token), loaded only when dir/pseudonym-ca.pem exists.
  static absl::StatusOr<Pki> Load(const std::filesystem::path& dir, const SigningKeySource& issuing_key,
                                  const SigningKeySource& pseudonym_issuer_key);

  const Certificate& root() const { return root_; }
  const Certificate& issuing_ca() const { return ca_; }
  const PrivateKey& issuing_key() const { return ca_key_; }
  // The shared pseudonym issuer (dir/pseudonym-ca.{pem,key}, made by init): a CA certificate
  // under the root that does not name the operator. Absent in PKIs made before it existed.
  const std::optional<Certificate>& pseudonym_issuer() const { return pseudonym_ca_; }
  const std::optional<PrivateKey>& pseudonym_issuer_key() const { return pseudonym_key_; }

 private:
  Pki(Certificate root, Certificate ca, PrivateKey ca_key)
      : root_(std::move(root)), ca_(std::move(ca)), ca_key_(std::move(ca_key)) {}
  Certificate root_;
  Certificate ca_;
  PrivateKey ca_key_;
  std::optional<Certificate> pseudonym_ca_;
  std::optional<PrivateKey> pseudonym_key_;
};

// The CA's statement-signing certificate and key (token kinds, clearing statements):
// dir/services/ca-signing.{pem,key}, issued with the issuing CA's key at the first start that
// finds none (deployments initialised before it existed get one too), for a new key encrypted
// with `passphrase` into `key.file`, or for the key in the token when `key.uri` is set. The key
// must belong to the certificate.
struct StatementSigner {
  Certificate certificate;
  PrivateKey key;
};
absl::StatusOr<StatementSigner> LoadOrIssueStatementSigner(const std::filesystem::path& dir, const Pki& pki,
                                                           const SecretData& passphrase, const SigningKeySource& key);

enum class SubscriberProfile { kAuthentication, kSignature };
std::string_view ProfileName(SubscriberProfile profile);

struct ProfileOptions {
  std::string public_url;  // CRL at <public_url>/crl, OCSP at <public_url>/ocsp
  absl::Duration validity = absl::Hours(24 * 365 * 2);
  // Renewal opens this long before a certificate's end; zero: once two thirds of its validity
  // have passed (ca.renewal_window).
  absl::Duration renewal_window = absl::ZeroDuration();
};

// The certificate the CA issues for a subscriber's key: every field comes from the
// registration record, none from the request.
CertificateTemplate SubscriberTemplate(const v1::Subscriber& subscriber, SubscriberProfile profile, KeyType key_type,
                                       absl::Time now, const ProfileOptions& options);

// Checks a request against the registration record: an accepted key, and, if the request names
// a common name, the registered name.
absl::Status CheckRequest(const CertificationRequest& request, const v1::Subscriber& subscriber,
                          std::string_view field);

}  // namespace semper::ca
