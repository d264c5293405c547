// Offline checks of the notary's evidence, for its clients (semperctl, the arbiter): no
// database and no network, only the suite's roots. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/crypto/certificate.h"
#include "semper/v1/notary.pb.h"

namespace semper::notary {

// What a signer of contract `id` signs: "semper-contract:<id>:<hex SHA-256 of the contract
// bytes>". The id binds the signature to this one contract, the hash to its text.
std::string ContractSigningText(std::string_view id, std::string_view contract_sha256);

// The notary's signature over the tree head's statement (chain embedded in the signature), and
// that the statement says this size and root.
absl::Status VerifyTreeHead(const v1::SignedTreeHead& head, const TrustStore& trust);

// The notary's signature over the statement, the inclusion proof of the statement into the tree
// head, and the tree head.
absl::Status VerifyEvidence(const v1::Evidence& evidence, const TrustStore& trust);

// That `proof` shows `old_head`'s tree to be a prefix of the proof's new tree head (both checked).
absl::Status VerifyConsistency(const v1::SignedTreeHead& old_head, const v1::ConsistencyProof& proof,
                               const TrustStore& trust);

// The Merkle part of VerifyConsistency alone, for callers that checked both heads' signatures.
absl::Status CheckConsistencyProof(const v1::SignedTreeHead& old_head, const v1::ConsistencyProof& proof);

}  // namespace semper::notary
