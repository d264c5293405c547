// Text someone else wrote, made safe to show on a terminal before a person signs it. A terminal
// does not show every byte as itself: a NUL ends a C string, a carriage return moves back over
// what was printed, escape sequences redraw the screen, and Unicode's bidirectional controls and
// zero-width characters reorder or hide text. Shown() writes each such byte or character as a
// visible escape, so that what is read is what is signed.
#pragma once

#include <string>
#include <string_view>

namespace semper {

// `s` with every byte a terminal would not show as itself escaped: control characters other
// than newline and tab as \0, \r, \e or \xNN (DEL too); bytes that are not valid UTF-8 as \xNN;
// C1 controls, bidirectional controls and invisible characters as <U+XXXX>; a backslash as \\ so
// that escapes cannot be faked. `*hidden` (if given) is set when anything but a backslash was
// escaped.
std::string Shown(std::string_view s, bool* hidden = nullptr);

// What Shown() adds below a text that had something to escape.
inline constexpr std::string_view kShownNote =
    "NOTE: the text holds characters a terminal would not show as they are; they are written above "
    "as escapes (\\r, \\0, \\xNN, <U+XXXX>). What you sign holds them as they are.";

}  // namespace semper
