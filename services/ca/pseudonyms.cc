// Pseudonym issuance, reveals and the keyCompromise cascade (see pseudonyms.h).
#include "services/ca/pseudonyms.h"

#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <regex>

#include "absl/strings/escaping.h"
#include "common/base/files.h"
#include "common/base/log.h"
#include "common/base/proto_json.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/csr.h"
#include "common/crypto/digest.h"
#include "common/crypto/oids.h"
#include "common/crypto/pseudonym_tags.h"
#include "common/crypto/random.h"
#include "common/db/audit.h"
#include "common/db/values.h"
#include "common/server/daemon.h"
#include "common/server/grpc_status.h"
#include "semper/v1/arbiter.pb.h"

namespace semper::ca {
namespace {

absl::StatusOr<std::string> PseudonymName(const v1::PseudonymRequestStatement& st) {
  if (st.kind() == v1::PSEUDONYM_KIND_TRANSACTION) {
    if (!st.name().empty())
      return InvalidField("request.name", "is chosen by the CA for a transaction pseudonym (leave it empty)");
    return StrCat("P-", HexEncode(RandomBytes(8)));
  }
  static const std::regex kName("[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}");
  if (!std::regex_match(st.name(), kName)) {
    return InvalidField("request.name",
                        "a role pseudonym needs a name of 1 to 64 letters, digits, spaces, '.', '_' or '-', "
                        "starting with a letter or digit");
  }
  if (st.name().rfind("P-", 0) == 0)
    return InvalidField("request.name", "must not start with \"P-\" (transaction pseudonyms)");
  return st.name();
}

absl::StatusOr<absl::Duration> Validity(const v1::PseudonymRequestStatement& st) {
  const bool role = st.kind() == v1::PSEUDONYM_KIND_ROLE;
  const absl::Duration fallback = role ? absl::Hours(24 * 365) : absl::Hours(24);
  const absl::Duration most = role ? absl::Hours(24 * 730) : absl::Hours(24 * 30);
  if (st.valid_seconds() < 0 || absl::Seconds(st.valid_seconds()) > most) {
    return InvalidField("request.valid_seconds", role ? "must be at most 2 years for a role pseudonym"
                                                      : "must be at most 30 days for a transaction pseudonym");
  }
  if (st.valid_seconds() > 0 && st.valid_seconds() < 3600)
    return InvalidField("request.valid_seconds", "must be at least one hour");
  return st.valid_seconds() == 0 ? fallback : absl::Seconds(st.valid_seconds());
}

}  // namespace

std::string LinkTag(const SecretData& link_key, const std::string& serial) {
  return HmacSha256(link_key.Reveal(), StrCat("semper-pseudonym-link\n", serial));
}

absl::StatusOr<SecretData> LoadOrCreateLinkKey(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    SEMPER_RETURN_IF_ERROR(WriteFile(path, HexEncode(RandomBytes(32)) + "\n", 0600));
  }
  SEMPER_ASSIGN_OR_RETURN(SecretData hex, SecretData::FromFile(path));
  const std::string_view text = hex.Reveal();
  if (text.size() != 64 || text.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
    return InvalidField("ca.link_key_file", StrCat(path, " must hold 64 hex digits (32 bytes)"));
  }
  return SecretData(absl::HexStringToBytes(AbslView(text)));
}

