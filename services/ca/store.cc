// SQL for the CA's records.
#include "services/ca/store.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "absl/strings/str_join.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/db/audit.h"
#include "common/db/errors.h"
#include "common/db/values.h"

namespace semper::ca {

using db::FromEpoch;
using db::TimeText;
namespace {

using google::protobuf::util::TimeUtil;

// The subscriber columns FromRow reads, from "ca.subscribers s".
constexpr char kColumns[] =
    "s.id, s.name, s.kind, s.country, s.applicable_law, coalesce(s.vat_reference, ''), s.email, s.state, "
    "extract(epoch from s.created_at)::float8, s.created_by";

std::string KindName(v1::CustomerKind k) { return k == v1::CUSTOMER_KIND_ENTERPRISE ? "enterprise" : "individual"; }

v1::SubscriberState StateOf(const std::string& s) {
  if (s == "active") return v1::SUBSCRIBER_STATE_ACTIVE;
  if (s == "suspended") return v1::SUBSCRIBER_STATE_SUSPENDED;
  return v1::SUBSCRIBER_STATE_CLOSED;
}

v1::Subscriber FromRow(const pqxx::row& r) {
  v1::Subscriber s;
  s.set_id(r[0].as<std::string>());
  s.set_name(r[1].as<std::string>());
  s.set_kind(r[2].as<std::string>() == "enterprise" ? v1::CUSTOMER_KIND_ENTERPRISE : v1::CUSTOMER_KIND_INDIVIDUAL);
  s.set_country(r[3].as<std::string>());
  s.set_applicable_law(r[4].as<std::string>());
  s.set_vat_reference(r[5].as<std::string>());
  s.set_email(r[6].as<std::string>());
  s.set_state(StateOf(r[7].as<std::string>()));
  *s.mutable_created_at() = TimeUtil::NanosecondsToTimestamp(static_cast<int64_t>(r[8].as<double>() * 1e9));
  s.set_created_by(r[9].as<std::string>());
  return s;
}

}  // namespace

std::vector<db::PreparedStatement> CaStore::Statements() {
  return {
      {"ca_insert_subscriber",
       R"(INSERT INTO ca.subscribers (id, name, kind, country, applicable_law, vat_reference, email, created_by)
          VALUES ($1, $2, $3, $4, $5, nullif($6, ''), $7, $8))"},
      {"ca_insert_change",
       R"(INSERT INTO ca.subscriber_changes (subscriber_id, changed_by, action, details)
          VALUES ($1, $2, $3, $4::jsonb))"},
      {"ca_insert_code",
       R"(INSERT INTO ca.enrolment_codes (code_sha256, subscriber_id, expires_at)
          VALUES (decode($1, 'hex'), $2, $3::timestamptz))"},
      {"ca_get_subscriber", std::string("SELECT ") + kColumns + " FROM ca.subscribers s WHERE id = $1"},
      {"ca_list_first",
       std::string("SELECT ") + kColumns + " FROM ca.subscribers s ORDER BY created_at DESC, id DESC LIMIT $1"},
      {"ca_list_after", std::string("SELECT ") + kColumns +
                            R"( FROM ca.subscribers s
                                WHERE (created_at, id) < (SELECT created_at, id FROM ca.subscribers WHERE id = $2)
                                ORDER BY created_at DESC, id DESC LIMIT $1)"},
      {"ca_lock_certificate",
       R"(SELECT subscriber_id, revoked_at IS NOT NULL, coalesce(revocation_reason, 0), encode(spki_sha256, 'hex'), profile
          FROM ca.certificates WHERE serial = $1 FOR UPDATE)"},
      // A base whose pseudonyms (tags of scheme 2) the cascade is to find, with semper-arbiter.
      {"ca_queue_cascade", "INSERT INTO ca.pseudonym_cascades (serial) VALUES ($1) ON CONFLICT DO NOTHING"},
      {"ca_revoke",
       R"(UPDATE ca.certificates SET revoked_at = coalesce(revoked_at, $3::timestamptz), revocation_reason = $2
          WHERE serial = $1)"},
      {"ca_to_key_compromise",
       R"(UPDATE ca.certificates SET revocation_reason = $2 WHERE serial = $1 AND revoked_at IS NOT NULL)"},
      {"ca_release", "UPDATE ca.certificates SET revoked_at = NULL, revocation_reason = NULL WHERE serial = $1"},
      // Pseudonyms issued on a base (by its derivation tag), and whether they are still to revoke
      // (good or on hold).
      {"ca_derived",
       R"(SELECT p.serial, encode(c.spki_sha256, 'hex'), c.revoked_at IS NULL OR c.revocation_reason = 6
          FROM ca.pseudonyms p JOIN ca.certificates c USING (serial)
          WHERE p.parent_tag = decode($1, 'hex') AND p.tag_scheme = 1 FOR UPDATE OF c)"},
      {"ca_block_key",
       R"(INSERT INTO ca.blocked_keys (spki_sha256, reason) VALUES (decode($1, 'hex'), $2) ON CONFLICT DO NOTHING)"},
      // Status changes in order (the trigger of migration 2026120601 takes the same lock): a
      // change dated after it holds this lock, and a status read first waits for changes in
      // flight, so an answer about a time before the read never changes afterwards.
      // Redemptions and credential uses (shared, to their commit) against the closing of a
      // clearing period (exclusive); see ClearingTime.
      {"ca_clearing_shared", "SELECT pg_advisory_xact_lock_shared(1397050704, 1)"},
      {"ca_clearing_exclusive", "SELECT pg_advisory_xact_lock(1397050704, 1)"},
      {"ca_clearing_closed", "SELECT (extract(epoch from until) * 1000000)::int8 AS micros FROM ca.clearing_closed"},
      // Not past the database's clock either: a replica whose clock runs ahead closes nothing
      // that has not ended.
      {"ca_clearing_ended", "SELECT $1::timestamptz <= clock_timestamp() AS ended"},
      {"ca_clearing_close", "UPDATE ca.clearing_closed SET until = greatest(until, $1::timestamptz)"},
      {"ca_status_changing", "SELECT pg_advisory_xact_lock(7305911, 1)"},
      {"ca_status_settled", "SELECT pg_advisory_xact_lock_shared(7305911, 1)"},
      {"ca_status",
       R"(SELECT coalesce(subscriber_id, ''), extract(epoch from not_after)::float8,
                 revoked_at IS NOT NULL AND revoked_at <= $2::timestamptz,
                 coalesce(extract(epoch from revoked_at)::float8, 0), coalesce(revocation_reason, 0), issuer
          FROM ca.certificates WHERE serial = $1)"},
      // The issuing CA's CRL lists its own certificates only.
      {"ca_revoked_now",
       R"(SELECT serial, extract(epoch from revoked_at)::float8, coalesce(revocation_reason, 0)
          FROM ca.certificates WHERE revoked_at IS NOT NULL AND not_after > $1::timestamptz AND issuer = 'ca')"},
      {"ca_revoked_pseudonyms",
       R"(SELECT serial, extract(epoch from revoked_at)::float8, coalesce(revocation_reason, 0)
          FROM ca.certificates WHERE revoked_at IS NOT NULL AND not_after > $1::timestamptz AND issuer = 'pseudonyms')"},
      {"ca_next_pseudonym_crl_number", "SELECT nextval('ca.pseudonym_crl_number')"},
      {"ca_latest_base_crl", "SELECT number, der FROM ca.crls WHERE is_base ORDER BY number DESC LIMIT 1"},
      {"ca_next_crl_number", "SELECT nextval('ca.crl_number')"},
      {"ca_latest_base_time",
       "SELECT extract(epoch FROM this_update)::float8, coalesce(status_seq, -1) FROM ca.crls WHERE is_base "
       "ORDER BY number DESC LIMIT 1"},
      {"ca_last_status_seq", "SELECT coalesce(max(status_seq), 0) FROM ca.certificates WHERE status_seq IS NOT NULL"},
      {"ca_insert_crl",
       R"(INSERT INTO ca.crls (number, delta_base, this_update, next_update, der, is_base, status_seq)
          VALUES ($1, $2, $3::timestamptz, $4::timestamptz, decode($5, 'hex'), $6, $7))"},
      {"ca_latest_crl", R"(SELECT der FROM ca.crls WHERE (delta_base IS NOT NULL) = $1 ORDER BY number DESC LIMIT 1)"},
      // Enrolment in two statements: claim the code (with the record and the blocked-key check),
      // then store both certificates, spend the code and record the change at once.
      {"ca_enrol_claim",
       std::string("SELECT c.used_at IS NOT NULL AS used, c.expires_at <= $4::timestamptz AS expired, "
                   "EXISTS (SELECT 1 FROM ca.blocked_keys WHERE spki_sha256 = ANY(ARRAY[decode($2, 'hex'), decode($3, "
                   "'hex')])) "
                   "AS blocked, ") +
           kColumns +
           " FROM ca.enrolment_codes c JOIN ca.subscribers s ON s.id = c.subscriber_id"
           " WHERE c.code_sha256 = decode($1, 'hex') FOR UPDATE OF c"},
      {"ca_enrol_store",
       R"(WITH certs AS (
            INSERT INTO ca.certificates (serial, subscriber_id, profile, subject, spki_sha256, not_before, not_after, der,
                                         enrolment_code_sha256, renewal_epoch)
            SELECT v.serial, $1, v.profile, v.subject, v.spki, v.not_before, v.not_after, v.der, decode($16, 'hex'),
                   coalesce((SELECT epoch FROM ca.renewal_epochs WHERE subscriber_id = $1), 0)
            FROM (VALUES ($2, $3, $4, decode($5, 'hex'), $6::timestamptz, $7::timestamptz, decode($8, 'hex')),
                         ($9, $10, $11, decode($12, 'hex'), $13::timestamptz, $14::timestamptz, decode($15, 'hex')))
                 AS v (serial, profile, subject, spki, not_before, not_after, der)
            RETURNING 1),
          code AS (UPDATE ca.enrolment_codes SET used_at = now() WHERE code_sha256 = decode($16, 'hex') RETURNING 1)
          INSERT INTO ca.subscriber_changes (subscriber_id, changed_by, action, details)
          SELECT $1, 'enrolment-code', 'enrolled', '{"certificates": 2}'::jsonb
          WHERE (SELECT count(*) FROM certs) = 2 AND (SELECT count(*) FROM code) = 1)"},
      // The two certificates this code's enrolment made, if they are for these two keys
      // (authentication, signature) and both are good now.
      {"ca_enrol_again",
       R"(SELECT profile, serial, der FROM ca.certificates
          WHERE enrolment_code_sha256 = decode($1, 'hex') AND subscriber_id = $2 AND revoked_at IS NULL AND
                not_after > $5::timestamptz AND
                ((profile = 'authentication' AND spki_sha256 = decode($3, 'hex')) OR
                 (profile = 'signature' AND spki_sha256 = decode($4, 'hex'))))"},
      // Renewal: whose certificate the caller presents (read before the subscriber's row is
      // locked, the order SetState takes), then the certificate itself, locked.
      {"ca_certificate_subscriber", "SELECT subscriber_id FROM ca.certificates WHERE serial = $1"},
      {"ca_renew_certificate",
       R"(SELECT subscriber_id, profile, issuer, der = decode($2, 'hex') AS same, revoked_at IS NOT NULL AS revoked,
                 renewal_epoch,
                 coalesce(revocation_reason, 0) AS reason, not_after <= $3::timestamptz AS expired,
                 extract(epoch from not_before)::float8 AS not_before, extract(epoch from not_after)::float8 AS not_after
          FROM ca.certificates WHERE serial = $1 FOR UPDATE)"},
      // The subscriber's renewal epoch now (read after the order of status changes: a keyCompromise
      // revocation in flight has committed, or comes after).
      {"ca_renewal_epoch", "SELECT epoch, serial FROM ca.renewal_epochs WHERE subscriber_id = $1"},
      // New keys, one at a time in the order of their hashes (as in Enroll): two calls certifying
      // one key wait for each other, so the second sees the first's certificate. The same lock as
      // a pseudonym's key (pseudonyms.cc, ps_lock_key): a renewal and a pseudonym racing with one
      // key certify it once.
      {"ca_lock_key", "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))"},
      // What a renewal from this certificate made (a retry gets it again while it is good).
      {"ca_renewed_from",
       R"(SELECT profile, serial, der, encode(spki_sha256, 'hex') AS spki,
                 revoked_at IS NULL AND not_after > $2::timestamptz AS good
          FROM ca.certificates WHERE renewed_from = $1 ORDER BY profile)"},
      // Renewal certifies new keys only: none blocked, none certified before (by anyone).
      {"ca_keys_known",
       R"(SELECT EXISTS (SELECT 1 FROM ca.blocked_keys WHERE spki_sha256 = decode($1, 'hex')),
                 EXISTS (SELECT 1 FROM ca.blocked_keys WHERE spki_sha256 = decode($2, 'hex')),
                 EXISTS (SELECT 1 FROM ca.certificates WHERE spki_sha256 = decode($1, 'hex')),
                 EXISTS (SELECT 1 FROM ca.certificates WHERE spki_sha256 = decode($2, 'hex')))"},
      {"ca_renew_store",
       R"(INSERT INTO ca.certificates (serial, subscriber_id, profile, subject, spki_sha256, not_before, not_after, der,
                                       renewed_from, renewal_epoch)
          VALUES ($2, $1, $3, $4, decode($5, 'hex'), $6::timestamptz, $7::timestamptz, decode($8, 'hex'), $16, $17),
                 ($9, $1, $10, $11, decode($12, 'hex'), $13::timestamptz, $14::timestamptz, decode($15, 'hex'), $16,
                  $17))"},
      // A keyCompromise revocation: what was renewed from the certificate (its holder could have
      // asked), locked before the order of status changes; and the subscriber may no longer renew.
      {"ca_renewed_lock",
       R"(SELECT serial, encode(spki_sha256, 'hex'), revoked_at IS NULL OR revocation_reason = 6, profile
          FROM ca.certificates WHERE renewed_from = $1 FOR UPDATE)"},
      {"ca_new_renewal_epoch",
       R"(INSERT INTO ca.renewal_epochs (subscriber_id, epoch, serial) VALUES ($1, 1, $2)
          ON CONFLICT (subscriber_id) DO UPDATE SET epoch = ca.renewal_epochs.epoch + 1, serial = $2, changed_at = now())"},
      {"ca_register_service",
       R"(INSERT INTO ca.certificates (serial, subscriber_id, profile, subject, spki_sha256, not_before, not_after, der)
          VALUES ($1, NULL, 'service', $2, decode($3, 'hex'), $4::timestamptz, $5::timestamptz, decode($6, 'hex'))
          ON CONFLICT (serial) DO NOTHING)"},
      // NO KEY: the foreign-key checks of the subscriber's other changes (its certificates'
      // history) do not wait for it.
      {"ca_lock_subscriber",
       std::string("SELECT ") + kColumns + " FROM ca.subscribers s WHERE id = $1 FOR NO KEY UPDATE"},
      // A subscriber's certificates, locked before the order of status changes (as Revoke does).
      {"ca_lock_subscriber_certificates", "SELECT serial FROM ca.certificates WHERE subscriber_id = $1 FOR UPDATE"},
      {"ca_update_subscriber",
       R"(UPDATE ca.subscribers SET name = $2, kind = $3, country = $4, applicable_law = $5,
                 vat_reference = nullif($6, ''), email = $7 WHERE id = $1)"},
      {"ca_set_state", "UPDATE ca.subscribers SET state = $2 WHERE id = $1"},
      {"ca_hold_all",
       R"(UPDATE ca.certificates SET revoked_at = $2::timestamptz, revocation_reason = 6
          WHERE subscriber_id = $1 AND revoked_at IS NULL AND not_after > $2::timestamptz)"},
      {"ca_release_all",
       R"(UPDATE ca.certificates SET revoked_at = NULL, revocation_reason = NULL
          WHERE subscriber_id = $1 AND revocation_reason = 6)"},
      {"ca_revoke_all",
       R"(UPDATE ca.certificates SET revoked_at = coalesce(revoked_at, $2::timestamptz), revocation_reason = 5
          WHERE subscriber_id = $1 AND (revoked_at IS NULL OR revocation_reason = 6))"},
      {"ca_history",
       R"(SELECT extract(epoch from changed_at)::float8, changed_by, action, details::text
          FROM ca.subscriber_changes WHERE subscriber_id = $1 ORDER BY id)"},
  };
}

