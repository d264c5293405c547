// Insert-once records of exchange decisions.
#include "services/arbiter/arbiter.h"

#include <future>

#include "absl/strings/ascii.h"
#include "common/base/proto_json.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/db/values.h"
#include "common/server/peer.h"

namespace semper::arbiter {

std::vector<db::PreparedStatement> ExchangeArbiter::Statements() {
  return {
      // A group in request order: the first request for an exchange wins; the statement after it
      // sees rows that concurrent transactions committed meanwhile.
      {"arbiter_insert",
       R"(INSERT INTO arbiter.exchanges (me1_hash, resolved, token_body, token_signature, requested_by, affidavit,
                                         affidavit_signature, objection_until)
          SELECT decode(h, 'hex'), r, decode(b, 'hex'), decode(s, 'hex'), q, nullif(decode(a, 'hex'), ''::bytea),
                 nullif(decode(g, 'hex'), ''::bytea), nullif(o, '')::timestamptz
          FROM unnest($1::text[], $2::boolean[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
               WITH ORDINALITY AS u(h, r, b, s, q, a, g, o, n)
          ORDER BY n
          ON CONFLICT (me1_hash) DO NOTHING RETURNING encode(me1_hash, 'hex'), encode(token_signature, 'hex'))"},
      {"arbiter_get",
       R"(SELECT encode(me1_hash, 'hex'), resolved, token_body, token_signature, coalesce(affidavit, ''::bytea),
                 coalesce(affidavit_signature, ''::bytea), extract(epoch from objection_until)::float8,
                 completed_contract IS NOT NULL
          FROM arbiter.exchanges
          WHERE me1_hash IN (SELECT decode(x, 'hex') FROM unnest($1::text[]) AS x))"},
      {"arbiter_lock",
       "SELECT objection_until IS NOT NULL AND objection_until <= $2::timestamptz AS period_over FROM "
       "arbiter.exchanges "
       "WHERE me1_hash = decode($1, 'hex') FOR UPDATE"},
      // A payer's payment belongs to the first of its exchanges naming it that the arbiter decides
      // (keyed by SHA-256 of payer, provider and reference, hex: nothing a party wrote reaches SQL).
      {"arbiter_bind_payments",
       R"(INSERT INTO arbiter.payments (payment_key, me1_hash)
          SELECT decode(k, 'hex'), decode(h, 'hex') FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(k, h, n)
          ORDER BY n ON CONFLICT (payment_key) DO NOTHING)"},
      {"arbiter_payment_owners",
       R"(SELECT encode(payment_key, 'hex'), encode(me1_hash, 'hex') FROM arbiter.payments
          WHERE payment_key IN (SELECT decode(k, 'hex') FROM unnest($1::text[]) AS k))"},
      // Written once: the reversal only while neither an order nor a standard contract is there.
      {"arbiter_reverse",
       R"(UPDATE arbiter.exchanges SET affidavit = decode($2, 'hex'), affidavit_signature = decode($3, 'hex')
          WHERE me1_hash = decode($1, 'hex') AND affidavit IS NULL AND completed_contract IS NULL
                AND objection_until <= $4::timestamptz)"},
      {"arbiter_complete",
       R"(UPDATE arbiter.exchanges SET completed_contract = coalesce(completed_contract, decode($2, 'hex')),
                 affidavit = coalesce(affidavit, nullif(decode($3, 'hex'), ''::bytea)),
                 affidavit_signature = coalesce(affidavit_signature, nullif(decode($4, 'hex'), ''::bytea))
          WHERE me1_hash = decode($1, 'hex'))"},
  };
}

namespace {
// A row of arbiter_get as the decision every request gets.
v1::ArbiterDecision DecisionOf(const pqxx::row& row) {
  v1::ArbiterDecision d;
  d.set_resolved(row[1].as<bool>());
  d.mutable_token()->set_body(pqxx::binarystring(row[2]).str());
  d.mutable_token()->set_signature(pqxx::binarystring(row[3]).str());
  d.set_affidavit(pqxx::binarystring(row[4]).str());
  d.set_affidavit_signature(pqxx::binarystring(row[5]).str());
  if (!row[6].is_null() && d.affidavit().empty() && !row[7].as<bool>()) {
    *d.mutable_payment_order_from() = ToTimestamp(db::FromEpoch(row[6].as<double>()));
  }
  d.set_completed(row[7].as<bool>());
  return d;
}
}  // namespace

absl::StatusOr<v1::ArbiterDecision> ExchangeArbiter::Stored(pqxx::transaction_base& tx, const std::string& key_hex) {
  auto rows = tx.exec_prepared("arbiter_get", db::TextArray({key_hex}));
  if (rows.empty()) return absl::InternalError("exchange record vanished");
  return DecisionOf(rows[0]);
}

ExchangeArbiter::ExchangeArbiter(db::ConnectionPool* pool, asw::Party self, const TrustStore* trust,
                                 std::vector<Certificate> intermediates, std::optional<asw::Party> escrow,
                                 db::GroupCommitOptions group_commit, absl::Duration payment_objection_period,
                                 Clock clock)
    : pool_(pool),
      self_(std::move(self)),
      escrow_(std::move(escrow)),
      intermediates_(intermediates),
      parties_(trust, std::move(intermediates), KeyPurpose::kNonRepudiation),
      payment_objection_period_(payment_objection_period),
      clock_(std::move(clock)) {
  committer_ = std::make_unique<db::GroupCommitter<Pending, absl::StatusOr<v1::ArbiterDecision>>>(
      std::move(group_commit),
      [this](std::vector<Pending>& group, std::vector<absl::StatusOr<v1::ArbiterDecision>>& results) {
        return Record(group, results);
      });
}

ExchangeArbiter::~ExchangeArbiter() { committer_->Stop(); }

absl::Status ExchangeArbiter::Record(std::vector<Pending>& group,
                                     std::vector<absl::StatusOr<v1::ArbiterDecision>>& results) {
  // Payments first: a request for an exchange whose payment another exchange holds decides nothing.
  std::vector<std::string> pay_keys, pay_exchanges;
  for (const Pending& p : group) {
    if (p.payment.has_value()) {
      pay_keys.push_back(p.payment->key_hex);
      pay_exchanges.push_back(p.key_hex);
    }
  }
  absl::flat_hash_map<std::string, std::string> payment_owner;  // payment key -> me1 hash (hex)
  auto owned = [&](const Pending& p) {
    if (!p.payment.has_value()) return true;
    auto it = payment_owner.find(p.payment->key_hex);
    return it != payment_owner.end() && it->second == p.key_hex;
  };
  std::vector<std::string> keys, resolved, bodies, signatures, kinds, affidavits, affidavit_signatures, objections;
  // The rows to insert: every request whose payment (if any) its exchange holds.
  auto collect = [&] {
    for (auto* v : {&keys, &resolved, &bodies, &signatures, &kinds, &affidavits, &affidavit_signatures, &objections}) {
      v->clear();
    }
    for (const Pending& p : group) {
      if (!owned(p)) continue;
      objections.push_back(p.objection_until.has_value() ? db::TimeText(*p.objection_until) : "");
      affidavits.push_back(HexEncode(p.affidavit));
      affidavit_signatures.push_back(HexEncode(p.affidavit_signature));
      keys.push_back(p.key_hex);
      resolved.push_back(p.resolve ? "t" : "f");
      bodies.push_back(HexEncode(p.token.body()));
      signatures.push_back(HexEncode(p.token.signature()));
      kinds.push_back(p.resolve ? "resolve" : "abort");
    }
  };
  absl::flat_hash_map<std::string, std::string> won;  // key -> signature of the token recorded now
  absl::flat_hash_map<std::string, v1::ArbiterDecision> stored;
  absl::Status s = pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    won.clear();
    stored.clear();
    payment_owner.clear();
    if (!pay_keys.empty()) {
      tx.exec_prepared0("arbiter_bind_payments", db::TextArray(pay_keys), db::TextArray(pay_exchanges));
      for (const auto& row : tx.exec_prepared("arbiter_payment_owners", db::TextArray(pay_keys))) {
        payment_owner[row[0].as<std::string>()] = row[1].as<std::string>();
      }
    }
    collect();
    for (const auto& row :
         tx.exec_prepared("arbiter_insert", db::TextArray(keys), db::TextArray(resolved), db::TextArray(bodies),
                          db::TextArray(signatures), db::TextArray(kinds), db::TextArray(affidavits),
                          db::TextArray(affidavit_signatures), db::TextArray(objections))) {
      won[row[0].as<std::string>()] = row[1].as<std::string>();
    }
    std::vector<std::string> lost;
    for (const Pending& p : group) {
      if (owned(p) && !won.contains(p.key_hex)) lost.push_back(p.key_hex);
    }
    if (lost.empty()) return absl::OkStatus();
    for (const auto& row : tx.exec_prepared("arbiter_get", db::TextArray(lost))) {
      stored[row[0].as<std::string>()] = DecisionOf(row);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  for (size_t i = 0; i < group.size(); ++i) {
    const Pending& p = group[i];
    if (!owned(p)) {
      results[i] =
          (MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                     StrCat("payment ", p.payment->reference, " at ", p.payment->provider,
                            " belongs to another exchange of its payer that the arbiter decided first: this one "
                            "orders nothing about it")));
      continue;
    }
    v1::ArbiterDecision d;
    auto w = won.find(p.key_hex);
    if (w != won.end() && w->second == HexEncode(p.token.signature())) {
      d.set_resolved(p.resolve);
      *d.mutable_token() = p.token;
      d.set_affidavit(p.affidavit);
      d.set_affidavit_signature(p.affidavit_signature);
      if (p.objection_until.has_value()) *d.mutable_payment_order_from() = ToTimestamp(*p.objection_until);
    } else if (auto it = stored.find(p.key_hex); it != stored.end()) {
      d = it->second;
    } else if (w != won.end()) {
      // Another request of this group won: find its token.
      for (const Pending& q : group) {
        if (q.key_hex == p.key_hex && HexEncode(q.token.signature()) == w->second) {
          d.set_resolved(q.resolve);
          *d.mutable_token() = q.token;
          d.set_affidavit(q.affidavit);
          d.set_affidavit_signature(q.affidavit_signature);
          if (q.objection_until.has_value()) *d.mutable_payment_order_from() = ToTimestamp(*q.objection_until);
        }
      }
    }
    if (!d.has_token()) {
      results[i] = absl::InternalError("exchange record vanished");
    } else {
      results[i] = std::move(d);
    }
  }
  return absl::OkStatus();
}

void ExchangeArbiter::Abort(const v1::AbortRequest& req, Done done) {
  auto r = asw::CheckAbort(req, self_.certificate);
  if (!r.ok()) return done(r.status());
  Decide(*r, std::move(done));
}

void ExchangeArbiter::Resolve(const v1::ResolveRequest& req, Done done) {
  auto r = asw::CheckResolve(req, self_.certificate);
  if (!r.ok()) return done(r.status());
  Decide(*r, std::move(done));
}

namespace {
absl::StatusOr<v1::ArbiterDecision> Wait(const std::function<void(ExchangeArbiter::Done)>& call) {
  std::promise<absl::StatusOr<v1::ArbiterDecision>> decided;
  auto answer = decided.get_future();
  call([&decided](absl::StatusOr<v1::ArbiterDecision> d) { decided.set_value(std::move(d)); });
  return answer.get();
}
}  // namespace

absl::StatusOr<v1::ArbiterDecision> ExchangeArbiter::Abort(const v1::AbortRequest& req) {
  return Wait([&](Done done) { Abort(req, std::move(done)); });
}

absl::StatusOr<v1::ArbiterDecision> ExchangeArbiter::Resolve(const v1::ResolveRequest& req) {
  return Wait([&](Done done) { Resolve(req, std::move(done)); });
}

absl::StatusOr<v1::ArbiterDecision> ExchangeArbiter::ShowStandardContract(const v1::StandardContract& contract) {
  return Wait([&](Done done) { ShowStandardContract(contract, std::move(done)); });
}

void ExchangeArbiter::ShowStandardContract(const v1::StandardContract& contract, Done done) {
  auto me1 = asw::VerifyStandardContract(contract);
  if (!me1.ok()) return done(me1.status());
  if (me1->arbiter.Der() != self_.certificate.Der()) {
    return done(MakeError(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD,
                          "contract: the exchange names another arbiter"));
  }
  // With no record yet, it is a resolve (the parties are bound anyway); then the record notes it.
  asw::ArbiterRequest r{asw::ArbiterRequest::Kind::kResolve, *me1, contract.me1(), contract.me2()};
  Decide(r, [this, me1 = *me1, contract, done = std::move(done)](absl::StatusOr<v1::ArbiterDecision> d) mutable {
    if (!d.ok()) return done(std::move(d));
    done(Complete(me1, contract));
  });
}

absl::StatusOr<v1::ArbiterDecision> ExchangeArbiter::Complete(const asw::Me1View& me1,
                                                              const v1::StandardContract& contract) {
  const std::string key = HexEncode(me1.hash);
  const bool payment = me1.body.kind() == v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT;
  const absl::Time now = clock_();
  v1::ArbiterDecision out;
  SEMPER_RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    auto lock = tx.exec_prepared("arbiter_lock", key, db::TimeText(now));
    const bool period_over = !lock.empty() && lock[0]["period_over"].as<bool>();
    SEMPER_ASSIGN_OR_RETURN(out, Stored(tx, key));
    if (out.completed()) return absl::OkStatus();
    std::string affidavit, signature;
    if (payment && !out.resolved()) {
      if (!out.affidavit().empty() || period_over) {
        return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                         "the objection period after the originator's abort is over (the payment is ordered "
                         "reversed): a standard contract shown now changes nothing");
      }
      affidavit = StatementJson(asw::PaymentReleaseOnContract(me1, now));
      SEMPER_ASSIGN_OR_RETURN(signature, CmsSignDetached(affidavit, self_.key, self_.certificate, intermediates_));
    }
    tx.exec_prepared0("arbiter_complete", key, HexEncode(contract.SerializeAsString()), HexEncode(affidavit),
                      HexEncode(signature));
    SEMPER_ASSIGN_OR_RETURN(out, Stored(tx, key));
    return absl::OkStatus();
  }));
  // Never the escrowed document: a standard contract is evidence its holders show to others; the
  // document goes only to a party that asks with its own signed Resolve.
  return out;
}

