// The SEMPER container (semper.v1.ContainerContent / SealedContainer): build, seal (sign and/or
// encrypt) and open (decrypt and verify, reporting which security attributes hold).
//
// Signatures cover the serialized ContainerContent bytes, which travel as bytes; Open() parses
// those bytes and never re-encodes them before verification. All functions are thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"
#include "common/crypto/cms.h"
#include "common/crypto/keys.h"
#include "semper/v1/container.pb.h"

namespace semper {

// A key that signs, with its certificate and the chain up to (not necessarily including) a root.
struct SignerIdentity {
  PrivateKey key;
  Certificate certificate;
  std::vector<Certificate> chain;
};

// Content with a fresh random id and `now` as creation time; the caller fills in the rest.
v1::ContainerContent NewContainerContent(absl::Time now);

// Checks the content: element ids unique and set, each element and the template well formed
// (amounts positive, currencies and countries well formed, VAT references valid, references to
// elements resolvable). INVALID_FIELD names the field.
absl::Status ValidateContainerContent(const v1::ContainerContent& content);

// Deterministic protobuf serialization (the bytes that get signed).
std::string SerializeDeterministic(const google::protobuf::Message& message);

// Asks a TSA (semper-tsa) for a time-stamp over a SHA-256 digest; returns its DER
// TimeStampResp (or the token).
using TimeStampFn = std::function<absl::StatusOr<std::string>(std::string_view sha256)>;

struct SealOptions {
  // Origin signers. Needed when integrity or non-repudiation of origin is requested; for the
  // latter each signer's certificate must have the nonRepudiation key usage.
  std::vector<SignerIdentity> signers;
  // Recipients to encrypt to; needed when confidentiality is requested.
  std::vector<Certificate> recipients;
  // Needed when time_stamped is requested (CAdES-T): asks a TSA (semper-tsa) for a time-stamp
  // over a SHA-256 digest and returns its DER TimeStampResp or token. Each origin signature gets
  // one over its signature value, as an unsigned attribute (the signature itself is unchanged).
  TimeStampFn time_stamp;
};

// Validates, serializes, signs and (when requested) encrypts. The requested attributes are read
// from content.requested(); every one of them must be achievable with `options`.
absl::StatusOr<v1::SealedContainer> Seal(const v1::ContainerContent& content, const SealOptions& options);

struct OpenOptions {
  // Trust anchors for every signature. Required.
  const TrustStore* trust = nullptr;
  // The time at which signer certificates are validated (usually now; for evidence, the time a
  // time-stamp proves).
  absl::Time at = absl::Now();
  // Per origin signature (by index), the time at which its signers are validated instead of
  // `at`: each signer at the time a time-stamp over its own signature proves. Longer than the
  // container's signatures: refused.
  std::vector<absl::Time> signature_at;
  // Needed when the container is encrypted.
  const PrivateKey* decryption_key = nullptr;
  const Certificate* decryption_certificate = nullptr;
  // Attributes the receiver insists on, beyond those the sender requested.
  v1::SecurityAttributes required;
  // Containers larger than this are refused before parsing.
  size_t max_bytes = 32 << 20;
  // Roots a signature time-stamp's TSA must chain to; empty: trust's roots. A time-stamp that
  // does not verify is an error (never just a missing attribute).
  std::vector<Certificate> time_stamp_roots;
};

struct CheckedDocument {
  std::string element_id;
  std::vector<CmsSigner> signers;
};

struct OpenedContainer {
  v1::ContainerContent content;
  // The exact bytes the origin signatures cover.
  std::string content_bytes;
  std::vector<CmsSigner> origin_signers;
  // For each of origin_signers, the index of the signature it made.
  std::vector<int> origin_signer_signature;
  // Every signed_document element, with its verified signers.
  std::vector<CheckedDocument> documents;
  // The attributes that hold for this container. non_repudiation_of_receipt holds only once a
  // receipt has been checked (CheckReceipt); time_stamped when every origin signer's signature
  // carries a verified signature time-stamp.
  v1::SecurityAttributes holds;
  // For each of origin_signers, the time its signature time-stamp proves (none: not stamped).
  std::vector<std::optional<absl::Time>> origin_signer_stamped_at;
  // The sender asked the recipient for a signed receipt.
  bool receipt_requested = false;
};

// Decrypts (if enveloped) and verifies. Any signature present that does not verify, any signer
// not trusted at `options.at`, or any requested/required attribute that does not hold is an
// error: tampering is never reported as a mere attribute.
absl::StatusOr<OpenedContainer> Open(const v1::SealedContainer& sealed, const OpenOptions& options);

// Non-repudiation of receipt: the recipient signs a Receipt container naming the digest of the
// exact content it received. Optionally encrypted back to the sender.
absl::StatusOr<v1::SealedContainer> MakeReceipt(
    const OpenedContainer& received, const SignerIdentity& recipient, std::string_view statement, absl::Time now,
    const std::vector<Certificate>& encrypt_to = {},
    v1::ReceiptAcknowledges acknowledges = v1::RECEIPT_ACKNOWLEDGES_CONTAINER);

// Adds `signer`'s origin signature over the same content bytes (a seller confirming an order the
// buyer signed): the content is not re-encoded, so every earlier signature still holds. When the
// content requests time_stamped, the new signature gets its time-stamp from `time_stamp`
// (required then).
absl::StatusOr<v1::SignedContainer> CoSign(const v1::SignedContainer& signed_container, const SignerIdentity& signer,
                                           const TimeStampFn& time_stamp = nullptr);

// Checks that `receipt` (already opened) is a receipt for `original`: the right container id and
// content digest, signed for non-repudiation by one of the original's named recipients (when the
// original names recipients by certificate).
absl::Status CheckReceipt(const OpenedContainer& original, const OpenedContainer& receipt);

}  // namespace semper
