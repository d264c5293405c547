// Container validation, sealing, opening and receipts.
#include "common/container/container.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/time_util.h>

#include <set>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/container/money.h"
#include "common/container/vat.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/crypto/timestamp.h"

namespace semper {
namespace {

using google::protobuf::util::TimeUtil;

absl::Status Missing(std::string_view field) { return InvalidField(field, "is required"); }

absl::Status CheckMoney(std::string_view field, const v1::Money& money, bool positive) {
  if (!IsCurrencyCode(money.currency())) {
    return InvalidField(StrCat(field, ".currency"), "must be an ISO 4217 code such as EUR");
  }
  if (positive ? money.minor_units() <= 0 : money.minor_units() < 0) {
    return InvalidField(StrCat(field, ".minor_units"), positive ? "must be positive" : "must not be negative");
  }
  return absl::OkStatus();
}

absl::Status CheckLaw(std::string_view field, std::string_view law) {
  if (law.empty()) return Missing(field);
  if (law != "EU" && !IsCountryCode(law)) {
    return InvalidField(field, "must be an ISO 3166-1 alpha-2 country code or \"EU\"");
  }
  return absl::OkStatus();
}

absl::Status CheckTimestamp(std::string_view field, const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return Missing(field);
  if (t.seconds() < TimeUtil::kTimestampMinSeconds || t.seconds() > TimeUtil::kTimestampMaxSeconds || t.nanos() < 0 ||
      t.nanos() > 999999999) {
    return InvalidField(field, "is not a valid time");
  }
  return absl::OkStatus();
}

absl::Status CheckParty(std::string_view field, const v1::Party& party) {
  if (party.name().empty()) return Missing(StrCat(field, ".name"));
  if (!party.country().empty() && !IsCountryCode(party.country())) {
    return InvalidField(StrCat(field, ".country"), "must be an ISO 3166-1 alpha-2 code");
  }
  if (party.kind() == v1::CUSTOMER_KIND_ENTERPRISE && party.vat_reference().empty()) {
    return InvalidField(StrCat(field, ".vat_reference"), "is required for an enterprise");
  }
  if (!party.vat_reference().empty()) {
    SEMPER_RETURN_IF_ERROR(ValidateVatReference(party.vat_reference(), StrCat(field, ".vat_reference")));
  }
  if (!party.certificate().empty()) {
    auto cert = Certificate::FromDer(party.certificate());
    if (!cert.ok()) return InvalidField(StrCat(field, ".certificate"), "is not a DER certificate");
  }
  return absl::OkStatus();
}

absl::Status CheckItems(std::string_view field, const google::protobuf::RepeatedPtrField<v1::LineItem>& items) {
  for (int i = 0; i < items.size(); ++i) {
    std::string f = StrCat(field, "[", i, "]");
    if (items[i].description().empty()) return Missing(StrCat(f, ".description"));
    if (items[i].quantity() <= 0) return InvalidField(StrCat(f, ".quantity"), "must be positive");
    SEMPER_RETURN_IF_ERROR(CheckMoney(StrCat(f, ".unit_price"), items[i].unit_price(), false));
  }
  return absl::OkStatus();
}

absl::Status CheckTemplate(const v1::Template& t, const std::set<std::string>& element_ids) {
  switch (t.kind_case()) {
    case v1::Template::kOffer: {
      const auto& o = t.offer();
      if (o.offer_id().empty()) return Missing("template.offer.offer_id");
      SEMPER_RETURN_IF_ERROR(CheckItems("template.offer.items", o.items()));
      return CheckMoney("template.offer.total", o.total(), true);
    }
    case v1::Template::kOrder: {
      const auto& o = t.order();
      if (o.order_id().empty()) return Missing("template.order.order_id");
      SEMPER_RETURN_IF_ERROR(CheckParty("template.order.buyer", o.buyer()));
      SEMPER_RETURN_IF_ERROR(CheckParty("template.order.seller", o.seller()));
      if (o.customer_kind() == v1::CUSTOMER_KIND_UNSPECIFIED) {
        return InvalidField("template.order.customer_kind", "must be INDIVIDUAL or ENTERPRISE");
      }
      SEMPER_RETURN_IF_ERROR(CheckLaw("template.order.applicable_law", o.applicable_law()));
      if (o.customer_kind() == v1::CUSTOMER_KIND_ENTERPRISE && o.vat_reference().empty()) {
        return InvalidField("template.order.vat_reference", "is required when the customer is an enterprise");
      }
      if (!o.vat_reference().empty()) {
        SEMPER_RETURN_IF_ERROR(ValidateVatReference(o.vat_reference(), "template.order.vat_reference"));
      }
      SEMPER_RETURN_IF_ERROR(CheckItems("template.order.items", o.items()));
      return CheckMoney("template.order.amount", o.amount(), true);
    }
    case v1::Template::kReceipt: {
      const auto& r = t.receipt();
      if (r.received_container_id().empty()) return Missing("template.receipt.received_container_id");
      if (r.content_digest().algorithm() != v1::HASH_ALGORITHM_SHA256 || r.content_digest().value().size() != 32) {
        return InvalidField("template.receipt.content_digest", "must be a SHA-256 digest (32 bytes)");
      }
      if (!v1::ReceiptAcknowledges_IsValid(r.acknowledges())) {
        return InvalidField("template.receipt.acknowledges", "must be CONTAINER, DELIVERY or PAYMENT");
      }
      return CheckTimestamp("template.receipt.received_at", r.received_at());
    }
    case v1::Template::kContract: {
      const auto& c = t.contract();
      if (c.title().empty()) return Missing("template.contract.title");
      if (c.signers_size() < 2) return InvalidField("template.contract.signers", "needs at least two signers");
      for (int i = 0; i < c.signers_size(); ++i) {
        SEMPER_RETURN_IF_ERROR(CheckParty(StrCat("template.contract.signers[", i, "]"), c.signers(i)));
      }
      SEMPER_RETURN_IF_ERROR(CheckLaw("template.contract.applicable_law", c.applicable_law()));
      SEMPER_RETURN_IF_ERROR(CheckTimestamp("template.contract.deadline", c.deadline()));
      if (!element_ids.count(c.text_element_id())) {
        return InvalidField("template.contract.text_element_id", "names no element of this container");
      }
      return absl::OkStatus();
    }
    case v1::Template::kAgreement: {
      const auto& a = t.agreement();
      SEMPER_RETURN_IF_ERROR(CheckMoney("template.agreement.overall_limit", a.overall_limit(), true));
      SEMPER_RETURN_IF_ERROR(CheckMoney("template.agreement.per_transaction_limit", a.per_transaction_limit(), true));
      if (a.overall_limit().currency() != a.per_transaction_limit().currency()) {
        return InvalidField("template.agreement.per_transaction_limit.currency",
                            "must equal the overall limit's currency");
      }
      if (a.per_transaction_limit().minor_units() > a.overall_limit().minor_units()) {
        return InvalidField("template.agreement.per_transaction_limit", "must not exceed the overall limit");
      }
      SEMPER_RETURN_IF_ERROR(CheckTimestamp("template.agreement.valid_from", a.valid_from()));
      SEMPER_RETURN_IF_ERROR(CheckTimestamp("template.agreement.valid_until", a.valid_until()));
      if (TimeUtil::TimestampToNanoseconds(a.valid_until()) <= TimeUtil::TimestampToNanoseconds(a.valid_from())) {
        return InvalidField("template.agreement.valid_until", "must be later than valid_from");
      }
      return CheckLaw("template.agreement.applicable_law", a.applicable_law());
    }
    case v1::Template::kDisputeClaim: {
      const auto& d = t.dispute_claim();
      if (d.claim_id().empty()) return Missing("template.dispute_claim.claim_id");
      if (d.subject_reference().empty()) return Missing("template.dispute_claim.subject_reference");
      if (d.claim().empty()) return Missing("template.dispute_claim.claim");
      SEMPER_RETURN_IF_ERROR(CheckParty("template.dispute_claim.claimant", d.claimant()));
      SEMPER_RETURN_IF_ERROR(CheckParty("template.dispute_claim.respondent", d.respondent()));
      for (const auto& id : d.evidence_element_ids()) {
        if (!element_ids.count(id)) {
          return InvalidField("template.dispute_claim.evidence_element_ids", StrCat("'", id, "' names no element"));
        }
      }
      if (d.has_amount_claimed()) {
        SEMPER_RETURN_IF_ERROR(CheckMoney("template.dispute_claim.amount_claimed", d.amount_claimed(), true));
      }
      return absl::OkStatus();
    }
    case v1::Template::kVerdict: {
      const auto& v = t.verdict();
      if (v.claim_id().empty()) return Missing("template.verdict.claim_id");
      if (v.outcome() == v1::Verdict::OUTCOME_UNSPECIFIED) return Missing("template.verdict.outcome");
      if (v.reasoning().empty()) return Missing("template.verdict.reasoning");
      return absl::OkStatus();
    }
    case v1::Template::KIND_NOT_SET:
      return Missing("template");
  }
  return Missing("template");
}

absl::Status AttributeMissing(std::string_view attribute, std::string_view why) {
  return MakeError(absl::StatusCode::kFailedPrecondition, v1::SECURITY_ATTRIBUTE_MISSING,
                   StrCat("security attribute ", attribute, " does not hold: ", why), {{"attribute", attribute}});
}

v1::Party PartyFromCertificate(const Certificate& cert) {
  v1::Party party;
  party.set_name(cert.SubjectAttribute("CN").value_or(cert.Subject()));
  party.set_country(cert.SubjectAttribute("C").value_or(""));
  party.set_certificate(cert.Der());
  return party;
}

}  // namespace

v1::ContainerContent NewContainerContent(absl::Time now) {
  v1::ContainerContent content;
  content.set_id(RandomId());
  *content.mutable_created() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  return content;
}

std::string SerializeDeterministic(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

absl::Status ValidateContainerContent(const v1::ContainerContent& content) {
  if (content.id().empty() || content.id().size() > 128) {
    return InvalidField("id", "must be 1 to 128 characters");
  }
  SEMPER_RETURN_IF_ERROR(CheckTimestamp("created", content.created()));
  if (content.has_sender()) SEMPER_RETURN_IF_ERROR(CheckParty("sender", content.sender()));
  for (int i = 0; i < content.recipients_size(); ++i) {
    SEMPER_RETURN_IF_ERROR(CheckParty(StrCat("recipients[", i, "]"), content.recipients(i)));
  }
  std::set<std::string> ids;
  for (int i = 0; i < content.elements_size(); ++i) {
    const v1::Element& e = content.elements(i);
    std::string f = StrCat("elements[", i, "]");
    if (e.id().empty()) return Missing(StrCat(f, ".id"));
    if (!ids.insert(e.id()).second) return InvalidField(StrCat(f, ".id"), StrCat("'", e.id(), "' is used twice"));
    switch (e.kind_case()) {
      case v1::Element::kSignedDocument:
        if (e.signed_document().document().empty()) return Missing(StrCat(f, ".signed_document.document"));
        if (e.signed_document().signature().empty()) return Missing(StrCat(f, ".signed_document.signature"));
        if (e.signed_document().media_type().empty()) return Missing(StrCat(f, ".signed_document.media_type"));
        break;
      case v1::Element::kInformation:
        if (e.information().media_type().empty()) return Missing(StrCat(f, ".information.media_type"));
        break;
      case v1::Element::kPayment:
        if (e.payment().instrument().empty()) return Missing(StrCat(f, ".payment.instrument"));
        if (e.payment().reference().empty()) return Missing(StrCat(f, ".payment.reference"));
        SEMPER_RETURN_IF_ERROR(CheckMoney(StrCat(f, ".payment.amount"), e.payment().amount(), true));
        break;
      case v1::Element::KIND_NOT_SET:
        return InvalidField(f, "must be a signed document, information or a payment");
    }
  }
  return CheckTemplate(content.template_(), ids);
}

namespace {

// More signature time-stamps on one signer are refused when opening (each costs a verification).
constexpr size_t kMaxSignatureTimeStamps = 4;
// How far a signature time-stamp's genTime may lie ahead of this clock.
constexpr absl::Duration kTimeStampSkew = absl::Minutes(5);

// CAdES-T: a time-stamp over each SignerInfo's signature value, added to it unsigned. The token
// must cover that digest (the time_stamp function's caller verifies the TSA; Open does again).
absl::StatusOr<std::string> AddSignatureTimeStamps(const std::string& sig, const TimeStampFn& time_stamp) {
  SEMPER_ASSIGN_OR_RETURN(std::vector<std::string> digests, CmsSignatureValueDigests(sig));
  std::vector<std::string> tokens;
  for (const std::string& digest : digests) {
    SEMPER_ASSIGN_OR_RETURN(std::string reply, time_stamp(digest));
    SEMPER_ASSIGN_OR_RETURN(std::string token, TimeStampTokenOf(reply));
    SEMPER_ASSIGN_OR_RETURN(TimeStampInfo info, ReadTimeStampToken(token));
    if (info.hash_algorithm != "sha256" || info.imprint != digest) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::SIGNATURE_INVALID,
                       "the time-stamping authority answered with a token over something else");
    }
    tokens.push_back(std::move(token));
  }
  return CmsAddSignatureTimeStamps(sig, tokens);
}

}  // namespace

