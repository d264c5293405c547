// Versioned schema migrations per daemon schema, applied at start. Each daemon owns one schema
// and its migrations are SQL files named "<version>_<name>.sql", version being a dated number
// (e.g. 2026112301_init.sql), applied in version order.
//
// Apply() runs in one transaction under an advisory lock keyed by the schema, so that several
// replicas starting at once apply each migration exactly once and never see a half-migrated
// schema. An applied migration whose text changed is an error (migrations are append-only).
#pragma once

#include <spdlog/logger.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/db/pool.h"

namespace semper::db {

struct Migration {
  std::string version;  // digits only
  std::string name;
  std::string sql;
};

// Reads every *.sql file of a directory; fails on a badly named file or a repeated version.
absl::StatusOr<std::vector<Migration>> LoadMigrations(const std::filesystem::path& dir);

// Validates a schema name: lower-case letters, digits and '_', starting with a letter.
absl::Status ValidateSchemaName(std::string_view schema);

struct MigrationResult {
  std::vector<std::string> applied;  // versions applied by this call
  std::string current;               // newest version now in the schema
};

// Creates `schema` if needed and applies the missing migrations with search_path set to it.
absl::StatusOr<MigrationResult> ApplyMigrations(ConnectionPool& pool, std::string_view schema,
                                                std::vector<Migration> migrations);

// ApplyMigrations, waiting (with backoff up to 10 s, logging each wait) while the database is
// unreachable, as a daemon must when it starts before its database (compose, reboot). CANCELLED
// if SIGTERM or SIGINT arrives meanwhile (they must be blocked, see Server::BlockTerminationSignals).
absl::StatusOr<MigrationResult> ApplyMigrationsWhenReachable(ConnectionPool& pool, std::string_view schema,
                                                             const std::vector<Migration>& migrations,
                                                             const std::shared_ptr<spdlog::logger>& logger);

}  // namespace semper::db
