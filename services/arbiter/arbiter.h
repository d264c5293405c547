// The arbiter's decisions for optimistic fair exchange: a checked request becomes a signed token,
// and the record in PostgreSQL (insert once, never update) makes the first decision the answer
// to every later request. Decisions arriving together are recorded in one transaction (group
// commit): one insert of all of them, ON CONFLICT DO NOTHING, and the winners read back for the
// rest. Thread-safe.
#pragma once

#include <deque>
#include <optional>
#include <functional>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/crypto/certificate.h"
#include "common/crypto/verified_certificates.h"
#include "common/db/pool.h"
#include "common/exchange/asw.h"
#include "semper/v1/arbiter.pb.h"

namespace semper::arbiter {

class ExchangeArbiter {
 public:
  // `escrow`: the key and certificate that document escrows are encrypted to (none: exchanges of
  // documents cannot be resolved here).
  ExchangeArbiter(db::ConnectionPool* pool, asw::Party self, const TrustStore* trust, std::vector<Certificate> intermediates,
                  std::optional<asw::Party> escrow = std::nullopt, int committers = 2);
  ~ExchangeArbiter();
  static std::vector<db::PreparedStatement> Statements();

  using Done = std::function<void(absl::StatusOr<v1::ArbiterDecision>)>;
  // The request is checked and signed on the caller's thread; `done` runs once the decision is
  // recorded (on a committer thread), or at once when the request is refused. Never blocks on the
  // database: gRPC callback handlers call these.
  void Abort(const v1::AbortRequest& req, Done done);
  void Resolve(const v1::ResolveRequest& req, Done done);
  // The same, waiting for the answer.
  absl::StatusOr<v1::ArbiterDecision> Abort(const v1::AbortRequest& req);
  absl::StatusOr<v1::ArbiterDecision> Resolve(const v1::ResolveRequest& req);
  const Certificate& certificate() const { return self_.certificate; }
  const std::optional<asw::Party>& escrow() const { return escrow_; }

 private:
  void Decide(const asw::ArbiterRequest& r, Done done);
  // The escrowed document of me1, decrypted and checked against H(D).
  absl::StatusOr<std::string> OpenEscrow(const v1::Me1Body& me1) const;
  struct Pending {
    std::string key_hex;
    bool resolve = false;
    v1::SignedBody token;
    std::string affidavit, affidavit_signature;
    std::function<void(absl::StatusOr<v1::ArbiterDecision>)> done;
  };
  void Loop();
  void Record(std::vector<Pending>& group);
  db::ConnectionPool* pool_;
  asw::Party self_;
  std::optional<asw::Party> escrow_;
  // The arbiter's issuers (its signatures carry them).
  std::vector<Certificate> intermediates_;
  // The parties' certificates must chain to the roots for signing (results kept a minute).
  VerifiedCertificates parties_;
  absl::Mutex queue_mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::vector<std::thread> committers_;
};

}  // namespace semper::arbiter
