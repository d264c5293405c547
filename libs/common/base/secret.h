// SecretData: bytes that must not leak (passphrases, raw key material). Wiped on destruction,
// not printable, and reachable only through the deliberately named Reveal().
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace semper {

class SecretData {
 public:
  SecretData() = default;
  explicit SecretData(std::string_view bytes) : bytes_(bytes) {}
  ~SecretData();
  SecretData(SecretData&& other) noexcept;
  SecretData& operator=(SecretData&& other) noexcept;
  SecretData(const SecretData&) = delete;
  SecretData& operator=(const SecretData&) = delete;

  // Reads a secret from a file (one trailing newline is dropped). Refuses a file that other
  // users can read, because a secret there is not secret.
  static absl::StatusOr<SecretData> FromFile(const std::filesystem::path& path);

  std::string_view Reveal() const { return bytes_; }
  bool empty() const { return bytes_.empty(); }
  size_t size() const { return bytes_.size(); }

 private:
  void Wipe();
  std::string bytes_;
};

}  // namespace semper
