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
  SigningKeySource source;
  source.uri_setting = uri;
  source.pin_setting = prefix + ".pkcs11_pin_file";
  source.file_setting = file;
  source.passphrase_setting = prefix + ".key_passphrase_file";
  if (config.Has(uri)) {
    source.uri = config.GetString(uri);
    source.pkcs11_module = config.GetString(prefix + ".pkcs11_module");
    if (config.Has(source.pin_setting)) source.pin_file = config.GetString(source.pin_setting);
  } else {
    source.file = config.GetString(file);
    if (config.Has(source.passphrase_setting)) source.passphrase_file = config.GetString(source.passphrase_setting);
  }
  return LoadSigningKey(source);
}

absl::StatusOr<PrivateKey> LoadSigningKey(const SigningKeySource& source) {
  if (!source.uri.empty()) {
    if (source.pin_file.empty()) {
      return InvalidField(source.pin_setting, StrCat("is required with ", source.uri_setting));
    }
    auto pin = SecretData::FromFile(source.pin_file);
    if (!pin.ok()) return Annotate(pin.status(), source.pin_setting);
    auto key = LoadPkcs11PrivateKey(source.uri, *pin, {source.pkcs11_module});
    if (!key.ok()) return Annotate(key.status(), source.uri_setting);
    return key;
  }
  if (source.passphrase_file.empty()) {
    return InvalidField(source.passphrase_setting, StrCat("is required with ", source.file_setting));
  }
  auto passphrase = SecretData::FromFile(source.passphrase_file);
  if (!passphrase.ok()) return Annotate(passphrase.status(), source.passphrase_setting);
  auto pem = ReadFile(source.file);
  if (!pem.ok()) return Annotate(pem.status(), source.file_setting);
  auto key = PrivateKey::FromPem(*pem, *passphrase);
  if (!key.ok()) return Annotate(key.status(), source.file_setting);
  return key;
}

}  // namespace semper
