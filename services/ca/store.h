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
#include "common/base/clock.h"
#include "common/crypto/certificate.h"
#include "common/db/pool.h"
#include "semper/v1/ca.pb.h"
#include "services/ca/revocation.h"

namespace semper::ca {

struct IssuedRecord {
  IssuedCertificate certificate;
  std::string profile;
};

// When renewal of a certificate valid from `not_before` to `not_after` opens: `window` before its
// end (ca.renewal_window), or with no window set, once two thirds of its validity have passed.
absl::Time RenewalOpens(absl::Time not_before, absl::Time not_after, absl::Duration window);

class CaStore {
 public:
  // `clock` decides whether an enrolment code has expired.
  explicit CaStore(db::ConnectionPool* pool, Clock clock = SystemClock()) : pool_(pool), clock_(std::move(clock)) {}
  // The derivation tag of a serial (see pseudonyms.h): with it, revoking a certificate for
  // keyCompromise also revokes the pseudonyms issued on it, and on those, in one transaction.
  void SetLinkTagger(std::function<std::string(const std::string& serial)> tag) { link_tag_ = std::move(tag); }

  // The prepared statements CaStore uses; pass them to the pool.
  static std::vector<db::PreparedStatement> Statements();

  // Inserts a new subscriber (id assigned here) and its first enrolment code (hash only).
  absl::StatusOr<v1::Subscriber> Register(v1::Subscriber subscriber, const std::string& officer,
                                          const std::string& code_sha256, absl::Time code_expires);
  absl::StatusOr<v1::Subscriber> Get(const std::string& id);
  // Newest first; `after` is an opaque cursor from the previous page (empty for the first).
  absl::StatusOr<std::vector<v1::Subscriber>> List(int limit, const std::string& after_id);

  // Replaces the record's facts; records who and what changed.
  absl::StatusOr<v1::Subscriber> Update(const v1::Subscriber& subscriber, const std::string& officer);
  // Suspends (holds every good certificate), reactivates (releases those holds) or closes
  // (revokes every certificate for cessationOfOperation; final). Returns the record.
  absl::StatusOr<v1::Subscriber> SetState(const std::string& id, v1::SubscriberState state, const std::string& reason,
                                          const std::string& officer);
  // A new enrolment code for an active subscriber.
  absl::Status AddEnrolmentCode(const std::string& id, const std::string& code_sha256, absl::Time expires,
                                const std::string& officer);
  absl::StatusOr<std::vector<v1::SubscriberChange>> History(const std::string& id);

  // In one transaction: claims the enrolment code (unknown, used or expired codes are refused),
  // checks the subscriber is active and the keys are not blocked, calls `issue` with the
  // registration record, stores what it returns, and marks the code used. Under concurrent use
  // of one code exactly one caller succeeds.
  absl::StatusOr<std::pair<v1::Subscriber, std::vector<IssuedRecord>>> Enroll(
      const std::string& code_sha256, const std::vector<std::string>& spki_sha256s,
      const std::function<absl::StatusOr<std::vector<IssuedRecord>>(const v1::Subscriber&)>& issue);

  // Renewal, in one transaction: `serial` (DER `der`, as the TLS layer verified it) must be a
  // subscriber's authentication certificate of this CA, good (not revoked, not on hold, not
  // expired), of an active subscriber none of whose certificates was revoked for keyCompromise
  // after it was issued (its renewal epoch is the subscriber's), inside the renewal window
  // (RenewalOpens), and not
  // renewed before (a retry with the same two keys gets what that renewal made while it is good:
  // ALREADY_USED otherwise). The two new keys (authentication, signature: `spki_sha256s`) were
  // never certified and are not blocked. Calls `issue` with the registration record, stores what
  // it returns as renewed from `serial`, and records the change as `actor`. Concurrent renewals
  // from one certificate: exactly one succeeds.
  absl::StatusOr<std::pair<v1::Subscriber, std::vector<IssuedRecord>>> Renew(
      const std::string& serial, const std::string& der, const std::vector<std::string>& spki_sha256s,
      absl::Duration window, const std::string& actor,
      const std::function<absl::StatusOr<std::vector<IssuedRecord>>(const v1::Subscriber&)>& issue);

