// google.protobuf.Timestamp <-> absl::Time, to the microsecond. Thread-safe (pure functions).
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace semper {

google::protobuf::Timestamp ToTimestamp(absl::Time t);
absl::Time FromTimestamp(const google::protobuf::Timestamp& t);

}  // namespace semper
