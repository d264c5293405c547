// semper-tsa: the RFC 3161 time-stamping authority (HTTP and gRPC), recording every token in
// PostgreSQL before it leaves.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>

#include "common/base/config.h"
#include "common/base/files.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/server/daemon.h"
#include "common/server/rate_limit.h"
#include "common/server/revocation_watch.h"
#include "common/server/server.h"
#include "common/server/signing_key.h"
#include "services/timestamp/batch.h"
#include "services/timestamp/clock.h"
#include "services/timestamp/service.h"
#include "services/timestamp/store.h"
#include "services/timestamp/tsa.h"

namespace semper {
std::vector<db::Migration> tsa_migrations();
}

namespace semper::tsa {
namespace {

// The default policy: an OID under IANA's enterprise number for documentation (32473, RFC 5612),
// on short arcs that every ASN.1 library represents (asn1js and GnuTLS's libtasn1 stop at 64-bit
// arcs, which a 2.25.<uuid> OID exceeds). It names no one's policy: operators put the OID of
// their own time-stamping policy (ETSI EN 319 421), under their own enterprise number, first in
// tsa.policies; semper-tsa warns at start while it runs with this one.
constexpr char kDefaultPolicy[] = "1.3.6.1.4.1.32473.3161.1";

std::vector<ConfigKey> Schema() {
  std::vector<ConfigKey> keys = ServerConfigKeys(7010, 7011);
  using T = ConfigType;
  for (auto& k : DatabaseConfigKeys(4)) keys.push_back(std::move(k));
  keys.push_back({"tsa.cert_file", T::kString, std::nullopt, true, false,
                  "TSA certificate (critical timeStamping EKU) followed by its issuers, PEM"});
  AddSigningKeyConfig(keys, "tsa", "TSA signing");
  keys.push_back({"tsa.policies", T::kStringList, ConfigValue(std::vector<std::string>{kDefaultPolicy}), false, false,
                  "accepted policy OIDs; the first is the default"});
  keys.push_back(
      {"tsa.accuracy", T::kDuration, ConfigValue(absl::Seconds(1)), false, false, "accuracy written into every token"});
  keys.push_back({"tsa.clock_precision_digits", T::kInt, ConfigValue(int64_t{3}), false, false,
                  "decimal digits of genTime's fraction", 0, 6});
  keys.push_back({"tsa.clock_check", T::kString, ConfigValue(std::string("kernel")), false, false,
                  "\"kernel\": refuse to stamp (timeNotAvailable) while the kernel reports the clock "
                  "unsynchronised; \"warn\": stamp anyway, and say so in the log and in "
                  "semper_tsa_unsynchronised_tokens_total (the local suite's default, deploy/up.sh); \"off\": "
                  "never check (development only)"});
  keys.push_back({"tsa.max_request_bytes", T::kInt, ConfigValue(int64_t{4096}), false, false,
                  "larger requests get 413 over HTTP, badDataFormat over gRPC", 64, 1 << 20});
  keys.push_back(
      {"tsa.max_nonce_bytes", T::kInt, ConfigValue(int64_t{32}), false, false, "longer nonces get badRequest", 8, 256});
  for (auto& k : GroupCommitConfigKeys("tsa", "tokens", 2000)) keys.push_back(std::move(k));
  keys.push_back({"tsa.ca_address", T::kString, std::nullopt, false, false,
                  "semper-ca's gRPC address: client certificates it revoked are refused (trusting "
                  "tls.client_ca_file); unset, the TSA depends on nothing and does not check them"});
  keys.push_back({"tsa.upstream_server_name", T::kString, ConfigValue(std::string("")), false, false,
                  "TLS name to expect from semper-ca, if not the host of its address"});
  keys.push_back({"tsa.batch_window", T::kDuration, ConfigValue(absl::Milliseconds(20)), false, false,
                  "batch mode: how long imprints are gathered into one tree"});
  keys.push_back({"tsa.batch_max_leaves", T::kInt, ConfigValue(int64_t{1000000}), false, false,
                  "batch mode: most leaves in one tree", 1, 16000000});
  return keys;
}

int Serve(const std::optional<std::string>& config_file) {
  auto daemon = LoadDaemon(config_file, Schema(), "semper-tsa");
  if (!daemon) return 2;
  const Config* config = &daemon->config;
  ServerOptions* options = &daemon->options;
  auto log = daemon->log;
  auto fail = [&daemon](std::string_view step, const absl::Status& s) { return daemon->Fail(step, s); };

  auto chain = LoadCertificateChain(*daemon, "tsa.cert_file");
  if (!chain.ok()) return fail("tsa.cert_file", chain.status());
  auto key = LoadSigningKey(*config, "tsa");
  if (!key.ok()) return fail("TSA key", key.status());

  std::vector<db::PreparedStatement> statements = TokenStore::Statements();
  auto pool = OpenDatabase(*daemon, std::move(statements), "tsa", tsa_migrations());
  if (pool.status().code() == absl::StatusCode::kCancelled) return 0;
  if (!pool.ok()) return fail("database", pool.status());

  TokenStore store(pool->get());
  SerialAllocator serials([&store] { return store.NextSerialBlock(); });
  TsaOptions tsa_options{chain->front(), std::vector<Certificate>(chain->begin() + 1, chain->end()), *key};
  tsa_options.policies = config->GetStringList("tsa.policies");
  tsa_options.accuracy = config->GetDuration("tsa.accuracy");
  tsa_options.clock_precision_digits = static_cast<int>(config->GetInt("tsa.clock_precision_digits"));
  tsa_options.max_request_bytes = static_cast<size_t>(config->GetInt("tsa.max_request_bytes"));
  tsa_options.max_nonce_bytes = static_cast<size_t>(config->GetInt("tsa.max_nonce_bytes"));
  tsa_options.serials = &serials;
  std::string clock_check = config->GetString("tsa.clock_check");
  if (clock_check == "kernel" || clock_check == "warn") {
    // "warn" is the local suite's default (deploy/up.sh): a new machine's clock is often
    // unsynchronised. It stamps anyway, and says so.
    const bool warns = clock_check == "warn";
    tsa_options.clock_check = KernelClockSynchronized;
    tsa_options.clock_check_warns = warns;
    if (warns) {
      // Each such token counted; a warning at most once a minute (timed by the steady clock: the
      // wall clock is the one in doubt).
      auto warned_at = std::make_shared<std::atomic<int64_t>>(std::numeric_limits<int64_t>::min() / 2);
      tsa_options.on_unsynchronised = [metrics = options->metrics, log, warned_at] {
        metrics->AddCounter("semper_tsa_unsynchronised_tokens_total",
                            "tokens issued while the kernel reported the clock unsynchronised "
                            "(tsa.clock_check = \"warn\"; never in production)",
                            {}, 1);
        metrics->SetGauge("semper_tsa_clock_synchronized", "1 while the clock may be trusted for time-stamps", {}, 0);
        const int64_t now =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch())
                .count();
        int64_t last = warned_at->load();
        if (now - last < 60 || !warned_at->compare_exchange_strong(last, now)) return;
        LogEvent(log, spdlog::level::warn, "clock_unsynchronised_stamping")
            .With("warning",
                  "the kernel reports the clock unsynchronised and semper-tsa stamps anyway (tsa.clock_check = "
                  "\"warn\", the local suite's default): a production TSA keeps time with NTP (chrony) and runs "
                  "with tsa.clock_check = \"kernel\", which refuses to stamp meanwhile");
      };
    }
    if (absl::Status now = KernelClockSynchronized(); !now.ok()) {
      LogEvent event(log, warns ? spdlog::level::warn : spdlog::level::err, "clock_unsynchronised");
      event.With("error", std::string(now.message()));
      if (warns) {
        event.With("warning",
                   "tsa.clock_check is \"warn\": tokens are issued anyway, marked in the log and in "
                   "semper_tsa_unsynchronised_tokens_total; production runs \"kernel\"");
      }
    }
  } else if (clock_check == "off") {
    LogEvent(log, spdlog::level::warn, "clock_check_off")
        .With("warning", "tsa.clock_check is off: tokens are issued even if the clock is wrong; development only");
  } else {
    return fail("tsa.clock_check", InvalidField("tsa.clock_check", "must be \"kernel\", \"warn\" or \"off\""));
  }
  auto tsa = TimeStampAuthority::New(tsa_options);
  if (!tsa.ok()) return fail("TSA", tsa.status());
  LogEvent(log, spdlog::level::info, "tsa")
      .With("certificate", tsa_options.signer.Subject())
      .With("key", std::string(KeyTypeName(tsa_options.key.type())))
      .With("policy", tsa_options.policies.front());
  if (const absl::Time now = tsa_options.clock();
      now < tsa_options.signer.not_before() || now >= tsa_options.signer.not_after()) {
    LogEvent(log, spdlog::level::err, "tsa_certificate_not_valid")
        .With("not_before", absl::FormatTime(absl::RFC3339_sec, tsa_options.signer.not_before(), absl::UTCTimeZone()))
        .With("not_after", absl::FormatTime(absl::RFC3339_sec, tsa_options.signer.not_after(), absl::UTCTimeZone()))
        .With("warning", "every request is refused (systemFailure) until a valid certificate is installed");
  }
  if (tsa_options.policies.front() == kDefaultPolicy) {
    LogEvent(log, spdlog::level::warn, "example_policy")
        .With("warning", StrCat("tokens name the example policy ", kDefaultPolicy,
                                " (RFC 5612's documentation arc): put your time-stamping policy's OID first in "
                                "tsa.policies"));
  }

