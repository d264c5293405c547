// semper-ca: `init` creates the PKI of a new deployment; `serve` runs the registration and
// certification authority.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "common/base/config.h"
#include "common/base/files.h"
#include "common/base/log.h"
#include "common/base/periodic.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/server/daemon.h"
#include "common/server/revocation_watch.h"
#include "common/server/server.h"
#include "common/server/signing_key.h"
#include "services/ca/credential_service.h"
#include "services/ca/http_routes.h"
#include "services/ca/pki.h"
#include "services/ca/pseudonym_service.h"
#include "services/ca/revocation.h"
#include "services/ca/service.h"
#include "services/ca/store.h"

namespace semper {
std::vector<db::Migration> ca_migrations();
}

namespace semper::ca {
namespace {

std::vector<ConfigKey> Schema() {
  std::vector<ConfigKey> keys = ServerConfigKeys(7000, 7001);
  using T = ConfigType;
  for (auto& k : DatabaseConfigKeys(8)) keys.push_back(std::move(k));
  keys.push_back({"ca.dir", T::kString, std::nullopt, true, false, "directory written by semper-ca init"});
  keys.push_back(
      {"ca.key_passphrase_file", T::kString, std::nullopt, true, false, "file holding the CA key passphrase"});
  keys.push_back({"ca.key_uri", T::kString, std::nullopt, false, false,
                  "pkcs11: URI of the issuing CA key in a token (instead of <ca.dir>/ca.key)"});
  keys.push_back({"ca.pkcs11_module", T::kString, ConfigValue(std::string("/usr/lib/softhsm/libsofthsm2.so")), false,
                  false, "PKCS#11 module of the token"});
  keys.push_back({"ca.pkcs11_pin_file", T::kString, std::nullopt, false, false, "file holding the token PIN"});
  keys.push_back({"ca.pseudonym_key_uri", T::kString, std::nullopt, false, false,
                  "pkcs11: URI of the pseudonym issuer's key (instead of <ca.dir>/pseudonym-ca.key)"});
  keys.push_back({"ca.ocsp_key_uri", T::kString, std::nullopt, false, false,
                  "pkcs11: URI of the OCSP responder's key (instead of ca.ocsp_key_file)"});
  keys.push_back({"ca.statement_key_uri", T::kString, std::nullopt, false, false,
                  "pkcs11: URI of the statement-signing key (token kinds, clearing statements; instead of "
                  "<ca.dir>/services/ca-signing.key; its certificate is issued at first start when missing)"});
  keys.push_back({"ca.public_url", T::kString, ConfigValue(std::string("http://localhost:7001")), false, false,
                  "base URL of the CRL and OCSP endpoints, written into certificates"});
  keys.push_back({"ca.subscriber_validity", T::kDuration, ConfigValue(absl::Hours(24 * 365 * 2)), false, false,
                  "lifetime of subscriber certificates"});
  keys.push_back({"ca.renewal_window", T::kDuration, ConfigValue(absl::ZeroDuration()), false, false,
                  "a subscriber may renew its certificates this long before they end (semperctl renew); 0: once "
                  "two thirds of their validity have passed"});
  keys.push_back({"ca.ocsp_cert_file", T::kString, std::nullopt, false, false,
                  "OCSP responder certificate (default <ca.dir>/services/ocsp-signing.pem)"});
  keys.push_back({"ca.ocsp_key_file", T::kString, std::nullopt, false, false,
                  "its key, encrypted with the CA passphrase (default <ca.dir>/services/ocsp-signing.key)"});
  keys.push_back({"ca.ocsp_validity", T::kDuration, ConfigValue(absl::Hours(1)), false, false,
                  "how long an OCSP response stays valid (nextUpdate)"});
  keys.push_back({"ca.ocsp_cache_ttl", T::kDuration, ConfigValue(absl::Seconds(5)), false, false,
                  "how long a signed response to a nonce-less OCSP request is reused (0 disables); every "
                  "replica clears its cache within 0.1 s of a status change at any (the revocation feed)"});
  keys.push_back({"ca.link_key_file", T::kString, std::nullopt, false, false,
                  "HMAC key of the pseudonym tags of scheme 1 (pseudonyms issued before 2026-12-06; made at first "
                  "start; default <ca.dir>/pseudonym-link.key); keep it out of database backups"});
  keys.push_back({"ca.arbiter_address", T::kString, ConfigValue(std::string("localhost:7030")), false, false,
                  "semper-arbiter's gRPC address: it derives the keys pseudonyms are tagged with for the "
                  "keyCompromise cascade (needed to issue pseudonyms and to revoke them with their base)"});
  keys.push_back({"ca.upstream_server_name", T::kString, ConfigValue(std::string("")), false, false,
                  "TLS name to expect from semper-arbiter, if not the host of its address"});
  keys.push_back({"ca.escrow_cert_file", T::kString, std::nullopt, false, false,
                  "semper-arbiter's escrow certificate: pseudonym links are sealed to it "
                  "(default <ca.dir>/services/arbiter-escrow.pem)"});
  keys.push_back({"ca.arbiter_cert_file", T::kString, std::nullopt, false, false,
                  "semper-arbiter's signing certificate: reveal orders must carry its signature "
                  "(default <ca.dir>/services/arbiter-signing.pem)"});
  keys.push_back({"ca.crl_interval", T::kDuration, ConfigValue(absl::Hours(1)), false, false,
                  "how often a new base CRL is issued (once across replicas; 1s to 6h, as CRLs are valid 24 h)"});
  keys.push_back({"ca.revocation_feed_page", T::kInt, ConfigValue(int64_t{100000}), false, false,
                  "status changes read per query of the revocation feed (WatchRevocations): a new watcher's "
                  "snapshot takes as many pages as the history needs; each costs ~100 bytes per change in memory"});
  for (auto& k : GroupCommitConfigKeys("ca", "token redemptions", 1000)) keys.push_back(std::move(k));
  return keys;
}

// Sleeps for `d` unless SIGTERM/SIGINT arrives first (they are blocked; see BlockTerminationSignals).
int RootCrl(const std::string& dir, const std::string& passphrase_file, int days) {
  auto passphrase = SecretData::FromFile(passphrase_file);
  auto number = passphrase.ok() ? RenewRootCrl(dir, *passphrase, absl::Hours(24) * days) : passphrase.status();
  if (!number.ok()) {
    std::fprintf(stderr, "semper-ca root-crl: %s\n", std::string(number.status().message()).c_str());
    return 1;
  }
  std::printf("Re-signed %s/root.crl: CRL number %lld, valid for %d days. Running daemons serve it at once.\n",
              dir.c_str(), static_cast<long long>(*number), days);
  return 0;
}

int Init(const InitOptions& options, const std::string& passphrase_file) {
  auto passphrase = SecretData::FromFile(passphrase_file);
  if (!passphrase.ok()) {
    std::fprintf(stderr, "semper-ca init: %s\n", std::string(passphrase.status().message()).c_str());
    return 2;
  }
  auto result = InitPki(options, *passphrase);
  if (!result.ok()) {
    std::fprintf(stderr, "semper-ca init: %s\n", std::string(result.status().message()).c_str());
    return result.status().code() == absl::StatusCode::kAlreadyExists ? 3 : 1;
  }
  std::printf("Created a new semper PKI in %s\n", options.dir.c_str());
  std::printf("Root CA SHA-256 fingerprint: %s\n", result->root_fingerprint.c_str());
  std::printf("Distribute root.pem (and check this fingerprint) to everyone who must trust the suite.\n");
  std::printf("Files:\n");
  for (const auto& f : result->files) std::printf("  %s\n", f.c_str());
  return 0;
}

int Serve(const std::optional<std::string>& config_file) {
  auto daemon = LoadDaemon(config_file, Schema(), "semper-ca");
  if (!daemon) return 2;
  const Config* config = &daemon->config;
  ServerOptions* options = &daemon->options;
  auto log = daemon->log;
  auto fail = [&daemon](std::string_view step, const absl::Status& s) { return daemon->Fail(step, s); };

  auto passphrase = SecretData::FromFile(config->GetString("ca.key_passphrase_file"));
  if (!passphrase.ok()) return fail("ca.key_passphrase_file", passphrase.status());
  const std::string dir = config->GetString("ca.dir");
  // Each of the CA's four signing keys is a file encrypted with the CA passphrase, or a key in a
  // PKCS#11 token (one PIN, one module), loaded like every daemon's signing key.
  // `in_dir`: the key file's name under ca.dir when `file_setting` is not set.
  auto key_source = [&](const std::string& uri_setting, const std::string& file_setting, const std::string& in_dir) {
    const std::string default_file = dir + "/" + in_dir;
    const bool file_set = !file_setting.empty() && config->Has(file_setting);
    SigningKeySource source;
    source.uri_setting = uri_setting;
    source.pin_setting = "ca.pkcs11_pin_file";
    source.passphrase_setting = "ca.key_passphrase_file";
    source.file_setting = file_set ? file_setting : "ca.dir/" + in_dir;
    source.file = file_set ? config->GetString(file_setting) : default_file;
    source.passphrase_file = config->GetString("ca.key_passphrase_file");
    if (config->Has(uri_setting)) {
      source.uri = config->GetString(uri_setting);
      source.pkcs11_module = config->GetString("ca.pkcs11_module");
      if (config->Has("ca.pkcs11_pin_file")) source.pin_file = config->GetString("ca.pkcs11_pin_file");
      LogEvent(log, spdlog::level::info, "ca_key")
          .With("key", uri_setting)
          .With("source", "pkcs11")
          .With("uri", source.uri);
    }
    return source;
  };
  auto pki = Pki::Load(dir, key_source("ca.key_uri", "", "ca.key"),
                       key_source("ca.pseudonym_key_uri", "", "pseudonym-ca.key"));
  if (!pki.ok()) return fail("loading the CA keys", pki.status());

  std::vector<db::PreparedStatement> statements = CaStore::Statements();
  for (auto& st : RevocationFeed::Statements()) statements.push_back(st);
  for (auto& st : PseudonymBook::Statements()) statements.push_back(st);
  for (auto& st : TokenBook::Statements()) statements.push_back(st);
  for (auto& st : NamedCredentials::Statements()) statements.push_back(st);
  auto pool = OpenDatabase(*daemon, std::move(statements), "ca", ca_migrations());
  if (pool.status().code() == absl::StatusCode::kCancelled) return 0;
  if (!pool.ok()) return fail("database", pool.status());

  // One clock for every decision by time (the store's enrolment codes, the service's, the
  // pseudonyms', the tokens').
  const Clock clock = SystemClock();
  CaStore store(pool->get(), clock);
  // Before the service certificates are registered, so that a new one is among them.
  auto statement_signer = LoadOrIssueStatementSigner(dir, *pki, *passphrase,
                                                     key_source("ca.statement_key_uri", "", "services/ca-signing.key"));
  if (!statement_signer.ok()) return fail("the statement-signing certificate", statement_signer.status());
  {
    // The certificates `semper-ca init` issued to the daemons and the administrator go into the
    // register, so that their status is known (GOOD) and they can be revoked like any other.
    std::vector<Certificate> service_certs;
    for (const char* sub : {"services", "admin"}) {
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(dir + "/" + sub, ec)) {
        if (entry.path().extension() != ".pem") continue;
        auto pem = ReadFile(entry.path().string());
        auto cert = pem.ok() ? Certificate::FromPem(*pem) : absl::StatusOr<Certificate>(pem.status());
        if (!cert.ok()) return fail(entry.path().string(), cert.status());
        auto ca_key = pki->issuing_ca().public_key();
        if (!ca_key.ok() || X509_verify(cert->x509(), ca_key->evp()) != 1) continue;  // issued by another CA
        service_certs.push_back(*cert);
      }
    }
    auto added = store.RegisterServiceCertificates(service_certs);
    if (!added.ok()) return fail("registering the service certificates", added.status());
    if (*added > 0) LogEvent(log, spdlog::level::info, "service_certificates_registered").With("count", *added);
  }
  CaServiceImpl::Options service_options;
  service_options.pki = &*pki;
  service_options.store = &store;
  service_options.clock = clock;
  service_options.profiles.public_url = config->GetString("ca.public_url");
  service_options.profiles.validity = config->GetDuration("ca.subscriber_validity");
  service_options.profiles.renewal_window = config->GetDuration("ca.renewal_window");
  service_options.logger = log;
  OcspCache ocsp_cache(config->GetDuration("ca.ocsp_cache_ttl"), 100000);
  service_options.ocsp_cache = &ocsp_cache;
  StatusCache status_cache(config->GetDuration("ca.ocsp_cache_ttl"), 1000000);
  service_options.status_cache = &status_cache;
  // Every replica's caches of statuses are cleared within a poll of a change at any replica.
  RevocationFeed revocation_feed(pool->get(), absl::Milliseconds(100), config->GetInt("ca.revocation_feed_page"),
                                 [&ocsp_cache, &status_cache] {
                                   ocsp_cache.Clear();
                                   status_cache.Clear();
                                 });
  service_options.revocation_feed = &revocation_feed;
  daemon->options.on_shutdown.push_back([&revocation_feed] { revocation_feed.Close(); });
  CaServiceImpl service(service_options);

