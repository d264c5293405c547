// The connection pool and the migration runner against a real PostgreSQL started by the harness.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/db/errors.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"

namespace semper::db {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::PostgresTest;
using ::semper::testing::StatusIs;
using ::semper::testing::TempDir;

std::unique_ptr<ConnectionPool> MakePool(const std::string& conninfo, int size = 4,
                                         std::vector<PreparedStatement> statements = {}) {
  PoolOptions o;
  o.conninfo = conninfo;
  o.size = size;
  o.acquire_timeout = absl::Milliseconds(300);
  o.statements = std::move(statements);
  auto pool = ConnectionPool::New(o);
  EXPECT_THAT(pool, IsOk());
  return pool.ok() ? std::move(*pool) : nullptr;
}

class ConnectionPoolTest : public PostgresTest {
 protected:
  // A pool of `size` connections to a database with table t (n int PRIMARY KEY).
  std::unique_ptr<ConnectionPool> PoolWithTable(int size) {
    auto pool = MakePool(conninfo(), size);
    EXPECT_THAT(pool->Transact([](pqxx::work& tx) {
      tx.exec0("CREATE TABLE t (n int PRIMARY KEY)");
      return absl::OkStatus();
    }),
                IsOk());
    return pool;
  }
  // Ends every session on this database, as a PostgreSQL restart or failover would.
  void KillConnections() {
    ASSERT_THAT(postgres().Query("postgres",
                                 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                 "WHERE datname = '" +
                                     database() + "'"),
                IsOk());
  }
  std::string Rows() { return *postgres().Query(database(), "SELECT count(*) FROM t"); }
};

TEST_F(ConnectionPoolTest, CommitIsVisibleAndErrorsRollBack) {
  auto pool = MakePool(conninfo(), 2, {{"insert_item", "INSERT INTO items (name) VALUES ($1)"}});
  ASSERT_THAT(pool->Transact([](pqxx::work& tx) {
    tx.exec0("CREATE TABLE items (name text PRIMARY KEY)");
    return absl::OkStatus();
  }),
              IsOk());
  ASSERT_THAT(pool->Transact([](pqxx::work& tx) {
    tx.exec_prepared0("insert_item", "a");
    return absl::OkStatus();
  }),
              IsOk());
  // A body that fails after writing leaves nothing behind.
  EXPECT_THAT(pool->Transact([](pqxx::work& tx) {
    tx.exec_prepared0("insert_item", "b");
    return absl::FailedPreconditionError("changed my mind");
  }),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // A unique violation maps to ALREADY_EXISTS and also leaves nothing behind.
  EXPECT_THAT(pool->Transact([](pqxx::work& tx) {
    tx.exec_prepared0("insert_item", "c");
    tx.exec_prepared0("insert_item", "a");
    return absl::OkStatus();
  }),
              StatusIs(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS));
  auto names = postgres().Query(database(), "SELECT string_agg(name, ',' ORDER BY name) FROM items");
  ASSERT_THAT(names, IsOk());
  EXPECT_EQ(*names, "a");
}

TEST_F(ConnectionPoolTest, ExhaustedPoolSaysUnavailable) {
  auto pool = MakePool(conninfo(), 1);
  auto lease = pool->Acquire();
  ASSERT_THAT(lease, IsOk());
  EXPECT_THAT(pool->Acquire(), StatusIs(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE));
}

TEST_F(ConnectionPoolTest, UnreachableDatabaseSaysUnavailable) {
  auto pool = MakePool("host=127.0.0.1 port=1 user=postgres dbname=x connect_timeout=2", 1);
  EXPECT_THAT(pool->Ping(), StatusIs(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE));
  EXPECT_THAT(pool->Transact([](pqxx::work&) { return absl::OkStatus(); }), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(ConnectionPool::New(PoolOptions{}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ConnectionPoolTest, EveryThreadGetsItsOwnConnection) {
  auto pool = MakePool(conninfo(), 4);
  std::atomic<int> overlaps{0};
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<pqxx::connection*> in_use;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto lease = pool->Acquire();
        if (!lease.ok()) continue;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!in_use.insert(&**lease).second) ++overlaps;
        }
        pqxx::nontransaction tx(**lease);
        tx.exec1("SELECT pg_sleep(0.001)");
        std::lock_guard<std::mutex> lock(mu);
        in_use.erase(&**lease);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(overlaps.load(), 0);
}

TEST_F(ConnectionPoolTest, SerializationFailuresAreRetried) {
  auto pool = MakePool(conninfo(), 8);
  ASSERT_THAT(pool->Transact([](pqxx::work& tx) {
    tx.exec0("CREATE TABLE counter (n int NOT NULL)");
    tx.exec0("INSERT INTO counter VALUES (0)");
    return absl::OkStatus();
  }),
              IsOk());
  // Read-modify-write under SERIALIZABLE: concurrent runs conflict, and retries make every
  // increment land exactly once.
  std::atomic<int> ok{0}, conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        absl::Status s = pool->Transact(
            [](pqxx::work& tx) {
              int n = tx.exec1("SELECT n FROM counter")[0].as<int>();
              tx.exec_params0("UPDATE counter SET n = $1", n + 1);
              return absl::OkStatus();
            },
            {.isolation = Isolation::kSerializable, .max_attempts = 50});
        if (s.ok())
          ++ok;
        else if (s.code() == absl::StatusCode::kAborted)
          ++conflicts;
      }
    });
  }
  for (auto& t : threads) t.join();
  int final_n = -1;
  ASSERT_THAT(pool->Transact([&](pqxx::work& tx) {
    final_n = tx.exec1("SELECT n FROM counter")[0].as<int>();
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_EQ(final_n, ok.load());
  EXPECT_EQ(ok.load() + conflicts.load(), 80);
  EXPECT_GT(ok.load(), 70);
}

TEST_F(ConnectionPoolTest, ConflictsAreAbortedOrRetried) {
  auto pool = MakePool(conninfo(), 2);
  ASSERT_THAT(pool->Transact([](pqxx::work& tx) {
    tx.exec0("CREATE TABLE c (n int)");
    tx.exec0("INSERT INTO c VALUES (0)");
    return absl::OkStatus();
  }),
              IsOk());
  int runs = 0;
  // The body reads, another client commits a change to the same row, the body writes: under
  // SERIALIZABLE that is a serialization failure.
  auto body = [&](pqxx::work& tx) {
    tx.exec1("SELECT n FROM c");
    if (++runs == 1) {
      pqxx::connection other(conninfo());
      pqxx::work w(other);
      w.exec0("UPDATE c SET n = n + 100");
      w.commit();
    }
    tx.exec0("UPDATE c SET n = n + 1");
    return absl::OkStatus();
  };
  EXPECT_THAT(pool->Transact(body, {.isolation = Isolation::kSerializable, .max_attempts = 1}),
              StatusIs(absl::StatusCode::kAborted, v1::CONFLICT));
  EXPECT_EQ(*postgres().Query(database(), "SELECT n FROM c"), "100");
  runs = 0;
  EXPECT_THAT(pool->Transact(body, {.isolation = Isolation::kSerializable, .max_attempts = 3}), IsOk());
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(*postgres().Query(database(), "SELECT n FROM c"), "201");
}

TEST_F(ConnectionPoolTest, ReconnectsAfterTheServerDropsConnections) {
  auto pool = MakePool(conninfo(), 2);
  ASSERT_THAT(pool->Ping(), IsOk());
  KillConnections();
  // The first use of a dead connection may fail; the pool replaces it by itself.
  for (int i = 0; i < 3; ++i) pool->Ping().IgnoreError();
  EXPECT_THAT(pool->Ping(), IsOk());
  EXPECT_THAT(pool->Transact([](pqxx::work& tx) {
    tx.exec1("SELECT 1");
    return absl::OkStatus();
  }),
              IsOk());
}

TEST_F(ConnectionPoolTest, TransactRetriesOnConnectionLostBeforeCommit) {
  auto pool = MakePool(conninfo(), 1);
  ASSERT_THAT(pool->Transact([](pqxx::work& tx) {
    tx.exec0("CREATE TABLE t (n int)");
    return absl::OkStatus();
  }),
              IsOk());
  std::string db = database();
  int runs = 0;
  absl::Status s = pool->Transact([&](pqxx::work& tx) {
    if (++runs == 1) {
      // Our own backend dies mid-transaction: nothing was committed, so running again is safe.
      tx.exec0("SELECT pg_terminate_backend(pg_backend_pid())");
    }
    tx.exec0("INSERT INTO t VALUES (1)");
    return absl::OkStatus();
  });
  EXPECT_THAT(s, IsOk());
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(Rows(), "1");
}

TEST_F(ConnectionPoolTest, OneStatementWritesCommitAloneAndAllOrNothing) {
  auto pool = PoolWithTable(1);
  ASSERT_THAT(pool->WriteOneStatement([](pqxx::nontransaction& tx) {
    tx.exec0("INSERT INTO t SELECT unnest(ARRAY[1, 2])");
    return absl::OkStatus();
  }),
              IsOk());
  // Committed when it returned: another connection sees it.
  EXPECT_EQ(*postgres().Query(database(), "SELECT string_agg(n::text, ',' ORDER BY n) FROM t"), "1,2");
  // One row of several violates the key: none is written, and the error says why.
  EXPECT_THAT(pool->WriteOneStatement([](pqxx::nontransaction& tx) {
    tx.exec0("INSERT INTO t SELECT unnest(ARRAY[3, 2])");
    return absl::OkStatus();
  }),
              StatusIs(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS));
  EXPECT_EQ(Rows(), "2");
}

TEST_F(ConnectionPoolTest, OneStatementWriteRunsAgainOnANewConnectionWhenTheOldOneDied) {
  auto pool = PoolWithTable(1);
  // The pooled connection dies while idle (a restart, a failover): the write goes through anyway.
  KillConnections();
  EXPECT_THAT(pool->WriteOneStatement([](pqxx::nontransaction& tx) {
    tx.exec0("INSERT INTO t VALUES (1)");
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_EQ(Rows(), "1");
}

TEST_F(ConnectionPoolTest, OneStatementWriteLostAfterItCommittedIsReportedUnknownNeverDoneTwice) {
  auto pool = PoolWithTable(1);
  int runs = 0;
  absl::Status s = pool->WriteOneStatement([&](pqxx::nontransaction& tx) {
    ++runs;
    tx.exec0("INSERT INTO t VALUES (1)");
    // The write committed, then the connection is lost before its answer is read.
    if (runs == 1) tx.exec0("SELECT pg_terminate_backend(pg_backend_pid())");
    return absl::OkStatus();
  });
  // Run again on a new connection, where the key refuses it: the outcome is unknown to the
  // caller (it must not acknowledge), and the row is there once.
  EXPECT_EQ(runs, 2);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE));
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("outcome is unknown"));
  EXPECT_EQ(Rows(), "1");
}

TEST_F(ConnectionPoolTest, AfterOneDeadConnectionTheOtherIdleOnesAreReplacedNotTried) {
  auto pool = PoolWithTable(4);
  {
    // Four open connections, all idle afterwards.
    std::vector<ConnectionPool::Lease> leases;
    for (int i = 0; i < 4; ++i) {
      auto lease = pool->Acquire();
      ASSERT_THAT(lease, IsOk());
      leases.push_back(*std::move(lease));
    }
  }
  // A restart or failover: every one of them is dead.
  KillConnections();
  // The first write meets a dead one, and its second run a new connection, not another dead one.
  for (int n = 1; n <= 3; ++n) {
    EXPECT_THAT(pool->WriteOneStatement([n](pqxx::nontransaction& tx) {
      tx.exec0("INSERT INTO t VALUES (" + std::to_string(n) + ")");
      return absl::OkStatus();
    }),
                IsOk())
        << "write " << n;
  }
  EXPECT_EQ(Rows(), "3");
}

TEST_F(ConnectionPoolTest, WhileNewConnectionsAreRefusedTheOpenOnesKeepServing) {
  auto pool = PoolWithTable(2);
  // A password change, pg_hba, "too many clients", a connect timeout: new connections fail while
  // the open one still works. The failures must not throw the working connection away.
  ASSERT_THAT(postgres().Query("postgres", "ALTER DATABASE \"" + database() + "\" ALLOW_CONNECTIONS false"), IsOk());
  for (int i = 0; i < 3; ++i) {
    auto held = pool->Acquire();  // the open connection
    ASSERT_THAT(held, IsOk());
    EXPECT_FALSE(pool->Acquire().ok());  // a second one cannot be opened
  }
  EXPECT_THAT(pool->WriteOneStatement([](pqxx::nontransaction& tx) {
    tx.exec0("INSERT INTO t VALUES (1)");
    return absl::OkStatus();
  }),
              IsOk());
  ASSERT_THAT(postgres().Query("postgres", "ALTER DATABASE \"" + database() + "\" ALLOW_CONNECTIONS true"), IsOk());
  EXPECT_EQ(Rows(), "1");
}

TEST_F(ConnectionPoolTest, OneStatementWriteWhoseSecondRunFindsNoDatabaseIsUnknownNotUnreachable) {
  auto pool = PoolWithTable(1);
  std::string db = database();
  absl::Status s = pool->WriteOneStatement([&](pqxx::nontransaction& tx) {
    tx.exec0("INSERT INTO t VALUES (1)");
    // Committed; then the database refuses connections and this one is lost.
    EXPECT_THAT(postgres().Query("postgres", "ALTER DATABASE \"" + db + "\" ALLOW_CONNECTIONS false"), IsOk());
    tx.exec0("SELECT pg_terminate_backend(pg_backend_pid())");
    return absl::OkStatus();
  });
  // "Unreachable" would read as "not done"; the row is there.
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE));
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("outcome is unknown"));
  ASSERT_THAT(postgres().Query("postgres", "ALTER DATABASE \"" + db + "\" ALLOW_CONNECTIONS true"), IsOk());
  EXPECT_EQ(Rows(), "1");
}

