// Container: templates are validated; sealing and opening give the attributes asked for, and
// every tampering is caught.
#include "common/container/container.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "common/container/money.h"
#include "common/container/vat.h"
#include "common/crypto/timestamp.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_tsa.h"

namespace semper {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::semper::testing::IsOk;
using ::semper::testing::LeafSpec;
using ::semper::testing::StatusIs;
using ::semper::testing::TestPki;
using ::semper::testing::TestTsa;

const TestPki& Pki() { return ::semper::testing::SharedTestPki(); }

SignerIdentity Person(const std::string& cn, uint32_t ku = kKuNonRepudiation | kKuDigitalSignature | kKuKeyAgreement) {
  return Pki().Issue(cn, ku);
}

v1::ContainerContent OrderContent() {
  v1::ContainerContent c = NewContainerContent(absl::Now());
  v1::Order* o = c.mutable_template_()->mutable_order();
  o->set_order_id("O-1001");
  o->mutable_buyer()->set_name("Example GmbH");
  o->mutable_buyer()->set_country("DE");
  o->mutable_buyer()->set_kind(v1::CUSTOMER_KIND_ENTERPRISE);
  o->mutable_buyer()->set_vat_reference("VATDE-123456789");
  o->mutable_seller()->set_name("Vendeur SARL");
  o->mutable_seller()->set_country("FR");
  o->set_customer_kind(v1::CUSTOMER_KIND_ENTERPRISE);
  o->set_applicable_law("FR");
  o->set_vat_reference("VATDE-123456789");
  o->mutable_amount()->set_currency("EUR");
  o->mutable_amount()->set_minor_units(12990);
  auto* item = o->add_items();
  item->set_description("Widget");
  item->set_quantity(10);
  item->mutable_unit_price()->set_currency("EUR");
  item->mutable_unit_price()->set_minor_units(1299);
  auto* e = c.add_elements();
  e->set_id("terms");
  e->mutable_information()->set_media_type("text/plain");
  e->mutable_information()->set_data("Delivery within 5 days.");
  return c;
}

TEST(ContainerValidationTest, GoodOrderPasses) { EXPECT_THAT(ValidateContainerContent(OrderContent()), IsOk()); }

TEST(ContainerValidationTest, BadOrdersNameTheField) {
  struct Case {
    std::function<void(v1::ContainerContent&)> mutate;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](auto& c) { c.mutable_template_()->mutable_order()->mutable_amount()->set_minor_units(0); },
       "template.order.amount.minor_units"},
      {[](auto& c) { c.mutable_template_()->mutable_order()->mutable_amount()->set_currency("eur"); },
       "template.order.amount.currency"},
      {[](auto& c) { c.mutable_template_()->mutable_order()->set_vat_reference(""); }, "template.order.vat_reference"},
      {[](auto& c) { c.mutable_template_()->mutable_order()->set_vat_reference("VATDE-12345"); },
       "template.order.vat_reference"},
      {[](auto& c) { c.mutable_template_()->mutable_order()->set_applicable_law("Germany"); },
       "template.order.applicable_law"},
      {[](auto& c) { c.mutable_template_()->mutable_order()->set_customer_kind(v1::CUSTOMER_KIND_UNSPECIFIED); },
       "template.order.customer_kind"},
      {[](auto& c) { c.mutable_template_()->mutable_order()->set_order_id(""); }, "template.order.order_id"},
      {[](auto& c) { c.mutable_template_()->mutable_order()->mutable_items(0)->set_quantity(-1); },
       "template.order.items[0].quantity"},
      {[](auto& c) { c.add_elements()->set_id("terms"); }, "elements[1].id"},
      {[](auto& c) { c.add_elements()->set_id("x"); }, "elements[1]"},
      {[](auto& c) { c.clear_template_(); }, "template"},
      {[](auto& c) { c.set_id(""); }, "id"},
  };
  for (const auto& tc : cases) {
    v1::ContainerContent c = OrderContent();
    tc.mutate(c);
    absl::Status s = ValidateContainerContent(c);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD)) << tc.field;
    EXPECT_EQ(ErrorInfoOf(s).metadata().at("field"), tc.field);
  }
}

