// absl::Status <-> grpc::Status with ErrorInfo details.
#include "common/server/grpc_status.h"

#include "common/base/status.h"
#include "common/base/strings.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace semper {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  google::rpc::Status rpc;
  rpc.set_code(static_cast<int>(status.code()));
  rpc.set_message(std::string(status.message()));
  rpc.add_details()->PackFrom(ErrorInfoOf(status));
  // A retry hint (rate limits) travels as a google.rpc.RetryInfo beside the ErrorInfo.
  if (auto retry = status.GetPayload("type.googleapis.com/google.rpc.RetryInfo"); retry.has_value()) {
    google::rpc::RetryInfo info;
    if (info.ParseFromString(std::string(*retry))) rpc.add_details()->PackFrom(info);
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      rpc.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), AbslView(status.error_message()));
  google::rpc::Status rpc;
  if (!status.error_details().empty() && rpc.ParseFromString(status.error_details())) {
    for (const auto& any : rpc.details()) {
      google::rpc::ErrorInfo info;
      google::rpc::RetryInfo retry;
      if (any.Is<google::rpc::ErrorInfo>() && any.UnpackTo(&info)) {
        out.SetPayload(AbslView(kErrorInfoTypeUrl), absl::Cord(info.SerializeAsString()));
      } else if (any.Is<google::rpc::RetryInfo>() && any.UnpackTo(&retry)) {
        out.SetPayload("type.googleapis.com/google.rpc.RetryInfo", absl::Cord(retry.SerializeAsString()));
      }
    }
  }
  return out;
}

grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace semper