namespace {

// Certificates as stored (columns profile, serial, der), for an answer given again.
std::vector<IssuedRecord> IssuedRecords(const pqxx::result& rows) {
  std::vector<IssuedRecord> out;
  for (const auto& r : rows) {
    IssuedRecord rec;
    rec.profile = r["profile"].as<std::string>();
    rec.certificate.serial_hex = r["serial"].as<std::string>();
    rec.certificate.der = pqxx::binarystring(r["der"]).str();
    out.push_back(std::move(rec));
  }
  return out;
}

// The advisory locks of two keys (SHA-256 of their SPKI, hex), in one order everywhere.
void LockKeys(pqxx::work& tx, const std::string& a, const std::string& b) {
  tx.exec_prepared("ca_lock_key", std::min(a, b));
  tx.exec_prepared("ca_lock_key", std::max(a, b));
}

// A change to a subscriber's record: in its history, and in the audit trail, in the same transaction.
absl::Status RecordChange(pqxx::work& tx, const std::string& subscriber, const std::string& actor,
                          const std::string& action, const std::string& details) {
  tx.exec_prepared0("ca_insert_change", subscriber, actor, action, details);
  return db::AppendAudit(tx, "ca", "semper-ca", {{actor, action, subscriber, details}});
}

}  // namespace

