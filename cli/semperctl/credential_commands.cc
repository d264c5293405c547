// semperctl token / credential: the client side of semper-ca's Credentials service.
#include "cli/semperctl/credential_commands.h"

#include <cstdio>

#include "absl/strings/numbers.h"
#include "common/base/proto_time.h"
#include "common/container/money.h"
#include "common/crypto/blind_rsa.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/crypto/suite_signer.h"
#include "semper/v1/privacy.grpc.pb.h"

namespace semper::ctl {
namespace {

std::unique_ptr<v1::Credentials::Stub> Stub(const Connection& c) {
  return v1::Credentials::NewStub(ChannelTo(c, c.server));
}

int64_t Days(const std::string& flag, const std::string& days) {
  int64_t d = 0;
  if (!absl::SimpleAtoi(days, &d) || d <= 0) Die(InvalidField(flag, "must be a positive number of days"), 2);
  return d;
}

template <typename T>
std::string SignWith(const std::string& wallet, const std::string& pass, const T& statement, std::string* bytes) {
  std::vector<Certificate> chain = WalletChain(wallet);
  *bytes = statement.SerializeAsString();
  return WalletSign(*bytes, WalletKey(wallet, pass), chain);
}

// The CA's signature over a statement it made, checked against --ca-file.
// `exit_code`: 3 where the command's answer is "verified or not" (credential verify).
void CheckCaSignature(const Connection& c, const std::string& statement, const std::string& signature,
                      int exit_code = 1) {
  TrustStore trust = Trust(c);
  auto signers = CmsVerifyDetached(signature, statement, trust, absl::Now(), KeyPurpose::kAny);
  if (!signers.ok()) Die(Annotate(signers.status(), "the CA's signature"), exit_code);
  // Anyone's signature key has a path to the root: only semper-ca's statement key counts.
  if (signers->size() != 1)
    Die(InvalidField("signature", "the CA's statement must have exactly one signer"), exit_code);
  if (absl::Status ca = CheckSuiteSigner(signers->front().certificate, "ca"); !ca.ok()) {
    Die(Annotate(ca, "the CA's signature"), exit_code);
  }
}

void PrintKind(const v1::TokenKind& k) {
  std::printf("Token kind %s: %s\n", VisibleLine(k.id()).c_str(), VisibleLine(k.name()).c_str());
  std::printf("  issuer:      %s (%s)\n", VisibleLine(k.issuer_name()).c_str(),
              VisibleLine(k.issuer_subscriber_id()).c_str());
  if (k.has_value()) std::printf("  face value:  %s\n", FormatMoney(k.value()).c_str());
  std::printf("  redeemable:  %s to %s\n", TimeText(k.valid_from()).c_str(), TimeText(k.valid_until()).c_str());
  std::printf("  key:         RSA, SHA-256 %s (RFC 9474 RSABSSA-SHA384-PSS-Randomized)\n",
              HexEncode(Sha256(k.public_key())).substr(0, 32).c_str());
}

void PrintCredential(const v1::CredentialStatement& cs) {
  std::printf("Credential %s (%s): %s\n", VisibleLine(cs.credential_id()).c_str(), VisibleLine(cs.kind()).c_str(),
              VisibleLine(cs.rights()).c_str());
  std::printf("  issuer:  %s (%s)\n", VisibleLine(cs.issuer_name()).c_str(),
              VisibleLine(cs.issuer_subscriber_id()).c_str());
  std::printf("  holder:  %s (certificate %s)\n", VisibleLine(cs.holder_subject()).c_str(),
              cs.holder_certificate_serial().c_str());
  std::printf("  uses:    %s\n", cs.uses() == 0 ? "unlimited" : std::to_string(cs.uses()).c_str());
  std::printf("  valid:   %s to %s\n", TimeText(cs.valid_from()).c_str(), TimeText(cs.valid_until()).c_str());
}

v1::CredentialStatement Statement(const v1::Credential& c) {
  v1::CredentialStatement cs;
  if (!google::protobuf::util::JsonStringToMessage(c.statement(), &cs).ok()) {
    Die(MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, "the credential's statement does not parse"),
        2);
  }
  return cs;
}

}  // namespace

