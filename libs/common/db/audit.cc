// The hash-chained audit trail.
#include "common/db/audit.h"

#include "absl/time/clock.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/db/errors.h"
#include "common/db/values.h"

namespace semper::db {
namespace {

constexpr int64_t kAuditLockNamespace = 0x5e3a0d17;

void PutU64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutField(std::string* out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out->append(s);
}

}  // namespace

Migration AuditMigration() {
  return Migration{"2026112700", "audit", R"(
CREATE TABLE audit (
  seq bigint PRIMARY KEY,
  at_us bigint NOT NULL,
  daemon text NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  subject text NOT NULL,
  details text NOT NULL,
  prev_hash bytea NOT NULL,
  hash bytea NOT NULL
);
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only';
END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
)"};
}

std::vector<Migration> WithAuditMigration(std::vector<Migration> migrations) {
  migrations.push_back(AuditMigration());
  return migrations;
}

std::string AuditRowHash(const std::string& prev_hash, const AuditRow& row) {
  std::string in = "semper-audit-v1";
  PutField(&in, prev_hash);
  PutU64(&in, static_cast<uint64_t>(row.seq));
  PutU64(&in, static_cast<uint64_t>(row.at_us));
  PutField(&in, row.daemon);
  PutField(&in, row.event.actor);
  PutField(&in, row.event.action);
  PutField(&in, row.event.subject);
  PutField(&in, row.event.details);
  return Sha256(in);
}

std::vector<PreparedStatement> AuditStatements(std::string_view schema) {
  // The schema is the daemon's own constant name (ValidateSchemaName), never outside input.
  const std::string table = StrCat("\"", schema, "\".audit");
  return {
      {"audit_lock", StrCat("SELECT pg_advisory_xact_lock(", kAuditLockNamespace, ", hashtext($1))")},
      {"audit_head", StrCat("SELECT seq, hash FROM ", table, " ORDER BY seq DESC LIMIT 1")},
      {"audit_insert",
       StrCat("INSERT INTO ", table,
              " (seq, at_us, daemon, actor, action, subject, details, prev_hash, hash)"
              " SELECT s::bigint, $2, $3, a, x, su, d, decode(p, 'hex'), decode(h, 'hex')"
              " FROM unnest($1::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])"
              " AS t(s, a, x, su, d, p, h)")},
  };
}

absl::Status AppendAudit(pqxx::work& tx, std::string_view schema, std::string_view daemon,
                         const std::vector<AuditEvent>& events) {
  if (events.empty()) return absl::OkStatus();
  // The head is read after the lock is held (a statement of its own, so with a snapshot taken
  // after it); the appender holds the lock until its transaction ends.
  tx.exec_prepared("audit_lock", std::string(schema));
  auto head = tx.exec_prepared("audit_head");
  int64_t seq = head.empty() ? 0 : head[0][0].as<int64_t>();
  std::string prev = head.empty() ? std::string(32, '\0') : Bytes(head[0][1]);
  const int64_t at_us = absl::ToUnixMicros(absl::Now());
  // One statement for the whole group, however many events.
  std::vector<std::string> seqs, actors, actions, subjects, details, prevs, hashes;
  for (const AuditEvent& e : events) {
    AuditRow row{++seq, at_us, std::string(daemon), e, prev, ""};
    row.hash = AuditRowHash(prev, row);
    seqs.push_back(std::to_string(row.seq));
    actors.push_back(e.actor);
    actions.push_back(e.action);
    subjects.push_back(e.subject);
    details.push_back(e.details);
    prevs.push_back(HexEncode(prev));
    hashes.push_back(HexEncode(row.hash));
    prev = row.hash;
  }
  tx.exec_prepared("audit_insert", TextArray(seqs), at_us, std::string(daemon), TextArray(actors), TextArray(actions),
                   TextArray(subjects), TextArray(details), TextArray(prevs), TextArray(hashes));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AuditRow>> ReadAudit(pqxx::transaction_base& tx, std::string_view schema) {
  std::vector<AuditRow> rows;
  try {
    for (const auto& r : tx.exec("SELECT seq, at_us, daemon, actor, action, subject, details, prev_hash, hash FROM " +
                                 tx.quote_name(std::string(schema)) + ".audit ORDER BY seq")) {
      AuditRow row;
      row.seq = r[0].as<int64_t>();
      row.at_us = r[1].as<int64_t>();
      row.daemon = r[2].as<std::string>();
      row.event = {r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(), r[6].as<std::string>()};
      row.prev_hash = Bytes(r[7]);
      row.hash = Bytes(r[8]);
      rows.push_back(std::move(row));
    }
  } catch (const std::exception& e) {
    return StatusFromException(e, StrCat("reading ", schema, ".audit"));
  }
  return rows;
}

AuditCheck VerifyAudit(const std::vector<AuditRow>& rows, int64_t expect_seq, const std::string& expect_hash) {
  AuditCheck check;
  check.rows = static_cast<int64_t>(rows.size());
  std::string prev(32, '\0');
  int64_t next = 1;
  bool expected_seen = expect_seq == 0;
  for (const AuditRow& row : rows) {
    if (row.seq != next) {
      check.problems.push_back(row.seq > next ? StrCat("rows ", next, " to ", row.seq - 1, " are missing")
                                              : StrCat("row ", row.seq, " is out of order"));
    }
    if (row.prev_hash != prev) {
      check.problems.push_back(
          StrCat("row ", row.seq, " does not follow the row before it (a row was removed or changed)"));
    }
    if (AuditRowHash(row.prev_hash, row) != row.hash) {
      check.problems.push_back(
          StrCat("row ", row.seq, " was changed (", row.event.action, " ", row.event.subject, ")"));
    }
    if (row.seq == expect_seq) {
      expected_seen = true;
      if (row.hash != expect_hash) check.problems.push_back(StrCat("row ", row.seq, " is not the head kept earlier"));
    }
    prev = row.hash;
    next = row.seq + 1;
  }
  if (!expected_seen) {
    check.problems.push_back(
        StrCat("the head kept earlier (row ", expect_seq, ") is gone: the newest rows were removed"));
  }
  if (!rows.empty()) {
    check.head_seq = rows.back().seq;
    check.head_hash = rows.back().hash;
  }
  return check;
}

}  // namespace semper::db
