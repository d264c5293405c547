// Signing keys from files or tokens.
#include "common/server/signing_key.h"

#include "common/base/files.h"
#include "common/base/secret.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/pkcs11.h"

namespace semper {

void AddSigningKeyConfig(std::vector<ConfigKey>& keys, const std::string& prefix, const std::string& what) {
  using T = ConfigType;
  keys.push_back(
      {prefix + ".key_file", T::kString, std::nullopt, false, false, StrCat(what, " key, encrypted PEM PKCS#8")});
  keys.push_back({prefix + ".key_passphrase_file", T::kString, std::nullopt, false, false,
                  "file holding the key file's passphrase"});
  keys.push_back({prefix + ".key_uri", T::kString, std::nullopt, false, false,
                  StrCat("pkcs11: URI of the ", what, " key in a token (instead of key_file)")});
  keys.push_back({prefix + ".pkcs11_module", T::kString, ConfigValue(std::string("/usr/lib/softhsm/libsofthsm2.so")),
                  false, false, "PKCS#11 module of the token"});
  keys.push_back({prefix + ".pkcs11_pin_file", T::kString, std::nullopt, false, false, "file holding the token PIN"});
}

absl::StatusOr<PrivateKey> LoadSigningKey(const Config& config, const std::string& prefix) {
  const std::string file = prefix + ".key_file", uri = prefix + ".key_uri";
  if (config.Has(file) == config.Has(uri)) return InvalidField(file, StrCat("set exactly one of ", file, " and ", uri));
  if (config.Has(uri)) {
    const std::string pin_key = prefix + ".pkcs11_pin_file";
    if (!config.Has(pin_key)) return InvalidField(pin_key, StrCat("is required with ", uri));
    SEMPER_ASSIGN_OR_RETURN(SecretData pin, SecretData::FromFile(config.GetString(pin_key)));
    return LoadPkcs11PrivateKey(config.GetString(uri), pin, {config.GetString(prefix + ".pkcs11_module")});
  }
  const std::string pass_key = prefix + ".key_passphrase_file";
  if (!config.Has(pass_key)) return InvalidField(pass_key, StrCat("is required with ", file));
  SEMPER_ASSIGN_OR_RETURN(SecretData passphrase, SecretData::FromFile(config.GetString(pass_key)));
  SEMPER_ASSIGN_OR_RETURN(std::string pem, ReadFile(config.GetString(file)));
  auto key = PrivateKey::FromPem(pem, passphrase);
  if (!key.ok()) return Annotate(key.status(), file);
  return key;
}

}  // namespace semper
