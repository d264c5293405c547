// Enrolment: a subscriber's enrolment code and two certification requests (its authentication
// key and its signature key, two different keys) become two certificates. The requests are
// checked against the registration record (accepted key types and sizes, a subject that names
// nothing the record does not), and the certificates issued, stored and the code spent in one
// transaction (CaStore::Enroll: unknown, used and expired codes are refused, a blocked key too).
// Thread-safe.
#pragma once

#include "absl/status/statusor.h"
#include "common/base/clock.h"
#include "semper/v1/ca.pb.h"
#include "services/ca/pki.h"
#include "services/ca/store.h"

namespace semper::ca {

class Enrolment {
 public:
  struct Deps {
    const Pki* pki = nullptr;
    CaStore* store = nullptr;
    ProfileOptions profiles;
    Clock clock = SystemClock();
  };
  explicit Enrolment(Deps deps) : d_(std::move(deps)) {}

  // Both certificates with their chains, and the subscriber's id.
  absl::StatusOr<v1::EnrollResponse> Enroll(const v1::EnrollRequest& req) const;

 private:
  Deps d_;
};

}  // namespace semper::ca
