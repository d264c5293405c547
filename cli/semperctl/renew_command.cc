// semperctl renew.
#include "cli/semperctl/renew_command.h"

#include <filesystem>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/base/files.h"
#include "common/base/status.h"
#include "common/crypto/csr.h"
#include "common/server/grpc_status.h"
#include "semper/v1/ca.grpc.pb.h"

namespace semper::ctl {

namespace fs = std::filesystem;

namespace {

std::string When(absl::Time t) { return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone()); }

// When `semperctl renew --daemon` renews a certificate: once two thirds of its validity have passed.
absl::Time RenewAt(const Certificate& cert) {
  return cert.not_before() + (cert.not_after() - cert.not_before()) * 2 / 3;
}

Certificate FirstOrDie(const std::string& file) {
  auto chain = Certificate::ChainFromPem(ReadFileOrDie(file));
  if (!chain.ok() || chain->empty())
    Die(chain.ok() ? InvalidField("--wallet", file + " holds no certificate") : chain.status(), 2);
  return chain->front();
}

// Refusals that another try cannot change: the daemon stops on them.
bool Final(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kUnknown:
      return false;
    case absl::StatusCode::kFailedPrecondition:
      // The window not open yet (a CA whose ca.renewal_window is shorter than a third), or a
      // suspended subscriber: may change. Revoked, expired, renewed already: will not.
      return ReasonOf(s) != v1::WRONG_STATE;
    default:
      return true;
  }
}

}  // namespace

RenewCommand::RenewCommand(CLI::App& app, Connection& c) : c_(c) {
  cmd_ = app.add_subcommand(
      "renew",
      "new keys and certificates for your wallet, on proof of your current authentication key (no enrolment code)");
  cmd_->add_option("--wallet", wallet_, "your wallet (semperctl enroll)")->required();
  cmd_->add_option("--wallet-passphrase-file", pass_file_,
                   "file with the wallet passphrase (asked otherwise; required with --daemon)");
  cmd_->add_option("--key-type", key_type_,
                   "ec (P-256), rsa (3072) or ed25519; default: the type of your current keys");
  cmd_->add_flag("--daemon", daemon_,
                 "keep running: renew whenever two thirds of the certificates' validity have passed, retrying what "
                 "fails for a reason that may pass (no confirmation)");
}

std::optional<int> RenewCommand::Run() {
  if (!cmd_->parsed()) return std::nullopt;
  if (daemon_) return Daemon();
  absl::Status s = RenewOnce(true);
  if (s.code() == absl::StatusCode::kCancelled) return 1;
  if (!s.ok()) Die(s);
  return 0;
}