  // Pseudonyms: the derivation key, and semper-arbiter's certificates (escrow, signing).
  auto setting = [&](const char* key, const std::string& fallback) {
    return config->Has(key) ? config->GetString(key) : fallback;
  };
  auto link_key = LoadOrCreateLinkKey(setting("ca.link_key_file", dir + "/pseudonym-link.key"));
  if (!link_key.ok()) return fail("ca.link_key_file", link_key.status());
  auto ca_trust = TrustStore::New({pki->root()});
  if (!ca_trust.ok()) return fail("trust", ca_trust.status());
  PseudonymBook::Options pseudonym_options;
  pseudonym_options.pki = &*pki;
  pseudonym_options.trust = &*ca_trust;
  pseudonym_options.store = &store;
  pseudonym_options.clock = clock;
  pseudonym_options.pool = pool->get();
  pseudonym_options.profiles = service_options.profiles;
  pseudonym_options.link_key = SecretData(link_key->Reveal());
  pseudonym_options.logger = log;
  pseudonym_options.arbiter_stub = v1::Arbiter::NewStub(UpstreamChannel(
      config->GetString("ca.arbiter_address"), pki->root().Pem(), config->GetString("ca.upstream_server_name")));
  if (!options->metrics) options->metrics = std::make_shared<Metrics>();
  pseudonym_options.metrics = options->metrics;
  pseudonym_options.on_revoked = [&service, log] {
    absl::Status crl = service.PublishCrls();
    if (!crl.ok()) LogEvent(log, spdlog::level::err, "crl.publish_failed").With("error", std::string(crl.message()));
  };
  for (auto [key, fallback, target] :
       {std::tuple{"ca.escrow_cert_file", dir + "/services/arbiter-escrow.pem", &pseudonym_options.escrow},
        std::tuple{"ca.arbiter_cert_file", dir + "/services/arbiter-signing.pem", &pseudonym_options.arbiter}}) {
    auto pem = ReadFile(setting(key, fallback));
    if (!pem.ok()) {
      if (config->Has(key)) return fail(key, pem.status());
      LogEvent(log, spdlog::level::warn, "pseudonyms_limited").With("missing", setting(key, fallback));
      continue;
    }
    auto cert = Certificate::FromPem(*pem);
    if (!cert.ok()) return fail(key, cert.status());
    *target = *cert;
    options->certificates.push_back({key, *cert});
  }
  PseudonymBook pseudonym_book(std::move(pseudonym_options));
  PseudonymServiceImpl pseudonyms(&pseudonym_book, log);
  // The keyCompromise cascade to pseudonyms, once each revocation has committed.
  Periodic cascades(absl::Seconds(1), [&pseudonym_book] { (void)pseudonym_book.RunCascades(); });
  auto statement_cms =
      CmsDetachedSigner::New(statement_signer->key, statement_signer->certificate, {pki->issuing_ca()});
  if (!statement_cms.ok()) return fail("the statement-signing certificate", statement_cms.status());
  TokenBook::Deps token_deps;
  token_deps.pool = pool->get();
  token_deps.store = &store;
  token_deps.clock = clock;
  token_deps.trust = &*ca_trust;
  token_deps.signer = *statement_cms;
  token_deps.passphrase = &*passphrase;
  token_deps.group_commit = GroupCommitOptionsFrom(*daemon, "ca", "ca_token_redemptions");
  TokenBook tokens(std::move(token_deps));
  NamedCredentials named_credentials({pool->get(), &store, &*ca_trust, *statement_cms, clock});
  CredentialServiceImpl credentials(&tokens, &named_credentials);
  store.SetLinkTagger([key = std::make_shared<SecretData>(link_key->Reveal())](const std::string& serial) {
    return LinkTag(*key, serial);
  });