std::vector<db::PreparedStatement> PseudonymBook::Statements() {
  return {
      {"ps_base",
       "SELECT coalesce(subscriber_id, '') AS subscriber_id, profile FROM ca.certificates WHERE serial = $1"},
      // One request per key at a time, then: never certified, never blocked.
      {"ps_lock_key", "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))"},
      {"ps_key_used",
       R"(SELECT 1 FROM ca.certificates WHERE spki_sha256 = decode($1, 'hex')
          UNION ALL SELECT 1 FROM ca.blocked_keys WHERE spki_sha256 = decode($1, 'hex') LIMIT 1)"},
      // Live pseudonyms under a name, by whose base they were issued.
      // Live pseudonyms under a name (on hold counts: it may be released), one name at a time.
      {"ps_lock_name", "SELECT pg_advisory_xact_lock(hashtextextended($1, 8))"},
      {"ps_name_holders",
       R"(SELECT p.parent_tag, p.tag_scheme, coalesce(p.name_tag, ''::bytea) AS name_tag FROM ca.pseudonyms p JOIN ca.certificates c USING (serial)
          WHERE c.subject = $1 AND c.not_after > now() AND (c.revoked_at IS NULL OR c.revocation_reason = 6))"},
      // The base is still good when its pseudonym is stored: a revocation of the base (which
      // locks its row FOR UPDATE) comes before, and is then seen here, or after, and finds it.
      {"ps_base_good", "SELECT 1 FROM ca.certificates WHERE serial = $1 AND revoked_at IS NULL FOR SHARE"},
      {"ps_cascade_base", "SELECT der FROM ca.certificates WHERE serial = $1"},
      {"ps_base_key_blocked", "SELECT 1 FROM ca.blocked_keys WHERE spki_sha256 = decode($1, 'hex')"},
      // The keyCompromise cascade (RunCascades).
      {"ps_cascades_queued", "SELECT serial FROM ca.pseudonym_cascades ORDER BY attempts, queued_at LIMIT 100"},
      {"ps_cascade_claim", "SELECT 1 FROM ca.pseudonym_cascades WHERE serial = $1 FOR UPDATE SKIP LOCKED"},
      {"ps_cascade_failed",
       "UPDATE ca.pseudonym_cascades SET attempts = attempts + 1, last_error = $2 WHERE serial = $1"},
      {"ps_cascade_done", "DELETE FROM ca.pseudonym_cascades WHERE serial = $1"},
      {"ps_cascade_queue", "INSERT INTO ca.pseudonym_cascades (serial) VALUES ($1) ON CONFLICT DO NOTHING"},
      {"ps_cascades_pending", "SELECT count(*) AS pending FROM ca.pseudonym_cascades"},
      // Pseudonyms of scheme 2 that are still valid (a pseudonym ends no later than its base, so
      // an expired one has no valid descendants).
      {"ps_tagged",
       R"(SELECT p.serial, p.parent_tag, c.spki_sha256
          FROM ca.pseudonyms p JOIN ca.certificates c USING (serial)
          WHERE p.tag_scheme = 2 AND c.not_after > $1::timestamptz)"},
      {"ps_lock_found", "SELECT serial FROM ca.certificates WHERE serial = ANY($1::text[]) ORDER BY serial FOR UPDATE"},
      // A pseudonym found by the cascade: revoked now if good; if on hold or revoked already for
      // another reason, the time stays (as for every revocation) and the reason becomes
      // keyCompromise (RFC 5280 5.3.1).
      {"ps_cascade_revoke",
       R"(UPDATE ca.certificates SET revoked_at = coalesce(revoked_at, $2::timestamptz), revocation_reason = 1
          WHERE serial = $1 AND revocation_reason IS DISTINCT FROM 1)"},
      {"ps_insert",
       R"(WITH c AS (
            INSERT INTO ca.certificates (serial, subscriber_id, profile, subject, spki_sha256, not_before, not_after, der,
                                         issuer)
            VALUES ($1, NULL, 'pseudonym', $2, decode($3, 'hex'), $4::timestamptz, $5::timestamptz, decode($6, 'hex'), $10)
            RETURNING serial)
          INSERT INTO ca.pseudonyms (serial, kind, parent_tag, sealed_link, tag_scheme, name_tag)
          SELECT serial, $7, decode($8, 'hex'), decode($9, 'hex'), 2, nullif(decode($11, 'hex'), ''::bytea) FROM c)"},
      {"ps_target",
       R"(SELECT c.der, p.sealed_link FROM ca.pseudonyms p JOIN ca.certificates c USING (serial) WHERE p.serial = $1)"},
      {"ps_insert_reveal",
       R"(INSERT INTO ca.pseudonym_reveals (serial, case_id, order_json, order_signature, order_sha256, requested_by)
          VALUES ($1, $2, decode($3, 'hex'), decode($4, 'hex'), decode($5, 'hex'), $6)
          RETURNING id, extract(epoch from revealed_at)::float8 AS revealed_at)"},
      {"ps_reveals",
       R"(SELECT id, serial, case_id, order_sha256, extract(epoch from revealed_at)::float8 AS revealed_at, requested_by
          FROM ca.pseudonym_reveals WHERE $1 = '' OR serial = $1 ORDER BY id DESC LIMIT 1000)"},
  };
}