absl::StatusOr<v1::Subscriber> CaStore::Register(v1::Subscriber s, const std::string& officer,
                                                 const std::string& code_sha256, absl::Time code_expires) {
  s.set_id(StrCat("S-", RandomId().substr(0, 16)));
  s.set_state(v1::SUBSCRIBER_STATE_ACTIVE);
  s.set_created_by(officer);
  absl::Status st = pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    tx.exec_prepared0("ca_insert_subscriber", s.id(), s.name(), KindName(s.kind()), s.country(), s.applicable_law(),
                      s.vat_reference(), s.email(), officer);
    SEMPER_RETURN_IF_ERROR(RecordChange(tx, s.id(), officer, "registered", "{}"));
    tx.exec_prepared0("ca_insert_code", HexEncode(code_sha256), s.id(), TimeText(code_expires));
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return Get(s.id());
}

absl::StatusOr<v1::Subscriber> CaStore::Get(const std::string& id) {
  std::optional<v1::Subscriber> out;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("ca_get_subscriber", id);
    if (!r.empty()) out = FromRow(r[0]);
    return absl::OkStatus();
  }));
  if (!out) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no subscriber ", id));
  return *out;
}

absl::StatusOr<std::vector<v1::Subscriber>> CaStore::List(int limit, const std::string& after_id) {
  std::vector<v1::Subscriber> out;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    out.clear();
    auto r = after_id.empty() ? tx.exec_prepared("ca_list_first", limit)
                              : tx.exec_prepared("ca_list_after", limit, after_id);
    for (const auto& row : r) out.push_back(FromRow(row));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::pair<v1::Subscriber, std::vector<IssuedRecord>>> CaStore::Enroll(
    const std::string& code_sha256, const std::vector<std::string>& spki_sha256s,
    const std::function<absl::StatusOr<std::vector<IssuedRecord>>(const v1::Subscriber&)>& issue) {
  std::pair<v1::Subscriber, std::vector<IssuedRecord>> out;
  const std::string code_hex = HexEncode(code_sha256);
  if (spki_sha256s.size() != 2) return InvalidField("csr", "enrolment certifies exactly two keys");
  absl::Status st = pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    // Keys blocked by a keyCompromise revocation in flight are seen (it waits for this, or this
    // for it).
    tx.exec_prepared("ca_status_settled");
    // A renewal certifying one of these keys at the same time sees this enrolment's certificate.
    LockKeys(tx, HexEncode(spki_sha256s[0]), HexEncode(spki_sha256s[1]));
    auto claim = tx.exec_prepared("ca_enrol_claim", code_hex, HexEncode(spki_sha256s[0]), HexEncode(spki_sha256s[1]),
                                  db::TimeText(clock_()));
    if (claim.empty()) {
      return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND,
                       "unknown enrolment code; check it was typed correctly");
    }
    const pqxx::row& row = claim[0];
    if (row["used"].as<bool>()) {
      // A retry of an enrolment whose answer was lost (a connection cut, a failover): the same
      // code with the same two keys (each request signed by its key) gets the two certificates
      // that enrolment made, while both are good and neither key is blocked. Anything else is a
      // second use.
      v1::Subscriber subscriber = FromRow(row.slice(3, row.size()));
      pqxx::result again =
          row["blocked"].as<bool>()
              ? pqxx::result()
              : tx.exec_prepared("ca_enrol_again", code_hex, subscriber.id(), HexEncode(spki_sha256s[0]),
                                 HexEncode(spki_sha256s[1]), db::TimeText(clock_()));
      int authentication = 0, signature = 0;
      for (const auto& r : again)
        (r["profile"].as<std::string>() == "authentication" ? authentication : signature) += 1;
      if (authentication == 1 && signature == 1) {
        SEMPER_RETURN_IF_ERROR(db::AppendAudit(tx, "ca", "semper-ca",
                                               {{"enrolment code", "answer again", subscriber.id(),
                                                 StrCat("{\"certificates\": [\"", again[0]["serial"].as<std::string>(),
                                                        "\", \"", again[1]["serial"].as<std::string>(), "\"]}")}}));
        out.second = IssuedRecords(again);
        out.first = std::move(subscriber);
        return absl::OkStatus();
      }
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::ALREADY_USED,
                       "this enrolment code was already used; ask your registration officer for a new one");
    }
    if (row["expired"].as<bool>()) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED,
                       "this enrolment code has expired; ask your registration officer for a new one");
    }
    v1::Subscriber subscriber = FromRow(row.slice(3, row.size()));
    if (subscriber.state() != v1::SUBSCRIBER_STATE_ACTIVE) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat("subscriber ", subscriber.id(), " is not active"));
    }
    if (row["blocked"].as<bool>()) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED,
                       "this key was revoked for key compromise and cannot be certified again; make a new key");
    }
    SEMPER_ASSIGN_OR_RETURN(auto issued, issue(subscriber));
    if (issued.size() != 2)
      return MakeError(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "expected two certificates");
    const IssuedCertificate& a = issued[0].certificate;
    const IssuedCertificate& b = issued[1].certificate;
    auto stored = tx.exec_prepared(
        "ca_enrol_store", subscriber.id(), a.serial_hex, issued[0].profile, a.subject, HexEncode(Sha256(a.spki_der)),
        TimeText(a.not_before), TimeText(a.not_after), HexEncode(a.der), b.serial_hex, issued[1].profile, b.subject,
        HexEncode(Sha256(b.spki_der)), TimeText(b.not_before), TimeText(b.not_after), HexEncode(b.der), code_hex);
    if (stored.affected_rows() != 1) {
      return MakeError(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "enrolment was not stored completely");
    }
    SEMPER_RETURN_IF_ERROR(db::AppendAudit(tx, "ca", "semper-ca",
                                           {{"enrolment code", "issue", subscriber.id(),
                                             StrCat("{\"certificates\": [\"", a.serial_hex, "\", \"", b.serial_hex,
                                                    "\"], \"subject\": \"", JsonEscape(a.subject), "\"}")}}));
    out = {subscriber, std::move(issued)};
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::pair<v1::Subscriber, std::vector<IssuedRecord>>> CaStore::Renew(
    const std::string& serial, const std::string& der, const std::vector<std::string>& spki_sha256s,
    absl::Duration window, const std::string& actor,
    const std::function<absl::StatusOr<std::vector<IssuedRecord>>(const v1::Subscriber&)>& issue) {
  std::pair<v1::Subscriber, std::vector<IssuedRecord>> out;
  if (spki_sha256s.size() != 2) return InvalidField("csr", "renewal certifies exactly two keys");
  const std::string auth_hex = HexEncode(spki_sha256s[0]), sig_hex = HexEncode(spki_sha256s[1]);
  auto not_renewable = [] {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     "renewal needs the authentication certificate of a subscriber of this CA as the TLS client "
                     "certificate");
  };
  absl::Status st = pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    auto owner = tx.exec_prepared("ca_certificate_subscriber", serial);
    if (owner.empty() || owner[0][0].is_null()) return not_renewable();
    auto locked = tx.exec_prepared("ca_lock_subscriber", owner[0][0].as<std::string>());
    if (locked.empty()) return not_renewable();
    v1::Subscriber subscriber = FromRow(locked[0]);
    const absl::Time now = clock_();
    auto found = tx.exec_prepared("ca_renew_certificate", serial, HexEncode(der), TimeText(now));
    if (found.empty()) return not_renewable();
    const pqxx::row& c = found[0];
    if (c["subscriber_id"].is_null() || c["subscriber_id"].as<std::string>() != subscriber.id() ||
        !c["same"].as<bool>() || c["profile"].as<std::string>() != "authentication" ||
        c["issuer"].as<std::string>() != "ca") {
      return not_renewable();
    }
    // No revocation of this certificate is in flight (its row is ours); others' are seen.
    tx.exec_prepared("ca_status_settled");
    if (c["revoked"].as<bool>()) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED,
                       c["reason"].as<int>() == v1::REVOCATION_REASON_CERTIFICATE_HOLD
                           ? StrCat("your authentication certificate ", serial,
                                    " is on hold: renewal waits until your registration officer releases it")
                           : StrCat("your authentication certificate ", serial,
                                    " is revoked: ask your registration officer for a new enrolment code"));
    }
    if (c["expired"].as<bool>()) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED,
                       StrCat("your authentication certificate ", serial,
                              " has expired: ask your registration officer for a new enrolment code"));
    }
    if (subscriber.state() != v1::SUBSCRIBER_STATE_ACTIVE) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat("subscriber ", subscriber.id(), " is not active"));
    }
    const int64_t epoch = c["renewal_epoch"].as<int64_t>();
    if (auto current = tx.exec_prepared("ca_renewal_epoch", subscriber.id());
        !current.empty() && current[0][0].as<int64_t>() != epoch) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED,
                       StrCat("certificate ", current[0][1].as<std::string>(), " of subscriber ", subscriber.id(),
                              " was revoked for key compromise after certificate ", serial,
                              " was issued: it does not renew; enrol with a new code from your registration officer"));
    }
    // Renewed before: a retry (the same two keys) gets what that renewal made while it is good;
    // anything else is a second renewal, refused.
    auto before = tx.exec_prepared("ca_renewed_from", serial, TimeText(now));
    if (!before.empty()) {
      bool again = before.size() == 2;
      std::vector<std::string> serials;
      for (const auto& r : before) {
        serials.push_back(r["serial"].as<std::string>());
        const bool auth = r["profile"].as<std::string>() == "authentication";
        again = again && r["good"].as<bool>() && r["spki"].as<std::string>() == (auth ? auth_hex : sig_hex);
      }
      if (!again) {
        return MakeError(absl::StatusCode::kFailedPrecondition, v1::ALREADY_USED,
                         StrCat("certificate ", serial, " was renewed already (to ", absl::StrJoin(serials, " and "),
                                "): renew with the certificates that renewal made"));
      }
      SEMPER_RETURN_IF_ERROR(db::AppendAudit(
          tx, "ca", "semper-ca",
          {{actor, "renewal answered again", subscriber.id(),
            StrCat("{\"from\": \"", serial, "\", \"certificates\": [\"", serials[0], "\", \"", serials[1], "\"]}")}}));
      out.second = IssuedRecords(before);
      out.first = std::move(subscriber);
      return absl::OkStatus();
    }
    const absl::Time not_before = FromEpoch(c["not_before"].as<double>());
    const absl::Time not_after = FromEpoch(c["not_after"].as<double>());
    const absl::Time opens = RenewalOpens(not_before, not_after, window);
    if (now < opens) {
      const std::string rule = window > absl::ZeroDuration() ? StrCat("the last ", absl::FormatDuration(window))
                                                             : std::string("the last third");
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat("renewal of certificate ", serial, " opens at ",
                              absl::FormatTime(absl::RFC3339_sec, opens, absl::UTCTimeZone()), " (the CA renews in ",
                              rule, " of a certificate's validity)"));
    }
    LockKeys(tx, auth_hex, sig_hex);
    auto known = tx.exec_prepared("ca_keys_known", auth_hex, sig_hex);
    for (int i : {0, 1}) {
      const char* field = i == 0 ? "authentication_csr" : "signature_csr";
      if (known[0][i].as<bool>()) {
        return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED,
                         StrCat(field, " is for a key revoked for key compromise; make a new key"));
      }
      if (known[0][i + 2].as<bool>()) {
        return InvalidField(field, "is for a key this CA has certified before: renewal certifies new keys only");
      }
    }
    SEMPER_ASSIGN_OR_RETURN(auto issued, issue(subscriber));
    if (issued.size() != 2)
      return MakeError(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "expected two certificates");
    const IssuedCertificate& a = issued[0].certificate;
    const IssuedCertificate& b = issued[1].certificate;
    tx.exec_prepared0("ca_renew_store", subscriber.id(), a.serial_hex, issued[0].profile, a.subject,
                      HexEncode(Sha256(a.spki_der)), TimeText(a.not_before), TimeText(a.not_after), HexEncode(a.der),
                      b.serial_hex, issued[1].profile, b.subject, HexEncode(Sha256(b.spki_der)), TimeText(b.not_before),
                      TimeText(b.not_after), HexEncode(b.der), serial, epoch);
    SEMPER_RETURN_IF_ERROR(RecordChange(
        tx, subscriber.id(), actor, "renewed",
        StrCat("{\"from\": \"", serial, "\", \"certificates\": [\"", a.serial_hex, "\", \"", b.serial_hex, "\"]}")));
    out = {subscriber, std::move(issued)};
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

