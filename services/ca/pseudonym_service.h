// semper.v1.Pseudonyms over gRPC: rate limits, the caller's certificate and role, logs; the
// pseudonym book does the rest (see privacy.proto for who may call what). Thread-safe.
#pragma once

#include <spdlog/logger.h>

#include <memory>

#include "semper/v1/privacy.grpc.pb.h"
#include "services/ca/pseudonyms.h"

namespace semper::ca {

class PseudonymServiceImpl final : public v1::Pseudonyms::CallbackService {
 public:
  PseudonymServiceImpl(PseudonymBook* book, std::shared_ptr<spdlog::logger> logger)
      : book_(book), logger_(std::move(logger)) {}
  grpc::ServerUnaryReactor* IssuePseudonym(grpc::CallbackServerContext* ctx, const v1::IssuePseudonymRequest* req,
                                           v1::IssuePseudonymResponse* resp) override;
  grpc::ServerUnaryReactor* RevealPseudonym(grpc::CallbackServerContext* ctx, const v1::RevealPseudonymRequest* req,
                                            v1::RevealPseudonymResponse* resp) override;
  grpc::ServerUnaryReactor* GetPseudonymReveals(grpc::CallbackServerContext* ctx,
                                                const v1::GetPseudonymRevealsRequest* req,
                                                v1::GetPseudonymRevealsResponse* resp) override;

 private:
  PseudonymBook* book_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace semper::ca
