// Liability handlers.
#include "services/liability/service.h"

#include "common/server/grpc_status.h"
#include "common/server/peer.h"
#include "common/server/rate_limit.h"

namespace semper::liability {
namespace {

Caller CallerOf(const grpc::CallbackServerContext& ctx) {
  Caller c;
  auto peer = PeerOf(ctx);
  if (peer.ok() && peer->certificate.has_value()) {
    c.authenticated = true;
    c.subject = peer->certificate->Subject();
    c.party = PartyOf(*peer->certificate);
    c.serial = peer->certificate->SerialHex();
  }
  return c;
}

}  // namespace

grpc::ServerUnaryReactor* LiabilityServiceImpl::RegisterAgreement(grpc::CallbackServerContext* ctx,
                                                                  const v1::RegisterAgreementRequest* req,
                                                                  v1::AgreementRecord* resp) {
  SEMPER_RATE_LIMIT(ctx, "RegisterAgreement");
  return FinishUnary(ctx, book_->RegisterAgreement(*req), resp);
}

grpc::ServerUnaryReactor* LiabilityServiceImpl::SetAgreementState(grpc::CallbackServerContext* ctx,
                                                                  const v1::SetAgreementStateRequest* req,
                                                                  v1::AgreementRecord* resp) {
  return FinishUnary(ctx, book_->SetAgreementState(*req), resp);
}

grpc::ServerUnaryReactor* LiabilityServiceImpl::RequestGuarantee(grpc::CallbackServerContext* ctx,
                                                                 const v1::GuaranteeRequest* req, v1::Guarantee* resp) {
  SEMPER_RATE_LIMIT(ctx, "RequestGuarantee");
  // Decided by a committer; the handler thread does not wait for the transaction.
  auto* reactor = ctx->DefaultReactor();
  book_->RequestGuarantee(*req, CallerOf(*ctx), [reactor, resp](absl::StatusOr<v1::Guarantee> g) {
    if (g.ok()) *resp = *std::move(g);
    reactor->Finish(ToGrpcStatus(g.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* LiabilityServiceImpl::SettleGuarantee(grpc::CallbackServerContext* ctx,
                                                                const v1::EndGuaranteeRequest* req,
                                                                v1::Guarantee* resp) {
  return FinishUnary(ctx,
                     book_->EndGuarantee(req->guarantee_id(), v1::GUARANTEE_STATE_SETTLED, CallerOf(*ctx),
                                         req->verdict(), req->verdict_signature()),
                     resp);
}

grpc::ServerUnaryReactor* LiabilityServiceImpl::ReleaseGuarantee(grpc::CallbackServerContext* ctx,
                                                                 const v1::EndGuaranteeRequest* req,
                                                                 v1::Guarantee* resp) {
  return FinishUnary(ctx,
                     book_->EndGuarantee(req->guarantee_id(), v1::GUARANTEE_STATE_RELEASED, CallerOf(*ctx),
                                         req->verdict(), req->verdict_signature()),
                     resp);
}

grpc::ServerUnaryReactor* LiabilityServiceImpl::GetGuarantee(grpc::CallbackServerContext* ctx,
                                                             const v1::GetGuaranteeRequest* req, v1::Guarantee* resp) {
  return FinishUnary(ctx, book_->GetGuarantee(req->guarantee_id(), CallerOf(*ctx)), resp);
}

grpc::ServerUnaryReactor* LiabilityServiceImpl::GetLiability(grpc::CallbackServerContext* ctx,
                                                             const v1::GetLiabilityRequest* req,
                                                             v1::LiabilityStatus* resp) {
  return FinishUnary(ctx, book_->GetLiability(*req), resp);
}

}  // namespace semper::liability
