// semper.v1.Arbiter over gRPC. Thread-safe.
#pragma once

#include "semper/v1/arbiter.grpc.pb.h"
#include "services/arbiter/arbiter.h"
#include "services/arbiter/cascade_keys.h"
#include "services/arbiter/disputes.h"

namespace semper::arbiter {

class ArbiterServiceImpl final : public v1::Arbiter::CallbackService {
 public:
  ArbiterServiceImpl(ExchangeArbiter* exchanges, CaseBook* cases, const PseudonymCascadeKeys* cascade_keys,
                     std::vector<Certificate> chain)
      : exchanges_(exchanges), cases_(cases), cascade_keys_(cascade_keys), chain_(std::move(chain)) {}
  grpc::ServerUnaryReactor* Abort(grpc::CallbackServerContext* ctx, const v1::AbortRequest* req,
                                  v1::ArbiterDecision* resp) override;
  grpc::ServerUnaryReactor* Resolve(grpc::CallbackServerContext* ctx, const v1::ResolveRequest* req,
                                    v1::ArbiterDecision* resp) override;
  grpc::ServerUnaryReactor* ShowStandardContract(grpc::CallbackServerContext* ctx,
                                                 const v1::ShowStandardContractRequest* req,
                                                 v1::ArbiterDecision* resp) override;
  grpc::ServerUnaryReactor* GetArbiterCertificate(grpc::CallbackServerContext* ctx,
                                                  const v1::GetArbiterCertificateRequest* req,
                                                  v1::ArbiterCertificate* resp) override;
  grpc::ServerUnaryReactor* FileClaim(grpc::CallbackServerContext* ctx, const v1::FileClaimRequest* req,
                                      v1::Case* resp) override;
  grpc::ServerUnaryReactor* AnswerClaim(grpc::CallbackServerContext* ctx, const v1::AnswerClaimRequest* req,
                                        v1::Case* resp) override;
  grpc::ServerUnaryReactor* GetCase(grpc::CallbackServerContext* ctx, const v1::GetCaseRequest* req,
                                    v1::Case* resp) override;
  grpc::ServerUnaryReactor* ListCases(grpc::CallbackServerContext* ctx, const v1::ListCasesRequest* req,
                                      v1::ListCasesResponse* resp) override;
  grpc::ServerUnaryReactor* DecideCase(grpc::CallbackServerContext* ctx, const v1::DecideCaseRequest* req,
                                       v1::Case* resp) override;
  grpc::ServerUnaryReactor* TagPseudonym(grpc::CallbackServerContext* ctx, const v1::TagPseudonymRequest* req,
                                         v1::PseudonymTags* resp) override;
  grpc::ServerUnaryReactor* DerivePseudonymCascadeKey(grpc::CallbackServerContext* ctx,
                                                      const v1::DerivePseudonymCascadeKeyRequest* req,
                                                      v1::PseudonymCascadeKey* resp) override;

 private:
  ExchangeArbiter* exchanges_;
  CaseBook* cases_;
  const PseudonymCascadeKeys* cascade_keys_;
  std::vector<Certificate> chain_;
};

}  // namespace semper::arbiter
