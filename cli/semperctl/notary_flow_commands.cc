// semperctl notary mail / contract / export.
#include "cli/semperctl/notary_flow_commands.h"

#include <google/protobuf/util/json_util.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/notary/evidence.h"
#include "common/server/peer.h"
#include "semper/v1/notary.grpc.pb.h"

namespace semper::ctl {
namespace {

std::unique_ptr<v1::Notary::Stub> Stub(const Connection& c) { return v1::Notary::NewStub(ChannelTo(c, c.notary)); }

absl::Time Deadline(const std::string& days) {
  int64_t d = 0;
  if (!absl::SimpleAtoi(days, &d) || d <= 0 || d > 90) Die(InvalidField("--days", "must be 1 to 90 days"), 2);
  return absl::Now() + absl::Hours(24 * d);
}

Certificate CertificateFile(const std::string& flag, const std::string& path) {
  auto cert = Certificate::FromPem(ReadFileOrDie(path));
  if (!cert.ok()) Die(Annotate(cert.status(), flag), 2);
  return *std::move(cert);
}

void CheckEvidence(const v1::Evidence& e, const TrustStore& trust, const char* what) {
  if (absl::Status ok = notary::VerifyEvidence(e, trust); !ok.ok()) Die(Annotate(ok, what));
}

[[noreturn]] void NotTheSigned(const std::string& what) {
  Die(MakeError(
      absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID,
      StrCat("the notary's answer says another ", what, " than its signed statement: nothing kept or signed")));
}

[[noreturn]] void NotAsked(const std::string& what, const std::string& asked) {
  Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID,
                StrCat("the notary answered about another ", what, " than ", asked, ": nothing kept or signed")));
}

// What semperctl shows and acts on comes from the notary's signed statements (checked with
// CheckEvidence first), not from the unsigned fields of its answer around them: a mail is the
// message its submission statement names, its outcome is about that mail.
v1::MailSubmissionStatement CheckMail(const v1::CertifiedMail& m, const TrustStore& trust) {
  CheckEvidence(m.submission(), trust, "the evidence of submission");
  google::protobuf::util::JsonParseOptions lenient;
  lenient.ignore_unknown_fields = true;
  v1::MailSubmissionStatement sub;
  if (!google::protobuf::util::JsonStringToMessage(m.submission().statement(), &sub, lenient).ok() ||
      sub.type() != "semper-mail-submission") {
    NotTheSigned("kind of evidence");
  }
  if (sub.mail_id() != m.id()) NotTheSigned("mail id");
  if (sub.message_sha256() != m.message_sha256()) NotTheSigned("message");
  if (sub.sender_subject() != m.sender_subject() || sub.recipient_subject() != m.recipient_subject()) {
    NotTheSigned("sender or recipient");
  }
  if (sub.deadline().seconds() != m.deadline().seconds() || sub.deadline().nanos() != m.deadline().nanos()) {
    NotTheSigned("deadline");
  }
  // The state shown is the one the signed outcome says (VerifyEvidence ties each entry's kind to
  // its statement's type); a delivery also carries the recipient's receipt, checked below, so the
  // notary's key alone does not make one.
  const std::string want = m.state() == v1::MAIL_STATE_DELIVERED       ? "mail-delivery"
                           : m.state() == v1::MAIL_STATE_NOT_DELIVERED ? "mail-non-delivery"
                                                                       : "";
  if (m.submission().kind() != "mail-submission" || m.has_outcome() != !want.empty() ||
      (m.has_outcome() && m.outcome().kind() != want)) {
    NotTheSigned("state of the mail");
  }
  if (!m.has_outcome()) return sub;
  CheckEvidence(m.outcome(), trust, "the evidence of the outcome");
  v1::MailDeliveryStatement outcome;  // the non-delivery statement names the mail the same way
  if (!google::protobuf::util::JsonStringToMessage(m.outcome().statement(), &outcome, lenient).ok() ||
      outcome.mail_id() != m.id() || outcome.message_sha256() != m.message_sha256()) {
    NotTheSigned("mail (in the outcome)");
  }
  if (m.state() == v1::MAIL_STATE_DELIVERED) {
    const std::string receipt = StrCat("semper-receipt:", m.id(), ":", HexEncode(m.message_sha256()));
    auto signers =
        CmsVerifyDetached(outcome.receipt_signature(), receipt, trust, absl::Now(), KeyPurpose::kNonRepudiation);
    if (!signers.ok() || signers->size() != 1 ||
        !SubjectNamesParty(sub.recipient_subject(), signers->front().certificate)) {
      NotTheSigned("delivery: it holds no receipt of the recipient");
    }
  }
  return sub;
}

