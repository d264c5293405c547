// Agreements and guarantees in PostgreSQL.
#include "services/liability/book.h"

#include <google/protobuf/util/json_util.h>

#include <future>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "common/base/log.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/container/container.h"
#include "common/container/money.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/db/audit.h"
#include "common/db/values.h"
#include "semper/v1/arbiter.pb.h"
#include "services/liability/checks.h"
#include "services/liability/statement.h"

namespace semper::liability {
namespace {

constexpr std::pair<v1::GuaranteeState, std::string_view> kGuaranteeStates[] = {
    {v1::GUARANTEE_STATE_LIVE, "live"},
    {v1::GUARANTEE_STATE_SETTLED, "settled"},
    {v1::GUARANTEE_STATE_RELEASED, "released"},
    {v1::GUARANTEE_STATE_EXPIRED, "expired"},
};

std::string GuaranteeStateName(v1::GuaranteeState s) {
  for (const auto& [state, name] : kGuaranteeStates) {
    if (state == s) return std::string(name);
  }
  return "unknown";
}

v1::GuaranteeState GuaranteeStateOf(std::string_view name) {
  for (const auto& [state, n] : kGuaranteeStates) {
    if (n == name) return state;
  }
  return v1::GUARANTEE_STATE_UNSPECIFIED;
}

v1::AgreementState AgreementStateOf(std::string_view name, bool expired) {
  if (name == "terminated") return v1::AGREEMENT_STATE_TERMINATED;
  if (expired) return v1::AGREEMENT_STATE_EXPIRED;
  return name == "suspended" ? v1::AGREEMENT_STATE_SUSPENDED : v1::AGREEMENT_STATE_ACTIVE;
}

v1::Money Money(const std::string& currency, int64_t minor) {
  v1::Money m;
  m.set_currency(currency);
  m.set_minor_units(minor);
  return m;
}

// The facts travel as ErrorInfo metadata (docs/errors.md), the sentence for people beside them.
absl::Status Limit(std::string_view what, std::string_view which, const std::string& currency, int64_t limit,
                   int64_t held, int64_t requested) {
  return MakeError(absl::StatusCode::kFailedPrecondition, v1::LIMIT_EXCEEDED, what,
                   {{"limit", which},
                    {"currency", currency},
                    {"limit_minor_units", StrCat(limit)},
                    {"held_minor_units", StrCat(held)},
                    {"requested_minor_units", StrCat(requested)}});
}

// Rows are read by column name, into these structs, once per row: a column added to a statement
// shifts nothing. Times come as seconds since the epoch; what they decide is decided here,
// against the book's clock, not by the database's now().
constexpr char kAgreementColumns[] =
    "id, buyer, buyer_issuer, buyer_serial, currency, overall_limit, per_transaction_limit, "
    "extract(epoch from valid_from)::float8 AS valid_from, extract(epoch from valid_until)::float8 AS valid_until, "
    "applicable_law, conditions, state, reserved";

struct AgreementRow {
  std::string id, buyer, buyer_issuer, buyer_serial, currency, applicable_law, conditions, state;
  int64_t overall_limit = 0, per_transaction_limit = 0, reserved = 0;
  absl::Time valid_from, valid_until;

  static AgreementRow Read(const pqxx::row& r) {
    AgreementRow a;
    a.id = r["id"].as<std::string>();
    a.buyer = r["buyer"].as<std::string>();
    a.buyer_issuer = r["buyer_issuer"].as<std::string>();
    a.buyer_serial = r["buyer_serial"].as<std::string>();
    a.currency = r["currency"].as<std::string>();
    a.overall_limit = r["overall_limit"].as<int64_t>();
    a.per_transaction_limit = r["per_transaction_limit"].as<int64_t>();
    a.valid_from = db::FromEpoch(r["valid_from"].as<double>());
    a.valid_until = db::FromEpoch(r["valid_until"].as<double>());
    a.applicable_law = r["applicable_law"].as<std::string>();
    a.conditions = r["conditions"].as<std::string>();
    a.state = r["state"].as<std::string>();
    a.reserved = r["reserved"].as<int64_t>();
    return a;
  }
  bool Expired(absl::Time now) const { return valid_until <= now; }
  v1::AgreementRecord Record(absl::Time now) const {
    v1::AgreementRecord out;
    out.set_agreement_id(id);
    out.set_buyer(buyer);
    out.set_buyer_certificate_serial(buyer_serial);
    *out.mutable_overall_limit() = Money(currency, overall_limit);
    *out.mutable_per_transaction_limit() = Money(currency, per_transaction_limit);
    *out.mutable_valid_from() = ToTimestamp(valid_from);
    *out.mutable_valid_until() = ToTimestamp(valid_until);
    out.set_applicable_law(applicable_law);
    out.set_conditions(conditions);
    out.set_state(AgreementStateOf(state, Expired(now)));
    *out.mutable_current_liability() = Money(currency, reserved);
    return out;
  }
};

constexpr char kGuaranteeColumns[] =
    "g.id, g.state, g.statement, g.signature, coalesce(extract(epoch from g.ended_at)::float8, 0) AS ended_at, "
    "g.request_id, g.seller, g.order_sha256, g.amount, a.buyer, a.buyer_issuer, a.currency, "
    "extract(epoch from g.valid_until)::float8 AS valid_until, g.seller_party, g.buyer_party, "
    "coalesce(g.order_content_sha256, '') AS order_content_sha256";

struct GuaranteeRow {
  std::string id, state, statement, signature, request_id, seller, order_sha256, buyer, buyer_issuer, currency,
      seller_party, buyer_party, order_content_sha256;
  int64_t amount = 0;
  double ended_at = 0;  // seconds since the epoch; 0 while live
  absl::Time valid_until;

