// gRPC + HTTP server lifecycle.
#include "common/server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/numbers.h"
#include "common/base/files.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/keys.h"
#include "common/server/interceptors.h"
#include "common/server/tls_identity.h"

namespace semper {
namespace {

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& key, const std::string& hp) {
  auto colon = hp.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(AbslView(std::string_view(hp).substr(colon + 1)), &port) || port < 0 || port > 65535) {
    return InvalidField(key, StrCat("'", hp, "' is not host:port"));
  }
  std::string host = hp.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::make_pair(host, port);
}

// Hands the names of the services a server serves to `out` while it is built, before it starts
// (gRPC's reflection learns them the same way): for health per service name, and for the
// interceptor, which tells a served method's undecodable request from a method not served here.
class ServiceNamesPlugin final : public grpc::ServerBuilderPlugin {
 public:
  explicit ServiceNamesPlugin(std::vector<std::string>* out) : out_(out) {}
  std::string name() override { return "semper_service_names"; }
  void InitServer(grpc::ServerInitializer* si) override {
    if (const auto* names = si->GetServiceList(); names != nullptr) *out_ = *names;
  }
  void Finish(grpc::ServerInitializer*) override {}
  void ChangeArguments(const std::string&, void*) override {}

 private:
  std::vector<std::string>* out_;
};

class ServiceNamesOption final : public grpc::ServerBuilderOption {
 public:
  explicit ServiceNamesOption(std::vector<std::string>* out) : out_(out) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->push_back(std::make_unique<ServiceNamesPlugin>(out_));
  }

 private:
  std::vector<std::string>* out_;
};

}  // namespace

std::vector<ConfigKey> ServerConfigKeys(int default_grpc_port, int default_http_port) {
  using T = ConfigType;
  return {
      {"grpc.listen", T::kString, ConfigValue(StrCat("0.0.0.0:", default_grpc_port)), false, false, "gRPC host:port"},
      {"grpc.plaintext", T::kBool, ConfigValue(false), false, false, "no TLS: local development only"},
      {"grpc.max_message_bytes", T::kInt, ConfigValue(int64_t{32 << 20}), false, false, "", 1024, int64_t{1} << 30},
      {"http.listen", T::kString, ConfigValue(StrCat("0.0.0.0:", default_http_port)), false, false,
       "HTTP host:port (health, metrics); empty disables"},
      {"http.max_body_bytes", T::kInt, ConfigValue(int64_t{1 << 20}), false, false, "larger bodies get 413", 1024,
       int64_t{1} << 30},
      {"http.threads", T::kInt, ConfigValue(int64_t{32}), false, false, "HTTP requests served at once", 1, 1024},
      {"http.max_connections", T::kInt, ConfigValue(int64_t{1024}), false, false,
       "HTTP connections open at once; more are answered 503 and closed", 1, 1000000},
      {"http.max_connections_per_address", T::kInt, ConfigValue(int64_t{64}), false, false,
       "HTTP connections open at once from one client address (trusted proxies excepted)", 1, 1000000},
      {"http.request_timeout", T::kDuration, ConfigValue(absl::Seconds(10)), false, false,
       "a request must arrive whole within this time of its first byte (else 408), however slowly it trickles"},
      {"http.idle_timeout", T::kDuration, ConfigValue(absl::Seconds(5)), false, false,
       "a connection without a request in progress closes after this long"},
      {"proxy.trusted_addresses", T::kString, ConfigValue(std::string("")), false, false,
       "comma-separated IP addresses of load balancers in front of this daemon: for connections from them, the "
       "client address of rate limits is the last X-Forwarded-For hop that is not one of them (HTTP) or the "
       "x-forwarded-for metadata (gRPC callers without a certificate; only for a balancer that terminates "
       "HTTP/2 and sets it: a TCP pass-through balancer lets clients write it); they are exempt from the "
       "per-address connection limit"},
      {"tls.cert_file", T::kString, std::nullopt, false, false, "server certificate chain (PEM)"},
      {"tls.key_file", T::kString, std::nullopt, false, false, "server private key (PEM)"},
      {"tls.key_passphrase_file", T::kString, std::nullopt, false, false, "file holding the key's passphrase"},
      {"tls.client_ca_file", T::kString, std::nullopt, false, false, "CA certificates for client certificates (PEM)"},
      {"tls.require_client_cert", T::kBool, ConfigValue(true), false, false,
       "mutual TLS; false with a client CA makes client certificates optional (verified when sent)"},
      {"access.revocation_staleness", T::kDuration, ConfigValue(absl::Seconds(30)), false, false,
       "while semper-ca is unreachable, what it said about client certificates counts this long; after it, "
       "calls that need a role are refused (UNAVAILABLE) until it is heard again"},
      {"limits.per_second", T::kInt, ConfigValue(int64_t{100}), false, false,
       "expensive calls (signing, issuing, deciding) each client may make per second; 0: no limit", 0, 1000000},
      {"limits.burst", T::kInt, ConfigValue(int64_t{200}), false, false, "how many of them a client may make at once",
       1, 10000000},
      {"log.format", T::kString, ConfigValue(std::string("text")), false, false, "text or json"},
      {"log.level", T::kString, ConfigValue(std::string("info")), false, false, "trace..critical"},
      {"shutdown.grace", T::kDuration, ConfigValue(absl::Seconds(10)), false, false,
       "time in-flight calls get at shutdown"},
  };
}

