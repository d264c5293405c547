// The one conversion between absl::Status and grpc::Status, used by every daemon and client.
// The reason travels as google.rpc.ErrorInfo inside google.rpc.Status in the standard
// "grpc-status-details-bin" trailer, so any gRPC client library can read it.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace semper {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Ends a unary callback RPC with `status`: `return FinishUnary(ctx, status);` in a handler.
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* ctx, const absl::Status& status);

// The same with a result: on success it becomes the response.
template <typename T>
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* ctx, absl::StatusOr<T> result, T* resp) {
  if (result.ok()) *resp = *std::move(result);
  return FinishUnary(ctx, result.status());
}

}  // namespace semper
