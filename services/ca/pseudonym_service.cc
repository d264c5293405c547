// semper.v1.Pseudonyms handlers (see pseudonym_service.h).
#include "services/ca/pseudonym_service.h"

#include "common/base/log.h"
#include "common/server/grpc_status.h"
#include "common/server/interceptors.h"
#include "common/server/peer.h"
#include "common/server/rate_limit.h"

namespace semper::ca {

grpc::ServerUnaryReactor* PseudonymServiceImpl::IssuePseudonym(grpc::CallbackServerContext* ctx,
                                                               const v1::IssuePseudonymRequest* req,
                                                               v1::IssuePseudonymResponse* resp) {
  SEMPER_RATE_LIMIT(ctx, "IssuePseudonym");
  auto out = book_->Issue(*req);
  if (!out.ok()) return FinishUnary(ctx, out.status());
  *resp = *std::move(out);
  // No subscriber, no base: the log must not link either.
  LogEvent(logger_, spdlog::level::info, "pseudonym.issued");
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* PseudonymServiceImpl::RevealPseudonym(grpc::CallbackServerContext* ctx,
                                                                const v1::RevealPseudonymRequest* req,
                                                                v1::RevealPseudonymResponse* resp) {
  // Anyone may present a reveal order: semper-arbiter's signature over it is the authority.
  auto peer = PeerOf(*ctx);
  auto out = book_->Reveal(*req, peer.ok() ? peer->subject() : "");
  if (!out.ok()) {
    LogEvent(logger_, spdlog::level::warn, "pseudonym.reveal_refused")
        .With("request_id", RequestIdOf(*ctx))
        .With("error", std::string(out.status().message()));
    return FinishUnary(ctx, out.status());
  }
  *resp = *std::move(out);
  LogEvent(logger_, spdlog::level::warn, "pseudonym.revealed")
      .With("request_id", RequestIdOf(*ctx))
      .With("serial", resp->pseudonym_serial())
      .With("case", resp->case_id())
      .With("reveal", std::to_string(resp->reveal_number()));
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* PseudonymServiceImpl::GetPseudonymReveals(grpc::CallbackServerContext* ctx,
                                                                    const v1::GetPseudonymRevealsRequest* req,
                                                                    v1::GetPseudonymRevealsResponse* resp) {
  auto peer = PeerOf(*ctx);
  if (!peer.ok()) return FinishUnary(ctx, peer.status());
  absl::Status role = RequireAnyRole(*peer, {Role::kAdministrator, Role::kRegistrationOfficer});
  if (!role.ok()) return FinishUnary(ctx, role);
  auto out = book_->Reveals(req->pseudonym_serial());
  if (out.ok()) *resp = *std::move(out);
  return FinishUnary(ctx, out.status());
}

}  // namespace semper::ca
