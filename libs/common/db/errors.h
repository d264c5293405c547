// Maps libpqxx exceptions to statuses, in one place, so that stores never leak SQL errors
// (which can quote data) to clients. Thread-safe.
#pragma once

#include <exception>
#include <string_view>

#include "absl/status/status.h"

namespace semper::db {

// unique violation -> ALREADY_EXISTS; foreign key / check / not-null violation ->
// FAILED_PRECONDITION; serialization failure or deadlock -> ABORTED (CONFLICT); lost connection ->
// UNAVAILABLE; commit outcome unknown -> UNAVAILABLE (says so); anything else -> INTERNAL.
// `what` says what was being done ("inserting certificate"); the database's own message is kept
// out of the status and should be logged by the caller if wanted.
absl::Status StatusFromException(const std::exception& e, std::string_view what);

// True for errors after which the same transaction may simply be run again.
bool IsRetryable(const std::exception& e);

}  // namespace semper::db
