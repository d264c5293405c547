// The one conversion between absl::Status and grpc::Status, used by every daemon and client.
// The reason travels as google.rpc.ErrorInfo inside google.rpc.Status in the standard
// "grpc-status-details-bin" trailer, so any gRPC client library can read it.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace semper {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Ends a unary callback RPC with `status`: `return FinishUnary(ctx, status);` in a handler.
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* ctx, const absl::Status& status);

}  // namespace semper
