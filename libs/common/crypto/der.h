// A small DER writer for structures assembled from precomputed parts on hot paths (the TSA's
// tokens), where building OpenSSL objects and encoding them costs more than the signature.
// Output is checked by OpenSSL's parsers in the tests. Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace semper::der {

// Tags used here.
inline constexpr unsigned char kInteger = 0x02, kBitString = 0x03, kOctetString = 0x04, kNull = 0x05, kOid = 0x06,
                               kUtf8String = 0x0c, kGeneralizedTime = 0x18, kSequence = 0x30, kSet = 0x31;
// Context-specific tags: [n] constructed (EXPLICIT or IMPLICIT of a constructed type), [n] primitive.
inline constexpr unsigned char Constructed(int n) { return static_cast<unsigned char>(0xa0 | n); }
inline constexpr unsigned char Primitive(int n) { return static_cast<unsigned char>(0x80 | n); }

std::string Tlv(unsigned char tag, std::string_view content);
std::string Integer(uint64_t value);
// An OBJECT IDENTIFIER from dotted text; empty if the text is not an OID.
std::string Oid(std::string_view dotted);
// GeneralizedTime "YYYYMMDDHHMMSS[.f*]Z" with `digits` of fraction, trailing zeros dropped (X.690).
std::string GeneralizedTime(absl::Time t, int digits);
// The contents of one TLV (for IMPLICIT re-tagging); empty if it is not one.
std::string_view Contents(std::string_view tlv);
// The first TLV of `*in` (removed from it); empty if `*in` does not start with a whole one.
std::string_view Next(std::string_view* in);
// SET OF: the encodings sorted as X.690 11.6 asks.
std::string SetOf(std::vector<std::string> elements);

}  // namespace semper::der
