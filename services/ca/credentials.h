// Named credentials (semper.v1.Credentials, credential part): a credential an enterprise issues
// to a holder's key (a pass, ticket, membership or voucher, with a number of uses), and its
// redemption by an accepting organisation against a fresh presentation by the holder, uses taken
// atomically (a conditional UPDATE of the credential's row in the transaction that records the
// use). Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/base/clock.h"
#include "common/crypto/certificate.h"
#include "common/crypto/cms_signer.h"
#include "common/db/pool.h"
#include "semper/v1/privacy.pb.h"
#include "services/ca/store.h"

namespace semper::ca {

// The active enterprise subscriber whose signature certificate (good now at this CA) signed
// `bytes`: who may create token kinds and issue credentials.
absl::StatusOr<v1::Subscriber> SigningEnterprise(const TrustStore& trust, CaStore& store, const std::string& bytes,
                                                 const std::string& signature, absl::Time now);

class NamedCredentials {
 public:
  struct Deps {
    db::ConnectionPool* pool = nullptr;
    CaStore* store = nullptr;
    const TrustStore* trust = nullptr;
    // Signs the credentials (the CA's statement-signing certificate).
    std::shared_ptr<const CmsDetachedSigner> signer;
    Clock clock = SystemClock();
  };
  explicit NamedCredentials(Deps deps) : d_(std::move(deps)) {}
  static std::vector<db::PreparedStatement> Statements();

  absl::StatusOr<v1::Credential> Issue(const v1::IssueCredentialRequest& req);
  absl::StatusOr<v1::Credential> Get(const std::string& id);
  // `acceptor`: the accepting organisation's subscriber id.
  absl::StatusOr<v1::RedeemCredentialResponse> Redeem(const v1::RedeemCredentialRequest& req,
                                                      const std::string& acceptor);

 private:
  Deps d_;
};

}  // namespace semper::ca
