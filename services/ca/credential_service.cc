// Credentials handlers.
#include "services/ca/credential_service.h"

#include "common/base/status.h"
#include "common/server/grpc_status.h"
#include "common/server/peer.h"
#include "common/server/rate_limit.h"

namespace semper::ca {
namespace {

// The subscriber a TLS client certificate names (its serialNumber attribute), if it is one.
std::string SubscriberOf(const grpc::CallbackServerContext& ctx) {
  auto peer = PeerOf(ctx);
  if (!peer.ok() || !peer->certificate.has_value() || !peer->Has(Role::kSubscriber)) return "";
  return peer->certificate->SubjectAttribute("serialNumber").value_or("");
}

}  // namespace

grpc::ServerUnaryReactor* CredentialServiceImpl::CreateTokenKind(grpc::CallbackServerContext* ctx,
                                                                 const v1::CreateTokenKindRequest* req,
                                                                 v1::TokenKind* resp) {
  // A new kind's RSA key costs ~0.2 s of CPU, about a hundred ordinary signatures: it is charged so.
  SEMPER_RATE_LIMIT_COST(ctx, "CreateTokenKind", 100);
  return FinishUnary(ctx, tokens_->CreateKind(*req), resp);
}

grpc::ServerUnaryReactor* CredentialServiceImpl::GetTokenKind(grpc::CallbackServerContext* ctx,
                                                              const v1::GetTokenKindRequest* req, v1::TokenKind* resp) {
  return FinishUnary(ctx, tokens_->GetKind(req->kind_id()), resp);
}

grpc::ServerUnaryReactor* CredentialServiceImpl::IssueBlindToken(grpc::CallbackServerContext* ctx,
                                                                 const v1::IssueBlindTokenRequest* req,
                                                                 v1::IssueBlindTokenResponse* resp) {
  SEMPER_RATE_LIMIT(ctx, "IssueBlindToken");
  return FinishUnary(ctx, tokens_->IssueBlind(*req), resp);
}

grpc::ServerUnaryReactor* CredentialServiceImpl::RedeemToken(grpc::CallbackServerContext* ctx,
                                                             const v1::RedeemTokenRequest* req,
                                                             v1::RedeemTokenResponse* resp) {
  SEMPER_RATE_LIMIT(ctx, "RedeemToken");
  // Decided by a committer; the handler thread does not wait for the transaction.
  auto* reactor = ctx->DefaultReactor();
  tokens_->Redeem(*req, SubscriberOf(*ctx), [reactor, resp](absl::StatusOr<v1::RedeemTokenResponse> r) {
    if (r.ok()) *resp = *std::move(r);
    reactor->Finish(ToGrpcStatus(r.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* CredentialServiceImpl::IssueCredential(grpc::CallbackServerContext* ctx,
                                                                 const v1::IssueCredentialRequest* req,
                                                                 v1::Credential* resp) {
  SEMPER_RATE_LIMIT(ctx, "IssueCredential");
  return FinishUnary(ctx, credentials_->Issue(*req), resp);
}

grpc::ServerUnaryReactor* CredentialServiceImpl::GetCredential(grpc::CallbackServerContext* ctx,
                                                               const v1::GetCredentialRequest* req,
                                                               v1::Credential* resp) {
  return FinishUnary(ctx, credentials_->Get(req->credential_id()), resp);
}

grpc::ServerUnaryReactor* CredentialServiceImpl::RedeemCredential(grpc::CallbackServerContext* ctx,
                                                                  const v1::RedeemCredentialRequest* req,
                                                                  v1::RedeemCredentialResponse* resp) {
  SEMPER_RATE_LIMIT(ctx, "RedeemCredential");
  return FinishUnary(ctx, credentials_->Redeem(*req, SubscriberOf(*ctx)), resp);
}

grpc::ServerUnaryReactor* CredentialServiceImpl::GetClearingStatement(grpc::CallbackServerContext* ctx,
                                                                      const v1::GetClearingStatementRequest* req,
                                                                      v1::GetClearingStatementResponse* resp) {
  // A statement reads and signs a period's redemptions, and closes the period for every replica.
  SEMPER_RATE_LIMIT_COST(ctx, "GetClearingStatement", 10);
  auto peer = PeerOf(*ctx);
  if (!peer.ok()) return FinishUnary(ctx, peer.status());
  const std::string who = SubscriberOf(*ctx);
  const bool officer = peer->Has(Role::kAdministrator) || peer->Has(Role::kRegistrationOfficer);
  if (!officer && (who.empty() || (who != req->issuer_subscriber_id() && who != req->acceptor_subscriber_id()))) {
    return FinishUnary(ctx, MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                                      "a clearing statement is for its issuer, its acceptor, or an officer"));
  }
  return FinishUnary(ctx, tokens_->Clearing(*req), resp);
}

}  // namespace semper::ca