CredentialCommands::CredentialCommands(CLI::App& app, Connection& c) : c_(c) {
  auto* t = app.add_subcommand("token", "anonymous one-use tokens (RFC 9474 blind signatures) at semper-ca");
  t->require_subcommand(1);
  auto* kind = t->add_subcommand("kind", "kinds of token (issuers)");
  kind->require_subcommand(1);
  kind_create_ = kind->add_subcommand("create", "create a kind of token, signed by your (enterprise) wallet");
  kind_create_->add_option("--wallet", wallet_, "the issuer's wallet")->required();
  kind_create_->add_option("--wallet-passphrase-file", wallet_pass_);
  kind_create_->add_option("--name", name_, "what a token is worth, e.g. \"Single ride, zone A\"")->required();
  kind_create_->add_option("--value", value_, "face value, e.g. 2.90 (for clearing)");
  kind_create_->add_option("--currency", currency_)->capture_default_str();
  kind_create_->add_option("--valid-days", valid_days_, "tokens are redeemable this long")->capture_default_str();
  kind_show_ = kind->add_subcommand("show", "a kind, its key and the CA's signature over it");
  kind_show_->add_option("kind-id", kind_id_)->required();
  kind_show_->add_option("--out", out_, "save the kind (JSON) for offline verification");
  blind_ = t->add_subcommand("blind", "holders: make a token's message and blind it for the issuer");
  blind_->add_option("--kind", kind_id_)->required();
  blind_->add_option("--message", message_, "what the token says (the issuer never sees it)")->required();
  blind_->add_option("--out", out_, "writes <out>.state (keep it secret) and <out>.blinded (for the issuer)")
      ->required();
  sign_ = t->add_subcommand("sign", "issuers: have semper-ca sign a holder's blinded token");
  sign_->add_option("--kind", kind_id_)->required();
  sign_->add_option("--blinded", blinded_, "the holder's .blinded file")->required();
  sign_->add_option("--wallet", wallet_, "the issuer's wallet")->required();
  sign_->add_option("--wallet-passphrase-file", wallet_pass_);
  sign_->add_option("--out", out_, "the blind signature, for the holder")->required();
  finalize_ = t->add_subcommand("finalize", "holders: unblind the signature into a token");
  finalize_->add_option("--state", state_, "the .state file of `token blind`")->required();
  finalize_->add_option("--blind-signature", blind_sig_)->required();
  finalize_->add_option("--out", out_, "the token (JSON): present it once")->required();
  redeem_ = t->add_subcommand("redeem", "acceptors (--cert/--key: your authentication certificate): redeem a token");
  redeem_->add_option("--token", token_)->required();
  redeem_->add_option("--reference", reference_,
                      "your own reference for this redemption (an order id): sent again with the same reference after "
                      "an answer was lost, the token gives the same redemption; a new one for each purchase");
  clearing_ = t->add_subcommand("clearing", "the signed clearing statement of an issuer and an acceptor for a period");
  clearing_->add_option("--issuer", issuer_, "issuer's subscriber id")->required();
  clearing_->add_option("--acceptor", acceptor_, "acceptor's subscriber id")->required();
  clearing_->add_option("--from", from_, "RFC 3339, e.g. 2026-11-01T00:00:00Z")->required();
  clearing_->add_option("--until", until_, "RFC 3339 (exclusive, not in the future)")->required();
  clearing_->add_option("--out", out_, "writes <out>.json and <out>.sig");

  auto* cr =
      app.add_subcommand("credential", "named credentials (passes, tickets, memberships, vouchers) at semper-ca");
  cr->require_subcommand(1);
  issue_ = cr->add_subcommand("issue", "issuers: issue a credential to a holder's certificate");
  issue_->add_option("--wallet", wallet_, "the issuer's wallet")->required();
  issue_->add_option("--wallet-passphrase-file", wallet_pass_);
  issue_->add_option("--holder", holder_, "the holder's certificate (PEM): its key presents the credential")
      ->required();
  issue_->add_option("--kind", kind_, "pass, ticket, membership or voucher")->capture_default_str();
  issue_->add_option("--rights", rights_, "what it entitles to, e.g. \"10 rides, zones A-B\"")->required();
  issue_->add_option("--uses", uses_, "how many redemptions (0: unlimited)")->capture_default_str();
  issue_->add_option("--valid-days", valid_days_)->capture_default_str();
  issue_->add_option("--out", out_, "the credential (JSON), for the holder")->required();
  show_ = cr->add_subcommand("show", "a credential's uses left");
  show_->add_option("credential-id", credential_id_)->required();
  verify_ = cr->add_subcommand("verify", "check a credential offline: the CA's signature and its content");
  verify_->add_option("--credential", credential_)->required();
  present_ = cr->add_subcommand("present", "holders: sign a presentation of your credential for one acceptor");
  present_->add_option("--credential", credential_)->required();
  present_->add_option("--acceptor", acceptor_, "the acceptor's subscriber id")->required();
  present_->add_option("--wallet", wallet_, "the holder's wallet")->required();
  present_->add_option("--wallet-passphrase-file", wallet_pass_);
  present_->add_option("--out", out_, "the presentation (JSON), for the acceptor")->required();
  use_ = cr->add_subcommand("redeem", "acceptors (--cert/--key): take one use with a holder's presentation");
  use_->add_option("--presentation", presentation_)->required();
}