PseudonymBook::PseudonymBook(Options options) : o_(std::move(options)) {}

absl::StatusOr<PseudonymBook::SignedRequest> PseudonymBook::CheckRequest(const v1::IssuePseudonymRequest& req,
                                                                         absl::Time now) const {
  if (req.signature().empty())
    return InvalidField("signature", "a detached CMS signature by the base certificate's key is required");
  auto signers = CmsVerifyDetached(req.signature(), req.request(), *o_.trust, now, KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return FieldError("signature", signers.status());
  if (signers->size() != 1) return InvalidField("signature", "must have exactly one signer: the base certificate");
  SignedRequest out{signers->front().certificate, {}};
  v1::PseudonymRequestStatement& st = out.statement;
  if (!st.ParseFromString(req.request()) || st.type() != "semper-pseudonym-request") {
    return MalformedField("request",
                          "must be a serialized PseudonymRequestStatement of type \"semper-pseudonym-request\"");
  }
  SEMPER_RETURN_IF_ERROR(RequireFresh(st.made_at(), now, "request.made_at"));
  if (st.kind() != v1::PSEUDONYM_KIND_ROLE && st.kind() != v1::PSEUDONYM_KIND_TRANSACTION) {
    return InvalidField("request.kind", "must be ROLE or TRANSACTION");
  }
  return out;
}

absl::StatusOr<std::string> PseudonymBook::SealLink(v1::PseudonymLink link) const {
  // Every sealed link the same length: the plaintext padded to a fixed size.
  const std::string unpadded = StatementJson(link);
  if (unpadded.size() > kLinkPlaintextBytes - 20) return absl::InternalError("a pseudonym link outgrew its padding");
  link.set_padding(std::string(kLinkPlaintextBytes - 20 - unpadded.size(), ' '));
  std::string plaintext = StatementJson(link);
  plaintext.resize(std::max(plaintext.size(), kLinkPlaintextBytes), ' ');
  return CmsEncrypt(plaintext, {*o_.escrow});
}

absl::StatusOr<v1::IssuePseudonymResponse> PseudonymBook::Issue(const v1::IssuePseudonymRequest& req) {
  if (!o_.escrow.has_value()) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::NOT_SUPPORTED,
                     "this CA has no escrow certificate of semper-arbiter (ca.escrow_cert_file): it cannot seal links");
  }
  const absl::Time now = o_.clock();
  SEMPER_ASSIGN_OR_RETURN(SignedRequest signed_request, CheckRequest(req, now));
  const Certificate& base = signed_request.base;
  const v1::PseudonymRequestStatement& st = signed_request.statement;
  const bool shared = st.shared_issuer();
  if (shared && !o_.pki->pseudonym_issuer().has_value()) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::NOT_SUPPORTED,
                     "this CA has no shared pseudonym issuer (its PKI predates it): leave shared_issuer unset");
  }
  const Certificate& issuer = shared ? *o_.pki->pseudonym_issuer() : o_.pki->issuing_ca();
  const PrivateKey& issuer_key = shared ? *o_.pki->pseudonym_issuer_key() : o_.pki->issuing_key();
  SEMPER_ASSIGN_OR_RETURN(std::string name, PseudonymName(st));
  SEMPER_ASSIGN_OR_RETURN(absl::Duration validity, Validity(st));
  auto csr = CertificationRequest::FromDer(st.csr());
  if (!csr.ok()) return FieldError("request.csr", csr.status());
  if (csr->public_key().type() == KeyType::kRsa && EVP_PKEY_get_bits(csr->public_key().evp()) < 3072) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                     "request.csr: RSA keys must have at least 3072 bits");
  }
  // The base must be good now at this CA, and an identity's (active subscriber) or a pseudonym.
  SEMPER_RETURN_IF_ERROR(o_.store->RequireGood(base.SerialHex(), CaStore::kNow, "the base").status());
  std::string subscriber_id, profile;
  SEMPER_RETURN_IF_ERROR(o_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("ps_base", base.SerialHex());
    if (r.empty())
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED, "unknown base certificate");
    subscriber_id = r[0]["subscriber_id"].as<std::string>();
    profile = r[0]["profile"].as<std::string>();
    return absl::OkStatus();
  }));
  // The new pseudonym's tags, from semper-arbiter, which checks the holder's request itself.
  SEMPER_ASSIGN_OR_RETURN(v1::PseudonymTags tags, Tags(req, st.kind() == v1::PSEUDONYM_KIND_ROLE));
  v1::PseudonymLink link;
  link.set_type("semper-pseudonym-link");
  if (profile == "pseudonym") {
    // Its own link stays in its own row: a second reveal order opens it.
    link.set_base_is_pseudonym(true);
  } else if (profile == "signature" && !subscriber_id.empty()) {
    SEMPER_ASSIGN_OR_RETURN(v1::Subscriber s, o_.store->Get(subscriber_id));
    if (s.state() != v1::SUBSCRIBER_STATE_ACTIVE) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE, "the subscriber is not active");
    }
    link.set_subscriber_id(s.id());
    link.set_subscriber_name(s.name());
  } else {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_UNTRUSTED,
                     "pseudonyms are issued on a subscriber's signature certificate or on a pseudonym");
  }

  // The certificate: the pseudonym alone, valid from the hour.
  const int64_t hour = absl::ToUnixSeconds(now) / 3600 * 3600;
  CertificateTemplate t;
  t.subject = {{std::string(oids::kPseudonym), name}, {"CN", name}};
  t.not_before = absl::FromUnixSeconds(hour);
  // Never beyond its base (so that what was issued on an expired certificate has expired too),
  // and not cut to the base's end either: that date, to the second, would name the base.
  t.not_after = t.not_before + validity;
  if (t.not_after > base.not_after()) {
    const int64_t hours = std::max<int64_t>(0, absl::ToInt64Hours(base.not_after() - t.not_before));
    return InvalidField("request.valid_seconds",
                        StrCat("a pseudonym cannot outlive the certificate it is issued on: ask for at most ", hours,
                               " hours (", hours * 3600, " seconds)"));
  }
  t.key_usage = kKuDigitalSignature | kKuNonRepudiation;
  // A TLS client (the pseudonym reads its mail and contracts as itself), never a server: without
  // an EKU, a role pseudonym named "localhost" or "ca.example.com" would pass as a daemon.
  t.extended_key_usage = {"clientAuth"};
  if (!o_.profiles.public_url.empty()) {
    t.crl_urls = {StrCat(o_.profiles.public_url, shared ? "/crl/pseudonyms" : "/crl")};
    t.ocsp_url = StrCat(o_.profiles.public_url, "/ocsp");
  }
  SEMPER_ASSIGN_OR_RETURN(IssuedCertificate issued, IssueCertificateForSpki(t, csr->spki(), issuer, issuer_key));
  link.set_pseudonym_serial(issued.serial_hex);
  link.set_pseudonym_subject(issued.subject);
  link.set_base_serial(base.SerialHex());
  link.set_base_subject(base.Subject());
  *link.mutable_issued_at() = ToTimestamp(now);
  SEMPER_ASSIGN_OR_RETURN(std::string sealed, SealLink(std::move(link)));
  const std::string old_tag = LinkTag(o_.link_key, base.SerialHex());
  const std::string spki = HexEncode(Sha256(issued.spki_der));
  SEMPER_RETURN_IF_ERROR(o_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    if (tx.exec_prepared("ps_base_good", base.SerialHex()).empty()) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED,
                       "the base was revoked while its pseudonym was being issued");
    }
    // A key blocked after a keyCompromise issues nothing more, whichever certificate carries it.
    if (!tx.exec_prepared("ps_base_key_blocked", HexEncode(Sha256(base.SpkiDer()))).empty()) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::CERTIFICATE_REVOKED,
                       "the base's key was reported compromised");
    }
    tx.exec_prepared("ps_lock_key", spki);
    if (!tx.exec_prepared("ps_key_used", spki).empty()) {
      return InvalidField("request.csr",
                          "is for a key that was certified or blocked before: a pseudonym needs a fresh key");
    }
    if (st.kind() == v1::PSEUDONYM_KIND_ROLE) {
      tx.exec_prepared("ps_lock_name", issued.subject);
      for (const auto& r : tx.exec_prepared("ps_name_holders", issued.subject)) {
        const bool same_base = r["tag_scheme"].as<int>() == 2 ? db::Bytes(r["name_tag"]) == tags.name_tag()
                                                              : db::Bytes(r["parent_tag"]) == old_tag;
        if (!same_base) {
          return MakeError(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS,
                           StrCat("the pseudonym \"", name, "\" is held by someone else: choose another name"));
        }
      }
    }
    tx.exec_prepared0("ps_insert", issued.serial_hex, issued.subject, spki, db::TimeText(issued.not_before),
                      db::TimeText(issued.not_after), HexEncode(issued.der),
                      st.kind() == v1::PSEUDONYM_KIND_ROLE ? "role" : "transaction", HexEncode(tags.tag()),
                      HexEncode(sealed), shared ? "pseudonyms" : "ca", HexEncode(tags.name_tag()));
    // Not the base: the audit trail must not link a pseudonym to its holder either.
    return db::AppendAudit(tx, "ca", "semper-ca",
                           {{"pseudonym holder (signed request)", "issue-pseudonym", issued.serial_hex,
                             StrCat("{\"kind\": \"", st.kind() == v1::PSEUDONYM_KIND_ROLE ? "role" : "transaction",
                                    "\", \"issuer\": \"", shared ? "shared" : "operator", "\"}")}});
  }));
  v1::IssuePseudonymResponse out;
  out.set_certificate(issued.der);
  out.set_serial(issued.serial_hex);
  out.add_chain(issuer.Der());
  out.add_chain(o_.pki->root().Der());
  if (auto cert = Certificate::FromDer(issued.der); cert.ok()) out.set_chain_pem(cert->Pem() + issuer.Pem());
  return out;
}

