// CertificationAuthority handlers.
#include "services/ca/service.h"

#include <google/protobuf/util/time_util.h>

#include <regex>

#include "common/base/log.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/container/vat.h"
#include "common/crypto/csr.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/server/grpc_status.h"
#include "common/server/interceptors.h"
#include "common/server/peer.h"
#include "common/server/rate_limit.h"

namespace semper::ca {

namespace {

using google::protobuf::util::TimeUtil;

constexpr char kCodeAlphabet[] = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";  // no 0/O, 1/I/L

// A fresh one-time enrolment code: what the officer is shown, and what the store keeps.
struct EnrolmentCode {
  std::string code;
  std::string sha256;
  absl::Time expires;
};

absl::StatusOr<EnrolmentCode> MakeEnrolmentCode(int64_t requested_seconds, absl::Time now) {
  int64_t seconds = requested_seconds == 0 ? 7 * 86400 : requested_seconds;
  if (seconds < 60 || seconds > 30 * 86400) {
    return InvalidField("enrolment_valid_seconds", "must be between 60 s and 30 days");
  }
  std::string code = NewEnrolmentCode();
  std::string hash = Sha256(CanonicalEnrolmentCode(code));
  return EnrolmentCode{std::move(code), std::move(hash), now + absl::Seconds(seconds)};
}

void SetCode(const EnrolmentCode& code, v1::RegisterSubscriberResponse* resp) {
  resp->set_enrolment_code(code.code);
  *resp->mutable_enrolment_expires_at() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(code.expires));
}

absl::StatusOr<Peer> Officer(grpc::CallbackServerContext* ctx) {
  SEMPER_ASSIGN_OR_RETURN(Peer peer, PeerOf(*ctx));
  SEMPER_RETURN_IF_ERROR(RequireAnyRole(peer, {Role::kAdministrator, Role::kRegistrationOfficer}));
  return peer;
}

}  // namespace

std::string NewEnrolmentCode() {
  std::string random = RandomBytes(20);
  std::string code;
  for (size_t i = 0; i < random.size(); ++i) {
    if (i > 0 && i % 4 == 0) code.push_back('-');
    code.push_back(kCodeAlphabet[static_cast<unsigned char>(random[i]) % (sizeof(kCodeAlphabet) - 1)]);
  }
  return code;
}

