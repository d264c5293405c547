// The one conversion between absl::Status and grpc::Status, used by every daemon and client.
// The reason travels as google.rpc.ErrorInfo inside google.rpc.Status in the standard
// "grpc-status-details-bin" trailer, so any gRPC client library can read it.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace semper {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace semper
