// Insert-once records of exchange decisions.
#include "services/arbiter/arbiter.h"

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/random.h"

namespace semper::arbiter {

std::vector<db::PreparedStatement> ExchangeArbiter::Statements() {
  return {
      // Two statements, not one: a row inserted concurrently becomes visible to the second.
      {"arbiter_insert",
       R"(INSERT INTO arbiter.exchanges (me1_hash, resolved, token_body, token_signature, requested_by)
          VALUES (decode($1, 'hex'), $2, decode($3, 'hex'), decode($4, 'hex'), $5)
          ON CONFLICT (me1_hash) DO NOTHING RETURNING resolved)"},
      {"arbiter_get", "SELECT resolved, token_body, token_signature FROM arbiter.exchanges WHERE me1_hash = decode($1, 'hex')"},
  };
}

absl::Status ExchangeArbiter::CheckParty(const Certificate& cert, absl::Time now) {
  std::string der = cert.Der();
  {
    absl::MutexLock lock(&mu_);
    if (auto it = valid_until_.find(der); it != valid_until_.end() && now < it->second) return absl::OkStatus();
  }
  auto path = trust_->VerifyPath(cert, intermediates_, now, KeyPurpose::kNonRepudiation);
  if (!path.ok()) return Annotate(path.status(), "party certificate");
  absl::MutexLock lock(&mu_);
  if (valid_until_.size() >= 100000) valid_until_.clear();
  valid_until_[der] = std::min(now + absl::Minutes(1), cert.not_after());
  return absl::OkStatus();
}

absl::StatusOr<v1::ArbiterDecision> ExchangeArbiter::Abort(const v1::AbortRequest& req) {
  SEMPER_ASSIGN_OR_RETURN(asw::ArbiterRequest r, asw::CheckAbort(req, self_.certificate));
  return Decide(r);
}

absl::StatusOr<v1::ArbiterDecision> ExchangeArbiter::Resolve(const v1::ResolveRequest& req) {
  SEMPER_ASSIGN_OR_RETURN(asw::ArbiterRequest r, asw::CheckResolve(req, self_.certificate));
  return Decide(r);
}

absl::StatusOr<v1::ArbiterDecision> ExchangeArbiter::Decide(const asw::ArbiterRequest& r) {
  // Both parties must hold certificates of this suite for signing.
  absl::Time now = absl::Now();
  for (const Certificate* c : {&r.me1.originator, &r.me1.responder}) SEMPER_RETURN_IF_ERROR(CheckParty(*c, now));
  const bool resolve = r.kind == asw::ArbiterRequest::Kind::kResolve;
  SEMPER_ASSIGN_OR_RETURN(v1::SignedBody token, asw::IssueToken(resolve, r.me1_signed, r.me2_signed, self_, now));
  v1::ArbiterDecision out;
  SEMPER_RETURN_IF_ERROR(pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    std::string key = HexEncode(r.me1.hash);
    auto inserted = tx.exec_prepared("arbiter_insert", key, resolve, HexEncode(token.body()), HexEncode(token.signature()),
                                     resolve ? "resolve" : "abort");
    if (!inserted.empty()) {
      out.set_resolved(resolve);
      *out.mutable_token() = token;
      return absl::OkStatus();
    }
    auto row = tx.exec_prepared("arbiter_get", key);
    if (row.empty()) return absl::InternalError("exchange record vanished");
    out.set_resolved(row[0][0].as<bool>());
    out.mutable_token()->set_body(pqxx::binarystring(row[0][1]).str());
    out.mutable_token()->set_signature(pqxx::binarystring(row[0][2]).str());
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace semper::arbiter
