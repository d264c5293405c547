// Migration loading and the locked, transactional runner.
#include "common/db/migrations.h"

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/db/errors.h"

namespace semper::db {
namespace {

// First key of the two-int advisory lock: "SEMP". The second is hashtext(schema).
constexpr int kLockNamespace = 0x53454d50;

}  // namespace

absl::Status ValidateSchemaName(std::string_view schema) {
  static const std::regex kName("[a-z][a-z0-9_]{0,62}");
  if (!std::regex_match(std::string(schema), kName)) {
    return InvalidField("schema", "must be lower-case letters, digits and '_', starting with a letter");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Migration>> LoadMigrations(const std::filesystem::path& dir) {
  static const std::regex kFile("([0-9]{6,20})_([a-z0-9_]+)\\.sql");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND,
                     StrCat("migration directory ", dir.string(), " does not exist"));
  }
  std::vector<Migration> out;
  std::map<std::string, std::string> seen;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string file = entry.path().filename().string();
    if (entry.path().extension() != ".sql") continue;
    std::smatch m;
    if (!std::regex_match(file, m, kFile)) {
      return InvalidField("migrations", StrCat(file, " is not named <digits>_<name>.sql"));
    }
    if (seen.count(m[1])) {
      return InvalidField("migrations", StrCat(file, " repeats version ", m[1].str(), " of ", seen[m[1]]));
    }
    seen[m[1]] = file;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream sql;
    sql << in.rdbuf();
    out.push_back(Migration{m[1], m[2], std::move(sql).str()});
  }
  return out;
}

absl::StatusOr<MigrationResult> ApplyMigrations(ConnectionPool& pool, std::string_view schema,
                                                std::vector<Migration> migrations) {
  SEMPER_RETURN_IF_ERROR(ValidateSchemaName(schema));
  std::sort(migrations.begin(), migrations.end(), [](const Migration& a, const Migration& b) {
    return a.version.size() != b.version.size() ? a.version.size() < b.version.size() : a.version < b.version;
  });
  for (size_t i = 1; i < migrations.size(); ++i) {
    if (migrations[i].version == migrations[i - 1].version) {
      return InvalidField("migrations", StrCat("version ", migrations[i].version, " appears twice"));
    }
  }
  MigrationResult result;
  const std::string s(schema);  // validated above: safe as an identifier
  absl::Status status = pool.Transact([&](pqxx::work& tx) -> absl::Status {
    result = MigrationResult{};
    tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2))", kLockNamespace, s);
    tx.exec0("CREATE SCHEMA IF NOT EXISTS " + tx.quote_name(s));
    tx.exec0("CREATE TABLE IF NOT EXISTS " + tx.quote_name(s) + R"(.schema_migrations (
                version    text PRIMARY KEY,
                name       text NOT NULL,
                sha256     text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()))");
    std::map<std::string, std::string> applied;
    for (const auto& row : tx.exec("SELECT version, sha256 FROM " + tx.quote_name(s) + ".schema_migrations")) {
      applied[row[0].as<std::string>()] = row[1].as<std::string>();
    }
    tx.exec0("SET LOCAL search_path TO " + tx.quote_name(s));
    for (const Migration& m : migrations) {
      std::string digest = HexEncode(Sha256(m.sql));
      auto it = applied.find(m.version);
      if (it != applied.end()) {
        if (it->second != digest) {
          return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                           StrCat("migration ", m.version, "_", m.name, " of schema ", s,
                                  " was changed after it was applied; add a new migration instead"));
        }
        continue;
      }
      try {
        tx.exec0(m.sql);
      } catch (const pqxx::sql_error& e) {
        return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                         StrCat("migration ", m.version, "_", m.name, " of schema ", s, " failed: ", e.what()));
      }
      tx.exec_params(
          "INSERT INTO " + tx.quote_name(s) + ".schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
          m.version, m.name, digest);
      result.applied.push_back(m.version);
    }
    if (!migrations.empty()) result.current = migrations.back().version;
    for (const auto& [v, d] : applied) {
      if (result.current.empty() || v.size() > result.current.size() ||
          (v.size() == result.current.size() && v > result.current)) {
        result.current = v;
      }
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<MigrationResult> ApplyMigrationsWhenReachable(ConnectionPool& pool, std::string_view schema,
                                                             const std::vector<Migration>& migrations,
                                                             const std::shared_ptr<spdlog::logger>& logger) {
  for (absl::Duration backoff = absl::Seconds(1);;) {
    auto applied = ApplyMigrations(pool, schema, migrations);
    if (applied.ok() || applied.status().code() != absl::StatusCode::kUnavailable) return applied;
    LogEvent(logger, spdlog::level::warn, "waiting_for_database")
        .With("error", std::string(applied.status().message()));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    timespec ts = absl::ToTimespec(backoff);
    if (sigtimedwait(&set, nullptr, &ts) >= 0) {
      return MakeError(absl::StatusCode::kCancelled, v1::DEPENDENCY_UNAVAILABLE,
                       "stopped while waiting for the database");
    }
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
}

}  // namespace semper::db