namespace {

// The arbiter's refusal of the holder's request is the holder's error; anything else is ours.
absl::Status ArbiterError(const grpc::Status& called) {
  if (called.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
      called.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    return FromGrpcStatus(called);
  }
  return UpstreamError("semper-arbiter", called);
}

}  // namespace

absl::StatusOr<v1::PseudonymTags> PseudonymBook::Tags(const v1::IssuePseudonymRequest& req, bool role) const {
  if (o_.arbiter_stub == nullptr) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::NOT_SUPPORTED,
                     "this CA knows no semper-arbiter address (ca.arbiter_address): it cannot tag pseudonyms");
  }
  v1::TagPseudonymRequest treq;
  treq.set_request(req.request());
  treq.set_signature(req.signature());
  v1::PseudonymTags tags;
  grpc::Status called = o_.arbiter_stub->TagPseudonym(UpstreamContext(o_.arbiter_deadline).get(), treq, &tags);
  if (!called.ok()) return ArbiterError(called);
  if (tags.tag().size() != 32 || (role ? tags.name_tag().size() != 32 : !tags.name_tag().empty())) {
    return absl::InternalError("semper-arbiter sent pseudonym tags that are not 32 bytes each");
  }
  return tags;
}

absl::StatusOr<std::string> PseudonymBook::CascadeKey(const std::string& certificate_der) const {
  if (o_.arbiter_stub == nullptr) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::NOT_SUPPORTED,
                     "this CA knows no semper-arbiter address (ca.arbiter_address): it cannot cascade");
  }
  v1::DerivePseudonymCascadeKeyRequest req;
  req.set_compromised_certificate(certificate_der);
  req.add_intermediates(o_.pki->issuing_ca().Der());
  if (o_.pki->pseudonym_issuer().has_value()) req.add_intermediates(o_.pki->pseudonym_issuer()->Der());
  v1::PseudonymCascadeKey key;
  grpc::Status called =
      o_.arbiter_stub->DerivePseudonymCascadeKey(UpstreamContext(o_.arbiter_deadline).get(), req, &key);
  if (!called.ok()) return ArbiterError(called);
  if (key.key().size() != 32) return absl::InternalError("semper-arbiter sent a cascade key that is not 32 bytes");
  return key.key();
}

