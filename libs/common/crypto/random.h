// Cryptographically secure random bytes from OpenSSL's DRBG. Thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace semper {

// Returns `n` random bytes. Aborts the process if the DRBG fails: no authority may continue
// with a broken random source.
std::string RandomBytes(size_t n);

// 128 random bits as 32 lower-case hex characters: identifiers, request ids.
std::string RandomId();

// Lower-case hex of arbitrary bytes.
std::string HexEncode(std::string_view bytes);

}  // namespace semper
