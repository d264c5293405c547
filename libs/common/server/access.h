// Who may call each RPC of the suite: the role matrix (docs/roles.md is this table, checked by a
// test), enforced for every call in one place, before any handler runs: an
// AuthMetadataProcessor on each daemon's TLS port reads the method from the call's `:path` and
// the roles from the client certificate the TLS layer verified. A method without a row is
// refused (deny by default). Handlers still check what only they can: that a subscriber acts on
// its own records, and the signatures inside requests.
//
// Revocation: with a RevocationCheck (a RevocationWatch following semper-ca's feed), a client
// certificate that is revoked or on hold is refused on every method, also the open ones (its
// holder could otherwise still be recorded as the requester). When the status cannot be known
// (semper-ca not heard from for too long), role-bound methods are refused with UNAVAILABLE and
// open ones go on: time-stamps and public reads do not depend on semper-ca being up.
//
// A refusal is UNAUTHENTICATED (no client certificate, the method needs a role; or the
// certificate is revoked), PERMISSION_DENIED (no row, or none of the roles) or UNAVAILABLE
// (revocation status unknown), with a message that starts "access: "
// gRPC's authentication layer carries no status details, so these two have no ErrorInfo.
#pragma once

#include <grpcpp/security/auth_metadata_processor.h>

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/server/peer.h"

namespace semper {

// What the gate knows about revoked client certificates. Must not block: it is asked on gRPC's
// own threads for every call that presents a certificate.
class RevocationCheck {
 public:
  virtual ~RevocationCheck() = default;
  // Whether the certificate with this serial (lower-case hex, as Certificate::SerialHex) is
  // revoked or on hold now; an error when that is not known.
  virtual absl::StatusOr<bool> Revoked(const std::string& serial) const = 0;
};

// A check that is set after the server started (semper-ca follows its own feed through an
// in-process channel); until then every status is unknown.
class DeferredRevocationCheck : public RevocationCheck {
 public:
  void Set(std::shared_ptr<const RevocationCheck> check);
  absl::StatusOr<bool> Revoked(const std::string& serial) const override;

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const RevocationCheck> check_ ABSL_GUARDED_BY(mu_);
};

struct AccessRule {
  std::string method;       // "/semper.v1.Notary/AuditLog"
  std::vector<Role> roles;  // any one of them suffices; empty: anyone, no certificate needed
  std::string note;         // what else the handler checks (signatures, ownership), for the docs
};

// Every RPC the suite serves (the five daemons, gRPC health and server reflection).
const std::vector<AccessRule>& SuiteAccessMatrix();

// The matrix as the Markdown table docs/roles.md carries (a test keeps the two equal).
std::string RoleMatrixMarkdown(const std::vector<AccessRule>& rules);

// The prefix of every refusal's message.
inline constexpr std::string_view kAccessDenialPrefix = "access: ";

class AccessPolicy {
 public:
  explicit AccessPolicy(const std::vector<AccessRule>& rules);
  // nullptr when the method has no row.
  const AccessRule* Find(std::string_view method) const;
  // OK, or the refusal. `subject` names the certificate in the message.
  absl::Status Check(std::string_view method, bool authenticated, const std::set<Role>& roles,
                     std::string_view subject) const;

 private:
  absl::flat_hash_map<std::string, AccessRule> rules_;
};

// The processor to set on a daemon's TLS ServerCredentials. Runs on gRPC's own threads, without
// blocking; client certificates are parsed once each (PeerOf's cache). `revocations` may be null
// (revocation not checked at the gate).
std::shared_ptr<grpc::AuthMetadataProcessor> NewAccessProcessor(std::shared_ptr<const AccessPolicy> policy,
                                                                std::shared_ptr<const RevocationCheck> revocations);

}  // namespace semper