  static GuaranteeRow Read(const pqxx::row& r) {
    GuaranteeRow g;
    g.id = r["id"].as<std::string>();
    g.state = r["state"].as<std::string>();
    g.statement = db::Bytes(r["statement"]);
    g.signature = db::Bytes(r["signature"]);
    g.ended_at = r["ended_at"].as<double>();
    g.request_id = r["request_id"].as<std::string>();
    g.seller = r["seller"].as<std::string>();
    g.order_sha256 = db::Bytes(r["order_sha256"]);
    g.amount = r["amount"].as<int64_t>();
    g.buyer = r["buyer"].as<std::string>();
    g.buyer_issuer = r["buyer_issuer"].as<std::string>();
    g.currency = r["currency"].as<std::string>();
    g.valid_until = db::FromEpoch(r["valid_until"].as<double>());
    g.seller_party = r["seller_party"].as<std::string>();
    g.buyer_party = r["buyer_party"].as<std::string>();
    g.order_content_sha256 = db::Bytes(r["order_content_sha256"]);
    return g;
  }
  v1::Guarantee Guarantee() const {
    v1::Guarantee g;
    g.set_guarantee_id(id);
    g.set_state(GuaranteeStateOf(state));
    g.set_statement(statement);
    g.set_signature(signature);
    if (ended_at > 0) *g.mutable_ended_at() = ToTimestamp(db::FromEpoch(ended_at));
    return g;
  }
};

// What DecideIn returns when a request id of the group was recorded before (by a retry's first
// attempt): the transaction is rolled back and the group decided again, looking them up.
const absl::Status& RecordedBefore() {
  static const absl::Status* s = new absl::Status(absl::AbortedError("a request id of the group was recorded before"));
  return *s;
}

}  // namespace

std::vector<db::PreparedStatement> LiabilityBook::Statements() {
  return {
      {"liab_expire_old",
       R"(UPDATE liability.agreements SET state = 'terminated'
          WHERE buyer = $1 AND buyer_issuer = $2 AND currency = $3 AND state IN ('active', 'suspended')
            AND valid_until <= $4::timestamptz)"},
      {"liab_insert_agreement",
       StrCat(R"(INSERT INTO liability.agreements (id, buyer, buyer_issuer, buyer_serial, currency, overall_limit,
                   per_transaction_limit, valid_from, valid_until, applicable_law, conditions, state, container, signature)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz, $9::timestamptz, $10, $11, 'active',
                         decode($12, 'hex'), decode($13, 'hex'))
                 ON CONFLICT DO NOTHING RETURNING )",
              kAgreementColumns)},
      {"liab_agreement_of",
       R"(SELECT id FROM liability.agreements WHERE buyer = $1 AND buyer_issuer = $2 AND currency = $3
            AND state IN ('active', 'suspended'))"},
      {"liab_get_agreement",
       StrCat("SELECT ", kAgreementColumns, " FROM liability.agreements WHERE id = $1 FOR UPDATE")},
      {"liab_set_agreement_state",
       StrCat("UPDATE liability.agreements SET state = $2 WHERE id = $1 RETURNING ", kAgreementColumns)},
      {"liab_existing",
       StrCat("SELECT ", kGuaranteeColumns,
              " FROM liability.guarantees g JOIN liability.agreements a ON a.id = g.agreement_id"
              " WHERE g.request_id = ANY($1::text[])"
              "    OR g.order_content_sha256 = ANY(SELECT decode(x, 'hex') FROM unnest($2::text[]) x)")},
      // The agreements a group of requests needs, locked in a fixed order (no deadlocks between
      // committers and replicas).
      {"liab_lock", StrCat("SELECT ", kAgreementColumns, R"(
          FROM liability.agreements a
          JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[], $3::text[])) AS w(b, i, c)
            ON a.buyer = w.b AND a.buyer_issuer = w.i AND a.currency = w.c
          WHERE a.state IN ('active', 'suspended')
          ORDER BY a.id FOR UPDATE OF a)")},
      // The group's new guarantees and their reservations in one statement. A request id that
      // is already recorded (a retry racing its first attempt) is skipped, and only what was
      // inserted is reserved; the caller sees fewer rows and decides the group again carefully.
      {"liab_insert_guarantees",
       R"(WITH ins AS (
            INSERT INTO liability.guarantees (id, request_id, agreement_id, seller, order_sha256, amount, state,
                                              valid_until, statement, signature, seller_party, buyer_party,
                                              order_content_sha256)
            SELECT id, r, a, s, decode(o, 'hex'), m::bigint, 'live', v::timestamptz, decode(st, 'base64'), decode(sg, 'base64'),
                   sp, bp, decode(oc, 'hex')
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                        $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                 AS u(id, r, a, s, o, m, v, st, sg, sp, bp, oc)
            ON CONFLICT DO NOTHING
            RETURNING request_id, agreement_id, amount),
          reserve AS (
            UPDATE liability.agreements a SET reserved = a.reserved + t.total
            FROM (SELECT agreement_id, sum(amount) AS total FROM ins GROUP BY agreement_id) t
            WHERE a.id = t.agreement_id)
          SELECT count(*) AS n FROM ins)"},
      {"liab_end",
       R"(WITH g AS (
            UPDATE liability.guarantees SET state = $2, ended_at = $3::timestamptz
            WHERE id = $1 AND state = 'live' AND valid_until > $3::timestamptz RETURNING agreement_id, amount)
          UPDATE liability.agreements a SET reserved = a.reserved - g.amount FROM g WHERE a.id = g.agreement_id
          RETURNING a.id)"},
      {"liab_get_guarantee",
       StrCat("SELECT ", kGuaranteeColumns,
              " FROM liability.guarantees g JOIN liability.agreements a ON a.id = g.agreement_id WHERE g.id = $1")},
      {"liab_expire_due",
       R"(WITH e AS (
            UPDATE liability.guarantees SET state = 'expired', ended_at = valid_until
            WHERE id IN (SELECT id FROM liability.guarantees WHERE state = 'live' AND valid_until <= $1::timestamptz
                         ORDER BY valid_until LIMIT 10000 FOR UPDATE SKIP LOCKED)
            RETURNING agreement_id, amount),
          s AS (SELECT agreement_id, sum(amount) AS total, count(*) AS n FROM e GROUP BY agreement_id)
          UPDATE liability.agreements a SET reserved = a.reserved - s.total FROM s WHERE a.id = s.agreement_id
          RETURNING s.n)"},
      {"liab_agreements_of_buyer",
       StrCat("SELECT ", kAgreementColumns,
              " FROM liability.agreements WHERE buyer = $1 AND buyer_issuer = $2 ORDER BY created_at DESC")},
      {"liab_guarantees_of_buyer",
       StrCat("SELECT ", kGuaranteeColumns,
              " FROM liability.guarantees g JOIN liability.agreements a ON a.id = g.agreement_id"
              " WHERE a.buyer = $1 AND a.buyer_issuer = $2 ORDER BY g.issued_at DESC LIMIT 100")},
  };
}

