// A private PostgreSQL cluster for a test run: initdb into a temporary directory, a free port on
// 127.0.0.1, fsync on (more settings from SEMPER_TEST_PG_SETTINGS, for benchmarks); stopped and
// removed at the end. Tests that need it fail (never skip) when it cannot start. As root, the
// cluster runs as the "postgres" user, which PostgreSQL requires.
//
// SEMPER_TEST_HA=1 (for benchmarks: tests/bench/compare.sh with AFTER_ENV=SEMPER_TEST_HA=1) starts
// the production topology instead (deploy/ha.sh: three Patroni nodes, strict synchronous
// replication); ConnInfo then names every node and keeps the leader. Stop/Restart are not
// available there.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tests/support/ha_cluster.h"
#include "tests/support/subprocess.h"

namespace semper::testing {

class TestPostgres {
 public:
  static absl::StatusOr<std::unique_ptr<TestPostgres>> Start();
  ~TestPostgres();

  int port() const { return port_; }
  // libpq connection string for a database of this cluster.
  std::string ConnInfo(const std::string& database = "postgres") const;
  // A new empty database with a unique name; returns the name.
  absl::StatusOr<std::string> CreateDatabase();
  // Stops the server (fast shutdown) and starts it again on the same port.
  absl::Status Restart();
  absl::Status Stop();
  absl::Status StartAgain();
  // psql -c, for assertions that read the database directly.
  absl::StatusOr<std::string> Query(const std::string& database, const std::string& sql) const;
  // pg_dump of a whole database as SQL text (what a backup, or an operator, holds).
  absl::StatusOr<std::string> Dump(const std::string& database) const;

 private:
  TestPostgres() = default;
  std::vector<std::string> AsPostgres(std::vector<std::string> argv) const;
  std::string bindir_;
  std::string dir_;
  int port_ = 0;
  bool running_ = false;
  std::unique_ptr<HaCluster> ha_;
};

// What `table` costs the database (docs/scaling.md): "N rows, B bytes per row" with its indexes and
// TOAST (pg_total_relation_size), for benchmarks to print after a run.
std::string RowCost(const TestPostgres& pg, const std::string& database, const std::string& table);

// The cluster shared by every test of this binary, started on first use; null (with the
// reason on stderr) if it cannot start.
TestPostgres* SharedPostgres();

// Fixture: each test gets a fresh database in the shared cluster (conninfo()).
class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override;
  const std::string& conninfo() const { return conninfo_; }
  const std::string& database() const { return database_; }
  TestPostgres& postgres() { return *SharedPostgres(); }

 private:
  std::string conninfo_;
  std::string database_;
};

}  // namespace semper::testing
