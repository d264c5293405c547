// Server: what every daemon's main() runs. Owns the gRPC server (TLS or mutual TLS), the standard
// health service, reflection, the observing interceptor, the HTTP listener (/healthz, /readyz,
// /metrics), a readiness poller, and clean shutdown. Thread-safe.
#pragma once

#include <grpcpp/server.h>
#include <spdlog/logger.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/base/config.h"
#include "common/crypto/certificate.h"
#include "common/server/access.h"
#include "common/server/http_server.h"
#include "common/server/metrics.h"
#include "common/server/rate_limit.h"
#include "common/server/tls_identity.h"

namespace semper {

struct TlsOptions {
  std::string cert_file;            // server certificate chain, PEM
  std::string key_file;             // server key, PEM (encrypted PKCS#8 with key_passphrase_file)
  std::string key_passphrase_file;  // empty: the key file is unencrypted (must be mode 0600)
  std::string client_ca_file;       // roots that client certificates must chain to
  // Mutual TLS. When false but client_ca_file is set, a client certificate is optional and
  // verified when presented (for services where some RPCs are open to anyone).
  bool require_client_cert = true;
};

// A certificate the daemon uses, by the setting it comes from ("tls.cert_file", "tsa.cert_file",
// ...): /metrics exports its seconds until expiry (semper_certificate_expiry_seconds), and the log
// warns from kExpiryWarning before (certificate_expiring, once a day; certificate_expired).
struct UsedCertificate {
  std::string setting;
  Certificate certificate;
};
inline constexpr absl::Duration kExpiryWarning = absl::Hours(24 * 30);

struct ServerOptions {
  std::string name = "semper";              // daemon name, for logs
  std::string grpc_listen = "127.0.0.1:0";  // host:port; port 0 picks a free one
  std::string http_listen = "127.0.0.1:0";  // empty: no HTTP listener
  // Plaintext gRPC, for local development only; logged loudly.
  bool plaintext = false;
  TlsOptions tls;
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Called when shutting down, before in-flight calls are waited for: to end long-lived
  // streams (watchers), which would otherwise hold the shutdown for the whole grace period.
  std::vector<std::function<void()>> on_shutdown;
  absl::Duration readiness_interval = absl::Seconds(2);
  // A readiness check that has not returned within this long reports not ready (a database whose
  // machine vanished can hold a query until TCP gives up), until it returns.
  absl::Duration readiness_timeout = absl::Seconds(5);
  int max_message_bytes = 32 << 20;
  size_t max_http_body_bytes = 1 << 20;
  int http_threads = 32;  // HTTP requests served at once (handlers may wait on the database)
  size_t http_max_connections = 1024;
  size_t http_max_connections_per_address = 64;
  absl::Duration http_request_timeout = absl::Seconds(10);
  absl::Duration http_idle_timeout = absl::Seconds(5);
  // Load balancers whose forwarded client address is believed (proxy.trusted_addresses).
  std::vector<std::string> trusted_proxies;
  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<Metrics> metrics;  // made if null
  // Who may call what (common/server/access.h), enforced on the TLS port before any handler;
  // the suite's matrix if null. Plaintext ports (development) leave it to the handlers.
  std::shared_ptr<const AccessPolicy> access;
  // Revoked client certificates refused at the same place (a RevocationWatch on semper-ca's
  // feed); null: not checked there (logged as a warning at start on a TLS port).
  std::shared_ptr<const RevocationCheck> revocations;
  // Per-client limit on the expensive RPCs (rate_limit.h); per_second 0: none.
  RateLimiter::Options limits;
  // Watched for expiry; Start adds the TLS chain (tls.cert_file) and roots (tls.client_ca_file).
  std::vector<UsedCertificate> certificates;
};

// Config keys shared by every daemon (grpc.*, http.*, tls.*, log.*, shutdown.grace).
std::vector<ConfigKey> ServerConfigKeys(int default_grpc_port, int default_http_port);
absl::StatusOr<ServerOptions> ServerOptionsFromConfig(const Config& config, std::string name);

class Server {
 public:
  // Starts listening. `services` must outlive the Server. `readiness` is polled every
  // readiness_interval; its result drives the gRPC health status and /readyz.
  // `http_routes` adds daemon-specific HTTP routes before the listener starts.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options,
                                                       const std::vector<grpc::Service*>& services,
                                                       std::function<absl::Status()> readiness = nullptr,
                                                       const std::function<void(HttpServer&)>& http_routes = nullptr);
  ~Server();

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_ ? http_->port() : 0; }
  Metrics& metrics() { return *options_.metrics; }
  // A channel to this server's own services that bypasses TLS and the access gate (semper-ca
  // follows its own revocation feed through it).
  std::shared_ptr<grpc::Channel> InProcessChannel();

  // Marks the server not serving, stops accepting calls, lets in-flight calls finish within
  // shutdown_grace (then cancels them), and stops the HTTP listener. Idempotent.
  void Shutdown();

  // Blocks SIGTERM, SIGINT and SIGHUP for the calling thread and every thread it starts later;
  // call it first thing in main(), so that RunUntilSignal() can receive them with sigwait.
  static void BlockTerminationSignals();
  // Waits for SIGTERM or SIGINT, then shuts down. Returns the signal number. SIGHUP meanwhile
  // asks the poller for ReloadTls at once.
  int RunUntilSignal();

  // Reads tls.cert_file, tls.key_file (with its passphrase file) and tls.client_ca_file again and
  // serves the new certificate to every handshake from about a second later; calls and
  // connections already open carry on. Done by the poller whenever one of those files changes,
  // and at SIGHUP. On error (a missing file, a key that is not the certificate's, an expired
  // certificate) nothing changes: logged tls_reload_failed. Thread-safe.
  absl::Status ReloadTls();

 private:
  explicit Server(ServerOptions options) : options_(std::move(options)) {}
  void PollReadiness();
  absl::Status CurrentReadiness();
  // Sets semper_certificate_expiry_seconds for every used certificate; logs those expiring.
  void WatchExpiry();

  // Replaces the certificates of `settings` among those watched for expiry (and their series).
  void ReplaceUsedCertificates(const std::vector<std::string>& settings, std::vector<UsedCertificate> now);

  ServerOptions options_;
  std::unique_ptr<TlsIdentity> tls_;  // null on a plaintext port
  std::function<absl::Status()> readiness_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<RateLimiter> limiter_;
  int grpc_port_ = 0;
  std::thread poller_;
  // Runs readiness_ when the poller asks, so that the poller can give up waiting for it.
  std::thread checker_;

  absl::Mutex mu_;
  bool check_wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool check_done_ ABSL_GUARDED_BY(mu_) = true;
  absl::Status check_result_ ABSL_GUARDED_BY(mu_);
  absl::Time check_started_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool reload_wanted_ ABSL_GUARDED_BY(mu_) = false;  // SIGHUP
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status ready_ ABSL_GUARDED_BY(mu_) = absl::UnavailableError("starting");
  // What was last logged about each of options_.certificates, and when.
  struct ExpiryLogged {
    int state = 0;  // 0 more than kExpiryWarning left, 1 expiring, 2 expired
    std::chrono::steady_clock::time_point at;
  };
  absl::Mutex certs_mu_;  // options_.certificates and expiry_: the poller, and ReloadTls
  std::vector<ExpiryLogged> expiry_ ABSL_GUARDED_BY(certs_mu_);
  absl::Mutex reload_mu_;  // one reload at a time
};

}  // namespace semper