LiabilityBook::LiabilityBook(Deps deps)
    : d_(std::move(deps)), buyers_(d_.trust, d_.intermediates, KeyPurpose::kNonRepudiation) {
  committer_ = std::make_unique<db::GroupCommitter<Pending, absl::StatusOr<v1::Guarantee>>>(
      d_.group_commit, [this](std::vector<Pending>& group, std::vector<absl::StatusOr<v1::Guarantee>>& results) {
        return Decide(group, results);
      });
}

LiabilityBook::~LiabilityBook() { committer_->Stop(); }

absl::StatusOr<Certificate> LiabilityBook::VerifyBuyerSignature(const std::string& bytes,
                                                                const std::string& signature) {
  if (signature.empty()) return InvalidField("signature", "a detached CMS signature by the buyer is required");
  auto signers = CmsVerifyDetached(signature, bytes, *d_.trust, d_.clock(), KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return FieldError("signature", signers.status());
  if (signers->size() != 1) return InvalidField("signature", "must have exactly one signer");
  return signers->front().certificate;
}

absl::StatusOr<v1::AgreementRecord> LiabilityBook::RegisterAgreement(const v1::RegisterAgreementRequest& req) {
  const absl::Time now = d_.clock();
  SEMPER_ASSIGN_OR_RETURN(CheckedAgreement checked, CheckAgreement(req.agreement(), *d_.trust, now));
  const Certificate& buyer = checked.buyer;
  const v1::Agreement& a = checked.agreement;
  SEMPER_ASSIGN_OR_RETURN(v1::CertificateStatus status, d_.certificate_status(buyer));
  if (status.state() == v1::CERTIFICATE_STATE_REVOKED) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED,
                     StrCat("the buyer's certificate ", buyer.SerialHex(), " is revoked"));
  }
  if (status.state() != v1::CERTIFICATE_STATE_GOOD) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED,
                     "semper-ca does not know the buyer's certificate");
  }
  const std::string currency = a.overall_limit().currency();
  std::string id = StrCat("A-", HexEncode(RandomBytes(8)));
  v1::AgreementRecord out;
  std::string existing;
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    existing.clear();
    tx.exec_prepared("liab_expire_old", buyer.Subject(), buyer.Issuer(), currency, db::TimeText(now));
    auto r = tx.exec_prepared("liab_insert_agreement", id, buyer.Subject(), buyer.Issuer(), buyer.SerialHex(), currency,
                              a.overall_limit().minor_units(), a.per_transaction_limit().minor_units(),
                              db::TimeText(FromTimestamp(a.valid_from())), db::TimeText(FromTimestamp(a.valid_until())),
                              a.applicable_law(), a.conditions(), HexEncode(req.agreement().content()),
                              HexEncode(req.agreement().signatures(0)));
    if (r.empty()) {
      auto e = tx.exec_prepared("liab_agreement_of", buyer.Subject(), buyer.Issuer(), currency);
      existing = e.empty() ? "" : e[0]["id"].as<std::string>();
      return absl::OkStatus();
    }
    out = AgreementRow::Read(r[0]).Record(now);
    return absl::OkStatus();
  }));
  if (!existing.empty() || out.agreement_id().empty()) {
    return MakeError(
        absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS,
        StrCat("the buyer already holds an agreement in ", currency, " (", existing, "): terminate it first"),
        {{"existing_id", existing}, {"currency", currency}});
  }
  return out;
}