// A contract's outcome is about this contract: its id and the hash of its text.
void CheckContractOutcome(const v1::NotarizedContract& k, const TrustStore& trust) {
  const std::string want = k.state() == v1::CONTRACT_STATE_COMPLETED ? "signed-contract"
                           : k.state() == v1::CONTRACT_STATE_ABORTED ? "contract-abort"
                                                                     : "";
  if (k.has_outcome() != !want.empty() || (k.has_outcome() && k.outcome().kind() != want)) {
    NotTheSigned("state of the contract");
  }
  if (!k.has_outcome()) return;
  CheckEvidence(k.outcome(), trust, "the notary's decision");
  google::protobuf::util::JsonParseOptions lenient;
  lenient.ignore_unknown_fields = true;
  v1::SignedContractStatement st;  // the abort statement names the contract the same way
  if (!google::protobuf::util::JsonStringToMessage(k.outcome().statement(), &st, lenient).ok() ||
      st.contract_id() != k.id()) {
    NotTheSigned("contract (in its outcome)");
  }
  if (st.contract_sha256() != k.contract_sha256()) NotTheSigned("contract text");
  if (k.state() != v1::CONTRACT_STATE_COMPLETED) return;
  // Every signer's signature, as sealed, names this contract and its text, by the certificate the
  // contract names for that signer.
  if (st.signers_size() != k.signers_size() || st.signers_size() < 2) NotTheSigned("contract's signers");
  // Checked as of the sealing (certificates expire later; the notary's statement fixes the time).
  const std::string signed_text = notary::ContractSigningText(k.id(), k.contract_sha256());
  const absl::Time sealed_at = FromTimestamp(st.completed_at());
  for (const v1::ContractSigner& s : st.signers()) {
    auto signers = CmsVerifyDetached(s.signature(), signed_text, trust, sealed_at, KeyPurpose::kNonRepudiation);
    if (!signers.ok()) {
      // Sealed by an earlier version of the notary, whose signers signed the text alone.
      signers = CmsVerifyDetachedDigest(s.signature(), HashAlgorithm::kSha256, k.contract_sha256(), trust, sealed_at,
                                        KeyPurpose::kNonRepudiation);
      if (signers.ok()) {
        std::printf(
            "Note: %s signed the text alone (an earlier version of the notary); the notary's statement, not\n"
            "the signature, ties it to contract %s.\n",
            VisibleLine(s.subject()).c_str(), VisibleLine(k.id()).c_str());
      }
    }
    if (s.state() != v1::SIGNER_STATE_SIGNED || !signers.ok() || signers->size() != 1 ||
        Sha256(signers->front().certificate.Der()) != s.certificate_sha256()) {
      Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID,
                    StrCat("the sealed contract holds a signature of ", VisibleLine(s.subject()),
                           " that does not sign this contract with the certificate it names: nothing kept")));
    }
  }
}

const char* MailStateText(v1::MailState s) {
  switch (s) {
    case v1::MAIL_STATE_WAITING:
      return "waiting for the recipient's receipt";
    case v1::MAIL_STATE_DELIVERED:
      return "delivered against the recipient's receipt";
    case v1::MAIL_STATE_NOT_DELIVERED:
      return "not delivered (deadline passed)";
    default:
      return "unknown";
  }
}

