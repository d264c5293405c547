// Arbiter handlers.
#include "services/arbiter/service.h"

#include "common/server/grpc_status.h"
#include "common/server/peer.h"
#include "common/server/rate_limit.h"

namespace semper::arbiter {

namespace {

// Finishes the call when the decision is recorded; the handler thread does not wait for it.
ExchangeArbiter::Done FinishWith(grpc::ServerUnaryReactor* reactor, v1::ArbiterDecision* resp) {
  return [reactor, resp](absl::StatusOr<v1::ArbiterDecision> d) {
    if (d.ok()) *resp = *std::move(d);
    reactor->Finish(ToGrpcStatus(d.status()));
  };
}

}  // namespace

grpc::ServerUnaryReactor* ArbiterServiceImpl::Abort(grpc::CallbackServerContext* ctx, const v1::AbortRequest* req,
                                                    v1::ArbiterDecision* resp) {
  SEMPER_RATE_LIMIT(ctx, "Abort");
  auto* reactor = ctx->DefaultReactor();
  exchanges_->Abort(*req, FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* ArbiterServiceImpl::Resolve(grpc::CallbackServerContext* ctx, const v1::ResolveRequest* req,
                                                      v1::ArbiterDecision* resp) {
  SEMPER_RATE_LIMIT(ctx, "Resolve");
  auto* reactor = ctx->DefaultReactor();
  exchanges_->Resolve(*req, FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* ArbiterServiceImpl::ShowStandardContract(grpc::CallbackServerContext* ctx,
                                                                   const v1::ShowStandardContractRequest* req,
                                                                   v1::ArbiterDecision* resp) {
  SEMPER_RATE_LIMIT(ctx, "ShowStandardContract");
  auto* reactor = ctx->DefaultReactor();
  exchanges_->ShowStandardContract(req->contract(), FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* ArbiterServiceImpl::GetArbiterCertificate(grpc::CallbackServerContext* ctx,
                                                                    const v1::GetArbiterCertificateRequest*,
                                                                    v1::ArbiterCertificate* resp) {
  resp->set_certificate(exchanges_->certificate().Der());
  if (exchanges_->escrow().has_value()) resp->set_escrow_certificate(exchanges_->escrow()->certificate.Der());
  for (const Certificate& c : chain_) resp->add_chain(c.Der());
  return FinishUnary(ctx, absl::OkStatus());
}

namespace {

template <typename T>
grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx, absl::StatusOr<T> result, T* resp) {
  if (result.ok()) *resp = *std::move(result);
  return FinishUnary(ctx, result.status());
}

}  // namespace

grpc::ServerUnaryReactor* ArbiterServiceImpl::FileClaim(grpc::CallbackServerContext* ctx,
                                                        const v1::FileClaimRequest* req, v1::Case* resp) {
  SEMPER_RATE_LIMIT(ctx, "FileClaim");
  return Answer(ctx, cases_->File(*req), resp);
}

grpc::ServerUnaryReactor* ArbiterServiceImpl::AnswerClaim(grpc::CallbackServerContext* ctx,
                                                          const v1::AnswerClaimRequest* req, v1::Case* resp) {
  SEMPER_RATE_LIMIT(ctx, "AnswerClaim");
  return Answer(ctx, cases_->Answer(*req), resp);
}

grpc::ServerUnaryReactor* ArbiterServiceImpl::GetCase(grpc::CallbackServerContext* ctx, const v1::GetCaseRequest* req,
                                                      v1::Case* resp) {
  return Answer(ctx, cases_->Get(req->case_id()), resp);
}

grpc::ServerUnaryReactor* ArbiterServiceImpl::ListCases(grpc::CallbackServerContext* ctx,
                                                        const v1::ListCasesRequest* req, v1::ListCasesResponse* resp) {
  auto peer = PeerOf(*ctx);
  if (!peer.ok()) return FinishUnary(ctx, peer.status());
  auto cases = cases_->List(*req, peer->certificate.has_value() ? &*peer->certificate : nullptr);
  if (cases.ok()) {
    for (auto& c : *cases) *resp->add_cases() = std::move(c);
  }
  return FinishUnary(ctx, cases.status());
}

grpc::ServerUnaryReactor* ArbiterServiceImpl::DecideCase(grpc::CallbackServerContext* ctx,
                                                         const v1::DecideCaseRequest* req, v1::Case* resp) {
  auto peer = PeerOf(*ctx);
  if (!peer.ok()) return FinishUnary(ctx, peer.status());
  if (absl::Status role = RequireAnyRole(*peer, {Role::kArbitrator}); !role.ok()) return FinishUnary(ctx, role);
  return Answer(ctx, cases_->DecideByArbitrator(*req, *peer->certificate), resp);
}

grpc::ServerUnaryReactor* ArbiterServiceImpl::DerivePseudonymCascadeKey(grpc::CallbackServerContext* ctx,
                                                                        const v1::DerivePseudonymCascadeKeyRequest* req,
                                                                        v1::PseudonymCascadeKey* resp) {
  auto peer = PeerOf(*ctx);
  if (!peer.ok()) return FinishUnary(ctx, peer.status());
  if (absl::Status role = RequireAnyRole(*peer, {Role::kService}); !role.ok()) return FinishUnary(ctx, role);
  return Answer(ctx, cascade_keys_->Derive(*req, peer->subject()), resp);
}

grpc::ServerUnaryReactor* ArbiterServiceImpl::TagPseudonym(grpc::CallbackServerContext* ctx,
                                                           const v1::TagPseudonymRequest* req,
                                                           v1::PseudonymTags* resp) {
  auto peer = PeerOf(*ctx);
  if (!peer.ok()) return FinishUnary(ctx, peer.status());
  if (absl::Status role = RequireAnyRole(*peer, {Role::kService}); !role.ok()) return FinishUnary(ctx, role);
  return Answer(ctx, cascade_keys_->Tag(*req, absl::Now()), resp);
}

}  // namespace semper::arbiter