absl::StatusOr<ServerOptions> ServerOptionsFromConfig(const Config& config, std::string name) {
  ServerOptions o;
  o.name = name;
  o.grpc_listen = config.GetString("grpc.listen");
  SEMPER_RETURN_IF_ERROR(SplitHostPort("grpc.listen", o.grpc_listen).status());
  o.http_listen = config.GetString("http.listen");
  if (!o.http_listen.empty()) SEMPER_RETURN_IF_ERROR(SplitHostPort("http.listen", o.http_listen).status());
  o.plaintext = config.GetBool("grpc.plaintext");
  o.max_message_bytes = static_cast<int>(config.GetInt("grpc.max_message_bytes"));
  o.max_http_body_bytes = static_cast<size_t>(config.GetInt("http.max_body_bytes"));
  o.http_threads = static_cast<int>(config.GetInt("http.threads"));
  o.http_max_connections = static_cast<size_t>(config.GetInt("http.max_connections"));
  o.http_max_connections_per_address = static_cast<size_t>(config.GetInt("http.max_connections_per_address"));
  o.http_request_timeout = config.GetDuration("http.request_timeout");
  o.http_idle_timeout = config.GetDuration("http.idle_timeout");
  SEMPER_ASSIGN_OR_RETURN(o.trusted_proxies, ParseAddressList(config.GetString("proxy.trusted_addresses")));
  o.tls.cert_file = config.GetString("tls.cert_file");
  o.tls.key_file = config.GetString("tls.key_file");
  o.tls.key_passphrase_file = config.GetString("tls.key_passphrase_file");
  o.tls.client_ca_file = config.GetString("tls.client_ca_file");
  o.tls.require_client_cert = config.GetBool("tls.require_client_cert");
  o.shutdown_grace = config.GetDuration("shutdown.grace");
  o.limits.per_second = static_cast<double>(config.GetInt("limits.per_second"));
  o.limits.burst = static_cast<double>(config.GetInt("limits.burst"));
  o.limits.trusted_proxies = o.trusted_proxies;
  SEMPER_ASSIGN_OR_RETURN(LogFormat format, ParseLogFormat(config.GetString("log.format")));
  SEMPER_ASSIGN_OR_RETURN(auto level, ParseLogLevel(config.GetString("log.level")));
  o.logger = MakeLogger(name, format, level);
  return o;
}

