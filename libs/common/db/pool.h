// A fixed pool of PostgreSQL connections. A connection is only ever used by the thread holding
// its Lease. ConnectionPool is thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace semper::db {

struct PreparedStatement {
  std::string name;
  std::string sql;  // with $1.. parameters; never built by concatenating values
};

struct PoolOptions {
  // libpq connection string or URI: "postgresql://user@127.0.0.1:5432/semper".
  std::string conninfo;
  int size = 4;
  // How long Acquire() waits for a free connection before UNAVAILABLE.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // Prepared on every connection when it is opened.
  std::vector<PreparedStatement> statements;
  // Reported to PostgreSQL (pg_stat_activity.application_name).
  std::string application_name = "semper";
};

enum class Isolation { kReadCommitted, kSerializable };

struct TransactOptions {
  Isolation isolation = Isolation::kReadCommitted;
  // Runs of the transaction body on serialization failure, deadlock or a connection lost before
  // commit. 1 disables retries.
  int max_attempts = 4;
};

class ConnectionPool {
 public:
  // Validates the options. Connections are opened on first use, so a daemon can start before
  // its database and report not-ready until it is reachable.
  static absl::StatusOr<std::unique_ptr<ConnectionPool>> New(PoolOptions options);
  ~ConnectionPool();

  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& operator*() const { return *conn_; }
    pqxx::connection* operator->() const { return conn_; }
    // The connection failed: it is closed instead of returned, and reopened on next use.
    void MarkBroken() { broken_ = true; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, int slot, pqxx::connection* conn) : pool_(pool), slot_(slot), conn_(conn) {}
    ConnectionPool* pool_;
    int slot_;
    pqxx::connection* conn_;
    bool broken_ = false;
  };

  // A connection for the caller's thread alone, or UNAVAILABLE (pool exhausted for
  // acquire_timeout, or the database unreachable).
  absl::StatusOr<Lease> Acquire();

  // Runs `body` in one transaction and commits it, so that OK means committed. Retries the whole
  // body on serialization failure, deadlock, or a connection lost before commit; so `body` must
  // have no effects outside the transaction. A non-OK status from `body` rolls back and is
  // returned as is. A connection lost during COMMIT gives UNAVAILABLE (outcome unknown).
  absl::Status Transact(const std::function<absl::Status(pqxx::work&)>& body, const TransactOptions& options = {});

  // Runs `body`, which must run exactly one statement, as its own transaction (autocommit): one
  // round trip where Transact takes three (BEGIN, the statement, COMMIT), for a write that is
  // whole in one statement (the TSA's group INSERT ... FROM unnest). OK means committed. A
  // connection lost while the statement ran leaves its outcome unknown: the statement is run
  // once more on a connection opened since, so it must be one that a second run cannot
  // duplicate (rows with a unique key: the second run fails if the first committed); any
  // failure after a lost connection (including none to be had) is reported as UNAVAILABLE,
  // outcome unknown, never as not done.
  absl::Status WriteOneStatement(const std::function<absl::Status(pqxx::nontransaction&)>& body);

  // Runs read-only statements in autocommit mode (one round trip each, no BEGIN/COMMIT): for hot
  // lookups that read a single consistent row. Retried once on a lost connection.
  absl::Status Read(const std::function<absl::Status(pqxx::nontransaction&)>& body);

  // SELECT 1 on a pooled connection: for readiness checks.
  absl::Status Ping();

  int size() const { return static_cast<int>(options_.size); }

 private:
  explicit ConnectionPool(PoolOptions options);
  void Release(int slot, bool broken);

  const PoolOptions options_;
  absl::Mutex mu_;
  // A slot's connection is touched only by the thread that holds the slot.
  std::vector<std::unique_ptr<pqxx::connection>> conns_;
  // The generation_ in which each slot's connection was opened; the first connection of the
  // current generation found broken (not one that could not be opened) starts a new one, and idle
  // connections of older ones are replaced before use.
  std::vector<uint64_t> opened_in_;
  std::atomic<uint64_t> generation_{0};
  std::vector<bool> in_use_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semper::db
