// Certified mail: SQL, checks and the one decision.
#include "services/notary/mail.h"

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

v1::MailState StateOf(const std::string& s) {
  return s == "waiting"     ? v1::MAIL_STATE_WAITING
         : s == "delivered" ? v1::MAIL_STATE_DELIVERED
                            : v1::MAIL_STATE_NOT_DELIVERED;
}

absl::Status WrongState(std::string_view what) {
  return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE, what);
}

std::string ReceiptText(const std::string& id, const std::string& sha256) {
  return StrCat("semper-receipt:", id, ":", HexEncode(sha256));
}

v1::MailNonDeliveryStatement NonDelivery(const v1::CertifiedMail& m, absl::Time at) {
  v1::MailNonDeliveryStatement st;
  st.set_type("semper-mail-non-delivery");
  st.set_mail_id(m.id());
  st.set_recipient_subject(m.recipient_subject());
  st.set_message_sha256(m.message_sha256());
  *st.mutable_deadline() = m.deadline();
  *st.mutable_declared_at() = ToTimestamp(at);
  st.set_nonce(RandomBytes(16));
  return st;
}

}  // namespace

std::vector<db::PreparedStatement> MailRoom::Statements() {
  return {
      {"notary_insert_mail",
       R"(INSERT INTO notary.mails (id, sender_subject, recipient_subject, recipient_subscriber, message, message_sha256,
                                    origin_signature, deadline, state, submission_statement, submission_signature,
                                    sender_party, message_once)
          VALUES ($1, $2, $3, $4, decode($5, 'hex'), decode($6, 'hex'), decode($7, 'hex'), $8::timestamptz, 'waiting',
                  decode($9, 'hex'), decode($10, 'hex'), $11, decode($6, 'hex')))"},
      {"notary_mail_answer_size",
       R"(SELECT length(message) + 2 * length(origin_signature) + 2 * length(submission_statement) FROM notary.mails
          WHERE id = $1)"},
      {"notary_mail_by_message", "SELECT id FROM notary.mails WHERE message_sha256 = decode($1, 'hex')"},
      {"notary_mail_parties",
       "SELECT sender_party, sender_subject, recipient_subscriber FROM notary.mails WHERE id = $1"},
      {"notary_mail",
       R"(SELECT sender_subject, recipient_subject, message_sha256, length(message), extract(epoch from deadline)::float8,
                 state, submission_index, outcome_index, extract(epoch from decided_at)::float8, recipient_subscriber,
                 extract(epoch from created_at)::float8
          FROM notary.mails WHERE id = $1)"},
      {"notary_lock_mail", "SELECT state FROM notary.mails WHERE id = $1 FOR UPDATE"},
      {"notary_mail_message", "SELECT message, origin_signature FROM notary.mails WHERE id = $1"},
      {"notary_decide_mail",
       R"(UPDATE notary.mails SET state = $2, outcome_kind = $3, outcome_statement = decode($4, 'hex'),
                 outcome_signature = decode($5, 'hex'), decided_at = $6::timestamptz WHERE id = $1)"},
      {"notary_mail_pending",
       R"(SELECT submission_statement, submission_signature, submission_index, outcome_kind, outcome_statement,
                 outcome_signature, outcome_index FROM notary.mails WHERE id = $1)"},
      {"notary_mail_submission_index",
       "UPDATE notary.mails SET submission_index = $2 WHERE id = $1 AND submission_index IS NULL"},
      {"notary_mail_outcome_index",
       "UPDATE notary.mails SET outcome_index = $2 WHERE id = $1 AND outcome_index IS NULL"},
  };
}