absl::StatusOr<v1::AgreementRecord> LiabilityBook::SetAgreementState(const v1::SetAgreementStateRequest& req) {
  SEMPER_ASSIGN_OR_RETURN(Certificate signer, VerifyBuyerSignature(req.change(), req.signature()));
  v1::AgreementChangeStatement change;
  if (!change.ParseFromString(req.change()) || change.type() != "semper-agreement-change") {
    return MalformedField("change",
                          "must be a serialized AgreementChangeStatement of type \"semper-agreement-change\"");
  }
  const absl::Time now = d_.clock();
  SEMPER_RETURN_IF_ERROR(RequireFresh(change.made_at(), now, "change.made_at"));
  std::string target;
  switch (change.state()) {
    case v1::AGREEMENT_STATE_ACTIVE:
      target = "active";
      break;
    case v1::AGREEMENT_STATE_SUSPENDED:
      target = "suspended";
      break;
    case v1::AGREEMENT_STATE_TERMINATED:
      target = "terminated";
      break;
    default:
      return InvalidField("change.state", "must be ACTIVE (resume), SUSPENDED or TERMINATED");
  }
  v1::AgreementRecord out;
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_prepared("liab_get_agreement", change.agreement_id());
    if (r.empty())
      return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no agreement ", change.agreement_id()));
    const AgreementRow a = AgreementRow::Read(r[0]);
    if (a.buyer != signer.Subject() || a.buyer_issuer != signer.Issuer()) {
      return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                       "only the agreement's buyer may change it");
    }
    if (a.state == "terminated") {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE, "the agreement is terminated (final)");
    }
    if (target == "active" && a.Expired(now)) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED, "the agreement's validity has ended");
    }
    auto u = tx.exec_prepared("liab_set_agreement_state", change.agreement_id(), target);
    out = AgreementRow::Read(u[0]).Record(now);
    return absl::OkStatus();
  }));
  return out;
}

void LiabilityBook::RequestGuarantee(const v1::GuaranteeRequest& in, const Caller& seller, Done done) {
  if (!seller.authenticated) {
    return done(MakeError(absl::StatusCode::kUnauthenticated, v1::UNAUTHENTICATED,
                          "a guarantee is asked for by the seller itself: present your authentication certificate"));
  }
  if (in.request_id().empty() || !CheckText("request_id", in.request_id(), 128).ok()) {
    return done(
        InvalidField("request_id", "is required (at most 128 bytes, no control characters): a retry sends the same"));
  }
  if (in.valid_seconds() < 0 || in.valid_seconds() > 90 * 86400) {
    return done(InvalidField("valid_seconds", "must be between 0 (7 days) and 90 days"));
  }
  if (in.order().empty()) {
    return done(InvalidField("order", "is required: the order as the buyer signed it (a SEMPER container)"));
  }
  // The order, signed by the buyer it names, for this seller: what is guaranteed comes from it.
  v1::SealedContainer sealed;
  if (!sealed.ParseFromString(in.order()) || !sealed.has_signed_()) {
    return done(
        MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, "order: not a signed SEMPER container"));
  }
  OpenOptions options;
  options.trust = d_.trust;
  options.at = d_.clock();
  options.required.set_non_repudiation_of_origin(true);
  options.max_bytes = 1 << 20;
  auto opened = Open(sealed, options);
  if (!opened.ok()) return done(FieldError("order", opened.status()));
  if (!opened->content.template_().has_order()) return done(InvalidField("order", "must hold an Order template"));
  if (opened->origin_signers.size() != 1) return done(InvalidField("order", "must be signed by the buyer alone"));
  const v1::Order& order = opened->content.template_().order();
  const Certificate& signer = opened->origin_signers.front().certificate;
  if (order.buyer().certificate() != signer.Der()) {
    return done(InvalidField("order", StrCat("is signed by ", signer.Subject(), ", not by the buyer it names")));
  }
  auto named_seller = Certificate::FromDer(order.seller().certificate());
  if (!named_seller.ok()) return done(FieldError("order.seller.certificate", named_seller.status()));
  if (PartyOf(*named_seller) != seller.party) {
    return done(
        MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                  StrCat("the order names the seller ", named_seller->Subject(), "; you are ", seller.subject)));
  }
  if (order.amount().minor_units() <= 0 || !IsCurrencyCode(order.amount().currency())) {
    return done(InvalidField("order.amount", "must be a positive amount in an ISO 4217 currency"));
  }
  const std::string order_sha256 = Sha256(in.order());
  if (!in.buyer_certificate().empty() && in.buyer_certificate() != signer.Der()) {
    return done(InvalidField("buyer_certificate", "is not the certificate that signed the order"));
  }
  if (!in.order_sha256().empty() && in.order_sha256() != order_sha256) {
    return done(InvalidField("order_sha256", "is not the SHA-256 of order"));
  }
  if (in.has_amount() && (in.amount().minor_units() != order.amount().minor_units() ||
                          in.amount().currency() != order.amount().currency())) {
    return done(InvalidField("amount", StrCat("differs from the order's ", FormatMoney(order.amount()))));
  }
  v1::GuaranteeRequest req;
  req.set_request_id(in.request_id());
  req.set_valid_seconds(in.valid_seconds());
  req.set_buyer_certificate(signer.Der());
  req.set_order_sha256(order_sha256);
  *req.mutable_amount() = order.amount();
  req.set_seller(seller.subject);
  auto buyer = buyers_.CheckDer(req.buyer_certificate(), d_.clock(), "buyer_certificate");
  if (!buyer.ok()) return done(FieldError("order", Annotate(buyer.status(), "the buyer's certificate")));
  const std::string serial = buyer->SerialHex();
  // Revocations are pushed by semper-ca: a revoked key gets no new guarantee.
  auto revoked = d_.revoked(serial);
  if (!revoked.ok()) return done(revoked.status());
  if (*revoked) {
    return done(MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED,
                          StrCat("the buyer's certificate ", serial, " is revoked")));
  }
  Pending p{req,
            buyer->Subject(),
            buyer->Issuer(),
            serial,
            PartyOf(*buyer),
            seller.party,
            Sha256(sealed.signed_().content()),
            std::nullopt};
  std::string agreement;
  {
    absl::MutexLock lock(&cert_mu_);
    if (auto it = agreement_of_.find(StrCat(p.buyer, "\n", p.buyer_issuer, "\n", req.amount().currency()));
        it != agreement_of_.end()) {
      agreement = it->second;
    }
  }
  if (!agreement.empty()) {
    if (auto pre = SignGuarantee(p, agreement, d_.clock()); pre.ok()) p.presigned = *std::move(pre);
  }
  committer_->Submit(std::move(p), std::move(done));
}