absl::StatusOr<v1::SealedContainer> Seal(const v1::ContainerContent& content, const SealOptions& options) {
  SEMPER_RETURN_IF_ERROR(ValidateContainerContent(content));
  const v1::SecurityAttributes& req = content.requested();
  if ((req.integrity() || req.non_repudiation_of_origin()) && options.signers.empty()) {
    return InvalidField("signers", "integrity and non-repudiation of origin need a signer");
  }
  if (req.confidentiality() && options.recipients.empty()) {
    return InvalidField("recipients", "confidentiality needs at least one recipient certificate");
  }
  if (req.time_stamped() && (options.signers.empty() || !options.time_stamp)) {
    return InvalidField("time_stamp", "a time-stamped container needs a signer and a time-stamping authority");
  }
  if (req.non_repudiation_of_origin()) {
    for (const auto& s : options.signers) {
      auto ku = s.certificate.key_usage();
      if (!ku.has_value() || (*ku & kKuNonRepudiation) == 0) {
        return AttributeMissing("non_repudiation_of_origin",
                                StrCat("signer \"", s.certificate.Subject(),
                                       "\" has no nonRepudiation key usage (use the signature certificate)"));
      }
    }
  }

  v1::SignedContainer signed_container;
  signed_container.set_content(SerializeDeterministic(content));
  for (const auto& s : options.signers) {
    SEMPER_ASSIGN_OR_RETURN(std::string sig,
                            CmsSignDetached(signed_container.content(), s.key, s.certificate, s.chain));
    if (req.time_stamped()) {
      SEMPER_ASSIGN_OR_RETURN(sig, AddSignatureTimeStamps(sig, options.time_stamp));
    }
    signed_container.add_signatures(std::move(sig));
  }
  v1::SealedContainer sealed;
  if (req.confidentiality()) {
    SEMPER_ASSIGN_OR_RETURN(std::string enveloped,
                            CmsEncrypt(SerializeDeterministic(signed_container), options.recipients));
    sealed.set_enveloped(std::move(enveloped));
  } else {
    *sealed.mutable_signed_() = std::move(signed_container);
  }
  return sealed;
}