TEST(TestPostgresHarnessTest, FailsLoudlyWhenPostgresCannotStart) {
  setenv("SEMPER_PG_BINDIR", "/nonexistent/bin", 1);
  auto pg = ::semper::testing::TestPostgres::Start();
  unsetenv("SEMPER_PG_BINDIR");
  EXPECT_THAT(pg, StatusIs(absl::StatusCode::kUnavailable));
}

class MigrationsTest : public PostgresTest {
 protected:
  std::vector<Migration> Base() {
    return {{"2026112301", "init", "CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL);"},
            {"2026112302", "index", "CREATE INDEX accounts_name ON accounts (name);"}};
  }
  std::string db() const { return database(); }
};

TEST_F(MigrationsTest, AppliesOnceInOrder) {
  auto pool = MakePool(conninfo());
  auto migrations = Base();
  std::reverse(migrations.begin(), migrations.end());
  auto r = ApplyMigrations(*pool, "ca", migrations);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->applied, (std::vector<std::string>{"2026112301", "2026112302"}));
  EXPECT_EQ(r->current, "2026112302");
  auto again = ApplyMigrations(*pool, "ca", Base());
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(*postgres().Query(db(), "SELECT count(*) FROM ca.schema_migrations"), "2");
  EXPECT_EQ(*postgres().Query(db(), "SELECT count(*) FROM ca.accounts"), "0");
  // Another schema is independent.
  ASSERT_THAT(ApplyMigrations(*pool, "notary", Base()), IsOk());
  EXPECT_EQ(*postgres().Query(db(), "SELECT count(*) FROM notary.schema_migrations"), "2");
}