  std::string ocsp_cert_file =
      config->Has("ca.ocsp_cert_file") ? config->GetString("ca.ocsp_cert_file") : dir + "/services/ocsp-signing.pem";
  auto ocsp_cert_pem = ReadFile(ocsp_cert_file);
  if (!ocsp_cert_pem.ok()) return fail("ca.ocsp_cert_file", ocsp_cert_pem.status());
  auto ocsp_cert = Certificate::FromPem(*ocsp_cert_pem);
  if (!ocsp_cert.ok()) return fail("ca.ocsp_cert_file", ocsp_cert.status());
  if (config->Has("ca.ocsp_key_uri") && config->Has("ca.ocsp_key_file")) {
    return fail("ca.ocsp_key_file",
                InvalidField("ca.ocsp_key_file", "set exactly one of ca.ocsp_key_file and ca.ocsp_key_uri"));
  }
  auto ocsp_key = LoadSigningKey(key_source("ca.ocsp_key_uri", "ca.ocsp_key_file", "services/ocsp-signing.key"));
  const char* ocsp_key_setting = config->Has("ca.ocsp_key_uri") ? "ca.ocsp_key_uri" : "ca.ocsp_key_file";
  if (!ocsp_key.ok()) return fail(ocsp_key_setting, ocsp_key.status());
  if (!ocsp_cert->public_key()->Equals(ocsp_key->public_key())) {
    return fail(ocsp_key_setting, MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_KEY,
                                            "the OCSP key does not belong to the OCSP certificate"));
  }
  // Read per request: `semper-ca root-crl` replaces the file while the daemon runs.
  if (auto root_crl = ReadFile(dir + "/root.crl"); !root_crl.ok()) return fail("root CRL", root_crl.status());
  // The root's CRL is re-signed by hand (semper-ca root-crl, with the root key): its end is watched
  // like a certificate's, every minute (semper_root_crl_expiry_seconds; root_crl_expiring in the
  // log from 30 days before, then daily; root_crl_expired and root_crl_unreadable at once, then daily).
  using Logged = std::pair<int, std::chrono::steady_clock::time_point>;
  auto watch_root_crl = [dir, metrics = options->metrics, log, logged = std::make_shared<Logged>()] {
    auto der = ReadFile(dir + "/root.crl");
    auto next = der.ok() ? CrlNextUpdate(*der) : absl::StatusOr<absl::Time>(der.status());
    // Unreadable counts as ended (-1e9 s: an alert on the remaining time fires).
    const absl::Duration left = next.ok() ? *next - absl::Now() : -absl::Seconds(1e9);
    metrics->SetGauge("semper_root_crl_expiry_seconds",
                      "seconds until the root's CRL (root.crl) is past its nextUpdate (-1e9 when it cannot be read); "
                      "re-sign it with semper-ca root-crl",
                      {}, absl::ToDoubleSeconds(left));
    const int state = !next.ok() ? 3 : left <= absl::ZeroDuration() ? 2 : left <= kExpiryWarning ? 1 : 0;
    const auto since = std::chrono::steady_clock::now();
    if (state == 0 || (state == logged->first && since - logged->second < std::chrono::hours(24))) {
      logged->first = state;
      return;
    }
    *logged = {state, since};
    if (state == 3) {
      LogEvent(log, spdlog::level::err, "root_crl_unreadable")
          .With("error", std::string(next.status().message()))
          .With("action", "re-sign it: semper-ca root-crl --dir <ca.dir> (README, Year two)");
      return;
    }
    LogEvent(log, state == 2 ? spdlog::level::err : spdlog::level::warn,
             state == 2 ? "root_crl_expired" : "root_crl_expiring")
        .With("next_update", absl::FormatTime(absl::RFC3339_sec, *next, absl::UTCTimeZone()))
        .With("days_left", absl::ToInt64Hours(left) / 24)
        .With("action", "re-sign it: semper-ca root-crl --dir <ca.dir> (README, Year two)");
  };
  watch_root_crl();
  Periodic root_crl_watch(absl::Minutes(1), watch_root_crl);
  OcspResponder ocsp(pki->issuing_ca(), *ocsp_cert, *ocsp_key, config->GetDuration("ca.ocsp_validity"));
  // Watched for expiry beside the TLS certificate (/metrics, and the log 30 days ahead).
  options->certificates.push_back({"ca.dir/root.pem", pki->root()});
  options->certificates.push_back({"ca.dir/ca.pem", pki->issuing_ca()});
  if (pki->pseudonym_issuer().has_value()) {
    options->certificates.push_back({"ca.dir/pseudonym-ca.pem", *pki->pseudonym_issuer()});
  }
  options->certificates.push_back({"ca.ocsp_cert_file", *ocsp_cert});
  options->certificates.push_back({"ca.dir/services/ca-signing.pem", statement_signer->certificate});

