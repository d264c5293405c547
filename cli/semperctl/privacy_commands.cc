// semperctl pseudonym: the client side of semper-ca's Pseudonyms service.
#include "cli/semperctl/privacy_commands.h"

#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "common/base/files.h"
#include "common/base/proto_time.h"
#include "common/crypto/cms.h"
#include "common/crypto/csr.h"
#include "common/crypto/digest.h"
#include "semper/v1/arbiter.pb.h"
#include "semper/v1/privacy.grpc.pb.h"

namespace semper::ctl {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<v1::Pseudonyms::Stub> Stub(const Connection& c) {
  return v1::Pseudonyms::NewStub(ChannelTo(c, c.server));
}

int Request(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& out_wallet,
            const std::string& kind, const std::string& name, const std::string& days, bool shared) {
  v1::PseudonymRequestStatement st;
  st.set_type("semper-pseudonym-request");
  st.set_shared_issuer(shared);
  if (kind == "role") {
    st.set_kind(v1::PSEUDONYM_KIND_ROLE);
    if (name.empty()) Die(InvalidField("--name", "a role pseudonym needs a name"), 2);
    st.set_name(name);
  } else if (kind == "transaction") {
    st.set_kind(v1::PSEUDONYM_KIND_TRANSACTION);
    if (!name.empty()) Die(InvalidField("--name", "a transaction pseudonym gets a random name: leave --name out"), 2);
  } else {
    Die(InvalidField("--kind", "must be role or transaction"), 2);
  }
  if (!days.empty()) {
    int64_t d = 0;
    if (!absl::SimpleAtoi(days, &d) || d <= 0)
      Die(InvalidField("--valid-days", "must be a positive number of days"), 2);
    st.set_valid_seconds(d * 86400);
  }
  std::error_code ec;
  if (fs::exists(fs::path(out_wallet) / "signature.key", ec)) {
    Die(MakeError(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS,
                  out_wallet + " already holds a key; choose another --out"),
        2);
  }
  std::vector<Certificate> chain = WalletChain(wallet);
  std::printf("You are about to ask semper-ca for a %s pseudonym%s.\n", kind.c_str(),
              name.empty() ? "" : (" named \"" + name + "\"").c_str());
  std::printf("  signed with:  %s (your signature key; the CA sees who asks)\n", chain.front().Subject().c_str());
  std::printf("  new key:      made here, never certified before; kept in %s\n", out_wallet.c_str());
  std::printf("  issuer:       %s\n",
              shared ? "the shared SEMPER Pseudonym Issuer (does not name the operator)" : "the operator's issuing CA");
  std::printf(
      "  relying parties see only the pseudonym. The link to you is sealed to semper-arbiter and\n"
      "  opened only by its order after a dispute decided against the pseudonym.\n");
  if (!Confirm(c, "Sign the request?")) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  PrivateKey base_key = WalletKey(wallet, pass);
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  if (!key.ok()) Die(key.status());
  auto csr = CertificationRequest::Create(*key, {});
  if (!csr.ok()) Die(csr.status());
  st.set_csr(csr->Der());
  *st.mutable_made_at() = ToTimestamp(absl::Now());
  v1::IssuePseudonymRequest req;
  req.set_request(st.SerializeAsString());
  req.set_signature(WalletSign(req.request(), base_key, chain));
  v1::IssuePseudonymResponse resp;
  Call(Stub(c)->IssuePseudonym(Ctx().get(), req, &resp));
  auto cert = Certificate::FromDer(resp.certificate());
  if (!cert.ok()) Die(absl::InternalError("the CA returned a damaged certificate"));
  std::string chain_pem;
  for (const auto& der : resp.chain()) chain_pem += Certificate::FromDer(der)->Pem();
  SecretData secret = Passphrase(pass, "Passphrase for the new wallet: ");
  auto pem = key->ToEncryptedPem(secret);
  if (!pem.ok()) Die(pem.status(), 2);
  fs::create_directories(out_wallet, ec);
  ::chmod(out_wallet.c_str(), 0700);
  for (auto [file, content] : {std::pair{"signature.key", *pem}, std::pair{"signature.pem", cert->Pem() + chain_pem},
                               std::pair{"chain.pem", chain_pem}}) {
    if (absl::Status w = WriteFile(fs::path(out_wallet) / file, content, 0600); !w.ok()) Die(w);
  }
  std::printf("Pseudonym %s, certificate %s, valid %s to %s\n",
              cert->SubjectAttribute("2.5.4.65").value_or("?").c_str(), resp.serial().c_str(),
              absl::FormatTime("%Y-%m-%d %H:%M UTC", cert->not_before(), absl::UTCTimeZone()).c_str(),
              absl::FormatTime("%Y-%m-%d %H:%M UTC", cert->not_after(), absl::UTCTimeZone()).c_str());
  std::printf("  wallet: %s (use it with --wallet like any other)\n", out_wallet.c_str());
  return 0;
}

int Reveal(const Connection& c, const std::string& order_file, const std::string& sig_file,
           const std::string& escrow_cert, const std::string& escrow_key, const std::string& escrow_pass) {
  v1::RevealPseudonymRequest req;
  req.set_order(ReadFileOrDie(order_file));
  req.set_order_signature(ReadFileOrDie(sig_file));
  v1::RevealOrderStatement order;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(req.order(), &order, opts).ok()) {
    Die(InvalidField("--order", "is not a reveal order (JSON)"), 2);
  }
  std::printf("Reveal order of case %s for pseudonym %s (certificate %s):\n  %s\n", order.case_id().c_str(),
              order.pseudonym_subject().c_str(), order.pseudonym_certificate_serial().c_str(), order.reason().c_str());
  std::printf("The CA records the reveal in its log.\n");
  if (!Confirm(c, "Ask for the sealed link?")) return 1;
  v1::RevealPseudonymResponse resp;
  Call(Stub(c)->RevealPseudonym(Ctx().get(), req, &resp));
  auto cert = Certificate::FromPem(ReadFileOrDie(escrow_cert));
  if (!cert.ok()) Die(cert.status(), 2);
  auto key = PrivateKey::FromPem(ReadFileOrDie(escrow_key), Passphrase(escrow_pass, "Passphrase of the escrow key: "));
  if (!key.ok()) Die(key.status(), 2);
  auto json = CmsDecrypt(resp.sealed_link(), *key, *cert);
  if (!json.ok()) Die(json.status());
  v1::PseudonymLink link;
  google::protobuf::util::JsonParseOptions link_opts;
  link_opts.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(*json, &link, link_opts).ok()) {
    Die(absl::InternalError("the link does not parse"));
  }
  if (link.pseudonym_serial() != order.pseudonym_certificate_serial()) {
    Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID,
                  StrCat("the CA sent the link of certificate ", link.pseudonym_serial(), ", not of ",
                         order.pseudonym_certificate_serial(), ": not trusted")));
  }
  std::printf("%s (certificate %s) was issued on %s (certificate %s), %s\n", link.pseudonym_subject().c_str(),
              link.pseudonym_serial().c_str(), link.base_subject().c_str(), link.base_serial().c_str(),
              TimeText(link.issued_at()).c_str());
  if (!link.subscriber_id().empty()) {
    std::printf("Holder: subscriber %s, %s\n", link.subscriber_id().c_str(), link.subscriber_name().c_str());
  } else if (link.base_is_pseudonym()) {
    std::printf("Its base is itself a pseudonym: a reveal order for certificate %s opens the next link.\n",
                link.base_serial().c_str());
  }
  std::printf("Reveal %lld recorded at %s.\n", static_cast<long long>(resp.reveal_number()),
              TimeText(resp.revealed_at()).c_str());
  return 0;
}

