// CA key ceremony, loading, and subscriber profiles.
#include "services/ca/pki.h"

#include <sys/stat.h>

#include "common/base/files.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/oids.h"
#include "common/server/peer.h"
#include "services/ca/revocation.h"

namespace semper::ca {
namespace {

namespace fs = std::filesystem;

// Writes one file of the new PKI (creating its directory) and lists it for the operator.
absl::Status WriteFile(const fs::path& path, const std::string& content, mode_t mode,
                       std::vector<std::string>& written) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  SEMPER_RETURN_IF_ERROR(semper::WriteFile(path, content, mode));
  written.push_back(path.string());
  return absl::OkStatus();
}

struct Issued {
  PrivateKey key;
  Certificate cert;
};

absl::StatusOr<Issued> IssueService(const CertificateTemplate& tmpl, const Certificate& ca, const PrivateKey& ca_key) {
  SEMPER_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  SEMPER_ASSIGN_OR_RETURN(Certificate cert, IssueCertificate(tmpl, key.public_key(), &ca, ca_key));
  return Issued{key, cert};
}

}  // namespace

std::string_view ProfileName(SubscriberProfile profile) {
  return profile == SubscriberProfile::kAuthentication ? "authentication" : "signature";
}

absl::StatusOr<int64_t> RenewRootCrl(const fs::path& dir, const SecretData& passphrase, absl::Duration validity) {
  if (validity < absl::Hours(1) || validity > absl::Hours(24 * 400)) {
    return InvalidField("validity", "must be between one hour and 400 days");
  }
  SEMPER_ASSIGN_OR_RETURN(std::string root_pem, ReadFile(dir / "root.pem"));
  SEMPER_ASSIGN_OR_RETURN(Certificate root, Certificate::FromPem(root_pem));
  SEMPER_ASSIGN_OR_RETURN(std::string key_pem, ReadFile(dir / "root.key"));
  SEMPER_ASSIGN_OR_RETURN(PrivateKey root_key, PrivateKey::FromPem(key_pem, passphrase));
  SEMPER_ASSIGN_OR_RETURN(std::string current, ReadFile(dir / "root.crl"));
  SEMPER_ASSIGN_OR_RETURN(int64_t number, CrlNumber(current));
  int64_t next = number + 1;
  SEMPER_ASSIGN_OR_RETURN(std::vector<RevokedEntry> entries, CrlEntries(current));  // kept as they are
  absl::Time now = absl::Now();
  SEMPER_ASSIGN_OR_RETURN(std::string der, BuildCrl(root, root_key, entries, next, std::nullopt, now, now + validity));
  // Written beside and renamed over, so that a daemon never serves half a file.
  SEMPER_RETURN_IF_ERROR(semper::WriteFile(dir / "root.crl.new", der, 0644));
  std::error_code ec;
  fs::rename(dir / "root.crl.new", dir / "root.crl", ec);
  if (ec)
    return MakeError(absl::StatusCode::kPermissionDenied, v1::INTERNAL_ERROR,
                     StrCat("replacing root.crl: ", ec.message()));
  return next;
}

