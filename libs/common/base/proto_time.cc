// Timestamp conversions through protobuf's TimeUtil.
#include "common/base/proto_time.h"

#include <google/protobuf/util/time_util.h>

#include "common/base/status.h"

namespace semper {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

absl::Status CheckTimestamp(const google::protobuf::Timestamp& t, std::string_view field) {
  constexpr int64_t kMin = -62135596800, kMax = 253402300799;  // 0001-01-01, 9999-12-31T23:59:59
  if (t.seconds() < kMin || t.seconds() > kMax || t.nanos() < 0 || t.nanos() > 999999999) {
    return InvalidField(field, "is not a valid time (years 1 to 9999, nanos 0 to 999,999,999)");
  }
  return absl::OkStatus();
}

absl::Status RequireFresh(const google::protobuf::Timestamp& made_at, absl::Time now, std::string_view field) {
  if (absl::AbsDuration(FromTimestamp(made_at) - now) > absl::Minutes(5)) {
    return InvalidField(field, "must be within 5 minutes of now (a fresh request)");
  }
  return absl::OkStatus();
}

}  // namespace semper