absl::StatusOr<v1::CertifiedMail> MailRoom::Deposit(const v1::DepositMailRequest& req) {
  if (req.enveloped_message().empty()) return InvalidField("enveloped_message", "is required");
  if (req.enveloped_message().size() > d_.max_message_bytes) {
    return InvalidField("enveloped_message", StrCat("must be at most ", d_.max_message_bytes, " bytes"));
  }
  SEMPER_RETURN_IF_ERROR(CheckSize("origin_signature", req.origin_signature(), kMaxSignatureBytes));
  SEMPER_RETURN_IF_ERROR(CheckSize("recipient_certificate", req.recipient_certificate(), kMaxCertificateBytes));
  absl::Time now = d_.clock();
  absl::Time deadline = FromTimestamp(req.deadline());
  if (deadline <= now || deadline > now + absl::Hours(24 * 90)) {
    return InvalidField("deadline", "must be in the future and at most 90 days ahead");
  }
  auto recipient = Certificate::FromDer(req.recipient_certificate());
  if (!recipient.ok()) return FieldError("recipient_certificate", recipient.status());
  auto recipient_path = d_.trust->VerifyPath(*recipient, d_.intermediates, now, KeyPurpose::kEncryption);
  if (!recipient_path.ok()) return FieldError("recipient_certificate", recipient_path.status());
  auto subscriber = recipient->SubjectAttribute("serialNumber");
  if (!subscriber) return InvalidField("recipient_certificate", "does not name a subscriber of this suite");
  // The evidence of submission names the recipient: the envelope must be addressed to it, or a
  // holder of someone's signed envelope would make it "mailed" to anyone.
  auto addressed = CmsEnvelopedFor(req.enveloped_message(), *recipient);
  if (!addressed.ok()) return FieldError("enveloped_message", addressed.status());
  if (!*addressed) {
    return InvalidField("enveloped_message",
                        "is not encrypted to recipient_certificate (CMS EnvelopedData naming it as a recipient)");
  }
  auto signers =
      CmsVerifyDetached(req.origin_signature(), req.enveloped_message(), *d_.trust, now, KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return FieldError("origin_signature", signers.status());
  if (signers->size() != 1) return InvalidField("origin_signature", "must have exactly one signer");
  const Certificate& sender = signers->front().certificate;
  SEMPER_RETURN_IF_ERROR(d_.check_status(sender));
  std::string sha = Sha256(req.enveloped_message());
  // One mail per signed envelope (every envelope has its own random content key): a copy of a
  // deposit, by the recipient who received it or anyone, makes no second mail with a later
  // time. (The unique index on message_once decides between concurrent copies.)
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("notary_mail_by_message", HexEncode(sha));
    if (r.empty()) return absl::OkStatus();
    return MakeError(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS,
                     StrCat("this signed envelope is already mail ", r[0][0].as<std::string>(),
                            ": a message is deposited once (encrypt it again for a new mail)"),
                     {{"existing_id", r[0][0].as<std::string>()}});
  }));
  SEMPER_ASSIGN_OR_RETURN(std::string token, d_.time_stamp(sha));

  std::string id = StrCat("M-", HexEncode(RandomBytes(8)));
  v1::MailSubmissionStatement st;
  st.set_type("semper-mail-submission");
  st.set_mail_id(id);
  st.set_sender_subject(sender.Subject());
  st.set_recipient_subject(recipient->Subject());
  st.set_message_sha256(sha);
  st.set_origin_signature(req.origin_signature());
  *st.mutable_deadline() = req.deadline();
  st.set_time_stamp_token(token);
  st.set_nonce(RandomBytes(16));
  std::string json = StatementJson(st);
  SEMPER_ASSIGN_OR_RETURN(std::string signature, d_.signer->Sign(json));
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    tx.exec_prepared0("notary_insert_mail", id, sender.Subject(), recipient->Subject(), *subscriber,
                      HexEncode(req.enveloped_message()), HexEncode(sha), HexEncode(req.origin_signature()),
                      db::TimeText(deadline), HexEncode(json), HexEncode(signature), PartyOf(sender));
    return absl::OkStatus();
  }));
  SEMPER_RETURN_IF_ERROR(AppendPending(id));
  return Load(id);
}