absl::StatusOr<InitResult> InitPki(const InitOptions& o, const SecretData& passphrase) {
  std::error_code ec;
  if (fs::exists(o.dir / "ca.key", ec) || fs::exists(o.dir / "root.pem", ec)) {
    return MakeError(absl::StatusCode::kAlreadyExists, v1::ALREADY_EXISTS,
                     StrCat(o.dir.string(), " already holds a CA; init never overwrites one"));
  }
  if (passphrase.size() < 12) return InvalidField("passphrase", "must be at least 12 characters for CA keys");
  fs::create_directories(o.dir, ec);
  ::chmod(o.dir.c_str(), 0700);
  InitResult result;
  absl::Time now = absl::Now() - absl::Minutes(5);

  SEMPER_ASSIGN_OR_RETURN(PrivateKey root_key, PrivateKey::Generate(KeyType::kEcP256));
  CertificateTemplate rt;
  rt.subject = {{"C", o.country}, {"O", o.organization}, {"CN", StrCat(o.organization, " Root CA")}};
  rt.not_before = now;
  rt.not_after = now + o.root_validity;
  rt.is_ca = true;
  rt.key_usage = kKuKeyCertSign | kKuCrlSign;
  SEMPER_ASSIGN_OR_RETURN(Certificate root, IssueCertificate(rt, root_key.public_key(), nullptr, root_key));

  SEMPER_ASSIGN_OR_RETURN(PrivateKey ca_key, PrivateKey::Generate(KeyType::kEcP256));
  CertificateTemplate ct;
  ct.subject = {{"C", o.country}, {"O", o.organization}, {"CN", StrCat(o.organization, " Issuing CA")}};
  ct.not_before = now;
  ct.not_after = now + o.ca_validity;
  ct.is_ca = true;
  ct.path_length = 0;
  ct.key_usage = kKuKeyCertSign | kKuCrlSign;
  SEMPER_ASSIGN_OR_RETURN(Certificate ca, IssueCertificate(ct, ca_key.public_key(), &root, root_key));

  auto& files = result.files;
  auto write_key = [&](const fs::path& p, const PrivateKey& k) -> absl::Status {
    SEMPER_ASSIGN_OR_RETURN(std::string pem, k.ToEncryptedPem(passphrase));
    return WriteFile(p, pem, 0600, files);
  };
  SEMPER_RETURN_IF_ERROR(WriteFile(o.dir / "root.pem", root.Pem(), 0644, files));
  SEMPER_RETURN_IF_ERROR(write_key(o.dir / "root.key", root_key));
  SEMPER_RETURN_IF_ERROR(WriteFile(o.dir / "ca.pem", ca.Pem(), 0644, files));
  SEMPER_RETURN_IF_ERROR(write_key(o.dir / "ca.key", ca_key));
  SEMPER_RETURN_IF_ERROR(WriteFile(o.dir / "chain.pem", ca.Pem() + root.Pem(), 0644, files));
  {
    // The shared pseudonym issuer: names the scheme, not the operator behind it.
    SEMPER_ASSIGN_OR_RETURN(PrivateKey pkey, PrivateKey::Generate(KeyType::kEcP256));
    CertificateTemplate pt;
    pt.subject = {{"O", "SEMPER"}, {"CN", "SEMPER Pseudonym Issuer"}};
    pt.not_before = now;
    pt.not_after = now + o.ca_validity;
    pt.is_ca = true;
    pt.path_length = 0;
    pt.key_usage = kKuKeyCertSign | kKuCrlSign;
    SEMPER_ASSIGN_OR_RETURN(Certificate pca, IssueCertificate(pt, pkey.public_key(), &root, root_key));
    SEMPER_RETURN_IF_ERROR(WriteFile(o.dir / "pseudonym-ca.pem", pca.Pem(), 0644, files));
    SEMPER_RETURN_IF_ERROR(write_key(o.dir / "pseudonym-ca.key", pkey));
    // What the daemons' TLS servers verify client certificates with (tls.client_ca_file): the
    // root, and the two CAs under it, so that a client presenting its certificate alone (without
    // the issuing CA) still gets through. gRPC verifies with partial chains allowed, so each of the
    // three is a trust anchor by itself: all three are the suite's own, and the CAs sign only what
    // semper-ca issues. Written again from the three whenever the CAs change.
    SEMPER_RETURN_IF_ERROR(WriteFile(o.dir / "client-ca.pem", root.Pem() + ca.Pem() + pca.Pem(), 0644, files));
  }
  // The root's CRL (covering the issuing CA), so that relying parties can check the whole path
  // (openssl verify -crl_check_all). The root key stays offline: re-sign it before next_update.
  SEMPER_ASSIGN_OR_RETURN(std::string root_crl,
                          BuildCrl(root, root_key, {}, 1, std::nullopt, now, now + o.root_crl_validity));
  SEMPER_RETURN_IF_ERROR(WriteFile(o.dir / "root.crl", root_crl, 0644, files));

  auto service_tmpl = [&](const std::string& cn) {
    CertificateTemplate t;
    t.subject = {{"C", o.country}, {"O", o.organization}, {"CN", cn}};
    t.not_before = now;
    t.not_after = now + o.service_validity;
    t.key_usage = kKuDigitalSignature;
    return t;
  };
  auto emit = [&](const std::string& name, const CertificateTemplate& t) -> absl::Status {
    SEMPER_ASSIGN_OR_RETURN(Issued issued, IssueService(t, ca, ca_key));
    SEMPER_RETURN_IF_ERROR(WriteFile(o.dir / "services" / (name + ".pem"), issued.cert.Pem() + ca.Pem(), 0644, files));
    return write_key(o.dir / "services" / (name + ".key"), issued.key);
  };
  for (const std::string daemon : {"ca", "tsa", "notary", "arbiter", "liability"}) {
    CertificateTemplate t = service_tmpl(StrCat("semper-", daemon));
    t.extended_key_usage = {"serverAuth", "clientAuth"};
    t.dns_names = o.hostnames;
    t.dns_names.push_back(StrCat("semper-", daemon));
    t.ip_addresses = o.ip_addresses;
    for (auto& a : RoleSubjectAttributes({Role::kService})) t.subject.insert(t.subject.end() - 1, a);
    SEMPER_RETURN_IF_ERROR(emit(StrCat(daemon, "-tls"), t));
  }
  {
    CertificateTemplate t = service_tmpl("semper-tsa signer");
    t.extended_key_usage = {"timeStamping"};
    t.extended_key_usage_critical = true;
    SEMPER_RETURN_IF_ERROR(emit("tsa-signing", t));
  }
  {
    CertificateTemplate t = service_tmpl("semper-ca OCSP responder");
    t.extended_key_usage = {"OCSPSigning"};
    SEMPER_RETURN_IF_ERROR(emit("ocsp-signing", t));
  }
  for (const std::string daemon : {"notary", "arbiter", "liability"}) {
    CertificateTemplate t = service_tmpl(StrCat("semper-", daemon, " signer"));
    t.key_usage = kKuDigitalSignature | kKuNonRepudiation;
    SEMPER_RETURN_IF_ERROR(emit(StrCat(daemon, "-signing"), t));
  }
  {
    CertificateTemplate t = service_tmpl(o.admin_name);
    t.extended_key_usage = {"clientAuth"};
    for (auto& a : RoleSubjectAttributes({Role::kAdministrator, Role::kRegistrationOfficer})) {
      t.subject.insert(t.subject.end() - 1, a);
    }
    SEMPER_ASSIGN_OR_RETURN(Issued admin, IssueService(t, ca, ca_key));
    SEMPER_RETURN_IF_ERROR(WriteFile(o.dir / "admin" / "admin.pem", admin.cert.Pem() + ca.Pem(), 0644, files));
    SEMPER_RETURN_IF_ERROR(write_key(o.dir / "admin" / "admin.key", admin.key));
  }
  {
    // The key semper-arbiter decrypts document escrows with (certified mail by optimistic fair
    // exchange): key agreement only, apart from its signing key.
    CertificateTemplate t = service_tmpl("semper-arbiter escrow");
    t.key_usage = kKuKeyAgreement;
    SEMPER_RETURN_IF_ERROR(emit("arbiter-escrow", t));
  }
  {
    // A human arbitrator's client certificate for semper-arbiter's DecideCase.
    CertificateTemplate t = service_tmpl(StrCat(o.admin_name, " (arbitrator)"));
    t.extended_key_usage = {"clientAuth"};
    for (auto& a : RoleSubjectAttributes({Role::kArbitrator})) t.subject.insert(t.subject.end() - 1, a);
    SEMPER_ASSIGN_OR_RETURN(Issued arbitrator, IssueService(t, ca, ca_key));
    SEMPER_RETURN_IF_ERROR(
        WriteFile(o.dir / "admin" / "arbitrator.pem", arbitrator.cert.Pem() + ca.Pem(), 0644, files));
    SEMPER_RETURN_IF_ERROR(write_key(o.dir / "admin" / "arbitrator.key", arbitrator.key));
  }
  result.root_fingerprint = root.Fingerprint();
  return result;
}

