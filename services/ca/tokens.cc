// Anonymous one-use tokens: kinds, blind issuance, redemption, clearing.
#include "services/ca/tokens.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <future>
#include <optional>
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
#include "services/ca/credentials.h"

namespace semper::ca {
namespace {

// A token of a kind outside its validity (at the check, or when its group is dated).
absl::Status NotRedeemableNow(const std::string& kind_id, absl::Time valid_until) {
  return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED,
                   StrCat("tokens of kind ", kind_id, " are not redeemable now (valid until ",
                          absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", valid_until, absl::UTCTimeZone()), ")"));
}

constexpr char kScheme[] = "RSABSSA-SHA384-PSS-Randomized (RFC 9474)";
constexpr char kKindColumns[] =
    "id, issuer_subscriber_id, (SELECT name FROM ca.subscribers s WHERE s.id = issuer_subscriber_id), name, "
    "coalesce(value_currency, ''), coalesce(value_minor, 0), extract(epoch from valid_from)::float8, "
    "extract(epoch from valid_until)::float8, public_key, statement, signature, private_key";

}  // namespace

std::vector<db::PreparedStatement> TokenBook::Statements() {
  return {
      {"tk_insert_kind",
       R"(INSERT INTO ca.token_kinds (id, issuer_subscriber_id, name, value_currency, value_minor, valid_from, valid_until,
                                     public_key, private_key, statement, signature, request_sha256)
          VALUES ($1, $2, $3, nullif($4, ''), nullif($5::bigint, 0), $6::timestamptz, $7::timestamptz, decode($8, 'hex'),
                  $9, decode($10, 'hex'), decode($11, 'hex'), decode($12, 'hex'))
          ON CONFLICT (request_sha256) WHERE request_sha256 IS NOT NULL DO NOTHING
          RETURNING id)"},
      {"tk_kind_by_request", "SELECT id FROM ca.token_kinds WHERE request_sha256 = decode($1, 'hex')"},
      {"tk_get_kind", StrCat("SELECT ", kKindColumns, " FROM ca.token_kinds WHERE id = $1")},
      {"tk_insert_issuance",
       R"(INSERT INTO ca.token_issuances (kind_id, blinded_sha256) VALUES ($1, decode($2, 'hex')) RETURNING id)"},
      // A group's redemptions: those not spent before are recorded; the others are not returned.
      {"tk_spend",
       R"(INSERT INTO ca.spent_tokens (kind_id, message_sha256, redemption_id, acceptor_subscriber_id, redeemed_at,
                                      acceptor_reference)
          SELECT k, decode(m, 'hex'), r, a, $5::timestamptz, nullif(ref, '')
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $6::text[]) AS u(k, m, r, a, ref)
          ON CONFLICT (kind_id, message_sha256) DO NOTHING
          RETURNING redemption_id, extract(epoch from redeemed_at)::float8)"},
      {"tk_spent",
       R"(SELECT extract(epoch from redeemed_at)::float8 AS at, redemption_id, acceptor_subscriber_id,
                 coalesce(acceptor_reference, '') AS reference
          FROM ca.spent_tokens WHERE kind_id = $1 AND message_sha256 = decode($2, 'hex'))"},
      {"tk_clearing",
       R"(SELECT k.id, k.name, coalesce(k.value_currency, ''), coalesce(k.value_minor, 0), count(*),
                 string_agg(s.redemption_id, E'\n' ORDER BY s.redemption_id)
          FROM ca.spent_tokens s JOIN ca.token_kinds k ON k.id = s.kind_id
          WHERE k.issuer_subscriber_id = $1 AND s.acceptor_subscriber_id = $2
            AND s.redeemed_at >= $3::timestamptz AND s.redeemed_at < $4::timestamptz
          GROUP BY k.id, k.name, k.value_currency, k.value_minor ORDER BY k.id)"},
      {"cr_clearing",
       R"(SELECT 'credential:' || c.kind, c.kind, count(*), string_agg(u.redemption_id, E'\n' ORDER BY u.redemption_id)
          FROM ca.credential_uses u JOIN ca.credentials c ON c.id = u.credential_id
          WHERE c.issuer_subscriber_id = $1 AND u.acceptor_subscriber_id = $2
            AND u.used_at >= $3::timestamptz AND u.used_at < $4::timestamptz
          GROUP BY c.kind ORDER BY c.kind)"},
  };
}

