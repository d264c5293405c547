// The CA's records in PostgreSQL (schema "ca"): subscribers and their change history,
// enrolment codes, issued certificates. Every method commits before it returns OK.
// Thread-safe (the pool hands each call its own connection).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"
#include "common/db/pool.h"
#include "semper/v1/ca.pb.h"

namespace semper::ca {

struct IssuedRecord {
  Certificate certificate;
  std::string profile;
};

class CaStore {
 public:
  explicit CaStore(db::ConnectionPool* pool) : pool_(pool) {}

  // The prepared statements CaStore uses; pass them to the pool.
  static std::vector<db::PreparedStatement> Statements();

  // Inserts a new subscriber (id assigned here) and its first enrolment code (hash only).
  absl::StatusOr<v1::Subscriber> Register(v1::Subscriber subscriber, const std::string& officer,
                                          const std::string& code_sha256, absl::Time code_expires);
  absl::StatusOr<v1::Subscriber> Get(const std::string& id);
  // Newest first; `after` is an opaque cursor from the previous page (empty for the first).
  absl::StatusOr<std::vector<v1::Subscriber>> List(int limit, const std::string& after_id);

  // In one transaction: claims the enrolment code (unknown, used or expired codes are refused),
  // checks the subscriber is active and the keys are not blocked, calls `issue` with the
  // registration record, stores what it returns, and marks the code used. Under concurrent use
  // of one code exactly one caller succeeds.
  absl::StatusOr<std::pair<v1::Subscriber, std::vector<IssuedRecord>>> Enroll(
      const std::string& code_sha256, const std::vector<std::string>& spki_sha256s,
      const std::function<absl::StatusOr<std::vector<IssuedRecord>>(const v1::Subscriber&)>& issue);

 private:
  db::ConnectionPool* pool_;
};

}  // namespace semper::ca