absl::StatusOr<Pki> Pki::Load(const fs::path& dir, const SigningKeySource& issuing_key,
                              const SigningKeySource& pseudonym_issuer_key) {
  SEMPER_ASSIGN_OR_RETURN(std::string root_pem, ReadFile(dir / "root.pem"));
  SEMPER_ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(dir / "ca.pem"));
  SEMPER_ASSIGN_OR_RETURN(Certificate root, Certificate::FromPem(root_pem));
  SEMPER_ASSIGN_OR_RETURN(Certificate ca, Certificate::FromPem(ca_pem));
  SEMPER_ASSIGN_OR_RETURN(PrivateKey key, LoadSigningKey(issuing_key));
  SEMPER_ASSIGN_OR_RETURN(TrustStore trust, TrustStore::New({root}));
  SEMPER_RETURN_IF_ERROR(trust.VerifyPath(ca, {}, absl::Now(), KeyPurpose::kAny).status());
  if (!ca.public_key()->Equals(key.public_key())) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_KEY, "the CA key does not belong to ca.pem");
  }
  Pki pki(std::move(root), std::move(ca), std::move(key));
  std::error_code ec;
  if (fs::exists(dir / "pseudonym-ca.pem", ec)) {
    SEMPER_ASSIGN_OR_RETURN(std::string ppem, ReadFile(dir / "pseudonym-ca.pem"));
    SEMPER_ASSIGN_OR_RETURN(Certificate pca, Certificate::FromPem(ppem));
    SEMPER_RETURN_IF_ERROR(trust.VerifyPath(pca, {}, absl::Now(), KeyPurpose::kAny).status());
    SEMPER_ASSIGN_OR_RETURN(PrivateKey pkey, LoadSigningKey(pseudonym_issuer_key));
    if (!pca.public_key()->Equals(pkey.public_key())) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_KEY,
                       "pseudonym-ca.key does not belong to pseudonym-ca.pem");
    }
    pki.pseudonym_ca_ = std::move(pca);
    pki.pseudonym_key_ = std::move(pkey);
  }
  return pki;
}

