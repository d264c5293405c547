// Stable reasons on absl::Status, stored as a serialized google.rpc.ErrorInfo payload.
#include "common/base/status.h"

#include "absl/strings/cord.h"
#include "common/base/strings.h"

namespace semper {
namespace {

v1::ErrorReason DefaultReason(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return v1::ERROR_REASON_UNSPECIFIED;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return v1::INVALID_FIELD;
    case absl::StatusCode::kNotFound:
      return v1::NOT_FOUND;
    case absl::StatusCode::kAlreadyExists:
      return v1::ALREADY_EXISTS;
    case absl::StatusCode::kPermissionDenied:
      return v1::PERMISSION_DENIED;
    case absl::StatusCode::kUnauthenticated:
      return v1::UNAUTHENTICATED;
    case absl::StatusCode::kFailedPrecondition:
      return v1::WRONG_STATE;
    case absl::StatusCode::kAborted:
      return v1::CONFLICT;
    case absl::StatusCode::kResourceExhausted:
      return v1::LIMIT_EXCEEDED;
    case absl::StatusCode::kUnavailable:
      return v1::DEPENDENCY_UNAVAILABLE;
    case absl::StatusCode::kDeadlineExceeded:
      return v1::EXPIRED;
    default:
      return v1::INTERNAL_ERROR;
  }
}

}  // namespace

absl::Status MakeError(absl::StatusCode code, v1::ErrorReason reason, std::string_view message, MetadataList metadata) {
  absl::Status status(code, AbslView(message));
  if (status.ok()) return status;
  google::rpc::ErrorInfo info;
  info.set_reason(ReasonName(reason));
  info.set_domain(std::string(kErrorDomain));
  for (const auto& [key, value] : metadata) {
    (*info.mutable_metadata())[std::string(key)] = std::string(value);
  }
  status.SetPayload(AbslView(kErrorInfoTypeUrl), absl::Cord(info.SerializeAsString()));
  return status;
}

absl::Status CheckText(std::string_view field, std::string_view value, size_t max_bytes) {
  if (value.size() > max_bytes) return InvalidField(field, StrCat("must be at most ", max_bytes, " bytes"));
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) return InvalidField(field, "must not contain control characters");
  }
  return absl::OkStatus();
}

absl::Status InvalidField(std::string_view field, std::string_view message) {
  return MakeError(absl::StatusCode::kInvalidArgument, v1::INVALID_FIELD, StrCat(field, ": ", message),
                   {{"field", field}});
}

absl::Status MalformedField(std::string_view field, std::string_view message) {
  return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, StrCat(field, ": ", message),
                   {{"field", field}});
}

absl::Status FieldError(std::string_view field, const absl::Status& status) {
  if (status.ok()) return status;
  absl::Status out = Annotate(status, field);
  google::rpc::ErrorInfo info = ErrorInfoOf(status);
  info.mutable_metadata()->try_emplace("field", std::string(field));
  out.SetPayload(AbslView(kErrorInfoTypeUrl), absl::Cord(info.SerializeAsString()));
  return out;
}

std::string ReasonName(v1::ErrorReason reason) { return v1::ErrorReason_Name(reason); }

google::rpc::ErrorInfo ErrorInfoOf(const absl::Status& status) {
  google::rpc::ErrorInfo info;
  auto payload = status.GetPayload(AbslView(kErrorInfoTypeUrl));
  if (payload.has_value() && info.ParseFromString(std::string(*payload))) return info;
  info.Clear();
  info.set_reason(ReasonName(DefaultReason(status.code())));
  info.set_domain(std::string(kErrorDomain));
  return info;
}

v1::ErrorReason ReasonOf(const absl::Status& status) {
  v1::ErrorReason reason;
  if (v1::ErrorReason_Parse(ErrorInfoOf(status).reason(), &reason)) return reason;
  return DefaultReason(status.code());
}

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), StrCat(context, ": ", status.message()));
  status.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace semper
