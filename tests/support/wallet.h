// A wallet as `semperctl enroll` writes it (signature.pem with the chain, signature.key
// encrypted), for tests that drive semperctl with keys they made themselves.
#pragma once

#include <string>

#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"
#include "tests/support/subprocess.h"

namespace semper::testing {

// Writes <dir>/<name>/signature.{pem,key} (key encrypted with `passphrase`) and returns the
// wallet's path.
std::string WriteWallet(const TempDir& dir, const std::string& name, const PrivateKey& key, const Certificate& cert,
                        const std::string& chain_pem, const std::string& passphrase);
// The same with the authentication key and certificate (for calls made as oneself over TLS).
std::string WriteFullWallet(const TempDir& dir, const std::string& name, const PrivateKey& key, const Certificate& cert,
                            const PrivateKey& auth_key, const Certificate& auth_cert, const std::string& chain_pem,
                            const std::string& passphrase);

}  // namespace semper::testing