absl::StatusOr<StatementSigner> LoadOrIssueStatementSigner(const fs::path& dir, const Pki& pki,
                                                           const SecretData& passphrase, const SigningKeySource& key) {
  const fs::path pem = dir / "services" / "ca-signing.pem";
  std::error_code ec;
  if (!fs::exists(pem, ec)) {
    CertificateTemplate t;
    t.subject = {{"C", pki.issuing_ca().SubjectAttribute("C").value_or("DE")},
                 {"O", pki.issuing_ca().SubjectAttribute("O").value_or("semper")},
                 {"CN", "semper-ca signer"}};
    t.not_before = absl::Now() - absl::Minutes(5);
    t.not_after = std::min(pki.issuing_ca().not_after(), absl::Now() + absl::Hours(24 * 365 * 2));
    t.key_usage = kKuDigitalSignature | kKuNonRepudiation;
    std::vector<std::string> written;
    if (!key.uri.empty()) {
      SEMPER_ASSIGN_OR_RETURN(PrivateKey in_token, LoadSigningKey(key));
      SEMPER_ASSIGN_OR_RETURN(Certificate cert,
                              IssueCertificate(t, in_token.public_key(), &pki.issuing_ca(), pki.issuing_key()));
      SEMPER_RETURN_IF_ERROR(WriteFile(pem, cert.Pem() + pki.issuing_ca().Pem(), 0644, written));
    } else {
      SEMPER_ASSIGN_OR_RETURN(Issued issued, IssueService(t, pki.issuing_ca(), pki.issuing_key()));
      SEMPER_ASSIGN_OR_RETURN(std::string key_pem, issued.key.ToEncryptedPem(passphrase));
      SEMPER_RETURN_IF_ERROR(WriteFile(key.file, key_pem, 0600, written));
      SEMPER_RETURN_IF_ERROR(WriteFile(pem, issued.cert.Pem() + pki.issuing_ca().Pem(), 0644, written));
    }
  }
  SEMPER_ASSIGN_OR_RETURN(std::string cert_pem, ReadFile(pem));
  SEMPER_ASSIGN_OR_RETURN(std::vector<Certificate> chain, Certificate::ChainFromPem(cert_pem));
  SEMPER_ASSIGN_OR_RETURN(PrivateKey loaded, LoadSigningKey(key));
  if (!chain.front().public_key()->Equals(loaded.public_key())) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_KEY,
                     StrCat(pem.string(), " does not belong to the statement-signing key (",
                            key.uri.empty() ? key.file : key.uri_setting, ")"));
  }
  return StatementSigner{chain.front(), std::move(loaded)};
}