absl::StatusOr<v1::Guarantee> LiabilityBook::RequestGuarantee(const v1::GuaranteeRequest& req, const Caller& seller) {
  std::promise<absl::StatusOr<v1::Guarantee>> decided;
  auto answer = decided.get_future();
  RequestGuarantee(req, seller, [&decided](absl::StatusOr<v1::Guarantee> g) { decided.set_value(std::move(g)); });
  return answer.get();
}

absl::StatusOr<LiabilityBook::Signed> LiabilityBook::SignGuarantee(const Pending& p, const std::string& agreement_id,
                                                                   absl::Time now) const {
  const v1::GuaranteeRequest& q = p.req;
  absl::Time until = now + (q.valid_seconds() > 0 ? absl::Seconds(q.valid_seconds()) : absl::Hours(24 * 7));
  v1::GuaranteeStatement st;
  st.set_type("semper-liability-guarantee");
  st.set_guarantee_id(StrCat("G-", HexEncode(RandomBytes(12))));
  st.set_agreement_id(agreement_id);
  st.set_buyer(p.buyer);
  st.set_buyer_certificate_serial(p.buyer_serial);
  st.set_seller(q.seller());
  st.set_order_sha256(q.order_sha256());
  st.set_order_content_sha256(p.order_content_sha256);
  *st.mutable_amount() = q.amount();
  *st.mutable_issued_at() = ToTimestamp(now);
  *st.mutable_valid_until() = ToTimestamp(until);
  st.set_statement(
      "The buyer is liable for this order under its SEMPER agreement: the amount is within its per-transaction "
      "and overall limits and reserved until the guarantee ends, and its signature key was not revoked.");
  Signed out{agreement_id, GuaranteeStatementJson(st), "", "", st.guarantee_id(), until};
  SEMPER_ASSIGN_OR_RETURN(CmsDetachedSigner::Signature sig, d_.signer->Sign(out.json, now));
  out.stored = std::move(sig.without_certificates);
  out.signature = std::move(sig.with_certificates);
  return out;
}

v1::Guarantee LiabilityBook::WithCertificates(v1::Guarantee g) const {
  if (auto full = d_.signer->WithCertificates(g.signature()); full.ok()) g.set_signature(*std::move(full));
  return g;
}

