// The Echo test service: who is calling, a slow call, and a call that fails as asked.
#pragma once

#include <atomic>
#include <memory>

#include "common/server/access.h"
#include "semper/testing/echo.grpc.pb.h"

namespace semper::testing {

class EchoServiceImpl final : public semper::testing::Echo::CallbackService {
 public:
  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* context, const WhoAmIRequest* request,
                                   WhoAmIResponse* response) override;
  grpc::ServerUnaryReactor* Sleep(grpc::CallbackServerContext* context, const SleepRequest* request,
                                  SleepResponse* response) override;
  grpc::ServerUnaryReactor* Fail(grpc::CallbackServerContext* context, const FailRequest* request,
                                 FailResponse* response) override;
  std::atomic<int> sleeping{0};
};

// The suite's role matrix plus the Echo methods, open to anyone (the handlers check roles).
std::shared_ptr<const AccessPolicy> EchoAccessPolicy();

}  // namespace semper::testing
