// String building for semper code. Debian's Abseil is built with its own absl::string_view
// (not an alias of std::string_view), so StrCat does not take std::string_view; these
// helpers do, and AbslView() converts at the few absl call sites that need it.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace semper {

inline absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

namespace strings_internal {
inline void AppendPiece(std::string& out, std::string_view s) { out.append(s); }
inline void AppendPiece(std::string& out, const char* s) { out.append(s); }
inline void AppendPiece(std::string& out, const std::string& s) { out.append(s); }
inline void AppendPiece(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
inline void AppendPiece(std::string& out, char c) { out.push_back(c); }
template <typename T>
requires(std::is_arithmetic_v<T> && !std::is_same_v<T, char>) void AppendPiece(std::string& out, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    out.append(v ? "true" : "false");
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}
}  // namespace strings_internal

template <typename... Args>
void StrAppend(std::string* out, const Args&... args) {
  (strings_internal::AppendPiece(*out, args), ...);
}

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  StrAppend(&out, args...);
  return out;
}

}  // namespace semper
