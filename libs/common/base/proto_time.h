// google.protobuf.Timestamp <-> absl::Time, to the microsecond. Thread-safe (pure functions).
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace semper {

google::protobuf::Timestamp ToTimestamp(absl::Time t);
absl::Time FromTimestamp(const google::protobuf::Timestamp& t);

// INVALID_FIELD naming `field` unless `t` is a valid google.protobuf.Timestamp:
// 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, nanos 0 to 999,999,999.
absl::Status CheckTimestamp(const google::protobuf::Timestamp& t, std::string_view field);

// A signed request's `made_at` must be within 5 minutes of `now`, either way (a fresh request,
// not one replayed later): INVALID_FIELD naming `field` otherwise.
absl::Status RequireFresh(const google::protobuf::Timestamp& made_at, absl::Time now, std::string_view field);

}  // namespace semper