TEST_F(MigrationsTest, ChangedMigrationIsRefused) {
  auto pool = MakePool(conninfo());
  ASSERT_THAT(ApplyMigrations(*pool, "ca", Base()), IsOk());
  auto edited = Base();
  edited[0].sql += " -- edited";
  auto r = ApplyMigrations(*pool, "ca", edited);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("2026112301_init"));
}

TEST_F(MigrationsTest, FailingMigrationAppliesNothing) {
  auto pool = MakePool(conninfo());
  auto migrations = Base();
  migrations.push_back({"2026112303", "broken", "ALTER TABLE nowhere ADD COLUMN x int;"});
  auto r = ApplyMigrations(*pool, "ca", migrations);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("2026112303_broken"));
  // Not even the good ones before it: the whole run is one transaction.
  EXPECT_EQ(*postgres().Query(db(), "SELECT count(*) FROM pg_namespace WHERE nspname = 'ca'"), "0");
}

TEST_F(MigrationsTest, ConcurrentRunnersApplyEachMigrationOnce) {
  std::vector<Migration> migrations = Base();
  // A slow migration widens the window in which the runners overlap.
  migrations.push_back({"2026112303", "slow", "SELECT pg_sleep(0.3); CREATE TABLE audit (id bigint);"});
  constexpr int kRunners = 4;
  std::vector<std::unique_ptr<ConnectionPool>> pools;
  for (int i = 0; i < kRunners; ++i) pools.push_back(MakePool(conninfo(), 1));
  std::vector<absl::StatusOr<MigrationResult>> results(kRunners, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kRunners; ++i) {
    threads.emplace_back([&, i] { results[i] = ApplyMigrations(*pools[i], "liability", migrations); });
  }
  for (auto& t : threads) t.join();
  size_t total_applied = 0;
  for (auto& r : results) {
    ASSERT_THAT(r, IsOk());
    total_applied += r->applied.size();
    EXPECT_EQ(r->current, "2026112303");
  }
  EXPECT_EQ(total_applied, migrations.size());
  EXPECT_EQ(*postgres().Query(db(), "SELECT count(*) FROM liability.schema_migrations"), "3");
}

TEST_F(MigrationsTest, LoadFromDirectory) {
  TempDir dir;
  dir.Write("2026112302_second.sql", "CREATE TABLE b (x int);");
  dir.Write("2026112301_first.sql", "CREATE TABLE a (x int);");
  dir.Write("README", "not a migration");
  auto loaded = LoadMigrations(dir.path());
  ASSERT_THAT(loaded, IsOk());
  ASSERT_EQ(loaded->size(), 2u);
  auto pool = MakePool(conninfo());
  auto r = ApplyMigrations(*pool, "tsa", *loaded);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->applied, (std::vector<std::string>{"2026112301", "2026112302"}));

  dir.Write("bad-name.sql", "x");
  EXPECT_THAT(LoadMigrations(dir.path()), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(LoadMigrations(dir.path() + "/missing"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(ApplyMigrations(*pool, "Robert'); DROP TABLE x;--", {}), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace semper::db
