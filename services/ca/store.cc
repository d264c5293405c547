// SQL for the CA's records.
#include "services/ca/store.h"

#include <google/protobuf/util/time_util.h>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/db/errors.h"

namespace semper::ca {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kColumns[] =
    "id, name, kind, country, applicable_law, coalesce(vat_reference, ''), email, state, "
    "extract(epoch from created_at)::float8, created_by";

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

std::string TimeText(absl::Time t) { return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone()); }

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
      {"ca_get_subscriber", std::string("SELECT ") + kColumns + " FROM ca.subscribers WHERE id = $1"},
      {"ca_list_first", std::string("SELECT ") + kColumns +
                            " FROM ca.subscribers ORDER BY created_at DESC, id DESC LIMIT $1"},
      {"ca_list_after", std::string("SELECT ") + kColumns +
                            R"( FROM ca.subscribers
                                WHERE (created_at, id) < (SELECT created_at, id FROM ca.subscribers WHERE id = $2)
                                ORDER BY created_at DESC, id DESC LIMIT $1)"},
      {"ca_claim_code",
       R"(SELECT subscriber_id, used_at IS NOT NULL, expires_at < now()
          FROM ca.enrolment_codes WHERE code_sha256 = decode($1, 'hex') FOR UPDATE)"},
      {"ca_use_code", "UPDATE ca.enrolment_codes SET used_at = now() WHERE code_sha256 = decode($1, 'hex')"},
      {"ca_key_blocked", "SELECT 1 FROM ca.blocked_keys WHERE spki_sha256 = decode($1, 'hex')"},
      {"ca_insert_certificate",
       R"(INSERT INTO ca.certificates (serial, subscriber_id, profile, subject, spki_sha256, not_before, not_after, der)
          VALUES ($1, $2, $3, $4, decode($5, 'hex'), $6::timestamptz, $7::timestamptz, decode($8, 'hex')))"},
  };
}

absl::StatusOr<v1::Subscriber> CaStore::Register(v1::Subscriber s, const std::string& officer,
                                                 const std::string& code_sha256, absl::Time code_expires) {
  s.set_id(StrCat("S-", RandomId().substr(0, 16)));
  s.set_state(v1::SUBSCRIBER_STATE_ACTIVE);
  s.set_created_by(officer);
  absl::Status st = pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    tx.exec_prepared0("ca_insert_subscriber", s.id(), s.name(), KindName(s.kind()), s.country(),
                      s.applicable_law(), s.vat_reference(), s.email(), officer);
    tx.exec_prepared0("ca_insert_change", s.id(), officer, "registered", "{}");
    tx.exec_prepared0("ca_insert_code", HexEncode(code_sha256), s.id(), TimeText(code_expires));
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return Get(s.id());
}

absl::StatusOr<v1::Subscriber> CaStore::Get(const std::string& id) {
  std::optional<v1::Subscriber> out;
  SEMPER_RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_prepared("ca_get_subscriber", id);
    if (!r.empty()) out = FromRow(r[0]);
    return absl::OkStatus();
  }));
  if (!out) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no subscriber ", id));
  return *out;
}

absl::StatusOr<std::vector<v1::Subscriber>> CaStore::List(int limit, const std::string& after_id) {
  std::vector<v1::Subscriber> out;
  SEMPER_RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    auto r = after_id.empty() ? tx.exec_prepared("ca_list_first", limit) : tx.exec_prepared("ca_list_after", limit, after_id);
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
  absl::Status st = pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    auto claim = tx.exec_prepared("ca_claim_code", code_hex);
    if (claim.empty()) {
      return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, "unknown enrolment code; check it was typed correctly");
    }
    if (claim[0][1].as<bool>()) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       "this enrolment code was already used; ask your registration officer for a new one");
    }
    if (claim[0][2].as<bool>()) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED,
                       "this enrolment code has expired; ask your registration officer for a new one");
    }
    auto sub = tx.exec_prepared("ca_get_subscriber", claim[0][0].as<std::string>());
    if (sub.empty()) return MakeError(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "code without subscriber");
    v1::Subscriber subscriber = FromRow(sub[0]);
    if (subscriber.state() != v1::SUBSCRIBER_STATE_ACTIVE) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat("subscriber ", subscriber.id(), " is not active"));
    }
    for (const auto& spki : spki_sha256s) {
      if (!tx.exec_prepared("ca_key_blocked", HexEncode(spki)).empty()) {
        return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED,
                         "this key was revoked for key compromise and cannot be certified again; make a new key");
      }
    }
    SEMPER_ASSIGN_OR_RETURN(auto issued, issue(subscriber));
    for (const IssuedRecord& rec : issued) {
      const Certificate& c = rec.certificate;
      tx.exec_prepared0("ca_insert_certificate", c.SerialHex(), subscriber.id(), rec.profile, c.Subject(),
                        HexEncode(Sha256(c.public_key()->Der())), TimeText(c.not_before()), TimeText(c.not_after()),
                        HexEncode(c.Der()));
    }
    tx.exec_prepared0("ca_use_code", code_hex);
    tx.exec_prepared0("ca_insert_change", subscriber.id(), "enrolment-code", "enrolled",
                      StrCat("{\"certificates\": ", issued.size(), "}"));
    out = {subscriber, std::move(issued)};
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace semper::ca
