// semper.v1.CertificationAuthority over gRPC: validates each request, checks the caller's role,
// calls the store, and converts the result once at the end. Thread-safe.
#pragma once

#include <spdlog/logger.h>

#include <memory>

#include "common/base/clock.h"
#include "semper/v1/ca.grpc.pb.h"
#include "services/ca/enrolment.h"
#include "services/ca/pki.h"
#include "services/ca/revocation.h"
#include "services/ca/revocation_feed.h"
#include "services/ca/store.h"

namespace semper::ca {

class CaServiceImpl final : public v1::CertificationAuthority::CallbackService {
 public:
  struct Options {
    const Pki* pki = nullptr;
    CaStore* store = nullptr;
    ProfileOptions profiles;
    std::shared_ptr<spdlog::logger> logger;
    Clock clock = SystemClock();
    // Cleared after every status change (may be null).
    OcspCache* ocsp_cache = nullptr;
    StatusCache* status_cache = nullptr;
    // Status changes as they happen, for WatchRevocations (may be null: UNIMPLEMENTED).
    RevocationFeed* revocation_feed = nullptr;
  };

  // Issues and stores a full and a delta CRL (see CaStore::PublishCrls): after each status change,
  // and with `new_base` at start and on the schedule, there unless another replica issued a base
  // within `unless_base_within`.
  absl::Status PublishCrls(bool new_base = false, absl::Duration unless_base_within = absl::ZeroDuration()) const;
  explicit CaServiceImpl(Options options)
      : o_(std::move(options)), enrolment_({o_.pki, o_.store, o_.profiles, o_.clock}) {}

  grpc::ServerUnaryReactor* RegisterSubscriber(grpc::CallbackServerContext* ctx,
                                               const v1::RegisterSubscriberRequest* req,
                                               v1::RegisterSubscriberResponse* resp) override;
  grpc::ServerUnaryReactor* GetSubscriber(grpc::CallbackServerContext* ctx, const v1::GetSubscriberRequest* req,
                                          v1::Subscriber* resp) override;
  grpc::ServerUnaryReactor* ListSubscribers(grpc::CallbackServerContext* ctx, const v1::ListSubscribersRequest* req,
                                            v1::ListSubscribersResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateSubscriber(grpc::CallbackServerContext* ctx, const v1::UpdateSubscriberRequest* req,
                                             v1::Subscriber* resp) override;
  grpc::ServerUnaryReactor* SetSubscriberState(grpc::CallbackServerContext* ctx,
                                               const v1::SetSubscriberStateRequest* req, v1::Subscriber* resp) override;
  grpc::ServerUnaryReactor* IssueEnrolmentCode(grpc::CallbackServerContext* ctx,
                                               const v1::IssueEnrolmentCodeRequest* req,
                                               v1::RegisterSubscriberResponse* resp) override;
  grpc::ServerUnaryReactor* GetSubscriberHistory(grpc::CallbackServerContext* ctx,
                                                 const v1::GetSubscriberHistoryRequest* req,
                                                 v1::GetSubscriberHistoryResponse* resp) override;
  grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* ctx, const v1::EnrollRequest* req,
                                   v1::EnrollResponse* resp) override;
  grpc::ServerUnaryReactor* Renew(grpc::CallbackServerContext* ctx, const v1::RenewRequest* req,
                                  v1::EnrollResponse* resp) override;
  grpc::ServerUnaryReactor* GetCaCertificates(grpc::CallbackServerContext* ctx, const v1::GetCaCertificatesRequest* req,
                                              v1::GetCaCertificatesResponse* resp) override;
  grpc::ServerUnaryReactor* RevokeCertificate(grpc::CallbackServerContext* ctx, const v1::RevokeCertificateRequest* req,
                                              v1::RevokeCertificateResponse* resp) override;
  grpc::ServerUnaryReactor* ReleaseHold(grpc::CallbackServerContext* ctx, const v1::ReleaseHoldRequest* req,
                                        v1::CertificateStatus* resp) override;
  grpc::ServerWriteReactor<v1::RevocationEvent>* WatchRevocations(grpc::CallbackServerContext* ctx,
                                                                  const v1::WatchRevocationsRequest* req) override;
  grpc::ServerUnaryReactor* GetCertificateStatus(grpc::CallbackServerContext* ctx,
                                                 const v1::GetCertificateStatusRequest* req,
                                                 v1::CertificateStatus* resp) override;

 private:
  const Options o_;
  const Enrolment enrolment_;
};

// Checks a registration record as an officer submits it. INVALID_FIELD names the field.
absl::Status ValidateSubscriber(const v1::Subscriber& s);

// "ABCD-EFGH-..." from 20 random bytes, and the canonical form hashed for storage.
std::string NewEnrolmentCode();
std::string CanonicalEnrolmentCode(std::string_view typed);

}  // namespace semper::ca
