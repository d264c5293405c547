// semperctl: the command line of the semper suite, for administrators (registration) and for
// subscribers (enrolment). Nothing irreversible happens without showing it and asking first
// (--yes answers for scripts).
#include <google/protobuf/util/time_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/semperctl/arbiter_commands.h"
#include "cli/semperctl/audit_commands.h"
#include "cli/semperctl/common.h"
#include "cli/semperctl/credential_commands.h"
#include "cli/semperctl/liability_commands.h"
#include "cli/semperctl/notary_commands.h"
#include "cli/semperctl/notary_flow_commands.h"
#include "cli/semperctl/order_commands.h"
#include "cli/semperctl/privacy_commands.h"
#include "cli/semperctl/renew_command.h"
#include "cli/semperctl/tsa_commands.h"
#include "common/base/files.h"
#include "common/base/secret.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/crypto/csr.h"
#include "common/crypto/keys.h"
#include "common/server/grpc_status.h"
#include "semper/v1/ca.grpc.pb.h"

namespace semper::ctl {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::TimeUtil;

std::unique_ptr<v1::CertificationAuthority::Stub> CaStub(const Connection& c) {
  return v1::CertificationAuthority::NewStub(ChannelTo(c, c.server));
}

std::string KindText(v1::CustomerKind k) {
  return k == v1::CUSTOMER_KIND_ENTERPRISE ? "enterprise" : k == v1::CUSTOMER_KIND_INDIVIDUAL ? "individual" : "?";
}

std::string StateText(v1::SubscriberState s) {
  switch (s) {
    case v1::SUBSCRIBER_STATE_ACTIVE:
      return "active";
    case v1::SUBSCRIBER_STATE_SUSPENDED:
      return "suspended";
    case v1::SUBSCRIBER_STATE_CLOSED:
      return "closed";
    default:
      return "?";
  }
}

void PrintSubscriber(const v1::Subscriber& s) {
  std::printf("  id:             %s\n", s.id().empty() ? "(assigned by the CA)" : s.id().c_str());
  std::printf("  name:           %s\n", s.name().c_str());
  std::printf("  kind:           %s\n", KindText(s.kind()).c_str());
  std::printf("  country:        %s\n", s.country().c_str());
  std::printf("  applicable law: %s\n", s.applicable_law().c_str());
  std::printf("  VAT reference:  %s\n", s.vat_reference().empty() ? "-" : s.vat_reference().c_str());
  std::printf("  e-mail:         %s\n", s.email().c_str());
  if (s.state() != v1::SUBSCRIBER_STATE_UNSPECIFIED) {
    std::printf("  state:          %s\n", StateText(s.state()).c_str());
    std::printf("  registered:     %s by %s\n", TimeUtil::ToString(s.created_at()).c_str(), s.created_by().c_str());
  }
}

int Register(const Connection& c, v1::RegisterSubscriberRequest req, const std::string& kind) {
  if (kind == "individual")
    req.mutable_subscriber()->set_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
  else if (kind == "enterprise")
    req.mutable_subscriber()->set_kind(v1::CUSTOMER_KIND_ENTERPRISE);
  else
    Die(InvalidField("--kind", "must be individual or enterprise"), 2);
  std::printf("Register this subscriber at %s?\n", c.server.c_str());
  PrintSubscriber(req.subscriber());
  if (!Confirm(c, "Register?")) {
    std::fprintf(stderr, "semperctl: nothing registered\n");
    return 1;
  }
  auto stub = CaStub(c);
  v1::RegisterSubscriberResponse resp;
  Call(stub->RegisterSubscriber(Ctx().get(), req, &resp));
  std::printf("Registered:\n");
  PrintSubscriber(resp.subscriber());
  std::printf("Enrolment code: %s\n", resp.enrolment_code().c_str());
  std::printf("  valid until %s, once. Give it to the subscriber over a separate channel;\n",
              TimeUtil::ToString(resp.enrolment_expires_at()).c_str());
  std::printf("  it is not shown again. The subscriber runs: semperctl enroll --code <code> --wallet <dir>\n");
  return 0;
}

int Show(const Connection& c, const std::string& id) {
  v1::GetSubscriberRequest req;
  req.set_id(id);
  v1::Subscriber resp;
  Call(CaStub(c)->GetSubscriber(Ctx().get(), req, &resp));
  PrintSubscriber(resp);
  return 0;
}

int List(const Connection& c, int page_size, const std::string& token) {
  v1::ListSubscribersRequest req;
  req.set_page_size(page_size);
  req.set_page_token(token);
  v1::ListSubscribersResponse resp;
  Call(CaStub(c)->ListSubscribers(Ctx().get(), req, &resp));
  std::printf("%-20s %-10s %-2s %-10s %-20s %s\n", "ID", "KIND", "CC", "STATE", "VAT", "NAME");
  for (const auto& s : resp.subscribers()) {
    std::printf("%-20s %-10s %-2s %-10s %-20s %s\n", s.id().c_str(), KindText(s.kind()).c_str(), s.country().c_str(),
                StateText(s.state()).c_str(), s.vat_reference().empty() ? "-" : s.vat_reference().c_str(),
                s.name().c_str());
  }
  if (!resp.next_page_token().empty()) std::printf("more: --page-token %s\n", resp.next_page_token().c_str());
  return 0;
}

int Enroll(const Connection& c, const std::string& code, const std::string& wallet, const std::string& key_type,
           const std::string& wallet_passphrase_file) {
  KeyType type = KeyType::kEcP256;
  if (key_type == "rsa")
    type = KeyType::kRsa;
  else if (key_type == "ed25519")
    type = KeyType::kEd25519;
  else if (key_type != "ec")
    Die(InvalidField("--key-type", "must be ec, rsa or ed25519"), 2);
  fs::path dir(wallet);
  std::error_code ec;
  if (fs::exists(dir / "signature.key", ec) || fs::exists(dir / "authentication.key", ec)) {
    Die(MakeError(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS,
                  StrCat(wallet, " already holds keys; choose another --wallet")),
        2);
  }
  std::printf("Enrolment at %s:\n", c.server.c_str());
  std::printf("  two new %s key pairs are made here (authentication, signature); the private keys\n",
              std::string(KeyTypeName(type)).c_str());
  std::printf("  never leave this machine. The CA receives two certification requests and decides\n");
  std::printf("  every field of the certificates from your registration record.\n");
  std::printf("  wallet: %s (keys encrypted with your wallet passphrase)\n", wallet.c_str());
  if (!Confirm(c, "Enrol?")) return 1;
  SecretData pass = Passphrase(wallet_passphrase_file, "Wallet passphrase (at least 8 characters): ");

  auto auth_key = PrivateKey::Generate(type);
  auto sig_key = PrivateKey::Generate(type);
  if (!auth_key.ok() || !sig_key.ok()) Die(absl::InternalError("key generation failed"));
  auto auth_csr = CertificationRequest::Create(*auth_key, {});
  auto sig_csr = CertificationRequest::Create(*sig_key, {});
  if (!auth_csr.ok()) Die(auth_csr.status());
  if (!sig_csr.ok()) Die(sig_csr.status());
  auto auth_pem = auth_key->ToEncryptedPem(pass);
  auto sig_pem = sig_key->ToEncryptedPem(pass);
  if (!auth_pem.ok()) Die(auth_pem.status(), 2);
  if (!sig_pem.ok()) Die(sig_pem.status(), 2);

  v1::EnrollRequest req;
  req.set_enrolment_code(code);
  req.set_authentication_csr(auth_csr->Der());
  req.set_signature_csr(sig_csr->Der());
  v1::EnrollResponse resp;
  Call(CaStub(c)->Enroll(Ctx().get(), req, &resp));

  fs::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);
  std::string chain;
  for (const auto& der : resp.chain()) chain += Certificate::FromDer(der)->Pem();
  auto auth_cert = Certificate::FromDer(resp.authentication().certificate());
  auto sig_cert = Certificate::FromDer(resp.signature().certificate());
  if (!auth_cert.ok() || !sig_cert.ok()) Die(absl::InternalError("the CA returned a damaged certificate"));
  for (auto [name, content, mode] :
       {std::tuple{"authentication.key", *auth_pem, 0600}, std::tuple{"signature.key", *sig_pem, 0600},
        std::tuple{"authentication.pem", auth_cert->Pem() + chain, 0600},
        std::tuple{"signature.pem", sig_cert->Pem() + chain, 0600}, std::tuple{"chain.pem", chain, 0600}}) {
    absl::Status w = WriteFile(dir / name, content, static_cast<mode_t>(mode));
    if (!w.ok()) Die(w);
  }
  std::printf("Enrolled subscriber %s.\n", resp.subscriber_id().c_str());
  std::printf("  authentication certificate %s: %s\n", resp.authentication().serial().c_str(),
              auth_cert->Subject().c_str());
  std::printf("  signature certificate      %s: %s\n", resp.signature().serial().c_str(), sig_cert->Subject().c_str());
  std::printf("  valid until %s\n",
              absl::FormatTime(absl::RFC3339_sec, auth_cert->not_after(), absl::UTCTimeZone()).c_str());
  std::printf("  wallet: %s\n", wallet.c_str());
  return 0;
}