  if (config->Has("tsa.ca_address")) {
    if (!config->Has("tls.client_ca_file")) {
      return fail("tsa.ca_address",
                  InvalidField("tls.client_ca_file",
                               "is required with tsa.ca_address (the roots semper-ca's certificate chains to)"));
    }
    auto roots = ReadFile(config->GetString("tls.client_ca_file"));
    if (!roots.ok()) return fail("tls.client_ca_file", roots.status());
    options->revocations = std::make_shared<RevocationWatch>(
        v1::CertificationAuthority::NewStub(UpstreamChannel(config->GetString("tsa.ca_address"), *roots,
                                                            config->GetString("tsa.upstream_server_name"))),
        config->GetDuration("access.revocation_staleness"));
  }
  std::unique_ptr<TokenCommitter> committer =
      MakeTokenCommitter(&store, GroupCommitOptionsFrom(*daemon, "tsa", "tsa_tokens"));
  Batcher batcher(tsa->get(), committer.get(), config->GetDuration("tsa.batch_window"),
                  static_cast<size_t>(config->GetInt("tsa.batch_max_leaves")));
  TsaServiceImpl::Options service_options;
  service_options.tsa = tsa->get();
  service_options.store = &store;
  service_options.committer = committer.get();
  service_options.batcher = &batcher;
  service_options.metrics = options->metrics;
  service_options.logger = log;
  TsaServiceImpl service(service_options);

