// The gRPC server interceptor every daemon installs: request ids, access log, metrics, and the
// rule that INTERNAL/UNKNOWN errors reach clients without their internal detail.
#pragma once

#include <grpcpp/support/server_interceptor.h>
#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <vector>

#include "common/server/metrics.h"

namespace semper {

// Metadata key of the request id. A client may send one (1..64 characters of [A-Za-z0-9._-]);
// otherwise the server makes one. Either way it is echoed in the response's initial metadata,
// and handlers find it in ServerContext::client_metadata().
inline constexpr char kRequestIdKey[] = "x-request-id";

// The request id of a call, as the interceptor established it.
std::string RequestIdOf(const grpc::ServerContextBase& context);

// `served_services`: the full names of the services this server serves ("semper.v1.Notary"),
// complete before the first call; a request to one of their methods that does not decode is
// answered INVALID_ARGUMENT / MALFORMED_INPUT instead of gRPC's bare UNIMPLEMENTED, which stays
// the answer to a method this server does not serve.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewObservingInterceptorFactory(
    std::shared_ptr<spdlog::logger> logger, std::shared_ptr<Metrics> metrics,
    std::shared_ptr<const std::vector<std::string>> served_services);

}  // namespace semper
