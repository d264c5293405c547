// initdb/pg_ctl driven test cluster.
#include "tests/support/postgres.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_split.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/random.h"

namespace semper::testing {
namespace {

std::string FindBindir() {
  if (const char* env = std::getenv("SEMPER_PG_BINDIR")) return env;
  std::string best;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    std::string bin = entry.path().string() + "/bin";
    if (std::filesystem::exists(bin + "/initdb") && bin > best) best = bin;
  }
  return best;
}

absl::Status Failed(const std::string& what, const CommandResult& r) {
  return absl::UnavailableError(StrCat("test PostgreSQL: ", what, " failed: ", r.Describe()));
}

}  // namespace

std::vector<std::string> TestPostgres::AsPostgres(std::vector<std::string> argv) const {
  if (geteuid() != 0) return argv;
  std::vector<std::string> out = {"runuser", "-u", "postgres", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

absl::StatusOr<std::unique_ptr<TestPostgres>> TestPostgres::Start() {
  std::unique_ptr<TestPostgres> pg(new TestPostgres());
  if (const char* ha = std::getenv("SEMPER_TEST_HA"); ha != nullptr && std::string(ha) == "1") {
    auto cluster = HaCluster::Start();
    if (!cluster.ok()) return cluster.status();
    pg->ha_ = *std::move(cluster);
    return pg;
  }
  pg->bindir_ = FindBindir();
  if (pg->bindir_.empty()) {
    return absl::UnavailableError(
        "test PostgreSQL: no initdb under /usr/lib/postgresql/*/bin (install postgresql-15, "
        "or set SEMPER_PG_BINDIR)");
  }
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/semper-pg-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return absl::UnavailableError("test PostgreSQL: mkdtemp failed");
  pg->dir_ = tmpl;
  if (geteuid() == 0) {
    passwd* pw = getpwnam("postgres");
    if (pw == nullptr) return absl::UnavailableError("test PostgreSQL: running as root but there is no postgres user");
    if (chown(pg->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::UnavailableError("test PostgreSQL: chown of the data directory failed");
    }
  }
  auto r = RunCommand(pg->AsPostgres({pg->bindir_ + "/initdb", "-D", pg->dir_ + "/data", "-U", "postgres",
                                      "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"}));
  if (r.exit_code != 0) return Failed("initdb", r);
  for (int attempt = 0; attempt < 3; ++attempt) {
    pg->port_ = FreePort();
    absl::Status started = pg->StartAgain();
    if (started.ok()) return pg;
    if (attempt == 2) return started;
  }
  return absl::UnavailableError("unreachable");
}

absl::Status TestPostgres::StartAgain() {
  if (ha_ != nullptr) return absl::UnimplementedError("test PostgreSQL: SEMPER_TEST_HA=1 cannot be restarted");
  std::string opts = StrCat("-c listen_addresses=127.0.0.1 -p ", port_, " -c unix_socket_directories=", dir_,
                            " -c fsync=on -c max_connections=300 -c shared_buffers=64MB");
  // More settings for benchmarks, e.g. a slower commit: SEMPER_TEST_PG_SETTINGS="commit_delay=2000
  // commit_siblings=0" (every commit waits 2 ms before its WAL flush, as with a synchronous standby
  // a network round trip away).
  if (const char* more = std::getenv("SEMPER_TEST_PG_SETTINGS"); more != nullptr) {
    for (absl::string_view setting : absl::StrSplit(more, ' ', absl::SkipEmpty())) StrAppend(&opts, " -c ", setting);
  }
  auto r = RunCommand(AsPostgres(
      {bindir_ + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w", "-t", "60", "-o", opts, "start"}));
  if (r.exit_code != 0) {
    auto log = RunCommand({"tail", "-n", "20", dir_ + "/server.log"});
    return absl::UnavailableError(StrCat("test PostgreSQL: pg_ctl start failed: ", r.Describe(), log.out));
  }
  running_ = true;
  return absl::OkStatus();
}

absl::Status TestPostgres::Stop() {
  if (ha_ != nullptr) return absl::UnimplementedError("test PostgreSQL: SEMPER_TEST_HA=1 cannot be stopped");
  if (!running_) return absl::OkStatus();
  auto r = RunCommand(AsPostgres({bindir_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "fast", "-w", "stop"}));
  if (r.exit_code != 0) return Failed("pg_ctl stop", r);
  running_ = false;
  return absl::OkStatus();
}

absl::Status TestPostgres::Restart() {
  SEMPER_RETURN_IF_ERROR(Stop());
  return StartAgain();
}

TestPostgres::~TestPostgres() {
  if (running_) {
    RunCommand(AsPostgres({bindir_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"}));
  }
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

std::string TestPostgres::ConnInfo(const std::string& database) const {
  if (ha_ != nullptr) return ha_->SuperuserConnInfo(database);
  return StrCat("host=127.0.0.1 port=", port_, " user=postgres dbname=", database, " connect_timeout=5");
}

absl::StatusOr<std::string> TestPostgres::Query(const std::string& database, const std::string& sql) const {
  auto r = RunCommand({"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", ConnInfo(database), "-c", sql});
  if (r.exit_code != 0) return Failed("psql", r);
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

absl::StatusOr<std::string> TestPostgres::Dump(const std::string& database) const {
  auto r =
      RunCommand({(bindir_.empty() ? FindBindir() : bindir_) + "/pg_dump", "--no-owner", "-d", ConnInfo(database)});
  if (r.exit_code != 0) return Failed("pg_dump", r);
  return r.out;
}

absl::StatusOr<std::string> TestPostgres::CreateDatabase() {
  std::string name = "t_" + RandomId().substr(0, 16);
  SEMPER_RETURN_IF_ERROR(Query("postgres", "CREATE DATABASE " + name).status());
  return name;
}

std::string RowCost(const TestPostgres& pg, const std::string& database, const std::string& table) {
  auto r = pg.Query(database,
                    StrCat("SELECT count(*) || ' rows, ' || (pg_total_relation_size('", table,
                           "') / greatest(count(*), 1)) || ' bytes per row (with indexes and TOAST)' FROM ", table));
  return StrCat(table, ": ", r.ok() ? *r : std::string(r.status().message()));
}

TestPostgres* SharedPostgres() {
  static TestPostgres* instance = []() -> TestPostgres* {
    auto pg = TestPostgres::Start();
    if (!pg.ok()) {
      std::cerr << pg.status().message() << std::endl;
      return nullptr;
    }
    // Stopped when the test binary exits.
    static std::unique_ptr<TestPostgres> owner = std::move(*pg);
    return owner.get();
  }();
  return instance;
}

void PostgresTest::SetUp() {
  ASSERT_NE(SharedPostgres(), nullptr) << "the test PostgreSQL cluster could not start (see above)";
  auto db = SharedPostgres()->CreateDatabase();
  ASSERT_TRUE(db.ok()) << db.status().message();
  database_ = *db;
  conninfo_ = SharedPostgres()->ConnInfo(database_);
}

}  // namespace semper::testing
