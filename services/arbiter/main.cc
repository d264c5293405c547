// semper-arbiter: the third party of optimistic fair exchange.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "common/base/config.h"
#include "common/base/files.h"
#include "common/base/log.h"
#include "common/base/periodic.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/server/daemon.h"
#include "common/server/revocation_watch.h"
#include "common/server/server.h"
#include "common/server/signing_key.h"
#include "semper/v1/ca.grpc.pb.h"
#include "semper/v1/notary.grpc.pb.h"
#include "services/arbiter/arbiter.h"
#include "services/arbiter/evidence.h"
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
  keys.push_back(
      {"escrow.cert_file", T::kString, std::nullopt, false, false,
       "certificate (PEM, with its issuers) that parties encrypt document escrows to; with the escrow.* key. "
       "Without it, exchanges of documents cannot be resolved here"});
  AddSigningKeyConfig(keys, "escrow", "escrow decryption");
  keys.push_back({"arbiter.ca_address", T::kString, ConfigValue(std::string("localhost:7000")), false, false,
                  "semper-ca's gRPC address (certificate status at a time, for evidence)"});
  keys.push_back({"arbiter.notary_address", T::kString, ConfigValue(std::string("localhost:7020")), false, false,
                  "semper-notary's gRPC address (tree heads for evidence; verdicts go into its log)"});
  keys.push_back({"arbiter.upstream_server_name", T::kString, ConfigValue(std::string("")), false, false,
                  "TLS name to expect from semper-ca and semper-notary, if not the host of their address"});
  keys.push_back({"arbiter.answer_period", T::kDuration, ConfigValue(absl::Hours(24 * 14)), false, false,
                  "how long a respondent has to answer a claim"});
  keys.push_back({"arbiter.payment_objection_period", T::kDuration, ConfigValue(absl::Hours(72)), false, false,
                  "after an abort of a delivery against payment, how long a standard contract shown to the arbiter "
                  "still makes the payment order a release (then: reversal)"});
  keys.push_back({"arbiter.human_review", T::kStringList, ConfigValue(std::vector<std::string>{}), false, false,
                  "claim kinds a human arbitrator decides although the rules could (non-delivery, non-payment, "
                  "repudiated-order, repudiated-signature); not-as-ordered and other always go to one"});
  keys.push_back({"arbiter.sweep_interval", T::kDuration, ConfigValue(absl::Seconds(10)), false, false,
                  "how often cases past their deadline are decided and decided verdicts sent to the notary"});
  for (auto& k : GroupCommitConfigKeys("arbiter", "abort and resolve decisions", 1000)) keys.push_back(std::move(k));
  return keys;
}