absl::Time RenewalOpens(absl::Time not_before, absl::Time not_after, absl::Duration window) {
  if (window > absl::ZeroDuration()) return std::max(not_before, not_after - window);
  return not_before + (not_after - not_before) * 2 / 3;
}

namespace {

google::protobuf::Timestamp Ts(absl::Time t) { return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t)); }

v1::CertificateStatus StatusFromRow(const std::string& serial, const pqxx::row& r) {
  v1::CertificateStatus st;
  st.set_serial(serial);
  st.set_subscriber_id(r[0].as<std::string>());
  *st.mutable_not_after() = Ts(FromEpoch(r[1].as<double>()));
  if (r[2].as<bool>()) {
    st.set_state(v1::CERTIFICATE_STATE_REVOKED);
    *st.mutable_revoked_at() = Ts(FromEpoch(r[3].as<double>()));
    st.set_reason(static_cast<v1::RevocationReason>(r[4].as<int>()));
  } else {
    st.set_state(v1::CERTIFICATE_STATE_GOOD);
  }
  return st;
}

}  // namespace

absl::StatusOr<v1::Subscriber> CaStore::Update(const v1::Subscriber& s, const std::string& officer) {
  SEMPER_RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_prepared("ca_lock_subscriber", s.id());
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no subscriber ", s.id()));
    v1::Subscriber old = FromRow(r[0]);
    if (old.state() == v1::SUBSCRIBER_STATE_CLOSED) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat("subscriber ", s.id(), " is closed"));
    }
    std::string changes;
    auto diff = [&](const char* field, const std::string& before, const std::string& after) {
      if (before == after) return;
      StrAppend(&changes, changes.empty() ? "" : ", ", "\"", field, "\": {\"from\": \"", JsonEscape(before),
                "\", \"to\": \"", JsonEscape(after), "\"}");
    };
    diff("name", old.name(), s.name());
    diff("kind", KindName(old.kind()), KindName(s.kind()));
    diff("country", old.country(), s.country());
    diff("applicable_law", old.applicable_law(), s.applicable_law());
    diff("vat_reference", old.vat_reference(), s.vat_reference());
    diff("email", old.email(), s.email());
    if (changes.empty()) return absl::OkStatus();
    tx.exec_prepared0("ca_update_subscriber", s.id(), s.name(), KindName(s.kind()), s.country(), s.applicable_law(),
                      s.vat_reference(), s.email());
    SEMPER_RETURN_IF_ERROR(RecordChange(tx, s.id(), officer, "updated", StrCat("{", changes, "}")));
    return absl::OkStatus();
  }));
  return Get(s.id());
}

