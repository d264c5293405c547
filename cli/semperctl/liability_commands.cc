// semperctl liability: the client side of semper-liability.
#include "cli/semperctl/liability_commands.h"

#include <cstdio>

#include "absl/strings/numbers.h"
#include "common/base/proto_time.h"
#include "common/container/container.h"
#include "common/container/money.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/crypto/suite_signer.h"
#include "semper/v1/liability.grpc.pb.h"

namespace semper::ctl {
namespace {

std::unique_ptr<v1::Liability::Stub> Stub(const Connection& c) {
  return v1::Liability::NewStub(ChannelTo(c, c.liability));
}

// As the wallet's holder (mutual TLS) when --wallet is given, else as --cert/--key (if any).
std::unique_ptr<v1::Liability::Stub> StubAs(const Connection& c, const std::string& wallet, const std::string& pass) {
  if (wallet.empty()) return Stub(c);
  return v1::Liability::NewStub(ChannelAsWallet(c, c.liability, wallet, pass));
}

int64_t MinorUnits(const std::string& flag, const std::string& amount) {
  auto minor = ParseMinorUnits(amount);
  if (!minor.has_value()) Die(InvalidField(flag, "must be an amount like 1000.00"), 2);
  return *minor;
}

std::string Money(const v1::Money& m) { return FormatMoney(m); }

const char* AgreementStateText(v1::AgreementState s) {
  switch (s) {
    case v1::AGREEMENT_STATE_ACTIVE:
      return "active";
    case v1::AGREEMENT_STATE_SUSPENDED:
      return "suspended";
    case v1::AGREEMENT_STATE_TERMINATED:
      return "terminated";
    case v1::AGREEMENT_STATE_EXPIRED:
      return "expired";
    default:
      return "unknown";
  }
}

const char* GuaranteeStateText(v1::GuaranteeState s) {
  switch (s) {
    case v1::GUARANTEE_STATE_LIVE:
      return "live";
    case v1::GUARANTEE_STATE_SETTLED:
      return "settled";
    case v1::GUARANTEE_STATE_RELEASED:
      return "released";
    case v1::GUARANTEE_STATE_EXPIRED:
      return "expired";
    default:
      return "unknown";
  }
}

void PrintAgreement(const v1::AgreementRecord& a) {
  std::printf("Agreement %s (%s)\n", a.agreement_id().c_str(), AgreementStateText(a.state()));
  std::printf("  buyer:             %s\n", a.buyer().c_str());
  std::printf("  overall limit:     %s\n", Money(a.overall_limit()).c_str());
  std::printf("  per transaction:   %s\n", Money(a.per_transaction_limit()).c_str());
  std::printf("  current liability: %s\n", Money(a.current_liability()).c_str());
  std::printf("  valid:             %s to %s\n", TimeText(a.valid_from()).c_str(), TimeText(a.valid_until()).c_str());
}

void PrintGuarantee(const v1::Guarantee& g) {
  v1::GuaranteeStatement st;
  (void)google::protobuf::util::JsonStringToMessage(g.statement(), &st);
  std::printf("Guarantee %s (%s): %s for order %s, seller %s, valid until %s\n", g.guarantee_id().c_str(),
              GuaranteeStateText(g.state()), Money(st.amount()).c_str(),
              HexEncode(st.order_sha256()).substr(0, 16).c_str(), st.seller().c_str(),
              TimeText(st.valid_until()).c_str());
}

template <typename T>
std::string SignedBy(const std::string& wallet, const std::string& pass, const T& statement, std::string* bytes) {
  std::vector<Certificate> chain = WalletChain(wallet);
  *bytes = statement.SerializeAsString();
  return WalletSign(*bytes, WalletKey(wallet, pass), chain);
}

int Agree(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& overall,
          const std::string& per_tx, const std::string& currency, const std::string& law, const std::string& conditions,
          const std::string& days) {
  int64_t valid_days = 0;
  if (!absl::SimpleAtoi(days, &valid_days) || valid_days <= 0) Die(InvalidField("--valid-days", "must be positive"), 2);
  v1::ContainerContent content = NewContainerContent(absl::Now());
  v1::Agreement* a = content.mutable_template_()->mutable_agreement();
  a->mutable_overall_limit()->set_currency(currency);
  a->mutable_overall_limit()->set_minor_units(MinorUnits("--overall-limit", overall));
  a->mutable_per_transaction_limit()->set_currency(currency);
  a->mutable_per_transaction_limit()->set_minor_units(MinorUnits("--per-transaction-limit", per_tx));
  *a->mutable_valid_from() = ToTimestamp(absl::Now());
  *a->mutable_valid_until() = ToTimestamp(absl::Now() + absl::Hours(24 * valid_days));
  a->set_applicable_law(law);
  a->set_conditions(conditions);
  content.mutable_requested()->set_non_repudiation_of_origin(true);
  if (absl::Status valid = ValidateContainerContent(content); !valid.ok()) Die(valid, 2);
  std::vector<Certificate> chain = WalletChain(wallet);
  std::printf(
      "You are about to sign this SEMPER agreement with your signature key. You will be liable for\n"
      "what you sign with that key, within these limits:\n");
  std::printf("  buyer:           %s\n", chain.front().Subject().c_str());
  std::printf("  overall limit:   %s\n", Money(a->overall_limit()).c_str());
  std::printf("  per transaction: %s\n", Money(a->per_transaction_limit()).c_str());
  std::printf("  valid:           %s to %s\n", TimeText(a->valid_from()).c_str(), TimeText(a->valid_until()).c_str());
  std::printf("  applicable law:  %s\n", law.c_str());
  std::printf("  conditions:      %s\n", conditions.c_str());
  if (!Confirm(c, "Sign and register the agreement?")) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  auto sealed = Seal(content, {.signers = {SignerIdentity{WalletKey(wallet, pass), chain.front(),
                                                          std::vector<Certificate>(chain.begin() + 1, chain.end())}}});
  if (!sealed.ok()) Die(sealed.status());
  v1::RegisterAgreementRequest req;
  *req.mutable_agreement() = sealed->signed_();
  v1::AgreementRecord rec;
  Call(Stub(c)->RegisterAgreement(Ctx().get(), req, &rec));
  PrintAgreement(rec);
  return 0;
}

int Status(const Connection& c, const std::string& wallet, const std::string& pass) {
  v1::LiabilityQueryStatement q;
  q.set_type("semper-liability-query");
  *q.mutable_made_at() = ToTimestamp(absl::Now());
  v1::GetLiabilityRequest req;
  req.set_signature(SignedBy(wallet, pass, q, req.mutable_query()));
  v1::LiabilityStatus status;
  Call(Stub(c)->GetLiability(Ctx().get(), req, &status));
  if (status.agreements().empty()) std::printf("No agreements.\n");
  for (const auto& a : status.agreements()) PrintAgreement(a);
  if (!status.guarantees().empty()) std::printf("Guarantees (newest first):\n");
  for (const auto& g : status.guarantees()) {
    std::printf("  ");
    PrintGuarantee(g);
  }
  return 0;
}

int Change(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& id,
           const std::string& state, const std::string& reason) {
  v1::AgreementChangeStatement ch;
  ch.set_type("semper-agreement-change");
  ch.set_agreement_id(id);
  if (state == "suspend") {
    ch.set_state(v1::AGREEMENT_STATE_SUSPENDED);
  } else if (state == "resume") {
    ch.set_state(v1::AGREEMENT_STATE_ACTIVE);
  } else if (state == "terminate") {
    ch.set_state(v1::AGREEMENT_STATE_TERMINATED);
  } else {
    Die(InvalidField("--to", "must be suspend, resume or terminate"), 2);
  }
  ch.set_reason(reason);
  *ch.mutable_made_at() = ToTimestamp(absl::Now());
  std::printf("You are about to %s agreement %s%s\n", state.c_str(), id.c_str(),
              state == "terminate" ? " (final: it cannot be resumed)" : "");
  if (!Confirm(c, "Sign and send?")) return 1;
  v1::SetAgreementStateRequest req;
  req.set_signature(SignedBy(wallet, pass, ch, req.mutable_change()));
  v1::AgreementRecord rec;
  Call(Stub(c)->SetAgreementState(Ctx().get(), req, &rec));
  PrintAgreement(rec);
  return 0;
}

// A guarantee semper-liability signed (only its key makes one: anyone's signature key has a path
// to the root); exit 3 otherwise. `*signer`: the signer's subject.
v1::GuaranteeStatement CheckedGuarantee(const TrustStore& trust, const std::string& json, const std::string& signature,
                                        std::string* signer) {
  auto signers = CmsVerifyDetached(signature, json, trust, absl::Now(), KeyPurpose::kNonRepudiation);
  if (!signers.ok()) Die(Annotate(signers.status(), "the guarantee"), 3);
  if (signers->size() != 1) Die(InvalidField("guarantee", "must have exactly one signer"), 3);
  if (absl::Status tracker = CheckSuiteSigner(signers->front().certificate, "liability"); !tracker.ok()) {
    Die(Annotate(tracker, "the guarantee"), 3);
  }
  v1::GuaranteeStatement st;
  if (!google::protobuf::util::JsonStringToMessage(json, &st).ok() || st.type() != "semper-liability-guarantee") {
    Die(InvalidField("guarantee", "is not a semper liability guarantee"), 3);
  }
  *signer = signers->front().certificate.Subject();
  return st;
}

int Guarantee(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& buyer_cert,
              const std::string& order, const std::string& amount, const std::string& currency, std::string request_id,
              const std::string& out) {
  v1::GuaranteeRequest req;
  if (request_id.empty()) request_id = HexEncode(RandomBytes(16));
  req.set_request_id(request_id);
  req.set_order(ReadFileOrDie(order));
  // Optional cross-checks: the tracker refuses the request if the order says otherwise.
  if (!buyer_cert.empty()) {
    auto buyer = Certificate::FromPem(ReadFileOrDie(buyer_cert));
    if (!buyer.ok()) Die(Annotate(buyer.status(), "--buyer"), 2);
    req.set_buyer_certificate(buyer->Der());
  }
  if (!amount.empty()) {
    req.mutable_amount()->set_currency(currency);
    req.mutable_amount()->set_minor_units(MinorUnits("--amount", amount));
  }
  // It reserves the buyer's liability until the seller settles or releases it: shown, then asked.
  std::printf("You are about to ask semper-liability, as the seller, to guarantee the order in %s\n", order.c_str());
  std::printf("  order SHA-256: %s\n", HexEncode(Sha256(req.order())).c_str());
  std::printf("  amount:        %s\n", amount.empty() ? "as the order says" : StrCat(amount, " ", currency).c_str());
  if (!buyer_cert.empty())
    std::printf("  buyer:         %s\n", Certificate::FromDer(req.buyer_certificate())->Subject().c_str());
  if (!Confirm(c, "Ask for the guarantee?")) return 1;
  v1::Guarantee g;
  Call(StubAs(c, wallet, pass)->RequestGuarantee(Ctx().get(), req, &g));
  // Kept only as semper-liability signed it, for this order (and the amount asked, if given).
  std::string signer;
  v1::GuaranteeStatement st = CheckedGuarantee(Trust(c), g.statement(), g.signature(), &signer);
  if (st.guarantee_id() != g.guarantee_id() || st.order_sha256() != Sha256(req.order()) ||
      (req.has_amount() && (st.amount().currency() != req.amount().currency() ||
                            st.amount().minor_units() != req.amount().minor_units()))) {
    Die(MakeError(absl::StatusCode::kDataLoss, v1::SIGNATURE_INVALID,
                  "the tracker's answer: a guarantee for another order or amount than asked"),
        3);
  }
  PrintGuarantee(g);
  std::printf("  request id %s (repeat it to retry safely)\n", request_id.c_str());
  if (!out.empty()) {
    WriteOrDie(out + ".json", g.statement());
    WriteOrDie(out + ".sig", g.signature());
    std::printf("Saved in %s.json and %s.sig; check with semperctl liability verify --in %s.\n", out.c_str(),
                out.c_str(), out.c_str());
    PrintOpensslCheck(out + ".sig", out + ".json", "liability");
  }
  return 0;
}

int End(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& id, bool settle) {
  std::printf("You are about to %s guarantee %s: this frees the amount and cannot be undone.\n",
              settle ? "settle" : "release", id.c_str());
  if (!Confirm(c, settle ? "Settle?" : "Release?")) return 1;
  v1::EndGuaranteeRequest req;
  req.set_guarantee_id(id);
  v1::Guarantee g;
  auto stub = StubAs(c, wallet, pass);
  Call(settle ? stub->SettleGuarantee(Ctx().get(), req, &g) : stub->ReleaseGuarantee(Ctx().get(), req, &g));
  PrintGuarantee(g);
  return 0;
}

int Verify(const Connection& c, const std::string& in) {
  TrustStore trust = Trust(c);
  std::string signer;
  v1::GuaranteeStatement st = CheckedGuarantee(trust, ReadFileOrDie(in + ".json"), ReadFileOrDie(in + ".sig"), &signer);
  std::printf("A valid guarantee signed by %s:\n", signer.c_str());
  std::printf("  %s guarantees %s for order %s to %s, until %s\n", st.buyer().c_str(), Money(st.amount()).c_str(),
              HexEncode(st.order_sha256()).c_str(), st.seller().c_str(), TimeText(st.valid_until()).c_str());
  bool expired = FromTimestamp(st.valid_until()) < absl::Now();
  if (expired) std::printf("  It has EXPIRED.\n");
  std::printf("  (Whether it was settled or released since: semperctl liability show %s)\n", st.guarantee_id().c_str());
  return expired ? 3 : 0;
}

int Show(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& id) {
  v1::GetGuaranteeRequest req;
  req.set_guarantee_id(id);
  v1::Guarantee g;
  Call(StubAs(c, wallet, pass)->GetGuarantee(Ctx().get(), req, &g));
  PrintGuarantee(g);
  if (g.has_ended_at()) std::printf("  ended %s\n", TimeText(g.ended_at()).c_str());
  return 0;
}

}  // namespace

LiabilityCommands::LiabilityCommands(CLI::App& app, Connection& c) : c_(c) {
  app.add_option("--liability", c.liability,
                 "semper-liability address host:port; replicas as IP:port,IP:port or one DNS name (dns:///name:port), "
                 "balanced round robin")
      ->envname("SEMPERCTL_LIABILITY")
      ->capture_default_str();
  auto* l = app.add_subcommand("liability", "SEMPER agreements and per-transaction guarantees (semper-liability)");
  auto wallet = [this](CLI::App* cmd) {
    cmd->add_option("--wallet", wallet_, "your wallet (semperctl enroll)")->required();
    cmd->add_option("--wallet-passphrase-file", wallet_pass_, "file with the wallet's passphrase (asked otherwise)");
  };
  agree_ = l->add_subcommand("agree", "buyers: sign a SEMPER agreement (shown first) and register it");
  wallet(agree_);
  agree_->add_option("--overall-limit", overall_, "the most you may owe at once, e.g. 1000.00")->required();
  agree_->add_option("--per-transaction-limit", per_tx_, "the most per order, e.g. 300.00")->required();
  agree_->add_option("--currency", currency_, "ISO 4217")->capture_default_str();
  agree_->add_option("--law", law_, "applicable law (ISO 3166 country or EU)")->capture_default_str();
  agree_->add_option("--conditions", conditions_, "further conditions (text)");
  agree_->add_option("--valid-days", valid_days_, "how long the agreement holds")->capture_default_str();
  status_ = l->add_subcommand("status", "buyers: your agreements, current liability and guarantees");
  wallet(status_);
  change_ = l->add_subcommand("change", "buyers: suspend, resume or terminate an agreement");
  wallet(change_);
  change_->add_option("agreement", agreement_id_, "the agreement id")->required();
  change_->add_option("--to", state_, "suspend, resume or terminate")->required();
  change_->add_option("--reason", reason_, "why");
  // Calls made as oneself: the wallet's authentication certificate identifies the caller.
  auto as_self = [this](CLI::App* cmd) {
    cmd->add_option("--wallet", wallet_, "your wallet (semperctl enroll): you call as its authentication certificate");
    cmd->add_option("--wallet-passphrase-file", wallet_pass_, "file with the wallet's passphrase (asked otherwise)");
  };
  guarantee_ = l->add_subcommand("guarantee", "sellers: ask for a guarantee for an order the buyer signed for you");
  as_self(guarantee_);
  guarantee_->add_option("--order", order_, "the buyer's signed order (amount, currency and buyer are taken from it)")
      ->required();
  guarantee_->add_option("--buyer", buyer_cert_, "optional check: the buyer's signature certificate (PEM)");
  guarantee_->add_option("--amount", amount_, "optional check: the amount you expect, e.g. 129.90");
  guarantee_->add_option("--currency", currency_, "ISO 4217, with --amount")->capture_default_str();
  guarantee_->add_option("--request-id", request_id_, "to retry safely (default: a fresh one)");
  guarantee_->add_option("--out", out_, "save the guarantee as PREFIX.json and PREFIX.sig");
  settle_ = l->add_subcommand("settle", "sellers: the transaction completed: end the guarantee and free the amount");
  as_self(settle_);
  settle_->add_option("guarantee", guarantee_id_, "the guarantee id")->required();
  release_ =
      l->add_subcommand("release", "sellers: the transaction was cancelled: end the guarantee and free the amount");
  as_self(release_);
  release_->add_option("guarantee", guarantee_id_, "the guarantee id")->required();
  show_ = l->add_subcommand("show", "sellers and buyers: a guarantee's state now (live, settled, released, expired)");
  as_self(show_);
  show_->add_option("guarantee", guarantee_id_, "the guarantee id")->required();
  verify_ = l->add_subcommand("verify", "check a saved guarantee offline (exit 0 valid, 3 not)");
  verify_->add_option("--in", in_, "PREFIX of PREFIX.json and PREFIX.sig")->required();
}

std::optional<int> LiabilityCommands::Run() {
  if (agree_->parsed()) {
    return Agree(c_, wallet_, wallet_pass_, overall_, per_tx_, currency_, law_, conditions_, valid_days_);
  }
  if (status_->parsed()) return Status(c_, wallet_, wallet_pass_);
  if (change_->parsed()) return Change(c_, wallet_, wallet_pass_, agreement_id_, state_, reason_);
  if (guarantee_->parsed()) {
    return Guarantee(c_, wallet_, wallet_pass_, buyer_cert_, order_, amount_, currency_, request_id_, out_);
  }
  if (settle_->parsed()) return End(c_, wallet_, wallet_pass_, guarantee_id_, true);
  if (release_->parsed()) return End(c_, wallet_, wallet_pass_, guarantee_id_, false);
  if (verify_->parsed()) return Verify(c_, in_);
  if (show_->parsed()) return Show(c_, wallet_, wallet_pass_, guarantee_id_);
  return std::nullopt;
}

}  // namespace semper::ctl
