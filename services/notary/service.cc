// Notary handlers.
#include "services/notary/service.h"

#include <google/protobuf/util/json_util.h>

#include "common/base/log.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/crypto/suite_signer.h"
#include "common/crypto/timestamp.h"
#include "common/server/daemon.h"
#include "common/server/grpc_status.h"
#include "common/server/interceptors.h"
#include "common/server/peer.h"
#include "common/server/rate_limit.h"
#include "services/notary/attest.h"
#include "services/notary/contracts.h"
#include "services/notary/limits.h"
#include "services/notary/mail.h"

namespace semper::notary {

namespace {

// The caller by its TLS client certificate; empty without one.
Caller CallerOf(grpc::CallbackServerContext& ctx) {
  auto peer = PeerOf(ctx);
  if (!peer.ok() || !peer->certificate.has_value()) return {};
  return Caller{PartyOf(*peer->certificate), Sha256(peer->certificate->Der())};
}

}  // namespace

absl::StatusOr<std::string> StatementSigner::Sign(std::string_view statement) const {
  return CmsSignDetached(statement, key_, cert_, chain_);
}

absl::StatusOr<std::string> Upstreams::TimeStamp(std::string_view sha256, absl::Time* gen_time) const {
  std::string nonce = RandomBytes(16);
  SEMPER_ASSIGN_OR_RETURN(std::string tsq, MakeTimeStampRequest(HashAlgorithm::kSha256, sha256, {true, "", nonce}));
  v1::StampRequest req;
  req.set_request(tsq);
  v1::StampResponse stamp;
  grpc::Status called = tsa_->Stamp(UpstreamContext(deadline_).get(), req, &stamp);
  if (!called.ok()) return UpstreamError("semper-tsa", called);
  auto token = TimeStampTokenOf(stamp.response());
  if (!token.ok()) {
    return MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                     StrCat("semper-tsa refused: ", stamp.status_text()));
  }
  SEMPER_ASSIGN_OR_RETURN(TimeStampInfo info, VerifyTimeStampToken(*token, sha256, trust_->roots(), {}, nonce));
  if (gen_time != nullptr) *gen_time = info.gen_time;
  return *token;
}

grpc::ServerUnaryReactor* NotaryServiceImpl::CertifyDocument(grpc::CallbackServerContext* ctx,
                                                             const v1::CertifyDocumentRequest* req,
                                                             v1::Evidence* resp) {
  SEMPER_RATE_LIMIT(ctx, "CertifyDocument");
  auto* reactor = ctx->DefaultReactor();
  auto subject = std::make_shared<std::string>();
  o_.attestations->Certify(
      *req,
      [this, reactor, resp, subject, ctx](absl::StatusOr<v1::Evidence> e) {
        if (!e.ok()) {
          reactor->Finish(ToGrpcStatus(e.status()));
          return;
        }
        LogEvent(o_.logger, spdlog::level::info, "notary.attested")
            .With("request_id", RequestIdOf(*ctx))
            .With("index", e->index())
            .With("signer", *subject);
        *resp = *std::move(e);
        reactor->Finish(grpc::Status::OK);
      },
      subject.get());
  return reactor;
}

grpc::ServerUnaryReactor* NotaryServiceImpl::CreateContract(grpc::CallbackServerContext* ctx,
                                                            const v1::CreateContractRequest* req,
                                                            v1::NotarizedContract* resp) {
  SEMPER_RATE_LIMIT(ctx, "CreateContract");
  auto c = o_.contracts->Create(*req);
  if (c.ok()) *resp = *std::move(c);
  return FinishUnary(ctx, c.status());
}

grpc::ServerUnaryReactor* NotaryServiceImpl::SignContract(grpc::CallbackServerContext* ctx,
                                                          const v1::SignContractRequest* req,
                                                          v1::NotarizedContract* resp) {
  SEMPER_RATE_LIMIT(ctx, "SignContract");
  auto c = o_.contracts->Sign(req->id(), req->signature(), CallerOf(*ctx));
  if (c.ok()) *resp = *std::move(c);
  return FinishUnary(ctx, c.status());
}

grpc::ServerUnaryReactor* NotaryServiceImpl::DeclineContract(grpc::CallbackServerContext* ctx,
                                                             const v1::DeclineContractRequest* req,
                                                             v1::NotarizedContract* resp) {
  SEMPER_RATE_LIMIT(ctx, "DeclineContract");
  auto c = o_.contracts->Decline(req->id(), req->reason(), req->signature());
  if (c.ok()) *resp = *std::move(c);
  return FinishUnary(ctx, c.status());
}

