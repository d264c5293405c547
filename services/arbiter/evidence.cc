// Evidence checks for dispute resolution.
#include "services/arbiter/evidence.h"

#include <google/protobuf/util/json_util.h>

#include <atomic>
#include <thread>

#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/container/container.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/crypto/suite_signer.h"
#include "common/crypto/timestamp.h"
#include "common/exchange/asw.h"
#include "common/notary/evidence.h"
#include "common/server/certificate_status.h"
#include "common/server/daemon.h"
#include "common/server/grpc_status.h"
#include "common/server/peer.h"
#include "semper/v1/liability.pb.h"

namespace semper::arbiter {
namespace {

std::string TimeText(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()); }

void Fail(v1::Finding* f, std::string_view problem) {
  f->set_holds(false);
  if (f->problem().empty()) f->set_problem(std::string(problem));
}

std::vector<Certificate> SignerCertificates(const std::vector<CmsSigner>& signers) {
  std::vector<Certificate> out;
  for (const CmsSigner& s : signers) out.push_back(s.certificate);
  return out;
}

// SHA-256 of what an item signs or stamps: of the document, or as given; into f->content_sha256.
bool DigestOf(const std::string& document, const std::string& sha256, v1::Finding* f) {
  if (!document.empty()) {
    f->set_content_sha256(Sha256(document));
  } else if (sha256.size() == 32) {
    f->set_content_sha256(sha256);
  } else {
    Fail(f, "neither the document nor its 32-byte SHA-256 is given");
    return false;
  }
  return true;
}

}  // namespace

// The notary answering with an error answered (CalledError): only a call that did not get
// through makes a finding undetermined. (semper-ca's certificate status: any failure is
// undetermined, see CertificateStatusClient.) (Every error was UNAVAILABLE: evidence naming a tree the
// notary does not have would have held a case forever.)
EvidenceSources RemoteSources(std::shared_ptr<v1::CertificationAuthority::StubInterface> ca,
                              std::shared_ptr<v1::Notary::StubInterface> notary, absl::Duration deadline) {
  EvidenceSources sources;
  auto ca_status = std::make_shared<CertificateStatusClient>(std::move(ca), deadline);
  sources.certificate_status = [ca_status](const Certificate& cert, absl::Time at) {
    return ca_status->Status(cert, at);
  };
  sources.notary_consistency = [notary, deadline](uint64_t old_size) -> absl::StatusOr<v1::ConsistencyProof> {
    v1::GetConsistencyProofRequest req;
    req.set_old_size(old_size);
    v1::ConsistencyProof proof;
    grpc::Status called = notary->GetConsistencyProof(UpstreamContext(deadline).get(), req, &proof);
    if (!called.ok()) return CalledError("semper-notary", called);
    return proof;
  };
  return sources;
}

std::string PartyOf(const Certificate& cert, const CaseParties& parties) {
  // A subscriber by its id (any of its certificates), a pseudonym by its very certificate: a
  // pseudonym's name taken again by someone else is not the same party.
  auto same = [&cert](const Certificate& other) { return ::semper::PartyOf(cert) == ::semper::PartyOf(other); };
  if (same(parties.claimant)) return "claimant";
  if (same(parties.respondent)) return "respondent";
  return "third-party";
}

std::vector<v1::Finding> EvidenceChecker::CheckAll(const google::protobuf::RepeatedPtrField<v1::EvidenceItem>& items,
                                                   std::string_view submitted_by, const CaseParties& parties,
                                                   absl::Time now) const {
  // Items are independent, and most wait on semper-ca or semper-notary: they are checked
  // concurrently (at most 8 at a time), and reported in order.
  std::vector<v1::Finding> out(items.size());
  std::atomic<int> next{0};
  auto work = [&] {
    for (int i = next++; i < items.size(); i = next++) {
      out[i] = Check(items[i], parties, now);
      out[i].set_submitted_by(std::string(submitted_by));
      out[i].set_item(static_cast<uint32_t>(i));
    }
  };
  std::vector<std::thread> helpers;
  for (int t = 1; t < std::min(items.size(), 8); ++t) helpers.emplace_back(work);
  work();
  for (auto& t : helpers) t.join();
  return out;
}

