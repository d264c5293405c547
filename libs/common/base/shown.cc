#include "common/base/shown.h"

#include <fmt/format.h>

#include <cstdint>

namespace semper {
namespace {

// Code points a terminal draws with a visible width: the scripts and symbols of ordinary text.
// Everything else (format and control characters, private use, tags, variation selectors,
// fillers, unassigned blocks) is escaped: a list of what is allowed, not of what is known to hide.
bool Ordinary(uint32_t cp) {
  struct Range {
    uint32_t first, last;
  };
  static constexpr Range kOrdinary[] = {
      {0x00A0, 0x00AC},   {0x00AE, 0x034E},
      {0x0350, 0x036F},  // Latin-1 (not the soft hyphen), Latin, IPA, combining marks (not CGJ)
      {0x0370, 0x052F},  // Greek, Cyrillic
      {0x0531, 0x058A},  // Armenian
      {0x05B0, 0x05F4},  // Hebrew
      {0x0606, 0x061B},   {0x061D, 0x06DC},
      {0x06DE, 0x06FF},                      // Arabic (not its number signs, letter mark, end of ayah)
      {0x0900, 0x0DFF},                      // Indic scripts
      {0x0E01, 0x0E5B},                      // Thai
      {0x10A0, 0x10FF},                      // Georgian
      {0x1E00, 0x1FFE},                      // Latin extended additional, Greek extended
      {0x2010, 0x2027},   {0x2030, 0x205E},  // punctuation (not spaces, separators, bidi controls)
      {0x2070, 0x209C},   {0x20A0, 0x20C0},  // super- and subscripts, currency
      {0x2100, 0x23FF},   {0x2460, 0x27BF},
      {0x2900, 0x2BFF},  // letterlike, arrows, maths, technical, shapes, dingbats
      {0x3001, 0x303F},   {0x3041, 0x30FF},
      {0x3131, 0x3163},   {0x3165, 0x318E},  // CJK punctuation, kana, jamo (not the filler)
      {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},
      {0xAC00, 0xD7A3},                      // CJK ideographs, Hangul syllables
      {0xFF01, 0xFF60},   {0xFFE0, 0xFFE6},  // full-width forms
      {0x1F300, 0x1F64F}, {0x1F680, 0x1F6FF},
      {0x1F900, 0x1F9FF},  // pictographs, emoji
  };
  for (const Range& r : kOrdinary) {
    if (cp >= r.first && cp <= r.last) return true;
  }
  return false;
}

// The length of the UTF-8 sequence a lead byte starts (2 to 4), or 0.
size_t SequenceLength(uint8_t lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// The length of the valid UTF-8 sequence at `s[i]` (2 to 4) and its code point, or 0.
size_t Utf8At(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const size_t n = SequenceLength(b(0));
  if (n == 0 || i + n > s.size()) return 0;
  uint32_t v = b(0) & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
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

std::string Shown(std::string_view s, bool* hidden, ShownOptions options) {
  std::string out;
  out.reserve(s.size());
  bool escaped = false;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    if ((c == '\n' || c == '\t') && options.one_line) {
      out.append(c == '\n' ? "\\n" : "\\t");
      escaped = true;
      ++i;
      continue;
    }
    if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7F && c != '\\')) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if (c == '\\') {
      out.append(options.escape_backslash ? "\\\\" : "\\");
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
    if (Ordinary(cp)) {
      out.append(s.substr(i, n));
    } else {
      escaped = true;
      out.append(fmt::format("<U+{:04X}>", cp));
    }
    i += n;
  }
  if (hidden != nullptr) *hidden = escaped;
  return out;
}

std::string ShownStream::Feed(std::string_view piece, bool* hidden) {
  held_.append(piece);
  // Hold back the end if it is the start of a UTF-8 sequence that may still be completed.
  size_t keep = 0;
  for (size_t back = 1; back <= 3 && back <= held_.size(); ++back) {
    const auto b = static_cast<uint8_t>(held_[held_.size() - back]);
    if ((b & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    if (SequenceLength(b) > back) keep = back;
    break;
  }
  std::string out = Shown(std::string_view(held_).substr(0, held_.size() - keep), hidden, options_);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string ShownStream::Finish(bool* hidden) {
  std::string out = Shown(held_, hidden, options_);
  held_.clear();
  return out;
}

}  // namespace semper