grpc::ServerUnaryReactor* NotaryServiceImpl::GetContract(grpc::CallbackServerContext* ctx,
                                                         const v1::GetContractRequest* req,
                                                         v1::NotarizedContract* resp) {
  auto c = o_.contracts->Get(req->id(), CallerOf(*ctx));
  if (c.ok()) *resp = *std::move(c);
  return FinishUnary(ctx, c.status());
}

grpc::ServerUnaryReactor* NotaryServiceImpl::GetContractText(grpc::CallbackServerContext* ctx,
                                                             const v1::GetContractTextRequest* req,
                                                             v1::ContractText* resp) {
  auto t = o_.contracts->TextFor(req->id(), CallerOf(*ctx));
  if (t.ok()) resp->set_contract(*std::move(t));
  return FinishUnary(ctx, t.status());
}

grpc::ServerUnaryReactor* NotaryServiceImpl::DepositMail(grpc::CallbackServerContext* ctx,
                                                         const v1::DepositMailRequest* req, v1::CertifiedMail* resp) {
  SEMPER_RATE_LIMIT(ctx, "DepositMail");
  auto m = o_.mail->Deposit(*req);
  if (m.ok()) *resp = *std::move(m);
  return FinishUnary(ctx, m.status());
}

grpc::ServerUnaryReactor* NotaryServiceImpl::GetMail(grpc::CallbackServerContext* ctx, const v1::GetMailRequest* req,
                                                     v1::CertifiedMail* resp) {
  auto m = o_.mail->Get(req->id(), CallerOf(*ctx).party);
  if (m.ok()) *resp = *std::move(m);
  return FinishUnary(ctx, m.status());
}

grpc::ServerUnaryReactor* NotaryServiceImpl::AcceptMail(grpc::CallbackServerContext* ctx,
                                                        const v1::AcceptMailRequest* req, v1::AcceptedMail* resp) {
  SEMPER_RATE_LIMIT(ctx, "AcceptMail");
  auto m = o_.mail->Accept(req->id(), req->receipt_signature(), CallerOf(*ctx).party);
  if (m.ok()) *resp = *std::move(m);
  return FinishUnary(ctx, m.status());
}

grpc::ServerUnaryReactor* NotaryServiceImpl::GetTreeHead(grpc::CallbackServerContext* ctx,
                                                         const v1::GetTreeHeadRequest*, v1::SignedTreeHead* resp) {
  auto head = o_.log->LatestTreeHead();
  if (head.ok()) *resp = *head;
  return FinishUnary(ctx, head.status());
}

grpc::ServerUnaryReactor* NotaryServiceImpl::GetEvidence(grpc::CallbackServerContext* ctx,
                                                         const v1::GetEvidenceRequest* req, v1::Evidence* resp) {
  auto e = o_.log->Get(req->index(), req->tree_size());
  if (e.ok()) {  // public as a leaf hash only (notary.proto, Evidence)
    resp->set_index(e->index());
    resp->set_leaf_hash(e->leaf_hash());
    *resp->mutable_inclusion() = e->inclusion();
    *resp->mutable_tree_head() = e->tree_head();
  }
  return FinishUnary(ctx, e.status());
}

grpc::ServerUnaryReactor* NotaryServiceImpl::GetConsistencyProof(grpc::CallbackServerContext* ctx,
                                                                 const v1::GetConsistencyProofRequest* req,
                                                                 v1::ConsistencyProof* resp) {
  auto p = o_.log->Consistency(req->old_size(), req->new_size());
  if (p.ok()) *resp = *p;
  return FinishUnary(ctx, p.status());
}

grpc::ServerUnaryReactor* NotaryServiceImpl::AuditLog(grpc::CallbackServerContext* ctx, const v1::AuditLogRequest*,
                                                      v1::AuditLogResponse* resp) {
  auto peer = PeerOf(*ctx);
  if (!peer.ok()) return FinishUnary(ctx, peer.status());
  if (absl::Status role = RequireAnyRole(*peer, {Role::kAdministrator}); !role.ok()) return FinishUnary(ctx, role);
  const absl::Time now = o_.clock();
  auto audit = o_.log->Audit([this, now](std::string_view statement, std::string_view signature) {
    auto signers = CmsVerifyDetached(signature, statement, *o_.trust, now, KeyPurpose::kNonRepudiation);
    return signers.ok() && signers->size() == 1 && CheckSuiteSigner(signers->front().certificate, "notary").ok();
  });
  if (audit.ok()) *resp = *audit;
  return FinishUnary(ctx, audit.status());
}

}  // namespace semper::notary
