// SHA-2 digests. Thread-safe (pure functions).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace semper {

enum class HashAlgorithm { kSha256, kSha384, kSha512 };

// Digest length in bytes: 32, 48 or 64.
size_t DigestSize(HashAlgorithm algorithm);
std::string_view HashName(HashAlgorithm algorithm);  // "SHA256", as OpenSSL names it

std::string ComputeDigest(HashAlgorithm algorithm, std::string_view data);
inline std::string Sha256(std::string_view data) { return ComputeDigest(HashAlgorithm::kSha256, data); }

// HMAC-SHA256 (RFC 2104) of `data` under `key`: 32 bytes.
std::string HmacSha256(std::string_view key, std::string_view data);

}  // namespace semper
