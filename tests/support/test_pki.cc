// Test PKI construction; aborts on failure, since every test using it would fail anyway.
#include "tests/support/test_pki.h"

#include <cstdio>
#include <cstdlib>

namespace semper::testing {
namespace {

template <typename T>
T Must(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::fprintf(stderr, "TestPki: %s: %s\n", what, std::string(v.status().message()).c_str());
    std::abort();
  }
  return *std::move(v);
}

Certificate MakeRoot(const PrivateKey& key, const std::string& name) {
  CertificateTemplate t;
  t.subject = {{"C", "DE"}, {"O", name + " Trust"}, {"CN", name + " Root CA"}};
  t.not_before = absl::Now() - absl::Hours(24 * 30);
  t.not_after = absl::Now() + absl::Hours(24 * 365 * 10);
  t.is_ca = true;
  t.key_usage = kKuKeyCertSign | kKuCrlSign;
  return Must(IssueCertificate(t, key.public_key(), nullptr, key), "root");
}

Certificate MakeCa(const PrivateKey& key, const Certificate& root, const PrivateKey& root_key,
                   const std::string& name) {
  CertificateTemplate t;
  t.subject = {{"C", "DE"}, {"O", name + " Trust"}, {"CN", name + " Issuing CA"}};
  t.not_before = absl::Now() - absl::Hours(24 * 30);
  t.not_after = absl::Now() + absl::Hours(24 * 365 * 5);
  t.is_ca = true;
  t.path_length = 0;
  t.key_usage = kKuKeyCertSign | kKuCrlSign;
  return Must(IssueCertificate(t, key.public_key(), &root, root_key), "issuing CA");
}

}  // namespace

TestPki::TestPki(KeyType ca_key_type, const std::string& name)
    : root_key_(Must(PrivateKey::Generate(ca_key_type), "root key")),
      root_(MakeRoot(root_key_, name)),
      ca_key_(Must(PrivateKey::Generate(ca_key_type), "CA key")),
      ca_(MakeCa(ca_key_, root_, root_key_, name)),
      trust_(Must(TrustStore::New({root_}), "trust store")) {}

SignerIdentity TestPki::Issue(const LeafSpec& spec) const {
  PrivateKey key = Must(PrivateKey::Generate(spec.key_type), "leaf key");
  CertificateTemplate t;
  t.subject = {{"C", "DE"}, {"O", "Example"}};
  t.subject.insert(t.subject.end(), spec.extra_subject.begin(), spec.extra_subject.end());
  t.subject.push_back({"CN", spec.common_name});
  t.not_before = spec.not_before;
  t.not_after = spec.not_after;
  t.is_ca = spec.is_ca;
  t.key_usage = spec.key_usage;
  t.extended_key_usage = spec.extended_key_usage;
  t.extended_key_usage_critical = spec.extended_key_usage_critical;
  t.dns_names = spec.dns_names;
  t.ip_addresses = spec.ip_addresses;
  t.extensions = spec.extensions;
  Certificate cert = Must(IssueCertificate(t, key.public_key(), &ca_, ca_key_), "leaf");
  return SignerIdentity{key, cert, {ca_}};
}

SignerIdentity TestPki::Issue(const std::string& cn, uint32_t key_usage) const {
  LeafSpec spec;
  spec.common_name = cn;
  spec.key_usage = key_usage;
  return Issue(spec);
}

const TestPki& SharedTestPki() {
  static const TestPki* pki = new TestPki();
  return *pki;
}

}  // namespace semper::testing
