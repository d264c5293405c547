// Connection pool and transaction runner.
#include "common/db/pool.h"

#include <thread>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/random.h"
#include "common/db/errors.h"

namespace semper::db {

absl::StatusOr<std::unique_ptr<ConnectionPool>> ConnectionPool::New(PoolOptions options) {
  if (options.conninfo.empty()) return InvalidField("database.url", "is required");
  if (options.size < 1 || options.size > 512) {
    return InvalidField("database.pool_size", "must be between 1 and 512");
  }
  return std::unique_ptr<ConnectionPool>(new ConnectionPool(std::move(options)));
}

ConnectionPool::ConnectionPool(PoolOptions options)
    : options_(std::move(options)),
      conns_(static_cast<size_t>(options_.size)),
      opened_in_(static_cast<size_t>(options_.size), 0),
      in_use_(static_cast<size_t>(options_.size), false) {}

ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), slot_(other.slot_), conn_(other.conn_), broken_(other.broken_) {
  other.pool_ = nullptr;
}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(slot_, broken_);
}

void ConnectionPool::Release(int slot, bool broken) {
  auto& conn = conns_[static_cast<size_t>(slot)];
  if (broken && conn != nullptr) {
    conn.reset();
    // What broke this open connection (a restart, a failover) has likely broken the idle ones
    // opened with it: each is replaced when next acquired, instead of failing its next caller.
    // Once per generation (several connections found broken in one outage start one new
    // generation), and never for a connection that could not be opened: while new connections
    // are refused, the open ones keep serving.
    uint64_t opened = opened_in_[static_cast<size_t>(slot)];
    generation_.compare_exchange_strong(opened, opened + 1);
  }
  absl::MutexLock lock(&mu_);
  in_use_[static_cast<size_t>(slot)] = false;
}

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire() {
  int slot = -1;
  {
    absl::MutexLock lock(&mu_);
    auto free_slot = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (bool used : in_use_) {
        if (!used) return true;
      }
      return false;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&free_slot), options_.acquire_timeout)) {
      return MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                       StrCat("all ", options_.size, " database connections are busy"));
    }
    // Prefer a slot with an open connection.
    for (size_t i = 0; i < in_use_.size(); ++i) {
      if (!in_use_[i] && (slot < 0 || conns_[i] != nullptr)) slot = static_cast<int>(i);
      if (slot >= 0 && conns_[static_cast<size_t>(slot)] != nullptr) break;
    }
    in_use_[static_cast<size_t>(slot)] = true;
  }
  auto& conn = conns_[static_cast<size_t>(slot)];
  const uint64_t generation = generation_.load();
  if (conn != nullptr && (!conn->is_open() || opened_in_[static_cast<size_t>(slot)] < generation)) conn.reset();
  if (conn == nullptr) {
    opened_in_[static_cast<size_t>(slot)] = generation;
    try {
      conn = std::make_unique<pqxx::connection>(options_.conninfo);
      {
        pqxx::nontransaction setup(*conn);
        setup.exec0("SET application_name = " + setup.quote(options_.application_name));
        // Durable commits whatever the role's or database's defaults say (ALTER ROLE ... SET
        // synchronous_commit = local would let the leader alone acknowledge): with a synchronous
        // standby, a commit returns once the standby has it.
        setup.exec0("SET synchronous_commit = on");
      }
      for (const PreparedStatement& s : options_.statements) conn->prepare(s.name, s.sql);
    } catch (const std::exception& e) {
      conn.reset();
      Release(slot, true);
      return StatusFromException(e, "connecting to the database");
    }
  }
  return Lease(this, slot, conn.get());
}

absl::Status ConnectionPool::Transact(const std::function<absl::Status(pqxx::work&)>& body,
                                      const TransactOptions& options) {
  absl::Status last;
  for (int attempt = 1; attempt <= std::max(1, options.max_attempts); ++attempt) {
    if (attempt > 1) {
      // Jittered backoff so that colliding transactions do not collide again.
      unsigned char r = static_cast<unsigned char>(RandomBytes(1)[0]);
      std::this_thread::sleep_for(std::chrono::microseconds(500 * attempt + 20 * r));
    }
    SEMPER_ASSIGN_OR_RETURN(Lease lease, Acquire());
    bool committing = false;
    try {
      pqxx::work tx(*lease);
      switch (options.isolation) {
        case Isolation::kReadCommitted:
          break;
        case Isolation::kSerializable:
          tx.exec0("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE");
          break;
      }
      absl::Status s = body(tx);
      if (!s.ok()) {
        tx.abort();
        return s;
      }
      committing = true;
      tx.commit();
      return absl::OkStatus();
    } catch (const pqxx::in_doubt_error& e) {
      lease.MarkBroken();
      return StatusFromException(e, "committing");
    } catch (const pqxx::broken_connection& e) {
      lease.MarkBroken();
      last = StatusFromException(e, committing ? "committing" : "running a transaction");
      if (committing) return last;
    } catch (const std::exception& e) {
      if (!IsRetryable(e)) return StatusFromException(e, "running a transaction");
      last = StatusFromException(e, "running a transaction");
    }
  }
  return last;
}

absl::Status ConnectionPool::WriteOneStatement(const std::function<absl::Status(pqxx::nontransaction&)>& body) {
  const absl::Status unknown = MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                                         "writing: the database connection was lost and the outcome is unknown");
  // After the first run lost its connection, whatever the second run meets is "unknown": the
  // first may have committed.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto lease = Acquire();
    if (!lease.ok()) return attempt == 0 ? lease.status() : unknown;
    try {
      pqxx::nontransaction tx(**lease);
      absl::Status s = body(tx);
      return attempt == 0 || s.ok() ? s : unknown;
    } catch (const pqxx::broken_connection& e) {
      // The lost connection is replaced, and with it the idle ones of its generation (Release).
      lease->MarkBroken();
    } catch (const std::exception& e) {
      return attempt == 0 ? StatusFromException(e, "writing") : unknown;
    }
  }
  return unknown;
}

absl::Status ConnectionPool::Read(const std::function<absl::Status(pqxx::nontransaction&)>& body) {
  absl::Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    SEMPER_ASSIGN_OR_RETURN(Lease lease, Acquire());
    try {
      pqxx::nontransaction tx(*lease);
      return body(tx);
    } catch (const pqxx::broken_connection& e) {
      lease.MarkBroken();
      last = StatusFromException(e, "reading");
    } catch (const std::exception& e) {
      return StatusFromException(e, "reading");
    }
  }
  return last;
}

absl::Status ConnectionPool::Ping() {
  SEMPER_ASSIGN_OR_RETURN(Lease lease, Acquire());
  try {
    pqxx::nontransaction tx(*lease);
    tx.exec1("SELECT 1");
    return absl::OkStatus();
  } catch (const std::exception& e) {
    lease.MarkBroken();
    return StatusFromException(e, "pinging the database");
  }
}

}  // namespace semper::db
