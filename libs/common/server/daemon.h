// What every daemon's Serve() does first: configuration (file, then SEMPER_* environment), the
// server options and logger, its database (pool and migrations), and the certificate chains it
// loads. Each step that fails is logged once, with the step's name.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/base/config.h"
#include "common/crypto/certificate.h"
#include "common/db/group_commit.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/server/server.h"

namespace semper {

struct Daemon {
  Config config;
  ServerOptions options;  // with its logger and metrics made
  std::shared_ptr<spdlog::logger> log;
  // Logs a failed start step and returns the daemon's exit code for it (1).
  int Fail(std::string_view step, const absl::Status& status) const;
};

// Reads the configuration for `schema` and logs it (secrets left out); nullopt after printing
// the error on stderr (the caller exits with 2).
std::optional<Daemon> LoadDaemon(const std::optional<std::string>& config_file, const std::vector<ConfigKey>& schema,
                                 const std::string& name);

// database.url (required, secret) and database.pool_size.
std::vector<ConfigKey> DatabaseConfigKeys(int64_t default_pool_size);

// <section>.group_commit_max and <section>.committers: how a daemon's main write is group
// committed (common/db/group_commit.h).
std::vector<ConfigKey> GroupCommitConfigKeys(const std::string& section, const std::string& what, int64_t default_max,
                                             int64_t default_in_flight = 1);
// Those keys' values, with the daemon's metrics, for the queue named `queue`.
db::GroupCommitOptions GroupCommitOptionsFrom(const Daemon& daemon, const std::string& section, std::string queue);
// A pool on database.url with `statements`, and `schema` migrated, waiting while the database is
// unreachable. CANCELLED when SIGTERM or SIGINT came meanwhile (the caller exits with 0).
absl::StatusOr<std::unique_ptr<db::ConnectionPool>> OpenDatabase(const Daemon& daemon,
                                                                 std::vector<db::PreparedStatement> statements,
                                                                 std::string_view schema,
                                                                 const std::vector<db::Migration>& migrations);

// The non-empty PEM certificate chain in the file named by config key `key`, each certificate
// of it watched for expiry (ServerOptions::certificates) under the key's name.
absl::StatusOr<std::vector<Certificate>> LoadCertificateChain(Daemon& daemon, const std::string& key);

// A TLS channel to another daemon of the suite, trusting the suite's roots; `server_name`, when
// not empty, is the TLS name to expect instead of the address's host. The daemon presents its
// own TLS certificate (role `service`) as its client certificate.
std::shared_ptr<grpc::Channel> UpstreamChannel(const std::string& address, const std::string& roots_pem,
                                               const std::string& server_name);
// A client context for one call to another daemon, with a deadline.
std::unique_ptr<grpc::ClientContext> UpstreamContext(absl::Duration deadline);
// A failed call to another daemon as DEPENDENCY_UNAVAILABLE, naming it.
absl::Status UpstreamError(std::string_view who, const grpc::Status& status);

}  // namespace semper
