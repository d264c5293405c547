// Contracts: SQL, checks and the one decision.
#include "services/notary/contracts.h"

#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/db/values.h"
#include "common/server/peer.h"
#include "services/notary/limits.h"
#include "services/notary/service.h"

namespace semper::notary {

namespace {

v1::ContractAbortStatement Abort(const v1::NotarizedContract& c, std::string reason, absl::Time at) {
  v1::ContractAbortStatement st;
  st.set_type("semper-contract-abort");
  st.set_contract_id(c.id());
  st.set_title(c.title());
  st.set_contract_sha256(c.contract_sha256());
  st.set_reason(std::move(reason));
  *st.mutable_aborted_at() = ToTimestamp(at);
  st.set_nonce(RandomBytes(16));
  return st;
}

absl::Status NotASigner(const Certificate& cert, const std::string& id) {
  return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                   StrCat(cert.Subject(), " is not a signer of a contract ", id, " (check the id and the key)"));
}

v1::ContractState StateOf(const std::string& s) {
  return s == "open"        ? v1::CONTRACT_STATE_OPEN
         : s == "completed" ? v1::CONTRACT_STATE_COMPLETED
                            : v1::CONTRACT_STATE_ABORTED;
}
v1::SignerState SignerStateOf(const std::string& s) {
  return s == "pending"  ? v1::SIGNER_STATE_PENDING
         : s == "signed" ? v1::SIGNER_STATE_SIGNED
                         : v1::SIGNER_STATE_DECLINED;
}

absl::Status WrongState(std::string_view what) {
  return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE, what);
}

// The contract as stored (without its outcome evidence), read in any transaction.
absl::StatusOr<v1::NotarizedContract> Read(pqxx::transaction_base& tx, const std::string& id, int64_t* outcome_index,
                                           absl::Time* decided_at) {
  auto r = tx.exec_prepared("notary_contract", id);
  if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no contract ", id));
  v1::NotarizedContract c;
  c.set_id(id);
  c.set_title(r[0][0].as<std::string>());
  c.set_contract_sha256(db::Bytes(r[0][1]));
  c.set_contract_size(r[0][2].as<uint64_t>());
  *c.mutable_deadline() = ToTimestamp(db::FromEpoch(r[0][3].as<double>()));
  c.set_state(StateOf(r[0][4].as<std::string>()));
  *outcome_index = r[0][5].is_null() ? -1 : r[0][5].as<int64_t>();
  *decided_at = r[0][6].is_null() ? absl::InfiniteFuture() : db::FromEpoch(r[0][6].as<double>());
  for (const auto& s : tx.exec_prepared("notary_contract_signers", id)) {
    v1::ContractSigner* signer = c.add_signers();
    signer->set_subject(s[1].as<std::string>());
    signer->set_certificate_sha256(db::Bytes(s[2]));
    signer->set_state(SignerStateOf(s[3].as<std::string>()));
    // An aborted contract's signatures are not served: they sign nothing that binds.
    if (!s[4].is_null() && c.state() != v1::CONTRACT_STATE_ABORTED) signer->set_signature(db::Bytes(s[4]));
    if (!s[5].is_null()) *signer->mutable_at() = ToTimestamp(db::FromEpoch(s[5].as<double>()));
  }
  return c;
}

}  // namespace