std::string CanonicalEnrolmentCode(std::string_view typed) {
  std::string out;
  for (char c : typed) {
    if (c == '-' || c == ' ') continue;
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

absl::Status ValidateSubscriber(const v1::Subscriber& s) {
  if (s.name().empty() || s.name().size() > 200) return InvalidField("subscriber.name", "must be 1 to 200 characters");
  if (s.kind() != v1::CUSTOMER_KIND_INDIVIDUAL && s.kind() != v1::CUSTOMER_KIND_ENTERPRISE) {
    return InvalidField("subscriber.kind", "must be INDIVIDUAL or ENTERPRISE");
  }
  if (!IsCountryCode(s.country()))
    return InvalidField("subscriber.country", "must be an ISO 3166-1 alpha-2 code, e.g. DE");
  if (s.applicable_law() != "EU" && !IsCountryCode(s.applicable_law())) {
    return InvalidField("subscriber.applicable_law", "must be an ISO 3166-1 alpha-2 code or EU");
  }
  if (s.kind() == v1::CUSTOMER_KIND_ENTERPRISE && s.vat_reference().empty()) {
    return InvalidField("subscriber.vat_reference", "is required for an enterprise");
  }
  if (!s.vat_reference().empty()) {
    SEMPER_RETURN_IF_ERROR(ValidateVatReference(s.vat_reference(), "subscriber.vat_reference"));
    std::string vat_country = VatCountry(s.vat_reference());
    if (vat_country != s.country() && !(vat_country == "EL" && s.country() == "GR")) {
      return InvalidField("subscriber.vat_reference",
                          StrCat("is a ", vat_country, " reference but the country is ", s.country()));
    }
  }
  static const std::regex kEmail(R"([^@\s]{1,64}@[^@\s]+\.[^@\s]+)");
  if (s.email().size() > 254 || !std::regex_match(s.email(), kEmail)) {
    return InvalidField("subscriber.email", "must be an e-mail address");
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* CaServiceImpl::RegisterSubscriber(grpc::CallbackServerContext* ctx,
                                                            const v1::RegisterSubscriberRequest* req,
                                                            v1::RegisterSubscriberResponse* resp) {
  auto officer = Officer(ctx);
  if (!officer.ok()) return FinishUnary(ctx, officer.status());
  absl::Status valid = ValidateSubscriber(req->subscriber());
  if (!valid.ok()) return FinishUnary(ctx, valid);
  auto code = MakeEnrolmentCode(req->enrolment_valid_seconds(), o_.clock());
  if (!code.ok()) return FinishUnary(ctx, code.status());
  auto s = o_.store->Register(req->subscriber(), officer->subject(), code->sha256, code->expires);
  if (!s.ok()) return FinishUnary(ctx, s.status());
  *resp->mutable_subscriber() = *s;
  SetCode(*code, resp);
  LogEvent(o_.logger, spdlog::level::info, "subscriber.registered")
      .With("request_id", RequestIdOf(*ctx))
      .With("subscriber", s->id())
      .With("by", officer->subject());
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* CaServiceImpl::GetSubscriber(grpc::CallbackServerContext* ctx,
                                                       const v1::GetSubscriberRequest* req, v1::Subscriber* resp) {
  auto officer = Officer(ctx);
  if (!officer.ok()) return FinishUnary(ctx, officer.status());
  if (req->id().empty()) return FinishUnary(ctx, InvalidField("id", "is required"));
  auto s = o_.store->Get(req->id());
  if (!s.ok()) return FinishUnary(ctx, s.status());
  *resp = *s;
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* CaServiceImpl::ListSubscribers(grpc::CallbackServerContext* ctx,
                                                         const v1::ListSubscribersRequest* req,
                                                         v1::ListSubscribersResponse* resp) {
  auto officer = Officer(ctx);
  if (!officer.ok()) return FinishUnary(ctx, officer.status());
  int size = req->page_size() == 0 ? 100 : req->page_size();
  if (size < 1 || size > 1000) return FinishUnary(ctx, InvalidField("page_size", "must be between 1 and 1000"));
  auto list = o_.store->List(size + 1, req->page_token());
  if (!list.ok()) return FinishUnary(ctx, list.status());
  for (int i = 0; i < std::min<int>(size, static_cast<int>(list->size())); ++i) *resp->add_subscribers() = (*list)[i];
  if (static_cast<int>(list->size()) > size) resp->set_next_page_token((*list)[size - 1].id());
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* CaServiceImpl::UpdateSubscriber(grpc::CallbackServerContext* ctx,
                                                          const v1::UpdateSubscriberRequest* req,
                                                          v1::Subscriber* resp) {
  auto officer = Officer(ctx);
  if (!officer.ok()) return FinishUnary(ctx, officer.status());
  if (req->subscriber().id().empty()) return FinishUnary(ctx, InvalidField("subscriber.id", "is required"));
  absl::Status valid = ValidateSubscriber(req->subscriber());
  if (!valid.ok()) return FinishUnary(ctx, valid);
  auto s = o_.store->Update(req->subscriber(), officer->subject());
  if (!s.ok()) return FinishUnary(ctx, s.status());
  *resp = *s;
  LogEvent(o_.logger, spdlog::level::info, "subscriber.updated")
      .With("request_id", RequestIdOf(*ctx))
      .With("subscriber", s->id())
      .With("by", officer->subject());
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* CaServiceImpl::SetSubscriberState(grpc::CallbackServerContext* ctx,
                                                            const v1::SetSubscriberStateRequest* req,
                                                            v1::Subscriber* resp) {
  auto officer = Officer(ctx);
  if (!officer.ok()) return FinishUnary(ctx, officer.status());
  if (req->id().empty()) return FinishUnary(ctx, InvalidField("id", "is required"));
  if (req->reason().size() > 1000) return FinishUnary(ctx, InvalidField("reason", "must be at most 1000 characters"));
  auto s = o_.store->SetState(req->id(), req->state(), req->reason(), officer->subject());
  if (!s.ok()) return FinishUnary(ctx, s.status());
  *resp = *s;
  LogEvent(o_.logger, spdlog::level::info, "subscriber.state")
      .With("request_id", RequestIdOf(*ctx))
      .With("subscriber", s->id())
      .With("state", v1::SubscriberState_Name(s->state()))
      .With("by", officer->subject());
  absl::Status crl = PublishCrls();
  if (!crl.ok())
    LogEvent(o_.logger, spdlog::level::err, "crl.publish_failed").With("error", std::string(crl.message()));
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* CaServiceImpl::IssueEnrolmentCode(grpc::CallbackServerContext* ctx,
                                                            const v1::IssueEnrolmentCodeRequest* req,
                                                            v1::RegisterSubscriberResponse* resp) {
  auto officer = Officer(ctx);
  if (!officer.ok()) return FinishUnary(ctx, officer.status());
  auto code = MakeEnrolmentCode(req->enrolment_valid_seconds(), o_.clock());
  if (!code.ok()) return FinishUnary(ctx, code.status());
  absl::Status added =
      o_.store->AddEnrolmentCode(req->subscriber_id(), code->sha256, code->expires, officer->subject());
  if (!added.ok()) return FinishUnary(ctx, added);
  auto s = o_.store->Get(req->subscriber_id());
  if (!s.ok()) return FinishUnary(ctx, s.status());
  *resp->mutable_subscriber() = *s;
  SetCode(*code, resp);
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* CaServiceImpl::GetSubscriberHistory(grpc::CallbackServerContext* ctx,
                                                              const v1::GetSubscriberHistoryRequest* req,
                                                              v1::GetSubscriberHistoryResponse* resp) {
  auto officer = Officer(ctx);
  if (!officer.ok()) return FinishUnary(ctx, officer.status());
  auto history = o_.store->History(req->id());
  if (!history.ok()) return FinishUnary(ctx, history.status());
  for (auto& c : *history) *resp->add_changes() = std::move(c);
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* CaServiceImpl::Enroll(grpc::CallbackServerContext* ctx, const v1::EnrollRequest* req,
                                                v1::EnrollResponse* resp) {
  SEMPER_RATE_LIMIT(ctx, "Enroll");
  auto enrolled = enrolment_.Enroll(*req);
  if (!enrolled.ok()) return FinishUnary(ctx, enrolled.status());
  *resp = *std::move(enrolled);
  LogEvent(o_.logger, spdlog::level::info, "subscriber.enrolled")
      .With("request_id", RequestIdOf(*ctx))
      .With("subscriber", resp->subscriber_id())
      .With("authentication_serial", resp->authentication().serial())
      .With("signature_serial", resp->signature().serial());
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* CaServiceImpl::Renew(grpc::CallbackServerContext* ctx, const v1::RenewRequest* req,
                                               v1::EnrollResponse* resp) {
  SEMPER_RATE_LIMIT(ctx, "Renew");
  auto peer = PeerOf(*ctx);
  if (!peer.ok()) return FinishUnary(ctx, peer.status());
  absl::Status role = RequireAnyRole(*peer, {Role::kSubscriber});
  if (!role.ok()) return FinishUnary(ctx, role);
  auto renewed = enrolment_.Renew(*peer->certificate, peer->subject(), *req);
  if (!renewed.ok()) return FinishUnary(ctx, renewed.status());
  *resp = *std::move(renewed);
  LogEvent(o_.logger, spdlog::level::info, "subscriber.renewed")
      .With("request_id", RequestIdOf(*ctx))
      .With("subscriber", resp->subscriber_id())
      .With("from", peer->certificate->SerialHex())
      .With("authentication_serial", resp->authentication().serial())
      .With("signature_serial", resp->signature().serial());
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* CaServiceImpl::GetCaCertificates(grpc::CallbackServerContext* ctx,
                                                           const v1::GetCaCertificatesRequest*,
                                                           v1::GetCaCertificatesResponse* resp) {
  resp->set_root(o_.pki->root().Der());
  resp->set_issuing_ca(o_.pki->issuing_ca().Der());
  return FinishUnary(ctx, absl::OkStatus());
}

namespace {

absl::Status CheckSerial(const std::string& serial) {
  static const std::regex kHex("[0-9A-F]{1,40}");
  if (!std::regex_match(serial, kHex)) return InvalidField("serial", "must be the upper-case hex serial number");
  return absl::OkStatus();
}

bool KnownReason(v1::RevocationReason r) {
  switch (r) {
    case v1::REVOCATION_REASON_UNSPECIFIED:
    case v1::REVOCATION_REASON_KEY_COMPROMISE:
    case v1::REVOCATION_REASON_AFFILIATION_CHANGED:
    case v1::REVOCATION_REASON_SUPERSEDED:
    case v1::REVOCATION_REASON_CESSATION_OF_OPERATION:
    case v1::REVOCATION_REASON_CERTIFICATE_HOLD:
    case v1::REVOCATION_REASON_PRIVILEGE_WITHDRAWN:
      return true;
    default:
      return false;  // caCompromise is not a subscriber certificate's reason
  }
}

}  // namespace

absl::Status CaServiceImpl::PublishCrls(bool new_base, absl::Duration unless_base_within) const {
  // After a status change: OCSP must not answer from before the change.
  if (unless_base_within == absl::ZeroDuration()) {
    if (o_.ocsp_cache != nullptr) o_.ocsp_cache->Clear();
    if (o_.status_cache != nullptr) o_.status_cache->Clear();
  }
  return o_.store->PublishCrls(
      new_base,
      [this](const std::vector<RevokedEntry>& entries, int64_t number, std::optional<int64_t> base) {
        absl::Time now = o_.clock();
        // Complete CRLs name the delta's address (public_url/crl/delta, served by main.cc).
        std::string freshest = o_.profiles.public_url.empty() ? "" : StrCat(o_.profiles.public_url, "/crl/delta");
        return BuildCrl(o_.pki->issuing_ca(), o_.pki->issuing_key(), entries, number, base, now, now + absl::Hours(24),
                        freshest);
      },
      CrlEntries, unless_base_within);
}

grpc::ServerUnaryReactor* CaServiceImpl::RevokeCertificate(grpc::CallbackServerContext* ctx,
                                                           const v1::RevokeCertificateRequest* req,
                                                           v1::RevokeCertificateResponse* resp) {
  auto peer = PeerOf(*ctx);
  if (!peer.ok()) return FinishUnary(ctx, peer.status());
  std::string only_subscriber;
  if (!peer->Has(Role::kAdministrator) && !peer->Has(Role::kRegistrationOfficer)) {
    absl::Status role = RequireAnyRole(*peer, {Role::kSubscriber});
    if (!role.ok()) return FinishUnary(ctx, role);
    // Subscribers are rate-limited; officers revoke in bulk in an incident.
    SEMPER_RATE_LIMIT(ctx, "RevokeCertificate");
    only_subscriber = peer->certificate->SubjectAttribute("serialNumber").value_or("");
    if (only_subscriber.empty()) {
      return FinishUnary(ctx, MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                                        "the client certificate names no subscriber"));
    }
  }
  absl::Status valid = CheckSerial(req->serial());
  if (!valid.ok()) return FinishUnary(ctx, valid);
  if (!KnownReason(req->reason()))
    return FinishUnary(ctx, InvalidField("reason", "is not a reason for revoking a subscriber certificate"));
  auto status = o_.store->Revoke(req->serial(), req->reason(), peer->subject(), only_subscriber);
  if (!status.ok()) return FinishUnary(ctx, status.status());
  *resp->mutable_status() = *status;
  LogEvent(o_.logger, spdlog::level::info, "certificate.revoked")
      .With("request_id", RequestIdOf(*ctx))
      .With("serial", req->serial())
      .With("reason", static_cast<int>(req->reason()))
      .With("by", peer->subject());
  // The revocation is committed; the CRL follows. If issuing it fails, OCSP and the status RPC
  // already answer revoked and the scheduler retries.
  absl::Status crl = PublishCrls();
  if (!crl.ok()) {
    LogEvent(o_.logger, spdlog::level::err, "crl.publish_failed").With("error", std::string(crl.message()));
  }
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* CaServiceImpl::ReleaseHold(grpc::CallbackServerContext* ctx,
                                                     const v1::ReleaseHoldRequest* req, v1::CertificateStatus* resp) {
  auto officer = Officer(ctx);
  if (!officer.ok()) return FinishUnary(ctx, officer.status());
  absl::Status valid = CheckSerial(req->serial());
  if (!valid.ok()) return FinishUnary(ctx, valid);
  auto status = o_.store->ReleaseHold(req->serial(), officer->subject());
  if (!status.ok()) return FinishUnary(ctx, status.status());
  *resp = *status;
  absl::Status crl = PublishCrls();
  if (!crl.ok())
    LogEvent(o_.logger, spdlog::level::err, "crl.publish_failed").With("error", std::string(crl.message()));
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* CaServiceImpl::GetCertificateStatus(grpc::CallbackServerContext* ctx,
                                                              const v1::GetCertificateStatusRequest* req,
                                                              v1::CertificateStatus* resp) {
  std::string serial = req->serial();
  std::string expected_issuer;  // for a certificate: the CA certificate that must have issued it
  if (!req->certificate().empty()) {
    auto cert = Certificate::FromDer(req->certificate());
    if (!cert.ok()) return FinishUnary(ctx, FieldError("certificate", cert.status()));
    const auto& shared = o_.pki->pseudonym_issuer();
    expected_issuer = cert->Issuer() == o_.pki->issuing_ca().Subject()            ? "ca"
                      : shared.has_value() && cert->Issuer() == shared->Subject() ? "pseudonyms"
                                                                                  : "";
    if (expected_issuer.empty()) {
      resp->set_serial(cert->SerialHex());
      resp->set_state(v1::CERTIFICATE_STATE_UNKNOWN);
      return FinishUnary(ctx, absl::OkStatus());
    }
    serial = cert->SerialHex();
  }
  absl::Status valid = CheckSerial(serial);
  if (!valid.ok()) return FinishUnary(ctx, valid);
  // Without `at`: now, where every committed revocation counts.
  if (req->has_at()) {
    if (absl::Status t = CheckTimestamp(req->at(), "at"); !t.ok()) return FinishUnary(ctx, t);
  }
  const absl::Time at = req->has_at() ? FromTimestamp(req->at()) : CaStore::kNow;
  std::string issued_by;
  auto status = o_.store->Status(serial, at, &issued_by);
  if (!status.ok()) return FinishUnary(ctx, status.status());
  *resp = *status;
  if (!expected_issuer.empty() && resp->state() != v1::CERTIFICATE_STATE_UNKNOWN && issued_by != expected_issuer) {
    resp->Clear();
    resp->set_serial(serial);
    resp->set_state(v1::CERTIFICATE_STATE_UNKNOWN);
  }
  return FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerWriteReactor<v1::RevocationEvent>* CaServiceImpl::WatchRevocations(grpc::CallbackServerContext* ctx,
                                                                               const v1::WatchRevocationsRequest* req) {
  if (o_.revocation_feed == nullptr || req->after_seq() < 0) {
    class Refused : public grpc::ServerWriteReactor<v1::RevocationEvent> {
     public:
      explicit Refused(grpc::Status s) { Finish(s); }
      void OnDone() override { delete this; }
    };
    return new Refused(req->after_seq() < 0
                           ? grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "after_seq must not be negative")
                           : grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this semper-ca has no revocation feed"));
  }
  return o_.revocation_feed->Watch(ctx, req->after_seq());
}

}  // namespace semper::ca