absl::Status LiabilityBook::DecideIn(pqxx::work& tx, const std::vector<Pending>& group, bool careful,
                                     std::vector<absl::StatusOr<v1::Guarantee>>* results) {
  results->assign(group.size(), absl::UnknownError("undecided"));
  const absl::Time now = d_.clock();
  std::vector<std::string> request_ids, order_hashes, buyers, issuers, currencies;
  for (const Pending& p : group) {
    request_ids.push_back(p.req.request_id());
    order_hashes.push_back(HexEncode(p.order_content_sha256));
    buyers.push_back(p.buyer);
    issuers.push_back(p.buyer_issuer);
    currencies.push_back(p.req.amount().currency());
  }
  // Retries: the same request id answers with what was recorded, if it asked the same.
  struct Recorded {
    v1::Guarantee g;
    std::string seller, order, buyer, issuer, currency;
    int64_t amount;
  };
  absl::flat_hash_map<std::string, Recorded> recorded;
  // Orders guaranteed before (or earlier in this group): order hash -> guarantee id.
  absl::flat_hash_map<std::string, std::string> order_guaranteed;
  if (careful) {
    for (const auto& r : tx.exec_prepared("liab_existing", db::TextArray(request_ids), db::TextArray(order_hashes))) {
      const GuaranteeRow g = GuaranteeRow::Read(r);
      recorded[g.request_id] = Recorded{
          WithCertificates(g.Guarantee()), g.seller, g.order_sha256, g.buyer, g.buyer_issuer, g.currency, g.amount};
      if (!g.order_content_sha256.empty()) order_guaranteed[g.order_content_sha256] = g.id;
    }
  }
  struct Agreement {
    std::string id;
    int64_t overall, per_tx, reserved, delta = 0;
    bool started, unexpired;
    std::string state;
  };
  absl::flat_hash_map<std::string, Agreement> agreements;  // key: buyer \n issuer \n currency
  for (const auto& r :
       tx.exec_prepared("liab_lock", db::TextArray(buyers), db::TextArray(issuers), db::TextArray(currencies))) {
    const AgreementRow a = AgreementRow::Read(r);
    agreements[StrCat(a.buyer, "\n", a.buyer_issuer, "\n", a.currency)] = Agreement{
        a.id, a.overall_limit, a.per_transaction_limit, a.reserved, 0, a.valid_from <= now, !a.Expired(now), a.state};
  }
  {
    absl::MutexLock lock(&cert_mu_);
    if (agreement_of_.size() > 100000) agreement_of_.clear();
    for (const auto& [key, a] : agreements) agreement_of_[key] = a.id;
  }
  std::vector<std::string> ids, rids, aids, sellers, orders, amounts, untils, statements, signatures, seller_parties,
      buyer_parties, order_contents;
  for (size_t i = 0; i < group.size(); ++i) {
    const Pending& p = group[i];
    const v1::GuaranteeRequest& q = p.req;
    auto seen = recorded.find(q.request_id());
    if (seen != recorded.end()) {
      const Recorded& r = seen->second;
      if (r.seller == q.seller() && r.order == q.order_sha256() && r.amount == q.amount().minor_units() &&
          r.currency == q.amount().currency() && r.buyer == p.buyer && r.issuer == p.buyer_issuer) {
        (*results)[i] = r.g;
      } else {
        (*results)[i] = MakeError(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS,
                                  StrCat("request id ", q.request_id(), " was used for another guarantee"),
                                  {{"request_id", q.request_id()}});
      }
      continue;
    }
    auto it = agreements.find(StrCat(p.buyer, "\n", p.buyer_issuer, "\n", q.amount().currency()));
    const int64_t amount = q.amount().minor_units();
    absl::Status refusal;
    if (auto prior = order_guaranteed.find(p.order_content_sha256); prior != order_guaranteed.end()) {
      refusal = MakeError(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS,
                          StrCat("this order is already guaranteed (", prior->second,
                                 "): one guarantee per signed order; retry with its request id"),
                          {{"existing_id", prior->second}});
    } else if (it == agreements.end()) {
      refusal = MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                          StrCat("the buyer has no agreement in ", q.amount().currency(),
                                 ": the buyer registers one first (RegisterAgreement)"),
                          {{"currency", q.amount().currency()}});
    } else if (const Agreement& a = it->second; a.state != "active") {
      refusal = MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                          StrCat("the buyer's agreement ", a.id, " is ", a.state));
    } else if (!a.started || !a.unexpired) {
      refusal = MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED,
                          StrCat("the buyer's agreement ", a.id, a.started ? " has expired" : " is not yet valid"));
    } else if (amount > a.per_tx) {
      refusal = Limit(StrCat(FormatMoney(q.amount()), " is over the per-transaction limit of ",
                             FormatMoney(Money(q.amount().currency(), a.per_tx))),
                      "per_transaction", q.amount().currency(), a.per_tx, a.reserved + a.delta, amount);
    } else if (a.reserved + a.delta + amount > a.overall) {
      refusal = Limit(StrCat(FormatMoney(q.amount()), " would take the buyer's liability over its limit of ",
                             FormatMoney(Money(q.amount().currency(), a.overall)), " (",
                             FormatMoney(Money(q.amount().currency(), a.reserved + a.delta)), " held now)"),
                      "overall", q.amount().currency(), a.overall, a.reserved + a.delta, amount);
    }
    if (!refusal.ok()) {
      // In the first, fast round this may be a retry of a request recorded earlier, whose
      // guarantee must be answered whatever the limits say now: decide the group again with
      // earlier attempts looked up.
      if (!careful) return RecordedBefore();
      (*results)[i] = std::move(refusal);
      continue;
    }
    Agreement& a = it->second;
    a.delta += amount;
    Signed sig;
    if (p.presigned.has_value() && p.presigned->agreement_id == a.id) {
      sig = *p.presigned;
    } else {
      auto signed_now = SignGuarantee(p, a.id, now);
      if (!signed_now.ok()) return signed_now.status();
      sig = *std::move(signed_now);
    }
    v1::Guarantee g;
    g.set_guarantee_id(sig.guarantee_id);
    g.set_state(v1::GUARANTEE_STATE_LIVE);
    g.set_statement(sig.json);
    g.set_signature(sig.signature);
    ids.push_back(sig.guarantee_id);
    rids.push_back(q.request_id());
    aids.push_back(a.id);
    sellers.push_back(q.seller());
    orders.push_back(HexEncode(q.order_sha256()));
    amounts.push_back(std::to_string(amount));
    untils.push_back(db::TimeText(sig.until));
    statements.push_back(absl::Base64Escape(AbslView(sig.json)));
    signatures.push_back(absl::Base64Escape(AbslView(sig.stored)));
    seller_parties.push_back(p.seller_party);
    buyer_parties.push_back(p.buyer_party);
    order_contents.push_back(HexEncode(p.order_content_sha256));
    // A repeated request id within the group gets this same guarantee.
    recorded[q.request_id()] =
        Recorded{g, q.seller(), q.order_sha256(), p.buyer, p.buyer_issuer, q.amount().currency(), amount};
    order_guaranteed[p.order_content_sha256] = sig.guarantee_id;
    (*results)[i] = std::move(g);
  }
  if (!ids.empty()) {
    auto inserted =
        tx.exec_prepared("liab_insert_guarantees", db::TextArray(ids), db::TextArray(rids), db::TextArray(aids),
                         db::TextArray(sellers), db::TextArray(orders), db::TextArray(amounts), db::TextArray(untils),
                         db::TextArray(statements), db::TextArray(signatures), db::TextArray(seller_parties),
                         db::TextArray(buyer_parties), db::TextArray(order_contents));
    if (inserted.at(0)["n"].as<size_t>() != ids.size()) return RecordedBefore();
    // One row for the group the transaction decided: every guarantee in it, in order.
    std::string details = "[";
    for (size_t k = 0; k < ids.size(); ++k) {
      StrAppend(&details, k == 0 ? "" : ",", "{\"guarantee\":\"", ids[k], "\",\"seller\":\"", JsonEscape(sellers[k]),
                "\",\"agreement\":\"", aids[k], "\",\"order_sha256\":\"", orders[k], "\",\"amount_minor\":", amounts[k],
                "}");
    }
    details += "]";
    SEMPER_RETURN_IF_ERROR(db::AppendAudit(
        tx, "liability", "semper-liability",
        {{"sellers", "guarantees", StrCat(ids.front(), ids.size() > 1 ? " and others" : ""), std::move(details)}}));
  }
  return absl::OkStatus();
}