std::vector<db::PreparedStatement> ContractBook::Statements() {
  return {
      {"notary_insert_contract",
       R"(INSERT INTO notary.contracts (id, title, contract, contract_sha256, deadline, state)
          VALUES ($1, $2, decode($3, 'hex'), decode($4, 'hex'), $5::timestamptz, 'open'))"},
      {"notary_insert_signer",
       R"(INSERT INTO notary.contract_signers (contract_id, position, subject, certificate_sha256, state)
          VALUES ($1, $2, $3, decode($4, 'hex'), 'pending'))"},
      {"notary_lock_contract", "SELECT state FROM notary.contracts WHERE id = $1 FOR UPDATE"},
      {"notary_contract",
       R"(SELECT title, contract_sha256, length(contract), extract(epoch from deadline)::float8, state, outcome_index,
                 extract(epoch from decided_at)::float8
          FROM notary.contracts WHERE id = $1)"},
      {"notary_contract_signers",
       R"(SELECT position, subject, certificate_sha256, state, signature, extract(epoch from at)::float8
          FROM notary.contract_signers WHERE contract_id = $1 ORDER BY position)"},
      {"notary_contract_text", "SELECT contract FROM notary.contracts WHERE id = $1"},
      {"notary_contract_signer_subjects",
       "SELECT subject, certificate_sha256 FROM notary.contract_signers WHERE contract_id = $1"},
      {"notary_sign_contract",
       R"(UPDATE notary.contract_signers SET state = 'signed', signature = decode($3, 'hex'), at = $4::timestamptz
          WHERE contract_id = $1 AND position = $2)"},
      // A decliner's signature, if it had signed, is no longer kept or served.
      {"notary_decline_contract",
       R"(UPDATE notary.contract_signers SET state = 'declined', at = $3::timestamptz, signature = NULL
          WHERE contract_id = $1 AND position = $2)"},
      {"notary_unsign_contract",
       R"(UPDATE notary.contract_signers SET state = 'pending', signature = NULL, at = NULL
          WHERE contract_id = $1 AND position = $2)"},
      {"notary_decide_contract",
       R"(UPDATE notary.contracts SET state = $2, outcome_kind = $3, outcome_statement = decode($4, 'hex'),
                 outcome_signature = decode($5, 'hex'), decided_at = $6::timestamptz WHERE id = $1)"},
      {"notary_contract_outcome",
       "SELECT outcome_kind, outcome_statement, outcome_signature FROM notary.contracts WHERE id = $1"},
      {"notary_contract_outcome_index",
       "UPDATE notary.contracts SET outcome_index = $2 WHERE id = $1 AND outcome_index IS NULL"},
  };
}

absl::StatusOr<Certificate> ContractBook::VerifySigner(std::string_view signature, std::string_view content) {
  if (signature.empty()) return InvalidField("signature", "must be a detached CMS signature");
  SEMPER_RETURN_IF_ERROR(CheckSize("signature", signature, kMaxSignatureBytes));
  auto signers = CmsVerifyDetached(signature, content, *d_.trust, d_.clock(), KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return FieldError("signature", signers.status());
  if (signers->size() != 1) return InvalidField("signature", "must have exactly one signer");
  SEMPER_RETURN_IF_ERROR(d_.check_status(signers->front().certificate));
  return signers->front().certificate;
}

absl::StatusOr<v1::NotarizedContract> ContractBook::Create(const v1::CreateContractRequest& req) {
  if (req.contract().empty()) return InvalidField("contract", "is required");
  if (req.contract().size() > d_.max_contract_bytes) {
    return InvalidField("contract", StrCat("must be at most ", d_.max_contract_bytes, " bytes"));
  }
  if (req.title().size() > 200) return InvalidField("title", "must be at most 200 characters");
  if (req.signer_certificates_size() < 2 || req.signer_certificates_size() > 32) {
    return InvalidField("signer_certificates", "must name 2 to 32 signers");
  }
  absl::Time now = d_.clock();
  absl::Time deadline = FromTimestamp(req.deadline());
  if (deadline <= now || deadline > now + absl::Hours(24 * 90)) {
    return InvalidField("deadline", "must be in the future and at most 90 days ahead");
  }
  std::vector<std::pair<std::string, std::string>> signers;  // subject, certificate SHA-256
  for (int i = 0; i < req.signer_certificates_size(); ++i) {
    std::string field = StrCat("signer_certificates[", i, "]");
    SEMPER_RETURN_IF_ERROR(CheckSize(field, req.signer_certificates(i), kMaxCertificateBytes));
    auto cert = Certificate::FromDer(req.signer_certificates(i));
    if (!cert.ok()) return FieldError(field, cert.status());
    auto path = d_.trust->VerifyPath(*cert, d_.intermediates, now, KeyPurpose::kNonRepudiation);
    if (!path.ok()) return FieldError(field, path.status());
    std::string hash = Sha256(cert->Der());
    for (const auto& s : signers) {
      if (s.second == hash) return InvalidField(field, "names the same signer twice");
    }
    signers.emplace_back(cert->Subject(), hash);
  }
  std::string id = StrCat("C-", HexEncode(RandomBytes(8)));
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    tx.exec_prepared0("notary_insert_contract", id, req.title(), HexEncode(req.contract()),
                      HexEncode(Sha256(req.contract())), db::TimeText(deadline));
    for (size_t i = 0; i < signers.size(); ++i) {
      tx.exec_prepared0("notary_insert_signer", id, static_cast<int>(i), signers[i].first,
                        HexEncode(signers[i].second));
    }
    return absl::OkStatus();
  }));
  return Load(id, false);
}