absl::StatusOr<int> PseudonymBook::RunCascades() {
  // What one pass queues (pseudonyms issued on those it found) is done by the next, at once.
  int total = 0;
  for (int pass = 0; pass < 1000; ++pass) {
    bool more = false;
    SEMPER_ASSIGN_OR_RETURN(int revoked, RunCascadePass(&more));
    total += revoked;
    if (!more) break;
  }
  return total;
}

absl::StatusOr<int> PseudonymBook::RunCascadePass(bool* more) {
  *more = false;
  std::vector<std::string> queued;
  SEMPER_RETURN_IF_ERROR(o_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    for (const auto& r : tx.exec_prepared("ps_cascades_queued")) queued.push_back(r["serial"].as<std::string>());
    return absl::OkStatus();
  }));
  int revoked = 0, handled = 0;
  absl::Status first_error;
  for (size_t i = 0; i < queued.size(); ++i) {
    const std::string& base = queued[i];
    std::string failure;
    absl::Status s = o_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
      failure.clear();
      if (tx.exec_prepared("ps_cascade_claim", base).empty()) return absl::OkStatus();  // another replica has it
      auto der = tx.exec_prepared("ps_cascade_base", base);
      absl::StatusOr<std::string> key =
          der.empty() ? absl::NotFoundError(StrCat("no certificate ", base)) : CascadeKey(db::Bytes(der[0]["der"]));
      if (!key.ok()) {
        failure = std::string(key.status().message());
        tx.exec_prepared0("ps_cascade_failed", base, failure);
        return absl::OkStatus();
      }
      // What this base's key finds, then (only if anything) their rows, the order of status
      // changes and the time, as CaStore::Revoke takes them.
      std::vector<std::pair<std::string, std::string>> found;  // serial, its key's SHA-256
      for (const auto& r : tx.exec_prepared("ps_tagged", db::TimeText(o_.clock()))) {
        const std::string spki_sha256 = db::Bytes(r["spki_sha256"]);
        if (db::Bytes(r["parent_tag"]) != PseudonymTag(*key, spki_sha256)) continue;
        found.emplace_back(r["serial"].as<std::string>(), spki_sha256);
      }
      std::string at;
      if (!found.empty()) {
        std::vector<std::string> serials;
        for (const auto& f : found) serials.push_back(f.first);
        tx.exec_prepared("ps_lock_found", db::TextArray(serials));
        tx.exec_prepared("ca_status_changing");
        at = db::TimeText(o_.clock());
      }
      int here = 0;
      for (const auto& [serial, spki_sha256] : found) {
        if (tx.exec_prepared("ps_cascade_revoke", serial, at).affected_rows() > 0) ++here;
        tx.exec_prepared0("ca_block_key", HexEncode(spki_sha256), "keyCompromise of the certificate it was issued on");
        // What was issued on it goes too, whatever its own state.
        tx.exec_prepared0("ps_cascade_queue", serial);
        SEMPER_RETURN_IF_ERROR(db::AppendAudit(
            tx, "ca", "semper-ca",
            {{"keyCompromise cascade", "certificate-revoked", serial, "{\"reason\": 1, \"cascade\": true}"}}));
      }
      tx.exec_prepared0("ps_cascade_done", base);
      revoked += here;
      ++handled;
      return absl::OkStatus();
    });
    if (!s.ok() && first_error.ok()) first_error = s;
    if (!failure.empty() && first_error.ok()) first_error = absl::UnavailableError(failure);
  }
  int64_t pending = 0;
  (void)o_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    pending = tx.exec_prepared("ps_cascades_pending")[0]["pending"].as<int64_t>();
    return absl::OkStatus();
  });
  if (o_.metrics) {
    o_.metrics->SetGauge("semper_ca_pseudonym_cascades_pending",
                         "certificates revoked for keyCompromise whose pseudonyms are still to be revoked", {},
                         static_cast<double>(pending));
  }
  {
    // One log line per new error, not one per second while the arbiter is away.
    absl::MutexLock lock(&cascade_mu_);
    const std::string error = first_error.ok() ? "" : std::string(first_error.message());
    if (error != last_cascade_error_) {
      if (!error.empty()) {
        LogEvent(o_.logger, spdlog::level::warn, "pseudonym.cascade_waiting")
            .With("pending", std::to_string(pending))
            .With("error", error);
      } else {
        LogEvent(o_.logger, spdlog::level::info, "pseudonym.cascade_resumed").With("pending", std::to_string(pending));
      }
      last_cascade_error_ = error;
    }
  }
  if (revoked > 0) {
    LogEvent(o_.logger, spdlog::level::warn, "pseudonym.cascade").With("revoked", std::to_string(revoked));
    if (o_.on_revoked) o_.on_revoked();
  }
  if (!first_error.ok()) return first_error;
  *more = handled > 0 && pending > 0;
  return revoked;
}

