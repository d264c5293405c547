// Merkle trees as RFC 9162 (Certificate Transparency 2.0) section 2.1 defines them, over SHA-256:
// leaf hash SHA-256(0x00 || leaf), interior node SHA-256(0x01 || left || right), a tree of n
// leaves split at the largest power of two below n. Used by the TSA's batch mode: one time-stamp
// over the root, one inclusion proof per leaf. Thread-safe (immutable after construction).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

// RFC 9162 2.1.3.2: true when `path` proves that `leaf_hash` is leaf `index` of the tree of
// `tree_size` leaves whose root is `root`.
bool VerifyMerkleInclusion(uint64_t index, uint64_t tree_size, std::string_view leaf_hash,
                           const std::vector<std::string>& path, std::string_view root);

}  // namespace semper
