// semper.v1.TimeStamp over gRPC, and the RFC 3161 HTTP answer both paths share. Thread-safe.
#pragma once

#include <spdlog/logger.h>

#include <memory>

#include "common/server/metrics.h"
#include "semper/v1/tsa.grpc.pb.h"
#include "services/timestamp/batch.h"
#include "services/timestamp/store.h"
#include "services/timestamp/tsa.h"

namespace semper::tsa {

class TsaServiceImpl final : public v1::TimeStamp::CallbackService {
 public:
  struct Options {
    const TimeStampAuthority* tsa = nullptr;
    TokenStore* store = nullptr;
    TokenCommitter* committer = nullptr;
    Batcher* batcher = nullptr;
    std::shared_ptr<Metrics> metrics;
    std::shared_ptr<spdlog::logger> logger;
    size_t max_batch_imprints = 10000;
  };
  explicit TsaServiceImpl(Options options) : o_(std::move(options)) {}

  // Stamps and, for a granted token, records it; `done` gets the reply once it may leave (after
  // the commit). A token that cannot be recorded is replaced by a systemFailure rejection.
  void StampAndRecord(std::string_view request_der, std::string requester, std::function<void(Stamped)> done) const;

  grpc::ServerUnaryReactor* Stamp(grpc::CallbackServerContext* ctx, const v1::StampRequest* req,
                                  v1::StampResponse* resp) override;
  grpc::ServerUnaryReactor* StampBatch(grpc::CallbackServerContext* ctx, const v1::StampBatchRequest* req,
                                       v1::StampBatchResponse* resp) override;
  grpc::ServerUnaryReactor* GetTsaCertificates(grpc::CallbackServerContext* ctx,
                                               const v1::GetTsaCertificatesRequest* req,
                                               v1::GetTsaCertificatesResponse* resp) override;
  grpc::ServerUnaryReactor* LookupToken(grpc::CallbackServerContext* ctx, const v1::LookupTokenRequest* req,
                                        v1::TokenRecord* resp) override;

 private:
  const Options o_;
};

// "1A2B" or "0x1a2b" to the serial; INVALID_FIELD otherwise.
absl::StatusOr<uint64_t> ParseSerial(std::string_view text);

}  // namespace semper::tsa