struct UpdateFlags {
  std::optional<std::string> name, kind, country, law, vat, email;
};

int Update(const Connection& c, const std::string& id, const UpdateFlags& f) {
  auto stub = CaStub(c);
  v1::GetSubscriberRequest get;
  get.set_id(id);
  v1::Subscriber current;
  Call(stub->GetSubscriber(Ctx().get(), get, &current));
  v1::Subscriber next = current;
  if (f.name) next.set_name(*f.name);
  if (f.kind) {
    if (*f.kind == "individual")
      next.set_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
    else if (*f.kind == "enterprise")
      next.set_kind(v1::CUSTOMER_KIND_ENTERPRISE);
    else
      Die(InvalidField("--kind", "must be individual or enterprise"), 2);
  }
  if (f.country) next.set_country(*f.country);
  if (f.law) next.set_applicable_law(*f.law);
  if (f.vat) next.set_vat_reference(*f.vat);
  if (f.email) next.set_email(*f.email);
  std::printf("Now:\n");
  PrintSubscriber(current);
  std::printf("After the update:\n");
  PrintSubscriber(next);
  if (!Confirm(c, "Update?")) return 1;
  v1::UpdateSubscriberRequest req;
  *req.mutable_subscriber() = next;
  v1::Subscriber resp;
  Call(stub->UpdateSubscriber(Ctx().get(), req, &resp));
  std::printf("Updated. Certificates already issued keep the old facts until the subscriber enrols again.\n");
  return 0;
}

