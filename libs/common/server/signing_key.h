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

// Where one signing key is, for daemons whose settings are laid out otherwise (semper-ca: four
// keys in its directory under one passphrase, or in one token): a key in a PKCS#11 token when
// `uri` is set, else an encrypted PEM PKCS#8 file. Errors name the `*_setting` they are about.
struct SigningKeySource {
  std::string uri, pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so", pin_file;
  std::string file, passphrase_file;
  std::string uri_setting, pin_setting, file_setting, passphrase_setting;
};
absl::StatusOr<PrivateKey> LoadSigningKey(const SigningKeySource& source);

}  // namespace semper