absl::StatusOr<v1::RevealPseudonymResponse> PseudonymBook::Reveal(const v1::RevealPseudonymRequest& req,
                                                                  const std::string& requested_by) {
  if (!o_.arbiter.has_value()) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::NOT_SUPPORTED,
                     "this CA knows no semper-arbiter signing certificate (ca.arbiter_cert_file)");
  }
  if (req.order().empty() || req.order_signature().empty()) {
    return InvalidField("order", "the reveal order and semper-arbiter's detached signature over it are required");
  }
  auto signers =
      CmsVerifyDetached(req.order_signature(), req.order(), *o_.trust, o_.clock(), KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return FieldError("order_signature", signers.status());
  if (signers->size() != 1 || signers->front().certificate.Der() != o_.arbiter->Der()) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     "the reveal order is not signed by semper-arbiter: no reveal");
  }
  v1::RevealOrderStatement order;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(req.order(), &order, opts).ok() ||
      order.type() != "semper-reveal-order") {
    return MalformedField("order", "is not a semper-reveal-order statement (proto3 JSON as semper-arbiter signed it)");
  }
  if (order.case_id().empty() || order.pseudonym_certificate_serial().empty()) {
    return InvalidField("order", "names no case or no pseudonym certificate");
  }
  v1::RevealPseudonymResponse out;
  SEMPER_RETURN_IF_ERROR(o_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    auto t = tx.exec_prepared("ps_target", order.pseudonym_certificate_serial());
    if (t.empty()) {
      return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND,
                       StrCat("no pseudonym with serial ", order.pseudonym_certificate_serial()));
    }
    if (!order.pseudonym_certificate_sha256().empty() &&
        Sha256(db::Bytes(t[0]["der"])) != order.pseudonym_certificate_sha256()) {
      return InvalidField("order.pseudonym_certificate_sha256",
                          "does not match the pseudonym certificate with that serial");
    }
    auto r = tx.exec_prepared("ps_insert_reveal", order.pseudonym_certificate_serial(), order.case_id(),
                              HexEncode(req.order()), HexEncode(req.order_signature()), HexEncode(Sha256(req.order())),
                              requested_by);
    out.set_sealed_link(db::Bytes(t[0]["sealed_link"]));
    out.set_pseudonym_serial(order.pseudonym_certificate_serial());
    out.set_case_id(order.case_id());
    out.set_reveal_number(r[0]["id"].as<int64_t>());
    *out.mutable_revealed_at() = ToTimestamp(db::FromEpoch(r[0]["revealed_at"].as<double>()));
    return db::AppendAudit(
        tx, "ca", "semper-ca",
        {{requested_by.empty() ? "semper-arbiter's order" : requested_by, "reveal-pseudonym",
          order.pseudonym_certificate_serial(),
          StrCat("{\"case\": \"", JsonEscape(order.case_id()), "\", \"reveal\": ", out.reveal_number(), "}")}});
  }));
  return out;
}

absl::StatusOr<v1::GetPseudonymRevealsResponse> PseudonymBook::Reveals(const std::string& pseudonym_serial) {
  v1::GetPseudonymRevealsResponse out;
  SEMPER_RETURN_IF_ERROR(o_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    for (const auto& r : tx.exec_prepared("ps_reveals", pseudonym_serial)) {
      v1::PseudonymReveal* x = out.add_reveals();
      x->set_reveal_number(r["id"].as<int64_t>());
      x->set_pseudonym_serial(r["serial"].as<std::string>());
      x->set_case_id(r["case_id"].as<std::string>());
      x->set_order_sha256(db::Bytes(r["order_sha256"]));
      *x->mutable_revealed_at() = ToTimestamp(db::FromEpoch(r["revealed_at"].as<double>()));
      x->set_requested_by(r["requested_by"].as<std::string>());
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace semper::ca
