// Tiled RFC 9162 trees.
#include "common/crypto/merkle_tiles.h"

#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper {

absl::StatusOr<int> TiledMerkleTree::Reset(uint64_t size, const Fetch& fetch) {
  // Built aside and taken only whole: a failed read leaves the tree as it was (callers mark it
  // stale), never half loaded.
  std::vector<Edge> edge;
  int read = 0;
  // Level k has size >> k complete subtrees; its last tile holds the last of them.
  for (int level = 0; (size >> level) > 0; ++level) {
    const uint64_t count = size >> level;
    Edge e;
    e.index = (count - 1) / kTileWidth;
    auto tile = fetch(level, e.index);
    ++read;
    if (!tile.ok()) return Annotate(tile.status(), StrCat("tile (", level, ", ", e.index, ")"));
    const size_t want = static_cast<size_t>(count - e.index * kTileWidth) * kHashBytes;
    if (tile->size() < want) {
      return absl::DataLossError(StrCat("tile (", level, ", ", e.index, ") holds ", tile->size() / kHashBytes,
                                        " hashes; a tree of ", size, " leaves needs ", want / kHashBytes));
    }
    e.hashes = tile->substr(0, want);
    edge.push_back(std::move(e));
  }
  size_ = size;
  edge_ = std::move(edge);
  full_.clear();
  return read;
}

std::vector<TiledMerkleTree::Tile> TiledMerkleTree::Append(const std::vector<std::string>& leaf_hashes) {
  std::map<std::pair<int, uint64_t>, std::string> changed;
  auto put = [&](int level, const std::string& hash) {
    if (static_cast<size_t>(level) == edge_.size()) edge_.emplace_back();
    Edge& e = edge_[level];
    if (e.hashes.size() == kTileWidth * kHashBytes) {
      // The tile is full: it never changes again, and the next one starts.
      if (full_.size() < max_cached_) full_[{level, e.index}] = e.hashes;
      e.index += 1;
      e.hashes.clear();
    }
    e.hashes.append(hash);
    changed[{level, e.index}] = e.hashes;
  };
  for (const std::string& leaf : leaf_hashes) {
    put(0, leaf);
    ++size_;
    // Every complete subtree the new leaf closes, bottom up: level k gains a node whenever its
    // count becomes even (the two halves are the last two nodes of one tile: tiles are aligned).
    for (int level = 0; ((size_ >> level) & 1) == 0; ++level) {
      const std::string_view below = edge_[level].hashes;
      const size_t n = below.size();
      std::string parent = MerkleNodeHash(below.substr(n - 2 * kHashBytes, kHashBytes), below.substr(n - kHashBytes));
      put(level + 1, parent);  // may grow edge_: `below` is not used after this
    }
  }
  std::vector<Tile> out;
  for (auto& [key, hashes] : changed) out.push_back(Tile{key.first, key.second, std::move(hashes)});
  return out;
}

std::vector<TiledMerkleTree::Tile> TiledMerkleTree::RightEdge() const {
  std::vector<Tile> out;
  for (size_t level = 0; level < edge_.size(); ++level) {
    out.push_back(Tile{static_cast<int>(level), edge_[level].index, edge_[level].hashes});
  }
  return out;
}

absl::StatusOr<std::string> TiledMerkleTree::Node(int level, uint64_t index, const Fetch& fetch) {
  const uint64_t tile = index / kTileWidth;
  const size_t offset = static_cast<size_t>(index % kTileWidth) * kHashBytes;
  if (static_cast<size_t>(level) < edge_.size() && edge_[level].index == tile &&
      offset + kHashBytes <= edge_[level].hashes.size()) {
    return edge_[level].hashes.substr(offset, kHashBytes);
  }
  if (auto it = full_.find({level, tile}); it != full_.end()) return it->second.substr(offset, kHashBytes);
  auto hashes = fetch(level, tile);
  if (!hashes.ok()) return Annotate(hashes.status(), StrCat("tile (", level, ", ", tile, ")"));
  if (offset + kHashBytes > hashes->size()) {
    return absl::DataLossError(StrCat("tile (", level, ", ", tile, ") holds ", hashes->size() / kHashBytes,
                                      " hashes: node ", index, " of level ", level, " is missing"));
  }
  std::string node = hashes->substr(offset, kHashBytes);
  if (hashes->size() == kTileWidth * kHashBytes) {
    if (full_.size() >= max_cached_) full_.clear();
    full_[{level, tile}] = *std::move(hashes);
  }
  return node;
}

MerkleNodeFn TiledMerkleTree::Nodes(const Fetch& fetch) {
  return [this, &fetch](int level, uint64_t index) { return Node(level, index, fetch); };
}

absl::StatusOr<std::string> TiledMerkleTree::Root(uint64_t tree_size, const Fetch& fetch) {
  return MerkleRootOf(Nodes(fetch), tree_size);
}

absl::StatusOr<std::vector<std::string>> TiledMerkleTree::InclusionProof(uint64_t index, uint64_t tree_size,
                                                                         const Fetch& fetch) {
  return MerkleInclusionProofOf(Nodes(fetch), index, tree_size);
}

absl::StatusOr<std::vector<std::string>> TiledMerkleTree::ConsistencyProof(uint64_t old_size, uint64_t new_size,
                                                                           const Fetch& fetch) {
  return MerkleConsistencyProofOf(Nodes(fetch), old_size, new_size);
}

}  // namespace semper
