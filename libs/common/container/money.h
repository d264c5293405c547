// Amounts as people read and type them: "129.90 EUR" <-> minor units. Thread-safe (pure).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "semper/v1/types.pb.h"

namespace semper {

// Three ASCII capital letters, as ISO 4217 codes are ("EUR"); nothing else reaches the database
// as a currency (a NUL would cut it, and fail every request committed with it).
bool IsCurrencyCode(std::string_view code);

// "129.90 EUR" (two decimals: the minor unit of the currencies the suite takes).
std::string FormatMoney(const v1::Money& m);
// "129.90" or "129" -> 12990; nullopt for anything else (negative, three decimals, text).
std::optional<int64_t> ParseMinorUnits(std::string_view amount);

}  // namespace semper
