#include "common/base/shown.h"

#include <gtest/gtest.h>

namespace semper {
namespace {

TEST(ShownTest, PlainTextAndUtf8AreShownAsTheyAre) {
  bool hidden = true;
  EXPECT_EQ(Shown("Order 17: 3 x Stühle, 45,00 €\n\tdelivered", &hidden), "Order 17: 3 x Stühle, 45,00 €\n\tdelivered");
  EXPECT_FALSE(hidden);
  EXPECT_EQ(Shown("a\\0 b", &hidden), "a\\\\0 b");  // a backslash cannot fake an escape
  EXPECT_FALSE(hidden);
}

// What a counterparty hides in a text it has someone sign.
TEST(ShownTest, WhatATerminalWouldHideIsWrittenAsEscapes) {
  bool hidden = false;
  EXPECT_EQ(Shown(std::string_view("one chair\0 and 500 more", 23), &hidden), "one chair\\0 and 500 more");
  EXPECT_TRUE(hidden);
  EXPECT_EQ(Shown("owes 9000.00 EUR.\rowes   90.00 EUR."), "owes 9000.00 EUR.\\rowes   90.00 EUR.");
  EXPECT_EQ(Shown("\x1b[2Jclean"), "\\e[2Jclean");
  EXPECT_EQ(Shown("\x7f\x01"), "\\x7F\\x01");
  EXPECT_EQ(Shown("pay \u202E0009\u202C EUR"), "pay <U+202E>0009<U+202C> EUR");  // right-to-left override
  EXPECT_EQ(Shown("a\u200Bb\u2066c\u2069\uFEFF"), "a<U+200B>b<U+2066>c<U+2069><U+FEFF>");
  EXPECT_EQ(Shown("\xC2\x85"), "<U+0085>");  // a C1 control (next line)
  // Bytes that are not UTF-8: lone continuation, overlong, surrogate, truncated, past U+10FFFF.
  EXPECT_EQ(Shown("\x80"), "\\x80");
  EXPECT_EQ(Shown("\xC0\xAF"), "\\xC0\\xAF");
  EXPECT_EQ(Shown("\xE0\x80\xAF"), "\\xE0\\x80\\xAF");
  EXPECT_EQ(Shown("\xED\xA0\x80"), "\\xED\\xA0\\x80");
  EXPECT_EQ(Shown("\xE2\x82"), "\\xE2\\x82");
  EXPECT_EQ(Shown("\xF4\x90\x80\x80"), "\\xF4\\x90\\x80\\x80");
  hidden = false;
  Shown("\xF0\x9F\x99\x82", &hidden);  // an emoji is shown as itself
  EXPECT_FALSE(hidden);
}

}  // namespace
}  // namespace semper
