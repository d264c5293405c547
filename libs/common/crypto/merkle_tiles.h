// An RFC 9162 tree kept in tiles, for a log too large to hold in memory or to read at start (the
// notary's evidence log; issue "Trust under attack (2 of 2)", finding 9). Tile (level, index)
// holds the hashes of the complete subtrees of 2^level leaves numbered index * 256 to
// index * 256 + 255, concatenated, 32 bytes each; the last tile of a level (its right edge) may
// hold fewer. Every node of the tree is in exactly one tile, so a proof reads O(log n) tiles, and
// a tree of n leaves takes about 2n/256 tiles.
//
// The tree keeps in memory only the right edge (the last tile of each level, about 40 of them)
// and a bounded cache of full tiles, which never change. Tiles to its left come from `fetch`.
// Not thread-safe: callers serialize.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/merkle.h"

namespace semper {

class TiledMerkleTree {
 public:
  static constexpr uint64_t kTileWidth = 256;
  static constexpr size_t kHashBytes = 32;
  struct Tile {
    int level;
    uint64_t index;
    std::string hashes;
  };
  // The stored tile (level, index), possibly partial; an error (the notary's: DATA_LOSS) when
  // there is none.
  using Fetch = std::function<absl::StatusOr<std::string>(int level, uint64_t index)>;

  explicit TiledMerkleTree(size_t max_cached_tiles = 4096) : max_cached_(max_cached_tiles) {}

  uint64_t size() const { return size_; }
  // Forgets everything and loads the right edge of the stored tree of `size` leaves: one tile per
  // level. Returns the number of tiles read. On an error the tree is unchanged.
  absl::StatusOr<int> Reset(uint64_t size, const Fetch& fetch);
  // Appends leaf hashes; returns the tiles that changed (each whole), to be stored with the leaves.
  std::vector<Tile> Append(const std::vector<std::string>& leaf_hashes);

  // The last tile of each level, as it is now.
  std::vector<Tile> RightEdge() const;

  // Nodes and proofs of the tree of `tree_size` leaves; tree_size may exceed size() when another
  // writer stored more (its tiles are then read through `fetch`).
  absl::StatusOr<std::string> Node(int level, uint64_t index, const Fetch& fetch);
  absl::StatusOr<std::string> Root(uint64_t tree_size, const Fetch& fetch);
  absl::StatusOr<std::vector<std::string>> InclusionProof(uint64_t index, uint64_t tree_size, const Fetch& fetch);
  absl::StatusOr<std::vector<std::string>> ConsistencyProof(uint64_t old_size, uint64_t new_size, const Fetch& fetch);

 private:
  MerkleNodeFn Nodes(const Fetch& fetch);
  // The last tile of each level (index and its hashes so far).
  struct Edge {
    uint64_t index = 0;
    std::string hashes;
  };
  uint64_t size_ = 0;
  std::vector<Edge> edge_;
  size_t max_cached_;
  std::map<std::pair<int, uint64_t>, std::string> full_;  // full tiles read before
};

}  // namespace semper
