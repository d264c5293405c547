// TimeStamp handlers.
#include "services/timestamp/service.h"

#include <openssl/crypto.h>

#include "common/base/log.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/server/grpc_status.h"
#include "common/server/interceptors.h"
#include "common/server/peer.h"
#include "common/server/rate_limit.h"

namespace semper::tsa {

absl::StatusOr<uint64_t> ParseSerial(std::string_view text) {
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text.remove_prefix(2);
  if (text.empty() || text.size() > 16) return InvalidField("serial", "must be 1 to 16 hex digits");
  uint64_t v = 0;
  for (char c : text) {
    int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
            : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
            : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                        : -1;
    if (d < 0) return InvalidField("serial", "must be hex digits");
    v = v << 4 | static_cast<uint64_t>(d);
  }
  return v;
}

void TsaServiceImpl::StampAndRecord(std::string_view request_der, std::string requester,
                                    std::function<void(Stamped)> done) const {
  Stamped s = o_.tsa->Stamp(request_der);
  auto count = [this](const Stamped& st) {
    if (!o_.metrics) return;
    o_.metrics->AddCounter("semper_tsa_responses_total", "time-stamp replies by status and failure",
                           {{"granted", st.granted() ? "true" : "false"},
                            {"failure", st.failure_info.empty() ? "" : st.failure_info.front()}});
    if ((!st.granted() && !st.failure_info.empty() && st.failure_info.front() == "timeNotAvailable") ||
        st.clock_unsynchronised) {
      o_.metrics->SetGauge("semper_tsa_clock_synchronized", "1 while the clock may be trusted for time-stamps", {}, 0);
    } else if (st.granted()) {
      o_.metrics->SetGauge("semper_tsa_clock_synchronized", "1 while the clock may be trusted for time-stamps", {}, 1);
    }
  };
  if (!s.granted()) {
    count(s);
    done(std::move(s));
    return;
  }
  TokenRow row;
  row.serial = std::stoull(s.serial_hex, nullptr, 16);
  row.gen_time = s.gen_time;
  row.hash_algorithm = s.hash_algorithm;
  row.imprint = s.imprint;
  row.policy = s.policy;
  row.requester = std::move(requester);
  row.token_der = s.stored_token_der;
  row.cert_req = s.cert_req;
  o_.committer->Submit(
      std::move(row), [this, s = std::move(s), done = std::move(done), count](absl::Status committed) mutable {
        if (!committed.ok()) {
          LogEvent(o_.logger, spdlog::level::err, "tsa.record_failed")
              .With("serial", s.serial_hex)
              .With("error", std::string(committed.message()));
          Stamped failed = TimeStampAuthority::Rejection(
              kSystemFailure, "the token was not sent: its recording failed or could not be confirmed; try again");
          count(failed);
          done(std::move(failed));
          return;
        }
        count(s);
        done(std::move(s));
      });
}

grpc::ServerUnaryReactor* TsaServiceImpl::Stamp(grpc::CallbackServerContext* ctx, const v1::StampRequest* req,
                                                v1::StampResponse* resp) {
  SEMPER_RATE_LIMIT(ctx, "Stamp");
  if (req->request().empty()) return FinishUnary(ctx, InvalidField("request", "must be a DER TimeStampReq"));
  auto peer = PeerOf(*ctx);
  std::string requester = peer.ok() ? peer->subject() : "";
  auto* reactor = ctx->DefaultReactor();
  StampAndRecord(req->request(), std::move(requester), [reactor, resp](Stamped s) {
    resp->set_response(std::move(s.response_der));
    resp->set_status(static_cast<v1::TimeStampStatus>(s.status));
    for (const auto& f : s.failure_info) resp->add_failure_info(f);
    resp->set_status_text(s.status_text);
    if (s.granted()) {
      resp->set_serial(s.serial_hex);
      *resp->mutable_gen_time() = ToTimestamp(s.gen_time);
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* TsaServiceImpl::StampBatch(grpc::CallbackServerContext* ctx, const v1::StampBatchRequest* req,
                                                     v1::StampBatchResponse* resp) {
  SEMPER_RATE_LIMIT(ctx, "StampBatch");
  if (o_.batcher == nullptr)
    return FinishUnary(ctx, MakeError(absl::StatusCode::kUnimplemented, v1::NOT_SUPPORTED, "batch mode is off"));
  if (req->imprints_size() == 0)
    return FinishUnary(ctx, InvalidField("imprints", "must hold at least one SHA-256 imprint"));
  if (static_cast<size_t>(req->imprints_size()) > o_.max_batch_imprints) {
    return FinishUnary(ctx, InvalidField("imprints", StrCat("at most ", o_.max_batch_imprints, " per call")));
  }
  std::vector<std::string> imprints;
  imprints.reserve(static_cast<size_t>(req->imprints_size()));
  for (int i = 0; i < req->imprints_size(); ++i) {
    if (req->imprints(i).size() != 32) {
      return FinishUnary(ctx, InvalidField(StrCat("imprints[", i, "]"), "must be a 32-byte SHA-256 digest"));
    }
    imprints.push_back(req->imprints(i));
  }
  auto* reactor = ctx->DefaultReactor();
  o_.batcher->Submit(std::move(imprints), [reactor, resp](absl::StatusOr<std::vector<v1::BatchProof>> proofs) {
    if (!proofs.ok()) {
      reactor->Finish(ToGrpcStatus(proofs.status()));
      return;
    }
    resp->mutable_proofs()->Reserve(static_cast<int>(proofs->size()));
    for (auto& p : *proofs) *resp->add_proofs() = std::move(p);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* TsaServiceImpl::GetTsaCertificates(grpc::CallbackServerContext* ctx,
                                                             const v1::GetTsaCertificatesRequest*,
                                                             v1::GetTsaCertificatesResponse* resp) {
  resp->add_chain(o_.tsa->options().signer.Der());
  for (const Certificate& c : o_.tsa->options().issuers) resp->add_chain(c.Der());
  for (const std::string& p : o_.tsa->options().policies) resp->add_policies(p);
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* TsaServiceImpl::LookupToken(grpc::CallbackServerContext* ctx,
                                                      const v1::LookupTokenRequest* req, v1::TokenRecord* resp) {
  auto serial = ParseSerial(req->serial());
  if (!serial.ok()) return FinishUnary(ctx, serial.status());
  if (req->imprint().empty()) {
    return FinishUnary(
        ctx, InvalidField("imprint", "is required: the hash the token covers (only its holder may look it up)"));
  }
  auto row = o_.store->Lookup(*serial);
  // An unknown serial and someone else's token get the same answer.
  const bool mine = row.ok() && row->imprint.size() == req->imprint().size() &&
                    CRYPTO_memcmp(row->imprint.data(), req->imprint().data(), row->imprint.size()) == 0;
  if ((row.ok() && !mine) || (!row.ok() && row.status().code() == absl::StatusCode::kNotFound)) {
    return FinishUnary(ctx,
                       MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND,
                                 StrCat("this TSA issued no token with serial ", req->serial(), " for that imprint")));
  }
  if (!row.ok()) return FinishUnary(ctx, row.status());
  resp->set_serial(SerialHex(row->serial));
  *resp->mutable_gen_time() = ToTimestamp(row->gen_time);
  resp->set_hash_algorithm(row->hash_algorithm);
  resp->set_imprint(row->imprint);
  resp->set_policy(row->policy);
  resp->set_requester(row->requester);
  if (row->cert_req) {
    auto full = o_.tsa->WithCertificates(row->token_der);
    if (!full.ok()) return FinishUnary(ctx, full.status());
    resp->set_token(*full);
  } else {
    resp->set_token(row->token_der);
  }
  resp->set_batch_tree_size(row->batch_tree_size);
  return FinishUnary(ctx, absl::OkStatus());
}

}  // namespace semper::tsa
