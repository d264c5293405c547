#include "common/container/money.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/base/strings.h"

namespace semper {

bool IsCurrencyCode(std::string_view code) {
  return code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

std::string FormatMoney(const v1::Money& m) {
  const int64_t abs = m.minor_units() < 0 ? -m.minor_units() : m.minor_units();
  char cents[8];
  std::snprintf(cents, sizeof cents, "%02d", static_cast<int>(abs % 100));
  return StrCat(m.minor_units() < 0 ? "-" : "", abs / 100, ".", cents, " ", m.currency());
}

std::optional<int64_t> ParseMinorUnits(std::string_view amount) {
  std::vector<std::string> parts = absl::StrSplit(AbslView(amount), '.');
  int64_t whole = 0, cents = 0;
  if (parts.size() > 2 || parts[0].empty() || !absl::SimpleAtoi(parts[0], &whole) || whole < 0 ||
      (parts.size() == 2 && (parts[1].size() != 2 || !absl::SimpleAtoi(parts[1], &cents) || cents < 0))) {
    return std::nullopt;
  }
  return whole * 100 + cents;
}

}  // namespace semper