int Reveals(const Connection& c, const std::string& serial) {
  v1::GetPseudonymRevealsRequest req;
  req.set_pseudonym_serial(serial);
  v1::GetPseudonymRevealsResponse resp;
  Call(Stub(c)->GetPseudonymReveals(Ctx().get(), req, &resp));
  if (resp.reveals().empty()) std::printf("No reveals.\n");
  for (const auto& r : resp.reveals()) {
    std::printf("%6lld  %s  pseudonym %s  case %s  by %s\n", static_cast<long long>(r.reveal_number()),
                TimeText(r.revealed_at()).c_str(), r.pseudonym_serial().c_str(), r.case_id().c_str(),
                r.requested_by().empty() ? "-" : r.requested_by().c_str());
  }
  return 0;
}

}  // namespace

PrivacyCommands::PrivacyCommands(CLI::App& app, Connection& c) : c_(c) {
  auto* p = app.add_subcommand("pseudonym", "pseudonyms from semper-ca: obtain one, open one with an arbiter's order");
  p->require_subcommand(1);
  request_ = p->add_subcommand("request", "obtain a pseudonym certificate for a new key, signed by your wallet");
  request_->add_option("--wallet", wallet_, "your wallet (its signature key signs the request)")->required();
  request_->add_option("--wallet-passphrase-file", wallet_pass_, "passphrase of both wallets (asked otherwise)");
  request_->add_option("--out", out_wallet_, "new wallet directory for the pseudonym's key and certificate")
      ->required();
  request_->add_option("--kind", kind_, "role (long-lived, a name you choose) or transaction (random name)")
      ->capture_default_str();
  request_->add_option("--name", name_, "the role pseudonym's name");
  request_->add_option("--valid-days", valid_days_,
                       "validity (role: 365 by default, at most 730; transaction: 1, at most 30)");
  request_->add_flag("--shared-issuer", shared_,
                     "issued under the shared SEMPER Pseudonym Issuer, which does not name the operator");
  reveal_ = p->add_subcommand("reveal", "open a pseudonym's link with semper-arbiter's reveal order and escrow key");
  reveal_->add_option("--order", order_, "the reveal order (JSON) from the case")->required();
  reveal_->add_option("--order-signature", order_sig_, "semper-arbiter's signature over it (DER)")->required();
  reveal_->add_option("--escrow-cert", escrow_cert_, "semper-arbiter's escrow certificate (PEM)")->required();
  reveal_->add_option("--escrow-key", escrow_key_, "its key (encrypted PEM)")->required();
  reveal_->add_option("--escrow-passphrase-file", escrow_pass_,
                      "file with the escrow key's passphrase (asked otherwise)");
  reveals_ = p->add_subcommand("reveals", "the CA's reveal log (officers)");
  reveals_->add_option("--serial", serial_, "only this pseudonym's");
}

std::optional<int> PrivacyCommands::Run() {
  if (request_->parsed()) return Request(c_, wallet_, wallet_pass_, out_wallet_, kind_, name_, valid_days_, shared_);
  if (reveal_->parsed()) return Reveal(c_, order_, order_sig_, escrow_cert_, escrow_key_, escrow_pass_);
  if (reveals_->parsed()) return Reveals(c_, serial_);
  return std::nullopt;
}

}  // namespace semper::ctl