absl::Status EvidenceChecker::HeadVerified(const v1::SignedTreeHead& head) const {
  std::string key = Sha256(StrCat(head.statement(), head.signature()));
  {
    absl::MutexLock lock(&mu_);
    if (verified_heads_.contains(key)) return absl::OkStatus();
  }
  SEMPER_RETURN_IF_ERROR(notary::VerifyTreeHead(head, *trust_));
  absl::MutexLock lock(&mu_);
  if (verified_heads_.size() >= 1000) verified_heads_.clear();
  verified_heads_.insert(key);
  return absl::OkStatus();
}

v1::Finding EvidenceChecker::Check(const v1::EvidenceItem& item, const CaseParties& parties, absl::Time now) const {
  v1::Finding f;
  f.set_label(item.label());
  f.set_holds(true);
  switch (item.item_case()) {
    case v1::EvidenceItem::kSignedDocument:
      f.set_kind("signed-document");
      CheckSignedDocument(item.signed_document(), parties, now, &f);
      break;
    case v1::EvidenceItem::kContainer:
      f.set_kind("container");
      CheckContainer(item.container(), parties, now, &f);
      break;
    case v1::EvidenceItem::kTimeStamp:
      f.set_kind("time-stamp");
      CheckTimeStamp(item.time_stamp(), &f);
      break;
    case v1::EvidenceItem::kNotaryEvidence:
      f.set_kind("notary-evidence");
      CheckNotaryEvidence(item.notary_evidence(), parties, &f);
      break;
    case v1::EvidenceItem::kCertificate:
      f.set_kind("certificate");
      CheckCertificate(item.certificate(), parties, now, &f);
      break;
    case v1::EvidenceItem::kExchangeContract:
      f.set_kind("exchange-contract");
      CheckExchange(item.exchange_contract(), parties, now, &f);
      break;
    case v1::EvidenceItem::kArbiterToken:
      f.set_kind("arbiter-token");
      CheckToken(item.arbiter_token(), parties, now, &f);
      break;
    default:
      f.set_kind("none");
      Fail(&f, "the item is empty");
  }
  return f;
}

absl::StatusOr<std::optional<absl::Time>> EvidenceChecker::SignatureTime(std::string_view token,
                                                                         std::string_view signed_bytes,
                                                                         v1::Finding* f) const {
  if (token.empty()) return std::optional<absl::Time>();
  auto info = VerifyTimeStampToken(token, Sha256(signed_bytes), trust_->roots());
  if (!info.ok()) return Annotate(info.status(), "the signature time-stamp");
  f->add_verified("signature-time-stamp");
  return std::optional<absl::Time>(info->gen_time);
}

bool EvidenceChecker::CheckSignersStatus(const std::vector<Certificate>& signers, absl::Time at, bool proven,
                                         const CaseParties& parties, v1::Finding* f) const {
  for (const Certificate& c : signers) {
    f->add_signers(c.Subject());
    f->add_signed_by_party(PartyOf(c, parties));
  }
  for (const Certificate& c : signers) {
    auto st = sources_.certificate_status(c, at);
    if (!st.ok()) {
      f->set_undetermined(st.status().code() == absl::StatusCode::kUnavailable);
      Fail(f, StrCat(f->undetermined() ? "semper-ca could not be asked about " : "semper-ca gave no status of ",
                     c.Subject(), ": ", st.status().message()));
      return false;
    }
    if (st->state() == v1::CERTIFICATE_STATE_REVOKED) {
      std::string reason = v1::RevocationReason_Name(st->reason());
      if (proven) {
        Fail(f, StrCat("the signer's certificate ", c.SerialHex(), " (", c.Subject(), ") was revoked at ",
                       TimeText(FromTimestamp(st->revoked_at())), " (", reason,
                       "), before the time-stamp proves the signature existed (", TimeText(at),
                       "): the signature may have been made after the revocation"));
      } else {
        Fail(f, StrCat("the signer's certificate ", c.SerialHex(), " (", c.Subject(), ") is revoked since ",
                       TimeText(FromTimestamp(st->revoked_at())), " (", reason,
                       ") and no time-stamp proves the signature older than that"));
      }
      return false;
    }
    if (st->state() != v1::CERTIFICATE_STATE_GOOD) {
      Fail(f, StrCat("semper-ca does not know the signer's certificate ", c.SerialHex(), " (", c.Subject(), ")"));
      return false;
    }
  }
  f->add_verified(proven ? "status-good-at-signing-time" : "status-good-now");
  return true;
}