absl::StatusOr<v1::Subscriber> CaStore::SetState(const std::string& id, v1::SubscriberState state,
                                                 const std::string& reason, const std::string& officer) {
  SEMPER_RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_prepared("ca_lock_subscriber", id);
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no subscriber ", id));
    v1::SubscriberState from = FromRow(r[0]).state();
    auto wrong = [&](std::string_view why) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE, StrCat("subscriber ", id, " ", why));
    };
    if (from == v1::SUBSCRIBER_STATE_CLOSED) return wrong("is closed; closing is final");
    if (from == state) return wrong("is already in that state");
    std::string action;
    int64_t affected = 0;
    switch (state) {
      case v1::SUBSCRIBER_STATE_SUSPENDED:
        tx.exec_prepared("ca_lock_subscriber_certificates", id);
        tx.exec_prepared("ca_status_changing");  // before the clock: see Revoke
        affected = tx.exec_prepared("ca_hold_all", id, TimeText(clock_())).affected_rows();
        tx.exec_prepared0("ca_set_state", id, "suspended");
        action = "suspended";
        break;
      case v1::SUBSCRIBER_STATE_ACTIVE:
        tx.exec_prepared("ca_lock_subscriber_certificates", id);  // rows, then the order (the trigger)
        affected = tx.exec_prepared("ca_release_all", id).affected_rows();
        tx.exec_prepared0("ca_set_state", id, "active");
        action = "reactivated";
        break;
      case v1::SUBSCRIBER_STATE_CLOSED:
        tx.exec_prepared("ca_lock_subscriber_certificates", id);
        tx.exec_prepared("ca_status_changing");  // before the clock: see Revoke
        affected = tx.exec_prepared("ca_revoke_all", id, TimeText(clock_())).affected_rows();
        tx.exec_prepared0("ca_set_state", id, "closed");
        action = "closed";
        break;
      default:
        return InvalidField("state", "must be ACTIVE, SUSPENDED or CLOSED");
    }
    SEMPER_RETURN_IF_ERROR(
        RecordChange(tx, id, officer, action,
                     StrCat("{\"reason\": \"", JsonEscape(reason), "\", \"certificates\": ", affected, "}")));
    return absl::OkStatus();
  }));
  return Get(id);
}