int SetState(const Connection& c, const std::string& id, v1::SubscriberState state, const std::string& reason) {
  const char* what = state == v1::SUBSCRIBER_STATE_SUSPENDED ? "Suspend"
                     : state == v1::SUBSCRIBER_STATE_ACTIVE  ? "Reactivate"
                                                             : "Close";
  std::printf("%s subscriber %s?\n", what, id.c_str());
  if (state == v1::SUBSCRIBER_STATE_SUSPENDED)
    std::printf("  Every valid certificate of the subscriber goes on hold.\n");
  if (state == v1::SUBSCRIBER_STATE_ACTIVE) std::printf("  The holds placed by the suspension are released.\n");
  if (state == v1::SUBSCRIBER_STATE_CLOSED) {
    std::printf("  Every certificate of the subscriber is revoked (cessationOfOperation). This cannot be undone.\n");
  }
  if (!Confirm(c, std::string(what) + "?")) return 1;
  v1::SetSubscriberStateRequest req;
  req.set_id(id);
  req.set_state(state);
  req.set_reason(reason);
  v1::Subscriber resp;
  Call(CaStub(c)->SetSubscriberState(Ctx().get(), req, &resp));
  PrintSubscriber(resp);
  return 0;
}

int History(const Connection& c, const std::string& id) {
  v1::GetSubscriberHistoryRequest req;
  req.set_id(id);
  v1::GetSubscriberHistoryResponse resp;
  Call(CaStub(c)->GetSubscriberHistory(Ctx().get(), req, &resp));
  for (const auto& ch : resp.changes()) {
    std::printf("%s  %-22s by %s  %s\n", TimeUtil::ToString(ch.changed_at()).c_str(), ch.action().c_str(),
                ch.changed_by().c_str(), ch.details().c_str());
  }
  return 0;
}

int NewCode(const Connection& c, const std::string& id, int valid_days) {
  v1::IssueEnrolmentCodeRequest req;
  req.set_subscriber_id(id);
  req.set_enrolment_valid_seconds(int64_t{valid_days} * 86400);
  std::printf(
      "A new one-time enrolment code for subscriber %s, valid %d days: whoever holds it obtains\n"
      "certificates in the subscriber's name.\n",
      id.c_str(), valid_days);
  if (!Confirm(c, "Issue the code?")) return 1;
  v1::RegisterSubscriberResponse resp;
  Call(CaStub(c)->IssueEnrolmentCode(Ctx().get(), req, &resp));
  std::printf("Enrolment code for %s: %s\n  valid until %s, once.\n", id.c_str(), resp.enrolment_code().c_str(),
              TimeUtil::ToString(resp.enrolment_expires_at()).c_str());
  return 0;
}