absl::StatusOr<std::string> ContractBook::Text(const std::string& id) {
  std::string text;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("notary_contract_text", id);
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no contract ", id));
    text = db::Bytes(r[0][0]);
    return absl::OkStatus();
  }));
  return text;
}

bool Caller::Is(const std::string& subject, const std::string& sha256) const {
  return (!party.empty() && PartyOfSubject(subject) == party) ||
         (!certificate_sha256.empty() && certificate_sha256 == sha256);
}

absl::Status ContractBook::RequireNamed(const std::string& id, const Certificate& cert) {
  const std::string hash = Sha256(cert.Der());
  bool named = false;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    for (const auto& row : tx.exec_prepared("notary_contract_signer_subjects", id)) named |= db::Bytes(row[1]) == hash;
    return absl::OkStatus();
  }));
  return named ? absl::OkStatus() : NotASigner(cert, id);
}

absl::Status ContractBook::CheckSigner(const std::string& id, const Caller& caller, std::string_view what) {
  if (caller.party.empty()) {
    return MakeError(
        absl::StatusCode::kUnauthenticated, v1::UNAUTHENTICATED,
        StrCat("a contract's ", what, " are shown to its signers: present your authentication certificate"));
  }
  bool signer = false;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    for (const auto& row : tx.exec_prepared("notary_contract_signer_subjects", id)) {
      signer |= caller.Is(row[0].as<std::string>(), db::Bytes(row[1]));
    }
    return absl::OkStatus();
  }));
  // The same answer whether the contract exists or not: nobody else learns which ids are in use.
  if (!signer) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     StrCat("you are not a signer of a contract ", id, ": its ", what,
                            " are shown only to the signers it names (check the id and the wallet you ask with)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ContractBook::TextFor(const std::string& id, const Caller& caller) {
  SEMPER_RETURN_IF_ERROR(CheckSigner(id, caller, "text and hash"));
  return Text(id);
}

absl::StatusOr<v1::NotarizedContract> ContractBook::Load(const std::string& id, bool with_outcome) {
  v1::NotarizedContract c;
  int64_t index = -1;
  absl::Time decided_at;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    SEMPER_ASSIGN_OR_RETURN(c, Read(tx, id, &index, &decided_at));
    return absl::OkStatus();
  }));
  if (!with_outcome || c.state() == v1::CONTRACT_STATE_OPEN) return c;
  if (index < 0) {
    // Decided, but the outcome is not in the log yet: the decider appends it at once; if it
    // crashed in between, whoever asks later does.
    if (d_.clock() - decided_at < absl::Seconds(10)) return c;
    SEMPER_RETURN_IF_ERROR(AppendOutcome(id));
    return Load(id, true);
  }
  SEMPER_ASSIGN_OR_RETURN(*c.mutable_outcome(), d_.log->Get(static_cast<uint64_t>(index), 0));
  return c;
}

absl::Status ContractBook::StoreOutcome(pqxx::work& tx, const std::string& id, const std::string& kind,
                                        const google::protobuf::Message& statement) {
  std::string json = StatementJson(statement);
  SEMPER_ASSIGN_OR_RETURN(std::string signature, d_.signer->Sign(json));
  tx.exec_prepared0("notary_decide_contract", id, kind == "signed-contract" ? "completed" : "aborted", kind,
                    HexEncode(json), HexEncode(signature), db::TimeText(d_.clock()));
  return absl::OkStatus();
}

