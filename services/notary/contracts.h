// Multi-party contract signing at the notary: who must sign, signatures and declines checked
// against the contract (its id and the hash of its bytes) and the signers' certificates, and one final decision
// (completed with every signature and a time-stamp, or aborted) taken under a row lock, so that
// concurrent requests and replicas all see the same outcome. The decision's statement is signed
// and stored with it, then appended to the evidence log. Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/base/clock.h"
#include "common/crypto/certificate.h"
#include "common/db/pool.h"
#include "common/notary/evidence.h"
#include "semper/v1/notary.pb.h"
#include "services/notary/log.h"

namespace semper::notary {

class StatementSigner;

// Who asks, by its TLS client certificate (both empty without one).
struct Caller {
  std::string party;               // PartyOf the certificate
  std::string certificate_sha256;  // of its DER
  // Whether the caller is the party with this subject and certificate: a subscriber by any
  // certificate of the same subscriber (serialNumber), a pseudonym by that very certificate.
  bool Is(const std::string& subject, const std::string& certificate_sha256) const;
};

class ContractBook {
 public:
  struct Deps {
    db::ConnectionPool* pool = nullptr;
    EvidenceLog* log = nullptr;
    const StatementSigner* signer = nullptr;
    const TrustStore* trust = nullptr;
    std::vector<Certificate> intermediates;  // the suite's issuing CA(s), for bare signer certificates
    // OK when semper-ca says the certificate is good now.
    std::function<absl::Status(const Certificate&)> check_status;
    // semper-tsa's token over a SHA-256 digest.
    std::function<absl::StatusOr<std::string>(std::string_view sha256)> time_stamp;
    Clock clock = SystemClock();
    size_t max_contract_bytes = 16 << 20;
  };
  explicit ContractBook(Deps deps) : d_(std::move(deps)) {}
  static std::vector<db::PreparedStatement> Statements();

  absl::StatusOr<v1::NotarizedContract> Create(const v1::CreateContractRequest& req);
  // A repeated signature reads the contract only when its signer asks as itself (`caller`).
  absl::StatusOr<v1::NotarizedContract> Sign(const std::string& id, const std::string& signature, const Caller& caller);
  absl::StatusOr<v1::NotarizedContract> Decline(const std::string& id, const std::string& reason,
                                                const std::string& signature);
  // For a signer only (`caller` as for TextFor). Decides an open contract whose deadline passed
  // (abort) before answering.
  absl::StatusOr<v1::NotarizedContract> Get(const std::string& id, const Caller& caller);
  absl::StatusOr<std::string> Text(const std::string& id);
  // The text for a caller: only a party (PartyOf its TLS certificate) that the contract names as
  // a signer; UNAUTHENTICATED without one, PERMISSION_DENIED for anyone else and for an id that
  // does not exist.
  absl::StatusOr<std::string> TextFor(const std::string& id, const Caller& caller);

 private:
  struct Decision;
  absl::StatusOr<v1::NotarizedContract> Load(const std::string& id, bool with_outcome);
  // Runs `change` on the locked contract (true when it decided it); aborts an open contract
  // first if its deadline passed.
  absl::StatusOr<v1::NotarizedContract> Decide(
      const std::string& id,
      const std::function<absl::StatusOr<bool>(pqxx::work&, const v1::NotarizedContract&)>& change);
  absl::Status StoreOutcome(pqxx::work& tx, const std::string& id, const std::string& kind,
                            const google::protobuf::Message& statement);
  absl::Status AppendOutcome(const std::string& id);
  absl::Status CheckSigner(const std::string& id, const Caller& caller, std::string_view what);
  // OK when `cert` is one the contract names as a signer; the same refusal for an id not in use.
  absl::Status RequireNamed(const std::string& id, const Certificate& cert);
  absl::StatusOr<Certificate> VerifySigner(std::string_view signature, std::string_view content);

  Deps d_;
};

}  // namespace semper::notary