int Serve(const std::optional<std::string>& config_file) {
  auto daemon = LoadDaemon(config_file, Schema(), "semper-arbiter");
  if (!daemon) return 2;
  const Config* config = &daemon->config;
  ServerOptions* options = &daemon->options;
  auto log = daemon->log;
  auto fail = [&daemon](std::string_view step, const absl::Status& s) { return daemon->Fail(step, s); };
  auto chain = LoadCertificateChain(*daemon, "arbiter.cert_file");
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
  // Watched for expiry (its roots are read again as certificates; the trust store took them).
  LoadCertificateChain(*daemon, "arbiter.trust_file").IgnoreError();

  std::vector<db::PreparedStatement> statements = ExchangeArbiter::Statements();
  for (auto& st : CaseBook::Statements()) statements.push_back(st);
  auto pool = OpenDatabase(*daemon, std::move(statements), "arbiter", arbiter_migrations());
  if (pool.status().code() == absl::StatusCode::kCancelled) return 0;
  if (!pool.ok()) return fail("database", pool.status());

  std::vector<Certificate> issuers(chain->begin() + 1, chain->end());
  std::optional<asw::Party> escrow;
  if (config->Has("escrow.cert_file")) {
    auto escrow_chain = LoadCertificateChain(*daemon, "escrow.cert_file");
    if (!escrow_chain.ok()) return fail("escrow.cert_file", escrow_chain.status());
    auto escrow_key = LoadSigningKey(*config, "escrow");
    if (!escrow_key.ok()) return fail("escrow key", escrow_key.status());
    if (X509_check_private_key(escrow_chain->front().x509(), escrow_key->evp()) != 1) {
      return fail("escrow key", InvalidField("escrow.key_file", "does not match escrow.cert_file"));
    }
    escrow = asw::Party{*escrow_key, escrow_chain->front()};
  }
  const absl::Duration objection = config->GetDuration("arbiter.payment_objection_period");
  if (objection <= absl::ZeroDuration()) {
    return fail("arbiter.payment_objection_period",
                InvalidField("arbiter.payment_objection_period",
                             "must be positive: it is the time a responder has to show a completed contract"));
  }
  ExchangeArbiter exchanges(pool->get(), asw::Party{*key, chain->front()}, &*trust, issuers, escrow,
                            GroupCommitOptionsFrom(*daemon, "arbiter", "arbiter_decisions"), objection);

  // Dispute resolution: semper-ca for certificate status, semper-notary for tree heads and the
  // verdicts' log entries.
  const std::string server_name = config->GetString("arbiter.upstream_server_name");
  std::shared_ptr<v1::CertificationAuthority::StubInterface> ca = v1::CertificationAuthority::NewStub(
      UpstreamChannel(config->GetString("arbiter.ca_address"), *roots, server_name));
  std::shared_ptr<v1::Notary::StubInterface> notary =
      v1::Notary::NewStub(UpstreamChannel(config->GetString("arbiter.notary_address"), *roots, server_name));
  // Client certificates revoked at semper-ca are refused at the access gate.
  options->revocations = std::make_shared<RevocationWatch>(ca, config->GetDuration("access.revocation_staleness"));
  const absl::Duration deadline = absl::Seconds(10);
  EvidenceSources sources = RemoteSources(ca, notary, deadline);
  EvidenceChecker checker(&*trust, issuers, chain->front(), sources);
  CaseBook::Deps deps;
  deps.pool = pool->get();
  deps.trust = &*trust;
  deps.checker = &checker;
  deps.key = *key;
  deps.certificate = chain->front();
  deps.chain = issuers;
  deps.certificate_status = sources.certificate_status;
  deps.notarize = [notary, deadline](const std::string& document,
                                     const std::string& signature) -> absl::StatusOr<v1::Evidence> {
    v1::CertifyDocumentRequest req;
    req.set_document(document);
    req.set_signature(signature);
    v1::Evidence evidence;
    grpc::Status called = notary->CertifyDocument(UpstreamContext(deadline).get(), req, &evidence);
    if (!called.ok()) return UpstreamError("semper-notary", called);
    return evidence;
  };
  deps.answer_period = config->GetDuration("arbiter.answer_period");
  {
    // GetCase hands out a claim and an answer with the verdict: two of them fit one answer.
    const int64_t grpc_max = config->GetInt("grpc.max_message_bytes");
    if (grpc_max < (int64_t{4} << 20)) {
      return fail("grpc.max_message_bytes", InvalidField("grpc.max_message_bytes",
                                                         "must be at least 4 MiB for the arbiter (cases hand out "
                                                         "claims and answers with their evidence)"));
    }
    deps.max_statement_bytes =
        static_cast<size_t>(std::min<int64_t>(int64_t{8} << 20, (grpc_max - (int64_t{2} << 20)) / 2));
  }
  for (const std::string& name : config->GetStringList("arbiter.human_review")) {
    auto kind = ClaimKindFromName(name);
    if (!kind.has_value())
      return fail("arbiter.human_review", InvalidField("arbiter.human_review", StrCat("unknown claim kind ", name)));
    deps.human_review.insert(*kind);
  }
  CaseBook cases(std::move(deps));

  PseudonymCascadeKeys::Deps cascade_deps;
  if (escrow.has_value()) {
    auto secret = CascadeSecretFromEscrow(escrow->key);
    if (secret.ok()) {
      cascade_deps.secret = std::move(*secret);
    } else {
      LogEvent(log, spdlog::level::warn, "pseudonym_cascade_unavailable")
          .With("error", std::string(secret.status().message()));
    }
  }
  cascade_deps.trust = &*trust;
  cascade_deps.ca = ca;
  cascade_deps.logger = log;
  cascade_deps.pool = pool->get();
  PseudonymCascadeKeys cascade_keys(std::move(cascade_deps));
  ArbiterServiceImpl service(&exchanges, &cases, &cascade_keys, issuers);
  db::ConnectionPool* p = pool->get();
  auto server = Server::Start(*options, {&service}, [p] { return p->Ping(); });
  if (!server.ok()) return fail("listening", server.status());

  // Cases past their deadline are decided, and decided verdicts go to the notary, in the
  // background; several replicas may sweep at once (each decision is a conditional update).
  Periodic sweeper(config->GetDuration("arbiter.sweep_interval"), [&] {
    auto swept = cases.Sweep();
    if (!swept.ok()) {
      LogEvent(log, spdlog::level::warn, "case_sweep_failed").With("error", std::string(swept.status().message()));
    } else if (*swept > 0) {
      LogEvent(log, spdlog::level::info, "cases_swept").With("changed", *swept);
    }
  });
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
