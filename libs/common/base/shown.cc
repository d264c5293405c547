#include "common/base/shown.h"

#include <cstdint>

#include <fmt/format.h>

namespace semper {
namespace {

// Code points that reorder or hide text: C1 controls, the Arabic letter mark, zero-width and
// directional marks, bidirectional embeddings, overrides and isolates, invisible operators, the
// byte order mark and the interlinear annotation controls.
bool Invisible(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || (cp >= 0x200B && cp <= 0x200F) ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF ||
         (cp >= 0xFFF9 && cp <= 0xFFFB);
}

// The length of the valid UTF-8 sequence at `s[i]` (2 to 4) and its code point, or 0.
size_t Utf8At(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const uint8_t lead = b(0);
  size_t n = 0;
  uint32_t v = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
    v = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3;
    v = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    v = lead & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

}  // namespace

std::string Shown(std::string_view s, bool* hidden) {
  std::string out;
  out.reserve(s.size());
  bool escaped = false;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7F && c != '\\')) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if (c == '\\') {
      out.append("\\\\");
      ++i;
      continue;
    }
    if (c < 0x80) {  // C0 controls and DEL
      escaped = true;
      out.append(c == 0 ? "\\0" : c == '\r' ? "\\r" : c == 0x1B ? "\\e" : fmt::format("\\x{:02X}", c));
      ++i;
      continue;
    }
    uint32_t cp = 0;
    const size_t n = Utf8At(s, i, &cp);
    if (n == 0) {
      escaped = true;
      out.append(fmt::format("\\x{:02X}", c));
      ++i;
      continue;
    }
    if (Invisible(cp)) {
      escaped = true;
      out.append(fmt::format("<U+{:04X}>", cp));
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  if (hidden != nullptr) *hidden = escaped;
  return out;
}

}  // namespace semper
