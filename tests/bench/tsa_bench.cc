// The TSA's hot paths in-process: one token (request parsing, TSTInfo, CMS signature, reply
// encoding) and a Merkle tree with its proofs. Run by hand:
//   build/tests/bench/tsa_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include "common/crypto/digest.h"
#include "common/crypto/merkle.h"
#include "common/crypto/timestamp.h"
#include "services/timestamp/tsa.h"
#include "tests/support/test_pki.h"

namespace semper::tsa {
namespace {

std::unique_ptr<TimeStampAuthority> MakeTsa(SerialAllocator* serials) {
  semper::testing::LeafSpec spec;
  spec.common_name = "Bench TSA";
  spec.key_usage = kKuDigitalSignature;
  spec.extended_key_usage = {"timeStamping"};
  spec.extended_key_usage_critical = true;
  auto id = semper::testing::SharedTestPki().Issue(spec);
  TsaOptions o{id.certificate, {semper::testing::SharedTestPki().ca()}, id.key};
  o.policies = {"1.2.3.4"};
  o.serials = serials;
  return *TimeStampAuthority::New(o);
}

void BM_Stamp(benchmark::State& state) {
  std::atomic<uint64_t> block{0};
  SerialAllocator serials([&block]() -> absl::StatusOr<uint64_t> { return ++block; });
  static auto* tsa = MakeTsa(&serials).release();
  std::string req = *MakeTimeStampRequest(HashAlgorithm::kSha256, Sha256("x"), {true, "", "12345678"});
  for (auto _ : state) {
    Stamped s = tsa->Stamp(req);
    if (!s.granted()) state.SkipWithError("not granted");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Stamp)->UseRealTime()->Threads(1)->Threads(2);

void BM_MerkleTreeWithProofs(benchmark::State& state) {
  std::vector<std::string> leaves;
  for (int64_t i = 0; i < state.range(0); ++i) leaves.push_back(MerkleLeafHash(Sha256(std::to_string(i))));
  for (auto _ : state) {
    MerkleTree tree(leaves);
    for (size_t i = 0; i < tree.size(); ++i) benchmark::DoNotOptimize(tree.AuditPath(i));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_MerkleTreeWithProofs)->Arg(1000)->Arg(100000);

}  // namespace
}  // namespace semper::tsa

BENCHMARK_MAIN();
