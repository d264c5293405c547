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

namespace {

uint64_t LargestPowerOfTwoBelow(uint64_t n) {  // n > 1
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

bool IsPowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

void MerkleLog::Append(std::string leaf_hash) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(std::move(leaf_hash));
  // Every complete subtree the new leaf closes, bottom up.
  for (size_t k = 0; levels_[k].size() % 2 == 0; ++k) {
    if (levels_.size() == k + 1) levels_.emplace_back();
    const auto& below = levels_[k];
    levels_[k + 1].push_back(MerkleNodeHash(below[below.size() - 2], below[below.size() - 1]));
  }
}

namespace {

// MTH(D[begin:end]) from the complete subtrees it splits into.
absl::StatusOr<std::string> RangeHash(const MerkleNodeFn& node, uint64_t begin, uint64_t end) {
  uint64_t n = end - begin;
  if (n == 0) return Sha256("");
  if (IsPowerOfTwo(n) && begin % n == 0) {
    int k = 0;
    while ((uint64_t{1} << k) < n) ++k;
    return node(k, begin >> k);
  }
  uint64_t k = LargestPowerOfTwoBelow(n);
  auto left = RangeHash(node, begin, begin + k);
  if (!left.ok()) return left.status();
  auto right = RangeHash(node, begin + k, end);
  if (!right.ok()) return right.status();
  return MerkleNodeHash(*left, *right);
}

absl::Status Path(const MerkleNodeFn& node, uint64_t m, uint64_t begin, uint64_t end, std::vector<std::string>* out) {
  uint64_t n = end - begin;
  if (n <= 1) return absl::OkStatus();
  uint64_t k = LargestPowerOfTwoBelow(n);
  absl::StatusOr<std::string> sibling;
  if (m < k) {
    if (absl::Status s = Path(node, m, begin, begin + k, out); !s.ok()) return s;
    sibling = RangeHash(node, begin + k, end);
  } else {
    if (absl::Status s = Path(node, m - k, begin + k, end, out); !s.ok()) return s;
    sibling = RangeHash(node, begin, begin + k);
  }
  if (!sibling.ok()) return sibling.status();
  out->push_back(*std::move(sibling));
  return absl::OkStatus();
}

absl::Status SubProof(const MerkleNodeFn& node, uint64_t m, uint64_t begin, uint64_t end, bool b,
                      std::vector<std::string>* out) {
  uint64_t n = end - begin;
  if (m == n) {
    if (b) return absl::OkStatus();
    auto h = RangeHash(node, begin, end);
    if (!h.ok()) return h.status();
    out->push_back(*std::move(h));
    return absl::OkStatus();
  }
  uint64_t k = LargestPowerOfTwoBelow(n);
  absl::StatusOr<std::string> other;
  if (m <= k) {
    if (absl::Status s = SubProof(node, m, begin, begin + k, b, out); !s.ok()) return s;
    other = RangeHash(node, begin + k, end);
  } else {
    if (absl::Status s = SubProof(node, m - k, begin + k, end, false, out); !s.ok()) return s;
    other = RangeHash(node, begin, begin + k);
  }
  if (!other.ok()) return other.status();
  out->push_back(*std::move(other));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> MerkleRootOf(const MerkleNodeFn& node, uint64_t tree_size) {
  return RangeHash(node, 0, tree_size);
}

absl::StatusOr<std::vector<std::string>> MerkleInclusionProofOf(const MerkleNodeFn& node, uint64_t index,
                                                                uint64_t tree_size) {
  std::vector<std::string> out;
  if (index < tree_size) {
    if (absl::Status s = Path(node, index, 0, tree_size, &out); !s.ok()) return s;
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> MerkleConsistencyProofOf(const MerkleNodeFn& node, uint64_t old_size,
                                                                  uint64_t new_size) {
  std::vector<std::string> out;
  if (old_size > 0 && old_size < new_size) {
    if (absl::Status s = SubProof(node, old_size, 0, new_size, true, &out); !s.ok()) return s;
  }
  return out;
}

MerkleNodeFn MerkleLog::Nodes() const {
  return [this](int level, uint64_t index) -> absl::StatusOr<std::string> { return levels_[level][index]; };
}

std::string MerkleLog::Root(uint64_t tree_size) const { return *MerkleRootOf(Nodes(), tree_size); }

std::vector<std::string> MerkleLog::InclusionProof(uint64_t index, uint64_t tree_size) const {
  if (tree_size > size()) return {};
  return *MerkleInclusionProofOf(Nodes(), index, tree_size);
}

std::vector<std::string> MerkleLog::ConsistencyProof(uint64_t old_size, uint64_t new_size) const {
  if (new_size > size()) return {};
  return *MerkleConsistencyProofOf(Nodes(), old_size, new_size);
}

bool VerifyMerkleConsistency(uint64_t old_size, uint64_t new_size, std::string_view old_root, std::string_view new_root,
                             const std::vector<std::string>& proof) {
  if (old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (old_size == 0) return proof.empty();
  // RFC 9162 2.1.4.2.
  std::vector<std::string> path = proof;
  if (IsPowerOfTwo(old_size)) path.insert(path.begin(), std::string(old_root));
  if (path.empty()) return false;
  uint64_t fn = old_size - 1, sn = new_size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  std::string fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const std::string& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = MerkleNodeHash(c, fr);
      sr = MerkleNodeHash(c, sr);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = MerkleNodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == old_root && sr == new_root && sn == 0;
}

}  // namespace semper