absl::StatusOr<v1::ArbiterDecision> ExchangeArbiter::PaymentAfterAbort(const asw::Me1View& me1, v1::ArbiterDecision d) {
  if (d.resolved() || d.completed() || !d.affidavit().empty() || !d.has_payment_order_from()) return d;
  const absl::Time until = FromTimestamp(d.payment_order_from());
  const absl::Time now = clock_();
  if (now < until) return d;
  v1::ArbiterTokenBody token;
  if (!token.ParseFromString(d.token().body())) return absl::InternalError("stored token unreadable");
  const std::string affidavit = StatementJson(asw::PaymentReversal(me1, FromTimestamp(token.decided_at()), until, now));
  SEMPER_ASSIGN_OR_RETURN(std::string signature,
                          CmsSignDetached(affidavit, self_.key, self_.certificate, intermediates_));
  const std::string key = HexEncode(me1.hash);
  v1::ArbiterDecision out;
  SEMPER_RETURN_IF_ERROR(pool_->Transact([&](pqxx::work& tx) -> absl::Status {
    tx.exec_prepared("arbiter_reverse", key, HexEncode(affidavit), HexEncode(signature), db::TimeText(now));
    SEMPER_ASSIGN_OR_RETURN(out, Stored(tx, key));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::string> ExchangeArbiter::OpenEscrow(const v1::Me1Body& me1) const {
  auto document = CmsDecrypt(me1.document_escrow(), escrow_->key, escrow_->certificate);
  if (!document.ok()) return Annotate(document.status(), "the document escrow");
  if (asw::Hash(*document) != me1.document_sha256()) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                     "the escrowed document is not the one me1 names (SHA-256 differs)");
  }
  return document;
}

void ExchangeArbiter::Decide(const asw::ArbiterRequest& r, Done done) {
  // Both parties must hold certificates of this suite for signing.
  absl::Time now = clock_();
  for (const Certificate* c : {&r.me1.originator, &r.me1.responder}) {
    if (absl::Status s = parties_.Check(*c, now); !s.ok()) return done(Annotate(s, "party certificate"));
  }
  bool resolve = r.kind == asw::ArbiterRequest::Kind::kResolve;
  const bool escrowed = r.me1.body.kind() == v1::EXCHANGE_KIND_DOCUMENT_FOR_RECEIPT;
  std::optional<std::string> document;  // opened once, when a resolve needed it
  if (escrowed && resolve) {
    if (!escrow_.has_value()) {
      return done(MakeError(absl::StatusCode::kUnimplemented, v1::NOT_SUPPORTED,
                            "this arbiter has no escrow key: it cannot resolve an exchange of a document"));
    }
    // An escrow that does not hold the document it names cannot make R whole: T aborts instead
    // (R is not bound, and O gets no substitute receipt).
    auto opened = OpenEscrow(r.me1.body);
    if (opened.ok()) {
      document = *std::move(opened);
    } else {
      resolve = false;
    }
  }
  auto token = asw::IssueToken(resolve, r.me1_signed, r.me2_signed, self_, now);
  if (!token.ok()) return done(token.status());
  Pending pending{HexEncode(r.me1.hash), resolve, *std::move(token), "", "", std::nullopt, std::nullopt};
  const bool payment = r.me1.body.kind() == v1::EXCHANGE_KIND_DELIVERY_FOR_PAYMENT;
  if (payment) {
    // The payer's party (a subscriber by its id, a pseudonym by its certificate) with the payment,
    // case-folded: a stranger naming someone else's payment binds only its own.
    const v1::Payment& pay = r.me1.body.payment();
    pending.payment.emplace(Pending::PaymentKey{
        HexEncode(Sha256(StrCat(PartyOf(r.me1.originator), "\n", absl::AsciiStrToLower(pay.provider()), "\n",
                                absl::AsciiStrToLower(pay.reference())))),
        pay.provider(), pay.reference()});
    if (!resolve) pending.objection_until = now + payment_objection_period_;
  }
  if (auto affidavit = asw::AffidavitFor(r.me1, resolve, now); affidavit.has_value()) {
    pending.affidavit = StatementJson(*affidavit);
    auto signature = CmsSignDetached(pending.affidavit, self_.key, self_.certificate, intermediates_);
    if (!signature.ok()) return done(signature.status());
    pending.affidavit_signature = *std::move(signature);
  }
  Done answer;
  if (escrowed && escrow_.has_value()) {
    // A resolved exchange of a document: R gets the document from the escrow (never stored in
    // clear), whichever request decided.
    answer = [this, me1 = r.me1.body, document = std::move(document),
              done = std::move(done)](absl::StatusOr<v1::ArbiterDecision> d) mutable {
      if (d.ok() && d->resolved()) {
        if (!document.has_value()) {  // an abort request, answered with an earlier resolve
          auto opened = OpenEscrow(me1);
          if (!opened.ok()) return done(opened.status());
          document = *std::move(opened);
        }
        d->set_document(*std::move(document));
      }
      done(std::move(d));
    };
  } else if (payment) {
    // After an abort the payment order waits for the objection period; asked again after it, the
    // reversal order is written once.
    answer = [this, me1 = r.me1, done = std::move(done)](absl::StatusOr<v1::ArbiterDecision> d) mutable {
      if (!d.ok()) return done(std::move(d));
      done(PaymentAfterAbort(me1, *std::move(d)));
    };
  } else {
    answer = std::move(done);
  }
  committer_->Submit(std::move(pending), std::move(answer));
}

}  // namespace semper::arbiter