std::optional<v1::RevocationReason> ParseReason(const std::string& r) {
  static const std::vector<std::pair<std::string, v1::RevocationReason>> kReasons = {
      {"unspecified", v1::REVOCATION_REASON_UNSPECIFIED},
      {"keyCompromise", v1::REVOCATION_REASON_KEY_COMPROMISE},
      {"affiliationChanged", v1::REVOCATION_REASON_AFFILIATION_CHANGED},
      {"superseded", v1::REVOCATION_REASON_SUPERSEDED},
      {"cessationOfOperation", v1::REVOCATION_REASON_CESSATION_OF_OPERATION},
      {"certificateHold", v1::REVOCATION_REASON_CERTIFICATE_HOLD},
      {"privilegeWithdrawn", v1::REVOCATION_REASON_PRIVILEGE_WITHDRAWN}};
  for (const auto& [name, value] : kReasons) {
    if (name == r) return value;
  }
  return std::nullopt;
}

void PrintStatus(const v1::CertificateStatus& s) {
  const char* state = s.state() == v1::CERTIFICATE_STATE_GOOD      ? "good"
                      : s.state() == v1::CERTIFICATE_STATE_REVOKED ? "revoked"
                                                                   : "unknown (not issued by this CA)";
  std::printf("  serial:     %s\n  status:     %s\n", s.serial().c_str(), state);
  if (s.state() == v1::CERTIFICATE_STATE_REVOKED) {
    std::printf("  revoked at: %s\n  reason:     %s\n", TimeUtil::ToString(s.revoked_at()).c_str(),
                v1::RevocationReason_Name(s.reason()).c_str());
  }
  if (!s.subscriber_id().empty()) std::printf("  subscriber: %s\n", s.subscriber_id().c_str());
}

int Revoke(const Connection& c, const std::string& serial, const std::string& reason_text) {
  auto reason = ParseReason(reason_text);
  if (!reason) {
    Die(InvalidField("--reason",
                     "must be one of unspecified, keyCompromise, affiliationChanged, superseded, "
                     "cessationOfOperation, certificateHold, privilegeWithdrawn"),
        2);
  }
  std::printf("Revoke certificate %s for %s at %s?\n", serial.c_str(), reason_text.c_str(), c.server.c_str());
  if (*reason != v1::REVOCATION_REASON_CERTIFICATE_HOLD) {
    std::printf("  This cannot be undone: relying parties will refuse the certificate from now on.\n");
  }
  if (*reason == v1::REVOCATION_REASON_KEY_COMPROMISE) {
    std::printf("  The key will never be certified again.\n");
  }
  if (!Confirm(c, "Revoke?")) {
    std::fprintf(stderr, "semperctl: nothing revoked\n");
    return 1;
  }
  v1::RevokeCertificateRequest req;
  req.set_serial(serial);
  req.set_reason(*reason);
  v1::RevokeCertificateResponse resp;
  Call(CaStub(c)->RevokeCertificate(Ctx().get(), req, &resp));
  std::printf("Revoked.\n");
  PrintStatus(resp.status());
  return 0;
}

int ReleaseHold(const Connection& c, const std::string& serial) {
  v1::ReleaseHoldRequest req;
  req.set_serial(serial);
  std::printf("Release the hold on certificate %s at %s? Relying parties accept it again at once.\n", serial.c_str(),
              c.server.c_str());
  if (!Confirm(c, "Release the hold?")) return 1;
  v1::CertificateStatus resp;
  Call(CaStub(c)->ReleaseHold(Ctx().get(), req, &resp));
  PrintStatus(resp);
  return 0;
}

int CertStatus(const Connection& c, const std::string& serial_or_file) {
  v1::GetCertificateStatusRequest req;
  std::error_code ec;
  if (fs::exists(serial_or_file, ec)) {
    auto certs = Certificate::ChainFromPem(ReadFileOrDie(serial_or_file));
    if (!certs.ok()) Die(certs.status(), 2);
    req.set_certificate(certs->front().Der());
  } else {
    req.set_serial(serial_or_file);
  }
  v1::CertificateStatus resp;
  Call(CaStub(c)->GetCertificateStatus(Ctx().get(), req, &resp));
  PrintStatus(resp);
  return resp.state() == v1::CERTIFICATE_STATE_GOOD ? 0 : 3;
}

}  // namespace
}  // namespace semper::ctl