std::shared_ptr<grpc::Channel> Server::InProcessChannel() { return grpc_->InProcessChannel(grpc::ChannelArguments()); }

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options,
                                                      const std::vector<grpc::Service*>& services,
                                                      std::function<absl::Status()> readiness,
                                                      const std::function<void(HttpServer&)>& http_routes) {
  if (!options.logger) options.logger = MakeLogger(options.name, LogFormat::kText, spdlog::level::info);
  if (!options.metrics) options.metrics = std::make_shared<Metrics>();
  if (!options.access) options.access = std::make_shared<const AccessPolicy>(SuiteAccessMatrix());
  std::unique_ptr<Server> server(new Server(std::move(options)));
  Server& s = *server;
  s.readiness_ = std::move(readiness);
  auto& log = s.options_.logger;

  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!s.options_.plaintext) {
    SEMPER_ASSIGN_OR_RETURN(s.tls_, TlsIdentity::Load(s.options_.tls));
    if (s.options_.tls.require_client_cert && s.options_.tls.client_ca_file.empty()) {
      return InvalidField("tls.client_ca_file", "is required for mutual TLS");
    }
    creds = s.tls_->Credentials();
    creds->SetAuthMetadataProcessor(NewAccessProcessor(s.options_.access, s.options_.revocations));
    for (const auto& [setting, path, certs] :
         {std::tuple{"tls.cert_file", s.options_.tls.cert_file, s.tls_->chain()},
          std::tuple{"tls.client_ca_file", s.options_.tls.client_ca_file, s.tls_->roots()}}) {
      if (path.empty()) continue;
      if (certs.empty()) {
        // gRPC took the file (it reads what it can): serve, but say that its expiry is not watched.
        LogEvent(log, spdlog::level::warn, "certificate_expiry_unwatched")
            .With("setting", setting)
            .With("error", "no certificate in it can be read");
        continue;
      }
      for (const Certificate& c : certs) s.options_.certificates.push_back({setting, c});
    }
  }
  {
    absl::MutexLock lock(&s.certs_mu_);
    s.expiry_.assign(s.options_.certificates.size(), {});
  }
  if (s.options_.plaintext) {
    LogEvent(log, spdlog::level::warn, "insecure")
        .With("message",
              "gRPC listens WITHOUT TLS (grpc.plaintext = true): for local development only; "
              "never expose this port. Without client certificates the role matrix is not enforced "
              "at the transport; only the handlers' own checks apply");
  }
  if (!s.options_.plaintext && s.options_.revocations == nullptr) {
    LogEvent(log, spdlog::level::warn, "revocation_not_checked")
        .With("message",
              "client certificates are checked for chain, validity and roles, but not for revocation: "
              "no semper-ca feed is configured for this daemon");
  }
  SEMPER_RETURN_IF_ERROR(SplitHostPort("grpc.listen", s.options_.grpc_listen).status());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(s.options_.grpc_listen, creds, &s.grpc_port_);
  builder.SetMaxReceiveMessageSize(s.options_.max_message_bytes);
  builder.SetMaxSendMessageSize(s.options_.max_message_bytes);
  for (grpc::Service* service : services) builder.RegisterService(service);
  // Written by the plugin before the server starts; read only after.
  auto served = std::make_shared<std::vector<std::string>>();
  builder.SetOption(std::make_unique<ServiceNamesOption>(served.get()));
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewObservingInterceptorFactory(log, s.options_.metrics, served));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // Installed before the first call can arrive; removed when the server is gone.
  s.limiter_ = std::make_unique<RateLimiter>(s.options_.limits);
  InstallRateLimiter(s.limiter_.get());
  s.grpc_ = builder.BuildAndStart();
  if (!s.grpc_ || s.grpc_port_ <= 0) {
    return MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                     StrCat("cannot listen for gRPC on ", s.options_.grpc_listen, " (port in use, or bad TLS files)"));
  }
  // grpc.health.v1 answers for "" (the whole daemon) and for each service it serves by its full
  // name ("semper.v1.Notary"); SetServingStatus(bool) below moves them all together.
  for (const std::string& name : *served) s.grpc_->GetHealthCheckService()->SetServingStatus(name, false);
  s.grpc_->GetHealthCheckService()->SetServingStatus(false);

  if (!s.options_.http_listen.empty()) {
    SEMPER_ASSIGN_OR_RETURN(auto hp, SplitHostPort("http.listen", s.options_.http_listen));
    HttpServer::Options ho;
    ho.host = hp.first;
    ho.port = hp.second;
    ho.max_body_bytes = s.options_.max_http_body_bytes;
    ho.threads = s.options_.http_threads;
    ho.max_connections = s.options_.http_max_connections;
    ho.max_connections_per_address = s.options_.http_max_connections_per_address;
    ho.request_timeout = s.options_.http_request_timeout;
    ho.idle_timeout = s.options_.http_idle_timeout;
    ho.trusted_proxies = s.options_.trusted_proxies;
    s.http_ = std::make_unique<HttpServer>(ho, log, s.options_.metrics, [&s] { return s.CurrentReadiness(); });
    if (http_routes) http_routes(*s.http_);
    auto port = s.http_->Start();
    if (!port.ok()) {
      s.grpc_->Shutdown();
      return port.status();
    }
  }
  s.checker_ = std::thread([&s] {
    for (;;) {
      {
        absl::MutexLock lock(&s.mu_);
        s.mu_.Await(absl::Condition(
            +[](Server* srv) ABSL_EXCLUSIVE_LOCKS_REQUIRED(srv->mu_) { return srv->stopping_ || srv->check_wanted_; },
            &s));
        if (s.stopping_) return;
        s.check_wanted_ = false;
      }
      absl::Status r = s.readiness_ ? s.readiness_() : absl::OkStatus();
      absl::MutexLock lock(&s.mu_);
      s.check_result_ = std::move(r);
      s.check_done_ = true;
    }
  });
  s.PollReadiness();  // first result before anyone asks
  s.poller_ = std::thread([&s] {
    for (;;) {
      bool reload = false;
      {
        absl::MutexLock lock(&s.mu_);
        auto woken = [&s]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu_) { return s.stopping_ || s.reload_wanted_; };
        s.mu_.AwaitWithTimeout(absl::Condition(&woken), s.options_.readiness_interval);
        if (s.stopping_) return;
        reload = std::exchange(s.reload_wanted_, false);
      }
      if (s.tls_ != nullptr && (s.tls_->FilesChanged() || reload)) s.ReloadTls().IgnoreError();  // logged
      s.PollReadiness();
    }
  });
  LogEvent(log, spdlog::level::info, "listening")
      .With("grpc_port", s.grpc_port_)
      .With("http_port", s.http_port())
      .With("tls", s.options_.plaintext                    ? "off"
                   : s.options_.tls.require_client_cert    ? "mutual"
                   : s.options_.tls.client_ca_file.empty() ? "server"
                                                           : "mutual-optional");
  return server;
}

