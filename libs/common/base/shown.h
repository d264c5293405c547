// Text someone else wrote, made safe to show on a terminal before a person signs it. A terminal
// does not show every byte as itself: a NUL ends a C string, a carriage return moves back over
// what was printed, escape sequences redraw the screen or hide what follows, and Unicode has
// characters that reorder text (bidirectional controls) or take no room at all (format, tag and
// filler characters). Shown() writes each such byte or character as a visible escape, so that
// what is read is what is signed.
#pragma once

#include <string>
#include <string_view>

namespace semper {

struct ShownOptions {
  // A backslash as \\, so that an escape cannot be faked (off for a whole output stream, whose
  // own messages write escapes).
  bool escape_backslash = true;
  // A newline and a tab as \n and \t: a one-line field cannot add lines of its own.
  bool one_line = false;
};

// `s` with every byte a terminal would not show as itself escaped: control characters other
// than newline and tab as \0, \r, \e or \xNN (DEL too); bytes that are not UTF-8 as \xNN; every
// code point outside the scripts and symbols a terminal draws with a visible width (so every
// format, control, private-use, tag, variation-selector and filler character, and any code point
// a later Unicode adds) as <U+XXXX>. `*hidden` (if given) is set when anything but a backslash was
// escaped.
std::string Shown(std::string_view s, bool* hidden = nullptr, ShownOptions options = {});

// Shown() for output written in pieces (a stream): a UTF-8 sequence split between two pieces is
// held back until it is complete.
class ShownStream {
 public:
  explicit ShownStream(ShownOptions options) : options_(options) {}
  // What to write for `piece`; sets `*hidden` when something was escaped.
  std::string Feed(std::string_view piece, bool* hidden);
  // What is held back, escaped (at the end of the stream).
  std::string Finish(bool* hidden);

 private:
  ShownOptions options_;
  std::string held_;
};

// What is printed below a text that had something to escape.
inline constexpr std::string_view kShownNote =
    "NOTE: the text holds characters a terminal would not show as they are; they are written above "
    "as escapes (\\r, \\0, \\xNN, <U+XXXX>). What you sign holds them as they are.";

}  // namespace semper
