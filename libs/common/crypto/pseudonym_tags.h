// The pseudonym tags of the keyCompromise cascade (see TagPseudonymRequest in arbiter.proto), in
// one place: semper-arbiter computes them, semper-ca recomputes them to find a base's pseudonyms,
// and both must agree byte for byte.
#pragma once

#include <string>
#include <string_view>

#include "common/base/strings.h"
#include "common/crypto/digest.h"

namespace semper {

// K_base: the cascade key of a base certificate, from the arbiter's secret and the base's key.
inline std::string PseudonymCascadeKey(std::string_view secret, std::string_view base_spki_der) {
  return HmacSha256(secret, StrCat("semper-pseudonym-cascade\n", Sha256(base_spki_der)));
}

// A pseudonym's tag under its base's cascade key, over the SHA-256 of its key.
inline std::string PseudonymTag(std::string_view cascade_key, std::string_view spki_sha256) {
  return HmacSha256(cascade_key, StrCat("semper-pseudonym-tag\n", spki_sha256));
}

// A role pseudonym's name tag: the same for one holder's pseudonyms of one name only.
inline std::string PseudonymNameTag(std::string_view cascade_key, std::string_view name) {
  return HmacSha256(cascade_key, StrCat("semper-pseudonym-name\n", name));
}

}  // namespace semper