absl::Status CaStore::AddEnrolmentCode(const std::string& id, const std::string& code_sha256, absl::Time expires,
                                       const std::string& officer) {
  return pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_prepared("ca_lock_subscriber", id);
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no subscriber ", id));
    if (FromRow(r[0]).state() != v1::SUBSCRIBER_STATE_ACTIVE) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat("subscriber ", id, " is not active"));
    }
    tx.exec_prepared0("ca_insert_code", HexEncode(code_sha256), id, TimeText(expires));
    SEMPER_RETURN_IF_ERROR(RecordChange(tx, id, officer, "enrolment-code-issued", "{}"));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<v1::SubscriberChange>> CaStore::History(const std::string& id) {
  std::vector<v1::SubscriberChange> out;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    out.clear();
    if (tx.exec_prepared("ca_get_subscriber", id).empty()) {
      return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no subscriber ", id));
    }
    for (const auto& row : tx.exec_prepared("ca_history", id)) {
      v1::SubscriberChange c;
      *c.mutable_changed_at() = TimeUtil::NanosecondsToTimestamp(static_cast<int64_t>(row[0].as<double>() * 1e9));
      c.set_changed_by(row[1].as<std::string>());
      c.set_action(row[2].as<std::string>());
      c.set_details(row[3].as<std::string>());
      out.push_back(std::move(c));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::CertificateStatus> CaStore::Revoke(const std::string& serial, v1::RevocationReason reason,
                                                      const std::string& actor, const std::string& only_subscriber) {
  SEMPER_RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_prepared("ca_lock_certificate", serial);
    if (r.empty())
      return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no certificate with serial ", serial));
    std::string subscriber = r[0][0].is_null() ? "" : r[0][0].as<std::string>();
    if (!only_subscriber.empty() && subscriber != only_subscriber) {
      return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                       "subscribers can revoke only their own certificates");
    }
    bool revoked = r[0][1].as<bool>();
    int old_reason = r[0][2].as<int>();
    // A certificate revoked for another reason may still turn out to have had its key stolen:
    // its reason becomes keyCompromise (RFC 5280 5.3.1), its time stays, and the cascade follows.
    const bool to_key_compromise = revoked && reason == v1::REVOCATION_REASON_KEY_COMPROMISE &&
                                   old_reason != v1::REVOCATION_REASON_KEY_COMPROMISE &&
                                   old_reason != v1::REVOCATION_REASON_CERTIFICATE_HOLD;
    if (revoked && old_reason != v1::REVOCATION_REASON_CERTIFICATE_HOLD && !to_key_compromise) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat("certificate ", serial, " is already revoked (reason ", old_reason, ")"));
    }
    if (revoked && reason == v1::REVOCATION_REASON_CERTIFICATE_HOLD) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat("certificate ", serial, " is already on hold"));
    }
    // Refused requests stop above, before the order of status changes is taken (any caller may
    // ask, and status reads wait for it). The row first, then the order, as the trigger of every
    // other change takes them. The revocation's time: read once status changes are ours to make,
    // on every attempt (a status read before this commits waits for it, or was about a time
    // before it).
    // Pseudonyms tagged with the link key (scheme 1) issued on it, and on those: found and their
    // rows locked before the order too.
    // Certificates renewed from it (whoever held its key could have asked for them), and what
    // was renewed or issued on those, likewise.
    struct Derived {
      std::string serial, spki_sha256_hex;
      bool good_or_held;
      std::string profile;
    };
    std::vector<Derived> derived;
    if (reason == v1::REVOCATION_REASON_KEY_COMPROMISE) {
      std::vector<std::string> bases = {serial};
      for (size_t i = 0; i < bases.size(); ++i) {
        for (const auto& d : tx.exec_prepared("ca_renewed_lock", bases[i])) {
          derived.push_back({d[0].as<std::string>(), d[1].as<std::string>(), d[2].as<bool>(), d[3].as<std::string>()});
          bases.push_back(derived.back().serial);
        }
        if (!link_tag_) continue;
        for (const auto& d : tx.exec_prepared("ca_derived", HexEncode(link_tag_(bases[i])))) {
          derived.push_back({d[0].as<std::string>(), d[1].as<std::string>(), d[2].as<bool>(), "pseudonym"});
          bases.push_back(derived.back().serial);
        }
      }
    }
    tx.exec_prepared("ca_status_changing");
    const absl::Time at = absl::FromUnixMicros(absl::ToUnixMicros(clock_()));
    if (to_key_compromise) {
      tx.exec_prepared0("ca_to_key_compromise", serial, static_cast<int>(reason));
    } else {
      tx.exec_prepared0("ca_revoke", serial, static_cast<int>(reason), TimeText(at));
    }
    if (reason == v1::REVOCATION_REASON_KEY_COMPROMISE) {
      tx.exec_prepared0("ca_block_key", r[0][3].as<std::string>(), StrCat("keyCompromise of ", serial));
      // Whoever held the key could have asked for pseudonyms on it: they go too, and those
      // issued on them. Their entries name no base (the link stays sealed). Pseudonyms tagged
      // with a cascade key (scheme 2) are found once this commits: the arbiter gives the key only
      // for a base it sees revoked for keyCompromise (PseudonymBook::RunCascades).
      const std::string profile = r[0][4].as<std::string>();
      if (profile == "signature" || profile == "pseudonym") tx.exec_prepared0("ca_queue_cascade", serial);
      for (const Derived& d : derived) {
        // Revoked now if good or on hold (a hold keeps its time); revoked before for another
        // reason: keyCompromise now (time kept), which the arbiter checks before it gives the key
        // that finds what was issued on it.
        if (d.good_or_held) {
          tx.exec_prepared0("ca_revoke", d.serial, static_cast<int>(reason), TimeText(at));
        } else {
          tx.exec_prepared0("ca_to_key_compromise", d.serial, static_cast<int>(reason));
        }
        tx.exec_prepared0("ca_block_key", d.spki_sha256_hex,
                          d.profile == "pseudonym" ? "keyCompromise of the certificate it was issued on"
                                                   : "keyCompromise of the certificate it was renewed from");
        if (d.profile == "signature" || d.profile == "pseudonym") tx.exec_prepared0("ca_queue_cascade", d.serial);
      }
      // Its holder may have renewed, or may still try: a new renewal epoch, in which only
      // certificates enrolled with an officer's code from now on renew.
      if (!subscriber.empty()) tx.exec_prepared0("ca_new_renewal_epoch", subscriber, serial);
    }
    if (!subscriber.empty()) {
      SEMPER_RETURN_IF_ERROR(
          RecordChange(tx, subscriber, actor, "certificate-revoked",
                       StrCat("{\"serial\": \"", serial, "\", \"reason\": ", static_cast<int>(reason), "}")));
    } else {
      SEMPER_RETURN_IF_ERROR(db::AppendAudit(
          tx, "ca", "semper-ca",
          {{actor, "certificate-revoked", serial, StrCat("{\"reason\": ", static_cast<int>(reason), "}")}}));
    }
    return absl::OkStatus();
  }));
  return Status(serial, kNow);
}

