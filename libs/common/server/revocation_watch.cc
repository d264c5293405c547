#include "common/server/revocation_watch.h"

#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper {

RevocationWatch::RevocationWatch(std::shared_ptr<v1::CertificationAuthority::StubInterface> ca,
                                 absl::Duration staleness)
    : ca_(std::move(ca)), staleness_(staleness) {
  thread_ = std::thread([this] { Loop(); });
}

RevocationWatch::~RevocationWatch() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (current_ != nullptr) current_->TryCancel();
  }
  thread_.join();
}

void RevocationWatch::Loop() {
  for (;;) {
    grpc::ClientContext ctx;
    v1::WatchRevocationsRequest req;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      current_ = &ctx;
      // Numbers become visible in order at semper-ca: everything after the last one seen.
      req.set_after_seq(last_seq_);
    }
    auto reader = ca_->WatchRevocations(&ctx, req);
    v1::RevocationEvent e;
    while (reader->Read(&e)) {
      absl::MutexLock lock(&mu_);
      last_heard_ = absl::Now();
      if (e.serial().empty()) {
        synced_ = true;  // a heartbeat: everything up to now is known
        continue;
      }
      Known& k = status_[e.serial()];
      if (e.seq() > k.seq) k = Known{e.seq(), e.state() == v1::CERTIFICATE_STATE_REVOKED};
      last_seq_ = std::max(last_seq_, e.seq());
    }
    (void)reader->Finish();
    absl::MutexLock lock(&mu_);
    current_ = nullptr;
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(500))) return;
  }
}

absl::StatusOr<bool> RevocationWatch::Revoked(const std::string& serial) const {
  absl::MutexLock lock(&mu_);
  if (!synced_) {
    return MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                     "revocations from semper-ca are not known yet; retry shortly");
  }
  absl::Duration age = absl::Now() - last_heard_;
  if (age > staleness_) {
    return MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                     StrCat("semper-ca has not been heard for ", absl::ToInt64Seconds(age),
                            " s: no guarantee until revocations are known again"));
  }
  auto it = status_.find(serial);
  return it != status_.end() && it->second.revoked;
}

}  // namespace semper
