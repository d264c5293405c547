// semper-notary: certification of documents and the verifiable evidence log.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/base/config.h"
#include "common/base/files.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/server/certificate_status.h"
#include "common/server/daemon.h"
#include "common/server/revocation_watch.h"
#include "common/server/server.h"
#include "common/server/signing_key.h"
#include "services/notary/attest.h"
#include "services/notary/contracts.h"
#include "services/notary/limits.h"
#include "services/notary/log.h"
#include "services/notary/mail.h"
#include "services/notary/service.h"

namespace semper {
std::vector<db::Migration> notary_migrations();
}

namespace semper::notary {
namespace {

std::vector<ConfigKey> Schema() {
  std::vector<ConfigKey> keys = ServerConfigKeys(7020, 7021);
  using T = ConfigType;
  for (auto& k : DatabaseConfigKeys(8)) keys.push_back(std::move(k));
  keys.push_back({"notary.cert_file", T::kString, std::nullopt, true, false,
                  "the notary's signing certificate followed by its issuers, PEM"});
  AddSigningKeyConfig(keys, "notary", "notary signing");
  keys.push_back({"notary.trust_file", T::kString, std::nullopt, true, false,
                  "the suite's root certificate(s): signers, the TSA and semper-ca's TLS chain to them"});
  keys.push_back({"notary.ca_address", T::kString, ConfigValue(std::string("localhost:7000")), false, false,
                  "semper-ca's gRPC address (certificate status)"});
  keys.push_back({"notary.tsa_address", T::kString, ConfigValue(std::string("localhost:7010")), false, false,
                  "semper-tsa's gRPC address (time-stamps)"});
  keys.push_back({"notary.upstream_server_name", T::kString, ConfigValue(std::string("")), false, false,
                  "TLS name to expect from semper-ca and semper-tsa, if not the host of their address"});
  for (auto& k : GroupCommitConfigKeys("notary", "evidence entries", 1000, 1)) keys.push_back(std::move(k));
  return keys;
}

int Serve(const std::optional<std::string>& config_file) {
  auto daemon = LoadDaemon(config_file, Schema(), "semper-notary");
  if (!daemon) return 2;
  const Config* config = &daemon->config;
  ServerOptions* options = &daemon->options;
  auto log = daemon->log;
  auto fail = [&daemon](std::string_view step, const absl::Status& s) { return daemon->Fail(step, s); };

  auto chain = LoadCertificateChain(*daemon, "notary.cert_file");
  if (!chain.ok()) return fail("notary.cert_file", chain.status());
  auto key = LoadSigningKey(*config, "notary");
  if (!key.ok()) return fail("notary key", key.status());
  auto roots_pem = ReadFile(config->GetString("notary.trust_file"));
  if (!roots_pem.ok()) return fail("notary.trust_file", roots_pem.status());
  auto trust = TrustStore::FromPem(*roots_pem);
  if (!trust.ok()) return fail("notary.trust_file", trust.status());
  // Watched for expiry (its roots are read again as certificates; the trust store took them).
  LoadCertificateChain(*daemon, "notary.trust_file").IgnoreError();
  auto own_path = trust->VerifyPath(chain->front(), *chain, absl::Now(), KeyPurpose::kNonRepudiation);
  if (!own_path.ok()) return fail("notary.cert_file", own_path.status());
  StatementSigner signer(*key, chain->front(), std::vector<Certificate>(chain->begin() + 1, chain->end()));
  if (auto probe = signer.Sign("probe"); !probe.ok()) return fail("notary key", probe.status());

  std::vector<db::PreparedStatement> statements = EvidenceLog::Statements();
  for (auto& st : ContractBook::Statements()) statements.push_back(st);
  for (auto& st : MailRoom::Statements()) statements.push_back(st);
  auto pool = OpenDatabase(*daemon, std::move(statements), "notary", notary_migrations());
  if (pool.status().code() == absl::StatusCode::kCancelled) return 0;
  if (!pool.ok()) return fail("database", pool.status());

  EvidenceLog evidence(
      pool->get(), [&signer](std::string_view s) { return signer.Sign(s); },
      GroupCommitOptionsFrom(*daemon, "notary", "notary_log"));
  if (absl::Status loaded = evidence.Load(); !loaded.ok()) return fail("loading the evidence log", loaded);
  LogEvent(log, spdlog::level::info, "evidence_log_loaded").With("tiles_read", evidence.tiles_read_at_load());

  const std::string server_name = config->GetString("notary.upstream_server_name");
  auto ca_channel = UpstreamChannel(config->GetString("notary.ca_address"), *roots_pem, server_name);
  // Client certificates revoked at semper-ca are refused at the access gate.
  options->revocations = std::make_shared<RevocationWatch>(v1::CertificationAuthority::NewStub(ca_channel),
                                                           config->GetDuration("access.revocation_staleness"));
  const CertificateStatusClient ca_status(v1::CertificationAuthority::NewStub(ca_channel), absl::Seconds(10));
  Upstreams upstreams(
      v1::TimeStamp::NewStub(UpstreamChannel(config->GetString("notary.tsa_address"), *roots_pem, server_name)),
      &*trust);
  // What comes in fits what goes out: the largest item leaves a reserve below the gRPC limit.
  const int64_t grpc_max = config->GetInt("grpc.max_message_bytes");
  if (grpc_max < kMinGrpcMessageBytes) {
    return fail(
        "grpc.max_message_bytes",
        InvalidField("grpc.max_message_bytes", StrCat("must be at least ", kMinGrpcMessageBytes,
                                                      " for the notary: its answers carry "
                                                      "a message or contract with its signatures and evidence")));
  }
  const size_t max_item = MaxItemBytes(grpc_max);
  ContractBook::Deps book_deps;
  book_deps.pool = pool->get();
  book_deps.log = &evidence;
  book_deps.signer = &signer;
  book_deps.trust = &*trust;
  book_deps.intermediates.assign(chain->begin() + 1, chain->end());
  book_deps.check_status = [&ca_status](const Certificate& c) { return ca_status.RequireGood(c, "the signer's"); };
  book_deps.time_stamp = [&upstreams](std::string_view d) { return upstreams.TimeStamp(d); };
  book_deps.max_contract_bytes = max_item;
  ContractBook contracts(book_deps);
  MailRoom::Deps mail_deps;
  mail_deps.pool = pool->get();
  mail_deps.log = &evidence;
  mail_deps.signer = &signer;
  mail_deps.trust = &*trust;
  mail_deps.intermediates = book_deps.intermediates;
  mail_deps.check_status = book_deps.check_status;
  mail_deps.time_stamp = book_deps.time_stamp;
  mail_deps.max_message_bytes = max_item;
  mail_deps.max_answer_bytes = static_cast<size_t>(grpc_max);
  MailRoom mail(mail_deps);
  Attestations::Deps attest_deps;
  attest_deps.log = &evidence;
  attest_deps.signer = &signer;
  attest_deps.trust = &*trust;
  attest_deps.check_status = book_deps.check_status;
  attest_deps.time_stamp = [&upstreams](std::string_view d, absl::Time* at) { return upstreams.TimeStamp(d, at); };
  attest_deps.max_document_bytes = max_item;
  Attestations attestations(attest_deps);
  NotaryServiceImpl::Options service_options;
  service_options.log = &evidence;
  service_options.trust = &*trust;
  service_options.attestations = &attestations;
  service_options.contracts = &contracts;
  service_options.mail = &mail;
  service_options.logger = log;
  NotaryServiceImpl service(service_options);

  db::ConnectionPool* p = pool->get();
  auto server = Server::Start(*options, {&service}, [p] { return p->Ping(); });
  if (!server.ok()) return fail("listening", server.status());
  (*server)->RunUntilSignal();
  return 0;
}

}  // namespace
}  // namespace semper::notary

int main(int argc, char** argv) {
  semper::Server::BlockTerminationSignals();
  CLI::App app{"semper-notary: certification of documents and the verifiable evidence log of the semper suite"};
  std::optional<std::string> config_file;
  app.add_option("--config", config_file, "TOML configuration file (environment SEMPER_* overrides it)");
  app.footer("Configuration keys:\n" + semper::ConfigHelp(semper::notary::Schema()));
  CLI11_PARSE(app, argc, argv);
  return semper::notary::Serve(config_file);
}
