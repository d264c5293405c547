// Values as PostgreSQL parameters (text form). Parameters are always bound, never spliced into
// SQL; these only format them. Thread-safe (pure functions).
#pragma once

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace semper::db {

// A timestamptz parameter: RFC 3339 in UTC with the full fraction ("2026-11-24T00:38:24.123456Z").
std::string TimeText(absl::Time t);

// A bytea column as its bytes.
std::string Bytes(const pqxx::field& field);
// A time read as `extract(epoch from ...)::float8`, to the microsecond.
absl::Time FromEpoch(double seconds);

// A text[] parameter: every element double-quoted, with backslashes and quotes escaped, so any
// string (commas, braces, quotes, NULL) arrives as itself. For multi-row inserts with unnest().
std::string TextArray(const std::vector<std::string>& values);

}  // namespace semper::db
