// The suite's role matrix and its enforcement at the TLS layer.
#include "common/server/access.h"

#include <grpc/grpc_security_constants.h>

#include <algorithm>
#include <iterator>

#include "common/base/strings.h"

namespace semper {
namespace {

constexpr Role kAdmin = Role::kAdministrator;
constexpr Role kOfficer = Role::kRegistrationOfficer;
constexpr Role kSubscriber = Role::kSubscriber;
constexpr Role kArbitrator = Role::kArbitrator;
constexpr Role kPseudonym = Role::kPseudonymHolder;

std::vector<AccessRule> MakeMatrix() {
  std::vector<AccessRule> m;
  auto add = [&m](std::string service, std::vector<std::pair<std::string, std::string>> methods,
                  std::vector<Role> roles) {
    for (auto& [method, note] : methods) m.push_back({StrCat("/", service, "/", method), roles, note});
  };
  const std::string ca = "semper.v1.CertificationAuthority";
  add(ca,
      {{"RegisterSubscriber", ""},
       {"GetSubscriber", ""},
       {"ListSubscribers", ""},
       {"UpdateSubscriber", ""},
       {"SetSubscriberState", ""},
       {"IssueEnrolmentCode", ""},
       {"GetSubscriberHistory", ""},
       {"ReleaseHold", ""}},
      {kAdmin, kOfficer});
  add(ca,
      {{"Enroll", "a valid one-time enrolment code"},
       {"GetCaCertificates", "public"},
       {"GetCertificateStatus", "public, as OCSP"}},
      {});
  add(ca, {{"WatchRevocations", "the suite's daemons (the CRL and OCSP are public)"}}, {Role::kService, kAdmin});
  add(ca, {{"RevokeCertificate", "subscribers: only their own certificates"}}, {kAdmin, kOfficer, kSubscriber});
  add(ca, {{"Renew", "its own authentication certificate, good and in its renewal window"}}, {kSubscriber});
  const std::string ps = "semper.v1.Pseudonyms";
  add(ps,
      {{"IssuePseudonym", "signed by the holder's signature certificate or pseudonym"},
       {"RevealPseudonym", "semper-arbiter's signed reveal order"}},
      {});
  add(ps, {{"GetPseudonymReveals", ""}}, {kAdmin, kOfficer});
  const std::string cr = "semper.v1.Credentials";
  add(cr,
      {{"IssueCredential", "signed by the issuing organisation"},
       {"CreateTokenKind", "signed by the issuing organisation"},
       {"IssueBlindToken", "signed by the issuing organisation"},
       {"GetCredential", "the credential's id"},
       {"GetTokenKind", "public: verifiers need the kind's key"}},
      {});
  add(cr,
      {{"RedeemCredential", "the acceptor named in the holder's signed presentation"},
       {"RedeemToken", "the acceptor is the certificate's subscriber"}},
      {kSubscriber});
  add(cr, {{"GetClearingStatement", "subscribers: the issuer or the acceptor it is about"}},
      {kSubscriber, kAdmin, kOfficer});
  add("semper.v1.TimeStamp",
      {{"Stamp", "a presented certificate is recorded as the requester"},
       {"StampBatch", "as Stamp"},
       {"GetTsaCertificates", "public"},
       {"LookupToken", "the token's serial number and the imprint it covers"}},
      {});
  const std::string n = "semper.v1.Notary";
  add(n,
      {{"CertifyDocument", "the document's CMS signature"},
       {"CreateContract", "names the signers by certificate"},
       {"SignContract", "a named signer's CMS signature"},
       {"DeclineContract", "a named signer's CMS signature"},
       {"DepositMail", "the sender's CMS signature"},
       {"AcceptMail", "the recipient's signed receipt"},
       {"GetTreeHead", "public"},
       {"GetEvidence", "public, as leaf hashes: no statement, kind or signature"},
       {"GetConsistencyProof", "public"}},
      {});
  add(n,
      {{"GetContract", "a signer the contract names"},
       {"GetContractText", "a signer the contract names"},
       {"GetMail", "the mail's sender or recipient"}},
      {kSubscriber, kPseudonym});
  add(n, {{"AuditLog", ""}}, {kAdmin});
  const std::string a = "semper.v1.Arbiter";
  add(a,
      {{"Abort", "the originator's signed request"},
       {"Resolve", "a party's signed request"},
       {"ShowStandardContract", "both parties' signatures in the standard contract"},
       {"GetArbiterCertificate", "public"},
       {"FileClaim", "the claimant's CMS signature"},
       {"AnswerClaim", "the respondent's CMS signature"},
       {"GetCase", "the case id (128 random bits)"}},
      {});
  add(a, {{"ListCases", "the party asking, by TLS certificate and signature"}}, {kSubscriber, kPseudonym});
  add(a, {{"DecideCase", "a human arbitrator"}}, {kArbitrator});
  add(a,
      {{"TagPseudonym", "semper-ca, with the holder's fresh signed request"},
       {"DerivePseudonymCascadeKey", "semper-ca, for a certificate it revoked for keyCompromise"}},
      {Role::kService});
  const std::string l = "semper.v1.Liability";
  add(l,
      {{"RegisterAgreement", "signed by the buyer"},
       {"SetAgreementState", "signed by the buyer"},
       {"SettleGuarantee", "the guarantee's seller, or semper-arbiter's verdict between its parties"},
       {"ReleaseGuarantee", "the guarantee's seller, or semper-arbiter's verdict between its parties"},
       {"GetLiability", "signed by the buyer"}},
      {});
  add(l,
      {{"RequestGuarantee", "the seller named in the buyer's signed order"},
       {"GetGuarantee", "the guarantee's seller or buyer"}},
      {kSubscriber});
  add("grpc.health.v1.Health", {{"Check", "gRPC health"}, {"Watch", "gRPC health"}}, {});
  add("grpc.reflection.v1alpha.ServerReflection", {{"ServerReflectionInfo", "gRPC server reflection"}}, {});
  return m;
}

class AccessProcessor : public grpc::AuthMetadataProcessor {
 public:
  AccessProcessor(std::shared_ptr<const AccessPolicy> policy, std::shared_ptr<const RevocationCheck> revocations)
      : policy_(std::move(policy)), revocations_(std::move(revocations)) {}
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    auto path = metadata.find(":path");
    std::string_view method =
        path == metadata.end() ? std::string_view() : std::string_view(path->second.data(), path->second.size());
    const AccessRule* rule = policy_->Find(method);
    const bool open = rule != nullptr && rule->roles.empty();
    const bool presented = context != nullptr && context->IsPeerAuthenticated();
    // Most calls are open to anyone and come without a certificate: nothing more to look at.
    if (open && (!presented || revocations_ == nullptr)) return grpc::Status::OK;
    std::set<Role> roles;
    std::string subject;
    bool authenticated = false;
    if (rule != nullptr && presented) {
      auto pems = context->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
      if (!pems.empty()) {
        auto known = KnownCertificateOf(std::string(pems.front().data(), pems.front().size()));
        if (!known.ok()) {
          return grpc::Status(
              grpc::StatusCode::UNAUTHENTICATED,
              StrCat(kAccessDenialPrefix, "the client certificate is not accepted: ", known.status().message()));
        }
        if (known.ok()) {
          authenticated = true;
          subject = known->subject;
          if (revocations_ != nullptr) {
            grpc::Status refused = CheckRevocation(*known, open);
            if (!refused.ok()) return refused;
          }
          roles = std::move(known->roles);
        }
      }
    }
    if (open) return grpc::Status::OK;
    absl::Status s = policy_->Check(method, authenticated, roles, subject);
    if (s.ok()) return grpc::Status::OK;
    return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
  }

