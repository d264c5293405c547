// SecretData wiping and loading.
#include "common/base/secret.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include "common/base/files.h"
#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper {

SecretData::~SecretData() { Wipe(); }

SecretData::SecretData(SecretData&& other) noexcept : bytes_(std::move(other.bytes_)) { other.Wipe(); }

SecretData& SecretData::operator=(SecretData&& other) noexcept {
  if (this != &other) {
    Wipe();
    bytes_ = std::move(other.bytes_);
    other.Wipe();
  }
  return *this;
}

void SecretData::Wipe() {
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  bytes_.clear();
}

absl::StatusOr<SecretData> SecretData::FromFile(const std::filesystem::path& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND,
                     StrCat("secret file ", path.string(), " does not exist"));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                     StrCat("secret file ", path.string(), " is readable by other users; chmod 600 it"));
  }
  auto read = ReadFile(path);
  if (!read.ok()) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     StrCat("cannot read secret file ", path.string()));
  }
  std::string bytes = std::move(*read);
  if (!bytes.empty() && bytes.back() == '\n') bytes.pop_back();
  if (!bytes.empty() && bytes.back() == '\r') bytes.pop_back();
  SecretData secret(bytes);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return secret;
}

}  // namespace semper
