// semper-arbiter: the third party of optimistic fair exchange.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "common/base/config.h"
#include "common/base/files.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
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
  keys.push_back({"database.url", T::kString, std::nullopt, true, true, "PostgreSQL connection URL"});
  keys.push_back({"database.pool_size", T::kInt, ConfigValue(int64_t{16}), false, false, "connections", 1, 256});
  keys.push_back({"arbiter.cert_file", T::kString, std::nullopt, true, false,
                  "the arbiter's signing certificate followed by its issuers, PEM"});
  AddSigningKeyConfig(keys, "arbiter", "arbiter signing");
  keys.push_back({"arbiter.trust_file", T::kString, std::nullopt, true, false,
                  "the suite's root certificate(s): parties' certificates must chain to them"});
  return keys;
}

int Serve(const std::optional<std::string>& config_file) {
  auto config = Config::Load(config_file ? std::optional<std::filesystem::path>(*config_file) : std::nullopt, Schema());
  if (!config.ok()) {
    std::fprintf(stderr, "semper-arbiter: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  auto options = ServerOptionsFromConfig(*config, "semper-arbiter");
  if (!options.ok()) {
    std::fprintf(stderr, "semper-arbiter: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  auto log = options->logger;
  auto fail = [&](std::string_view what, const absl::Status& s) {
    LogEvent(log, spdlog::level::critical, "start_failed").With("step", what).With("error", std::string(s.message()));
    return 1;
  };
  for (const auto& line : config->Describe()) LogEvent(log, spdlog::level::info, "config").With("value", line);
  auto chain_pem = ReadFile(config->GetString("arbiter.cert_file"));
  if (!chain_pem.ok()) return fail("arbiter.cert_file", chain_pem.status());
  auto chain = Certificate::ChainFromPem(*chain_pem);
  if (!chain.ok() || chain->empty()) {
    return fail("arbiter.cert_file", chain.ok() ? InvalidField("arbiter.cert_file", "no certificate") : chain.status());
  }
  auto key = LoadSigningKey(*config, "arbiter");
  if (!key.ok()) return fail("arbiter key", key.status());
  if (X509_check_private_key(chain->front().x509(), key->evp()) != 1) {
    return fail("arbiter key", InvalidField("arbiter.key_file", "does not match arbiter.cert_file"));
  }
  auto roots = ReadFile(config->GetString("arbiter.trust_file"));
  if (!roots.ok()) return fail("arbiter.trust_file", roots.status());
  auto trust = TrustStore::FromPem(*roots);
  if (!trust.ok()) return fail("arbiter.trust_file", trust.status());

  db::PoolOptions pool_options;
  pool_options.conninfo = config->GetString("database.url");
  pool_options.size = static_cast<int>(config->GetInt("database.pool_size"));
  pool_options.statements = ExchangeArbiter::Statements();
  pool_options.application_name = "semper-arbiter";
  auto pool = db::ConnectionPool::New(pool_options);
  if (!pool.ok()) return fail("database pool", pool.status());
  auto applied = db::ApplyMigrationsWhenReachable(**pool, "arbiter", arbiter_migrations(), log);
  if (applied.status().code() == absl::StatusCode::kCancelled) return 0;
  if (!applied.ok()) return fail("migrations", applied.status());

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
