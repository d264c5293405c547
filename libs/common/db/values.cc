// Parameter formatting.
#include "common/db/values.h"

#include <cmath>
#include <pqxx/binarystring>
#include <stdexcept>

namespace semper::db {

// To the microsecond, as PostgreSQL keeps it: a time compared in SQL and again in C++ is the same
// time in both.
std::string TimeText(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, absl::FromUnixMicros(absl::ToUnixMicros(t)), absl::UTCTimeZone());
}

std::string Bytes(const pqxx::field& field) { return pqxx::binarystring(field).str(); }

absl::Time FromEpoch(double seconds) { return absl::FromUnixMicros(static_cast<int64_t>(std::llround(seconds * 1e6))); }

std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char c : values[i]) {
      // PostgreSQL text cannot hold a NUL, and libpq would cut the whole array at it: callers check
      // what they take from requests (CheckText); this is the last line.
      if (c == '\0') throw std::invalid_argument("a NUL byte in a text array parameter");
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

}  // namespace semper::db
