// The CA's hot paths in-process: signing a subscriber certificate, answering an OCSP request,
// and generating a CRL of 100,000 entries. Run by hand:
//   build/tests/bench/ca_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>
#include <openssl/ocsp.h>

#include "common/crypto/csr.h"
#include "common/crypto/ossl.h"
#include "services/ca/pki.h"
#include "services/ca/revocation.h"
#include "tests/support/test_pki.h"

namespace semper::ca {
namespace {

using ::semper::testing::SharedTestPki;

// The issuing CA's key is not reachable through TestPki; a fresh issuer does the same work.
struct Issuer {
  PrivateKey key = *PrivateKey::Generate(KeyType::kEcP256);
  Certificate cert = [this] {
    CertificateTemplate t;
    t.subject = {{"CN", "Bench CA"}};
    t.not_before = absl::Now() - absl::Hours(1);
    t.not_after = absl::Now() + absl::Hours(24);
    t.is_ca = true;
    t.key_usage = kKuKeyCertSign | kKuCrlSign;
    return *IssueCertificate(t, key.public_key(), nullptr, key);
  }();
};

const Issuer& TheIssuer() {
  static const Issuer* issuer = new Issuer();
  return *issuer;
}

v1::Subscriber Subscriber() {
  v1::Subscriber s;
  s.set_id("S-0123456789abcdef");
  s.set_name("Example GmbH");
  s.set_kind(v1::CUSTOMER_KIND_ENTERPRISE);
  s.set_country("DE");
  s.set_applicable_law("DE");
  s.set_vat_reference("VATDE-123456789");
  return s;
}

void BM_IssueSubscriberCertificate(benchmark::State& state) {
  auto key = *PrivateKey::Generate(KeyType::kEcP256);
  auto csr = *CertificationRequest::Create(key, {});
  std::string der = csr.Der();
  ProfileOptions profiles{"http://localhost:7001"};
  for (auto _ : state) {
    auto parsed = CertificationRequest::FromDer(der);  // includes the proof-of-possession check
    CertificateTemplate t =
        SubscriberTemplate(Subscriber(), SubscriberProfile::kSignature, KeyType::kEcP256, absl::Now(), profiles);
    benchmark::DoNotOptimize(IssueCertificateForSpki(t, parsed->spki(), TheIssuer().cert, TheIssuer().key));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IssueSubscriberCertificate)->UseRealTime();

void BM_BuildCrl(benchmark::State& state) {
  std::vector<RevokedEntry> entries;
  absl::Time now = absl::Now();
  for (int64_t i = 0; i < state.range(0); ++i) {
    char serial[40];
    std::snprintf(serial, sizeof serial, "%016llX%016llX", static_cast<unsigned long long>(i * 7919 + 1),
                  static_cast<unsigned long long>(i));
    entries.push_back({serial, now - absl::Seconds(i), static_cast<int>(i % 2)});
  }
  for (auto _ : state) {
    auto der = BuildCrl(TheIssuer().cert, TheIssuer().key, entries, 1, std::nullopt, now, now + absl::Hours(24));
    if (!der.ok()) state.SkipWithError("CRL failed");
    state.counters["bytes"] = static_cast<double>(der->size());
  }
}
BENCHMARK(BM_BuildCrl)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_OcspRespond(benchmark::State& state) {
  const auto& pki = SharedTestPki();
  auto leaf = pki.Issue("Leaf", kKuNonRepudiation);
  semper::testing::LeafSpec spec;
  spec.extended_key_usage = {"OCSPSigning"};
  auto signer = pki.Issue(spec);
  OcspResponder responder(pki.ca(), signer.certificate, signer.key, absl::Hours(1));
  OCSP_REQUEST* req = OCSP_REQUEST_new();
  OCSP_request_add0_id(req, OCSP_cert_to_id(EVP_sha1(), leaf.certificate.x509(), pki.ca().x509()));
  OCSP_request_add1_nonce(req, nullptr, 16);
  std::string der = ossl::ToDer(i2d_OCSP_REQUEST, req);
  OCSP_REQUEST_free(req);
  auto lookup = [](const std::string&) -> absl::StatusOr<StatusRecord> {
    StatusRecord r;
    r.state = StatusRecord::State::kGood;
    return r;
  };
  for (auto _ : state) benchmark::DoNotOptimize(responder.Respond(der, lookup, absl::Now()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OcspRespond)->UseRealTime()->Threads(1)->Threads(2);

}  // namespace
}  // namespace semper::ca

namespace semper::ca {
namespace {

void BM_ParseCsr(benchmark::State& state) {
  std::string der = CertificationRequest::Create(*PrivateKey::Generate(KeyType::kEcP256), {})->Der();
  for (auto _ : state) benchmark::DoNotOptimize(CertificationRequest::FromDer(der));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseCsr);

void BM_IssueOnly(benchmark::State& state) {
  auto key = PrivateKey::Generate(KeyType::kEcP256)->public_key();
  ProfileOptions profiles{"http://localhost:7001"};
  CertificateTemplate t =
      SubscriberTemplate(Subscriber(), SubscriberProfile::kSignature, KeyType::kEcP256, absl::Now(), profiles);
  for (auto _ : state) benchmark::DoNotOptimize(IssueCertificate(t, key, &TheIssuer().cert, TheIssuer().key));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IssueOnly);

}  // namespace
}  // namespace semper::ca

BENCHMARK_MAIN();
