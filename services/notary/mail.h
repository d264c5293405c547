// Certified mail at the notary (see notary.proto): deposit with evidence of submission, release
// of the message only against the recipient's signed receipt, and one decision between delivery
// and non-delivery under a row lock. Thread-safe.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/base/clock.h"
#include "common/crypto/certificate.h"
#include "common/db/pool.h"
#include "semper/v1/notary.pb.h"
#include "services/notary/log.h"

namespace semper::notary {

class StatementSigner;

class MailRoom {
 public:
  struct Deps {
    db::ConnectionPool* pool = nullptr;
    EvidenceLog* log = nullptr;
    const StatementSigner* signer = nullptr;
    const TrustStore* trust = nullptr;
    std::vector<Certificate> intermediates;
    std::function<absl::Status(const Certificate&)> check_status;
    std::function<absl::StatusOr<std::string>(std::string_view sha256)> time_stamp;
    Clock clock = SystemClock();
    size_t max_message_bytes = 16 << 20;
    // The largest answer the notary may send (grpc.max_message_bytes).
    size_t max_answer_bytes = 32 << 20;
  };
  explicit MailRoom(Deps deps) : d_(std::move(deps)) {}
  static std::vector<db::PreparedStatement> Statements();

  absl::StatusOr<v1::CertifiedMail> Deposit(const v1::DepositMailRequest& req);
  // For the sender or the recipient only (`caller_party`: PartyOf the caller's TLS certificate,
  // empty without one). Declares non-delivery first if the deadline passed.
  absl::StatusOr<v1::CertifiedMail> Get(const std::string& id, const std::string& caller_party);
  // `caller_party` as for Get: a receipt presented again reads the mail only when the recipient
  // asks as itself.
  absl::StatusOr<v1::AcceptedMail> Accept(const std::string& id, const std::string& receipt_signature,
                                          const std::string& caller_party);

 private:
  absl::StatusOr<v1::CertifiedMail> Load(const std::string& id, std::string* recipient_subscriber = nullptr);
  absl::Status AppendPending(const std::string& id);
  absl::Status CheckParty(const std::string& id, const std::string& caller_party);

  Deps d_;
};

}  // namespace semper::notary
