// semper.v1.Liability over gRPC. Thread-safe.
#pragma once

#include "semper/v1/liability.grpc.pb.h"
#include "services/liability/book.h"

namespace semper::liability {

class LiabilityServiceImpl final : public v1::Liability::CallbackService {
 public:
  explicit LiabilityServiceImpl(LiabilityBook* book) : book_(book) {}
  grpc::ServerUnaryReactor* RegisterAgreement(grpc::CallbackServerContext* ctx, const v1::RegisterAgreementRequest* req,
                                              v1::AgreementRecord* resp) override;
  grpc::ServerUnaryReactor* SetAgreementState(grpc::CallbackServerContext* ctx, const v1::SetAgreementStateRequest* req,
                                              v1::AgreementRecord* resp) override;
  grpc::ServerUnaryReactor* RequestGuarantee(grpc::CallbackServerContext* ctx, const v1::GuaranteeRequest* req,
                                             v1::Guarantee* resp) override;
  grpc::ServerUnaryReactor* SettleGuarantee(grpc::CallbackServerContext* ctx, const v1::EndGuaranteeRequest* req,
                                            v1::Guarantee* resp) override;
  grpc::ServerUnaryReactor* ReleaseGuarantee(grpc::CallbackServerContext* ctx, const v1::EndGuaranteeRequest* req,
                                             v1::Guarantee* resp) override;
  grpc::ServerUnaryReactor* GetGuarantee(grpc::CallbackServerContext* ctx, const v1::GetGuaranteeRequest* req,
                                         v1::Guarantee* resp) override;
  grpc::ServerUnaryReactor* GetLiability(grpc::CallbackServerContext* ctx, const v1::GetLiabilityRequest* req,
                                         v1::LiabilityStatus* resp) override;

 private:
  LiabilityBook* book_;
};

}  // namespace semper::liability
