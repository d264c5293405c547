// Private keys held in a PKCS#11 token (an HSM, or SoftHSM2 in tests), through OpenSSL's pkcs11
// engine (Debian's libengine-pkcs11-openssl). The key never leaves the token; the returned
// PrivateKey signs through it. Thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/base/secret.h"
#include "common/crypto/keys.h"

namespace semper {

struct Pkcs11Options {
  // The token's PKCS#11 module.
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
};

// `uri` is an RFC 7512 PKCS#11 URI naming the private key, e.g.
// "pkcs11:token=semper;object=ca;type=private". The PIN comes separately, never in the URI. The
// engine stays logged in to the token after the first good PIN, for the life of the process.
absl::StatusOr<PrivateKey> LoadPkcs11PrivateKey(const std::string& uri, const SecretData& pin,
                                                const Pkcs11Options& options = {});

}  // namespace semper
