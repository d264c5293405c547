// The TSA's record in PostgreSQL: serial blocks, tokens (group-committed), lookups. Thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/db/group_commit.h"
#include "common/db/pool.h"

namespace semper::tsa {

struct TokenRow {
  uint64_t serial = 0;
  absl::Time gen_time;
  std::string hash_algorithm;
  std::string imprint;
  std::string policy;
  std::string requester;
  std::string token_der;  // without the TSA's certificates
  bool cert_req = false;
  uint64_t batch_tree_size = 0;
  std::string batch_leaves;  // concatenated 32-byte imprints (batch roots only)
};

class TokenStore {
 public:
  explicit TokenStore(db::ConnectionPool* pool) : pool_(pool) {}
  static std::vector<db::PreparedStatement> Statements();

  // A block number never handed out before (nextval of tsa.serial_blocks).
  absl::StatusOr<uint64_t> NextSerialBlock();
  // All rows in one transaction: OK means every one is committed.
  absl::Status Insert(const std::vector<TokenRow>& rows);
  // NOT_FOUND for a serial never recorded.
  absl::StatusOr<TokenRow> Lookup(uint64_t serial);

 private:
  db::ConnectionPool* pool_;
};

// Tokens are committed in groups (common/db/group_commit.h): each row's callback runs after the
// transaction that holds it committed (OK) or failed.
using TokenCommitter = db::GroupCommitter<TokenRow, absl::Status>;
// A committer that inserts each group with store->Insert, in one transaction.
std::unique_ptr<TokenCommitter> MakeTokenCommitter(TokenStore* store, db::GroupCommitOptions options);

}  // namespace semper::tsa