void PrintMail(const v1::CertifiedMail& m) {
  std::printf("Mail %s: %s\n", m.id().c_str(), MailStateText(m.state()));
  std::printf("  from:     %s\n", VisibleLine(m.sender_subject()).c_str());
  std::printf("  to:       %s\n", VisibleLine(m.recipient_subject()).c_str());
  std::printf("  message:  %llu bytes encrypted, SHA-256 %s\n", static_cast<unsigned long long>(m.message_size()),
              HexEncode(m.message_sha256()).c_str());
  std::printf("  deadline: %s\n", TimeText(m.deadline()).c_str());
  std::printf("  evidence: submission = notary log entry %llu",
              static_cast<unsigned long long>(m.submission().index()));
  if (m.has_outcome()) {
    std::printf(", %s = entry %llu", m.outcome().kind().c_str(), static_cast<unsigned long long>(m.outcome().index()));
  }
  std::printf("\n");
}

int MailSend(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& to,
             const std::string& file, const std::string& days, std::string out) {
  std::string document = ReadFileOrDie(file);
  Certificate recipient = CertificateFile("--to", to);
  std::vector<Certificate> chain = WalletChain(wallet);
  absl::Time deadline = Deadline(days);
  TrustStore trust = Trust(c);
  // Mail goes to a party of this suite: the certificate chains to its root (its issuing CA from
  // the wallet's chain).
  if (auto path = trust.VerifyPath(recipient, std::vector<Certificate>(chain.begin() + 1, chain.end()), absl::Now(),
                                   KeyPurpose::kAny);
      !path.ok()) {
    Die(Annotate(path.status(), "--to"), 2);
  }
  std::printf(
      "You are about to send by certified mail, encrypted to the recipient and signed with your\n"
      "signature key (evidence of origin):\n");
  std::printf("  file:     %s (%zu bytes, SHA-256 %s)\n", file.c_str(), document.size(),
              HexEncode(Sha256(document)).c_str());
  std::printf("  from:     %s\n", VisibleLine(chain.front().Subject()).c_str());
  std::printf("  to:       %s\n", VisibleLine(recipient.Subject()).c_str());
  std::printf("  deadline: %s (no receipt by then: the notary certifies non-delivery)\n",
              absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", deadline, absl::UTCTimeZone()).c_str());
  if (!Confirm(c, "Encrypt, sign and deposit?")) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  auto enveloped = CmsEncrypt(document, {recipient});
  if (!enveloped.ok()) Die(Annotate(enveloped.status(), "encrypting to --to"));
  v1::DepositMailRequest req;
  req.set_recipient_certificate(recipient.Der());
  req.set_enveloped_message(*enveloped);
  req.set_origin_signature(WalletSign(*enveloped, WalletKey(wallet, pass), chain));
  *req.mutable_deadline() = ToTimestamp(deadline);
  v1::CertifiedMail mail;
  Call(Stub(c)->DepositMail(Ctx().get(), req, &mail));
  v1::MailSubmissionStatement sub = CheckMail(mail, trust);
  if (mail.message_sha256() != Sha256(*enveloped)) NotAsked("message", "the one deposited");
  if (sub.origin_signature() != req.origin_signature() || !SubjectNamesParty(sub.recipient_subject(), recipient) ||
      std::abs(sub.deadline().seconds() - req.deadline().seconds()) > 1) {
    NotAsked("deposit", "the one you made (recipient, deadline or signature of origin)");
  }
  if (out.empty()) out = file + ".mail.json";
  WriteOrDie(out, Json(mail));
  PrintMail(mail);
  std::printf(
      "Evidence of submission saved to %s. The recipient takes delivery with:\n"
      "  semperctl notary mail accept %s --wallet <their wallet> --out <file>\n",
      out.c_str(), mail.id().c_str());
  return 0;
}

// The notary shows a mail to its sender and recipient only: asked as the wallet's holder.
v1::CertifiedMail GetMail(const Connection& c, const std::string& wallet, const WalletKeys& keys,
                          const std::string& id) {
  v1::GetMailRequest req;
  req.set_id(id);
  v1::CertifiedMail mail;
  Call(v1::Notary::NewStub(ChannelAsWallet(c, c.notary, wallet, keys))->GetMail(Ctx().get(), req, &mail));
  return mail;
}

int MailShow(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& id,
             const std::string& out) {
  v1::CertifiedMail mail = GetMail(c, wallet, WalletBothKeys(wallet, pass), id);
  if (mail.id() != id) NotAsked("mail", id);
  CheckMail(mail, Trust(c));
  PrintMail(mail);
  if (!out.empty()) {
    WriteOrDie(out, Json(mail));
    std::printf("Saved to %s.\n", out.c_str());
  }
  return 0;
}

int MailAccept(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& id,
               const std::string& out) {
  WalletKeys keys = WalletBothKeys(wallet, pass);
  v1::CertifiedMail mail = GetMail(c, wallet, keys, id);
  TrustStore trust = Trust(c);
  CheckMail(mail, trust);
  if (mail.id() != id) NotAsked("mail", id);
  if (!SubjectNamesParty(mail.recipient_subject(), keys.authentication_certificate)) {
    NotAsked("recipient", "you");
  }
  std::vector<Certificate> chain = WalletChain(wallet);
  const std::string receipt = StrCat("semper-receipt:", mail.id(), ":", HexEncode(mail.message_sha256()));
  PrintMail(mail);
  std::printf(
      "To read it you sign, with your signature key (%s), this receipt:\n  %s\n"
      "The sender gets it as evidence that you received the message.\n",
      chain.front().Subject().c_str(), receipt.c_str());
  if (!Confirm(c, "Sign the receipt and take delivery?")) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  v1::AcceptMailRequest req;
  req.set_id(mail.id());
  req.set_receipt_signature(WalletSign(receipt, keys.signature, chain));
  v1::AcceptedMail accepted;
  Call(v1::Notary::NewStub(ChannelAsWallet(c, c.notary, wallet, keys))->AcceptMail(Ctx().get(), req, &accepted));
  if (Sha256(accepted.enveloped_message()) != mail.message_sha256()) {
    Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID, "the notary released another message"));
  }
  if (accepted.mail().id() != mail.id() || accepted.mail().message_sha256() != mail.message_sha256() ||
      !accepted.mail().has_outcome()) {
    NotAsked("mail", mail.id());
  }
  CheckMail(accepted.mail(), trust);
  auto signers = CmsVerifyDetached(accepted.origin_signature(), accepted.enveloped_message(), trust, absl::Now(),
                                   KeyPurpose::kNonRepudiation);
  if (!signers.ok()) Die(Annotate(signers.status(), "the sender's signature"));
  // The signature of origin is the one deposited (the submission statement holds it), by the sender.
  v1::MailSubmissionStatement sub;
  google::protobuf::util::JsonParseOptions lenient;
  lenient.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(mail.submission().statement(), &sub, lenient).ok() ||
      sub.origin_signature() != accepted.origin_signature() || signers->size() != 1 ||
      !SubjectNamesParty(sub.sender_subject(), signers->front().certificate)) {
    NotTheSigned("signature of origin");
  }
  auto document = CmsDecrypt(accepted.enveloped_message(), keys.authentication, keys.authentication_certificate);
  if (!document.ok()) Die(Annotate(document.status(), "decrypting with your authentication key"));
  WriteOrDie(out, *document, 0600);
  WriteOrDie(out + ".mail.json", Json(accepted.mail()));
  WriteOrDie(out + ".p7m", accepted.enveloped_message());
  WriteOrDie(out + ".p7m.sig", accepted.origin_signature());
  std::printf(
      "Delivered: %zu bytes from %s (signature verified) saved to %s; the sender's signed\n"
      "message in %s.p7m and %s.p7m.sig, the delivery evidence in %s.mail.json.\n",
      document->size(), signers->front().certificate.Subject().c_str(), out.c_str(), out.c_str(), out.c_str(),
      out.c_str());
  return 0;
}