absl::Status Server::ReloadTls() {
  if (tls_ == nullptr) return absl::FailedPreconditionError("grpc.plaintext: no TLS identity to reload");
  absl::MutexLock lock(&reload_mu_);
  absl::Status reloaded = tls_->Reload();
  if (!reloaded.ok()) {
    LogEvent(options_.logger, spdlog::level::err, "tls_reload_failed")
        .With("error", std::string(reloaded.message()))
        .With("action", "still serving the previous certificate; fix the files (they are read again when they change)");
    return reloaded;
  }
  const std::vector<Certificate> chain = tls_->chain();
  std::vector<UsedCertificate> now;
  for (const Certificate& c : chain) now.push_back({"tls.cert_file", c});
  for (const Certificate& c : tls_->roots()) now.push_back({"tls.client_ca_file", c});
  ReplaceUsedCertificates({"tls.cert_file", "tls.client_ca_file"}, std::move(now));
  LogEvent(options_.logger, spdlog::level::info, "tls_reloaded")
      .With("subject", chain.empty() ? "" : chain.front().Subject())
      .With("serial", chain.empty() ? "" : chain.front().SerialHex())
      .With("not_after",
            chain.empty() ? "" : absl::FormatTime(absl::RFC3339_sec, chain.front().not_after(), absl::UTCTimeZone()));
  return absl::OkStatus();
}

void Server::ReplaceUsedCertificates(const std::vector<std::string>& settings, std::vector<UsedCertificate> now) {
  absl::MutexLock lock(&certs_mu_);
  std::vector<UsedCertificate> kept;
  std::vector<ExpiryLogged> kept_logged;
  for (size_t i = 0; i < options_.certificates.size(); ++i) {
    const UsedCertificate& used = options_.certificates[i];
    if (std::find(settings.begin(), settings.end(), used.setting) == settings.end()) {
      kept.push_back(used);
      kept_logged.push_back(expiry_[i]);
      continue;
    }
    options_.metrics->RemoveGauge(
        "semper_certificate_expiry_seconds",
        {{"setting", used.setting}, {"subject", used.certificate.Subject()}, {"serial", used.certificate.SerialHex()}});
  }
  for (UsedCertificate& u : now) {
    kept.push_back(std::move(u));
    kept_logged.push_back({});
  }
  options_.certificates = std::move(kept);
  expiry_ = std::move(kept_logged);
}

