// semper-liability: the liability tracker of SEMPER agreements.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/base/config.h"
#include "common/base/files.h"
#include "common/base/log.h"
#include "common/base/periodic.h"
#include "common/base/status.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/server/certificate_status.h"
#include "common/server/daemon.h"
#include "common/server/revocation_watch.h"
#include "common/server/server.h"
#include "common/server/signing_key.h"
#include "semper/v1/ca.grpc.pb.h"
#include "services/liability/book.h"
#include "services/liability/service.h"

namespace semper {
std::vector<db::Migration> liability_migrations();
}

namespace semper::liability {
namespace {

std::vector<ConfigKey> Schema() {
  std::vector<ConfigKey> keys = ServerConfigKeys(7040, 7041);
  using T = ConfigType;
  for (auto& k : DatabaseConfigKeys(16)) keys.push_back(std::move(k));
  keys.push_back({"liability.cert_file", T::kString, std::nullopt, true, false,
                  "the tracker's signing certificate followed by its issuers, PEM"});
  AddSigningKeyConfig(keys, "liability", "guarantee signing");
  keys.push_back({"liability.trust_file", T::kString, std::nullopt, true, false,
                  "the suite's root certificate(s): buyers' certificates must chain to them"});
  keys.push_back({"liability.intermediates_file", T::kString, std::nullopt, false, false,
                  "more CA certificates buyers' certificates may chain through (PEM), e.g. semper-ca's shared "
                  "pseudonym issuer <ca.dir>/pseudonym-ca.pem"});
  keys.push_back({"liability.arbiter_cert_file", T::kString, std::nullopt, false, false,
                  "semper-arbiter's signing certificate (PEM): its verdicts may settle or release guarantees"});
  keys.push_back({"liability.ca_address", T::kString, ConfigValue(std::string("localhost:7000")), false, false,
                  "semper-ca's gRPC address (certificate status)"});
  keys.push_back({"liability.upstream_server_name", T::kString, ConfigValue(std::string("")), false, false,
                  "TLS name to expect from semper-ca, if not the host of its address"});
  keys.push_back({"liability.revocation_staleness", T::kDuration, ConfigValue(absl::Seconds(10)), false, false,
                  "while semper-ca is unreachable, revocations known up to this long ago still count; after it, "
                  "no guarantee is given (DEPENDENCY_UNAVAILABLE); also used by the access gate here"});
  keys.push_back({"liability.expiry_interval", T::kDuration, ConfigValue(absl::Seconds(5)), false, false,
                  "how often guarantees past their validity are expired and their amounts freed"});
  for (auto& k : GroupCommitConfigKeys("liability", "guarantee requests", 500)) keys.push_back(std::move(k));
  return keys;
}

int Serve(const std::optional<std::string>& config_file) {
  auto daemon = LoadDaemon(config_file, Schema(), "semper-liability");
  if (!daemon) return 2;
  const Config* config = &daemon->config;
  auto log = daemon->log;
  auto fail = [&daemon](std::string_view step, const absl::Status& s) { return daemon->Fail(step, s); };
  auto chain = LoadCertificateChain(*daemon, "liability.cert_file");
  if (!chain.ok()) return fail("liability.cert_file", chain.status());
  auto key = LoadSigningKey(*config, "liability");
  if (!key.ok()) return fail("liability key", key.status());
  if (X509_check_private_key(chain->front().x509(), key->evp()) != 1) {
    return fail("liability key", InvalidField("liability.key_file", "does not match liability.cert_file"));
  }
  auto roots = ReadFile(config->GetString("liability.trust_file"));
  if (!roots.ok()) return fail("liability.trust_file", roots.status());
  auto trust = TrustStore::FromPem(*roots);
  if (!trust.ok()) return fail("liability.trust_file", trust.status());
  // Watched for expiry (its roots are read again as certificates; the trust store took them).
  LoadCertificateChain(*daemon, "liability.trust_file").IgnoreError();

  auto pool = OpenDatabase(*daemon, LiabilityBook::Statements(), "liability", liability_migrations());
  if (pool.status().code() == absl::StatusCode::kCancelled) return 0;
  if (!pool.ok()) return fail("database", pool.status());

  std::shared_ptr<v1::CertificationAuthority::StubInterface> ca = v1::CertificationAuthority::NewStub(UpstreamChannel(
      config->GetString("liability.ca_address"), *roots, config->GetString("liability.upstream_server_name")));
  auto ca_status = std::make_shared<CertificateStatusClient>(ca);
  auto status = [ca_status](const Certificate& cert) { return ca_status->Status(cert); };
  // Revocations pushed by semper-ca (see revocation_watch.h for the policy when it is
  // unreachable), for the guarantees and for the access gate.
  auto revocations = std::make_shared<RevocationWatch>(ca, config->GetDuration("liability.revocation_staleness"));
  daemon->options.revocations = revocations;
  LiabilityBook::Deps deps;
  deps.pool = pool->get();
  deps.trust = &*trust;
  deps.intermediates.assign(chain->begin() + 1, chain->end());
  if (config->Has("liability.intermediates_file")) {
    auto more = LoadCertificateChain(*daemon, "liability.intermediates_file");
    if (!more.ok()) return fail("liability.intermediates_file", more.status());
    deps.intermediates.insert(deps.intermediates.end(), more->begin(), more->end());
  }
  auto signer = CmsDetachedSigner::New(*key, chain->front(), deps.intermediates);
  if (!signer.ok()) return fail("liability.key_file", signer.status());
  deps.signer = *std::move(signer);
  deps.certificate_status = status;
  deps.revoked = [revocations](const std::string& serial) { return revocations->Revoked(serial); };
  deps.group_commit = GroupCommitOptionsFrom(*daemon, "liability", "liability_guarantees");
  if (config->Has("liability.arbiter_cert_file")) {
    auto arbiter = LoadCertificateChain(*daemon, "liability.arbiter_cert_file");
    if (!arbiter.ok()) return fail("liability.arbiter_cert_file", arbiter.status());
    deps.arbiter = arbiter->front();
  }
  LiabilityBook book(std::move(deps));
  LiabilityServiceImpl service(&book);
  db::ConnectionPool* p = pool->get();
  auto server = Server::Start(daemon->options, {&service}, [p] { return p->Ping(); });
  if (!server.ok()) return fail("listening", server.status());

  Periodic expirer(config->GetDuration("liability.expiry_interval"), [&] {
    auto n = book.ExpireDue();
    if (!n.ok()) {
      LogEvent(log, spdlog::level::warn, "guarantee_expiry_failed").With("error", std::string(n.status().message()));
    } else if (*n > 0) {
      LogEvent(log, spdlog::level::info, "guarantees_expired").With("count", *n);
    }
  });
  (*server)->RunUntilSignal();
  return 0;
}

}  // namespace
}  // namespace semper::liability

int main(int argc, char** argv) {
  semper::Server::BlockTerminationSignals();
  CLI::App app{"semper-liability: the liability tracker of SEMPER agreements in the semper suite"};
  std::optional<std::string> config_file;
  app.add_option("--config", config_file, "TOML configuration file (environment SEMPER_* overrides it)");
  app.footer("Configuration keys:\n" + semper::ConfigHelp(semper::liability::Schema()));
  CLI11_PARSE(app, argc, argv);
  return semper::liability::Serve(config_file);
}
