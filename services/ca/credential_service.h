// semper.v1.Credentials over gRPC: the caller's subscriber id from its client certificate, then
// the token book or the named credentials (see privacy.proto for who may call what). Thread-safe.
#pragma once

#include "semper/v1/privacy.grpc.pb.h"
#include "services/ca/credentials.h"
#include "services/ca/tokens.h"

namespace semper::ca {

// semper.v1.Credentials over gRPC (see privacy.proto for who may call what).
class CredentialServiceImpl final : public v1::Credentials::CallbackService {
 public:
  CredentialServiceImpl(TokenBook* tokens, NamedCredentials* credentials)
      : tokens_(tokens), credentials_(credentials) {}
  grpc::ServerUnaryReactor* CreateTokenKind(grpc::CallbackServerContext* ctx, const v1::CreateTokenKindRequest* req,
                                            v1::TokenKind* resp) override;
  grpc::ServerUnaryReactor* GetTokenKind(grpc::CallbackServerContext* ctx, const v1::GetTokenKindRequest* req,
                                         v1::TokenKind* resp) override;
  grpc::ServerUnaryReactor* IssueBlindToken(grpc::CallbackServerContext* ctx, const v1::IssueBlindTokenRequest* req,
                                            v1::IssueBlindTokenResponse* resp) override;
  grpc::ServerUnaryReactor* RedeemToken(grpc::CallbackServerContext* ctx, const v1::RedeemTokenRequest* req,
                                        v1::RedeemTokenResponse* resp) override;
  grpc::ServerUnaryReactor* GetClearingStatement(grpc::CallbackServerContext* ctx,
                                                 const v1::GetClearingStatementRequest* req,
                                                 v1::GetClearingStatementResponse* resp) override;
  grpc::ServerUnaryReactor* IssueCredential(grpc::CallbackServerContext* ctx, const v1::IssueCredentialRequest* req,
                                            v1::Credential* resp) override;
  grpc::ServerUnaryReactor* GetCredential(grpc::CallbackServerContext* ctx, const v1::GetCredentialRequest* req,
                                          v1::Credential* resp) override;
  grpc::ServerUnaryReactor* RedeemCredential(grpc::CallbackServerContext* ctx, const v1::RedeemCredentialRequest* req,
                                             v1::RedeemCredentialResponse* resp) override;

 private:
  TokenBook* tokens_;
  NamedCredentials* credentials_;
};

}  // namespace semper::ca
