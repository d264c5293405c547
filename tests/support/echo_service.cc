// Echo test service implementation.
#include "tests/support/echo_service.h"

#include <thread>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/server/grpc_status.h"
#include "common/server/interceptors.h"
#include "common/server/peer.h"

namespace semper::testing {

std::shared_ptr<const AccessPolicy> EchoAccessPolicy() {
  std::vector<AccessRule> rules = SuiteAccessMatrix();
  for (const char* m : {"WhoAmI", "Sleep", "Fail"}) rules.push_back({StrCat("/semper.testing.Echo/", m), {}, "test"});
  return std::make_shared<const AccessPolicy>(rules);
}

grpc::ServerUnaryReactor* EchoServiceImpl::WhoAmI(grpc::CallbackServerContext* context, const WhoAmIRequest*,
                                                  WhoAmIResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto peer = PeerOf(*context);
  if (!peer.ok()) {
    reactor->Finish(ToGrpcStatus(peer.status()));
    return reactor;
  }
  response->set_authenticated(peer->authenticated());
  response->set_subject(peer->subject());
  for (Role r : peer->roles) response->add_roles(std::string(RoleName(r)));
  response->set_request_id(RequestIdOf(*context));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* EchoServiceImpl::Sleep(grpc::CallbackServerContext* context, const SleepRequest* request,
                                                 SleepResponse* response) {
  auto* reactor = context->DefaultReactor();
  int ms = request->milliseconds();
  ++sleeping;
  // A detached thread keeps the callback thread free, as a real handler waiting on I/O would.
  std::thread([this, reactor, response, ms] {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    response->set_slept_milliseconds(ms);
    --sleeping;
    reactor->Finish(grpc::Status::OK);
  }).detach();
  return reactor;
}

grpc::ServerUnaryReactor* EchoServiceImpl::Fail(grpc::CallbackServerContext* context, const FailRequest* request,
                                                FailResponse*) {
  auto* reactor = context->DefaultReactor();
  auto code = static_cast<absl::StatusCode>(request->code());
  reactor->Finish(ToGrpcStatus(
      MakeError(code, code == absl::StatusCode::kInternal ? v1::INTERNAL_ERROR : v1::WRONG_STATE, request->message())));
  return reactor;
}

}  // namespace semper::testing