TokenBook::TokenBook(Deps deps) : d_(std::move(deps)) {
  committer_ = std::make_unique<db::GroupCommitter<Pending, absl::StatusOr<v1::RedeemTokenResponse>>>(
      d_.group_commit,
      [this](std::vector<Pending>& group, std::vector<absl::StatusOr<v1::RedeemTokenResponse>>& results) {
        return Decide(group, results);
      });
}

TokenBook::~TokenBook() { committer_->Stop(); }

absl::StatusOr<v1::TokenKind> TokenBook::CreateKind(const v1::CreateTokenKindRequest& req) {
  const absl::Time now = d_.clock();
  SEMPER_ASSIGN_OR_RETURN(v1::Subscriber issuer,
                          SigningEnterprise(*d_.trust, *d_.store, req.request(), req.signature(), now));
  v1::TokenKindRequestStatement st;
  if (!st.ParseFromString(req.request()) || st.type() != "semper-token-kind-request") {
    return MalformedField("request",
                          "must be a serialized TokenKindRequestStatement of type \"semper-token-kind-request\"");
  }
  SEMPER_RETURN_IF_ERROR(RequireFresh(st.made_at(), now, "request.made_at"));
  if (st.name().empty() || st.name().size() > 100) return InvalidField("request.name", "must be 1 to 100 characters");
  const absl::Time until = FromTimestamp(st.valid_until());
  if (until <= now || until > now + absl::Hours(24 * 731)) {
    return InvalidField("request.valid_until", "must be in the future, at most 2 years away");
  }
  SEMPER_RETURN_IF_ERROR(CheckText("request.name", st.name(), 100));
  if (st.has_value() && (!IsCurrencyCode(st.value().currency()) || st.value().minor_units() <= 0)) {
    return InvalidField("request.value", "must be a positive amount in an ISO 4217 currency, or absent");
  }
  // The same signed request again (a retry, or a replay by whoever saw it): the kind it made,
  // not another key.
  // (Keyed by the organisation too: another that signs the same bytes makes its own kind.)
  const std::string request_sha256 = HexEncode(Sha256(StrCat(issuer.id(), "\n", req.request())));
  std::string made_before;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("tk_kind_by_request", request_sha256);
    if (!r.empty()) made_before = r[0][0].as<std::string>();
    return absl::OkStatus();
  }));
  if (!made_before.empty()) return GetKind(made_before);
  {
    absl::MutexLock lock(&keygen_mu_);
    if (making_.contains(request_sha256)) {
      return RateLimited("this request's token kind is being made now; ask again in a second to get it",
                         absl::Seconds(1));
    }
    if (keygen_waiting_ >= kMaxKeygenWaiting) {
      return RateLimited("semper-ca is making keys for other token kinds now; retry in a second", absl::Seconds(1));
    }
    ++keygen_waiting_;
    making_.insert(request_sha256);
  }
  // Unmarked when this call ends, whichever way: after the kind is stored, so that a copy finds
  // it then.
  auto unmark = absl::MakeCleanup([&] {
    absl::MutexLock lock(&keygen_mu_);
    --keygen_waiting_;
    making_.erase(request_sha256);
  });
  // Made and stored between the look above and the mark: found now.
  absl::Status again = d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("tk_kind_by_request", request_sha256);
    if (!r.empty()) made_before = r[0][0].as<std::string>();
    return absl::OkStatus();
  });
  if (!again.ok()) return again;
  if (!made_before.empty()) return GetKind(made_before);
  // Charged to the organisation that signed, too, whatever addresses its requests come from: once
  // per kind made, not per copy and not for a refusal above.
  SEMPER_RETURN_IF_ERROR(AdmitExpensiveCall(StrCat("org:", issuer.id()), "CreateTokenKind", 100));
  absl::StatusOr<PrivateKey> made = absl::UnknownError("not made");
  {
    absl::MutexLock one_at_a_time(&keygen_run_mu_);
    made = PrivateKey::Generate(KeyType::kRsa, 2048);
  }
  SEMPER_ASSIGN_OR_RETURN(PrivateKey key, std::move(made));
  SEMPER_ASSIGN_OR_RETURN(std::string private_pem, key.ToEncryptedPem(*d_.passphrase));
  const std::string spki = key.public_key().Der();
  v1::TokenKindStatement ks;
  ks.set_type("semper-token-kind");
  ks.set_kind_id(StrCat("K-", HexEncode(RandomBytes(8))));
  ks.set_issuer_subscriber_id(issuer.id());
  ks.set_issuer_name(issuer.name());
  ks.set_name(st.name());
  if (st.has_value()) *ks.mutable_value() = st.value();
  *ks.mutable_valid_from() = ToTimestamp(now);
  *ks.mutable_valid_until() = st.valid_until();
  ks.set_public_key_sha256(Sha256(spki));
  ks.set_scheme(kScheme);
  const std::string statement = StatementJson(ks);
  SEMPER_ASSIGN_OR_RETURN(CmsDetachedSigner::Signature sig, d_.signer->Sign(statement, now));
  std::string kind_id = ks.kind_id();
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_prepared("tk_insert_kind", ks.kind_id(), issuer.id(), st.name(), st.value().currency(),
                              st.value().minor_units(), db::TimeText(now), db::TimeText(until), HexEncode(spki),
                              private_pem, HexEncode(statement), HexEncode(sig.without_certificates), request_sha256);
    if (r.empty()) {  // the same request, made at the same moment elsewhere (another replica)
      kind_id = tx.exec_prepared("tk_kind_by_request", request_sha256)[0][0].as<std::string>();
    }
    return absl::OkStatus();
  }));
  return GetKind(kind_id);
}

