// Throughput of the primitives every authority leans on: raw signatures, CMS detached
// signatures, and sealing/opening containers. Not a test: run by hand, figures go in notes.
//   build/tests/bench/crypto_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include "common/container/container.h"
#include "common/crypto/cms.h"
#include "common/crypto/merkle.h"
#include "common/crypto/signature.h"
#include "tests/support/test_pki.h"

namespace semper {
namespace {

using ::semper::testing::LeafSpec;
using ::semper::testing::TestPki;

const TestPki& Pki() { return ::semper::testing::SharedTestPki(); }

void BM_Sign(benchmark::State& state) {
  KeyType type = static_cast<KeyType>(state.range(0));
  auto key = *PrivateKey::Generate(type);
  auto signer = *PublicKeySign::New(key, DefaultSignatureAlgorithm(type));
  std::string data(256, 'x');
  for (auto _ : state) benchmark::DoNotOptimize(signer->Sign(data));
  state.SetLabel(std::string(KeyTypeName(type)));
}
BENCHMARK(BM_Sign)
    ->Arg(static_cast<int>(KeyType::kEcP256))
    ->Arg(static_cast<int>(KeyType::kEd25519))
    ->Arg(static_cast<int>(KeyType::kRsa));

void BM_Verify(benchmark::State& state) {
  KeyType type = static_cast<KeyType>(state.range(0));
  auto key = *PrivateKey::Generate(type);
  auto signer = *PublicKeySign::New(key, DefaultSignatureAlgorithm(type));
  auto verifier = *PublicKeyVerify::New(key.public_key(), DefaultSignatureAlgorithm(type));
  std::string data(256, 'x');
  std::string sig = *signer->Sign(data);
  for (auto _ : state) benchmark::DoNotOptimize(verifier->Verify(sig, data));
  state.SetLabel(std::string(KeyTypeName(type)));
}
BENCHMARK(BM_Verify)
    ->Arg(static_cast<int>(KeyType::kEcP256))
    ->Arg(static_cast<int>(KeyType::kEd25519))
    ->Arg(static_cast<int>(KeyType::kRsa));

void BM_CmsSignDetached(benchmark::State& state) {
  auto signer = Pki().Issue("Bench", kKuNonRepudiation);
  std::string content(static_cast<size_t>(state.range(0)), 'd');
  for (auto _ : state) benchmark::DoNotOptimize(CmsSignDetached(content, signer.key, signer.certificate, signer.chain));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_CmsSignDetached)->Arg(1 << 10)->Arg(1 << 20);

void BM_CmsVerifyDetached(benchmark::State& state) {
  auto signer = Pki().Issue("Bench", kKuNonRepudiation);
  std::string content(static_cast<size_t>(state.range(0)), 'd');
  std::string sig = *CmsSignDetached(content, signer.key, signer.certificate, signer.chain);
  absl::Time now = absl::Now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(CmsVerifyDetached(sig, content, Pki().trust(), now, KeyPurpose::kNonRepudiation));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_CmsVerifyDetached)->Arg(1 << 10)->Arg(1 << 20);

void BM_SealOpenConfidentialOrder(benchmark::State& state) {
  auto seller = Pki().Issue("Seller", kKuNonRepudiation | kKuDigitalSignature);
  auto buyer = Pki().Issue("Buyer", kKuKeyAgreement | kKuDigitalSignature);
  v1::ContainerContent c = NewContainerContent(absl::Now());
  auto* offer = c.mutable_template_()->mutable_offer();
  offer->set_offer_id("OF-1");
  offer->mutable_total()->set_currency("EUR");
  offer->mutable_total()->set_minor_units(500);
  c.mutable_requested()->set_non_repudiation_of_origin(true);
  c.mutable_requested()->set_confidentiality(true);
  OpenOptions opts;
  opts.trust = &Pki().trust();
  opts.decryption_key = &buyer.key;
  opts.decryption_certificate = &buyer.certificate;
  for (auto _ : state) {
    auto sealed = Seal(c, {.signers = {seller}, .recipients = {buyer.certificate}});
    auto opened = Open(*sealed, opts);
    if (!opened.ok()) state.SkipWithError("open failed");
  }
}
BENCHMARK(BM_SealOpenConfidentialOrder);

}  // namespace
}  // namespace semper

namespace semper {
namespace {

// The notary's evidence log: appending, and an inclusion and a consistency proof at 1,000,000 entries.
const MerkleLog& MillionEntryLog() {
  static const MerkleLog* log = [] {
    auto* l = new MerkleLog();
    for (int i = 0; i < 1000000; ++i) l->Append(MerkleLeafHash(std::to_string(i)));
    return l;
  }();
  return *log;
}

void BM_MerkleLogAppend(benchmark::State& state) {
  MerkleLog log;
  std::string leaf = MerkleLeafHash("evidence");
  for (auto _ : state) log.Append(leaf);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MerkleLogAppend);

void BM_MerkleLogInclusionProof1M(benchmark::State& state) {
  const MerkleLog& log = MillionEntryLog();
  uint64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(log.InclusionProof((i += 7919) % log.size(), log.size()));
}
BENCHMARK(BM_MerkleLogInclusionProof1M);

void BM_MerkleLogConsistencyProof1M(benchmark::State& state) {
  const MerkleLog& log = MillionEntryLog();
  for (auto _ : state) benchmark::DoNotOptimize(log.ConsistencyProof(654321, log.size()));
}
BENCHMARK(BM_MerkleLogConsistencyProof1M);

}  // namespace
}  // namespace semper

BENCHMARK_MAIN();
