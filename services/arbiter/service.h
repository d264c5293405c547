// semper.v1.Arbiter over gRPC. Thread-safe.
#pragma once

#include "semper/v1/arbiter.grpc.pb.h"
#include "services/arbiter/arbiter.h"

namespace semper::arbiter {

class ArbiterServiceImpl final : public v1::Arbiter::CallbackService {
 public:
  ArbiterServiceImpl(ExchangeArbiter* exchanges, std::vector<Certificate> chain)
      : exchanges_(exchanges), chain_(std::move(chain)) {}
  grpc::ServerUnaryReactor* Abort(grpc::CallbackServerContext* ctx, const v1::AbortRequest* req,
                                  v1::ArbiterDecision* resp) override;
  grpc::ServerUnaryReactor* Resolve(grpc::CallbackServerContext* ctx, const v1::ResolveRequest* req,
                                    v1::ArbiterDecision* resp) override;
  grpc::ServerUnaryReactor* GetArbiterCertificate(grpc::CallbackServerContext* ctx,
                                                  const v1::GetArbiterCertificateRequest* req,
                                                  v1::ArbiterCertificate* resp) override;

 private:
  ExchangeArbiter* exchanges_;
  std::vector<Certificate> chain_;
};

}  // namespace semper::arbiter