  std::string chain_text;
  for (const Certificate& c : *chain) chain_text += c.Pem();
  const size_t max_request = tsa_options.max_request_bytes;
  db::ConnectionPool* p = pool->get();
  auto server = Server::Start(
      *options, {&service}, [p] { return p->Ping(); },
      [&](HttpServer& http) {
        // Asynchronous: the worker signs and hands the token to the group commit; the reply leaves
        // from the committer once the token is recorded, with no thread waiting meanwhile.
        auto stamp = [&service, max_request](const httplib::Request& req, HttpServer::Reply reply) {
          httplib::Response res;
          if (req.get_header_value("Content-Type") != "application/timestamp-query") {
            res.status = 415;
            res.set_content("Content-Type must be application/timestamp-query\n", "text/plain");
            reply(std::move(res));
            return;
          }
          if (req.body.size() > max_request) {
            res.status = 413;
            res.set_content(StrCat("a time-stamp request is at most ", max_request, " bytes\n"), "text/plain");
            reply(std::move(res));
            return;
          }
          if (absl::Status limited = AdmitExpensiveCall(StrCat("ip:", req.remote_addr), "time-stamp"); !limited.ok()) {
            res.status = 429;
            res.set_header("Retry-After",
                           std::to_string(std::max<int64_t>(
                               1, absl::ToInt64Seconds(absl::Ceil(*RetryAfterOf(limited), absl::Seconds(1))))));
            res.set_content(StrCat(limited.message(), "\n"), "text/plain");
            reply(std::move(res));
            return;
          }
          service.StampAndRecord(req.body, "", [reply](Stamped s) {
            httplib::Response answered;
            answered.set_content(s.response_der, "application/timestamp-reply");
            reply(std::move(answered));
          });
        };
        http.PostAsync("/", stamp);
        http.PostAsync("/tsa", stamp);
        http.Get("/certs", [chain_text](const httplib::Request&, httplib::Response& res) {
          res.set_content(chain_text, "application/pem-certificate-chain");
        });
      });
  if (!server.ok()) return fail("listening", server.status());
  (*server)->RunUntilSignal();
  return 0;
}

}  // namespace
}  // namespace semper::tsa

int main(int argc, char** argv) {
  semper::Server::BlockTerminationSignals();
  CLI::App app{"semper-tsa: the RFC 3161 time-stamping authority of the semper suite"};
  std::optional<std::string> config_file;
  app.add_option("--config", config_file, "TOML configuration file (environment SEMPER_* overrides it)");
  app.footer("Configuration keys:\n" + semper::ConfigHelp(semper::tsa::Schema()));
  CLI11_PARSE(app, argc, argv);
  return semper::tsa::Serve(config_file);
}