const char* ContractStateText(v1::ContractState s) {
  switch (s) {
    case v1::CONTRACT_STATE_OPEN:
      return "open";
    case v1::CONTRACT_STATE_COMPLETED:
      return "completed: signed by everyone";
    case v1::CONTRACT_STATE_ABORTED:
      return "aborted";
    default:
      return "unknown";
  }
}

const char* SignerStateText(v1::SignerState s) {
  switch (s) {
    case v1::SIGNER_STATE_PENDING:
      return "pending";
    case v1::SIGNER_STATE_SIGNED:
      return "signed";
    case v1::SIGNER_STATE_DECLINED:
      return "declined";
    default:
      return "unknown";
  }
}

void PrintContract(const v1::NotarizedContract& k) {
  std::printf("Contract %s \"%s\": %s\n", VisibleLine(k.id()).c_str(), VisibleLine(k.title()).c_str(),
              ContractStateText(k.state()));
  std::printf("  text:     %llu bytes, SHA-256 %s\n", static_cast<unsigned long long>(k.contract_size()),
              HexEncode(k.contract_sha256()).c_str());
  std::printf("  deadline: %s\n", TimeText(k.deadline()).c_str());
  for (const auto& s : k.signers()) {
    std::printf("  signer:   %s: %s\n", VisibleLine(s.subject()).c_str(), SignerStateText(s.state()));
  }
  if (k.has_outcome()) {
    std::printf("  evidence: %s, notary log entry %llu\n", k.outcome().kind().c_str(),
                static_cast<unsigned long long>(k.outcome().index()));
  }
}