absl::StatusOr<v1::SignedContainer> CoSign(const v1::SignedContainer& signed_container, const SignerIdentity& signer,
                                           const TimeStampFn& time_stamp) {
  if (signed_container.content().empty()) return Missing("content");
  v1::ContainerContent content;
  if (!content.ParseFromString(signed_container.content())) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                     "container content is not a serialized ContainerContent");
  }
  // The sender asked for time-stamped signatures: a co-signature without one would leave the
  // container short of it.
  if (content.requested().time_stamped() && !time_stamp) {
    return InvalidField("time_stamp", "the container asks for time-stamped signatures: a TSA is needed to co-sign it");
  }
  auto ku = signer.certificate.key_usage();
  if (!ku.has_value() || (*ku & kKuNonRepudiation) == 0) {
    return AttributeMissing("non_repudiation_of_origin",
                            StrCat("signer \"", signer.certificate.Subject(),
                                   "\" has no nonRepudiation key usage (use the signature certificate)"));
  }
  v1::SignedContainer out = signed_container;
  SEMPER_ASSIGN_OR_RETURN(std::string sig,
                          CmsSignDetached(out.content(), signer.key, signer.certificate, signer.chain));
  if (content.requested().time_stamped()) {
    SEMPER_ASSIGN_OR_RETURN(sig, AddSignatureTimeStamps(sig, time_stamp));
  }
  out.add_signatures(std::move(sig));
  return out;
}

