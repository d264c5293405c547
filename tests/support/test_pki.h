// A throw-away PKI for tests: a root, an issuing CA, and leaf certificates with chosen key
// usage, validity and key type.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/container/container.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"

namespace semper::testing {

struct LeafSpec {
  std::string common_name = "Test Leaf";
  KeyType key_type = KeyType::kEcP256;
  uint32_t key_usage = kKuDigitalSignature | kKuNonRepudiation;
  std::vector<std::string> extended_key_usage;
  bool extended_key_usage_critical = false;
  absl::Time not_before = absl::Now() - absl::Hours(1);
  absl::Time not_after = absl::Now() + absl::Hours(24);
  bool is_ca = false;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::vector<CertificateTemplate::Extension> extensions;
  // Added to the subject before the CN.
  std::vector<std::pair<std::string, std::string>> extra_subject;
};

class TestPki {
 public:
  explicit TestPki(KeyType ca_key_type = KeyType::kEcP256, const std::string& name = "Test");

  SignerIdentity Issue(const LeafSpec& spec) const;
  SignerIdentity Issue(const std::string& cn, uint32_t key_usage) const;

  const Certificate& root() const { return root_; }
  const Certificate& ca() const { return ca_; }
  const TrustStore& trust() const { return trust_; }
  // Root and CA certificates, PEM.
  std::string RootPem() const { return root_.Pem(); }
  std::string CaPem() const { return ca_.Pem(); }

 private:
  PrivateKey root_key_;
  Certificate root_;
  PrivateKey ca_key_;
  Certificate ca_;
  TrustStore trust_;
};

// One PKI (ECDSA P-256) shared by all tests of a binary; built on first use.
const TestPki& SharedTestPki();

}  // namespace semper::testing
