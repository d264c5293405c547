// The notary's evidence log: entries appended in groups (one transaction, indices assigned under
// a row lock so that replicas interleave safely), an RFC 9162 tree over them stored in tiles
// beside them (written in the same transaction; in memory only the right edge and a bounded cache
// of full tiles, so that memory and start-up do not grow with the log), a signed tree head after
// every group, and inclusion and consistency proofs. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/crypto/merkle_tiles.h"
#include "common/db/group_commit.h"
#include "common/db/pool.h"
#include "semper/v1/notary.pb.h"

namespace semper::notary {

struct NewEntry {
  std::string kind;
  std::string statement;
  std::string signature;
};

class EvidenceLog {
 public:
  // `sign` makes the notary's detached CMS signature over a statement.
  using Signer = std::function<absl::StatusOr<std::string>(std::string_view statement)>;
  // Groups of entries are appended one at a time (the log's row lock and tree_mu_ order them
  // anyway); group_commit.in_flight > 1 only lets the next group form while one is appended.
  EvidenceLog(db::ConnectionPool* pool, Signer sign,
              db::GroupCommitOptions group_commit = {"notary_log", 1000, 1, nullptr});
  ~EvidenceLog();  // answers what was submitted, then stops
  static std::vector<db::PreparedStatement> Statements();

  // Reads the right edge of the stored tree (about one tile per level: start-up does not grow with
  // the log), after tiling the entries of a log from before tiles, in steps; checks the latest
  // signed tree head against it, and signs one if the latest size has none.
  absl::Status Load();
  // Tiles read by the last Load (for the operator's log and the tests).
  int tiles_read_at_load() const { return tiles_read_at_load_; }

  // Appends; `done` gets the evidence with its inclusion proof to a signed tree head, after the
  // entry is committed.
  void Append(NewEntry entry, std::function<void(absl::StatusOr<v1::Evidence>)> done);
  absl::StatusOr<v1::Evidence> Append(NewEntry entry);
  // The entry with this kind and statement if the log has one (an append whose caller died before
  // it recorded the index), else appended now. For outcomes that must be in the log exactly once;
  // calls for the same statement in one process wait for each other.
  absl::StatusOr<v1::Evidence> AppendOnce(NewEntry entry);

  absl::StatusOr<v1::SignedTreeHead> LatestTreeHead();
  // Entry `index` with its proof into the signed tree head of `tree_size` (0: the latest).
  absl::StatusOr<v1::Evidence> Get(uint64_t index, uint64_t tree_size);
  absl::StatusOr<v1::ConsistencyProof> Consistency(uint64_t old_size, uint64_t new_size);
  // Recomputes the tree from the stored entries and checks every stored tree head against it,
  // and every entry's signature with `verify`.
  absl::StatusOr<v1::AuditLogResponse> Audit(
      const std::function<bool(std::string_view statement, std::string_view signature)>& verify);

 private:
  // Appends a group in one transaction with its tree head (the group committer's commit function).
  absl::Status AppendGroup(std::vector<NewEntry>& group, std::vector<absl::StatusOr<v1::Evidence>>& answers);
  // Tiles entries [tiled, size) of a log from before tiles, `step` at a time, each step in a
  // transaction holding the log's row lock.
  absl::Status TileOldEntries(uint64_t step);
  // Reads the right edge again if the tree is stale.
  absl::Status FreshLocked(uint64_t size) ABSL_EXCLUSIVE_LOCKS_REQUIRED(tree_mu_);
  // The stored tree, of `size` entries, has `head`'s root at `head`'s size.
  absl::Status ExtendsLocked(const v1::SignedTreeHead& head, uint64_t size, const TiledMerkleTree::Fetch& fetch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(tree_mu_);
  // Signs and stores the head of `size`; `others_appended`: check the latest head stored by any
  // replica too, not only this process's.
  absl::StatusOr<v1::SignedTreeHead> SignTreeHeadLocked(uint64_t size, bool others_appended)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(tree_mu_);
  absl::StatusOr<v1::SignedTreeHead> TreeHead(uint64_t size);

  db::ConnectionPool* pool_;
  Signer sign_;

  absl::Mutex tree_mu_;
  TiledMerkleTree tree_ ABSL_GUARDED_BY(tree_mu_);
  // tree_ does not match what is stored (before Load, after a failed append).
  bool tree_stale_ ABSL_GUARDED_BY(tree_mu_) = true;
  std::optional<v1::SignedTreeHead> latest_ ABSL_GUARDED_BY(tree_mu_);
  const TiledMerkleTree::Fetch fetch_;  // tiles through the pool
  int tiles_read_at_load_ = 0;          // set by Load, before the log serves

  absl::Mutex once_mu_[64];  // AppendOnce, by statement hash

  // Last: stopped (what it holds appended and answered) before the rest goes.
  std::unique_ptr<db::GroupCommitter<NewEntry, absl::StatusOr<v1::Evidence>>> committer_;
};

}  // namespace semper::notary