absl::Status LiabilityBook::Decide(std::vector<Pending>& group, std::vector<absl::StatusOr<v1::Guarantee>>& results) {
  // First without looking for earlier attempts of the same request ids (retries are rare): if
  // one turns up at the insert, or a request would be refused (it may be a retry of one that was
  // granted), the group is decided again with them looked up.
  absl::Status s;
  for (int round = 0; round < 3; ++round) {
    s = d_.pool->Transact([&](pqxx::work& tx) { return DecideIn(tx, group, round > 0, &results); });
    if (s != RecordedBefore()) break;
  }
  if (s == RecordedBefore()) s = absl::AbortedError("the same request ids kept arriving concurrently: retry");
  return s;
}

absl::StatusOr<v1::Guarantee> LiabilityBook::EndGuarantee(const std::string& id, v1::GuaranteeState outcome,
                                                          const Caller& caller, const std::string& verdict,
                                                          const std::string& verdict_signature) {
  if (outcome != v1::GUARANTEE_STATE_SETTLED && outcome != v1::GUARANTEE_STATE_RELEASED) {
    return InvalidField("outcome", "must be settled or released");
  }
  if (id.empty()) return InvalidField("guarantee_id", "is required");
  const std::string want = outcome == v1::GUARANTEE_STATE_SETTLED ? "settle" : "release";
  const std::string wanted = want == "settle" ? "settled" : "released";
  const absl::Time now = d_.clock();
  std::optional<v1::VerdictStatement> ruling;
  if (!verdict.empty() || !verdict_signature.empty()) {
    if (!d_.arbiter.has_value()) {
      return MakeError(absl::StatusCode::kUnimplemented, v1::NOT_SUPPORTED,
                       "this tracker knows no arbiter (liability.arbiter_cert_file)");
    }
    SEMPER_ASSIGN_OR_RETURN(v1::VerdictStatement v,
                            CheckVerdict(verdict, verdict_signature, *d_.trust, *d_.arbiter, now));
    bool ordered = false;
    for (const auto& o : v.guarantee_orders()) ordered |= o.guarantee_id() == id && o.action() == want;
    if (!ordered) {
      return MakeError(
          absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
          StrCat("the verdict of case ", v.case_id(), " does not order guarantee ", id, " to be ", wanted));
    }
    ruling = std::move(v);
  } else if (!caller.authenticated) {
    return MakeError(absl::StatusCode::kUnauthenticated, v1::UNAUTHENTICATED,
                     StrCat("only the seller may ", want,
                            " a guarantee (present your authentication certificate), "
                            "or semper-arbiter's verdict"));
  } else {
    // The method is open (a verdict may come from anyone), so the gate lets a certificate whose
    // status is unknown through: the seller's own certificate must be known good here.
    auto revoked = d_.revoked(caller.serial);
    if (!revoked.ok()) return revoked.status();
    if (*revoked) {
      return MakeError(absl::StatusCode::kUnauthenticated, v1::CERTIFICATE_REVOKED,
                       StrCat("your certificate ", caller.serial, " is revoked or on hold"));
    }
  }
  v1::Guarantee out;
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_prepared("liab_get_guarantee", id);
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no guarantee ", id));
    // The parties never change once recorded: checking them before the update is not a race.
    const GuaranteeRow g = GuaranteeRow::Read(r[0]);
    const std::string& seller_party = g.seller_party;
    const std::string& buyer_party = g.buyer_party;
    std::string by;
    if (ruling.has_value()) {
      const std::set<std::string> parties = {PartyOfSubject(ruling->claimant()), PartyOfSubject(ruling->respondent())};
      if (seller_party.empty() || parties != std::set<std::string>{seller_party, buyer_party}) {
        return MakeError(
            absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
            StrCat("the verdict of case ", ruling->case_id(), " is not between guarantee ", id, "'s buyer and seller"));
      }
      // And about this guarantee's order, not another order of the same two parties.
      if (g.order_content_sha256.empty() || ruling->subject_sha256() != g.order_content_sha256) {
        return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                         StrCat("the verdict of case ", ruling->case_id(), " is not about guarantee ", id, "'s order"));
      }
      by = StrCat("semper-arbiter's verdict of case ", ruling->case_id(), " (presented by ",
                  caller.authenticated ? caller.subject : "an anonymous caller", ")");
    } else {
      if (seller_party.empty() || caller.party != seller_party) {
        return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                         StrCat("only the seller guarantee ", id, " was given to may ", want,
                                " it, or semper-arbiter's verdict; you are ", caller.subject));
      }
      by = caller.subject;
    }
    auto ended = tx.exec_prepared("liab_end", id, GuaranteeStateName(outcome), db::TimeText(now));
    const GuaranteeRow after = GuaranteeRow::Read(tx.exec_prepared("liab_get_guarantee", id).at(0));
    out = WithCertificates(after.Guarantee());
    if (ended.affected_rows() == 1) {
      return db::AppendAudit(
          tx, "liability", "semper-liability",
          {{by, outcome == v1::GUARANTEE_STATE_SETTLED ? "guarantee-settled" : "guarantee-released", id, "{}"}});
    }
    if (out.state() == v1::GUARANTEE_STATE_LIVE && after.valid_until <= now) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED,
                       StrCat("guarantee ", id, " expired at ",
                              absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", after.valid_until, absl::UTCTimeZone())));
    }
    return MakeError(
        absl::StatusCode::kFailedPrecondition,
        out.state() == v1::GUARANTEE_STATE_EXPIRED ? v1::EXPIRED : v1::WRONG_STATE,
        StrCat("guarantee ", id, " was already ", GuaranteeStateName(out.state()), " at ",
               absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", FromTimestamp(out.ended_at()), absl::UTCTimeZone())));
  }));
  return out;
}