TEST(ContainerValidationTest, OtherTemplates) {
  v1::ContainerContent c = NewContainerContent(absl::Now());
  auto* a = c.mutable_template_()->mutable_agreement();
  a->mutable_overall_limit()->set_currency("EUR");
  a->mutable_overall_limit()->set_minor_units(100000);
  a->mutable_per_transaction_limit()->set_currency("EUR");
  a->mutable_per_transaction_limit()->set_minor_units(200000);
  *a->mutable_valid_from() = TimeUtil::GetCurrentTime();
  *a->mutable_valid_until() = TimeUtil::GetCurrentTime() + TimeUtil::SecondsToDuration(86400);
  a->set_applicable_law("EU");
  EXPECT_THAT(ValidateContainerContent(c), StatusIs(absl::StatusCode::kInvalidArgument));
  a->mutable_per_transaction_limit()->set_minor_units(5000);
  EXPECT_THAT(ValidateContainerContent(c), IsOk());

  v1::ContainerContent k = NewContainerContent(absl::Now());
  auto* ct = k.mutable_template_()->mutable_contract();
  ct->set_title("Supply contract");
  ct->add_signers()->set_name("A");
  ct->add_signers()->set_name("B");
  ct->set_applicable_law("DE");
  *ct->mutable_deadline() = TimeUtil::GetCurrentTime();
  ct->set_text_element_id("text");
  EXPECT_THAT(ValidateContainerContent(k), StatusIs(absl::StatusCode::kInvalidArgument));
  auto* e = k.add_elements();
  e->set_id("text");
  e->mutable_information()->set_media_type("text/plain");
  EXPECT_THAT(ValidateContainerContent(k), IsOk());

  v1::ContainerContent v = NewContainerContent(absl::Now());
  v.mutable_template_()->mutable_verdict()->set_claim_id("C-1");
  EXPECT_THAT(ValidateContainerContent(v), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(VatTest, Formats) {
  EXPECT_THAT(ValidateVatReference("VATDE-123456789"), IsOk());
  EXPECT_THAT(ValidateVatReference("VATFR-AB123456789"), IsOk());
  EXPECT_THAT(ValidateVatReference("VATNL-123456789B01"), IsOk());
  EXPECT_THAT(ValidateVatReference("VATEL-123456789"), IsOk());
  EXPECT_THAT(ValidateVatReference("VATAT-U12345678"), IsOk());
  EXPECT_THAT(ValidateVatReference("VATDE-12345678"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateVatReference("DE123456789"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateVatReference("VATZZ-123"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateVatReference("VATNL-123456789X01"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(VatCountry("VATDE-123456789"), "DE");
}

TEST(VatTest, CountriesAreTheAssignedIsoCodesOnly) {
  EXPECT_EQ(AssignedCountryCodeCount(), 249u);
  for (const char* code : {"DE", "GR", "FR", "US", "AX", "ZW", "SS", "BQ"}) EXPECT_TRUE(IsCountryCode(code)) << code;
  // User-assigned, reserved, exceptionally reserved, lower case, other lengths.
  for (const char* code : {"XX", "AA", "ZZ", "QM", "XK", "EU", "UK", "EL", "de", "D", "DEU", ""}) {
    EXPECT_FALSE(IsCountryCode(code)) << code;
  }
}

TEST(ContainerTest, SignedOrderOpensWithIntegrityAndNonRepudiation) {
  auto buyer = Person("Buyer");
  v1::ContainerContent c = OrderContent();
  c.mutable_requested()->set_integrity(true);
  c.mutable_requested()->set_non_repudiation_of_origin(true);
  c.mutable_sender()->set_name("Buyer");
  c.mutable_sender()->set_certificate(buyer.certificate.Der());
  auto sealed = Seal(c, {.signers = {buyer}});
  ASSERT_THAT(sealed, IsOk());
  ASSERT_TRUE(sealed->has_signed_());
  OpenOptions opts;
  opts.trust = &Pki().trust();
  auto opened = Open(*sealed, opts);
  ASSERT_THAT(opened, IsOk());
  EXPECT_TRUE(opened->holds.integrity());
  EXPECT_TRUE(opened->holds.non_repudiation_of_origin());
  EXPECT_FALSE(opened->holds.confidentiality());
  EXPECT_EQ(opened->content.template_().order().order_id(), "O-1001");
  ASSERT_EQ(opened->origin_signers.size(), 1u);
  // Carried bytes are exactly what was signed.
  EXPECT_EQ(opened->content_bytes, sealed->signed_().content());
}

TEST(ContainerTest, TamperedContentIsCaught) {
  auto buyer = Person("Buyer");
  v1::ContainerContent c = OrderContent();
  c.mutable_requested()->set_integrity(true);
  auto sealed = Seal(c, {.signers = {buyer}});
  ASSERT_THAT(sealed, IsOk());
  // Re-encode with a changed amount: the signature no longer covers the bytes.
  v1::ContainerContent changed;
  ASSERT_TRUE(changed.ParseFromString(sealed->signed_().content()));
  changed.mutable_template_()->mutable_order()->mutable_amount()->set_minor_units(1);
  v1::SealedContainer forged = *sealed;
  forged.mutable_signed_()->set_content(SerializeDeterministic(changed));
  OpenOptions opts;
  opts.trust = &Pki().trust();
  EXPECT_THAT(Open(forged, opts), StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  // Stripping the signature: the sender requested integrity, so opening fails.
  v1::SealedContainer stripped = *sealed;
  stripped.mutable_signed_()->clear_signatures();
  EXPECT_THAT(Open(stripped, opts), StatusIs(absl::StatusCode::kFailedPrecondition, v1::SECURITY_ATTRIBUTE_MISSING));
  // Garbage content bytes.
  v1::SealedContainer garbage = *sealed;
  garbage.mutable_signed_()->set_content("\xff\xff\xff");
  EXPECT_THAT(Open(garbage, opts), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ContainerTest, SenderCertificateMustHaveSigned) {
  auto buyer = Person("Buyer");
  auto other = Person("Other");
  v1::ContainerContent c = OrderContent();
  c.mutable_sender()->set_name("Buyer");
  c.mutable_sender()->set_certificate(buyer.certificate.Der());
  auto sealed = Seal(c, {.signers = {other}});
  ASSERT_THAT(sealed, IsOk());
  OpenOptions opts;
  opts.trust = &Pki().trust();
  EXPECT_THAT(Open(*sealed, opts), StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
}

TEST(ContainerTest, NonRepudiationNeedsSignatureCertificate) {
  auto auth_only = Person("Auth", kKuDigitalSignature);
  v1::ContainerContent c = OrderContent();
  c.mutable_requested()->set_non_repudiation_of_origin(true);
  EXPECT_THAT(Seal(c, {.signers = {auth_only}}),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::SECURITY_ATTRIBUTE_MISSING));
  // Signed with an authentication key, the receiver's demand for NRO fails on open.
  c.mutable_requested()->set_non_repudiation_of_origin(false);
  c.mutable_requested()->set_integrity(true);
  auto sealed = Seal(c, {.signers = {auth_only}});
  ASSERT_THAT(sealed, IsOk());
  OpenOptions opts;
  opts.trust = &Pki().trust();
  opts.required.set_non_repudiation_of_origin(true);
  EXPECT_THAT(Open(*sealed, opts), StatusIs(absl::StatusCode::kFailedPrecondition, v1::SECURITY_ATTRIBUTE_MISSING));
  opts.required.set_non_repudiation_of_origin(false);
  auto opened = Open(*sealed, opts);
  ASSERT_THAT(opened, IsOk());
  EXPECT_TRUE(opened->holds.integrity());
  EXPECT_FALSE(opened->holds.non_repudiation_of_origin());
}

TEST(ContainerTest, ConfidentialContainerOnlyForRecipient) {
  auto seller = Person("Seller");
  auto buyer = Person("Buyer");
  auto eve = Person("Eve");
  v1::ContainerContent c = OrderContent();
  c.mutable_requested()->set_integrity(true);
  c.mutable_requested()->set_confidentiality(true);
  auto sealed = Seal(c, {.signers = {seller}, .recipients = {buyer.certificate}});
  ASSERT_THAT(sealed, IsOk());
  ASSERT_TRUE(sealed->has_enveloped());
  EXPECT_EQ(sealed->enveloped().find("O-1001"), std::string::npos);

  OpenOptions opts;
  opts.trust = &Pki().trust();
  EXPECT_THAT(Open(*sealed, opts), StatusIs(absl::StatusCode::kFailedPrecondition, v1::DECRYPTION_FAILED));
  opts.decryption_key = &eve.key;
  opts.decryption_certificate = &eve.certificate;
  EXPECT_THAT(Open(*sealed, opts), StatusIs(absl::StatusCode::kFailedPrecondition, v1::DECRYPTION_FAILED));
  opts.decryption_key = &buyer.key;
  opts.decryption_certificate = &buyer.certificate;
  auto opened = Open(*sealed, opts);
  ASSERT_THAT(opened, IsOk());
  EXPECT_TRUE(opened->holds.confidentiality());
  EXPECT_TRUE(opened->holds.integrity());

  // A sealed container that asked for confidentiality but travels in clear is refused.
  v1::ContainerContent c2 = c;
  auto plain_sealed = Seal(
      [&] {
        auto x = c2;
        x.mutable_requested()->set_confidentiality(false);
        return x;
      }(),
      {.signers = {seller}});
  ASSERT_THAT(plain_sealed, IsOk());
  opts.required.set_confidentiality(true);
  EXPECT_THAT(Open(*plain_sealed, opts),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::SECURITY_ATTRIBUTE_MISSING));
}

TEST(ContainerTest, SignedDocumentElementsAreVerified) {
  auto buyer = Person("Buyer");
  std::string doc = "%PDF-1.7 order form";
  auto doc_sig = CmsSignDetached(doc, buyer.key, buyer.certificate, buyer.chain);
  ASSERT_THAT(doc_sig, IsOk());
  v1::ContainerContent c = OrderContent();
  auto* e = c.add_elements();
  e->set_id("signed-order");
  e->mutable_signed_document()->set_media_type("application/pdf");
  e->mutable_signed_document()->set_document(doc);
  e->mutable_signed_document()->set_signature(*doc_sig);
  auto sealed = Seal(c, {.signers = {buyer}});
  ASSERT_THAT(sealed, IsOk());
  OpenOptions opts;
  opts.trust = &Pki().trust();
  auto opened = Open(*sealed, opts);
  ASSERT_THAT(opened, IsOk());
  ASSERT_EQ(opened->documents.size(), 1u);
  EXPECT_EQ(opened->documents[0].element_id, "signed-order");

  // The element's document altered (and the container re-signed): the element check fails.
  e->mutable_signed_document()->set_document("%PDF-1.7 order form, amended");
  auto resealed = Seal(c, {.signers = {buyer}});
  ASSERT_THAT(resealed, IsOk());
  auto bad = Open(*resealed, opts);
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("signed-order"));
}

TEST(ContainerTest, ReceiptGivesNonRepudiationOfReceipt) {
  auto seller = Person("Seller");
  auto buyer = Person("Buyer");
  auto eve = Person("Eve");
  v1::ContainerContent c = OrderContent();
  c.mutable_requested()->set_integrity(true);
  c.mutable_requested()->set_non_repudiation_of_receipt(true);
  c.mutable_sender()->set_name("Seller");
  c.mutable_sender()->set_certificate(seller.certificate.Der());
  auto* r = c.add_recipients();
  r->set_name("Buyer");
  r->set_certificate(buyer.certificate.Der());
  auto sealed = Seal(c, {.signers = {seller}});
  ASSERT_THAT(sealed, IsOk());
  OpenOptions opts;
  opts.trust = &Pki().trust();
  auto original = Open(*sealed, opts);
  ASSERT_THAT(original, IsOk());
  EXPECT_TRUE(original->receipt_requested);

  auto receipt = MakeReceipt(*original, buyer, "received", absl::Now());
  ASSERT_THAT(receipt, IsOk());
  auto opened_receipt = Open(*receipt, opts);
  ASSERT_THAT(opened_receipt, IsOk());
  EXPECT_THAT(CheckReceipt(*original, *opened_receipt), IsOk());

  // A receipt from someone who is not the named recipient does not count.
  auto eve_receipt = MakeReceipt(*original, eve, "received", absl::Now());
  ASSERT_THAT(eve_receipt, IsOk());
  auto opened_eve = Open(*eve_receipt, opts);
  ASSERT_THAT(opened_eve, IsOk());
  EXPECT_THAT(CheckReceipt(*original, *opened_eve), StatusIs(absl::StatusCode::kFailedPrecondition));

  // A receipt for different content does not count.
  v1::ContainerContent other = OrderContent();
  auto other_sealed = Seal(other, {.signers = {seller}});
  ASSERT_THAT(other_sealed, IsOk());
  auto other_opened = Open(*other_sealed, opts);
  ASSERT_THAT(other_opened, IsOk());
  EXPECT_THAT(CheckReceipt(*other_opened, *opened_receipt), StatusIs(absl::StatusCode::kInvalidArgument));
}

// A TSA of the test PKI (the engine semper-tsa runs), counting what it stamps.
TEST(ContainerTest, TimeStampedContainersCarryASignatureTimeStampPerSigner) {
  TestTsa tsa(Pki());
  auto buyer = Person("Buyer");
  v1::ContainerContent c = OrderContent();
  c.mutable_requested()->set_non_repudiation_of_origin(true);
  c.mutable_requested()->set_time_stamped(true);
  // Without a TSA (or a signer) it cannot be done, and says so.
  EXPECT_THAT(Seal(c, {.signers = {buyer}}), StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  const absl::Time before = absl::Now() - absl::Seconds(1);
  auto sealed = Seal(c, {.signers = {buyer}, .time_stamp = tsa.Client()});
  ASSERT_THAT(sealed, IsOk());
  EXPECT_EQ(tsa.stamped(), 1);
  // The time-stamp covers the signature value (RFC 3161 appendix A), as an unsigned attribute:
  // the signature still verifies as it was.
  const std::string& sig = sealed->signed_().signatures(0);
  auto digests = CmsSignatureValueDigests(sig);
  auto stamps = CmsSignatureTimeStamps(sig);
  ASSERT_THAT(digests, IsOk());
  ASSERT_THAT(stamps, IsOk());
  ASSERT_EQ(stamps->size(), 1u);
  ASSERT_EQ((*stamps)[0].size(), 1u);
  auto info = VerifyTimeStampToken((*stamps)[0][0], (*digests)[0], {Pki().root()});
  ASSERT_THAT(info, IsOk());
  OpenOptions opts;
  opts.trust = &Pki().trust();
  auto opened = Open(*sealed, opts);
  ASSERT_THAT(opened, IsOk());
  EXPECT_TRUE(opened->holds.time_stamped());
  ASSERT_EQ(opened->origin_signer_stamped_at.size(), 1u);
  ASSERT_TRUE(opened->origin_signer_stamped_at[0].has_value());
  EXPECT_GE(*opened->origin_signer_stamped_at[0], before);
  EXPECT_LE(*opened->origin_signer_stamped_at[0], absl::Now() + absl::Seconds(1));

  // A co-signature (the seller's confirmation) is stamped too; without a TSA it is not made.
  auto seller = Person("Seller");
  EXPECT_THAT(CoSign(sealed->signed_(), seller), StatusIs(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD));
  auto cosigned = CoSign(sealed->signed_(), seller, tsa.Client());
  ASSERT_THAT(cosigned, IsOk());
  v1::SealedContainer two;
  *two.mutable_signed_() = *cosigned;
  auto opened_two = Open(two, opts);
  ASSERT_THAT(opened_two, IsOk());
  EXPECT_TRUE(opened_two->holds.time_stamped());
  ASSERT_EQ(opened_two->origin_signer_stamped_at.size(), 2u);
  EXPECT_TRUE(opened_two->origin_signer_stamped_at[1].has_value());
  // A co-signature added without its stamp (by hand): the container no longer holds what its
  // sender requested, and is refused.
  auto bare = CmsSignDetached(sealed->signed_().content(), seller.key, seller.certificate, seller.chain);
  ASSERT_THAT(bare, IsOk());
  v1::SealedContainer unstamped_cosign = *sealed;
  unstamped_cosign.mutable_signed_()->add_signatures(*bare);
  EXPECT_THAT(Open(unstamped_cosign, opts),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::SECURITY_ATTRIBUTE_MISSING));

  // A time-stamp over another signature, moved onto this one: refused, not merely "not stamped".
  auto other = Seal(c, {.signers = {seller}, .time_stamp = tsa.Client()});
  ASSERT_THAT(other, IsOk());
  auto other_stamps = CmsSignatureTimeStamps(other->signed_().signatures(0));
  ASSERT_THAT(other_stamps, IsOk());
  v1::ContainerContent plain = OrderContent();
  plain.mutable_requested()->set_non_repudiation_of_origin(true);
  auto unstamped = Seal(plain, {.signers = {buyer}});
  ASSERT_THAT(unstamped, IsOk());
  auto moved = CmsAddSignatureTimeStamps(unstamped->signed_().signatures(0), {(*other_stamps)[0][0]});
  ASSERT_THAT(moved, IsOk());
  v1::SealedContainer forged = *unstamped;
  forged.mutable_signed_()->set_signatures(0, *moved);
  EXPECT_THAT(Open(forged, opts), StatusIs(absl::StatusCode::kInvalidArgument));
  // A token from a TSA the receiver does not trust: refused.
  OpenOptions other_roots = opts;
  other_roots.time_stamp_roots = {::semper::testing::TestPki().root()};
  EXPECT_FALSE(Open(*sealed, other_roots).ok());
  // Bytes that are no token in the attribute: refused.
  auto junk = CmsAddSignatureTimeStamps(unstamped->signed_().signatures(0), {std::string("\x30\x03\x02\x01\x00", 5)});
  ASSERT_THAT(junk, IsOk());
  forged.mutable_signed_()->set_signatures(0, *junk);
  EXPECT_FALSE(Open(forged, opts).ok());
  // An unstamped container does not claim time_stamped.
  auto plain_opened = Open(*unstamped, opts);
  ASSERT_THAT(plain_opened, IsOk());
  EXPECT_FALSE(plain_opened->holds.time_stamped());
  // More than four stamps on one signer: refused before they are all verified.
  std::string many = sealed->signed_().signatures(0);
  for (int k = 0; k < 4; ++k) {
    many = *CmsAddSignatureTimeStamps(many, {(*stamps)[0][0]});
  }
  forged = *sealed;
  forged.mutable_signed_()->set_signatures(0, many);
  EXPECT_THAT(Open(forged, opts), StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
}

TEST(ContainerTest, ASignatureTimeStampKeepsProvingItsTimeAfterTheTsaCertificateExpires) {
  auto buyer = Person("Buyer");
  v1::ContainerContent c = OrderContent();
  c.mutable_requested()->set_time_stamped(true);
  OpenOptions opts;
  opts.trust = &Pki().trust();
  // Stamped two hours ago by a TSA whose certificate ran out an hour ago.
  const absl::Time now = absl::Now();
  TestTsa expired(Pki(), now - absl::Hours(3), now - absl::Hours(1), -absl::Hours(2));
  auto sealed = Seal(c, {.signers = {buyer}, .time_stamp = expired.Client()});
  ASSERT_THAT(sealed, IsOk());
  auto opened = Open(*sealed, opts);
  ASSERT_THAT(opened, IsOk());
  EXPECT_TRUE(opened->holds.time_stamped());
  ASSERT_TRUE(opened->origin_signer_stamped_at[0].has_value());
  EXPECT_LT(*opened->origin_signer_stamped_at[0], now - absl::Minutes(90));
  // A token dated when the TSA's certificate was not valid (before it, or after it ran out)
  // proves nothing: refused.
  TestTsa early(Pki(), now - absl::Hours(3), now - absl::Hours(1), -absl::Hours(5));
  auto too_early = Seal(c, {.signers = {buyer}, .time_stamp = early.Client()});
  ASSERT_THAT(too_early, IsOk());
  EXPECT_FALSE(Open(*too_early, opts).ok());
  TestTsa late(Pki(), now - absl::Hours(3), now - absl::Hours(1), absl::ZeroDuration());
  auto too_late = Seal(c, {.signers = {buyer}, .time_stamp = late.Client()});
  ASSERT_THAT(too_late, IsOk());
  EXPECT_FALSE(Open(*too_late, opts).ok());
  // Nor does a time still to come, from a TSA certificate valid then.
  TestTsa ahead(Pki(), now + absl::Hours(1), now + absl::Hours(3), absl::Hours(2));
  auto future = Seal(c, {.signers = {buyer}, .time_stamp = ahead.Client()});
  ASSERT_THAT(future, IsOk());
  EXPECT_THAT(Open(*future, opts), StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  // A TimeStampResp in the attribute instead of the token it carries: refused.
  TestTsa good(Pki());
  v1::ContainerContent plain = OrderContent();
  auto unstamped = Seal(plain, {.signers = {buyer}});
  ASSERT_THAT(unstamped, IsOk());
  auto digests = CmsSignatureValueDigests(unstamped->signed_().signatures(0));
  ASSERT_THAT(digests, IsOk());
  auto reply = good.Client()((*digests)[0]);
  ASSERT_THAT(reply, IsOk());
  auto wrapped = CmsAddSignatureTimeStamps(unstamped->signed_().signatures(0), {*reply});
  ASSERT_THAT(wrapped, IsOk());
  v1::SealedContainer resp_inside = *unstamped;
  resp_inside.mutable_signed_()->set_signatures(0, *wrapped);
  EXPECT_THAT(Open(resp_inside, opts), StatusIs(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT));
}

TEST(ContainerTest, OversizedContainerRefusedBeforeParsing) {
  v1::SealedContainer big;
  big.mutable_signed_()->set_content(std::string(2048, 'x'));
  OpenOptions opts;
  opts.trust = &Pki().trust();
  opts.max_bytes = 1024;
  EXPECT_THAT(Open(big, opts), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace semper

namespace semper {
namespace {

TEST(MoneyTest, FormatsAndParsesAmounts) {
  v1::Money m;
  m.set_currency("EUR");
  m.set_minor_units(12990);
  EXPECT_EQ(FormatMoney(m), "129.90 EUR");
  m.set_minor_units(5);
  EXPECT_EQ(FormatMoney(m), "0.05 EUR");
  EXPECT_EQ(ParseMinorUnits("129.90"), 12990);
  EXPECT_EQ(ParseMinorUnits("12"), 1200);
  EXPECT_EQ(ParseMinorUnits("1.5"), std::nullopt);
  EXPECT_EQ(ParseMinorUnits("-1.00"), std::nullopt);
  EXPECT_EQ(ParseMinorUnits("ten"), std::nullopt);
  EXPECT_EQ(ParseMinorUnits(""), std::nullopt);
}

}  // namespace
}  // namespace semper
