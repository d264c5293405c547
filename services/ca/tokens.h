// Anonymous one-use tokens (semper.v1.Credentials, token part): kinds of token with one RSA-2048
// key each, blind issuance (RFC 9474) for the kind's issuer, redemption against a spent set in
// PostgreSQL, and signed clearing statements per issuer and acceptor.
//
// A redemption is checked (the kind valid now, the RSA-PSS signature over the message) on the
// caller's thread, then decided by the group committer: redemptions that arrive together are
// inserted in one statement (ON CONFLICT DO NOTHING on the kind and the message's hash), so that
// under any number of concurrent redemptions and replicas a token is accepted exactly once, and
// only after the spent entry is committed. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/base/clock.h"
#include "common/base/secret.h"
#include "common/crypto/certificate.h"
#include "common/crypto/cms_signer.h"
#include "common/crypto/keys.h"
#include "common/db/group_commit.h"
#include "common/db/pool.h"
#include "semper/v1/privacy.pb.h"
#include "services/ca/store.h"

namespace semper::ca {

class TokenBook {
 public:
  struct Deps {
    db::ConnectionPool* pool = nullptr;
    CaStore* store = nullptr;
    const TrustStore* trust = nullptr;
    // Signs token kinds and clearing statements (the CA's statement-signing certificate).
    std::shared_ptr<const CmsDetachedSigner> signer;
    // Encrypts the kinds' private keys at rest (the CA key passphrase).
    const SecretData* passphrase = nullptr;
    // Redemptions are decided in groups.
    db::GroupCommitOptions group_commit = {"ca_token_redemptions", 1000, 2, nullptr};
    Clock clock = SystemClock();
  };
  explicit TokenBook(Deps deps);
  ~TokenBook();
  static std::vector<db::PreparedStatement> Statements();

  absl::StatusOr<v1::TokenKind> CreateKind(const v1::CreateTokenKindRequest& req);
  absl::StatusOr<v1::TokenKind> GetKind(const std::string& id);
  absl::StatusOr<v1::IssueBlindTokenResponse> IssueBlind(const v1::IssueBlindTokenRequest& req);

  using Done = std::function<void(absl::StatusOr<v1::RedeemTokenResponse>)>;
  // `acceptor`: the accepting organisation's subscriber id.
  void Redeem(const v1::RedeemTokenRequest& req, const std::string& acceptor, Done done);
  absl::StatusOr<v1::RedeemTokenResponse> Redeem(const v1::RedeemTokenRequest& req, const std::string& acceptor);

  // Clearing statements and the redemptions they count are ordered by a PostgreSQL advisory
  // lock (kClearingLock): every redemption's transaction holds it shared, a statement waits for
  // it exclusively, then reads the clock. A redemption dated before a signed statement's end is
  // therefore committed before the statement is made, and one committed after is dated after.
  // Per issuer and acceptor over a period that has ended: the tokens and the named credentials
  // the acceptor redeemed, signed by the CA.
  absl::StatusOr<v1::GetClearingStatementResponse> Clearing(const v1::GetClearingStatementRequest& req);

 private:
  struct Kind {
    v1::TokenKind record;
    PublicKey public_key;
    std::string private_pem;
    absl::Time valid_from, valid_until;
  };
  absl::StatusOr<std::shared_ptr<const Kind>> LoadKind(const std::string& id);
  absl::StatusOr<PrivateKey> KindKey(const Kind& kind);

  struct Pending {
    std::string kind_id, message_sha256, acceptor;
    std::string reference;        // the acceptor's own, for its retries; may be empty
    absl::Time kind_valid_until;  // checked again at the time the redemption is dated
  };
  // Decides a group of redemptions (the group committer's commit function).
  absl::Status Decide(std::vector<Pending>& group, std::vector<absl::StatusOr<v1::RedeemTokenResponse>>& results);

  Deps d_;
  // Token kinds' RSA keys (~0.2 s of CPU each) are made one at a time, with at most
  // kMaxKeygenWaiting calls waiting: a flood of CreateTokenKind takes one core, not all.
  static constexpr int kMaxKeygenWaiting = 4;
  absl::Mutex keygen_mu_;
  int keygen_waiting_ ABSL_GUARDED_BY(keygen_mu_) = 0;
  absl::Mutex keygen_run_mu_;
  // Signed requests whose kind is being made in this process (keyed as token_kinds.request_sha256):
  // a copy sent meanwhile is told to come back for it instead of making a second key and being
  // charged to the organisation again.
  absl::flat_hash_set<std::string> making_ ABSL_GUARDED_BY(keygen_mu_);
  absl::Mutex kinds_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const Kind>> kinds_ ABSL_GUARDED_BY(kinds_mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<const PrivateKey>> keys_ ABSL_GUARDED_BY(kinds_mu_);
  // Last: stopped (what it holds decided) before the rest goes.
  std::unique_ptr<db::GroupCommitter<Pending, absl::StatusOr<v1::RedeemTokenResponse>>> committer_;
};

}  // namespace semper::ca