 private:
  grpc::Status CheckRevocation(const KnownCertificate& known, bool open) const {
    auto revoked = revocations_->Revoked(known.serial_hex);
    if (revoked.ok() && *revoked) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          StrCat(kAccessDenialPrefix, "the client certificate of \"", known.subject, "\" (serial ",
                                 known.serial_hex, ") is revoked or on hold"));
    }
    if (!revoked.ok() && !open) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          StrCat(kAccessDenialPrefix, "cannot tell whether the client certificate is revoked (",
                                 revoked.status().message(), "); retry shortly"));
    }
    return grpc::Status::OK;
  }

  std::shared_ptr<const AccessPolicy> policy_;
  std::shared_ptr<const RevocationCheck> revocations_;
};

}  // namespace

const std::vector<AccessRule>& SuiteAccessMatrix() {
  static const auto* matrix = new std::vector<AccessRule>(MakeMatrix());
  return *matrix;
}

std::string RoleMatrixMarkdown(const std::vector<AccessRule>& rules) {
  constexpr Role kColumns[] = {Role::kAdministrator, Role::kRegistrationOfficer,
                               Role::kSubscriber,    Role::kPseudonymHolder,
                               Role::kService,       Role::kArbitrator};
  std::string out = "| RPC | anyone (no certificate) |";
  for (Role r : kColumns) StrAppend(&out, " ", RoleName(r), " |");
  out += " the handler also checks |\n|---|---|";
  for (size_t i = 0; i < std::size(kColumns); ++i) out += "---|";
  out += "---|\n";
  for (const AccessRule& rule : rules) {
    StrAppend(&out, "| `", rule.method, "` | ", rule.roles.empty() ? "yes" : "no", " |");
    for (Role r : kColumns) {
      bool allowed = rule.roles.empty() || std::find(rule.roles.begin(), rule.roles.end(), r) != rule.roles.end();
      StrAppend(&out, " ", allowed ? "yes" : "no", " |");
    }
    StrAppend(&out, " ", rule.note.empty() ? "-" : rule.note, " |\n");
  }
  return out;
}

