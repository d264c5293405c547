// RFC 9162 Merkle tree hashing, inclusion proofs and their verification.
#include "common/crypto/merkle.h"

#include "common/crypto/digest.h"

namespace semper {

std::string MerkleLeafHash(std::string_view leaf) {
  std::string buf;
  buf.reserve(leaf.size() + 1);
  buf.push_back('\0');
  buf.append(leaf);
  return Sha256(buf);
}

std::string MerkleNodeHash(std::string_view left, std::string_view right) {
  std::string buf;
  buf.reserve(left.size() + right.size() + 1);
  buf.push_back('\1');
  buf.append(left);
  buf.append(right);
  return Sha256(buf);
}

MerkleTree::MerkleTree(std::vector<std::string> leaf_hashes) {
  levels_.push_back(std::move(leaf_hashes));
  if (levels_.front().empty()) levels_.front().push_back(Sha256(""));  // RFC 9162: MTH({}) = SHA-256()
  while (levels_.back().size() > 1) {
    const std::vector<std::string>& below = levels_.back();
    std::vector<std::string> up;
    up.reserve((below.size() + 1) / 2);
    for (size_t i = 0; i + 1 < below.size(); i += 2) up.push_back(MerkleNodeHash(below[i], below[i + 1]));
    if (below.size() % 2 == 1) up.push_back(below.back());
    levels_.push_back(std::move(up));
  }
}

std::vector<std::string> MerkleTree::AuditPath(size_t index) const {
  std::vector<std::string> path;
  for (size_t level = 0; level + 1 < levels_.size(); ++level, index /= 2) {
    size_t sibling = index ^ 1;
    if (sibling < levels_[level].size()) path.push_back(levels_[level][sibling]);
  }
  return path;
}

bool VerifyMerkleInclusion(uint64_t index, uint64_t tree_size, std::string_view leaf_hash,
                           const std::vector<std::string>& path, std::string_view root) {
  if (index >= tree_size) return false;
  uint64_t fn = index, sn = tree_size - 1;
  std::string r(leaf_hash);
  for (const std::string& p : path) {
    if (sn == 0) return false;
    if ((fn & 1) == 1 || fn == sn) {
      r = MerkleNodeHash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = MerkleNodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

}  // namespace semper
