// semper-arbiter: the third party of optimistic fair exchange.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "common/base/config.h"
#include "common/base/files.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/server/daemon.h"
#include "common/server/server.h"
#include "common/server/signing_key.h"
#include "services/arbiter/arbiter.h"
#include "services/arbiter/service.h"

namespace semper {
std::vector<db::Migration> arbiter_migrations();
}

namespace semper::arbiter {
namespace {

std::vector<ConfigKey> Schema() {
  std::vector<ConfigKey> keys = ServerConfigKeys(7030, 7031);
  using T = ConfigType;
  for (auto& k : DatabaseConfigKeys(16)) keys.push_back(std::move(k));
  keys.push_back({"arbiter.cert_file", T::kString, std::nullopt, true, false,
                  "the arbiter's signing certificate followed by its issuers, PEM"});
  AddSigningKeyConfig(keys, "arbiter", "arbiter signing");
  keys.push_back({"arbiter.trust_file", T::kString, std::nullopt, true, false,
                  "the suite's root certificate(s): parties' certificates must chain to them"});
  return keys;
}

int Serve(const std::optional<std::string>& config_file) {
  auto daemon = LoadDaemon(config_file, Schema(), "semper-arbiter");
  if (!daemon) return 2;
  const Config* config = &daemon->config;
  ServerOptions* options = &daemon->options;
  auto log = daemon->log;
  auto fail = [&daemon](std::string_view step, const absl::Status& s) { return daemon->Fail(step, s); };
  auto chain = LoadCertificateChain(*config, "arbiter.cert_file");
  if (!chain.ok()) return fail("arbiter.cert_file", chain.status());
  auto key = LoadSigningKey(*config, "arbiter");
  if (!key.ok()) return fail("arbiter key", key.status());
  if (X509_check_private_key(chain->front().x509(), key->evp()) != 1) {
    return fail("arbiter key", InvalidField("arbiter.key_file", "does not match arbiter.cert_file"));
  }
  auto roots = ReadFile(config->GetString("arbiter.trust_file"));
  if (!roots.ok()) return fail("arbiter.trust_file", roots.status());
  auto trust = TrustStore::FromPem(*roots);
  if (!trust.ok()) return fail("arbiter.trust_file", trust.status());

  std::vector<db::PreparedStatement> statements = ExchangeArbiter::Statements();
  auto pool = OpenDatabase(*daemon, std::move(statements), "arbiter", arbiter_migrations());
  if (pool.status().code() == absl::StatusCode::kCancelled) return 0;
  if (!pool.ok()) return fail("database", pool.status());

  std::vector<Certificate> issuers(chain->begin() + 1, chain->end());
  ExchangeArbiter exchanges(pool->get(), asw::Party{*key, chain->front()}, &*trust, issuers);
  ArbiterServiceImpl service(&exchanges, issuers);
  db::ConnectionPool* p = pool->get();
  auto server = Server::Start(*options, {&service}, [p] { return p->Ping(); });
  if (!server.ok()) return fail("listening", server.status());
  (*server)->RunUntilSignal();
  return 0;
}

}  // namespace
}  // namespace semper::arbiter

int main(int argc, char** argv) {
  semper::Server::BlockTerminationSignals();
  CLI::App app{"semper-arbiter: the third party of optimistic fair exchange in the semper suite"};
  std::optional<std::string> config_file;
  app.add_option("--config", config_file, "TOML configuration file (environment SEMPER_* overrides it)");
  app.footer("Configuration keys:\n" + semper::ConfigHelp(semper::arbiter::Schema()));
  CLI11_PARSE(app, argc, argv);
  return semper::arbiter::Serve(config_file);
}