  // A new base unless a replica issued one within the schedule's interval (nine tenths of it, so
  // that timers firing a little early still issue one per interval).
  // CRLs are valid 24 h: a new base at least four times in that time, so that a base skipped at
  // a start and a failed run still leave one before the last one expires.
  if (config->GetDuration("ca.crl_interval") > absl::Hours(6) ||
      config->GetDuration("ca.crl_interval") < absl::Seconds(1)) {
    return fail("ca.crl_interval",
                InvalidField("ca.crl_interval", "must be between 1s and 6h (each CRL is valid for 24 hours)"));
  }
  const absl::Duration crl_fresh = config->GetDuration("ca.crl_interval") * 9 / 10;
  absl::Status first_crl = service.PublishCrls(/*new_base=*/true, crl_fresh);
  if (!first_crl.ok()) return fail("issuing the first CRL", first_crl);

  // The shared pseudonym issuer signs its own OCSP responses and CRL.
  std::optional<OcspResponder> pseudonym_ocsp;
  if (pki->pseudonym_issuer().has_value()) {
    pseudonym_ocsp.emplace(*pki->pseudonym_issuer(), *pki->pseudonym_issuer(), *pki->pseudonym_issuer_key(),
                           config->GetDuration("ca.ocsp_validity"));
  }
  CaHttpRoutes::Deps http_deps;
  http_deps.store = &store;
  http_deps.pki = &*pki;
  http_deps.ocsp = &ocsp;
  http_deps.pseudonym_ocsp = pseudonym_ocsp.has_value() ? &*pseudonym_ocsp : nullptr;
  http_deps.ocsp_cache = &ocsp_cache;
  http_deps.status_cache = &status_cache;
  http_deps.dir = dir;
  http_deps.clock = clock;
  const CaHttpRoutes http_routes(http_deps);
  // The access gate refuses revoked client certificates: semper-ca follows its own feed through
  // an in-process channel, set once the server runs.
  auto gate_revocations = std::make_shared<DeferredRevocationCheck>();
  options->revocations = gate_revocations;
  // Stopped first at shutdown, while the server it calls through the in-process channel is still
  // whole (a call started on that channel during the server's shutdown crashes gRPC).
  std::shared_ptr<RevocationWatch> own_revocations;
  options->on_shutdown.insert(options->on_shutdown.begin(), [&own_revocations, gate_revocations] {
    gate_revocations->Set(nullptr);
    own_revocations.reset();
  });
  db::ConnectionPool* p = pool->get();
  auto server = Server::Start(
      *options, {&service, &pseudonyms, &credentials}, [p] { return p->Ping(); },
      [&http_routes](HttpServer& http) { http_routes.Register(http); });
  if (!server.ok()) return fail("listening", server.status());
  own_revocations =
      std::make_shared<RevocationWatch>(v1::CertificationAuthority::NewStub((*server)->InProcessChannel()),
                                        config->GetDuration("access.revocation_staleness"));
  gate_revocations->Set(own_revocations);