absl::Status ContractBook::AppendOutcome(const std::string& id) {
  NewEntry entry;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("notary_contract_outcome", id);
    if (r.empty() || r[0][0].is_null()) return WrongState("the contract is not decided");
    entry = {r[0][0].as<std::string>(), db::Bytes(r[0][1]), db::Bytes(r[0][2])};
    return absl::OkStatus();
  }));
  SEMPER_ASSIGN_OR_RETURN(v1::Evidence e, d_.log->AppendOnce(std::move(entry)));
  return d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    tx.exec_prepared0("notary_contract_outcome_index", id, static_cast<int64_t>(e.index()));
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::NotarizedContract> ContractBook::Decide(
    const std::string& id,
    const std::function<absl::StatusOr<bool>(pqxx::work&, const v1::NotarizedContract&)>& change) {
  bool decided = false;
  absl::Status after;
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    decided = false;
    after = absl::OkStatus();
    if (tx.exec_prepared("notary_lock_contract", id).empty()) {
      return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no contract ", id));
    }
    int64_t index = -1;
    absl::Time decided_at;
    SEMPER_ASSIGN_OR_RETURN(v1::NotarizedContract c, Read(tx, id, &index, &decided_at));
    absl::Time deadline = FromTimestamp(c.deadline());
    absl::Time now = d_.clock();
    if (c.state() == v1::CONTRACT_STATE_OPEN && now > deadline) {
      SEMPER_RETURN_IF_ERROR(StoreOutcome(tx, id, "contract-abort", Abort(c, "deadline passed", now)));
      decided = true;
      if (change)
        after = WrongState(StrCat("the deadline passed at ", absl::FormatTime(deadline), "; the contract is aborted"));
      return absl::OkStatus();
    }
    if (!change) return absl::OkStatus();
    SEMPER_ASSIGN_OR_RETURN(decided, change(tx, c));
    return absl::OkStatus();
  }));
  if (decided) SEMPER_RETURN_IF_ERROR(AppendOutcome(id));
  if (!after.ok()) return after;
  return Load(id, true);
}

absl::StatusOr<v1::NotarizedContract> ContractBook::Get(const std::string& id, const Caller& caller) {
  SEMPER_RETURN_IF_ERROR(CheckSigner(id, caller, "state and evidence"));
  SEMPER_ASSIGN_OR_RETURN(v1::NotarizedContract c, Load(id, true));
  absl::Time deadline = FromTimestamp(c.deadline());
  if (c.state() == v1::CONTRACT_STATE_OPEN && d_.clock() > deadline) return Decide(id, nullptr);
  return c;
}

