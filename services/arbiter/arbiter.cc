// Insert-once records of exchange decisions.
#include "services/arbiter/arbiter.h"

#include <future>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/random.h"
#include "common/db/values.h"

namespace semper::arbiter {

std::vector<db::PreparedStatement> ExchangeArbiter::Statements() {
  return {
      // A group in request order: the first request for an exchange wins; the statement after it
      // sees rows that concurrent transactions committed meanwhile.
      {"arbiter_insert",
       R"(INSERT INTO arbiter.exchanges (me1_hash, resolved, token_body, token_signature, requested_by)
          SELECT decode(h, 'hex'), r, decode(b, 'hex'), decode(s, 'hex'), q
          FROM unnest($1::text[], $2::boolean[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u(h, r, b, s, q, n)
          ORDER BY n
          ON CONFLICT (me1_hash) DO NOTHING RETURNING encode(me1_hash, 'hex'), encode(token_signature, 'hex'))"},
      {"arbiter_get",
       R"(SELECT encode(me1_hash, 'hex'), resolved, token_body, token_signature FROM arbiter.exchanges
          WHERE me1_hash IN (SELECT decode(x, 'hex') FROM unnest($1::text[]) AS x))"},
  };
}

ExchangeArbiter::ExchangeArbiter(db::ConnectionPool* pool, asw::Party self, const TrustStore* trust,
                                 std::vector<Certificate> intermediates, int committers)
    : pool_(pool), self_(std::move(self)), trust_(trust), intermediates_(std::move(intermediates)) {
  for (int i = 0; i < std::max(1, committers); ++i) committers_.emplace_back([this] { Loop(); });
}

ExchangeArbiter::~ExchangeArbiter() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  for (auto& t : committers_) t.join();
}

void ExchangeArbiter::Loop() {
  for (;;) {
    std::vector<Pending> group;
    {
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.Await(absl::Condition(
          +[](ExchangeArbiter* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->queue_mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;
      while (!queue_.empty() && group.size() < 1000) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    Record(group);
  }
}

void ExchangeArbiter::Record(std::vector<Pending>& group) {
  std::vector<std::string> keys, resolved, bodies, signatures, kinds;
  for (const Pending& p : group) {
    keys.push_back(p.key_hex);
    resolved.push_back(p.resolve ? "t" : "f");
    bodies.push_back(HexEncode(p.token.body()));
    signatures.push_back(HexEncode(p.token.signature()));
    kinds.push_back(p.resolve ? "resolve" : "abort");
  }
  absl::flat_hash_map<std::string, std::string> won;  // key -> signature of the token recorded now
  absl::flat_hash_map<std::string, v1::ArbiterDecision> stored;
  absl::Status s = pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    won.clear();
    stored.clear();
    for (const auto& row : tx.exec_prepared("arbiter_insert", db::TextArray(keys), db::TextArray(resolved),
                                            db::TextArray(bodies), db::TextArray(signatures), db::TextArray(kinds))) {
      won[row[0].as<std::string>()] = row[1].as<std::string>();
    }
    std::vector<std::string> lost;
    for (const Pending& p : group) {
      if (!won.contains(p.key_hex)) lost.push_back(p.key_hex);
    }
    if (lost.empty()) return absl::OkStatus();
    for (const auto& row : tx.exec_prepared("arbiter_get", db::TextArray(lost))) {
      v1::ArbiterDecision d;
      d.set_resolved(row[1].as<bool>());
      d.mutable_token()->set_body(pqxx::binarystring(row[2]).str());
      d.mutable_token()->set_signature(pqxx::binarystring(row[3]).str());
      stored[row[0].as<std::string>()] = std::move(d);
    }
    return absl::OkStatus();
  });
  for (Pending& p : group) {
    if (!s.ok()) {
      p.done(s);
      continue;
    }
    v1::ArbiterDecision d;
    auto w = won.find(p.key_hex);
    if (w != won.end() && w->second == HexEncode(p.token.signature())) {
      d.set_resolved(p.resolve);
      *d.mutable_token() = p.token;
    } else if (auto it = stored.find(p.key_hex); it != stored.end()) {
      d = it->second;
    } else if (w != won.end()) {
      // Another request of this group won: find its token.
      for (const Pending& q : group) {
        if (q.key_hex == p.key_hex && HexEncode(q.token.signature()) == w->second) {
          d.set_resolved(q.resolve);
          *d.mutable_token() = q.token;
        }
      }
    }
    if (!d.has_token()) {
      p.done(absl::InternalError("exchange record vanished"));
    } else {
      p.done(std::move(d));
    }
  }
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
  std::promise<absl::StatusOr<v1::ArbiterDecision>> decided;
  auto answer = decided.get_future();
  {
    absl::MutexLock lock(&queue_mu_);
    queue_.push_back(Pending{HexEncode(r.me1.hash), resolve, std::move(token),
                             [&decided](absl::StatusOr<v1::ArbiterDecision> d) { decided.set_value(std::move(d)); }});
  }
  return answer.get();
}

}  // namespace semper::arbiter