absl::StatusOr<std::shared_ptr<const TokenBook::Kind>> TokenBook::LoadKind(const std::string& id) {
  {
    absl::MutexLock lock(&kinds_mu_);
    if (auto it = kinds_.find(id); it != kinds_.end()) return it->second;
  }
  // Checked before anything else: libpq would cut an id at a NUL, find the kind, and the id would
  // then fail the group of redemptions it is committed with.
  if (id.empty() || !CheckText("kind_id", id, 64).ok()) {
    return InvalidField("kind_id", "is required: the kind's id as semper-ca gave it (K-...)");
  }
  std::shared_ptr<Kind> kind;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("tk_get_kind", id);
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no token kind ", id));
    v1::TokenKind k;
    k.set_id(r[0][0].as<std::string>());
    k.set_issuer_subscriber_id(r[0][1].as<std::string>());
    k.set_issuer_name(r[0][2].as<std::string>());
    k.set_name(r[0][3].as<std::string>());
    if (!r[0][4].as<std::string>().empty()) {
      k.mutable_value()->set_currency(r[0][4].as<std::string>());
      k.mutable_value()->set_minor_units(r[0][5].as<int64_t>());
    }
    const absl::Time from = db::FromEpoch(r[0][6].as<double>()), until = db::FromEpoch(r[0][7].as<double>());
    *k.mutable_valid_from() = ToTimestamp(from);
    *k.mutable_valid_until() = ToTimestamp(until);
    k.set_public_key(db::Bytes(r[0][8]));
    k.set_statement(db::Bytes(r[0][9]));
    auto full = d_.signer->WithCertificates(db::Bytes(r[0][10]));
    if (!full.ok()) return full.status();
    k.set_signature(*full);
    auto pub = PublicKey::FromDer(k.public_key());
    if (!pub.ok()) return pub.status();
    kind = std::make_shared<Kind>(Kind{k, *pub, r[0][11].as<std::string>(), from, until});
    return absl::OkStatus();
  }));
  absl::MutexLock lock(&kinds_mu_);
  if (kinds_.size() > 10000) kinds_.clear();
  kinds_[id] = kind;
  return std::shared_ptr<const Kind>(kind);
}