absl::Status RenewCommand::RenewOnce(bool ask) {
  // One renewal of a wallet at a time (a --daemon and a hand-run renew of the same wallet).
  std::optional<WalletLock> lock = WalletLock::Take(wallet_, false);
  if (!lock) {
    return MakeError(absl::StatusCode::kAborted, v1::CONFLICT,
                     StrCat("another renewal of ", wallet_, " is running; try again once it has finished"));
  }
  if (CompleteRenewal(wallet_, true)) std::printf("Completed an interrupted renewal of %s.\n", wallet_.c_str());
  const fs::path dir(wallet_);
  const Certificate auth = FirstOrDie((dir / "authentication.pem").string());
  const Certificate sig = FirstOrDie((dir / "signature.pem").string());
  std::error_code ec;
  auto discard_pending = [&] {
    for (const char* f : {"authentication.key.next", "signature.key.next", "renewal.pending"}) fs::remove(dir / f, ec);
    SyncDirectory(wallet_);
  };
  // Keys made for a renewal of this very certificate that got no answer are asked for again;
  // any others are left over from something else.
  bool pending = fs::is_regular_file(fs::symlink_status(dir / "authentication.key.next", ec)) &&
                 fs::is_regular_file(fs::symlink_status(dir / "signature.key.next", ec)) &&
                 fs::is_regular_file(fs::symlink_status(dir / "renewal.pending", ec));
  if (pending) {
    auto of = ReadFile(dir / "renewal.pending");
    pending = of.ok() && *of == auth.SerialHex();
  }
  std::printf("Renewal at %s:\n", c_.server.c_str());
  std::printf("  your authentication certificate %s and signature certificate %s\n", auth.SerialHex().c_str(),
              sig.SerialHex().c_str());
  std::printf("  of %s\n", Visible(auth.Subject()).c_str());
  std::printf("  valid until %s; the CA renews from %s or as it sets\n", When(auth.not_after()).c_str(),
              When(RenewAt(auth)).c_str());
  std::printf("  %s; the CA certifies them on proof of your current\n",
              pending ? "the two new key pairs of an unfinished renewal are asked for again"
                      : "two new key pairs are made here (authentication, signature)");
  std::printf("  authentication key and decides every field from your registration record as it is now.\n");
  std::printf("  Your current certificates stay good until they expire (or you revoke them).\n");
  if (ask && !Confirm(c_, "Renew?")) return absl::CancelledError("not confirmed");

  SecretData pass = Passphrase(pass_file_, "Passphrase of your wallet: ");
  auto current_auth = PrivateKey::FromPem(ReadFileOrDie((dir / "authentication.key").string()), pass);
  auto current_sig = PrivateKey::FromPem(ReadFileOrDie((dir / "signature.key").string()), pass);
  if (!current_auth.ok()) Die(current_auth.status(), 2);
  if (!current_sig.ok()) Die(current_sig.status(), 2);
  WalletKeys current{*std::move(current_sig), *std::move(current_auth), auth};
  std::optional<KeyType> wanted;
  if (key_type_ == "ec") {
    wanted = KeyType::kEcP256;
  } else if (key_type_ == "rsa") {
    wanted = KeyType::kRsa;
  } else if (key_type_ == "ed25519") {
    wanted = KeyType::kEd25519;
  } else if (!key_type_.empty()) {
    Die(InvalidField("--key-type", "must be ec, rsa or ed25519"), 2);
  }
  std::optional<PrivateKey> auth_key, sig_key;
  if (pending) {
    auto a = PrivateKey::FromPem(ReadFileOrDie((dir / "authentication.key.next").string()), pass);
    auto s = PrivateKey::FromPem(ReadFileOrDie((dir / "signature.key.next").string()), pass);
    // The CA may have certified them already (the answer lost): never replaced by others here.
    if (!a.ok()) Die(Annotate(a.status(), "the unfinished renewal's authentication.key.next"), 2);
    if (!s.ok()) Die(Annotate(s.status(), "the unfinished renewal's signature.key.next"), 2);
    if (wanted && (a->type() != *wanted || s->type() != *wanted)) {
      std::printf(
          "  (--key-type is not followed: the keys of the unfinished renewal are asked for again, as the\n"
          "  CA may have certified them already; renew again afterwards for keys of another type)\n");
    }
    auth_key = *std::move(a);
    sig_key = *std::move(s);
  }
  if (!auth_key) {
    const KeyType type = wanted.value_or(current.authentication.type());
    auto a = PrivateKey::Generate(type);
    auto s = PrivateKey::Generate(type);
    if (!a.ok() || !s.ok()) Die(absl::InternalError("key generation failed"));
    auto a_pem = a->ToEncryptedPem(pass);
    auto s_pem = s->ToEncryptedPem(pass);
    if (!a_pem.ok()) Die(a_pem.status(), 2);
    if (!s_pem.ok()) Die(s_pem.status(), 2);
    // Kept before the CA is asked: a retry after a lost answer asks for the same keys, and gets
    // the certificates the CA made for them.
    discard_pending();
    WriteDurablyOrDie((dir / "authentication.key.next").string(), *a_pem);
    WriteDurablyOrDie((dir / "signature.key.next").string(), *s_pem);
    WriteDurablyOrDie((dir / "renewal.pending").string(), auth.SerialHex());
    SyncDirectory(wallet_);
    auth_key = *std::move(a);
    sig_key = *std::move(s);
  }
  auto auth_csr = CertificationRequest::Create(*auth_key, {});
  auto sig_csr = CertificationRequest::Create(*sig_key, {});
  if (!auth_csr.ok()) Die(auth_csr.status());
  if (!sig_csr.ok()) Die(sig_csr.status());
  v1::RenewRequest req;
  req.set_authentication_csr(auth_csr->Der());
  req.set_signature_csr(sig_csr->Der());
  v1::EnrollResponse resp;
  auto stub = v1::CertificationAuthority::NewStub(ChannelAsWallet(c_, c_.server, wallet_, current));
  absl::Status called = FromGrpcStatus(stub->Renew(Ctx().get(), req, &resp));
  if (!called.ok()) {
    if (Final(called) && !Held(auth)) {
      if (!pending) {
        // Made by this run and refused for good (renewed already, a key refused, the certificate
        // revoked): the CA certified nothing for them.
        discard_pending();
      } else {
        // An earlier try with them may have been certified, its answer lost: only the holder knows.
        std::fprintf(stderr,
                     "semperctl: the new keys of the unfinished renewal stay in %s (*.key.next): an earlier try "
                     "with them may have been certified. If it was not, remove them and renewal.pending.\n",
                     wallet_.c_str());
      }
    }
    return called;
  }

  // What the CA made must be for the keys asked for, under the issuing CA it sent.
  auto new_auth = Certificate::FromDer(resp.authentication().certificate());
  auto new_sig = Certificate::FromDer(resp.signature().certificate());
  if (!new_auth.ok() || !new_sig.ok() || new_auth->SpkiDer() != auth_key->public_key().Der() ||
      new_sig->SpkiDer() != sig_key->public_key().Der()) {
    return MakeError(absl::StatusCode::kInternal, v1::INTERNAL_ERROR,
                     "the CA's answer does not certify the keys asked for; the wallet is unchanged");
  }
  std::string chain;
  for (const auto& der : resp.chain()) {
    auto c = Certificate::FromDer(der);
    if (!c.ok()) return MakeError(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, "the CA sent a damaged chain");
    chain += c->Pem();
  }
  WriteDurablyOrDie((dir / "authentication.pem.next").string(), new_auth->Pem() + chain);
  WriteDurablyOrDie((dir / "signature.pem.next").string(), new_sig->Pem() + chain);
  WriteDurablyOrDie((dir / "chain.pem.next").string(), chain);
  SyncDirectory(wallet_);
  WriteDurablyOrDie((dir / "renewal.done").string(), "");
  SyncDirectory(wallet_);
  CompleteRenewal(wallet_, true);
  std::printf("Renewed subscriber %s.\n", resp.subscriber_id().c_str());
  std::printf("  authentication certificate %s (was %s)\n", resp.authentication().serial().c_str(),
              auth.SerialHex().c_str());
  std::printf("  signature certificate      %s (was %s)\n", resp.signature().serial().c_str(), sig.SerialHex().c_str());
  std::printf("  valid until %s; renew from %s\n", When(new_auth->not_after()).c_str(),
              When(RenewAt(*new_auth)).c_str());
  std::fflush(stdout);
  return absl::OkStatus();
}

