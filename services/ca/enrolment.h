// Enrolment: a subscriber's enrolment code (or, to renew, its current authentication certificate)
// and two certification requests (its authentication
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
  // The same for new keys, on proof of the current authentication key: `caller` is the client
  // certificate the TLS layer verified (CaStore::Renew says which renew, and when). `actor`: who,
  // for the subscriber's history.
  absl::StatusOr<v1::EnrollResponse> Renew(const Certificate& caller, const std::string& actor,
                                           const v1::RenewRequest& req) const;

 private:
  struct Requests;
  static absl::StatusOr<Requests> ParseRequests(const std::string& authentication_csr,
                                                const std::string& signature_csr);
  absl::StatusOr<std::vector<IssuedRecord>> Issue(const Requests& r, const v1::Subscriber& s, absl::Time now) const;
  v1::EnrollResponse Response(const std::pair<v1::Subscriber, std::vector<IssuedRecord>>& issued) const;
  Deps d_;
};

}  // namespace semper::ca