absl::StatusOr<v1::Guarantee> LiabilityBook::GetGuarantee(const std::string& id, const Caller& caller) {
  if (!caller.authenticated) {
    return MakeError(absl::StatusCode::kUnauthenticated, v1::UNAUTHENTICATED,
                     "a guarantee is shown to its seller and buyer: present your authentication certificate");
  }
  v1::Guarantee out;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("liab_get_guarantee", id);
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no guarantee ", id));
    const GuaranteeRow g = GuaranteeRow::Read(r[0]);
    if (caller.party.empty() || (caller.party != g.seller_party && caller.party != g.buyer_party)) {
      return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                       StrCat("guarantee ", id, " is shown only to its seller and buyer"));
    }
    out = WithCertificates(g.Guarantee());
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::LiabilityStatus> LiabilityBook::GetLiability(const v1::GetLiabilityRequest& req) {
  SEMPER_ASSIGN_OR_RETURN(Certificate signer, VerifyBuyerSignature(req.query(), req.signature()));
  v1::LiabilityQueryStatement q;
  if (!q.ParseFromString(req.query()) || q.type() != "semper-liability-query") {
    return MalformedField("query", "must be a serialized LiabilityQueryStatement of type \"semper-liability-query\"");
  }
  const absl::Time now = d_.clock();
  SEMPER_RETURN_IF_ERROR(RequireFresh(q.made_at(), now, "query.made_at"));
  v1::LiabilityStatus out;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    for (const auto& r : tx.exec_prepared("liab_agreements_of_buyer", signer.Subject(), signer.Issuer())) {
      *out.add_agreements() = AgreementRow::Read(r).Record(now);
    }
    for (const auto& r : tx.exec_prepared("liab_guarantees_of_buyer", signer.Subject(), signer.Issuer())) {
      *out.add_guarantees() = WithCertificates(GuaranteeRow::Read(r).Guarantee());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<int> LiabilityBook::ExpireDue() {
  int n = 0;
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    n = 0;
    for (const auto& r : tx.exec_prepared("liab_expire_due", db::TimeText(d_.clock()))) n += r["n"].as<int>();
    return absl::OkStatus();
  }));
  return n;
}

}  // namespace semper::liability
