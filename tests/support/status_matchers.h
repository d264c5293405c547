// gMock matchers for absl::Status / StatusOr: IsOk(), StatusIs(code), StatusIs(code, reason),
// StatusWithMessage(code, matcher).
#pragma once

#include <gmock/gmock.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/base/status.h"

namespace semper::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status: " << s.ToString();
  return s.ok();
}

MATCHER_P(StatusIs, code, "has status code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status: " << s.ToString();
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, reason,
           "has status code " + absl::StatusCodeToString(code) + " and reason " + ::semper::ReasonName(reason)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status: " << s.ToString() << " reason " << ::semper::ReasonName(::semper::ReasonOf(s));
  return s.code() == code && ::semper::ReasonOf(s) == reason;
}

// The code, and the human message matching `message` (e.g. HasSubstr("claim.kind")).
MATCHER_P2(StatusWithMessage, code, message, "has status code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status: " << s.ToString();
  return s.code() == code && ::testing::Matches(message)(std::string(s.message()));
}

}  // namespace semper::testing
