// The TSA's record in PostgreSQL: serial blocks, tokens (group-committed), lookups. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/db/pool.h"
#include "common/server/metrics.h"

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

// Group commit: rows submitted while a commit is in flight are committed together by the next
// one, so that many concurrent requests share one fsync and durability does not cost
// throughput. `committers` transactions may be in flight at once (a group waits for a free one,
// not for the previous fsync to end). Each row's callback runs after its commit (OK) or its
// failure. Thread-safe.
class GroupCommitter {
 public:
  GroupCommitter(TokenStore* store, std::shared_ptr<Metrics> metrics, size_t max_batch = 2000, int committers = 2);
  ~GroupCommitter();  // commits what was submitted, then stops

  void Submit(TokenRow row, std::function<void(absl::Status)> done);
  // Submit and wait for the commit.
  absl::Status Record(TokenRow row);

 private:
  void Loop();
  TokenStore* store_;
  std::shared_ptr<Metrics> metrics_;
  const size_t max_batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<TokenRow, std::function<void(absl::Status)>>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace semper::tsa