int ContractCreate(const Connection& c, const std::string& file, const std::string& title,
                   const std::vector<std::string>& signer_files, const std::string& days) {
  std::string text = ReadFileOrDie(file);
  v1::CreateContractRequest req;
  req.set_contract(text);
  req.set_title(title);
  *req.mutable_deadline() = ToTimestamp(Deadline(days));
  std::printf("Contract \"%s\" (%s, %zu bytes, SHA-256 %s), to be signed by:\n", title.c_str(), file.c_str(),
              text.size(), HexEncode(Sha256(text)).c_str());
  for (const auto& f : signer_files) {
    Certificate cert = CertificateFile("--signer", f);
    std::printf("  %s\n", cert.Subject().c_str());
    req.add_signer_certificates(cert.Der());
  }
  if (!Confirm(c, "Open it at the notary?")) return 1;
  v1::NotarizedContract k;
  Call(Stub(c)->CreateContract(Ctx().get(), req, &k));
  PrintContract(k);
  std::printf("Each signer reads and signs it with: semperctl notary contract sign %s --wallet <wallet>\n",
              k.id().c_str());
  return 0;
}

// The notary shows a contract to its signers only: asked as the wallet's holder.
v1::NotarizedContract GetContract(v1::Notary::Stub& as_wallet, const std::string& id) {
  v1::GetContractRequest req;
  req.set_id(id);
  v1::NotarizedContract k;
  Call(as_wallet.GetContract(Ctx().get(), req, &k));
  if (k.id() != id) NotAsked("contract", id);
  return k;
}

int ContractSign(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& id,
                 const std::string& text_out, const std::string& out) {
  WalletKeys keys = WalletBothKeys(wallet, pass);
  auto as_wallet = v1::Notary::NewStub(ChannelAsWallet(c, c.notary, wallet, keys));
  v1::NotarizedContract k = GetContract(*as_wallet, id);
  v1::GetContractTextRequest treq;
  treq.set_id(id);
  v1::ContractText text;
  Call(as_wallet->GetContractText(Ctx().get(), treq, &text));
  if (Sha256(text.contract()) != k.contract_sha256()) {
    Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID,
                  "the notary sent a text that is not the contract's"));
  }
  std::vector<Certificate> chain = WalletChain(wallet);
  PrintContract(k);
  if (!text_out.empty()) WriteOrDie(text_out, text.contract());
  // Nothing is signed unseen: the text itself (every byte a terminal would hide, escaped), or
  // where it was saved to be read.
  if (text.contract().size() <= 16384) {
    const std::string shown = Visible(text.contract());
    std::printf("----- the text you sign -----\n%s%s----- end of the text -----\n", shown.c_str(),
                shown.ends_with('\n') ? "" : "\n");
  } else if (text_out.empty()) {
    Die(InvalidField("--text-out", "the text is long: save it with --text-out and read it first"), 2);
  } else {
    std::printf("The text you sign is in %s; read it first.\n", text_out.c_str());
  }
  std::printf("You are about to sign this contract (%s, this text) with your signature key (%s), legally binding.\n",
              VisibleLine(id).c_str(), chain.front().Subject().c_str());
  if (!Confirm(c, "Sign the contract?")) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  v1::SignContractRequest req;
  req.set_id(id);
  // The signature names this contract and the hash of its text (what the notary requires).
  req.set_signature(WalletSign(notary::ContractSigningText(id, Sha256(text.contract())), keys.signature, chain));
  Call(as_wallet->SignContract(Ctx().get(), req, &k));
  if (k.id() != id) NotAsked("contract", id);
  if (k.contract_sha256() != Sha256(text.contract())) NotAsked("contract text", "the one you signed");
  CheckContractOutcome(k, Trust(c));
  PrintContract(k);
  if (!out.empty()) WriteOrDie(out, Json(k));
  return 0;
}

