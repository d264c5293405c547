// Client identity and roles from the TLS auth context.
#include "common/server/peer.h"

#include <grpc/grpc_security_constants.h>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/oids.h"

namespace semper {
namespace {

constexpr std::pair<Role, std::string_view> kRoleNames[] = {
    {Role::kAdministrator, "administrator"},
    {Role::kRegistrationOfficer, "registration-officer"},
    {Role::kSubscriber, "subscriber"},
    {Role::kPseudonymHolder, "pseudonym-holder"},
    {Role::kService, "service"},
    {Role::kArbitrator, "arbitrator"},
};

}  // namespace

std::string_view RoleName(Role role) {
  for (const auto& [r, name] : kRoleNames) {
    if (r == role) return name;
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (const auto& [r, n] : kRoleNames) {
    if (n == name) return r;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> RoleSubjectAttributes(const std::vector<Role>& roles) {
  std::vector<std::pair<std::string, std::string>> out;
  for (Role r : roles) out.emplace_back("OU", StrCat(oids::kRolePrefix, RoleName(r)));
  return out;
}

std::set<Role> RolesOf(const Certificate& cert) {
  std::set<Role> roles;
  for (const std::string& ou : cert.SubjectAttributes("OU")) {
    if (ou.rfind(oids::kRolePrefix, 0) != 0) continue;
    if (auto r = ParseRole(std::string_view(ou).substr(oids::kRolePrefix.size()))) roles.insert(*r);
  }
  // A pseudonym's certificate (semper-ca puts the pseudonym attribute only into pseudonyms'
  // certificates, which name no subscriber) holds the role pseudonym-holder: it reads what the
  // pseudonym itself did (docs/roles.md).
  if (!cert.SubjectAttributes(oids::kPseudonym).empty() && cert.SubjectAttributes("serialNumber").empty()) {
    roles.insert(Role::kPseudonymHolder);
  }
  return roles;
}

bool SubjectNamesParty(std::string_view subject, const Certificate& cert) {
  const std::string party = PartyOfSubject(subject);
  return party.starts_with("subscriber:") ? party == PartyOf(cert) : subject == cert.Subject();
}

std::string PartyOfSubject(std::string_view subject) {
  // RFC 2253: attributes separated by unescaped commas.
  size_t start = 0;
  for (size_t i = 0; i <= subject.size(); ++i) {
    if (i < subject.size() && subject[i] == '\\') {
      ++i;
      continue;
    }
    if (i == subject.size() || subject[i] == ',') {
      std::string_view rdn = subject.substr(start, i - start);
      if (rdn.substr(0, 13) == "serialNumber=" && rdn.size() > 13) return StrCat("subscriber:", rdn.substr(13));
      start = i + 1;
    }
  }
  return StrCat("subject:", subject);
}

std::string PartyOf(const Certificate& cert) {
  if (auto id = cert.SubjectAttribute("serialNumber"); id.has_value() && !id->empty())
    return StrCat("subscriber:", *id);
  // A pseudonym is its certificate: its name may be taken again by someone else once it expired
  // or was revoked or held.
  return StrCat("certificate:", cert.Issuer(), "#", cert.SerialHex());
}

absl::StatusOr<KnownCertificate> KnownCertificateOf(const std::string& pem) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* parsed = new absl::flat_hash_map<std::string, KnownCertificate>();
  {
    absl::MutexLock lock(&mu);
    if (auto it = parsed->find(pem); it != parsed->end()) return it->second;
  }
  SEMPER_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromPem(pem));
  // The TLS handshake checked the chain and the signature, not whether the key is one anyone
  // could sign for (a certificate from before keys were checked): that is checked here, once.
  SEMPER_ASSIGN_OR_RETURN(PublicKey key, cert.public_key());
  SEMPER_RETURN_IF_ERROR(CheckKeyForCertification(key));
  KnownCertificate known{cert, RolesOf(cert), cert.SerialHex(), cert.Subject()};
  absl::MutexLock lock(&mu);
  if (parsed->size() >= 10000) parsed->clear();
  parsed->emplace(pem, known);
  return known;
}

absl::StatusOr<Peer> PeerOf(const grpc::ServerContextBase& context) {
  Peer peer;
  peer.address = context.peer();
  auto auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return peer;
  auto pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) return peer;
  // gRPC checked the certificate at the handshake.
  SEMPER_ASSIGN_OR_RETURN(KnownCertificate known,
                          KnownCertificateOf(std::string(pems.front().data(), pems.front().size())));
  peer.certificate = std::move(known.certificate);
  peer.roles = std::move(known.roles);
  return peer;
}

absl::Status RequireAnyRole(const Peer& peer, std::initializer_list<Role> roles) {
  if (!peer.authenticated()) {
    return MakeError(absl::StatusCode::kUnauthenticated, v1::UNAUTHENTICATED,
                     "this call needs a client certificate (mutual TLS)");
  }
  std::string wanted;
  for (Role r : roles) {
    if (peer.Has(r)) return absl::OkStatus();
    StrAppend(&wanted, wanted.empty() ? "" : " or ", RoleName(r));
  }
  return MakeError(
      absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
      StrCat("this call needs the role ", wanted, "; the certificate of \"", peer.subject(), "\" does not grant it"));
}

}  // namespace semper
