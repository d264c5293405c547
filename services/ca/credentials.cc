// Named credentials: issued to a holder's key, redeemed against fresh presentations.
#include "services/ca/credentials.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <future>
#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_split.h"
#include "common/base/proto_json.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/container/money.h"
#include "common/crypto/blind_rsa.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/db/values.h"
#include "common/server/rate_limit.h"
#include "services/ca/presentation.h"

namespace semper::ca {

absl::StatusOr<v1::Subscriber> SigningEnterprise(const TrustStore& trust, CaStore& store, const std::string& bytes,
                                                 const std::string& signature, absl::Time now) {
  if (signature.empty())
    return InvalidField("signature", "a detached CMS signature by the issuer's signature key is required");
  auto signers = CmsVerifyDetached(signature, bytes, trust, now, KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return FieldError("signature", signers.status());
  if (signers->size() != 1) return InvalidField("signature", "must have exactly one signer");
  const Certificate& cert = signers->front().certificate;
  SEMPER_ASSIGN_OR_RETURN(v1::CertificateStatus status,
                          store.RequireGood(cert.SerialHex(), CaStore::kNow, "the signer's"));
  if (status.subscriber_id().empty()) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED,
                     "the signer is not a subscriber of this CA");
  }
  SEMPER_ASSIGN_OR_RETURN(v1::Subscriber s, store.Get(status.subscriber_id()));
  if (s.kind() != v1::CUSTOMER_KIND_ENTERPRISE || s.state() != v1::SUBSCRIBER_STATE_ACTIVE) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     "only an active enterprise subscriber issues tokens");
  }
  return s;
}

std::vector<db::PreparedStatement> NamedCredentials::Statements() {
  return {
      {"cr_insert",
       R"(INSERT INTO ca.credentials (id, issuer_subscriber_id, holder_serial, holder_key_sha256, kind, uses_total, uses_left,
                                     valid_from, valid_until, statement, signature)
          VALUES ($1, $2, $3, decode($4, 'hex'), $5, $6::int, nullif($6::int, 0), $7::timestamptz, $8::timestamptz,
                  decode($9, 'hex'), decode($10, 'hex')))"},
      {"cr_get",
       R"(SELECT c.statement, c.signature, coalesce(c.uses_left, -1),
                 (SELECT extract(epoch from max(used_at))::float8 FROM ca.credential_uses u WHERE u.credential_id = c.id)
          FROM ca.credentials c WHERE c.id = $1)"},
      {"cr_statement", "SELECT statement FROM ca.credentials WHERE id = $1"},
      {"cr_record_use",
       R"(INSERT INTO ca.credential_uses (redemption_id, credential_id, acceptor_subscriber_id, presentation_sha256,
                                         used_at)
          VALUES ($1, $2, $3, decode($4, 'hex'), $5::timestamptz) ON CONFLICT (presentation_sha256) DO NOTHING
          RETURNING 1)"},
      // One use taken, only while one is left and the credential is valid.
      {"cr_take_use",
       R"(UPDATE ca.credentials SET uses_left = uses_left - 1
          WHERE id = $1 AND valid_from <= $2::timestamptz AND valid_until > $2::timestamptz
            AND (uses_left IS NULL OR uses_left > 0)
          RETURNING coalesce(uses_left, -1) AS uses_left)"},
      {"cr_why_not",
       R"(SELECT valid_from <= $2::timestamptz AND valid_until > $2::timestamptz AS valid, uses_total,
                 (SELECT extract(epoch from max(used_at))::float8 FROM ca.credential_uses u WHERE u.credential_id = c.id)
          FROM ca.credentials c WHERE id = $1)"},
  };
}

