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
    case v1::CUSTOMER_KIND_INDIVIDUAL: return "individual (consumer)";
    case v1::CUSTOMER_KIND_ENTERPRISE: return "enterprise";
    default: return "unspecified";
  }
}

// What the CA certified about a subscriber, as a container party: the name (organisation for an
// enterprise, else the common name), country, customer kind and VAT reference.
v1::Party PartyOf(const Certificate& cert) {
  v1::Party p;
  std::string kind = cert.SubjectAttribute(oids::kBusinessCategory).value_or("");
  p.set_kind(kind == "enterprise" ? v1::CUSTOMER_KIND_ENTERPRISE
                                  : kind == "individual" ? v1::CUSTOMER_KIND_INDIVIDUAL : v1::CUSTOMER_KIND_UNSPECIFIED);
  auto org = cert.SubjectAttribute("O");
  p.set_name(p.kind() == v1::CUSTOMER_KIND_ENTERPRISE && org ? *org : cert.SubjectAttribute("CN").value_or(cert.Subject()));
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
  std::printf("  VAT reference:  %s\n", o.vat_reference().empty() ? "(none: a consumer)" : VisibleLine(o.vat_reference()).c_str());
  std::printf("  applicable law: %s\n", VisibleLine(o.applicable_law()).c_str());
  for (const auto& item : o.items()) {
    std::printf("  item:           %lld x %s at %s\n", static_cast<long long>(item.quantity()), VisibleLine(item.description()).c_str(),
                FormatMoney(item.unit_price()).c_str());
  }
  std::printf("  amount:         %s\n", FormatMoney(o.amount()).c_str());
  if (!o.delivery_address().empty()) std::printf("  deliver to:     %s\n", VisibleLine(o.delivery_address()).c_str());
  std::printf("  created:        %s\n", TimeText(content.created()).c_str());
}

int Sign(const Connection& c, const std::string& wallet, const std::string& pass, const std::string& seller_file,
         const std::string& amount, const std::string& currency, std::string order_id, const std::string& description,
         const std::string& address, const std::string& law, const std::string& out) {
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
  if (absl::Status valid = ValidateContainerContent(content); !valid.ok()) Die(valid, 2);

  std::printf("You are about to sign this order with your signature key (legally binding):\n");
  PrintOrder(content);
  if (!Confirm(c, "Sign the order?")) {
    std::fprintf(stderr, "semperctl: nothing signed\n");
    return 1;
  }
  auto sealed = Seal(content, {.signers = {SignerIdentity{WalletKey(wallet, pass), chain.front(),
                                                          std::vector<Certificate>(chain.begin() + 1, chain.end())}}});
  if (!sealed.ok()) Die(sealed.status());
  std::string bytes = sealed->SerializeAsString();
  WriteOrDie(out, bytes);
  std::printf("Signed order %s saved to %s (SHA-256 %s); send it to the seller.\n", order_id.c_str(), out.c_str(),
              HexEncode(Sha256(bytes)).c_str());
  return 0;
}

int Show(const Connection& c, const std::string& in, const std::string& buyer_out) {
  std::string bytes = ReadFileOrDie(in);
  v1::SealedContainer sealed;
  if (!sealed.ParseFromString(bytes)) {
    std::printf("NOT VERIFIED: %s is not a SEMPER container\n", in.c_str());
    return 3;
  }
  TrustStore trust = Trust(c);
  OpenOptions options;
  options.trust = &trust;
  options.required.set_non_repudiation_of_origin(true);
  auto opened = Open(sealed, options);
  if (!opened.ok()) {
    std::printf("NOT VERIFIED: %s\n", std::string(opened.status().message()).c_str());
    return 3;
  }
  if (!opened->content.template_().has_order()) {
    std::printf("NOT AN ORDER: the container holds another template\n");
    return 3;
  }
  const v1::Order& o = opened->content.template_().order();
  const Certificate& signer = opened->origin_signers.front().certificate;
  if (o.buyer().certificate() != signer.Der()) {
    std::printf("NOT VERIFIED: the order is signed by %s, not by the buyer it names\n", signer.Subject().c_str());
    return 3;
  }
  std::printf("Verified order, signed by the buyer %s (certificate %s of %s):\n", signer.Subject().c_str(),
              signer.SerialHex().c_str(), signer.Issuer().c_str());
  PrintOrder(opened->content);
  std::printf("  SHA-256 of the signed order: %s\n", HexEncode(Sha256(bytes)).c_str());
  if (!buyer_out.empty()) {
    WriteOrDie(buyer_out, signer.Pem());
    std::printf("The buyer's signature certificate is in %s (for semperctl liability guarantee --buyer).\n",
                buyer_out.c_str());
  }
  std::printf("The signature says nothing of the buyer's certificate status now: ask semper-liability for a\n"
              "guarantee, which also checks it with semper-ca.\n");
  return 0;
}

}  // namespace

OrderCommands::OrderCommands(CLI::App& app, Connection& c) : c_(c) {
  auto* o = app.add_subcommand("order", "signed orders (SEMPER containers): buyers sign, sellers check");
  o->require_subcommand(1);
  sign_ = o->add_subcommand("sign", "buyers: sign an order (shown first) for a seller");
  sign_->add_option("--wallet", wallet_, "your wallet (semperctl enroll)")->required();
  sign_->add_option("--wallet-passphrase-file", wallet_pass_, "file with the wallet's passphrase (asked otherwise)");
  sign_->add_option("--seller", seller_, "the seller's signature certificate (PEM)")->required()->check(CLI::ExistingFile);
  sign_->add_option("--amount", amount_, "the total, e.g. 129.90")->required();
  sign_->add_option("--currency", currency_, "ISO 4217")->capture_default_str();
  sign_->add_option("--order-id", order_id_, "your reference (default: a random one)");
  sign_->add_option("--description", description_, "what you order (one line item)");
  sign_->add_option("--deliver-to", address_, "delivery address");
  sign_->add_option("--law", law_, "applicable law (default: the one in your certificate)");
  sign_->add_option("--out", out_, "where to save the signed order")->required();
  show_ = o->add_subcommand("show", "sellers: check a signed order and show it (exit 0 verified, 3 not)");
  show_->add_option("order", in_, "the signed order file")->required()->check(CLI::ExistingFile);
  show_->add_option("--buyer-out", buyer_out_, "save the buyer's signature certificate (PEM) here");
}

std::optional<int> OrderCommands::Run() {
  if (sign_->parsed()) {
    return Sign(c_, wallet_, wallet_pass_, seller_, amount_, currency_, order_id_, description_, address_, law_, out_);
  }
  if (show_->parsed()) return Show(c_, in_, buyer_out_);
  return std::nullopt;
}

}  // namespace semper::ctl
