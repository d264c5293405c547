// Arbiter handlers.
#include "services/arbiter/service.h"

#include "common/server/grpc_status.h"

namespace semper::arbiter {

grpc::ServerUnaryReactor* ArbiterServiceImpl::Abort(grpc::CallbackServerContext* ctx, const v1::AbortRequest* req,
                                                    v1::ArbiterDecision* resp) {
  auto d = exchanges_->Abort(*req);
  if (d.ok()) *resp = *std::move(d);
  return FinishUnary(ctx, d.status());
}

grpc::ServerUnaryReactor* ArbiterServiceImpl::Resolve(grpc::CallbackServerContext* ctx, const v1::ResolveRequest* req,
                                                      v1::ArbiterDecision* resp) {
  auto d = exchanges_->Resolve(*req);
  if (d.ok()) *resp = *std::move(d);
  return FinishUnary(ctx, d.status());
}

grpc::ServerUnaryReactor* ArbiterServiceImpl::GetArbiterCertificate(grpc::CallbackServerContext* ctx,
                                                                    const v1::GetArbiterCertificateRequest*,
                                                                    v1::ArbiterCertificate* resp) {
  resp->set_certificate(exchanges_->certificate().Der());
  for (const Certificate& c : chain_) resp->add_chain(c.Der());
  return FinishUnary(ctx, absl::OkStatus());
}

}  // namespace semper::arbiter
