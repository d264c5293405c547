// Credentials (semper.v1.Credentials): named credentials bound to a holder's key, with uses
// taken atomically (a conditional UPDATE of the credential's row in the transaction that records
// the use); and anonymous one-use credentials: kinds of token with one
// RSA-2048 key each, blind issuance (RFC 9474) for the kind's issuer, redemption against a spent
// set in PostgreSQL, and signed clearing statements per issuer and acceptor.
//
// A redemption is checked (the kind valid now, the RSA-PSS signature over the message) on the
// caller's thread, then decided by a committer: redemptions that arrive together are inserted in
// one statement (ON CONFLICT DO NOTHING on the kind and the message's hash), so that under any
// number of concurrent redemptions and replicas a token is accepted exactly once, and only after
// the spent entry is committed. Thread-safe.
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

class CredentialBook {
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
  explicit CredentialBook(Deps deps);
  ~CredentialBook();
  static std::vector<db::PreparedStatement> Statements();

  absl::StatusOr<v1::TokenKind> CreateKind(const v1::CreateTokenKindRequest& req);
  absl::StatusOr<v1::TokenKind> GetKind(const std::string& id);
  absl::StatusOr<v1::IssueBlindTokenResponse> IssueBlind(const v1::IssueBlindTokenRequest& req);

  using Done = std::function<void(absl::StatusOr<v1::RedeemTokenResponse>)>;
  // `acceptor`: the accepting organisation's subscriber id.
  void Redeem(const v1::RedeemTokenRequest& req, const std::string& acceptor, Done done);
  absl::StatusOr<v1::RedeemTokenResponse> Redeem(const v1::RedeemTokenRequest& req, const std::string& acceptor);

  absl::StatusOr<v1::GetClearingStatementResponse> Clearing(const v1::GetClearingStatementRequest& req);

  // Named credentials (see privacy.proto).
  absl::StatusOr<v1::Credential> IssueCredential(const v1::IssueCredentialRequest& req);
  absl::StatusOr<v1::Credential> GetCredential(const std::string& id);
  absl::StatusOr<v1::RedeemCredentialResponse> RedeemCredential(const v1::RedeemCredentialRequest& req,
                                                                const std::string& acceptor);

 private:
  struct Kind {
    v1::TokenKind record;
    PublicKey public_key;
    std::string private_pem;
    absl::Time valid_from, valid_until;
  };
  absl::StatusOr<std::shared_ptr<const Kind>> LoadKind(const std::string& id);
  absl::StatusOr<PrivateKey> KindKey(const Kind& kind);
  // The enterprise subscriber whose signature certificate signed `bytes`.
  absl::StatusOr<v1::Subscriber> Issuer(const std::string& bytes, const std::string& signature, absl::Time now);

  struct Pending {
    std::string kind_id, message_sha256, acceptor;
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

#include "semper/v1/privacy.grpc.pb.h"

namespace semper::ca {

// semper.v1.Credentials over gRPC (see privacy.proto for who may call what).
class CredentialServiceImpl final : public v1::Credentials::CallbackService {
 public:
  explicit CredentialServiceImpl(CredentialBook* book) : book_(book) {}
  grpc::ServerUnaryReactor* CreateTokenKind(grpc::CallbackServerContext* ctx, const v1::CreateTokenKindRequest* req,
                                            v1::TokenKind* resp) override;
  grpc::ServerUnaryReactor* GetTokenKind(grpc::CallbackServerContext* ctx, const v1::GetTokenKindRequest* req,
                                         v1::TokenKind* resp) override;
  grpc::ServerUnaryReactor* IssueBlindToken(grpc::CallbackServerContext* ctx, const v1::IssueBlindTokenRequest* req,
                                            v1::IssueBlindTokenResponse* resp) override;
  grpc::ServerUnaryReactor* RedeemToken(grpc::CallbackServerContext* ctx, const v1::RedeemTokenRequest* req,
                                        v1::RedeemTokenResponse* resp) override;
  grpc::ServerUnaryReactor* GetClearingStatement(grpc::CallbackServerContext* ctx,
                                                 const v1::GetClearingStatementRequest* req,
                                                 v1::GetClearingStatementResponse* resp) override;
  grpc::ServerUnaryReactor* IssueCredential(grpc::CallbackServerContext* ctx, const v1::IssueCredentialRequest* req,
                                            v1::Credential* resp) override;
  grpc::ServerUnaryReactor* GetCredential(grpc::CallbackServerContext* ctx, const v1::GetCredentialRequest* req,
                                          v1::Credential* resp) override;
  grpc::ServerUnaryReactor* RedeemCredential(grpc::CallbackServerContext* ctx, const v1::RedeemCredentialRequest* req,
                                             v1::RedeemCredentialResponse* resp) override;

 private:
  CredentialBook* book_;
};

}  // namespace semper::ca
