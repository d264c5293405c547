// libpqxx exception mapping.
#include "common/db/errors.h"

#include <pqxx/except>

#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper::db {

absl::Status StatusFromException(const std::exception& e, std::string_view what) {
  if (dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr) {
    return MakeError(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS, StrCat(what, ": already exists"));
  }
  if (dynamic_cast<const pqxx::foreign_key_violation*>(&e) != nullptr ||
      dynamic_cast<const pqxx::check_violation*>(&e) != nullptr ||
      dynamic_cast<const pqxx::not_null_violation*>(&e) != nullptr) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                     StrCat(what, ": violates a database constraint"));
  }
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) {
    return MakeError(absl::StatusCode::kAborted, v1::CONFLICT, StrCat(what, ": a concurrent change won; retry"));
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr ||
      dynamic_cast<const pqxx::statement_completion_unknown*>(&e) != nullptr) {
    return MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                     StrCat(what, ": the database connection was lost and the outcome is unknown"));
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                     StrCat(what, ": the database is unreachable"));
  }
  return MakeError(absl::StatusCode::kInternal, v1::INTERNAL_ERROR, StrCat(what, ": database error"));
}

bool IsRetryable(const std::exception& e) {
  return dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
         dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr;
}

}  // namespace semper::db
