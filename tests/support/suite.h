// The semper daemons as processes for tests and benchmarks: `semper-ca init` into a directory,
// then semper-ca, semper-tsa, semper-notary and semper-arbiter on free loopback ports against one
// PostgreSQL database, with TLS and the init's certificates. Stops them on destruction.
#pragma once

#include <google/protobuf/descriptor.h>
#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"
#include "semper/v1/privacy.pb.h"
#include "semper/v1/types.pb.h"
#include "tests/support/subprocess.h"

namespace semper::testing {

// One unary call by method path ("/semper.v1.Notary/AuditLog") with a serialized request, whatever
// the method's types: for tests that call every RPC from the service descriptors.
grpc::Status CallUnary(grpc::GenericStub& stub, const std::string& method, const std::string& request,
                       std::chrono::milliseconds deadline);

// A service of the suite's protos by full name ("semper.v1.Notary"), or nullptr.
const google::protobuf::ServiceDescriptor* SuiteService(const std::string& name);

class Suite {
 public:
  struct Options {
    // Daemon binaries by name ("ca", "tsa", "notary", "arbiter"); those given are started, in
    // that order, except those in `not_started`. "ca" is always needed (for the init).
    std::map<std::string, std::string> binaries;
    std::vector<std::string> not_started;
    std::string conninfo;
    std::string passphrase = "suite test passphrase";
    // Extra SEMPER_* settings for the arbiter, e.g. "SEMPER_ARBITER_ANSWER_PERIOD=4s", and the
    // liability tracker.
    std::vector<std::string> arbiter_env;
    std::vector<std::string> liability_env;
    // Extra SEMPER_* settings for every daemon, e.g. "SEMPER_ACCESS_REVOCATION_STALENESS=3s".
    std::vector<std::string> common_env;
    // How many semper-liability processes (replicas on one database).
    int liability_replicas = 1;
    // How many semper-ca processes ("ca", "ca2", ...; one database, one PKI).
    int ca_replicas = 1;
    // semper-ca's HTTP port (CRL, OCSP) on 127.0.0.1:port("ca-http"); off otherwise.
    bool ca_http = false;
  };
  // `dir` must outlive the suite.
  static absl::StatusOr<std::unique_ptr<Suite>> Start(const TempDir* dir, Options options);
  ~Suite();

  std::string P(const std::string& name) const { return dir_->path() + "/" + name; }
  int port(const std::string& daemon) const { return ports_.at(daemon); }
  // Replicas after the first are named "liability2", "liability3", ...
  // A TLS channel to a daemon; `client`: "" (no certificate), "admin" or "arbitrator".
  std::shared_ptr<grpc::Channel> Channel(const std::string& daemon, const std::string& client = "") const;
  // The issuing CA's certificate (the chain below the root).
  std::vector<Certificate> Chain() const;

  struct Subscriber {
    PrivateKey key;  // the signature key
    Certificate certificate;
    // The authentication key and certificate (TLS client); absent for pseudonyms.
    std::optional<PrivateKey> authentication_key;
    std::optional<Certificate> authentication_certificate;
  };
  // A TLS channel authenticated with a subscriber's authentication certificate.
  std::shared_ptr<grpc::Channel> ChannelAs(const std::string& daemon, const Subscriber& who) const;
  // A TLS channel with any client certificate chain and unencrypted key (PEM); empty: none.
  std::shared_ptr<grpc::Channel> ChannelWith(const std::string& daemon, std::string cert_chain_pem,
                                             std::string key_pem) const;
  // Registers (as the administrator) and enrolls a subscriber; returns its signature key.
  absl::StatusOr<Subscriber> Enroll(const std::string& name, v1::CustomerKind kind) const;
  // A buyer's signed order (a serialized SealedContainer, as `semperctl order sign` writes it)
  // naming `seller` (a certificate of the seller), for `minor_units` in `currency`.
  std::string SignedOrder(const Subscriber& buyer, const Certificate& seller, int64_t minor_units,
                          const std::string& currency = "EUR", const std::string& order_id = "") const;
  // A pseudonym for `holder` (its signature key signs the request): a fresh key and its
  // certificate. `name` only for a ROLE pseudonym.
  absl::StatusOr<Subscriber> IssuePseudonym(const Subscriber& holder, v1::PseudonymKind kind,
                                            const std::string& name = "") const;
  // Stops one daemon (SIGTERM) and starts it again with the same settings.
  absl::Status Stop(const std::string& name);
  absl::Status Restart(const std::string& name);
  // Kills one daemon with SIGKILL (no shutdown at all); Restart starts it again.
  absl::Status Kill(const std::string& name);
  // Revokes a certificate (as the administrator).
  absl::Status Revoke(const Certificate& cert, int reason) const;

 private:
  Suite(const TempDir* dir, Options options) : dir_(dir), o_(std::move(options)) {}
  // The running process of daemon `name`, or nullptr.
  ChildProcess* Running(const std::string& name);
  const TempDir* dir_;
  Options o_;
  std::map<std::string, int> ports_;
  std::vector<std::pair<std::string, ChildProcess>> daemons_;
  std::map<std::string, std::vector<std::string>> argv_;
};

}  // namespace semper::testing