absl::Status MailRoom::AppendPending(const std::string& id) {
  std::optional<NewEntry> submission, outcome;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("notary_mail_pending", id);
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no mail ", id));
    if (r[0][2].is_null()) submission = NewEntry{"mail-submission", db::Bytes(r[0][0]), db::Bytes(r[0][1])};
    if (!r[0][3].is_null() && r[0][6].is_null())
      outcome = NewEntry{r[0][3].as<std::string>(), db::Bytes(r[0][4]), db::Bytes(r[0][5])};
    return absl::OkStatus();
  }));
  for (const auto& step :
       {std::pair{&submission, "notary_mail_submission_index"}, std::pair{&outcome, "notary_mail_outcome_index"}}) {
    std::optional<NewEntry>* entry = step.first;
    const char* statement = step.second;  // not a structured binding: lambdas capture it (clang 14)
    if (!entry->has_value()) continue;
    SEMPER_ASSIGN_OR_RETURN(v1::Evidence e, d_.log->AppendOnce(**entry));
    SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
      tx.exec_prepared0(statement, id, static_cast<int64_t>(e.index()));
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::CertifiedMail> MailRoom::Load(const std::string& id, std::string* recipient_subscriber) {
  v1::CertifiedMail m;
  int64_t submission_index = -1, outcome_index = -1;
  absl::Time decided_at = absl::InfiniteFuture(), created_at;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("notary_mail", id);
    if (r.empty()) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("no mail ", id));
    m.set_id(id);
    m.set_sender_subject(r[0][0].as<std::string>());
    m.set_recipient_subject(r[0][1].as<std::string>());
    m.set_message_sha256(db::Bytes(r[0][2]));
    m.set_message_size(r[0][3].as<uint64_t>());
    *m.mutable_deadline() = ToTimestamp(db::FromEpoch(r[0][4].as<double>()));
    m.set_state(StateOf(r[0][5].as<std::string>()));
    if (!r[0][6].is_null()) submission_index = r[0][6].as<int64_t>();
    if (!r[0][7].is_null()) outcome_index = r[0][7].as<int64_t>();
    if (!r[0][8].is_null()) decided_at = db::FromEpoch(r[0][8].as<double>());
    created_at = db::FromEpoch(r[0][10].as<double>());
    if (recipient_subscriber != nullptr) *recipient_subscriber = r[0][9].as<std::string>();
    return absl::OkStatus();
  }));
  // Evidence the decider did not get to append (a crash in between) is appended by whoever asks.
  absl::Time since = submission_index < 0 ? created_at : decided_at;
  bool pending = submission_index < 0 || (m.state() != v1::MAIL_STATE_WAITING && outcome_index < 0);
  if (pending && d_.clock() - since >= absl::Seconds(10)) {
    SEMPER_RETURN_IF_ERROR(AppendPending(id));
    return Load(id);
  }
  if (submission_index >= 0) {
    SEMPER_ASSIGN_OR_RETURN(*m.mutable_submission(), d_.log->Get(static_cast<uint64_t>(submission_index), 0));
  }
  if (outcome_index >= 0) {
    SEMPER_ASSIGN_OR_RETURN(*m.mutable_outcome(), d_.log->Get(static_cast<uint64_t>(outcome_index), 0));
  }
  return m;
}

absl::Status MailRoom::CheckParty(const std::string& id, const std::string& caller_party) {
  if (caller_party.empty()) {
    return MakeError(absl::StatusCode::kUnauthenticated, v1::UNAUTHENTICATED,
                     "a mail is shown to its sender and recipient only: present your authentication certificate");
  }
  bool party = false;
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("notary_mail_parties", id);
    if (r.empty()) return absl::OkStatus();
    std::string sender = r[0][0].is_null() ? PartyOfSubject(r[0][1].as<std::string>()) : r[0][0].as<std::string>();
    party = caller_party == sender || caller_party == StrCat("subscriber:", r[0][2].as<std::string>());
    return absl::OkStatus();
  }));
  // The same answer whether the mail exists or not: nobody else learns which ids are in use.
  if (!party) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     StrCat("you are neither the sender nor the recipient of a mail ", id,
                            ": only they may read it (check the id and the wallet you ask with)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::CertifiedMail> MailRoom::Get(const std::string& id, const std::string& caller_party) {
  SEMPER_RETURN_IF_ERROR(CheckParty(id, caller_party));
  SEMPER_ASSIGN_OR_RETURN(v1::CertifiedMail m, Load(id));
  absl::Time deadline = FromTimestamp(m.deadline());
  if (m.state() != v1::MAIL_STATE_WAITING || d_.clock() <= deadline) return m;
  bool decided = false;
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    decided = false;
    auto r = tx.exec_prepared("notary_lock_mail", id);
    if (r.empty() || r[0][0].as<std::string>() != "waiting") return absl::OkStatus();  // decided meanwhile
    absl::Time now = d_.clock();
    std::string json = StatementJson(NonDelivery(m, now));
    SEMPER_ASSIGN_OR_RETURN(std::string signature, d_.signer->Sign(json));
    tx.exec_prepared0("notary_decide_mail", id, "not_delivered", "mail-non-delivery", HexEncode(json),
                      HexEncode(signature), db::TimeText(now));
    decided = true;
    return absl::OkStatus();
  }));
  if (decided) SEMPER_RETURN_IF_ERROR(AppendPending(id));
  return Load(id);
}