int ContractShow(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& id,
                 const std::string& out) {
  v1::NotarizedContract k = GetContract(*v1::Notary::NewStub(ChannelAsWallet(c, c.notary, wallet, pass)), id);
  CheckContractOutcome(k, Trust(c));
  PrintContract(k);
  if (!out.empty()) {
    WriteOrDie(out, Json(k));
    std::printf("Saved to %s.\n", out.c_str());
  }
  return 0;
}

// Finds the evidence in any of the files semperctl saves: an Evidence, a certified mail (its
// outcome, else its submission), a contract (its outcome).
v1::Evidence EvidenceFrom(const std::string& path) {
  std::string json = ReadFileOrDie(path);
  google::protobuf::util::JsonParseOptions lenient;
  lenient.ignore_unknown_fields = false;
  v1::CertifiedMail mail;
  if (google::protobuf::util::JsonStringToMessage(json, &mail, lenient).ok() && mail.has_submission()) {
    return mail.has_outcome() ? mail.outcome() : mail.submission();
  }
  v1::NotarizedContract k;
  if (google::protobuf::util::JsonStringToMessage(json, &k, lenient).ok() && k.has_outcome()) return k.outcome();
  v1::Evidence e;
  if (google::protobuf::util::JsonStringToMessage(json, &e, lenient).ok() && !e.statement().empty()) return e;
  Die(MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                StrCat(path, " holds no notary evidence (an .evidence.json, .mail.json or contract JSON)")),
      2);
}

int Export(const Connection& c, const std::string& path, const std::string& prefix) {
  v1::Evidence e = EvidenceFrom(path);
  CheckEvidence(e, Trust(c), path.c_str());
  WriteOrDie(prefix + ".json", e.statement());
  WriteOrDie(prefix + ".sig", e.signature());
  std::printf("%s entry %llu: statement %s.json, the notary's CMS signature %s.sig\n", e.kind().c_str(),
              static_cast<unsigned long long>(e.index()), prefix.c_str(), prefix.c_str());
  // The statement's RFC 3161 token, when it has one (attestations, submissions, signed contracts).
  google::protobuf::util::JsonParseOptions lenient;
  lenient.ignore_unknown_fields = true;
  v1::SignedContractStatement with_token;  // every statement names its token time_stamp_token
  if (google::protobuf::util::JsonStringToMessage(e.statement(), &with_token, lenient).ok() &&
      !with_token.time_stamp_token().empty()) {
    WriteOrDie(prefix + ".tst", with_token.time_stamp_token());
    std::printf("  its time-stamp token (RFC 3161, DER): %s.tst\n", prefix.c_str());
  }
  v1::AttestationStatement attestation;
  if (e.kind() == "attestation" &&
      google::protobuf::util::JsonStringToMessage(e.statement(), &attestation, lenient).ok() &&
      !attestation.document_signature().empty()) {
    WriteOrDie(prefix + ".document.sig", attestation.document_signature());
    std::printf("  the signer's CMS signature over the document (DER, detached): %s.document.sig\n", prefix.c_str());
  }
  PrintOpensslCheck(prefix + ".sig", prefix + ".json", "notary");
  return 0;
}

}  // namespace

