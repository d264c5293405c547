// Merkle trees as RFC 9162 (Certificate Transparency 2.0) section 2.1 defines them, over SHA-256:
// leaf hash SHA-256(0x00 || leaf), interior node SHA-256(0x01 || left || right), a tree of n
// leaves split at the largest power of two below n. Used by the TSA's batch mode: one time-stamp
// over the root, one inclusion proof per leaf. Thread-safe (immutable after construction).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace semper {

std::string MerkleLeafHash(std::string_view leaf);
std::string MerkleNodeHash(std::string_view left, std::string_view right);

class MerkleTree {
 public:
  // `leaf_hashes` are MerkleLeafHash values; at least one.
  explicit MerkleTree(std::vector<std::string> leaf_hashes);

  size_t size() const { return levels_.front().size(); }
  const std::string& root() const { return levels_.back().front(); }
  // The audit path of leaf `index` (RFC 9162 2.1.3.1), sibling hashes from the leaf up.
  std::vector<std::string> AuditPath(size_t index) const;

 private:
  // levels_[0] are the leaf hashes; each level pairs the one below, carrying an odd last node
  // up unchanged, which gives exactly the RFC's tree shape.
  std::vector<std::vector<std::string>> levels_;
};

// RFC 9162 2.1 over any store of complete subtrees: `node(level, index)` is the hash of leaves
// [index * 2^level, (index + 1) * 2^level) (level 0: the leaf hashes). Each call asks for
// O(log n) nodes, every one a complete subtree of the tree of `tree_size` leaves; a store's error
// is returned as it is.
using MerkleNodeFn = std::function<absl::StatusOr<std::string>(int level, uint64_t index)>;
// MTH of the first `tree_size` leaves.
absl::StatusOr<std::string> MerkleRootOf(const MerkleNodeFn& node, uint64_t tree_size);
// PATH(index, D[tree_size]) (empty when index >= tree_size).
absl::StatusOr<std::vector<std::string>> MerkleInclusionProofOf(const MerkleNodeFn& node, uint64_t index,
                                                                uint64_t tree_size);
// PROOF(old_size, D[new_size]) (empty when old_size is 0 or not below new_size).
absl::StatusOr<std::vector<std::string>> MerkleConsistencyProofOf(const MerkleNodeFn& node, uint64_t old_size,
                                                                  uint64_t new_size);

// An append-only log's tree (RFC 9162 2.1): roots of every earlier size, inclusion proofs and
// consistency proofs between sizes, each in O(log n) hash lookups from the complete subtrees it
// keeps (about 2 x 32 bytes per leaf). Not thread-safe: callers serialize.
class MerkleLog {
 public:
  void Append(std::string leaf_hash);
  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  // MTH of the first `tree_size` leaves (tree_size <= size()).
  std::string Root(uint64_t tree_size) const;
  // PATH(index, D[tree_size]) of RFC 9162 2.1.3.1.
  std::vector<std::string> InclusionProof(uint64_t index, uint64_t tree_size) const;
  // PROOF(old_size, D[new_size]) of RFC 9162 2.1.4.1 (empty when old_size is 0 or equals new_size).
  std::vector<std::string> ConsistencyProof(uint64_t old_size, uint64_t new_size) const;
  const std::string& Leaf(uint64_t index) const { return levels_[0][index]; }

 private:
  MerkleNodeFn Nodes() const;
  // levels_[k][j]: the hash of the complete subtree of leaves [j * 2^k, (j + 1) * 2^k).
  std::vector<std::vector<std::string>> levels_;
};

// RFC 9162 2.1.4.2: true when `proof` shows that the tree of `old_size` leaves with root
// `old_root` is a prefix of the tree of `new_size` leaves with root `new_root`.
bool VerifyMerkleConsistency(uint64_t old_size, uint64_t new_size, std::string_view old_root, std::string_view new_root,
                             const std::vector<std::string>& proof);

// RFC 9162 2.1.3.2: true when `path` proves that `leaf_hash` is leaf `index` of the tree of
// `tree_size` leaves whose root is `root`.
bool VerifyMerkleInclusion(uint64_t index, uint64_t tree_size, std::string_view leaf_hash,
                           const std::vector<std::string>& path, std::string_view root);

}  // namespace semper
