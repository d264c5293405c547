// semper.v1.Pseudonyms: pseudonym certificates issued on a good certificate of this CA (an
// identity's signature certificate or an earlier pseudonym), for a fresh key, with a link to the
// base sealed to semper-arbiter's escrow certificate; the link is handed out only against a
// reveal order that semper-arbiter signed, and every reveal is logged (append-only).
//
// Unlinkability towards relying parties: the certificate carries only the pseudonym (no
// subscriber number, country or name), a random serial, a key never certified before, and a
// validity that starts on the hour (not at the second of issuance). In the database the link
// exists only sealed, and as an HMAC tag of the base's serial under a key kept outside the
// database, which is how revoking a base for keyCompromise finds the pseudonyms derived from it.
// Thread-safe.
#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "common/base/secret.h"
#include "common/crypto/certificate.h"
#include "common/db/pool.h"
#include "semper/v1/privacy.grpc.pb.h"
#include "services/ca/pki.h"
#include "services/ca/store.h"

namespace semper::ca {

class PseudonymServiceImpl final : public v1::Pseudonyms::CallbackService {
 public:
  struct Options {
    const Pki* pki = nullptr;
    // The suite's root: requests and reveal orders are verified through it.
    const TrustStore* trust = nullptr;
    CaStore* store = nullptr;
    db::ConnectionPool* pool = nullptr;
    ProfileOptions profiles;
    // HMAC key for the derivation tags (ca.link_key_file, 32 random bytes made at first start).
    SecretData link_key;
    // semper-arbiter's escrow certificate (the sealed links are encrypted to it) and signing
    // certificate (reveal orders must carry its signature).
    std::optional<Certificate> escrow;
    std::optional<Certificate> arbiter;
    std::shared_ptr<spdlog::logger> logger;
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };
  explicit PseudonymServiceImpl(Options options);
  static std::vector<db::PreparedStatement> Statements();

  grpc::ServerUnaryReactor* IssuePseudonym(grpc::CallbackServerContext* ctx, const v1::IssuePseudonymRequest* req,
                                           v1::IssuePseudonymResponse* resp) override;
  grpc::ServerUnaryReactor* RevealPseudonym(grpc::CallbackServerContext* ctx, const v1::RevealPseudonymRequest* req,
                                            v1::RevealPseudonymResponse* resp) override;
  grpc::ServerUnaryReactor* GetPseudonymReveals(grpc::CallbackServerContext* ctx,
                                                const v1::GetPseudonymRevealsRequest* req,
                                                v1::GetPseudonymRevealsResponse* resp) override;

  absl::StatusOr<v1::IssuePseudonymResponse> Issue(const v1::IssuePseudonymRequest& req);
  absl::StatusOr<v1::RevealPseudonymResponse> Reveal(const v1::RevealPseudonymRequest& req, const std::string& peer);

 private:
  Options o_;
};

// The derivation tag of a certificate serial under the link key.
std::string LinkTag(const SecretData& link_key, const std::string& serial);

// The link key file: read, or made (32 random bytes, mode 0600) when it does not exist.
absl::StatusOr<SecretData> LoadOrCreateLinkKey(const std::string& path);

}  // namespace semper::ca