absl::StatusOr<v1::CertificateStatus> CaStore::ReleaseHold(const std::string& serial, const std::string& actor) {
  SEMPER_RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_prepared("ca_lock_certificate", serial);
    if (r.empty())
      return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no certificate with serial ", serial));
    if (!r[0][1].as<bool>() || r[0][2].as<int>() != v1::REVOCATION_REASON_CERTIFICATE_HOLD) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat("certificate ", serial, " is not on hold"));
    }
    tx.exec_prepared0("ca_release", serial);
    if (!r[0][0].is_null()) {
      SEMPER_RETURN_IF_ERROR(RecordChange(tx, r[0][0].as<std::string>(), actor, "hold-released",
                                          StrCat("{\"serial\": \"", serial, "\"}")));
    }
    return absl::OkStatus();
  }));
  return Status(serial, kNow);
}

absl::StatusOr<int> CaStore::RegisterServiceCertificates(const std::vector<Certificate>& certs) {
  int added = 0;
  SEMPER_RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    added = 0;
    for (const Certificate& c : certs) {
      auto r = tx.exec_prepared("ca_register_service", c.SerialHex(), c.Subject(), HexEncode(Sha256(c.SpkiDer())),
                                TimeText(c.not_before()), TimeText(c.not_after()), HexEncode(c.Der()));
      added += static_cast<int>(r.affected_rows());
    }
    return absl::OkStatus();
  }));
  return added;
}

absl::StatusOr<std::string> CaStore::PseudonymIssuerCrl(const CrlBuild& build) {
  std::string der;
  SEMPER_RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    tx.exec_prepared("ca_status_settled");  // as in PublishCrls
    std::vector<RevokedEntry> entries;
    for (const auto& row : tx.exec_prepared("ca_revoked_pseudonyms", TimeText(clock_()))) {
      entries.push_back({row[0].as<std::string>(), FromEpoch(row[1].as<double>()), row[2].as<int>()});
    }
    const int64_t number = tx.exec_prepared1("ca_next_pseudonym_crl_number")[0].as<int64_t>();
    SEMPER_ASSIGN_OR_RETURN(der, build(entries, number, std::nullopt));
    return absl::OkStatus();
  }));
  return der;
}