  // CRLs on a schedule, once per interval across replicas.
  Periodic crl_schedule(config->GetDuration("ca.crl_interval"), [&service, log, crl_fresh] {
    absl::Status s = service.PublishCrls(/*new_base=*/true, crl_fresh);
    if (!s.ok()) LogEvent(log, spdlog::level::err, "crl.publish_failed").With("error", std::string(s.message()));
  });
  (*server)->RunUntilSignal();
  return 0;
}

}  // namespace
}  // namespace semper::ca

int main(int argc, char** argv) {
  semper::Server::BlockTerminationSignals();
  CLI::App app{"semper-ca: the registration and certification authority of the semper suite"};
  app.require_subcommand(1);

  semper::ca::InitOptions init;
  std::string init_dir, passphrase_file;
  auto* init_cmd = app.add_subcommand(
      "init", "create the root, the issuing CA, the daemons' certificates and the first administrator");
  init_cmd->add_option("--dir", init_dir, "directory to create (never overwritten)")->required();
  init_cmd
      ->add_option("--passphrase-file", passphrase_file, "file (mode 0600) with the passphrase that encrypts every key")
      ->required();
  init_cmd->add_option("--organization", init.organization, "organisation named in the CA certificates")
      ->capture_default_str();
  init_cmd->add_option("--country", init.country, "country of the CA (ISO 3166-1 alpha-2)")->capture_default_str();
  init_cmd->add_option("--hostname", init.hostnames, "DNS names for the daemons' TLS certificates")
      ->capture_default_str();
  init_cmd->add_option("--ip", init.ip_addresses, "IP addresses for the daemons' TLS certificates")
      ->capture_default_str();
  init_cmd->add_option("--admin-name", init.admin_name, "name in the first administrator's certificate")
      ->capture_default_str();

  std::string crl_dir, crl_passphrase_file;
  int crl_days = 365;
  auto* crl_cmd =
      app.add_subcommand("root-crl", "re-sign the root's CRL (root.crl) before it expires; needs the root key");
  crl_cmd->add_option("--dir", crl_dir, "directory written by semper-ca init")->required();
  crl_cmd->add_option("--passphrase-file", crl_passphrase_file, "file with the passphrase of root.key")->required();
  crl_cmd->add_option("--days", crl_days, "validity of the new CRL in days")->capture_default_str();

  std::optional<std::string> config_file;
  auto* serve_cmd = app.add_subcommand("serve", "run the CA daemon");
  serve_cmd->add_option("--config", config_file, "TOML configuration file (environment SEMPER_* overrides it)");
  serve_cmd->footer("Configuration keys:\n" + semper::ConfigHelp(semper::ca::Schema()));

  CLI11_PARSE(app, argc, argv);
  if (init_cmd->parsed()) {
    init.dir = init_dir;
    return semper::ca::Init(init, passphrase_file);
  }
  if (crl_cmd->parsed()) return semper::ca::RootCrl(crl_dir, crl_passphrase_file, crl_days);
  return semper::ca::Serve(config_file);
}