CertificateTemplate SubscriberTemplate(const v1::Subscriber& s, SubscriberProfile profile, KeyType key_type,
                                       absl::Time now, const ProfileOptions& options) {
  CertificateTemplate t;
  t.subject.push_back({"C", s.country()});
  if (s.kind() == v1::CUSTOMER_KIND_ENTERPRISE) t.subject.push_back({"O", s.name()});
  if (!s.vat_reference().empty()) t.subject.push_back({std::string(oids::kOrganizationIdentifier), s.vat_reference()});
  t.subject.push_back({"serialNumber", s.id()});
  t.subject.push_back(
      {std::string(oids::kBusinessCategory), s.kind() == v1::CUSTOMER_KIND_ENTERPRISE ? "enterprise" : "individual"});
  t.subject.push_back({std::string(oids::kJurisdictionCountry), s.applicable_law()});
  if (profile == SubscriberProfile::kAuthentication) {
    for (auto& a : RoleSubjectAttributes({Role::kSubscriber})) t.subject.push_back(a);
  }
  t.subject.push_back({"CN", s.name()});
  t.not_before = now - absl::Minutes(1);
  t.not_after = now + options.validity;
  if (profile == SubscriberProfile::kAuthentication) {
    t.key_usage = kKuDigitalSignature;
    if (key_type == KeyType::kEcP256) t.key_usage |= kKuKeyAgreement;
    if (key_type == KeyType::kRsa) t.key_usage |= kKuKeyEncipherment;
    t.extended_key_usage = {"clientAuth"};
  } else {
    t.key_usage = kKuNonRepudiation;
  }
  if (!options.public_url.empty()) {
    t.crl_urls = {StrCat(options.public_url, "/crl")};
    t.ocsp_url = StrCat(options.public_url, "/ocsp");
  }
  return t;
}

absl::Status CheckRequest(const CertificationRequest& request, const v1::Subscriber& subscriber,
                          std::string_view field) {
  if (auto cn = request.SubjectAttribute("CN"); cn.has_value() && *cn != subscriber.name()) {
    return InvalidField(field, StrCat("the request names \"", *cn, "\" but the subscriber is registered as \"",
                                      subscriber.name(), "\""));
  }
  if (request.public_key().type() == KeyType::kRsa && EVP_PKEY_get_bits(request.public_key().evp()) < 3072) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM,
                     StrCat(field, ": RSA keys must have at least 3072 bits"), {{"field", field}});
  }
  return absl::OkStatus();
}

}  // namespace semper::ca
