// The arbiter's own check of each piece of evidence in a dispute: every signature, each signer's
// certificate path and status at the time a time-stamp proves (semper-ca), each time-stamp token
// (the TSA's certificate under the suite's roots), each notary entry (the notary's signature, the
// inclusion proof into its signed tree head, and that head's consistency with the notary's current
// one). The result is a Finding per item: what holds, what does not, and why. Thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"
#include "semper/v1/arbiter.pb.h"
#include "semper/v1/ca.grpc.pb.h"
#include "semper/v1/notary.grpc.pb.h"

namespace semper::arbiter {

// The other authorities, as the checker asks them.
struct EvidenceSources {
  // semper-ca: the certificate's status as it was at `at`.
  std::function<absl::StatusOr<v1::CertificateStatus>(const Certificate& cert, absl::Time at)> certificate_status;
  // semper-notary: a consistency proof from a tree of `old_size` entries to its latest signed head.
  std::function<absl::StatusOr<v1::ConsistencyProof>(uint64_t old_size)> notary_consistency;
};

// The sources as gRPC calls to semper-ca and semper-notary, each with `deadline`.
EvidenceSources RemoteSources(std::shared_ptr<v1::CertificationAuthority::StubInterface> ca,
                              std::shared_ptr<v1::Notary::StubInterface> notary, absl::Duration deadline);

// Who the parties are: signers are attributed by subject and issuer.
struct CaseParties {
  Certificate claimant;
  Certificate respondent;
  // Who is the buyer: the claimant for non-delivery, goods not as ordered and repudiation, the
  // respondent for non-payment; unspecified: either.
  v1::ClaimKind kind = v1::CLAIM_KIND_UNSPECIFIED;
  // The claim's subject_sha256: a guarantee holds only when it is for this order content.
  std::string subject_sha256;
};

class EvidenceChecker {
 public:
  // `intermediates`: issuing CA certificates for certificates that come without their chain.
  EvidenceChecker(const TrustStore* trust, std::vector<Certificate> intermediates, Certificate arbiter,
                  EvidenceSources sources)
      : trust_(trust),
        intermediates_(std::move(intermediates)),
        arbiter_(std::move(arbiter)),
        sources_(std::move(sources)) {}

  // One finding per item, in order; `submitted_by` is "claimant" or "respondent". A signature
  // without a proof of time (a time-stamp, the arbiter's token) is judged by its signer's status
  // at `now`: any revocation or hold by then undoes it.
  std::vector<v1::Finding> CheckAll(const google::protobuf::RepeatedPtrField<v1::EvidenceItem>& items,
                                    std::string_view submitted_by, const CaseParties& parties, absl::Time now) const;
  v1::Finding Check(const v1::EvidenceItem& item, const CaseParties& parties, absl::Time now) const;

 private:
  // Fills signers, verified and problem for CMS signers checked at `at`; false if one is not good.
  bool CheckSignersStatus(const std::vector<Certificate>& signers, absl::Time at, bool proven,
                          const CaseParties& parties, v1::Finding* f) const;
  // The proven time from a signature time-stamp over `signed_bytes`, or nullopt (none given).
  absl::StatusOr<std::optional<absl::Time>> SignatureTime(std::string_view token, std::string_view signed_bytes,
                                                          v1::Finding* f) const;
  void CheckSignedDocument(const v1::SignedDocumentEvidence& e, const CaseParties& parties, absl::Time now,
                           v1::Finding* f) const;
  void CheckContainer(const v1::ContainerEvidence& e, const CaseParties& parties, absl::Time now, v1::Finding* f) const;
  void CheckTimeStamp(const v1::TimeStampEvidence& e, v1::Finding* f) const;
  void CheckNotaryEvidence(const v1::Evidence& e, const CaseParties& parties, v1::Finding* f) const;
  void CheckCertificate(const std::string& der, const CaseParties& parties, absl::Time now, v1::Finding* f) const;
  void CheckExchange(const v1::StandardContract& c, const CaseParties& parties, absl::Time now, v1::Finding* f) const;
  void CheckToken(const v1::SignedBody& token, const CaseParties& parties, absl::Time now, v1::Finding* f) const;
  // The notary's signature over a tree head, remembered once checked (by its exact bytes).
  absl::Status HeadVerified(const v1::SignedTreeHead& head) const;

  const TrustStore* trust_;
  std::vector<Certificate> intermediates_;
  Certificate arbiter_;
  EvidenceSources sources_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_set<std::string> verified_heads_ ABSL_GUARDED_BY(mu_);
};

// "claimant", "respondent" or "third-party": whose certificate `cert` is (same subject and issuer).
std::string PartyOf(const Certificate& cert, const CaseParties& parties);

}  // namespace semper::arbiter