namespace {

absl::Status GoodOrError(const v1::CertificateStatus& status, const std::string& serial, std::string_view whose) {
  if (status.state() == v1::CERTIFICATE_STATE_GOOD) return absl::OkStatus();
  const bool revoked = status.state() == v1::CERTIFICATE_STATE_REVOKED;
  return MakeError(
      absl::StatusCode::kFailedPrecondition, revoked ? v1::CERTIFICATE_REVOKED : v1::CERTIFICATE_UNTRUSTED,
      StrCat(whose, " certificate ", serial, revoked ? " is revoked" : " is not a certificate of this CA"));
}

// `serial`'s status at `at` (SQL text; "infinity": now) read in `tx` once no status change is in
// flight (the lock waited for is released at once in autocommit, held to the commit in a
// transaction); UNKNOWN if this CA never issued it. With `issuer`: which CA certificate issued it.
template <typename Tx>
v1::CertificateStatus ReadStatus(Tx& tx, const std::string& serial, const std::string& at, std::string* issuer) {
  tx.exec_prepared("ca_status_settled");
  const pqxx::result r = tx.exec_prepared("ca_status", serial, at);
  v1::CertificateStatus out;
  out.set_serial(serial);
  out.set_state(v1::CERTIFICATE_STATE_UNKNOWN);
  if (!r.empty()) {
    out = StatusFromRow(serial, r[0]);
    if (issuer != nullptr) *issuer = r[0][5].as<std::string>();
  }
  return out;
}

}  // namespace

absl::StatusOr<v1::CertificateStatus> CaStore::RequireGood(const std::string& serial, absl::Time at,
                                                           std::string_view whose) {
  SEMPER_ASSIGN_OR_RETURN(v1::CertificateStatus status, Status(serial, at));
  SEMPER_RETURN_IF_ERROR(GoodOrError(status, serial, whose));
  return status;
}

absl::Status CaStore::RequireGoodIn(pqxx::work& tx, const std::string& serial, std::string_view whose) {
  return GoodOrError(ReadStatus(tx, serial, "infinity", nullptr), serial, whose);
}

absl::StatusOr<v1::CertificateStatus> CaStore::Status(const std::string& serial, absl::Time at, std::string* issuer) {
  v1::CertificateStatus out;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    // Autocommit: the next statement's snapshot sees every change dated before this read.
    out = ReadStatus(tx, serial, at == kNow ? std::string("infinity") : TimeText(at), issuer);
    return absl::OkStatus();
  }));
  return out;
}

absl::Time CaStore::ClearingTime(pqxx::work& tx) {
  tx.exec_prepared("ca_clearing_shared");
  // Its own statement, after the lock: its snapshot sees the period closed last.
  const absl::Time closed = absl::FromUnixMicros(tx.exec_prepared("ca_clearing_closed")[0]["micros"].as<int64_t>());
  return std::max(closed, absl::FromUnixMicros(absl::ToUnixMicros(clock_())));
}

absl::StatusOr<absl::Time> CaStore::CloseClearingPeriod(absl::Time until) {
  const absl::Time now = clock_();
  // Closed already (by any replica): nothing to wait for, whatever this replica's clock says; the
  // period had ended by then, whatever this replica's clock says.
  absl::Time closed;
  bool ended_for_the_database = false;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    closed = absl::FromUnixMicros(tx.exec_prepared("ca_clearing_closed")[0]["micros"].as<int64_t>());
    ended_for_the_database = tx.exec_prepared("ca_clearing_ended", TimeText(until))[0]["ended"].as<bool>();
    return absl::OkStatus();
  }));
  if (until <= closed) return std::max(now, until);
  // Refused before the lock: a refusal stalls no redemption.
  if (until > now) {
    return InvalidField("until", "must not be in the future: a statement is for a period that has ended");
  }
  if (!ended_for_the_database) {
    return InvalidField("until", "must not be in the future: the database's clock has not reached it yet");
  }
  SEMPER_RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    // Waits for every redemption and use in flight (their time was read before they committed).
    tx.exec_prepared("ca_clearing_exclusive");
    tx.exec_prepared0("ca_clearing_close", TimeText(until));
    return absl::OkStatus();
  }));
  return clock_();  // after the wait for what was in flight
}

absl::Status CaStore::PublishCrls(bool new_base, const CrlBuild& build, const CrlParse& parse,
                                  absl::Duration unless_base_within) {
  return pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    // One publisher at a time, so that a higher number never lists fewer revocations.
    tx.exec0("LOCK TABLE ca.crls IN SHARE ROW EXCLUSIVE MODE");
    // Held to the commit: every revocation dated before this CRL's time has committed and is
    // read here, and none is dated while it is built.
    tx.exec_prepared("ca_status_settled");
    const absl::Time now = clock_();
    // Every status change numbered so far has committed (the lock above): this CRL includes them.
    const int64_t status_seq = tx.exec_prepared1("ca_last_status_seq")[0].as<int64_t>();
    if (unless_base_within > absl::ZeroDuration()) {
      pqxx::result latest = tx.exec_prepared("ca_latest_base_time");
      if (!latest.empty() && FromEpoch(latest[0][0].as<double>()) > now - unless_base_within &&
          latest[0][1].as<int64_t>() >= status_seq) {
        return absl::OkStatus();  // a recent base with every change: nothing to publish
      }
    }
    std::vector<RevokedEntry> current;
    for (const auto& row : tx.exec_prepared("ca_revoked_now", TimeText(now))) {
      current.push_back({row[0].as<std::string>(), FromEpoch(row[1].as<double>()), row[2].as<int>()});
    }
    auto insert = [&](const std::vector<RevokedEntry>& entries, std::optional<int64_t> delta_base,
                      bool is_base) -> absl::StatusOr<int64_t> {
      int64_t number = tx.exec_prepared1("ca_next_crl_number")[0].as<int64_t>();
      SEMPER_ASSIGN_OR_RETURN(std::string der, build(entries, number, delta_base));
      tx.exec_prepared0("ca_insert_crl", number, delta_base, TimeText(now), TimeText(now + absl::Hours(24)),
                        HexEncode(der), is_base, status_seq);
      return number;
    };
    auto base = tx.exec_prepared("ca_latest_base_crl");
    if (new_base || base.empty()) {
      SEMPER_ASSIGN_OR_RETURN(int64_t full, insert(current, std::nullopt, true));
      return insert({}, full, false).status();
    }
    int64_t base_number = base[0][0].as<int64_t>();
    SEMPER_ASSIGN_OR_RETURN(std::vector<RevokedEntry> in_base, parse(pqxx::binarystring(base[0][1]).str()));
    SEMPER_RETURN_IF_ERROR(insert(current, std::nullopt, false).status());
    return insert(DeltaEntries(in_base, current, now), base_number, false).status();
  });
}

absl::StatusOr<std::string> CaStore::LatestCrl(bool delta) {
  std::string der;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("ca_latest_crl", delta);
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, "no CRL issued yet");
    der = pqxx::binarystring(r[0][0]).str();
    return absl::OkStatus();
  }));
  return der;
}

}  // namespace semper::ca