bool RenewCommand::Held(const Certificate& cert) {
  // Anyone may ask (GetCertificateStatus is public): no client certificate needed.
  Connection anonymous = c_;
  anonymous.cert_file.clear();
  anonymous.key_file.clear();
  v1::GetCertificateStatusRequest req;
  req.set_serial(cert.SerialHex());
  v1::CertificateStatus status;
  grpc::Status s = v1::CertificationAuthority::NewStub(ChannelTo(anonymous, c_.server))
                       ->GetCertificateStatus(Ctx().get(), req, &status);
  return s.ok() && status.state() == v1::CERTIFICATE_STATE_REVOKED &&
         status.reason() == v1::REVOCATION_REASON_CERTIFICATE_HOLD;
}

int RenewCommand::Daemon() {
  if (pass_file_.empty()) Die(InvalidField("--wallet-passphrase-file", "is required with --daemon"), 2);
  absl::Duration backoff = absl::Seconds(5);
  for (;;) {
    CompleteRenewal(wallet_);
    const Certificate auth = FirstOrDie(wallet_ + "/authentication.pem");
    const absl::Time at = RenewAt(auth);
    if (absl::Now() < at) {
      std::printf("semperctl renew: certificate %s is valid until %s; next renewal at %s\n", auth.SerialHex().c_str(),
                  When(auth.not_after()).c_str(), When(at).c_str());
      std::fflush(stdout);
      // In steps, so that a clock set forward (or a suspended machine's wake) is noticed.
      while (absl::Now() < at) {
        std::this_thread::sleep_for(
            absl::ToChronoMilliseconds(std::min(at - absl::Now() + absl::Milliseconds(10), absl::Minutes(1))));
      }
    }
    absl::Status s = RenewOnce(false);
    if (s.ok()) {
      backoff = absl::Seconds(5);
      continue;
    }
    const absl::Time end = auth.not_after();
    // A hold (a suspension) may be released: tried again like a failure that may pass.
    const bool final = Final(s) && !Held(auth);
    if (final || absl::Now() >= end) {
      std::fprintf(stderr, "semperctl renew: %s [%s]; stopping%s\n", std::string(s.message()).c_str(),
                   ReasonName(ReasonOf(s)).c_str(), final ? "" : ": the certificate has expired");
      return 1;
    }
    // Never sleeping past the end: a quarter of what is left at most.
    const absl::Duration wait = std::max(absl::Seconds(1), std::min(backoff, (end - absl::Now()) / 4));
    std::fprintf(stderr, "semperctl renew: %s [%s]; trying again in %s\n", std::string(s.message()).c_str(),
                 ReasonName(ReasonOf(s)).c_str(), absl::FormatDuration(absl::Trunc(wait, absl::Seconds(1))).c_str());
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(wait));
    backoff = std::min(backoff * 2, absl::Minutes(10));
  }
}

}  // namespace semper::ctl
