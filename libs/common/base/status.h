// The one error model of library and domain code: absl::Status carrying a stable reason
// (semper.v1.ErrorReason) as a google.rpc.ErrorInfo payload. Thread-safe (pure functions).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "google/rpc/error_details.pb.h"
#include "semper/v1/errors.pb.h"

namespace semper {

inline constexpr std::string_view kErrorDomain = "semper.v1";
inline constexpr std::string_view kErrorInfoTypeUrl = "type.googleapis.com/google.rpc.ErrorInfo";

using MetadataList = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// A status with a reason. `message` is for people; never put a secret in it.
absl::Status MakeError(absl::StatusCode code, v1::ErrorReason reason, std::string_view message,
                       MetadataList metadata = {});

// INVALID_ARGUMENT / INVALID_FIELD naming the offending field ("order.amount.currency").
absl::Status InvalidField(std::string_view field, std::string_view message);
// A caller's text kept in the database (an id, a reference): at most `max_bytes`, and no control
// characters (a NUL would cut it short on its way to PostgreSQL, and fail every request committed
// in the same group with it). INVALID_FIELD naming `field` otherwise; empty is allowed.
absl::Status CheckText(std::string_view field, std::string_view value, size_t max_bytes);

// INVALID_ARGUMENT / MALFORMED_INPUT: the bytes of `field` do not parse (DER, PEM, CMS, a
// serialized statement). metadata["field"] names it, as for INVALID_FIELD.
absl::Status MalformedField(std::string_view field, std::string_view message);

// `status` (code and reason kept) as the verdict on a request field: "field: <message>", and
// metadata["field"] set unless the status already names a field. For what a library said about
// a field's bytes (a certificate that does not parse: MALFORMED_INPUT; a weak key: WEAK_KEY).
absl::Status FieldError(std::string_view field, const absl::Status& status);

// The reason a status carries; for a status without one, a default derived from its code.
v1::ErrorReason ReasonOf(const absl::Status& status);

// "SIGNATURE_INVALID" for v1::SIGNATURE_INVALID.
std::string ReasonName(v1::ErrorReason reason);

// The full ErrorInfo (reason, domain, metadata) of a status, defaults filled in.
google::rpc::ErrorInfo ErrorInfoOf(const absl::Status& status);

// Adds context in front of the message, keeping code and payloads: "loading key: <message>".
absl::Status Annotate(const absl::Status& status, std::string_view context);

}  // namespace semper

// Evaluates an expression returning absl::Status; returns it from the caller when not OK.
#define SEMPER_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status semper_status_ = (expr);          \
    if (!semper_status_.ok()) return semper_status_; \
  } while (0)

#define SEMPER_CONCAT_INNER_(a, b) a##b
#define SEMPER_CONCAT_(a, b) SEMPER_CONCAT_INNER_(a, b)
// SEMPER_ASSIGN_OR_RETURN(auto x, FunctionReturningStatusOr());
#define SEMPER_ASSIGN_OR_RETURN(lhs, expr) \
  SEMPER_ASSIGN_OR_RETURN_IMPL_(SEMPER_CONCAT_(semper_statusor_, __LINE__), lhs, expr)
#define SEMPER_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();      \
  lhs = std::move(tmp).value()
