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

std::string WriteFullWallet(const TempDir& dir, const std::string& name, const PrivateKey& key, const Certificate& cert,
                            const PrivateKey& auth_key, const Certificate& auth_cert, const std::string& chain_pem,
                            const std::string& passphrase) {
  std::string path = WriteWallet(dir, name, key, cert, chain_pem, passphrase);
  dir.Write(name + "/authentication.pem", auth_cert.Pem() + chain_pem);
  dir.Write(name + "/authentication.key", *auth_key.ToEncryptedPem(SecretData(passphrase)));
  return path;
}

}  // namespace semper::testing