int main(int argc, char** argv) {
  using namespace semper;
  ctl::GuardTerminalOutput();
  CLI::App app{"semperctl: administer and use the semper trusted third parties"};
  app.require_subcommand(1);
  ctl::Connection c;
  app.add_option("--server", c.server,
                 "semper-ca address host:port; replicas as IP:port,IP:port or one DNS name (dns:///name:port), "
                 "balanced round robin")
      ->envname("SEMPERCTL_SERVER")
      ->capture_default_str();
  app.add_option("--ca-file", c.ca_file, "root certificate(s) the server must chain to (PEM)")
      ->envname("SEMPERCTL_CA_FILE");
  app.add_option("--cert", c.cert_file, "your client certificate (PEM), for administrator commands")
      ->envname("SEMPERCTL_CERT");
  app.add_option("--key", c.key_file, "the key of --cert (encrypted PEM)")->envname("SEMPERCTL_KEY");
  app.add_option("--key-passphrase-file", c.passphrase_file, "file with the passphrase of --key (asked otherwise)")
      ->envname("SEMPERCTL_KEY_PASSPHRASE_FILE");
  app.add_option("--server-name", c.server_name,
                 "TLS name the server's certificate must carry, if not the --server host");
  app.add_flag("--plaintext", c.plaintext, "no TLS (local development servers only)");
  app.add_flag("-y,--yes", c.yes, "answer yes to confirmations (scripts)");

  auto* sub = app.add_subcommand("subscriber", "registration records (administrators and registration officers)");
  sub->require_subcommand(1);
  v1::RegisterSubscriberRequest reg;
  std::string kind, name, country, law, vat, email;
  int valid_days = 7;
  auto* reg_cmd = sub->add_subcommand("register", "register a buyer or seller and print a one-time enrolment code");
  reg_cmd->add_option("--name", name, "name of the person or enterprise")->required();
  reg_cmd->add_option("--kind", kind, "individual or enterprise")->required();
  reg_cmd->add_option("--country", country, "ISO 3166-1 alpha-2 country code")->required();
  reg_cmd->add_option("--law", law, "applicable law: country code or EU")->required();
  reg_cmd->add_option("--vat", vat, "VAT reference, e.g. VATDE-123456789 (enterprises)");
  reg_cmd->add_option("--email", email, "e-mail address")->required();
  reg_cmd->add_option("--valid-days", valid_days, "days the enrolment code stays valid")->capture_default_str();
  std::string id;
  auto* show_cmd = sub->add_subcommand("show", "show one registration record");
  show_cmd->add_option("id", id, "subscriber id (S-...)")->required();
  int page_size = 100;
  std::string page_token;
  auto* list_cmd = sub->add_subcommand("list", "list registration records, newest first");
  list_cmd->add_option("--page-size", page_size)->capture_default_str();
  list_cmd->add_option("--page-token", page_token);

  ctl::UpdateFlags upd;
  auto* upd_cmd = sub->add_subcommand("update", "change a registration record (shows before and after, asks first)");
  upd_cmd->add_option("id", id, "subscriber id")->required();
  upd_cmd->add_option("--name", upd.name);
  upd_cmd->add_option("--kind", upd.kind);
  upd_cmd->add_option("--country", upd.country);
  upd_cmd->add_option("--law", upd.law);
  upd_cmd->add_option("--vat", upd.vat);
  upd_cmd->add_option("--email", upd.email);
  std::string state_reason;
  auto* suspend_cmd = sub->add_subcommand("suspend", "suspend a subscriber: its certificates go on hold");
  suspend_cmd->add_option("id", id)->required();
  suspend_cmd->add_option("--reason", state_reason, "why, for the record");
  auto* reactivate_cmd = sub->add_subcommand("reactivate", "end a suspension");
  reactivate_cmd->add_option("id", id)->required();
  reactivate_cmd->add_option("--reason", state_reason);
  auto* close_cmd = sub->add_subcommand("close", "close a subscriber for good: all its certificates are revoked");
  close_cmd->add_option("id", id)->required();
  close_cmd->add_option("--reason", state_reason);
  auto* history_cmd = sub->add_subcommand("history", "every change to a record, with who made it");
  history_cmd->add_option("id", id)->required();
  auto* code_cmd = sub->add_subcommand("new-code", "a new one-time enrolment code for an active subscriber");
  code_cmd->add_option("id", id)->required();
  code_cmd->add_option("--valid-days", valid_days)->capture_default_str();

  std::string code, wallet, key_type = "ec", wallet_pass;
  auto* enroll_cmd = app.add_subcommand("enroll", "make your keys and obtain your certificates with an enrolment code");
  enroll_cmd->add_option("--code", code, "the enrolment code from your registration officer")->required();
  enroll_cmd->add_option("--wallet", wallet, "directory for your keys and certificates")->required();
  enroll_cmd->add_option("--key-type", key_type, "ec (P-256), rsa (3072) or ed25519")->capture_default_str();
  enroll_cmd->add_option("--wallet-passphrase-file", wallet_pass,
                         "file with the passphrase for the wallet keys (asked otherwise)");

  auto* cert = app.add_subcommand("certificate", "certificate status and revocation");
  cert->require_subcommand(1);
  std::string serial, reason = "unspecified";
  auto* revoke_cmd = cert->add_subcommand("revoke", "revoke a certificate (officers: any; subscribers: their own)");
  revoke_cmd->add_option("serial", serial, "upper-case hex serial number")->required();
  revoke_cmd->add_option("--reason", reason, "RFC 5280 reason, e.g. keyCompromise, certificateHold")
      ->capture_default_str();
  auto* release_cmd = cert->add_subcommand("release-hold", "lift a certificateHold (officers)");
  release_cmd->add_option("serial", serial)->required();
  auto* status_cmd = cert->add_subcommand("status", "status of a certificate: exit 0 good, 3 revoked or unknown");
  status_cmd->add_option("serial-or-pem-file", serial, "serial number, or a PEM certificate file")->required();

  ctl::RenewCommand renew(app, c);
  ctl::TsaCommands tsa(app, c);
  ctl::NotaryCommands notary(app, c);
  ctl::NotaryFlowCommands notary_flows(app.get_subcommand("notary"), c);
  ctl::OrderCommands orders(app, c);
  ctl::AuditCommands audit(app, c);
  ctl::ArbiterCommands arbiter(app, c);
  ctl::LiabilityCommands liability(app, c);
  ctl::PrivacyCommands privacy(app, c);
  ctl::CredentialCommands credentials(app, c);

  CLI11_PARSE(app, argc, argv);
  if (auto code = renew.Run()) return *code;
  if (auto code = tsa.Run()) return *code;
  if (auto code = notary.Run()) return *code;
  if (auto code = notary_flows.Run()) return *code;
  if (auto code = orders.Run()) return *code;
  if (auto code = audit.Run()) return *code;
  if (auto code = arbiter.Run()) return *code;
  if (auto code = liability.Run()) return *code;
  if (auto code = privacy.Run()) return *code;
  if (auto code = credentials.Run()) return *code;
  if (revoke_cmd->parsed()) return ctl::Revoke(c, serial, reason);
  if (release_cmd->parsed()) return ctl::ReleaseHold(c, serial);
  if (status_cmd->parsed()) return ctl::CertStatus(c, serial);
  if (reg_cmd->parsed()) {
    auto* s = reg.mutable_subscriber();
    s->set_name(name);
    s->set_country(country);
    s->set_applicable_law(law);
    s->set_vat_reference(vat);
    s->set_email(email);
    reg.set_enrolment_valid_seconds(int64_t{valid_days} * 86400);
    return ctl::Register(c, reg, kind);
  }
  if (show_cmd->parsed()) return ctl::Show(c, id);
  if (upd_cmd->parsed()) return ctl::Update(c, id, upd);
  if (suspend_cmd->parsed()) return ctl::SetState(c, id, v1::SUBSCRIBER_STATE_SUSPENDED, state_reason);
  if (reactivate_cmd->parsed()) return ctl::SetState(c, id, v1::SUBSCRIBER_STATE_ACTIVE, state_reason);
  if (close_cmd->parsed()) return ctl::SetState(c, id, v1::SUBSCRIBER_STATE_CLOSED, state_reason);
  if (history_cmd->parsed()) return ctl::History(c, id);
  if (code_cmd->parsed()) return ctl::NewCode(c, id, valid_days);
  if (list_cmd->parsed()) return ctl::List(c, page_size, page_token);
  if (enroll_cmd->parsed()) return ctl::Enroll(c, code, wallet, key_type, wallet_pass);
  return 2;
}
