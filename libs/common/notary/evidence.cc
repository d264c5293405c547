// Evidence checks.
#include "common/notary/evidence.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/merkle.h"
#include "common/crypto/random.h"
#include "common/crypto/suite_signer.h"

namespace semper::notary {
namespace {

absl::Status Invalid(std::string_view what) {
  return MakeError(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID, what);
}

absl::Status NotarySigned(std::string_view statement, std::string_view signature, const TrustStore& trust,
                          std::string_view what) {
  auto signers = CmsVerifyDetached(signature, statement, trust, absl::Now(), KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return Annotate(signers.status(), what);
  if (signers->size() != 1) return Invalid(StrCat(what, ": must have exactly one signer"));
  // Any subscriber's signature key also has a path to the root: only the notary's key counts.
  return Annotate(CheckSuiteSigner(signers->front().certificate, "notary"), what);
}

}  // namespace

std::string ContractSigningText(std::string_view id, std::string_view contract_sha256) {
  return StrCat("semper-contract:", id, ":", HexEncode(contract_sha256));
}

absl::Status VerifyTreeHead(const v1::SignedTreeHead& head, const TrustStore& trust) {
  SEMPER_RETURN_IF_ERROR(NotarySigned(head.statement(), head.signature(), trust, "tree head"));
  v1::TreeHeadStatement st;
  if (!google::protobuf::util::JsonStringToMessage(head.statement(), &st).ok() ||
      st.type() != "semper-notary-tree-head") {
    return Invalid("the tree head's statement is not a semper-notary-tree-head");
  }
  if (st.tree_size() != head.tree_size() || st.root_hash() != head.root_hash()) {
    return Invalid("the tree head's fields differ from what the notary signed");
  }
  return absl::OkStatus();
}

absl::Status VerifyEvidence(const v1::Evidence& evidence, const TrustStore& trust) {
  SEMPER_RETURN_IF_ERROR(NotarySigned(evidence.statement(), evidence.signature(), trust, "evidence"));
  // The entry's kind is not signed; its statement's type is. They must agree, so that nobody
  // shows an abort as a completion, or a submission as a delivery, by relabelling.
  google::protobuf::Struct statement;
  if (!google::protobuf::util::JsonStringToMessage(evidence.statement(), &statement).ok() ||
      !statement.fields().contains("type")) {
    return Invalid("the evidence's statement is not a notary statement");
  }
  const std::string& type = statement.fields().at("type").string_value();
  const std::string want =
      evidence.kind() == "attestation" ? "semper-notarial-attestation" : StrCat("semper-", evidence.kind());
  if (evidence.kind().empty() || type != want) {
    return Invalid(
        StrCat("the evidence says it is of kind \"", evidence.kind(), "\" but its signed statement is a ", type));
  }
  SEMPER_RETURN_IF_ERROR(VerifyTreeHead(evidence.tree_head(), trust));
  const v1::InclusionProof& p = evidence.inclusion();
  std::vector<std::string> path(p.audit_path().begin(), p.audit_path().end());
  if (p.leaf_index() != evidence.index() || p.tree_size() != evidence.tree_head().tree_size() ||
      !VerifyMerkleInclusion(p.leaf_index(), p.tree_size(), MerkleLeafHash(evidence.statement()), path,
                             evidence.tree_head().root_hash())) {
    return Invalid(StrCat("entry ", evidence.index(), " is not in the signed tree of size ",
                          evidence.tree_head().tree_size(), " as the proof claims"));
  }
  return absl::OkStatus();
}

absl::Status VerifyConsistency(const v1::SignedTreeHead& old_head, const v1::ConsistencyProof& proof,
                               const TrustStore& trust) {
  SEMPER_RETURN_IF_ERROR(VerifyTreeHead(old_head, trust));
  SEMPER_RETURN_IF_ERROR(VerifyTreeHead(proof.new_tree_head(), trust));
  return CheckConsistencyProof(old_head, proof);
}

absl::Status CheckConsistencyProof(const v1::SignedTreeHead& old_head, const v1::ConsistencyProof& proof) {
  std::vector<std::string> path(proof.proof().begin(), proof.proof().end());
  if (proof.old_size() != old_head.tree_size() || proof.new_size() != proof.new_tree_head().tree_size() ||
      !VerifyMerkleConsistency(old_head.tree_size(), proof.new_size(), old_head.root_hash(),
                               proof.new_tree_head().root_hash(), path)) {
    return Invalid(StrCat("the log of size ", proof.new_size(), " does not extend the one of size ",
                          old_head.tree_size(), ": entries were changed or removed"));
  }
  return absl::OkStatus();
}

}  // namespace semper::notary
