// A daemon's signing key from its configuration: an encrypted PEM file, or a PKCS#11 token
// (through OpenSSL's pkcs11 engine; SoftHSM2 in tests). The same keys for every daemon:
//   <prefix>.key_file, <prefix>.key_passphrase_file   (PEM, passphrase from a file)
//   <prefix>.key_uri, <prefix>.pkcs11_module, <prefix>.pkcs11_pin_file   (token)
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/config.h"
#include "common/crypto/keys.h"

namespace semper {

void AddSigningKeyConfig(std::vector<ConfigKey>& keys, const std::string& prefix, const std::string& what);

// INVALID_FIELD naming the key when neither or both sources are configured or a file is wrong.
absl::StatusOr<PrivateKey> LoadSigningKey(const Config& config, const std::string& prefix);

}  // namespace semper