void EvidenceChecker::CheckSignedDocument(const v1::SignedDocumentEvidence& e, const CaseParties& parties,
                                          absl::Time now, v1::Finding* f) const {
  if (!DigestOf(e.document(), e.document_sha256(), f)) return;
  const std::string& digest = f->content_sha256();
  if (e.signature().empty()) return Fail(f, "no signature is given");
  auto proven = SignatureTime(e.signature_time_stamp(), e.signature(), f);
  if (!proven.ok()) return Fail(f, std::string(proven.status().message()));
  if (proven->has_value()) *f->mutable_proven_time() = ToTimestamp(**proven);
  absl::Time at = proven->value_or(now);
  auto signers =
      CmsVerifyDetachedDigest(e.signature(), HashAlgorithm::kSha256, digest, *trust_, at, KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return Fail(f, StrCat("the signature does not hold: ", signers.status().message()));
  f->add_verified("cms-signature");
  f->add_verified("certificate-path");
  CheckSignersStatus(SignerCertificates(*signers), at, proven->has_value(), parties, f);
  // A guarantee of semper-liability: its statement, signed by the tracker.
  if (!e.document().empty() && e.document().front() == '{') {
    v1::GuaranteeStatement g;
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;
    if (google::protobuf::util::JsonStringToMessage(e.document(), &g, opts).ok() &&
        g.type() == "semper-liability-guarantee" && !g.guarantee_id().empty()) {
      // Only if semper-liability signed it: anyone's key has a path to the root, and what anyone
      // else signed is only a signed document.
      if (signers->size() == 1 && CheckSuiteSigner(signers->front().certificate, "liability").ok()) {
        f->set_kind("liability-guarantee");
        // Only a guarantee between this case's two parties (buyer and seller, either way round)
        // is the case's business: a verdict never orders someone else's guarantee (issue "Trust
        // under attack (2 of 2)", finding 2).
        // And the buyer is the party the claim says it is: a buyer's claim that a seller did not
        // deliver, a seller's claim that a buyer did not pay (else a buyer's own non-payment claim,
        // rejected, would release its seller's guarantee).
        const bool buyer_claims =
            parties.kind == v1::CLAIM_KIND_NON_DELIVERY || parties.kind == v1::CLAIM_KIND_NOT_AS_ORDERED ||
            parties.kind == v1::CLAIM_KIND_REPUDIATED_ORDER || parties.kind == v1::CLAIM_KIND_REPUDIATED_SIGNATURE;
        const bool seller_claims = parties.kind == v1::CLAIM_KIND_NON_PAYMENT;
        const bool buyer_is_claimant =
            SubjectNamesParty(g.buyer(), parties.claimant) && SubjectNamesParty(g.seller(), parties.respondent);
        const bool buyer_is_respondent =
            SubjectNamesParty(g.buyer(), parties.respondent) && SubjectNamesParty(g.seller(), parties.claimant);
        if (!buyer_is_claimant && !buyer_is_respondent) {
          return Fail(f, StrCat("guarantee ", g.guarantee_id(), " is between ", g.buyer(), " and ", g.seller(),
                                ", not between this case's parties"));
        }
        if ((buyer_claims && !buyer_is_claimant) || (seller_claims && !buyer_is_respondent)) {
          return Fail(f, StrCat("guarantee ", g.guarantee_id(), " has ", g.buyer(),
                                " as its buyer: not the party this kind of claim is by or against"));
        }
        // And it is for the order in dispute, not another order of the same two parties.
        if (g.order_content_sha256().empty()) {
          return Fail(f, StrCat("guarantee ", g.guarantee_id(),
                                " names no order content (issued before 2026-12-06): no verdict orders it"));
        }
        if (g.order_content_sha256() != parties.subject_sha256) {
          return Fail(f, StrCat("guarantee ", g.guarantee_id(), " is for the order with content SHA-256 ",
                                HexEncode(g.order_content_sha256()), ", not the one in dispute"));
        }
        // The tracker checked the buyer's signature over that order (and its key's status) when
        // it issued the guarantee: the guarantee attests it, as the notary attests a signature.
        f->set_content_sha256(g.order_content_sha256());
        f->add_signers(g.buyer());
        f->add_signed_by_party(buyer_is_claimant ? "claimant" : "respondent");
        f->set_guarantee_id(g.guarantee_id());
      }
    }
  }
}

void EvidenceChecker::CheckContainer(const v1::ContainerEvidence& e, const CaseParties& parties, absl::Time now,
                                     v1::Finding* f) const {
  const v1::SignedContainer& sc = e.container();
  if (sc.content().empty()) return Fail(f, "the container is empty");
  f->set_content_sha256(Sha256(sc.content()));
  if (sc.signatures().empty()) return Fail(f, "the container carries no signature");
  // Each signer's time comes from a time-stamp over its own signature, or it has none (issue
  // "Trust under attack (2 of 2)", finding 8: one stamp over the first signature dated them all).
  if (!e.signature_time_stamp().empty() && !e.signature_time_stamps().empty()) {
    return Fail(f, "signature_time_stamp is the earlier form of signature_time_stamps[0]: give one of them");
  }
  std::vector<std::string> stamps(e.signature_time_stamps().begin(), e.signature_time_stamps().end());
  if (!e.signature_time_stamp().empty()) stamps = {e.signature_time_stamp()};
  if (stamps.size() > static_cast<size_t>(sc.signatures_size())) {
    return Fail(f, StrCat(stamps.size(), " time-stamps for ", sc.signatures_size(), " signatures: at most one each"));
  }
  std::vector<std::optional<absl::Time>> proven(sc.signatures_size());
  std::vector<absl::Time> at(sc.signatures_size(), now);
  for (size_t i = 0; i < stamps.size(); ++i) {
    auto t = SignatureTime(stamps[i], sc.signatures(static_cast<int>(i)), f);
    if (!t.ok()) return Fail(f, StrCat("signature ", i, ": ", t.status().message()));
    proven[i] = *t;
    if (t->has_value()) at[i] = **t;
  }
  v1::SealedContainer sealed;
  *sealed.mutable_signed_() = sc;
  OpenOptions options;
  options.trust = trust_;
  // Documents signed inside the content existed when the earliest stamped signature over it was
  // made: their signers are checked then (or now, without a stamp).
  options.at = now;
  for (const auto& p : proven) {
    if (p.has_value()) options.at = std::min(options.at, *p);
  }
  options.signature_at = at;
  options.required.set_non_repudiation_of_origin(true);
  auto opened = Open(sealed, options);
  if (!opened.ok()) return Fail(f, StrCat("the container does not hold: ", opened.status().message()));
  f->add_verified("cms-signature");
  f->add_verified("certificate-path");
  const auto& t = opened->content.template_();
  if (t.has_order()) {
    f->set_kind("container/order");
    // Who the order says buys and sells, by the certificates it names (none: a third party).
    auto role = [&parties](const v1::Party& p) -> std::string {
      auto cert = Certificate::FromDer(p.certificate());
      return cert.ok() ? PartyOf(*cert, parties) : "third-party";
    };
    f->set_order_buyer(role(t.order().buyer()));
    f->set_order_seller(role(t.order().seller()));
    *f->mutable_order_amount() = t.order().amount();
  }
  if (t.has_receipt()) {
    f->set_kind("container/receipt");
    switch (t.receipt().acknowledges()) {
      case v1::RECEIPT_ACKNOWLEDGES_DELIVERY:
        f->set_receipt_acknowledges("delivery");
        break;
      case v1::RECEIPT_ACKNOWLEDGES_PAYMENT:
        f->set_receipt_acknowledges("payment");
        break;
      default:
        f->set_receipt_acknowledges("container");
    }
    f->set_receipt_for_sha256(t.receipt().content_digest().value());
  }
  if (t.has_offer()) f->set_kind("container/offer");
  if (t.has_contract()) f->set_kind("container/contract");
  if (t.has_agreement()) f->set_kind("container/agreement");
  for (int i = 0; i < sc.signatures_size(); ++i) {
    std::vector<Certificate> signers;
    for (size_t k = 0; k < opened->origin_signers.size(); ++k) {
      if (opened->origin_signer_signature[k] == i) signers.push_back(opened->origin_signers[k].certificate);
    }
    if (!CheckSignersStatus(signers, at[i], proven[i].has_value(), parties, f)) return;
  }
  // The time by which every signature existed, only when each is stamped.
  std::optional<absl::Time> all;
  for (const auto& p : proven) {
    if (!p.has_value()) return;
    all = all.has_value() ? std::max(*all, *p) : *p;
  }
  if (all.has_value()) *f->mutable_proven_time() = ToTimestamp(*all);
}

void EvidenceChecker::CheckTimeStamp(const v1::TimeStampEvidence& e, v1::Finding* f) const {
  if (!DigestOf(e.document(), e.document_sha256(), f)) return;
  const std::string& digest = f->content_sha256();
  auto info = VerifyTimeStampToken(e.token(), digest, trust_->roots());
  if (!info.ok()) return Fail(f, StrCat("the time-stamp does not hold: ", info.status().message()));
  f->add_verified("time-stamp-token");
  *f->mutable_proven_time() = ToTimestamp(info->gen_time);
  f->add_signers(info->signer_subject);
  f->add_signed_by_party("third-party");
}

void EvidenceChecker::CheckNotaryEvidence(const v1::Evidence& e, const CaseParties& parties, v1::Finding* f) const {
  f->set_content_sha256(Sha256(e.statement()));
  if (absl::Status s = notary::VerifyEvidence(e, *trust_); !s.ok()) {
    return Fail(f, StrCat("the notary's evidence does not hold: ", s.message()));
  }
  f->add_verified("notary-signature");
  f->add_verified("inclusion-proof");
  // The tree head must be one the notary still stands by: its tree a prefix of the latest.
  auto proof = sources_.notary_consistency(e.tree_head().tree_size());
  if (!proof.ok()) {
    f->set_undetermined(proof.status().code() == absl::StatusCode::kUnavailable);
    return Fail(f, StrCat(f->undetermined() ? "semper-notary could not be asked for its tree head: "
                                            : "semper-notary does not stand by the evidence's tree head: ",
                          proof.status().message()));
  }
  // The notary's latest head is the same for many items: its signature is checked once.
  absl::Status consistent = HeadVerified(proof->new_tree_head());
  if (consistent.ok()) consistent = notary::CheckConsistencyProof(e.tree_head(), *proof);
  if (!consistent.ok()) {
    return Fail(f, StrCat("the evidence's tree head is not consistent with the notary's log: ", consistent.message()));
  }
  f->add_verified("tree-head-consistent");
  if (e.kind() == "attestation") {
    v1::AttestationStatement st;
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;
    if (google::protobuf::util::JsonStringToMessage(e.statement(), &st, opts).ok()) {
      f->set_kind("notary-attestation");
      f->set_content_sha256(st.document_sha256());
      f->add_signers(st.signer_subject());
      std::string party = "third-party";
      const std::string signer = PartyOfSubject(st.signer_subject()).starts_with("subscriber:")
                                     ? PartyOfSubject(st.signer_subject())
                                     : StrCat("certificate:", st.signer_issuer(), "#", st.signer_certificate_serial());
      for (const Certificate* c : {&parties.claimant, &parties.respondent}) {
        if (::semper::PartyOf(*c) == signer) party = PartyOf(*c, parties);
      }
      f->add_signed_by_party(party);
      if (st.time_stamped_at().seconds() != 0) *f->mutable_proven_time() = st.time_stamped_at();
    }
  } else {
    f->set_kind(StrCat("notary-", e.kind()));
    if (e.kind() == "mail-delivery") {
      // The notary attests the recipient's receipt: the recipient is the party it names.
      v1::MailDeliveryStatement st;
      google::protobuf::util::JsonParseOptions opts;
      opts.ignore_unknown_fields = true;
      if (google::protobuf::util::JsonStringToMessage(e.statement(), &st, opts).ok()) {
        f->add_signers(st.recipient_subject());
        std::string party = "third-party";
        for (const Certificate* c : {&parties.claimant, &parties.respondent}) {
          if (SubjectNamesParty(st.recipient_subject(), *c)) party = PartyOf(*c, parties);
        }
        f->add_signed_by_party(party);
      }
    }
  }
}

// A certificate is public: anyone can show anyone's. It says who holds a key, and binds its
// subject to nothing; the finding names nobody as a signer (issue "Trust under attack (2 of 2)",
// finding 1: a claim was upheld on the respondent's certificate alone).
void EvidenceChecker::CheckCertificate(const std::string& der, const CaseParties& parties, absl::Time now,
                                       v1::Finding* f) const {
  auto cert = Certificate::FromDer(der);
  if (!cert.ok()) return Fail(f, "the certificate does not parse");
  f->set_content_sha256(Sha256(der));
  auto path = trust_->VerifyPath(*cert, intermediates_, now, KeyPurpose::kAny);
  if (!path.ok()) return Fail(f, StrCat("the certificate does not hold: ", path.status().message()));
  f->add_verified("certificate-path");
  CheckSignersStatus({*cert}, now, false, parties, f);
  f->clear_signers();
  f->clear_signed_by_party();
}

void EvidenceChecker::CheckExchange(const v1::StandardContract& c, const CaseParties& parties, absl::Time now,
                                    v1::Finding* f) const {
  auto view = asw::VerifyStandardContract(c);
  if (!view.ok()) return Fail(f, StrCat("the exchange does not hold: ", view.status().message()));
  f->add_verified("asw-signatures-and-nonces");
  f->set_content_sha256(Sha256(view->body.contract()));
  for (const Certificate* cert : {&view->originator, &view->responder}) {
    auto path = trust_->VerifyPath(*cert, intermediates_, now, KeyPurpose::kNonRepudiation);
    if (!path.ok()) return Fail(f, StrCat("a party's certificate does not hold: ", path.status().message()));
  }
  f->add_verified("certificate-path");
  CheckSignersStatus({view->originator, view->responder}, now, false, parties, f);
}

void EvidenceChecker::CheckToken(const v1::SignedBody& token, const CaseParties& parties, absl::Time now,
                                 v1::Finding* f) const {
  auto view = asw::VerifyToken(token, arbiter_);
  if (!view.ok()) return Fail(f, StrCat("the arbiter's token does not hold: ", view.status().message()));
  f->add_verified("arbiter-signature");
  f->set_kind(view->resolved ? "arbiter-replacement-contract" : "arbiter-abort-token");
  f->set_content_sha256(view->body.me1_hash());
  if (view->resolved) {
    // The replacement contract binds both parties as the standard contract would: with the same
    // checks of their certificates (path and status), or not at all.
    auto me1 = asw::VerifyMe1(view->body.me1());
    if (!me1.ok()) return Fail(f, StrCat("the replacement contract's me1 does not hold: ", me1.status().message()));
    // The arbiter's token proves that me1 and me2 existed when it decided: the parties' keys are
    // judged then (or when this arbiter received the token, if earlier).
    absl::Time at = now;
    if (view->body.has_decided_at()) at = std::min(at, FromTimestamp(view->body.decided_at()));
    for (const Certificate* c : {&me1->originator, &me1->responder}) {
      auto path = trust_->VerifyPath(*c, intermediates_, at, KeyPurpose::kNonRepudiation);
      if (!path.ok()) return Fail(f, StrCat("a party's certificate does not hold: ", path.status().message()));
    }
    f->add_verified("arbiter-decision-time");
    CheckSignersStatus({me1->originator, me1->responder}, at, true, parties, f);
    f->add_signers(arbiter_.Subject());
    f->add_signed_by_party("third-party");
    return;
  }
  f->add_signers(arbiter_.Subject());
  f->add_signed_by_party("third-party");
}

}  // namespace semper::arbiter