absl::StatusOr<OpenedContainer> Open(const v1::SealedContainer& sealed, const OpenOptions& options) {
  if (options.trust == nullptr) return InvalidField("trust", "a trust store is required");
  OpenedContainer opened;
  v1::SignedContainer signed_container;
  switch (sealed.body_case()) {
    case v1::SealedContainer::kEnveloped: {
      if (sealed.enveloped().size() > options.max_bytes) {
        return InvalidField("enveloped", StrCat("is larger than ", options.max_bytes, " bytes"));
      }
      if (options.decryption_key == nullptr || options.decryption_certificate == nullptr) {
        return MakeError(absl::StatusCode::kFailedPrecondition, v1::DECRYPTION_FAILED,
                         "the container is encrypted and no decryption key was given");
      }
      SEMPER_ASSIGN_OR_RETURN(std::string plain,
                              CmsDecrypt(sealed.enveloped(), *options.decryption_key, *options.decryption_certificate));
      if (!signed_container.ParseFromString(plain)) {
        return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                         "the decrypted container is not a SignedContainer");
      }
      opened.holds.set_confidentiality(true);
      break;
    }
    case v1::SealedContainer::kSigned:
      signed_container = sealed.signed_();
      break;
    case v1::SealedContainer::BODY_NOT_SET:
      return Missing("body");
  }
  if (signed_container.content().size() > options.max_bytes) {
    return InvalidField("content", StrCat("is larger than ", options.max_bytes, " bytes"));
  }
  opened.content_bytes = signed_container.content();
  if (!opened.content.ParseFromString(opened.content_bytes)) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                     "container content is not a serialized ContainerContent");
  }
  SEMPER_RETURN_IF_ERROR(ValidateContainerContent(opened.content));

  bool nro = !signed_container.signatures().empty();
  if (options.signature_at.size() > static_cast<size_t>(signed_container.signatures_size())) {
    return InvalidField("signature_at", "names more signatures than the container has");
  }
  for (int i = 0; i < signed_container.signatures_size(); ++i) {
    const absl::Time at = static_cast<size_t>(i) < options.signature_at.size() ? options.signature_at[i] : options.at;
    // The signature, its signers' paths and its time-stamp attributes from one parse.
    auto verified = CmsVerifyDetachedWithTimeStamps(signed_container.signatures(i), opened.content_bytes,
                                                    *options.trust, at, KeyPurpose::kAny);
    if (!verified.ok()) return Annotate(verified.status(), StrCat("origin signature ", i));
    std::vector<CmsSigner>* signers = &verified->signers;
    // Signature time-stamps (CAdES-T): each one present must cover its signer's signature value
    // and verify; a signer with none leaves time_stamped not holding.
    const std::vector<std::string>& digests = verified->value_digests;
    const auto& stamps = verified->time_stamps;
    std::vector<std::optional<absl::Time>> stamped_at(digests.size());
    for (size_t j = 0; j < digests.size() && j < stamps.size(); ++j) {
      if (stamps[j].size() > kMaxSignatureTimeStamps) {
        return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                         StrCat("origin signature ", i, " carries more than ", kMaxSignatureTimeStamps,
                                " signature time-stamps on one signer"));
      }
      for (const std::string& token : stamps[j]) {
        // The TSA's certificate as it stood when it stamped (the token's genTime, which its
        // signature covers): a stamp keeps proving its time after that certificate expires.
        // A token itself (ContentInfo), not a TimeStampResp around one, as CAdES says.
        auto bare = TimeStampTokenOf(token);
        if (!bare.ok() || *bare != token) {
          return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                           StrCat("origin signature ", i, ": its time-stamp attribute holds no bare token"));
        }
        auto claimed = ReadTimeStampToken(token);
        if (!claimed.ok()) return Annotate(claimed.status(), StrCat("origin signature ", i, ": its time-stamp"));
        // A time still to come proves nothing (beyond a clock's skew).
        if (claimed->gen_time > absl::Now() + kTimeStampSkew) {
          return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                           StrCat("origin signature ", i, ": its time-stamp is dated in the future"));
        }
        auto info = VerifyTimeStampToken(
            token, digests[j], options.time_stamp_roots.empty() ? options.trust->roots() : options.time_stamp_roots, {},
            std::nullopt, claimed->gen_time);
        if (!info.ok()) return Annotate(info.status(), StrCat("origin signature ", i, ": its time-stamp"));
        if (info->hash_algorithm != "sha256") {
          return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                           StrCat("origin signature ", i, ": its time-stamp is not over a SHA-256 digest"));
        }
        if (!stamped_at[j].has_value() || info->gen_time < *stamped_at[j]) stamped_at[j] = info->gen_time;
      }
    }
    // CmsVerifyDetached lists the signers in SignerInfo order, as the digests are.
    for (size_t k = 0; k < signers->size(); ++k) {
      CmsSigner& s = (*signers)[k];
      auto ku = s.certificate.key_usage();
      if (!ku.has_value() || (*ku & kKuNonRepudiation) == 0) nro = false;
      opened.origin_signers.push_back(std::move(s));
      opened.origin_signer_signature.push_back(i);
      opened.origin_signer_stamped_at.push_back(k < stamped_at.size() ? stamped_at[k] : std::nullopt);
    }
  }
  opened.holds.set_integrity(!opened.origin_signers.empty());
  opened.holds.set_non_repudiation_of_origin(nro);
  bool stamped = !opened.origin_signers.empty();
  for (const auto& t : opened.origin_signer_stamped_at) stamped = stamped && t.has_value();
  opened.holds.set_time_stamped(stamped);

  if (!opened.content.sender().certificate().empty()) {
    bool found = false;
    for (const auto& s : opened.origin_signers) {
      if (s.certificate.Der() == opened.content.sender().certificate()) found = true;
    }
    if (!found) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                       "the container names a sender certificate that signed none of its signatures");
    }
  }

  for (const v1::Element& e : opened.content.elements()) {
    if (e.kind_case() != v1::Element::kSignedDocument) continue;
    auto signers = CmsVerifyDetached(e.signed_document().signature(), e.signed_document().document(), *options.trust,
                                     options.at, KeyPurpose::kAny);
    if (!signers.ok()) return Annotate(signers.status(), StrCat("element '", e.id(), "'"));
    opened.documents.push_back(CheckedDocument{e.id(), std::move(*signers)});
  }

  opened.receipt_requested = opened.content.requested().non_repudiation_of_receipt();
  for (const v1::SecurityAttributes* want : {&opened.content.requested(), &options.required}) {
    const char* who = want == &options.required ? "the receiver requires it" : "the sender requested it";
    if (want->integrity() && !opened.holds.integrity()) return AttributeMissing("integrity", who);
    if (want->non_repudiation_of_origin() && !opened.holds.non_repudiation_of_origin()) {
      return AttributeMissing("non_repudiation_of_origin", who);
    }
    if (want->confidentiality() && !opened.holds.confidentiality()) {
      return AttributeMissing("confidentiality", who);
    }
    if (want->time_stamped() && !opened.holds.time_stamped()) {
      return AttributeMissing("time_stamped", StrCat(who, ": a signature carries no signature time-stamp"));
    }
  }
  if (options.required.non_repudiation_of_receipt()) {
    return AttributeMissing("non_repudiation_of_receipt", "it holds only for a checked receipt");
  }
  return opened;
}

