// The Merkle tree against RFC 9162's recursive definitions, written out here as the RFC states
// them, for every tree size up to 70 and every leaf.
#include "common/crypto/merkle.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "common/crypto/digest.h"
#include "common/crypto/merkle_tiles.h"

namespace semper {
namespace {

using Leaves = std::vector<std::string>;

Leaves Slice(const Leaves& d, size_t from, size_t to) { return Leaves(d.begin() + from, d.begin() + to); }

size_t LargestPowerOfTwoBelow(size_t n) {
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// MTH(D[n]) of RFC 9162 2.1.1.
std::string Mth(const Leaves& d) {
  if (d.empty()) return Sha256("");
  if (d.size() == 1) return MerkleLeafHash(d[0]);
  size_t k = LargestPowerOfTwoBelow(d.size());
  return MerkleNodeHash(Mth(Slice(d, 0, k)), Mth(Slice(d, k, d.size())));
}

// PATH(m, D[n]) of RFC 9162 2.1.3.1.
Leaves Path(size_t m, const Leaves& d) {
  if (d.size() <= 1) return {};
  size_t k = LargestPowerOfTwoBelow(d.size());
  Leaves out;
  if (m < k) {
    out = Path(m, Slice(d, 0, k));
    out.push_back(Mth(Slice(d, k, d.size())));
  } else {
    out = Path(m - k, Slice(d, k, d.size()));
    out.push_back(Mth(Slice(d, 0, k)));
  }
  return out;
}

TEST(MerkleTest, MatchesTheRfcDefinitionsForEverySizeAndLeaf) {
  for (size_t n = 1; n <= 70; ++n) {
    Leaves data, hashes;
    for (size_t i = 0; i < n; ++i) {
      data.push_back("leaf " + std::to_string(i));
      hashes.push_back(MerkleLeafHash(data.back()));
    }
    MerkleTree tree(hashes);
    ASSERT_EQ(tree.size(), n);
    ASSERT_EQ(tree.root(), Mth(data)) << n;
    for (size_t m = 0; m < n; ++m) {
      Leaves path = tree.AuditPath(m);
      ASSERT_EQ(path, Path(m, data)) << n << " " << m;
      EXPECT_TRUE(VerifyMerkleInclusion(m, n, hashes[m], path, tree.root())) << n << " " << m;
      // Another leaf, index, size or a changed path do not verify.
      EXPECT_FALSE(VerifyMerkleInclusion(m, n, MerkleLeafHash("other"), path, tree.root()));
      if (n > 1) {
        EXPECT_FALSE(VerifyMerkleInclusion((m + 1) % n, n, hashes[m], path, tree.root()));
      }
      EXPECT_FALSE(VerifyMerkleInclusion(m, m, hashes[m], path, tree.root()));
      if (!path.empty()) {
        Leaves bad = path;
        bad.back()[0] ^= 1;
        EXPECT_FALSE(VerifyMerkleInclusion(m, n, hashes[m], bad, tree.root()));
        Leaves shorter(path.begin(), path.end() - 1);
        EXPECT_FALSE(VerifyMerkleInclusion(m, n, hashes[m], shorter, tree.root()));
      }
      Leaves longer = path;
      longer.push_back(hashes[0]);
      EXPECT_FALSE(VerifyMerkleInclusion(m, n, hashes[m], longer, tree.root()));
    }
  }
}

// SUBPROOF(m, D[n], b) and PROOF(m, D[n]) of RFC 9162 2.1.4.1.
Leaves SubProof(size_t m, const Leaves& d, bool b) {
  if (m == d.size()) return b ? Leaves{} : Leaves{Mth(d)};
  size_t k = LargestPowerOfTwoBelow(d.size());
  Leaves out;
  if (m <= k) {
    out = SubProof(m, Slice(d, 0, k), b);
    out.push_back(Mth(Slice(d, k, d.size())));
  } else {
    out = SubProof(m - k, Slice(d, k, d.size()), false);
    out.push_back(Mth(Slice(d, 0, k)));
  }
  return out;
}

TEST(MerkleLogTest, RootsAndProofsMatchTheRfcForEveryPrefix) {
  const size_t kMax = 40;
  Leaves data;
  MerkleLog log;
  for (size_t i = 0; i < kMax; ++i) {
    data.push_back("entry " + std::to_string(i));
    log.Append(MerkleLeafHash(data.back()));
  }
  for (size_t n = 1; n <= kMax; ++n) {
    Leaves prefix = Slice(data, 0, n);
    ASSERT_EQ(log.Root(n), Mth(prefix)) << n;
    for (size_t m = 0; m < n; ++m) {
      ASSERT_EQ(log.InclusionProof(m, n), Path(m, prefix)) << n << " " << m;
      EXPECT_TRUE(VerifyMerkleInclusion(m, n, MerkleLeafHash(data[m]), log.InclusionProof(m, n), log.Root(n)));
    }
    for (size_t old = 1; old <= n; ++old) {
      Leaves proof = log.ConsistencyProof(old, n);
      if (old < n) {
        ASSERT_EQ(proof, SubProof(old, prefix, true)) << old << " " << n;
      }
      EXPECT_TRUE(VerifyMerkleConsistency(old, n, log.Root(old), log.Root(n), proof)) << old << " " << n;
      // A different old root, new root, or a changed proof does not verify.
      EXPECT_FALSE(VerifyMerkleConsistency(old, n, Sha256("x"), log.Root(n), proof)) << old << " " << n;
      if (old < n) {
        EXPECT_FALSE(VerifyMerkleConsistency(old, n, log.Root(old), Sha256("x"), proof)) << old << " " << n;
        if (!proof.empty()) {
          Leaves bad = proof;
          bad.back()[0] ^= 1;
          EXPECT_FALSE(VerifyMerkleConsistency(old, n, log.Root(old), log.Root(n), bad)) << old << " " << n;
        }
      }
    }
  }
  // A rewritten entry: the old tree head is no longer consistent with the log.
  MerkleLog forged;
  for (size_t i = 0; i < kMax; ++i) forged.Append(MerkleLeafHash(i == 3 ? "rewritten" : data[i]));
  EXPECT_FALSE(VerifyMerkleConsistency(10, kMax, log.Root(10), forged.Root(kMax), forged.ConsistencyProof(10, kMax)));
}

TEST(MerkleTest, KnownRootOfTheRfc6962TestVector) {
  // The 8-leaf tree of the Certificate Transparency test vectors (RFC 6962 hashing = RFC 9162).
  const char* leaves[] = {"",
                          "\x00",
                          "\x10",
                          "\x20\x21",
                          "\x30\x31",
                          "\x40\x41\x42\x43",
                          "\x50\x51\x52\x53\x54\x55\x56\x57",
                          "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"};
  size_t sizes[] = {0, 1, 1, 2, 2, 4, 8, 16};
  Leaves hashes;
  for (int i = 0; i < 8; ++i) hashes.push_back(MerkleLeafHash(std::string_view(leaves[i], sizes[i])));
  MerkleTree tree(hashes);
  static const unsigned char kRoot[] = {0x5d, 0xc9, 0xda, 0x79, 0xa7, 0x06, 0x59, 0xa9, 0xad, 0x55, 0x9c,
                                        0xb7, 0x01, 0xde, 0xd9, 0xa2, 0xab, 0x9d, 0x82, 0x3a, 0xad, 0x2f,
                                        0x49, 0x60, 0xcf, 0xe3, 0x70, 0xef, 0xf4, 0x60, 0x43, 0x28};
  EXPECT_EQ(tree.root(), std::string(reinterpret_cast<const char*>(kRoot), 32));
}

// The tiled tree (the notary's stored tree) gives the same roots and proofs as the in-memory
// log at every size, across tile boundaries of every level, after appends in groups of any size,
// and after a restart that reads only the right edge; a second writer's appends are read through
// the store.
TEST(TiledMerkleTreeTest, SameRootsAndProofsAsTheLogAtEverySizeAndAfterARestart) {
  std::map<std::pair<int, uint64_t>, std::string> store;
  int fetches = 0;
  TiledMerkleTree::Fetch fetch = [&](int level, uint64_t index) -> absl::StatusOr<std::string> {
    ++fetches;
    auto it = store.find({level, index});
    if (it == store.end()) return absl::NotFoundError("no such tile");
    return it->second;
  };
  std::mt19937_64 rng(20261206);
  MerkleLog log;
  TiledMerkleTree tree(/*max_cached_tiles=*/3);
  while (log.size() < 70000) {
    std::vector<std::string> group(1 + rng() % (rng() % 4 == 0 ? 700 : 5));
    for (auto& h : group) {
      h = MerkleLeafHash("entry " + std::to_string(log.size() + (&h - group.data())));
    }
    for (const auto& h : group) log.Append(h);
    for (auto& t : tree.Append(group)) {
      ASSERT_LE(t.hashes.size(), TiledMerkleTree::kTileWidth * TiledMerkleTree::kHashBytes);
      store[{t.level, t.index}] = std::move(t.hashes);
    }
    ASSERT_EQ(tree.size(), log.size());
    const uint64_t n = log.size();
    ASSERT_EQ(*tree.Root(n, fetch), log.Root(n)) << n;
    const uint64_t index = rng() % n, old = 1 + rng() % n;
    ASSERT_EQ(*tree.InclusionProof(index, n, fetch), log.InclusionProof(index, n)) << index << " " << n;
    ASSERT_EQ(*tree.ConsistencyProof(old, n, fetch), log.ConsistencyProof(old, n)) << old << " " << n;
    if (rng() % 50 == 0) {
      // A restart: only the right edge is read, one tile per level.
      TiledMerkleTree restarted;
      fetches = 0;
      auto read = restarted.Reset(n, fetch);
      ASSERT_TRUE(read.ok()) << read.status();
      EXPECT_LE(*read, 64);
      EXPECT_EQ(fetches, *read);
      EXPECT_EQ(*restarted.Root(n, fetch), log.Root(n));
      EXPECT_EQ(fetches, *read) << "the root of the whole tree is on the right edge";
      const uint64_t earlier = 1 + rng() % n, i = rng() % earlier;
      EXPECT_EQ(*restarted.InclusionProof(i, earlier, fetch), log.InclusionProof(i, earlier));
      EXPECT_EQ(*restarted.Root(earlier, fetch), log.Root(earlier));
    }
  }
  // A writer that lags behind reads what another wrote through the store.
  TiledMerkleTree lagging;
  ASSERT_TRUE(lagging.Reset(1000, fetch).ok());
  EXPECT_EQ(*lagging.Root(log.size(), fetch), log.Root(log.size()));
  EXPECT_EQ(*lagging.InclusionProof(50000, log.size(), fetch), log.InclusionProof(50000, log.size()));
  // A store that lost a tile, or holds a short one, is an error, not a wrong answer.
  store.erase({0, 3});
  TiledMerkleTree fresh;
  ASSERT_TRUE(fresh.Reset(log.size(), fetch).ok());
  EXPECT_EQ(fresh.InclusionProof(3 * 256 + 1, log.size(), fetch).status().code(), absl::StatusCode::kNotFound);
  store[{1, 0}] = store[{1, 0}].substr(0, 64);  // two hashes left
  TiledMerkleTree short_tile;
  ASSERT_TRUE(short_tile.Reset(log.size(), fetch).ok());
  EXPECT_EQ(short_tile.Root(6, fetch).status().code(), absl::StatusCode::kDataLoss);  // needs node (1, 2)
  EXPECT_EQ(short_tile.Reset(100, fetch).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace semper