absl::StatusOr<v1::NotarizedContract> ContractBook::Sign(const std::string& id, const std::string& signature,
                                                         const Caller& caller) {
  // An id not in use answers as a signature over other bytes does: nobody learns which ids are.
  absl::StatusOr<std::string> text = Text(id);
  if (!text.ok() && text.status().code() != absl::StatusCode::kNotFound) return text.status();
  // A signature names the contract it is for, not only its text: a copy of it from another
  // contract with the same text (even one its signer declined) signs nothing here. (For an id not
  // in use, bytes nobody can have signed.)
  SEMPER_ASSIGN_OR_RETURN(
      Certificate cert, VerifySigner(signature, text.ok() ? ContractSigningText(id, Sha256(*text)) : RandomBytes(32)));
  if (!text.ok()) return NotASigner(cert, id);
  const std::string hash = Sha256(cert.Der());
  // Whether the signer is named, before anything else: someone else who knows the text decides
  // nothing (not even an abort that is due) and learns nothing (not the deadline).
  SEMPER_RETURN_IF_ERROR(RequireNamed(id, cert));
  return Decide(id, [&](pqxx::work& tx, const v1::NotarizedContract& c) -> absl::StatusOr<bool> {
    int position = -1;
    for (int i = 0; i < c.signers_size(); ++i) {
      if (c.signers(i).certificate_sha256() == hash) position = i;
    }
    if (position < 0) return NotASigner(cert, id);
    const v1::ContractSigner& me = c.signers(position);
    if (me.state() == v1::SIGNER_STATE_SIGNED) {
      // A repeated request. The signature is in the contract's evidence, which its parties show
      // to others: a copy of it must not read the contract. The signer asks as itself.
      if (!caller.Is(me.subject(), me.certificate_sha256())) {
        return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                         StrCat("this signature is already on contract ", id,
                                ": its signer reads the contract as itself (TLS client certificate, GetContract)"));
      }
      return false;
    }
    if (c.state() != v1::CONTRACT_STATE_OPEN) {
      return WrongState(
          StrCat("the contract is already ", c.state() == v1::CONTRACT_STATE_COMPLETED ? "completed" : "aborted"));
    }
    if (me.state() == v1::SIGNER_STATE_DECLINED) return WrongState("this signer declined");
    absl::Time now = d_.clock();
    tx.exec_prepared0("notary_sign_contract", id, position, HexEncode(signature), db::TimeText(now));
    for (int i = 0; i < c.signers_size(); ++i) {
      if (i != position && c.signers(i).state() != v1::SIGNER_STATE_SIGNED) return false;
    }
    // Signatures stored by an earlier version covered the text only (a copy of one from another
    // contract would do): each must name this contract, or its signer signs again.
    bool all_bind = true;
    const std::string binding = ContractSigningText(id, c.contract_sha256());
    for (int i = 0; i < c.signers_size(); ++i) {
      if (i == position) continue;
      const v1::ContractSigner& other = c.signers(i);
      auto v = CmsVerifyDetached(other.signature(), binding, *d_.trust, FromTimestamp(other.at()),
                                 KeyPurpose::kNonRepudiation);
      if (!v.ok() || v->size() != 1 || Sha256(v->front().certificate.Der()) != other.certificate_sha256()) {
        tx.exec_prepared0("notary_unsign_contract", id, i);
        all_bind = false;
      }
    }
    if (!all_bind) return false;
    // The last signature: seal the contract with every signature and a time-stamp.
    v1::SignedContractStatement st;
    st.set_type("semper-signed-contract");
    st.set_contract_id(id);
    st.set_title(c.title());
    st.set_contract_sha256(c.contract_sha256());
    for (int i = 0; i < c.signers_size(); ++i) {
      v1::ContractSigner* s = st.add_signers();
      *s = c.signers(i);
      if (i == position) {
        s->set_state(v1::SIGNER_STATE_SIGNED);
        s->set_signature(signature);
        *s->mutable_at() = ToTimestamp(now);
      }
    }
    SEMPER_ASSIGN_OR_RETURN(std::string token, d_.time_stamp(c.contract_sha256()));
    st.set_time_stamp_token(token);
    *st.mutable_completed_at() = ToTimestamp(now);
    st.set_nonce(RandomBytes(16));
    SEMPER_RETURN_IF_ERROR(StoreOutcome(tx, id, "signed-contract", st));
    return true;
  });
}

absl::StatusOr<v1::NotarizedContract> ContractBook::Decline(const std::string& id, const std::string& reason,
                                                            const std::string& signature) {
  if (reason.size() > 500) return InvalidField("reason", "must be at most 500 characters");
  SEMPER_ASSIGN_OR_RETURN(Certificate cert, VerifySigner(signature, StrCat("semper-decline:", id, ":", reason)));
  const std::string hash = Sha256(cert.Der());
  // Whether the decliner is named, before anything else: someone else learns nothing (not that
  // the id is in use, not its deadline) and decides nothing (not even an abort that is due).
  SEMPER_RETURN_IF_ERROR(RequireNamed(id, cert));
  return Decide(id, [&](pqxx::work& tx, const v1::NotarizedContract& c) -> absl::StatusOr<bool> {
    int position = -1;
    for (int i = 0; i < c.signers_size(); ++i) {
      if (c.signers(i).certificate_sha256() == hash) position = i;
    }
    if (position < 0) return NotASigner(cert, id);
    if (c.state() == v1::CONTRACT_STATE_ABORTED) return false;  // already aborted: same outcome
    if (c.state() == v1::CONTRACT_STATE_COMPLETED) return WrongState("the contract is already completed");
    absl::Time now = d_.clock();
    tx.exec_prepared0("notary_decline_contract", id, position, db::TimeText(now));
    SEMPER_RETURN_IF_ERROR(
        StoreOutcome(tx, id, "contract-abort",
                     Abort(c, StrCat("declined by ", cert.Subject(), reason.empty() ? "" : ": ", reason), now)));
    return true;
  });
}

}  // namespace semper::notary