void Server::WatchExpiry() {
  absl::MutexLock lock(&certs_mu_);
  const absl::Time now = absl::Now();
  for (size_t i = 0; i < options_.certificates.size(); ++i) {
    const UsedCertificate& used = options_.certificates[i];
    const absl::Duration left = used.certificate.not_after() - now;
    options_.metrics->SetGauge(
        "semper_certificate_expiry_seconds",
        "seconds until a certificate this daemon uses expires (negative once expired), by the setting it comes from",
        {{"setting", used.setting}, {"subject", used.certificate.Subject()}, {"serial", used.certificate.SerialHex()}},
        absl::ToDoubleSeconds(left));
    // Logged when it comes within kExpiryWarning and when it expires, and once a day meanwhile
    // (timed by the steady clock: a step of the wall clock neither silences nor repeats it).
    const bool expired = left <= absl::ZeroDuration();
    const int state = expired ? 2 : left <= kExpiryWarning ? 1 : 0;
    ExpiryLogged& logged = expiry_[i];
    const auto since = std::chrono::steady_clock::now();
    if (state == 0 || (state == logged.state && since - logged.at < std::chrono::hours(24))) {
      logged.state = state;
      continue;
    }
    logged = {state, since};
    LogEvent(options_.logger, expired ? spdlog::level::err : spdlog::level::warn,
             expired ? "certificate_expired" : "certificate_expiring")
        .With("setting", used.setting)
        .With("subject", used.certificate.Subject())
        .With("serial", used.certificate.SerialHex())
        .With("not_after", absl::FormatTime(absl::RFC3339_sec, used.certificate.not_after(), absl::UTCTimeZone()))
        .With("days_left", absl::ToInt64Hours(left) / 24)
        .With("action", expired ? "replace it now: peers refuse an expired certificate"
                                : "replace it before it expires (README, Year two)");
  }
}

void Server::PollReadiness() {
  WatchExpiry();
  absl::Status ready;
  bool changed;
  {
    absl::MutexLock lock(&mu_);
    if (check_done_) {  // else the last check still runs: wait for it rather than start another
      check_done_ = false;
      check_wanted_ = true;
      check_started_ = absl::Now();
    }
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return check_done_ || stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&done),
                         std::max(absl::ZeroDuration(), check_started_ + options_.readiness_timeout - absl::Now()));
    if (stopping_) return;
    ready = check_done_ ? check_result_
                        : absl::UnavailableError(StrCat("the readiness check (the database) has not answered for ",
                                                        absl::ToInt64Seconds(absl::Now() - check_started_), " s"));
    changed = ready.ok() != ready_.ok();
    ready_ = ready;
    grpc_->GetHealthCheckService()->SetServingStatus(ready.ok());
  }
  options_.metrics->SetGauge("semper_ready", "1 when the daemon is ready to serve", {}, ready.ok() ? 1 : 0);
  if (changed) {
    LogEvent(options_.logger, ready.ok() ? spdlog::level::info : spdlog::level::warn, "readiness")
        .With("ready", ready.ok() ? "true" : "false")
        .With("reason", std::string(ready.message()));
  }
}

absl::Status Server::CurrentReadiness() {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("shutting down");
  return ready_;
}

void Server::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    if (grpc_) grpc_->GetHealthCheckService()->SetServingStatus(false);
  }
  if (poller_.joinable()) poller_.join();
  if (checker_.joinable()) checker_.join();  // after a check in progress returns
  LogEvent(options_.logger, spdlog::level::info, "shutting_down")
      .With("grace_ms", absl::ToInt64Milliseconds(options_.shutdown_grace));
  for (const auto& f : options_.on_shutdown) f();
  if (grpc_) {
    grpc_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(options_.shutdown_grace));
    grpc_->Wait();
  }
  if (http_) http_->Stop();
  LogEvent(options_.logger, spdlog::level::info, "stopped");
  options_.logger->flush();
}

Server::~Server() {
  Shutdown();
  InstallRateLimiter(nullptr);
}

void Server::BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int Server::RunUntilSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  int sig = 0;
  for (;;) {
    sigwait(&set, &sig);
    if (sig != SIGHUP) break;
    LogEvent(options_.logger, spdlog::level::info, "signal").With("signal", "SIGHUP").With("action", "reload TLS");
    absl::MutexLock lock(&mu_);
    reload_wanted_ = true;
  }
  LogEvent(options_.logger, spdlog::level::info, "signal").With("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  Shutdown();
  return sig;
}

}  // namespace semper
