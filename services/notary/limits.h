// What the notary takes in must fit what it sends back out (issue 19, finding 6): a mail's
// message travels again in AcceptMail's answer with its signatures and evidence, a contract's text
// in GetContractText, its signatures (twice: as fields and inside the sealed statement) in
// GetContract. Each signature and certificate a client sends is bounded, and the largest
// document, message or contract leaves a reserve below the gRPC message limit for all the rest.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper::notary {

// A detached CMS signature with its signer's certificate and chain (a few KiB in practice).
inline constexpr size_t kMaxSignatureBytes = 64 << 10;
// A DER certificate.
inline constexpr size_t kMaxCertificateBytes = 16 << 10;
// Below grpc.max_message_bytes, for what an answer carries beside the item: 32 signatures of a
// contract twice (4.3 MiB at most with base64), proofs, statements.
inline constexpr int64_t kReplyReserveBytes = 6 << 20;
// The notary refuses to start with a smaller gRPC message limit.
inline constexpr int64_t kMinGrpcMessageBytes = 8 << 20;

// The largest document, message or contract: 16 MiB, or less when the gRPC limit is lower.
inline size_t MaxItemBytes(int64_t grpc_max_message_bytes) {
  return static_cast<size_t>(std::min<int64_t>(int64_t{16} << 20, grpc_max_message_bytes - kReplyReserveBytes));
}

inline absl::Status CheckSize(std::string_view field, std::string_view value, size_t max) {
  if (value.size() <= max) return absl::OkStatus();
  return InvalidField(field, StrCat("must be at most ", max, " bytes (it is ", value.size(), ")"));
}

}  // namespace semper::notary
