// semperctl order: signed orders (SEMPER containers with the Order template).
#include "cli/semperctl/order_commands.h"

#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/container/container.h"
#include "common/container/money.h"
#include "common/crypto/digest.h"
#include "common/crypto/oids.h"
#include "common/crypto/random.h"

namespace semper::ctl {
namespace {

const char* KindText(v1::CustomerKind k) {
  switch (k) {
    case v1::CUSTOMER_KIND_INDIVIDUAL:
      return "individual (consumer)";
    case v1::CUSTOMER_KIND_ENTERPRISE:
      return "enterprise";
    default:
      return "unspecified";
  }
}

// What the CA certified about a subscriber, as a container party: the name (organisation for an
// enterprise, else the common name), country, customer kind and VAT reference.
v1::Party PartyOf(const Certificate& cert) {
  v1::Party p;
  std::string kind = cert.SubjectAttribute(oids::kBusinessCategory).value_or("");
  p.set_kind(kind == "enterprise"   ? v1::CUSTOMER_KIND_ENTERPRISE
             : kind == "individual" ? v1::CUSTOMER_KIND_INDIVIDUAL
                                    : v1::CUSTOMER_KIND_UNSPECIFIED);
  auto org = cert.SubjectAttribute("O");
  p.set_name(p.kind() == v1::CUSTOMER_KIND_ENTERPRISE && org ? *org
                                                             : cert.SubjectAttribute("CN").value_or(cert.Subject()));
  p.set_country(cert.SubjectAttribute("C").value_or(""));
  p.set_vat_reference(cert.SubjectAttribute(oids::kOrganizationIdentifier).value_or(""));
  p.set_certificate(cert.Der());
  return p;
}

std::string PartyText(const v1::Party& p) {
  return StrCat(p.name(), " (", p.country(), ", ", KindText(p.kind()),
                p.vat_reference().empty() ? "" : StrCat(", VAT ", p.vat_reference()), ")");
}

void PrintOrder(const v1::ContainerContent& content) {
  const v1::Order& o = content.template_().order();
  std::printf("  order:          %s\n", VisibleLine(o.order_id()).c_str());
  std::printf("  buyer:          %s\n", VisibleLine(PartyText(o.buyer())).c_str());
  std::printf("  seller:         %s\n", VisibleLine(PartyText(o.seller())).c_str());
  std::printf("  customer kind:  %s\n", KindText(o.customer_kind()));
  std::printf("  VAT reference:  %s\n",
              o.vat_reference().empty() ? "(none: a consumer)" : VisibleLine(o.vat_reference()).c_str());
  std::printf("  applicable law: %s\n", VisibleLine(o.applicable_law()).c_str());
  for (const auto& item : o.items()) {
    std::printf("  item:           %lld x %s at %s\n", static_cast<long long>(item.quantity()),
                VisibleLine(item.description()).c_str(), FormatMoney(item.unit_price()).c_str());
  }
  std::printf("  amount:         %s\n", FormatMoney(o.amount()).c_str());
  if (!o.delivery_address().empty()) std::printf("  deliver to:     %s\n", VisibleLine(o.delivery_address()).c_str());
  std::printf("  created:        %s\n", TimeText(content.created()).c_str());
  if (content.requested().time_stamped()) {
    std::printf("  time-stamped:   every signature gets a time-stamp from semper-tsa inside it (CAdES-T)\n");
  }
}

int Sign(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& seller_file,
         const std::string& amount, const std::string& currency, std::string order_id, const std::string& description,
         const std::string& address, const std::string& law, bool time_stamped, const std::string& out) {
  std::vector<Certificate> chain = WalletChain(wallet);
  auto seller = Certificate::FromPem(ReadFileOrDie(seller_file));
  if (!seller.ok()) Die(Annotate(seller.status(), "--seller"), 2);
  auto minor = ParseMinorUnits(amount);
  if (!minor || *minor <= 0) Die(InvalidField("--amount", "must be a positive amount such as 129.90"), 2);
  if (order_id.empty()) order_id = HexEncode(RandomBytes(8));

  v1::ContainerContent content = NewContainerContent(absl::Now());
  v1::Order* o = content.mutable_template_()->mutable_order();
  o->set_order_id(order_id);
  *o->mutable_buyer() = PartyOf(chain.front());
  *o->mutable_seller() = PartyOf(*seller);
  o->set_customer_kind(o->buyer().kind());
  o->set_vat_reference(o->buyer().vat_reference());
  o->set_applicable_law(!law.empty() ? law : chain.front().SubjectAttribute(oids::kJurisdictionCountry).value_or(""));
  o->mutable_amount()->set_currency(currency);
  o->mutable_amount()->set_minor_units(*minor);
  if (!description.empty()) {
    v1::LineItem* item = o->add_items();
    item->set_description(description);
    item->set_quantity(1);
    *item->mutable_unit_price() = o->amount();
  }
  o->set_delivery_address(address);
  *content.mutable_sender() = o->buyer();
  *content.add_recipients() = o->seller();
  content.mutable_requested()->set_non_repudiation_of_origin(true);
  content.mutable_requested()->set_time_stamped(time_stamped);
  if (absl::Status valid = ValidateContainerContent(content); !valid.ok()) Die(valid, 2);

  std::printf("You are about to sign this order with your signature key (legally binding):\n");
  PrintOrder(content);
  if (!Confirm(c, "Sign the order?")) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  auto sealed = Seal(content, {.signers = {SignerIdentity{WalletKey(wallet, pass), chain.front(),
                                                          std::vector<Certificate>(chain.begin() + 1, chain.end())}},
                               .time_stamp = TsaTimeStamp(c)});
  if (!sealed.ok()) Die(sealed.status());
  std::string bytes = sealed->SerializeAsString();
  WriteOrDie(out, bytes);
  const std::string stamp = StampSignature(c, sealed->signed_().signatures(0));
  WriteStamps(out, {stamp});
  std::printf("Signed order %s saved to %s (SHA-256 %s); send it to the seller%s.\n", order_id.c_str(), out.c_str(),
              HexEncode(Sha256(bytes)).c_str(),
              stamp.empty() ? "" : StrCat(" with ", out, ".stamps (the time-stamp of your signature)").c_str());
  return 0;
}

// A signed order read from `in` and checked: the buyer it names signed it, and every other
// signature on it holds. Prints why not (exit 3) and returns nullopt otherwise.
std::optional<OpenedContainer> OpenOrder(const Connection& c, const std::string& in, v1::SignedContainer* signed_out) {
  std::string bytes = ReadFileOrDie(in);
  v1::SealedContainer sealed;
  if (!sealed.ParseFromString(bytes) || !sealed.has_signed_()) {
    std::printf("NOT VERIFIED: %s is not a signed SEMPER container\n", in.c_str());
    return std::nullopt;
  }
  TrustStore trust = Trust(c);
  OpenOptions options;
  options.trust = &trust;
  options.required.set_non_repudiation_of_origin(true);
  auto opened = Open(sealed, options);
  if (!opened.ok()) {
    std::printf("NOT VERIFIED: %s\n", std::string(opened.status().message()).c_str());
    return std::nullopt;
  }
  if (!opened->content.template_().has_order()) {
    std::printf("NOT AN ORDER: the container holds another template\n");
    return std::nullopt;
  }
  const v1::Order& o = opened->content.template_().order();
  const Certificate& signer = opened->origin_signers.front().certificate;
  if (o.buyer().certificate() != signer.Der()) {
    std::printf("NOT VERIFIED: the order is signed by %s, not by the buyer it names\n", signer.Subject().c_str());
    return std::nullopt;
  }
  // Any further signature is the seller's confirmation, and nobody else's.
  for (size_t i = 1; i < opened->origin_signers.size(); ++i) {
    if (o.seller().certificate() != opened->origin_signers[i].certificate.Der()) {
      std::printf("NOT VERIFIED: the order is also signed by %s, who is not the seller it names\n",
                  opened->origin_signers[i].certificate.Subject().c_str());
      return std::nullopt;
    }
  }
  if (signed_out != nullptr) *signed_out = sealed.signed_();
  return *std::move(opened);
}

int Show(const Connection& c, const std::string& in, const std::string& buyer_out) {
  auto opened = OpenOrder(c, in, nullptr);
  if (!opened.has_value()) return 3;
  const Certificate& signer = opened->origin_signers.front().certificate;
  std::printf("Verified order, signed by the buyer %s (certificate %s of %s):\n", signer.Subject().c_str(),
              signer.SerialHex().c_str(), signer.Issuer().c_str());
  PrintOrder(opened->content);
  if (opened->origin_signers.size() > 1) {
    std::printf("  confirmed by:   the seller %s\n", opened->origin_signers[1].certificate.Subject().c_str());
  }
  for (size_t i = 0; i < opened->origin_signer_stamped_at.size(); ++i) {
    if (!opened->origin_signer_stamped_at[i].has_value()) continue;
    std::printf(
        "  time-stamped:   the %s's signature existed at %s (its signature time-stamp, verified)\n",
        i == 0 ? "buyer" : "seller",
        absl::FormatTime(absl::RFC3339_full, *opened->origin_signer_stamped_at[i], absl::UTCTimeZone()).c_str());
  }
  std::printf("  content SHA-256: %s (what every signature covers; a dispute names the order by it)\n",
              HexEncode(Sha256(opened->content_bytes)).c_str());
  std::printf("  file SHA-256:    %s (of these bytes as stored; a guarantee's order_sha256)\n",
              HexEncode(Sha256(ReadFileOrDie(in))).c_str());
  if (!buyer_out.empty()) {
    WriteOrDie(buyer_out, signer.Pem());
    std::printf("The buyer's signature certificate is in %s (for semperctl liability guarantee --buyer).\n",
                buyer_out.c_str());
  }
  std::printf(
      "The signature says nothing of the buyer's certificate status now: ask semper-liability for a\n"
      "guarantee, which also checks it with semper-ca.\n");
  return 0;
}

// The seller adds its signature over the order's content: its confirmation, which binds it to
// deliver (what a non-delivery claim rests on).
int ConfirmOrder(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& in,
                 const std::string& out) {
  v1::SignedContainer signed_order;
  auto opened = OpenOrder(c, in, &signed_order);
  if (!opened.has_value()) return 3;
  std::vector<Certificate> chain = WalletChain(wallet);
  if (opened->content.template_().order().seller().certificate() != chain.front().Der()) {
    std::fprintf(stderr, "semperctl: the order names another seller than %s: nothing signed\n",
                 chain.front().Subject().c_str());
    return 3;
  }
  if (opened->origin_signers.size() > 1) {
    std::fprintf(stderr, "semperctl: the order is confirmed already\n");
    return 1;
  }
  std::printf("You are about to confirm this order with your signature key (legally binding: you deliver it):\n");
  PrintOrder(opened->content);
  std::printf("  buyer's signature: %s\n", opened->origin_signers.front().certificate.Subject().c_str());
  if (!Confirm(c, "Sign the confirmation?")) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  // The buyer's stamp (if it came with the order), checked before anything is signed or written.
  std::vector<std::string> stamps = ReadStamps(c, in, signed_order);
  auto cosigned = CoSign(
      signed_order,
      SignerIdentity{WalletKey(wallet, pass), chain.front(), std::vector<Certificate>(chain.begin() + 1, chain.end())},
      TsaTimeStamp(c));
  if (!cosigned.ok()) Die(cosigned.status());
  v1::SealedContainer sealed;
  *sealed.mutable_signed_() = *std::move(cosigned);
  WriteOrDie(out, sealed.SerializeAsString());
  // The buyer's stamp, and one over this signature.
  stamps.resize(static_cast<size_t>(sealed.signed_().signatures_size()) - 1);
  stamps.push_back(StampSignature(c, sealed.signed_().signatures(sealed.signed_().signatures_size() - 1)));
  WriteStamps(out, stamps);
  std::printf("Confirmed order %s saved to %s (content SHA-256 %s); send it to the buyer.\n",
              VisibleLine(opened->content.template_().order().order_id()).c_str(), out.c_str(),
              HexEncode(Sha256(opened->content_bytes)).c_str());
  return 0;
}

// A signed receipt for an order: the buyer acknowledges the delivery, the seller the payment.
int SignReceipt(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& in,
                const std::string& what, const std::string& out) {
  v1::ReceiptAcknowledges acknowledges;
  if (what == "delivery") {
    acknowledges = v1::RECEIPT_ACKNOWLEDGES_DELIVERY;
  } else if (what == "payment") {
    acknowledges = v1::RECEIPT_ACKNOWLEDGES_PAYMENT;
  } else {
    Die(InvalidField("--acknowledges",
                     "must be delivery (the buyer received the order) or payment (the seller was paid)"),
        2);
  }
  auto opened = OpenOrder(c, in, nullptr);
  if (!opened.has_value()) return 3;
  std::vector<Certificate> chain = WalletChain(wallet);
  const v1::Order& o = opened->content.template_().order();
  const std::string& must_sign =
      acknowledges == v1::RECEIPT_ACKNOWLEDGES_DELIVERY ? o.buyer().certificate() : o.seller().certificate();
  if (must_sign != chain.front().Der()) {
    std::fprintf(stderr, "semperctl: a receipt of %s is signed by the order's %s, not by %s: nothing signed\n",
                 what.c_str(), acknowledges == v1::RECEIPT_ACKNOWLEDGES_DELIVERY ? "buyer" : "seller",
                 chain.front().Subject().c_str());
    return 3;
  }
  std::printf("You are about to sign a receipt acknowledging the %s of this order (it ends any claim of non-%s):\n",
              what.c_str(), what.c_str());
  PrintOrder(opened->content);
  if (!Confirm(c, StrCat("Sign the receipt of ", what, "?"))) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  auto receipt = MakeReceipt(
      *opened,
      SignerIdentity{WalletKey(wallet, pass), chain.front(), std::vector<Certificate>(chain.begin() + 1, chain.end())},
      StrCat(what, " acknowledged"), absl::Now(), {}, acknowledges);
  if (!receipt.ok()) Die(receipt.status());
  WriteOrDie(out, receipt->SerializeAsString());
  WriteStamps(out, {StampSignature(c, receipt->signed_().signatures(0))});
  std::printf("Receipt of %s for order %s saved to %s.\n", what.c_str(), VisibleLine(o.order_id()).c_str(),
              out.c_str());
  return 0;
}

}  // namespace

OrderCommands::OrderCommands(CLI::App& app, Connection& c) : c_(c) {
  auto* o = app.add_subcommand("order", "signed orders (SEMPER containers): buyers sign, sellers check");
  o->require_subcommand(1);
  sign_ = o->add_subcommand("sign", "buyers: sign an order (shown first) for a seller");
  sign_->add_option("--wallet", wallet_, "your wallet (semperctl enroll)")->required();
  sign_->add_option("--wallet-passphrase-file", wallet_pass_, "file with the wallet's passphrase (asked otherwise)");
  sign_->add_option("--seller", seller_, "the seller's signature certificate (PEM)")
      ->required()
      ->check(CLI::ExistingFile);
  sign_->add_option("--amount", amount_, "the total, e.g. 129.90")->required();
  sign_->add_option("--currency", currency_, "ISO 4217")->capture_default_str();
  sign_->add_option("--order-id", order_id_, "your reference (default: a random one)");
  sign_->add_option("--description", description_, "what you order (one line item)");
  sign_->add_option("--deliver-to", address_, "delivery address");
  sign_->add_option("--law", law_, "applicable law (default: the one in your certificate)");
  sign_->add_option("--out", out_, "where to save the signed order")->required();
  sign_->add_flag("--time-stamped", time_stamped_,
                  "ask for time-stamped signatures (CAdES-T): semper-tsa stamps yours inside the order, and the "
                  "seller's confirmation gets one too");
  show_ = o->add_subcommand("show", "sellers: check a signed order and show it (exit 0 verified, 3 not)");
  show_->add_option("order", in_, "the signed order file")->required()->check(CLI::ExistingFile);
  show_->add_option("--buyer-out", buyer_out_, "save the buyer's signature certificate (PEM) here");
  confirm_ = o->add_subcommand("confirm", "sellers: countersign a buyer's order (shown first): you deliver it");
  confirm_->add_option("order", in_, "the signed order file")->required()->check(CLI::ExistingFile);
  confirm_->add_option("--wallet", wallet_, "your wallet (the seller the order names)")->required();
  confirm_->add_option("--wallet-passphrase-file", wallet_pass_, "file with the wallet's passphrase (asked otherwise)");
  confirm_->add_option("--out", out_, "where to save the confirmed order")->required();
  receipt_ = o->add_subcommand("receipt",
                               "sign a receipt for an order (shown first): the buyer's of delivery, "
                               "the seller's of payment");
  receipt_->add_option("order", in_, "the signed order file")->required()->check(CLI::ExistingFile);
  receipt_->add_option("--acknowledges", acknowledges_, "delivery (buyers) or payment (sellers)")->required();
  receipt_->add_option("--wallet", wallet_, "your wallet")->required();
  receipt_->add_option("--wallet-passphrase-file", wallet_pass_, "file with the wallet's passphrase (asked otherwise)");
  receipt_->add_option("--out", out_, "where to save the signed receipt")->required();
}

std::optional<int> OrderCommands::Run() {
  if (sign_->parsed()) {
    return Sign(c_, wallet_, wallet_pass_, seller_, amount_, currency_, order_id_, description_, address_, law_,
                time_stamped_, out_);
  }
  if (show_->parsed()) return Show(c_, in_, buyer_out_);
  if (confirm_->parsed()) return ConfirmOrder(c_, wallet_, wallet_pass_, in_, out_);
  if (receipt_->parsed()) return SignReceipt(c_, wallet_, wallet_pass_, in_, acknowledges_, out_);
  return std::nullopt;
}

}  // namespace semper::ctl
