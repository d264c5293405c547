#include "common/crypto/verified_certificates.h"

#include "common/base/status.h"

namespace semper {

absl::StatusOr<Certificate> VerifiedCertificates::Verify(const std::string& der, const Certificate& cert,
                                                         absl::Time now) {
  SEMPER_RETURN_IF_ERROR(trust_->VerifyPath(cert, intermediates_, now, purpose_).status());
  absl::MutexLock lock(&mu_);
  if (entries_.size() >= max_) entries_.clear();
  entries_.insert_or_assign(der, Entry{cert, std::min(now + ttl_, cert.not_after())});
  return cert;
}

absl::Status VerifiedCertificates::Check(const Certificate& cert, absl::Time now) {
  std::string der = cert.Der();
  {
    absl::MutexLock lock(&mu_);
    if (auto it = entries_.find(der); it != entries_.end() && now < it->second.until) return absl::OkStatus();
  }
  return Verify(der, cert, now).status();
}

absl::StatusOr<Certificate> VerifiedCertificates::CheckDer(const std::string& der, absl::Time now,
                                                           std::string_view field) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = entries_.find(der); it != entries_.end() && now < it->second.until) return it->second.cert;
  }
  auto cert = Certificate::FromDer(der);
  if (!cert.ok()) return InvalidField(field, "must be a DER certificate");
  return Verify(der, *cert, now);
}

}  // namespace semper