  // Revokes a certificate. With `only_subscriber` set, only a certificate of that subscriber
  // (else PERMISSION_DENIED). A certificate on hold may be revoked for good; any other revoked
  // certificate cannot be revoked again. keyCompromise also blocks the key for ever, revokes
  // (for keyCompromise, keys blocked) what was renewed from the certificate, and from those, and
  // starts a new renewal epoch for the subscriber: what was issued before no longer renews.
  absl::StatusOr<v1::CertificateStatus> Revoke(const std::string& serial, v1::RevocationReason reason,
                                               const std::string& actor, const std::string& only_subscriber);
  // Lifts a certificateHold.
  absl::StatusOr<v1::CertificateStatus> ReleaseHold(const std::string& serial, const std::string& actor);
  // Records certificates this CA issued outside the register (the daemons' and administrators'
  // certificates that `semper-ca init` writes), so that their status is GOOD rather than
  // UNKNOWN and they can be revoked. Idempotent; returns how many were new.
  absl::StatusOr<int> RegisterServiceCertificates(const std::vector<Certificate>& certs);
  // The status of a certificate that must be good now: FAILED_PRECONDITION with
  // CERTIFICATE_REVOKED or CERTIFICATE_UNTRUSTED otherwise, naming `whose` certificate.
  absl::StatusOr<v1::CertificateStatus> RequireGood(const std::string& serial, absl::Time at, std::string_view whose);
  // The same about now, in `tx`, which keeps the lock it takes to its commit: a revocation of
  // `serial` is dated after `tx` commits, so what `tx` records happened while it was good.
  absl::Status RequireGoodIn(pqxx::work& tx, const std::string& serial, std::string_view whose);
  // The `at` of a question about now: every committed revocation counts, whatever time it
  // carries (replicas' clocks may differ by a little; a revocation is effective once committed).
  static constexpr absl::Time kNow = absl::InfiniteFuture();
  // The status at time `at`; state UNKNOWN if this CA never issued the serial. Waits for status
  // changes in flight (they are dated once they hold the lock this waits for), so an answer about
  // a time before the call never changes afterwards; one about a later time may.
  // With `issuer`: which CA certificate issued it ("ca" or "pseudonyms"; unchanged if unknown).
  absl::StatusOr<v1::CertificateStatus> Status(const std::string& serial, absl::Time at, std::string* issuer = nullptr);

  // The time a token redemption or a credential use is dated at, read in `tx` (which keeps the
  // lock it takes to its commit) while no clearing statement closes a period: the clock's
  // reading to the microsecond, and never inside a period a statement has closed (a replica
  // whose clock lags, or a clock set back, dates at that period's end instead).
  absl::Time ClearingTime(pqxx::work& tx);
  // Closes every period that ends by `until` for clearing: once this returns, every redemption and
  // use dated before `until` has committed, and no other will be. A period closed already (by
  // any replica) is closed; otherwise INVALID_FIELD "until" when `until` is after the clock's
  // reading or the database's. Returns the clock's reading (for a period closed already, no
  // earlier than its end: it had ended by then, whatever this replica's clock says).
  absl::StatusOr<absl::Time> CloseClearingPeriod(absl::Time until);

  using CrlBuild = std::function<absl::StatusOr<std::string>(const std::vector<RevokedEntry>&, int64_t number,
                                                             std::optional<int64_t> delta_base)>;
  using CrlParse = std::function<absl::StatusOr<std::vector<RevokedEntry>>(std::string_view der)>;
  // Issues and stores a full CRL and a delta CRL, numbered from one sequence so that numbers only
  // grow, across restarts and replicas. With `new_base` (on schedule) the full CRL becomes the
  // base of later deltas and the delta is empty; otherwise (after a change of status) the delta
  // lists every change since the latest base, so a relying party that keeps the base only needs
  // the small delta. With `unless_base_within` (the start and the schedule, at every replica),
  // nothing is issued when the latest base was issued within that long before now and includes
  // every status change made since (one whose CRL was not published, e.g. its replica died just
  // after the change, is published by the next start or schedule at any replica): across
  // replicas, one base per schedule interval, and none at a replica's start while others run.
  absl::Status PublishCrls(bool new_base, const CrlBuild& build, const CrlParse& parse,
                           absl::Duration unless_base_within = absl::ZeroDuration());
  // The newest CRL of the kind (DER), or NOT_FOUND.
  absl::StatusOr<std::string> LatestCrl(bool delta);
  // A fresh full CRL of the shared pseudonym issuer (numbered from its own sequence).
  absl::StatusOr<std::string> PseudonymIssuerCrl(const CrlBuild& build);

 private:
  db::ConnectionPool* pool_;
  Clock clock_;
  std::function<std::string(const std::string&)> link_tag_;
};

}  // namespace semper::ca