absl::StatusOr<v1::SealedContainer> MakeReceipt(const OpenedContainer& received, const SignerIdentity& recipient,
                                                std::string_view statement, absl::Time now,
                                                const std::vector<Certificate>& encrypt_to,
                                                v1::ReceiptAcknowledges acknowledges) {
  v1::ContainerContent content = NewContainerContent(now);
  *content.mutable_sender() = PartyFromCertificate(recipient.certificate);
  if (received.content.has_sender()) *content.add_recipients() = received.content.sender();
  v1::Receipt* r = content.mutable_template_()->mutable_receipt();
  r->set_received_container_id(received.content.id());
  r->mutable_content_digest()->set_algorithm(v1::HASH_ALGORITHM_SHA256);
  r->mutable_content_digest()->set_value(Sha256(received.content_bytes));
  *r->mutable_received_at() = content.created();
  r->set_statement(std::string(statement));
  r->set_acknowledges(acknowledges);
  content.mutable_requested()->set_integrity(true);
  content.mutable_requested()->set_non_repudiation_of_origin(true);
  content.mutable_requested()->set_confidentiality(!encrypt_to.empty());
  SealOptions seal;
  seal.signers.push_back(recipient);
  seal.recipients = encrypt_to;
  return Seal(content, seal);
}

absl::Status CheckReceipt(const OpenedContainer& original, const OpenedContainer& receipt) {
  if (receipt.content.template_().kind_case() != v1::Template::kReceipt) {
    return InvalidField("template", "the container is not a receipt");
  }
  const v1::Receipt& r = receipt.content.template_().receipt();
  if (r.received_container_id() != original.content.id()) {
    return InvalidField("template.receipt.received_container_id", "names another container");
  }
  if (r.content_digest().value() != Sha256(original.content_bytes)) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID,
                     "the receipt acknowledges different content than was sent");
  }
  if (!receipt.holds.non_repudiation_of_origin()) {
    return AttributeMissing("non_repudiation_of_receipt", "the receipt is not signed for non-repudiation");
  }
  std::set<std::string> named;
  for (const auto& p : original.content.recipients()) {
    if (!p.certificate().empty()) named.insert(p.certificate());
  }
  if (!named.empty()) {
    bool by_recipient = false;
    for (const auto& s : receipt.origin_signers) {
      if (named.count(s.certificate.Der())) by_recipient = true;
    }
    if (!by_recipient) {
      return AttributeMissing("non_repudiation_of_receipt", "the receipt is not signed by a named recipient");
    }
  }
  return absl::OkStatus();
}

}  // namespace semper