absl::StatusOr<PrivateKey> TokenBook::KindKey(const Kind& kind) {
  {
    absl::MutexLock lock(&kinds_mu_);
    if (auto it = keys_.find(kind.record.id()); it != keys_.end()) return *it->second;
  }
  // Decrypting costs a PBKDF2: once per kind and process.
  SEMPER_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::FromPem(kind.private_pem, *d_.passphrase));
  absl::MutexLock lock(&kinds_mu_);
  keys_[kind.record.id()] = std::make_shared<const PrivateKey>(key);
  return key;
}

absl::StatusOr<v1::TokenKind> TokenBook::GetKind(const std::string& id) {
  SEMPER_ASSIGN_OR_RETURN(std::shared_ptr<const Kind> kind, LoadKind(id));
  return kind->record;
}

absl::StatusOr<v1::IssueBlindTokenResponse> TokenBook::IssueBlind(const v1::IssueBlindTokenRequest& req) {
  const absl::Time now = d_.clock();
  SEMPER_ASSIGN_OR_RETURN(v1::Subscriber issuer,
                          SigningEnterprise(*d_.trust, *d_.store, req.request(), req.signature(), now));
  v1::BlindIssueStatement st;
  if (!st.ParseFromString(req.request()) || st.type() != "semper-blind-issue") {
    return MalformedField("request", "must be a serialized BlindIssueStatement of type \"semper-blind-issue\"");
  }
  SEMPER_RETURN_IF_ERROR(RequireFresh(st.made_at(), now, "request.made_at"));
  SEMPER_ASSIGN_OR_RETURN(std::shared_ptr<const Kind> kind, LoadKind(st.kind_id()));
  if (kind->record.issuer_subscriber_id() != issuer.id()) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     StrCat("token kind ", st.kind_id(), " belongs to another issuer"));
  }
  if (now >= kind->valid_until) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED,
                     StrCat("token kind ", st.kind_id(), " has expired"));
  }
  SEMPER_ASSIGN_OR_RETURN(PrivateKey key, KindKey(*kind));
  SEMPER_ASSIGN_OR_RETURN(std::string blind_sig, blind_rsa::BlindSign(key, st.blinded_message()));
  v1::IssueBlindTokenResponse out;
  out.set_blind_signature(blind_sig);
  // Recorded before it leaves: what the CA saw (the blinded message's hash), never the token.
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    out.set_issuance_number(
        tx.exec_prepared1("tk_insert_issuance", st.kind_id(), HexEncode(Sha256(st.blinded_message())))[0]
            .as<int64_t>());
    return absl::OkStatus();
  }));
  return out;
}

void TokenBook::Redeem(const v1::RedeemTokenRequest& req, const std::string& acceptor, Done done) {
  if (acceptor.empty()) {
    return done(MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                          "tokens are redeemed by an accepting organisation (a subscriber's client certificate)"));
  }
  if (req.message().size() < 33 || req.message().size() > 4096) {
    return done(InvalidField("message", "must be the prepared message: 32 random bytes and 1 to 4064 more"));
  }
  auto kind = LoadKind(req.kind_id());
  if (!kind.ok()) return done(kind.status());
  const absl::Time now = d_.clock();
  // After the kind's end, only a retry of a redemption made before it (the same acceptor and
  // reference) is answered, with that redemption; the group decides.
  if (now < (*kind)->valid_from || (now >= (*kind)->valid_until && req.reference().empty())) {
    return done(NotRedeemableNow(req.kind_id(), (*kind)->valid_until));
  }
  if (absl::Status ok = blind_rsa::Verify((*kind)->public_key, req.message(), req.signature()); !ok.ok()) {
    return done(Annotate(ok, StrCat("the token is not one of kind ", req.kind_id())));
  }
  if (absl::Status ok = CheckText("reference", req.reference(), 200); !ok.ok()) return done(ok);
  committer_->Submit(
      Pending{req.kind_id(), HexEncode(Sha256(req.message())), acceptor, req.reference(), (*kind)->valid_until},
      std::move(done));
}

