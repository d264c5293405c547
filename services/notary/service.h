// semper.v1.Notary over gRPC: document certification (signature, certificate status at
// semper-ca, time-stamp at semper-tsa, signed attestation appended to the evidence log) and the
// log's tree heads, evidence and proofs. Thread-safe.
#pragma once

#include <memory>

#include <spdlog/logger.h>

#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"
#include "semper/v1/ca.grpc.pb.h"
#include "semper/v1/notary.grpc.pb.h"
#include "semper/v1/tsa.grpc.pb.h"
#include "services/notary/log.h"

namespace semper::notary {

class StatementSigner;

class NotaryServiceImpl final : public v1::Notary::CallbackService {
 public:
  struct Options {
    EvidenceLog* log = nullptr;
    const StatementSigner* signer = nullptr;
    const TrustStore* trust = nullptr;  // the suite's roots: for signers, the TSA, and the notary
    std::shared_ptr<v1::CertificationAuthority::StubInterface> ca;
    std::shared_ptr<v1::TimeStamp::StubInterface> tsa;
    absl::Duration upstream_deadline = absl::Seconds(10);
    size_t max_document_bytes = 16 << 20;
    std::shared_ptr<spdlog::logger> logger;
  };
  explicit NotaryServiceImpl(Options options) : o_(std::move(options)) {}

  grpc::ServerUnaryReactor* CertifyDocument(grpc::CallbackServerContext* ctx, const v1::CertifyDocumentRequest* req,
                                            v1::Evidence* resp) override;
  grpc::ServerUnaryReactor* GetTreeHead(grpc::CallbackServerContext* ctx, const v1::GetTreeHeadRequest* req,
                                        v1::SignedTreeHead* resp) override;
  grpc::ServerUnaryReactor* GetEvidence(grpc::CallbackServerContext* ctx, const v1::GetEvidenceRequest* req,
                                        v1::Evidence* resp) override;
  grpc::ServerUnaryReactor* GetConsistencyProof(grpc::CallbackServerContext* ctx,
                                                const v1::GetConsistencyProofRequest* req,
                                                v1::ConsistencyProof* resp) override;
  grpc::ServerUnaryReactor* AuditLog(grpc::CallbackServerContext* ctx, const v1::AuditLogRequest* req,
                                     v1::AuditLogResponse* resp) override;

 private:
  const Options o_;
};

// The notary's signature: detached CMS by its signing key, with its chain.
class StatementSigner {
 public:
  StatementSigner(PrivateKey key, Certificate cert, std::vector<Certificate> chain)
      : key_(std::move(key)), cert_(std::move(cert)), chain_(std::move(chain)) {}
  absl::StatusOr<std::string> Sign(std::string_view statement) const;

 private:
  PrivateKey key_;
  Certificate cert_;
  std::vector<Certificate> chain_;
};

// The JSON form (proto3 mapping, field names as in the .proto) in which statements are signed.
std::string StatementJson(const google::protobuf::Message& statement);

}  // namespace semper::notary
