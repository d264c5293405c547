// PKCS#11 keys through the OpenSSL engine API (deprecated in OpenSSL 3 but the interface that
// Debian 12's libengine-pkcs11-openssl provides).
#include "common/crypto/pkcs11.h"

#include <openssl/engine.h>

#include <map>
#include <mutex>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/ossl.h"

namespace semper {
namespace {

// One engine per module for the process; the engine serialises access to the token itself.
std::mutex engine_mu;

absl::StatusOr<ENGINE*> Engine(const std::string& module) {
  static std::map<std::string, ENGINE*>* engines = new std::map<std::string, ENGINE*>();
  std::lock_guard<std::mutex> lock(engine_mu);
  auto it = engines->find(module);
  if (it != engines->end()) return it->second;
  ENGINE_load_builtin_engines();
  ENGINE* e = ENGINE_by_id("pkcs11");
  if (e == nullptr) {
    return ossl::Error(absl::StatusCode::kFailedPrecondition, v1::DEPENDENCY_UNAVAILABLE,
                       "OpenSSL's pkcs11 engine is not installed (Debian: libengine-pkcs11-openssl)");
  }
  if (ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module.c_str(), 0) != 1 || ENGINE_init(e) != 1) {
    ENGINE_free(e);
    return ossl::Error(absl::StatusCode::kFailedPrecondition, v1::DEPENDENCY_UNAVAILABLE,
                       StrCat("cannot load the PKCS#11 module ", module));
  }
  (*engines)[module] = e;
  return e;
}

}  // namespace

absl::StatusOr<PrivateKey> LoadPkcs11PrivateKey(const std::string& uri, const SecretData& pin,
                                                const Pkcs11Options& options) {
  if (uri.rfind("pkcs11:", 0) != 0) return InvalidField("key_uri", "must be a pkcs11: URI (RFC 7512)");
  if (uri.find("pin-value") != std::string::npos) {
    return InvalidField("key_uri", "must not carry the PIN; give it in the passphrase file");
  }
  SEMPER_ASSIGN_OR_RETURN(ENGINE * e, Engine(options.module));
  EVP_PKEY* key = nullptr;
  {
    std::lock_guard<std::mutex> lock(engine_mu);
    std::string pin_text(pin.Reveal());
    ENGINE_ctrl_cmd_string(e, "PIN", pin_text.c_str(), 0);
    OPENSSL_cleanse(pin_text.data(), pin_text.size());
    key = ENGINE_load_private_key(e, uri.c_str(), nullptr, nullptr);
  }
  if (key == nullptr) {
    ossl::DrainErrors();
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_KEY,
                     StrCat("cannot use the PKCS#11 key ", uri, ": wrong PIN, or no such key in the token"));
  }
  return PrivateKey::FromEvp(key);
}

}  // namespace semper
