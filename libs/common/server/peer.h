// Who is calling: the client certificate that mutual TLS verified, and the suite roles it
// carries as subject OU values "semper-role:<role>" (see common/crypto/oids.h). Thread-safe.
#pragma once

#include <grpcpp/server_context.h>

#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/certificate.h"

namespace semper {

enum class Role {
  kAdministrator,
  kRegistrationOfficer,
  kSubscriber,
  kPseudonymHolder,
  kService,
  kArbitrator,  // a human arbitrator of semper-arbiter's disputes
};

std::string_view RoleName(Role role);  // "administrator", "registration-officer", ...
std::optional<Role> ParseRole(std::string_view name);

struct Peer {
  // The transport address ("ipv4:127.0.0.1:5555").
  std::string address;
  // Set when the caller presented a certificate that the server's TLS layer verified.
  std::optional<Certificate> certificate;
  std::set<Role> roles;

  bool authenticated() const { return certificate.has_value(); }
  bool Has(Role role) const { return roles.count(role) != 0; }
  std::string subject() const { return certificate ? certificate->Subject() : std::string(); }
};

// The party a certificate stands for: "subscriber:<id>" with the subject's serialNumber (the
// same in a subscriber's authentication and signature certificates), or for a certificate
// without one (a pseudonym) "certificate:<issuer>#<serial>": the certificate itself, since a
// pseudonym's name can be issued again to someone else once it expired or was revoked or held.
// A TLS identity acts for the party it names.
std::string PartyOf(const Certificate& cert);
// The same from a subject as Certificate::Subject() prints it (RFC 2253), e.g. a verdict's
// claimant or a contract's signer: "subscriber:<id>", or "subject:<subject>" for a subject without
// serialNumber, which matches no PartyOf (pseudonymous parties are not recognised by name).
std::string PartyOfSubject(std::string_view subject);
// Whether a subject a statement names is the party of `cert`: a subscriber by its id, a pseudonym
// (no serialNumber) by its very subject.
bool SubjectNamesParty(std::string_view subject, const Certificate& cert);

// The subject attributes that grant `roles`, for the CA to put into certificates.
std::vector<std::pair<std::string, std::string>> RoleSubjectAttributes(const std::vector<Role>& roles);
// Roles granted by a certificate; unknown role names are ignored.
std::set<Role> RolesOf(const Certificate& cert);

// A client certificate (PEM, as the TLS layer verified it), parsed once per distinct PEM (OpenSSL
// 3.0's decoder costs ~100 µs; a client sends the same certificate on every call), and its roles.
struct KnownCertificate {
  Certificate certificate;
  std::set<Role> roles;
  std::string serial_hex;  // for revocation checks, computed once
  std::string subject;     // for refusals, computed once
};
absl::StatusOr<KnownCertificate> KnownCertificateOf(const std::string& pem);

// Reads the verified client certificate (if any) from the call's auth context.
absl::StatusOr<Peer> PeerOf(const grpc::ServerContextBase& context);

// UNAUTHENTICATED without a certificate; PERMISSION_DENIED unless the peer has one of `roles`.
absl::Status RequireAnyRole(const Peer& peer, std::initializer_list<Role> roles);

}  // namespace semper
