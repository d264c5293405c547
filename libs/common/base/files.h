// Whole-file reads and writes with statuses that name the file. Thread-safe (no shared state).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace semper {

// NOT_FOUND if the file cannot be opened.
absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path);

// Creates or truncates `path` and sets its mode; PERMISSION_DENIED if it cannot be written.
absl::Status WriteFile(const std::filesystem::path& path, std::string_view content, mode_t mode);

}  // namespace semper
