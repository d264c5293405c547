#include "tests/support/wallet.h"

#include <filesystem>

namespace semper::testing {

std::string WriteWallet(const TempDir& dir, const std::string& name, const PrivateKey& key, const Certificate& cert,
                        const std::string& chain_pem, const std::string& passphrase) {
  std::filesystem::create_directories(dir.path() + "/" + name);
  dir.Write(name + "/signature.pem", cert.Pem() + chain_pem);
  dir.Write(name + "/signature.key", *key.ToEncryptedPem(SecretData(passphrase)));
  return dir.path() + "/" + name;
}

}  // namespace semper::testing
