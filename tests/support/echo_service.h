// The Echo test service: who is calling, a slow call, and a call that fails as asked.
#pragma once

#include <atomic>

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

}  // namespace semper::testing