absl::StatusOr<v1::Credential> NamedCredentials::Issue(const v1::IssueCredentialRequest& req) {
  const absl::Time now = d_.clock();
  SEMPER_ASSIGN_OR_RETURN(v1::Subscriber issuer,
                          SigningEnterprise(*d_.trust, *d_.store, req.request(), req.signature(), now));
  v1::CredentialRequestStatement st;
  if (!st.ParseFromString(req.request()) || st.type() != "semper-credential-request") {
    return MalformedField("request",
                          "must be a serialized CredentialRequestStatement of type \"semper-credential-request\"");
  }
  SEMPER_RETURN_IF_ERROR(RequireFresh(st.made_at(), now, "request.made_at"));
  static const std::set<std::string> kKinds = {"pass", "ticket", "membership", "voucher"};
  if (!kKinds.contains(st.kind())) return InvalidField("request.kind", "must be pass, ticket, membership or voucher");
  if (st.rights().empty() || st.rights().size() > 500)
    return InvalidField("request.rights", "must be 1 to 500 characters");
  if (st.uses() < 0 || st.uses() > 10000) return InvalidField("request.uses", "must be 1 to 10000, or 0 for unlimited");
  const absl::Time from = st.has_valid_from() ? FromTimestamp(st.valid_from()) : now;
  const absl::Time until = FromTimestamp(st.valid_until());
  if (until <= from || until <= now || until > from + absl::Hours(24 * 366 * 5)) {
    return InvalidField("request.valid_until", "must be after valid_from and now, at most 5 years after valid_from");
  }
  auto holder = Certificate::FromDer(st.holder_certificate());
  if (!holder.ok()) return FieldError("request.holder_certificate", holder.status());
  if (holder->not_after() <= now) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED, "the holder's certificate has expired");
  }
  SEMPER_RETURN_IF_ERROR(d_.store->RequireGood(holder->SerialHex(), CaStore::kNow, "the holder's").status());
  v1::CredentialStatement cs;
  cs.set_type("semper-credential");
  cs.set_credential_id(StrCat("C-", HexEncode(RandomBytes(12))));
  cs.set_issuer_subscriber_id(issuer.id());
  cs.set_issuer_name(issuer.name());
  cs.set_holder_subject(holder->Subject());
  cs.set_holder_certificate_serial(holder->SerialHex());
  cs.set_holder_key_sha256(Sha256(holder->SpkiDer()));
  cs.set_kind(st.kind());
  cs.set_rights(st.rights());
  cs.set_uses(st.uses());
  *cs.mutable_valid_from() = ToTimestamp(from);
  *cs.mutable_valid_until() = ToTimestamp(until);
  *cs.mutable_issued_at() = ToTimestamp(now);
  const std::string statement = StatementJson(cs);
  SEMPER_ASSIGN_OR_RETURN(CmsDetachedSigner::Signature sig, d_.signer->Sign(statement, now));
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    tx.exec_prepared0("cr_insert", cs.credential_id(), issuer.id(), holder->SerialHex(),
                      HexEncode(cs.holder_key_sha256()), st.kind(), st.uses(), db::TimeText(from), db::TimeText(until),
                      HexEncode(statement), HexEncode(sig.without_certificates));
    return absl::OkStatus();
  }));
  v1::Credential out;
  out.set_credential_id(cs.credential_id());
  out.set_statement(statement);
  out.set_signature(sig.with_certificates);
  out.set_uses_left(st.uses() == 0 ? -1 : st.uses());
  return out;
}

absl::StatusOr<v1::Credential> NamedCredentials::Get(const std::string& id) {
  if (id.empty() || id.size() > 64) return InvalidField("credential_id", "is required");
  v1::Credential out;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("cr_get", id);
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no credential ", id));
    out.set_credential_id(id);
    out.set_statement(db::Bytes(r[0][0]));
    auto full = d_.signer->WithCertificates(db::Bytes(r[0][1]));
    if (!full.ok()) return full.status();
    out.set_signature(*full);
    out.set_uses_left(r[0][2].as<int>());
    if (!r[0][3].is_null()) *out.mutable_last_used_at() = ToTimestamp(db::FromEpoch(r[0][3].as<double>()));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::RedeemCredentialResponse> NamedCredentials::Redeem(const v1::RedeemCredentialRequest& req,
                                                                      const std::string& acceptor) {
  if (acceptor.empty()) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     "credentials are redeemed by an accepting organisation (a subscriber's client certificate)");
  }
  const absl::Time now = d_.clock();
  SEMPER_ASSIGN_OR_RETURN(CheckedPresentation checked, CheckPresentation(req, acceptor, *d_.trust, now));
  const v1::CredentialStatement& cs = checked.credential;
  // The credential must be exactly as this CA issued it (its signature alone would let another
  // key of the suite's PKI issue one).
  std::string stored;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("cr_statement", cs.credential_id());
    if (r.empty())
      return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no credential ", cs.credential_id()));
    stored = db::Bytes(r[0][0]);
    return absl::OkStatus();
  }));
  if (stored != req.credential_statement()) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                     "the credential is not as this CA issued it (altered or forged)");
  }
  v1::RedeemCredentialResponse out;
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    out.set_redemption_id(StrCat("U-", HexEncode(RandomBytes(12))));
    // Valid, recorded and cleared by one reading of the clock, taken in the transaction (each
    // retry decides at its own time) and never inside a period a clearing statement closed
    // (CaStore::ClearingTime).
    const absl::Time at = d_.store->ClearingTime(tx);
    // Good while the use is recorded: a revocation of the holder is dated after this commits.
    SEMPER_RETURN_IF_ERROR(d_.store->RequireGoodIn(tx, checked.holder->SerialHex(), "the holder's"));
    if (tx.exec_prepared("cr_record_use", out.redemption_id(), cs.credential_id(), acceptor,
                         HexEncode(Sha256(req.presentation())), db::TimeText(at))
            .empty()) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::ALREADY_USED,
                       "this presentation was redeemed before: the holder makes a new one for each use");
    }
    auto taken = tx.exec_prepared("cr_take_use", cs.credential_id(), db::TimeText(at));
    if (taken.empty()) {
      auto why = tx.exec_prepared("cr_why_not", cs.credential_id(), db::TimeText(at));
      if (!why.empty() && !why[0]["valid"].as<bool>()) {
        return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED,
                         StrCat("credential ", cs.credential_id(), " is not valid now"));
      }
      std::string last =
          why.empty() || why[0][2].is_null()
              ? std::string("earlier")
              : absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", db::FromEpoch(why[0][2].as<double>()), absl::UTCTimeZone());
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::ALREADY_USED,
                       StrCat("credential ", cs.credential_id(), " has no use left: all ",
                              why.empty() ? 0 : why[0][1].as<int>(), " were taken (the last at ", last, ")"));
    }
    out.set_uses_left(taken[0]["uses_left"].as<int>());
    *out.mutable_redeemed_at() = ToTimestamp(at);
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace semper::ca