std::optional<int> CredentialCommands::Run() {
  if (kind_create_->parsed()) {
    v1::TokenKindRequestStatement st;
    st.set_type("semper-token-kind-request");
    st.set_name(name_);
    if (!value_.empty()) {
      auto minor = ParseMinorUnits(value_);
      if (!minor.has_value()) Die(InvalidField("--value", "must be an amount like 2.90"), 2);
      st.mutable_value()->set_currency(currency_);
      st.mutable_value()->set_minor_units(*minor);
    }
    *st.mutable_valid_until() = ToTimestamp(absl::Now() + absl::Hours(24) * Days("--valid-days", valid_days_));
    std::vector<Certificate> chain = WalletChain(wallet_);
    std::printf("You are about to create a kind of token at semper-ca, signed by %s:\n",
                chain.front().Subject().c_str());
    std::printf("  name:        %s\n  face value:  %s\n  redeemable:  until %s\n", name_.c_str(),
                st.has_value() ? FormatMoney(st.value()).c_str() : "none", TimeText(st.valid_until()).c_str());
    if (!Confirm(c_, "Sign and create?")) return 1;
    *st.mutable_made_at() = ToTimestamp(absl::Now());
    v1::CreateTokenKindRequest req;
    req.set_signature(SignWith(wallet_, wallet_pass_, st, req.mutable_request()));
    v1::TokenKind kind;
    Call(Stub(c_)->CreateTokenKind(Ctx().get(), req, &kind));
    PrintKind(kind);
    return 0;
  }
  if (kind_show_->parsed()) {
    v1::GetTokenKindRequest req;
    req.set_kind_id(kind_id_);
    v1::TokenKind kind;
    Call(Stub(c_)->GetTokenKind(Ctx().get(), req, &kind));
    CheckCaSignature(c_, kind.statement(), kind.signature());
    PrintKind(kind);
    std::printf("  signed by semper-ca: verified\n");
    if (!out_.empty()) WriteOrDie(out_, Json(kind));
    return 0;
  }
  if (blind_->parsed()) {
    v1::GetTokenKindRequest kreq;
    kreq.set_kind_id(kind_id_);
    v1::TokenKind kind;
    Call(Stub(c_)->GetTokenKind(Ctx().get(), kreq, &kind));
    CheckCaSignature(c_, kind.statement(), kind.signature());
    auto pk = PublicKey::FromDer(kind.public_key());
    if (!pk.ok()) Die(pk.status());
    v1::TokenBlindingState st;
    st.set_kind_id(kind.id());
    st.set_prepared_message(blind_rsa::Prepare(message_));
    auto blinding = blind_rsa::Blind(*pk, st.prepared_message());
    if (!blinding.ok()) Die(blinding.status());
    st.set_inv(blinding->inv);
    st.set_blinded_message(blinding->blinded_message);
    WriteOrDie(out_ + ".state", Json(st), 0600);
    WriteOrDie(out_ + ".blinded", blinding->blinded_message);
    std::printf("Blinded a token of kind %s (%s). Give %s.blinded to %s; keep %s.state.\n", kind.id().c_str(),
                kind.name().c_str(), out_.c_str(), kind.issuer_name().c_str(), out_.c_str());
    return 0;
  }
  if (sign_->parsed()) {
    v1::BlindIssueStatement st;
    st.set_type("semper-blind-issue");
    st.set_kind_id(kind_id_);
    st.set_blinded_message(ReadFileOrDie(blinded_));
    std::printf(
        "You are about to have semper-ca sign one token of kind %s for a holder. You cannot see what\n"
        "the token says: that is the point of a blind signature. Sign only what was paid for.\n",
        kind_id_.c_str());
    if (!Confirm(c_, "Sign the issuance request?")) return 1;
    *st.mutable_made_at() = ToTimestamp(absl::Now());
    v1::IssueBlindTokenRequest req;
    req.set_signature(SignWith(wallet_, wallet_pass_, st, req.mutable_request()));
    v1::IssueBlindTokenResponse resp;
    Call(Stub(c_)->IssueBlindToken(Ctx().get(), req, &resp));
    WriteOrDie(out_, resp.blind_signature());
    std::printf("Issuance %lld recorded; blind signature in %s.\n", static_cast<long long>(resp.issuance_number()),
                out_.c_str());
    return 0;
  }
  if (finalize_->parsed()) {
    auto st = FromJsonFile<v1::TokenBlindingState>(state_);
    v1::GetTokenKindRequest kreq;
    kreq.set_kind_id(st.kind_id());
    v1::TokenKind kind;
    Call(Stub(c_)->GetTokenKind(Ctx().get(), kreq, &kind));
    CheckCaSignature(c_, kind.statement(), kind.signature());
    auto pk = PublicKey::FromDer(kind.public_key());
    if (!pk.ok()) Die(pk.status());
    auto sig = blind_rsa::Finalize(*pk, st.prepared_message(), ReadFileOrDie(blind_sig_), st.inv());
    if (!sig.ok()) Die(sig.status());
    v1::RedeemTokenRequest token;
    token.set_kind_id(st.kind_id());
    token.set_message(st.prepared_message());
    token.set_signature(*sig);
    WriteOrDie(out_, Json(token), 0600);
    std::printf("Token of kind %s (%s) in %s: valid, unlinkable to its issuance, accepted once.\n", kind.id().c_str(),
                kind.name().c_str(), out_.c_str());
    return 0;
  }
  if (redeem_->parsed()) {
    auto token = FromJsonFile<v1::RedeemTokenRequest>(token_);
    token.set_reference(reference_);
    std::printf(
        "You are about to redeem, as the acceptor, a token of kind %s (message of %zu bytes)%s%s:\n"
        "semper-ca records it used, and it is accepted nowhere again.\n",
        VisibleLine(token.kind_id()).c_str(), token.message().size(), reference_.empty() ? "" : ", reference ",
        VisibleLine(reference_).c_str());
    if (!Confirm(c_, "Redeem?")) return 1;
    v1::RedeemTokenResponse resp;
    Call(Stub(c_)->RedeemToken(Ctx().get(), token, &resp));
    std::printf("Accepted: redemption %s at %s.\n", resp.redemption_id().c_str(), TimeText(resp.redeemed_at()).c_str());
    return 0;
  }
  if (clearing_->parsed()) {
    v1::GetClearingStatementRequest req;
    req.set_issuer_subscriber_id(issuer_);
    req.set_acceptor_subscriber_id(acceptor_);
    absl::Time from, until;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, from_, &from, &err)) Die(InvalidField("--from", "must be RFC 3339"), 2);
    if (!absl::ParseTime(absl::RFC3339_full, until_, &until, &err)) Die(InvalidField("--until", "must be RFC 3339"), 2);
    *req.mutable_from() = ToTimestamp(from);
    *req.mutable_until() = ToTimestamp(until);
    v1::GetClearingStatementResponse resp;
    Call(Stub(c_)->GetClearingStatement(Ctx().get(), req, &resp));
    CheckCaSignature(c_, resp.statement(), resp.signature());
    v1::ClearingStatement st;
    (void)google::protobuf::util::JsonStringToMessage(resp.statement(), &st);
    std::printf("Clearing %s -> %s, %s to %s (signed by semper-ca: verified)\n", issuer_.c_str(), acceptor_.c_str(),
                TimeText(st.from()).c_str(), TimeText(st.until()).c_str());
    if (st.lines().empty()) std::printf("  no redemptions\n");
    for (const auto& l : st.lines()) {
      std::printf("  %-30s %6lld  %s\n", l.kind_name().c_str(), static_cast<long long>(l.redemptions()),
                  l.has_value() ? FormatMoney(l.value()).c_str() : "");
    }
    if (!out_.empty()) {
      WriteOrDie(out_ + ".json", resp.statement());
      WriteOrDie(out_ + ".sig", resp.signature());
    }
    return 0;
  }
  if (issue_->parsed()) {
    auto holder = Certificate::ChainFromPem(ReadFileOrDie(holder_));
    if (!holder.ok()) Die(Annotate(holder.status(), "--holder"), 2);
    int uses = 0;
    if (!absl::SimpleAtoi(uses_, &uses) || uses < 0) Die(InvalidField("--uses", "must be 0 (unlimited) or more"), 2);
    v1::CredentialRequestStatement st;
    st.set_type("semper-credential-request");
    st.set_holder_certificate(holder->front().Der());
    st.set_kind(kind_);
    st.set_rights(rights_);
    st.set_uses(uses);
    *st.mutable_valid_until() = ToTimestamp(absl::Now() + absl::Hours(24) * Days("--valid-days", valid_days_));
    std::printf("You are about to issue, as %s:\n", WalletChain(wallet_).front().Subject().c_str());
    std::printf("  a %s to %s\n  rights: %s\n  uses:   %s\n  valid:  until %s\n", VisibleLine(kind_).c_str(),
                VisibleLine(holder->front().Subject()).c_str(), VisibleLine(rights_).c_str(),
                uses == 0 ? "unlimited" : uses_.c_str(), TimeText(st.valid_until()).c_str());
    if (!Confirm(c_, "Sign and issue?")) return 1;
    *st.mutable_made_at() = ToTimestamp(absl::Now());
    v1::IssueCredentialRequest req;
    req.set_signature(SignWith(wallet_, wallet_pass_, st, req.mutable_request()));
    v1::Credential cred;
    Call(Stub(c_)->IssueCredential(Ctx().get(), req, &cred));
    // Kept only as semper-ca signed it, with what was asked for.
    CheckCaSignature(c_, cred.statement(), cred.signature(), /*exit_code=*/3);
    v1::CredentialStatement issued = Statement(cred);
    if (issued.kind() != st.kind() || issued.rights() != st.rights() || issued.uses() != st.uses() ||
        issued.holder_certificate_serial() != holder->front().SerialHex()) {
      Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID,
                    "semper-ca's answer: a credential other than the one asked for"),
          3);
    }
    WriteOrDie(out_, Json(cred));
    PrintCredential(issued);
    return 0;
  }
  if (show_->parsed()) {
    v1::GetCredentialRequest req;
    req.set_credential_id(credential_id_);
    v1::Credential cred;
    Call(Stub(c_)->GetCredential(Ctx().get(), req, &cred));
    PrintCredential(Statement(cred));
    std::printf("  left:    %s%s\n", cred.uses_left() < 0 ? "unlimited" : std::to_string(cred.uses_left()).c_str(),
                cred.has_last_used_at() ? (", last used " + TimeText(cred.last_used_at())).c_str() : "");
    return 0;
  }
  if (verify_->parsed()) {
    auto cred = FromJsonFile<v1::Credential>(credential_);
    CheckCaSignature(c_, cred.statement(), cred.signature(), /*exit_code=*/3);
    v1::CredentialStatement cs = Statement(cred);
    PrintCredential(cs);
    const bool valid = FromTimestamp(cs.valid_from()) <= absl::Now() && absl::Now() < FromTimestamp(cs.valid_until());
    std::printf("  signed by semper-ca: verified; %s now (uses left: ask `credential show`)\n",
                valid ? "valid" : "NOT valid");
    return valid ? 0 : 3;
  }
  if (present_->parsed()) {
    auto cred = FromJsonFile<v1::Credential>(credential_);
    v1::CredentialStatement cs = Statement(cred);
    std::printf("You are about to present, for one use at acceptor %s:\n", acceptor_.c_str());
    PrintCredential(cs);
    if (!Confirm(c_, "Sign the presentation?")) return 1;
    v1::PresentationStatement ps;
    ps.set_type("semper-credential-presentation");
    ps.set_credential_id(cs.credential_id());
    ps.set_acceptor_subscriber_id(acceptor_);
    ps.set_nonce(RandomBytes(16));
    *ps.mutable_made_at() = ToTimestamp(absl::Now());
    v1::RedeemCredentialRequest req;
    req.set_credential_statement(cred.statement());
    req.set_credential_signature(cred.signature());
    req.set_presentation_signature(SignWith(wallet_, wallet_pass_, ps, req.mutable_presentation()));
    WriteOrDie(out_, Json(req), 0600);
    std::printf("Presentation in %s (valid for 5 minutes, once).\n", out_.c_str());
    return 0;
  }
  if (use_->parsed()) {
    auto req = FromJsonFile<v1::RedeemCredentialRequest>(presentation_);
    v1::Credential shown;
    shown.set_statement(req.credential_statement());
    std::printf("You are about to take one use, as the acceptor, of:\n");
    PrintCredential(Statement(shown));
    if (!Confirm(c_, "Take one use?")) return 1;
    v1::RedeemCredentialResponse resp;
    Call(Stub(c_)->RedeemCredential(Ctx().get(), req, &resp));
    std::printf("Accepted: use %s at %s; %s left.\n", resp.redemption_id().c_str(),
                TimeText(resp.redeemed_at()).c_str(),
                resp.uses_left() < 0 ? "unlimited" : std::to_string(resp.uses_left()).c_str());
    return 0;
  }
  return std::nullopt;
}

}  // namespace semper::ctl
