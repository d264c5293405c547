// Daemon start-up steps.
#include "common/server/daemon.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdio>

#include "common/base/files.h"
#include "common/base/log.h"
#include "common/base/secret.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/keys.h"
#include "common/db/audit.h"
#include "common/server/client_target.h"

namespace semper {
namespace {

// The daemon's own TLS certificate and key, presented as its client certificate when it calls
// another daemon of the suite (role `service`: known as itself, exempt from client rate limits).
struct UpstreamIdentity {
  std::string chain_pem;
  SecretData key_pem;
};
const UpstreamIdentity*& Identity() {
  static const UpstreamIdentity* identity = nullptr;
  return identity;
}

void LoadUpstreamIdentity(const ServerOptions& o) {
  if (o.plaintext || o.tls.cert_file.empty() || o.tls.key_file.empty()) return;
  auto chain = ReadFile(o.tls.cert_file);
  auto key_pem = ReadFile(o.tls.key_file);
  if (!chain.ok() || !key_pem.ok()) return;  // Server::Start reports unreadable TLS files
  SecretData passphrase;
  if (!o.tls.key_passphrase_file.empty()) {
    auto p = SecretData::FromFile(o.tls.key_passphrase_file);
    if (!p.ok()) return;
    passphrase = *std::move(p);
  }
  auto key = PrivateKey::FromPem(*key_pem, passphrase, o.tls.key_passphrase_file.empty());
  OPENSSL_cleanse(key_pem->data(), key_pem->size());
  if (!key.ok()) return;
  Identity() = new UpstreamIdentity{*chain, key->ToUnencryptedPemSecret()};
}

}  // namespace

int Daemon::Fail(std::string_view step, const absl::Status& status) const {
  LogEvent(log, spdlog::level::critical, "start_failed")
      .With("step", step)
      .With("error", std::string(status.message()));
  return 1;
}

std::optional<Daemon> LoadDaemon(const std::optional<std::string>& config_file, const std::vector<ConfigKey>& schema,
                                 const std::string& name) {
  auto config = Config::Load(config_file ? std::optional<std::filesystem::path>(*config_file) : std::nullopt, schema);
  if (!config.ok()) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), std::string(config.status().message()).c_str());
    return std::nullopt;
  }
  // The other daemons' addresses (one, a list of replicas, a gRPC target): refused at the start
  // rather than by every call later.
  for (const ConfigKey& key : schema) {
    if (!key.name.ends_with("_address") || key.type != ConfigType::kString || !config->Has(key.name)) continue;
    if (auto target = ClientTarget(config->GetString(key.name)); !target.ok()) {
      std::fprintf(stderr, "%s: %s: %s\n", name.c_str(), key.name.c_str(),
                   std::string(target.status().message()).c_str());
      return std::nullopt;
    }
  }
  auto options = ServerOptionsFromConfig(*config, name);
  if (!options.ok()) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), std::string(options.status().message()).c_str());
    return std::nullopt;
  }
  if (!options->metrics) options->metrics = std::make_shared<Metrics>();
  LoadUpstreamIdentity(*options);
  Daemon d{*std::move(config), *options, options->logger};
  for (const auto& line : d.config.Describe()) LogEvent(d.log, spdlog::level::info, "config").With("value", line);
  return d;
}

std::vector<ConfigKey> DatabaseConfigKeys(int64_t default_pool_size) {
  return {
      {"database.url", ConfigType::kString, std::nullopt, true, true, "PostgreSQL connection URL"},
      {"database.pool_size", ConfigType::kInt, ConfigValue(default_pool_size), false, false, "connections", 1, 256}};
}

std::vector<ConfigKey> GroupCommitConfigKeys(const std::string& section, const std::string& what, int64_t default_max,
                                             int64_t default_in_flight) {
  return {{StrCat(section, ".group_commit_max"), ConfigType::kInt, ConfigValue(default_max), false, false,
           StrCat("most ", what, " committed in one transaction"), 1, 100000},
          {StrCat(section, ".committers"), ConfigType::kInt, ConfigValue(default_in_flight), false, false,
           "group commits in flight at once (each holds a database connection)", 1, 64}};
}