absl::StatusOr<v1::RedeemTokenResponse> TokenBook::Redeem(const v1::RedeemTokenRequest& req,
                                                          const std::string& acceptor) {
  std::promise<absl::StatusOr<v1::RedeemTokenResponse>> decided;
  auto answer = decided.get_future();
  Redeem(req, acceptor, [&decided](absl::StatusOr<v1::RedeemTokenResponse> r) { decided.set_value(std::move(r)); });
  return answer.get();
}

absl::Status TokenBook::Decide(std::vector<Pending>& group,
                               std::vector<absl::StatusOr<v1::RedeemTokenResponse>>& results) {
  return d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    // Decided afresh on every attempt: an attempt that rolled back (a deadlock with another
    // committer, a lost connection) accepted nothing.
    results.assign(group.size(), absl::InternalError("undecided"));
    // Dated by the clock, never inside a period a clearing statement closed (CaStore::ClearingTime).
    const absl::Time at = d_.store->ClearingTime(tx);
    std::vector<bool> decided(group.size(), false);
    // A token spent before (or earlier in this group): its redemption, for the acceptor's retry
    // with the same reference and for the refusal's date.
    auto spent = [&](size_t i) { return tx.exec_prepared("tk_spent", group[i].kind_id, group[i].message_sha256); };
    // The same acceptor with the same reference: a retry of its redemption, which it gets again
    // (the token is still spent once).
    auto retry_of = [&](size_t i, const pqxx::result& before) -> std::optional<v1::RedeemTokenResponse> {
      if (before.empty() || group[i].reference.empty() ||
          before[0]["acceptor_subscriber_id"].as<std::string>() != group[i].acceptor ||
          before[0]["reference"].as<std::string>() != group[i].reference) {
        return std::nullopt;
      }
      v1::RedeemTokenResponse out;
      out.set_outcome(v1::REDEMPTION_OUTCOME_ACCEPTED);
      out.set_redemption_id(before[0]["redemption_id"].as<std::string>());
      *out.mutable_redeemed_at() = ToTimestamp(db::FromEpoch(before[0]["at"].as<double>()));
      return out;
    };
    // The first of the group for a token goes to the database; a repeat within the group is a
    // second use of it.
    absl::flat_hash_map<std::string, size_t> first;
    std::vector<std::string> kinds, hashes, ids, acceptors, references;
    std::vector<size_t> sent;
    for (size_t i = 0; i < group.size(); ++i) {
      if (at >= group[i].kind_valid_until) {  // its kind ran out (while it waited for this group)
        auto again = group[i].reference.empty() ? std::nullopt : retry_of(i, spent(i));
        results[i] = again.has_value() ? absl::StatusOr<v1::RedeemTokenResponse>(*std::move(again))
                                       : NotRedeemableNow(group[i].kind_id, group[i].kind_valid_until);
        decided[i] = true;
        continue;
      }
      if (!first.emplace(StrCat(group[i].kind_id, "\n", group[i].message_sha256), i).second) continue;
      kinds.push_back(group[i].kind_id);
      hashes.push_back(group[i].message_sha256);
      ids.push_back(StrCat("R-", HexEncode(RandomBytes(12))));
      acceptors.push_back(group[i].acceptor);
      references.push_back(group[i].reference);
      sent.push_back(i);
    }
    absl::flat_hash_map<std::string, double> recorded;
    for (const auto& r : tx.exec_prepared("tk_spend", db::TextArray(kinds), db::TextArray(hashes), db::TextArray(ids),
                                          db::TextArray(acceptors), db::TimeText(at), db::TextArray(references))) {
      recorded[r[0].as<std::string>()] = r[1].as<double>();
    }
    for (size_t j = 0; j < sent.size(); ++j) {
      auto it = recorded.find(ids[j]);
      if (it == recorded.end()) continue;
      v1::RedeemTokenResponse out;
      out.set_outcome(v1::REDEMPTION_OUTCOME_ACCEPTED);
      out.set_redemption_id(ids[j]);
      *out.mutable_redeemed_at() = ToTimestamp(db::FromEpoch(it->second));
      results[sent[j]] = std::move(out);
    }
    for (size_t i = 0; i < group.size(); ++i) {
      if (results[i].ok() || decided[i]) continue;
      pqxx::result before = spent(i);
      if (auto again = retry_of(i, before); again.has_value()) {
        results[i] = *std::move(again);
        continue;
      }
      const std::string when = before.empty()
                                   ? "just now"
                                   : absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                                                      db::FromEpoch(before[0]["at"].as<double>()), absl::UTCTimeZone());
      results[i] = MakeError(absl::StatusCode::kFailedPrecondition, v1::ALREADY_USED,
                             StrCat("this token was redeemed before (", when, "): a token is accepted once"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::GetClearingStatementResponse> TokenBook::Clearing(const v1::GetClearingStatementRequest& req) {
  if (req.issuer_subscriber_id().empty() || req.acceptor_subscriber_id().empty()) {
    return InvalidField("issuer_subscriber_id", "the issuer and the acceptor are both required");
  }
  SEMPER_RETURN_IF_ERROR(CheckTimestamp(req.from(), "from"));
  SEMPER_RETURN_IF_ERROR(CheckTimestamp(req.until(), "until"));
  // To the microsecond, rounded down, as redemptions are dated: the bounds signed are the bounds
  // counted.
  const absl::Time from = absl::FromUnixMicros(absl::ToUnixMicros(FromTimestamp(req.from())));
  const absl::Time until = absl::FromUnixMicros(absl::ToUnixMicros(FromTimestamp(req.until())));
  if (until <= from) return InvalidField("until", "must be after `from`");
  v1::ClearingStatement st;
  st.set_type("semper-clearing-statement");
  st.set_issuer_subscriber_id(req.issuer_subscriber_id());
  st.set_acceptor_subscriber_id(req.acceptor_subscriber_id());
  *st.mutable_from() = ToTimestamp(from);
  *st.mutable_until() = ToTimestamp(until);
  // Once the period is closed, every redemption and use dated in it has committed, and none
  // will be dated in it again: the statement is complete, and asking again gives the same one.
  SEMPER_ASSIGN_OR_RETURN(const absl::Time now, d_.store->CloseClearingPeriod(until));
  std::vector<std::string> all;
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    st.clear_lines();
    all.clear();
    for (const auto& r : tx.exec_prepared("tk_clearing", req.issuer_subscriber_id(), req.acceptor_subscriber_id(),
                                          db::TimeText(from), db::TimeText(until))) {
      v1::ClearingLine* line = st.add_lines();
      line->set_kind_id(r[0].as<std::string>());
      line->set_kind_name(r[1].as<std::string>());
      line->set_redemptions(r[4].as<int64_t>());
      if (!r[2].as<std::string>().empty()) {
        line->mutable_value()->set_currency(r[2].as<std::string>());
        line->mutable_value()->set_minor_units(r[3].as<int64_t>() * line->redemptions());
      }
      for (auto id : absl::StrSplit(r[5].as<std::string>(), '\n')) all.emplace_back(id);
    }
    for (const auto& r : tx.exec_prepared("cr_clearing", req.issuer_subscriber_id(), req.acceptor_subscriber_id(),
                                          db::TimeText(from), db::TimeText(until))) {
      v1::ClearingLine* line = st.add_lines();
      line->set_kind_id(r[0].as<std::string>());
      line->set_kind_name(r[1].as<std::string>());
      line->set_redemptions(r[2].as<int64_t>());
      for (auto id : absl::StrSplit(r[3].as<std::string>(), '\n')) all.emplace_back(id);
    }
    return absl::OkStatus();
  }));
  std::sort(all.begin(), all.end());
  std::string joined;
  for (const std::string& id : all) StrAppend(&joined, id, "\n");
  st.set_redemptions_sha256(Sha256(joined));
  *st.mutable_made_at() = ToTimestamp(now);
  v1::GetClearingStatementResponse out;
  out.set_statement(StatementJson(st));
  SEMPER_ASSIGN_OR_RETURN(CmsDetachedSigner::Signature sig, d_.signer->Sign(out.statement(), now));
  out.set_signature(sig.with_certificates);
  return out;
}

}  // namespace semper::ca
