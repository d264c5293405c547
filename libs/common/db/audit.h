// The audit trail: an append-only, hash-chained table `<schema>.audit` in each daemon's schema.
// Every security-relevant action (registration, issuance, revocation, the reveal of a pseudonym,
// a guarantee, a verdict, the configuration at each start) is appended in the same transaction
// as the action itself, so that neither commits without the other. Row n's hash is SHA-256 over
// row n-1's hash and row n's fields; a changed row breaks its own hash, a removed row breaks the
// link of the next, and removing the newest rows shows against a head kept earlier.
// `semperctl audit verify` recomputes the chains. A trigger refuses UPDATE, DELETE and TRUNCATE
// (a superuser can disable it; the chain still shows what was done).
#pragma once

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"

namespace semper::db {

struct AuditEvent {
  std::string actor;    // who: a certificate subject, "daemon", "enrolment code", ...
  std::string action;   // what: "register", "issue", "revoke", "reveal", "guarantee", "verdict", "start"
  std::string subject;  // on what: a subscriber id, a serial, a guarantee id, a case id
  std::string details;  // JSON or text; never a secret
};

struct AuditRow {
  int64_t seq = 0;
  int64_t at_us = 0;  // Unix microseconds
  std::string daemon;
  AuditEvent event;
  std::string prev_hash;  // 32 bytes; zeros for the first row
  std::string hash;
};

// The migration that creates the table, and a daemon's migrations with it added (as
// OpenDatabase applies them).
Migration AuditMigration();
std::vector<Migration> WithAuditMigration(std::vector<Migration> migrations);

// The prepared statements AppendAudit uses, for the pool of the daemon that owns `schema`.
std::vector<PreparedStatement> AuditStatements(std::string_view schema);

// Appends `events` after every row committed before, in the caller's transaction (on a pool with
// AuditStatements(schema)): an advisory lock per schema, held to the end of the transaction,
// orders appenders of all replicas.
absl::Status AppendAudit(pqxx::work& tx, std::string_view schema, std::string_view daemon,
                         const std::vector<AuditEvent>& events);

// The hash row `row` must carry given the previous row's hash.
std::string AuditRowHash(const std::string& prev_hash, const AuditRow& row);

// The rows of `schema`'s trail in seq order.
absl::StatusOr<std::vector<AuditRow>> ReadAudit(pqxx::transaction_base& tx, std::string_view schema);

struct AuditCheck {
  int64_t rows = 0;
  int64_t head_seq = 0;
  std::string head_hash;
  std::vector<std::string> problems;  // empty: the chain holds
};
// Checks a trail read in seq order: every hash, every link, no gap, and (when given) that the
// head kept earlier (`expect_seq`, `expect_hash`) is still in it unchanged.
AuditCheck VerifyAudit(const std::vector<AuditRow>& rows, int64_t expect_seq = 0, const std::string& expect_hash = "");

}  // namespace semper::db