NotaryFlowCommands::NotaryFlowCommands(CLI::App* n, Connection& c) : c_(c) {
  auto wallet = [this](CLI::App* cmd) {
    cmd->add_option("--wallet", wallet_, "your wallet (semperctl enroll)")->required();
    cmd->add_option("--wallet-passphrase-file", wallet_pass_, "file with the wallet's passphrase (asked otherwise)");
  };
  auto* mail = n->add_subcommand("mail", "certified mail: a message released only against the recipient's receipt");
  mail->require_subcommand(1);
  mail_send_ = mail->add_subcommand("send", "encrypt a file to the recipient, sign it and deposit it at the notary");
  wallet(mail_send_);
  mail_send_->add_option("--to", to_, "the recipient's authentication certificate (PEM)")
      ->required()
      ->check(CLI::ExistingFile);
  mail_send_->add_option("file", file_, "the file to send")->required()->check(CLI::ExistingFile);
  mail_send_->add_option("--days", days_, "days the recipient has to take delivery (1-90)")->capture_default_str();
  mail_send_->add_option("--out", out_, "where to save the evidence (default <file>.mail.json)");
  mail_show_ = mail->add_subcommand("show", "a mail's state and evidence, for its sender or recipient");
  wallet(mail_show_);
  mail_show_->add_option("id", id_, "the mail id (M-...)")->required();
  mail_show_->add_option("--out", out_, "save the mail with its evidence (JSON)");
  mail_accept_ = mail->add_subcommand("accept", "recipients: sign the receipt and take delivery");
  wallet(mail_accept_);
  mail_accept_->add_option("id", id_, "the mail id (M-...)")->required();
  mail_accept_->add_option("--out", out_, "where to save the message")->required();

  auto* contract = n->add_subcommand("contract", "contracts signed by every party through the notary, or by none");
  contract->require_subcommand(1);
  contract_create_ = contract->add_subcommand("create", "open a contract for named signers");
  contract_create_->add_option("file", file_, "the contract text")->required()->check(CLI::ExistingFile);
  contract_create_->add_option("--title", title_, "its title")->required();
  contract_create_->add_option("--signer", signers_, "a signer's signature certificate (PEM), repeatable (2-32)")
      ->required()
      ->check(CLI::ExistingFile);
  contract_create_->add_option("--days", days_, "days the signers have (1-90)")->capture_default_str();
  contract_sign_ = contract->add_subcommand("sign", "read the contract (shown first) and sign it");
  wallet(contract_sign_);
  contract_sign_->add_option("id", id_, "the contract id (C-...)")->required();
  contract_sign_->add_option("--text-out", text_out_, "also save the text here");
  contract_sign_->add_option("--out", out_, "save the contract with its evidence (JSON)");
  contract_show_ = contract->add_subcommand("show", "a contract's state, signers and evidence, for its signers");
  wallet(contract_show_);
  contract_show_->add_option("id", id_, "the contract id (C-...)")->required();
  contract_show_->add_option("--out", out_, "save the contract with its evidence (JSON)");

  export_ = n->add_subcommand("export", "write a piece of evidence as files for openssl (statement, signature, token)");
  export_->add_option("evidence", evidence_, "an .evidence.json, .mail.json or contract JSON")
      ->required()
      ->check(CLI::ExistingFile);
  export_->add_option("--out", out_, "PREFIX: writes PREFIX.json, PREFIX.sig and PREFIX.tst")->required();
}

std::optional<int> NotaryFlowCommands::Run() {
  if (mail_send_->parsed()) return MailSend(c_, wallet_, wallet_pass_, to_, file_, days_, out_);
  if (mail_show_->parsed()) return MailShow(c_, wallet_, wallet_pass_, id_, out_);
  if (mail_accept_->parsed()) return MailAccept(c_, wallet_, wallet_pass_, id_, out_);
  if (contract_create_->parsed()) return ContractCreate(c_, file_, title_, signers_, days_);
  if (contract_sign_->parsed()) return ContractSign(c_, wallet_, wallet_pass_, id_, text_out_, out_);
  if (contract_show_->parsed()) return ContractShow(c_, wallet_, wallet_pass_, id_, out_);
  if (export_->parsed()) return Export(c_, evidence_, out_);
  return std::nullopt;
}

}  // namespace semper::ctl