AccessPolicy::AccessPolicy(const std::vector<AccessRule>& rules) {
  for (const AccessRule& r : rules) rules_[r.method] = r;
}

const AccessRule* AccessPolicy::Find(std::string_view method) const {
  auto it = rules_.find(AbslView(method));
  return it == rules_.end() ? nullptr : &it->second;
}

absl::Status AccessPolicy::Check(std::string_view method, bool authenticated, const std::set<Role>& roles,
                                 std::string_view subject) const {
  const AccessRule* rule = Find(method);
  if (rule == nullptr) {
    // No daemon serves a method the matrix does not list (access_test checks every served one is
    // listed): the standard answer to an unknown method, whoever asks.
    return absl::UnimplementedError(StrCat(kAccessDenialPrefix, "the method ", method.empty() ? "(none)" : method,
                                           " does not exist (it is not in the role matrix)"));
  }
  if (rule->roles.empty()) return absl::OkStatus();
  std::string wanted;
  for (Role r : rule->roles) {
    if (roles.count(r) != 0) return absl::OkStatus();
    StrAppend(&wanted, wanted.empty() ? "" : " or ", RoleName(r));
  }
  if (!authenticated) {
    return absl::UnauthenticatedError(
        StrCat(kAccessDenialPrefix, method, " needs a client certificate with the role ", wanted));
  }
  return absl::PermissionDeniedError(StrCat(kAccessDenialPrefix, method, " needs the role ", wanted,
                                            "; the certificate of \"", subject, "\" does not grant it"));
}

std::shared_ptr<grpc::AuthMetadataProcessor> NewAccessProcessor(std::shared_ptr<const AccessPolicy> policy,
                                                                std::shared_ptr<const RevocationCheck> revocations) {
  return std::make_shared<AccessProcessor>(std::move(policy), std::move(revocations));
}

void DeferredRevocationCheck::Set(std::shared_ptr<const RevocationCheck> check) {
  absl::MutexLock lock(&mu_);
  check_ = std::move(check);
}

absl::StatusOr<bool> DeferredRevocationCheck::Revoked(const std::string& serial) const {
  std::shared_ptr<const RevocationCheck> check;
  {
    absl::MutexLock lock(&mu_);
    check = check_;
  }
  if (check == nullptr) return absl::UnavailableError("the daemon is still starting");
  return check->Revoked(serial);
}

}  // namespace semper
