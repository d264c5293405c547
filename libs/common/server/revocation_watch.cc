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
      // Numbers become visible in order at semper-ca: everything after the last number a
      // heartbeat confirmed. Not after the highest number seen: a stream may carry a new change
      // before the older ones of its snapshot, and end before they come.
      req.set_after_seq(confirmed_seq_);
    }
    auto reader = ca_->WatchRevocations(&ctx, req);
    v1::RevocationEvent e;
    int64_t stream_max = 0;
    while (reader->Read(&e)) {
      absl::MutexLock lock(&mu_);
      if (e.serial().empty()) {
        // A heartbeat: everything up to now is known, so is every number this stream carried.
        synced_ = true;
        last_heard_ = absl::Now();
        confirmed_seq_ = std::max(confirmed_seq_, stream_max);
        continue;
      }
      // A change makes what is known more complete, not current: freshness comes from heartbeats.
      Known& k = status_[e.serial()];
      if (e.seq() > k.seq) k = Known{e.seq(), e.state() == v1::CERTIFICATE_STATE_REVOKED};
      stream_max = std::max(stream_max, e.seq());
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
