// File helpers.
#include "common/base/files.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper {

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, StrCat("cannot read ", path.string()));
  std::ostringstream buf;
  buf << in.rdbuf();
  return std::move(buf).str();
}

absl::Status WriteFile(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out || ::chmod(path.c_str(), mode) != 0) {
    return MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                     StrCat("cannot write ", path.string()));
  }
  return absl::OkStatus();
}

}  // namespace semper