db::GroupCommitOptions GroupCommitOptionsFrom(const Daemon& daemon, const std::string& section, std::string queue) {
  db::GroupCommitOptions o;
  o.queue = std::move(queue);
  o.max_group = static_cast<size_t>(daemon.config.GetInt(StrCat(section, ".group_commit_max")));
  o.in_flight = static_cast<int>(daemon.config.GetInt(StrCat(section, ".committers")));
  o.metrics = daemon.options.metrics;
  return o;
}

absl::StatusOr<std::unique_ptr<db::ConnectionPool>> OpenDatabase(const Daemon& daemon,
                                                                 std::vector<db::PreparedStatement> statements,
                                                                 std::string_view schema,
                                                                 const std::vector<db::Migration>& migrations) {
  db::PoolOptions pool_options;
  pool_options.conninfo = daemon.config.GetString("database.url");
  pool_options.size = static_cast<int>(daemon.config.GetInt("database.pool_size"));
  pool_options.statements = std::move(statements);
  for (auto& st : db::AuditStatements(schema)) pool_options.statements.push_back(std::move(st));
  pool_options.application_name = daemon.options.name;
  SEMPER_ASSIGN_OR_RETURN(auto pool, db::ConnectionPool::New(pool_options));
  SEMPER_ASSIGN_OR_RETURN(
      db::MigrationResult applied,
      db::ApplyMigrationsWhenReachable(*pool, schema, db::WithAuditMigration(migrations), daemon.log));
  LogEvent(daemon.log, spdlog::level::info, "migrations")
      .With("schema", std::string(schema))
      .With("applied", applied.applied.size())
      .With("version", applied.current);
  // The configuration this start runs with goes to the audit trail (secrets left out), marked
  // when it differs from this daemon's previous start.
  std::string config;
  for (const auto& line : daemon.config.Describe()) StrAppend(&config, line, "\n");
  SEMPER_RETURN_IF_ERROR(pool->Transact([&](pqxx::work& tx) -> absl::Status {
    auto last = tx.exec_params("SELECT details FROM " + tx.quote_name(std::string(schema)) +
                                   ".audit WHERE daemon = $1 AND action LIKE 'start%' ORDER BY seq DESC LIMIT 1",
                               daemon.options.name);
    const bool changed = !last.empty() && last[0][0].as<std::string>() != config;
    return db::AppendAudit(
        tx, schema, daemon.options.name,
        {{"daemon", changed ? "start-configuration-changed" : "start", daemon.options.name, config}});
  }));
  return pool;
}

absl::StatusOr<std::vector<Certificate>> LoadCertificateChain(Daemon& daemon, const std::string& key) {
  SEMPER_ASSIGN_OR_RETURN(std::string pem, ReadFile(daemon.config.GetString(key)));
  auto chain = Certificate::ChainFromPem(pem);
  if (!chain.ok()) return Annotate(chain.status(), key);
  if (chain->empty()) return InvalidField(key, "holds no certificate");
  for (const Certificate& c : *chain) daemon.options.certificates.push_back({key, c});
  return chain;
}

std::shared_ptr<grpc::Channel> UpstreamChannel(const std::string& address, const std::string& roots_pem,
                                               const std::string& server_name) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = roots_pem;
  if (const UpstreamIdentity* id = Identity(); id != nullptr) {
    ssl.pem_cert_chain = id->chain_pem;
    ssl.pem_private_key = std::string(id->key_pem.Reveal());
  }
  grpc::ChannelArguments args;
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  SetRoundRobin(args);
  // A list of host names cannot be resolved; calls then fail UNAVAILABLE naming the address.
  return grpc::CreateCustomChannel(ClientTarget(address).value_or(address), grpc::SslCredentials(ssl), args);
}

std::unique_ptr<grpc::ClientContext> UpstreamContext(absl::Duration deadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(deadline));
  return ctx;
}

absl::Status UpstreamError(std::string_view who, const grpc::Status& status) {
  return MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                   StrCat(who, " did not answer: ", status.error_message()));
}

}  // namespace semper
