// What semper-ca says about revocations, pushed to a daemon (WatchRevocations) instead of asked
// per request, for semper-liability's guarantees and every daemon's access gate (access.h): a
// background stream keeps the status of every certificate whose status ever changed,
// reconnecting by itself and resuming after the last number a heartbeat confirmed. Policy when
// semper-ca is unreachable: what was known stays valid for `staleness` after the last heartbeat
// (every 2 s; a change alone does not say the rest is known); after
// that, and before the first complete snapshot, Revoked() fails with DEPENDENCY_UNAVAILABLE and
// the caller decides (the tracker gives no guarantee; the gate refuses role-bound calls). Thread-safe.
#pragma once

#include <grpcpp/client_context.h>

#include <memory>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/server/access.h"
#include "semper/v1/ca.grpc.pb.h"

namespace semper {

class RevocationWatch : public RevocationCheck {
 public:
  RevocationWatch(std::shared_ptr<v1::CertificationAuthority::StubInterface> ca, absl::Duration staleness);
  ~RevocationWatch() override;

  // Whether the certificate with this serial is revoked (or on hold) now.
  absl::StatusOr<bool> Revoked(const std::string& serial) const override;

 private:
  void Loop();
  std::shared_ptr<v1::CertificationAuthority::StubInterface> ca_;
  const absl::Duration staleness_;
  mutable absl::Mutex mu_;
  struct Known {
    int64_t seq = 0;
    bool revoked = false;
  };
  absl::flat_hash_map<std::string, Known> status_ ABSL_GUARDED_BY(mu_);
  // The highest number that a heartbeat confirmed everything up to: where a new stream starts.
  int64_t confirmed_seq_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_heard_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* current_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace semper
