// semper.v1.Notary over gRPC: document certification (signature, certificate status at
// semper-ca, time-stamp at semper-tsa, signed attestation appended to the evidence log) and the
// log's tree heads, evidence and proofs. Thread-safe.
#pragma once

#include <spdlog/logger.h>

#include <memory>

#include "common/base/clock.h"
#include "common/base/proto_json.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"
#include "semper/v1/ca.grpc.pb.h"
#include "semper/v1/notary.grpc.pb.h"
#include "semper/v1/tsa.grpc.pb.h"
#include "services/notary/log.h"

namespace semper::notary {

class StatementSigner;
class Attestations;
class ContractBook;
class MailRoom;

// semper-tsa as the notary uses it (semper-ca: CertificateStatusClient).
class Upstreams {
 public:
  Upstreams(std::shared_ptr<v1::TimeStamp::StubInterface> tsa, const TrustStore* trust,
            absl::Duration deadline = absl::Seconds(10))
      : tsa_(std::move(tsa)), trust_(trust), deadline_(deadline) {}
  // semper-tsa's token over a SHA-256 digest (with certReq and a nonce), verified.
  absl::StatusOr<std::string> TimeStamp(std::string_view sha256, absl::Time* gen_time = nullptr) const;

 private:
  std::shared_ptr<v1::TimeStamp::StubInterface> tsa_;
  const TrustStore* trust_;
  absl::Duration deadline_;
};

class NotaryServiceImpl final : public v1::Notary::CallbackService {
 public:
  struct Options {
    EvidenceLog* log = nullptr;
    const TrustStore* trust = nullptr;  // the suite's roots: the notary's own signatures (AuditLog)
    const Attestations* attestations = nullptr;
    ContractBook* contracts = nullptr;
    MailRoom* mail = nullptr;
    Clock clock = SystemClock();
    std::shared_ptr<spdlog::logger> logger;
  };
  explicit NotaryServiceImpl(Options options) : o_(std::move(options)) {}

  grpc::ServerUnaryReactor* CertifyDocument(grpc::CallbackServerContext* ctx, const v1::CertifyDocumentRequest* req,
                                            v1::Evidence* resp) override;
  grpc::ServerUnaryReactor* CreateContract(grpc::CallbackServerContext* ctx, const v1::CreateContractRequest* req,
                                           v1::NotarizedContract* resp) override;
  grpc::ServerUnaryReactor* SignContract(grpc::CallbackServerContext* ctx, const v1::SignContractRequest* req,
                                         v1::NotarizedContract* resp) override;
  grpc::ServerUnaryReactor* DeclineContract(grpc::CallbackServerContext* ctx, const v1::DeclineContractRequest* req,
                                            v1::NotarizedContract* resp) override;
  grpc::ServerUnaryReactor* GetContract(grpc::CallbackServerContext* ctx, const v1::GetContractRequest* req,
                                        v1::NotarizedContract* resp) override;
  grpc::ServerUnaryReactor* GetContractText(grpc::CallbackServerContext* ctx, const v1::GetContractTextRequest* req,
                                            v1::ContractText* resp) override;
  grpc::ServerUnaryReactor* DepositMail(grpc::CallbackServerContext* ctx, const v1::DepositMailRequest* req,
                                        v1::CertifiedMail* resp) override;
  grpc::ServerUnaryReactor* GetMail(grpc::CallbackServerContext* ctx, const v1::GetMailRequest* req,
                                    v1::CertifiedMail* resp) override;
  grpc::ServerUnaryReactor* AcceptMail(grpc::CallbackServerContext* ctx, const v1::AcceptMailRequest* req,
                                       v1::AcceptedMail* resp) override;
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

}  // namespace semper::notary