absl::StatusOr<v1::AcceptedMail> MailRoom::Accept(const std::string& id, const std::string& receipt_signature,
                                                  const std::string& caller_party) {
  SEMPER_RETURN_IF_ERROR(CheckSize("receipt_signature", receipt_signature, kMaxSignatureBytes));
  std::string recipient_subscriber;
  // An id not in use answers as a receipt over other bytes does: nobody learns which ids are.
  absl::StatusOr<v1::CertifiedMail> found = Load(id, &recipient_subscriber);
  if (!found.ok() && found.status().code() != absl::StatusCode::kNotFound) return found.status();
  v1::CertifiedMail m = found.ok() ? *std::move(found) : v1::CertifiedMail();
  absl::Time now = d_.clock();
  // (For an id not in use, bytes nobody can have signed.)
  auto signers =
      CmsVerifyDetached(receipt_signature, found.ok() ? ReceiptText(id, m.message_sha256()) : RandomBytes(32),
                        *d_.trust, now, KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return FieldError("receipt_signature", signers.status());
  if (signers->size() != 1) return InvalidField("receipt_signature", "must have exactly one signer");
  const Certificate& signer = signers->front().certificate;
  if (!found.ok() || signer.SubjectAttribute("serialNumber").value_or("") != recipient_subscriber) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     StrCat(signer.Subject(), " is not the recipient of a mail ", id, " (check the id and the key)"));
  }
  const bool as_recipient = caller_party == StrCat("subscriber:", recipient_subscriber);
  SEMPER_RETURN_IF_ERROR(d_.check_status(signer));
  // Nothing is decided that cannot be handed out: a mail stored before the size limits, or before
  // the operator lowered grpc.max_message_bytes, whose answer would not fit is refused first.
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared("notary_mail_answer_size", id);
    const size_t size = r.empty() || r[0][0].is_null() ? 0 : r[0][0].as<size_t>();
    if (size + (size_t{1} << 20) > d_.max_answer_bytes) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::LIMIT_EXCEEDED,
                       StrCat("mail ", id, " is larger than this notary can hand out (grpc.max_message_bytes is ",
                              d_.max_answer_bytes, "): nothing is decided; its operator raises the limit"),
                       {{"limit", "grpc.max_message_bytes"}, {"limit_bytes", StrCat(d_.max_answer_bytes)}});
    }
    return absl::OkStatus();
  }));
  bool decided = false;
  absl::Status after;
  SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    decided = false;
    after = absl::OkStatus();
    auto r = tx.exec_prepared("notary_lock_mail", id);
    std::string state = r[0][0].as<std::string>();
    if (state == "delivered") {
      // Accepted before: the same answer, but only to the recipient itself. The receipt is in the
      // evidence of delivery, which the sender shows to others: a copy must not read the mail.
      if (!as_recipient) {
        after = MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                          StrCat("mail ", id,
                                 " was delivered against this receipt: the recipient takes it again as "
                                 "itself (TLS client certificate)"));
      }
      return absl::OkStatus();
    }
    if (state == "not_delivered") {
      after = WrongState("the deadline passed before a receipt: the message will not be released");
      return absl::OkStatus();
    }
    absl::Time at = d_.clock();
    absl::Time deadline = FromTimestamp(m.deadline());
    if (at > deadline) {
      std::string json = StatementJson(NonDelivery(m, at));
      SEMPER_ASSIGN_OR_RETURN(std::string signature, d_.signer->Sign(json));
      tx.exec_prepared0("notary_decide_mail", id, "not_delivered", "mail-non-delivery", HexEncode(json),
                        HexEncode(signature), db::TimeText(at));
      decided = true;
      after = WrongState("the deadline passed before a receipt: the message will not be released");
      return absl::OkStatus();
    }
    v1::MailDeliveryStatement st;
    st.set_type("semper-mail-delivery");
    st.set_mail_id(id);
    st.set_recipient_subject(m.recipient_subject());
    st.set_message_sha256(m.message_sha256());
    st.set_receipt_signature(receipt_signature);
    *st.mutable_delivered_at() = ToTimestamp(at);
    st.set_nonce(RandomBytes(16));
    std::string json = StatementJson(st);
    SEMPER_ASSIGN_OR_RETURN(std::string signature, d_.signer->Sign(json));
    tx.exec_prepared0("notary_decide_mail", id, "delivered", "mail-delivery", HexEncode(json), HexEncode(signature),
                      db::TimeText(at));
    decided = true;
    return absl::OkStatus();
  }));
  if (decided) SEMPER_RETURN_IF_ERROR(AppendPending(id));
  if (!after.ok()) return after;
  v1::AcceptedMail out;
  SEMPER_ASSIGN_OR_RETURN(*out.mutable_mail(), Load(id));
  SEMPER_RETURN_IF_ERROR(d_.pool->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec_prepared1("notary_mail_message", id);
    out.set_enveloped_message(db::Bytes(r[0]));
    out.set_origin_signature(db::Bytes(r[1]));
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace semper::notary
