// The semper daemons as processes for tests and benchmarks: `semper-ca init` into a directory,
// then semper-ca, semper-tsa, semper-notary, semper-arbiter and semper-liability on free loopback
// ports against one PostgreSQL database, with TLS and the init's certificates. Stops them on
// destruction (a daemon that does not exit 0 on SIGTERM fails the test).
//
//   auto suite = Suite::Start(&dir, Suite::Options::Only({"ca", "tsa"}, conninfo()));
//
// or, to change the PKI or a daemon's settings per test, Init, then StartDaemon.
#pragma once

#include <google/protobuf/descriptor.h>
#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"
#include "semper/v1/ca.pb.h"
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
    // Presets: every daemon of the suite, or only those named ("ca" is added: it makes the PKI),
    // as built with the tests, on the database `conninfo`.
    static Options All(std::string conninfo);
    static Options Only(std::vector<std::string> daemons, std::string conninfo);

    // Daemon binaries by name ("ca", "tsa", "notary", "arbiter", "liability"); those given are
    // started, in that order, except those in `not_started`. "ca" is always needed (the init).
    std::map<std::string, std::string> binaries;
    std::vector<std::string> not_started;
    std::string conninfo;
    std::string passphrase = "suite test passphrase";
    // Extra SEMPER_* settings per daemon ("arbiter": {"SEMPER_ARBITER_ANSWER_PERIOD=4s"}; its
    // replicas take them too), after the suite's own, which they override; "-NAME" drops the
    // suite's NAME (e.g. "-SEMPER_TSA_KEY_FILE" for a key in a token).
    std::map<std::string, std::vector<std::string>> env;
    // Extra SEMPER_* settings for every daemon, e.g. "SEMPER_ACCESS_REVOCATION_STALENESS=3s".
    std::vector<std::string> common_env;
    // How many semper-liability processes (replicas on one database).
    int liability_replicas = 1;
    // How many semper-ca processes ("ca", "ca2", ...; one database, one PKI).
    int ca_replicas = 1;
    // Daemons that also serve HTTP, on 127.0.0.1:port(name + "-http"): "ca" (CRLs, OCSP),
    // "tsa" (RFC 3161), "notary".
    std::set<std::string> http;
  };
  // `semper-ca init`, then every daemon of `options`. `dir` must outlive the suite.
  static absl::StatusOr<std::unique_ptr<Suite>> Start(const TempDir* dir, Options options);
  // Only `semper-ca init`: the test changes the PKI or picks settings, then starts daemons.
  static absl::StatusOr<std::unique_ptr<Suite>> Init(const TempDir* dir, Options options);
  // Starts daemon `name` ("tsa", or a replica "tsa2" of it, on a port of its own) with the
  // options' settings and `extra_env` (as Options::env), and waits until it serves.
  absl::Status StartDaemon(const std::string& name, const std::vector<std::string>& extra_env = {});
  // The command line StartDaemon runs (for tests that run a daemon as a command: bad settings).
  std::vector<std::string> Argv(const std::string& name, const std::vector<std::string>& extra_env = {});
  ~Suite();

  std::string P(const std::string& name) const { return dir_->path() + "/" + name; }
  const std::string& passphrase() const { return o_.passphrase; }
  // A daemon's gRPC port, or "<daemon>-http"'s.
  int port(const std::string& daemon) const { return ports_.at(daemon); }
  // Replicas after the first are named "liability2", "liability3", ...
  // A TLS channel to a daemon, or to several replicas balanced round robin ("tsa,tsa2"); `client`:
  // "" (no certificate), "admin" or "arbitrator".
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
  // `ca`: the replica(s) to ask ("ca,ca2").
  absl::StatusOr<Subscriber> Enroll(const std::string& name, v1::CustomerKind kind, const std::string& ca = "ca") const;
  // The two steps of Enroll, for tests that retry one: registration (the enrolment code), then
  // an enrolment request for new keys, sent (again) with Complete.
  absl::StatusOr<std::string> Register(const std::string& name, v1::CustomerKind kind,
                                       const std::string& ca = "ca") const;
  struct Enrolment {
    v1::EnrollRequest request;
    PrivateKey authentication_key;
    PrivateKey signature_key;
  };
  absl::StatusOr<Enrolment> NewEnrolment(const std::string& code) const;
  absl::StatusOr<Subscriber> Complete(const Enrolment& enrolment, const std::string& ca = "ca") const;
  // A buyer's signed order (a serialized SealedContainer, as `semperctl order sign` writes it)
  // naming `seller` (a certificate of the seller), for `minor_units` in `currency`.
  std::string SignedOrder(const Subscriber& buyer, const Certificate& seller, int64_t minor_units,
                          const std::string& currency = "EUR", const std::string& order_id = "") const;
  // A pseudonym for `holder` (its signature key signs the request): a fresh key and its
  // certificate. `name` only for a ROLE pseudonym.
  absl::StatusOr<Subscriber> IssuePseudonym(const Subscriber& holder, v1::PseudonymKind kind,
                                            const std::string& name = "") const;
  // Anonymous tokens (semper-ca, `ca`: the replica(s) to ask): a kind created by `issuer` (2.90 EUR,
  // valid 30 days), a blind issuance signed by `issuer`, and a holder's whole protocol (prepare,
  // blind, issue, finalize) for one token saying `what`.
  absl::StatusOr<v1::TokenKind> CreateTokenKind(const Subscriber& issuer, const std::string& name,
                                                const std::string& ca = "ca") const;
  absl::StatusOr<v1::IssueBlindTokenResponse> IssueBlindToken(const Subscriber& issuer, const std::string& kind_id,
                                                              const std::string& blinded,
                                                              const std::string& ca = "ca") const;
  struct BlindToken {
    std::string message, signature, blinded;
  };
  absl::StatusOr<BlindToken> ObtainToken(const Subscriber& issuer, const v1::TokenKind& kind, const std::string& what,
                                         const std::string& ca = "ca") const;
  // Stops one daemon (SIGTERM; an exit other than 0 is an error) and starts it again with the
  // same settings. A stopped daemon may be started anew with StartDaemon.
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
  // The port of `name`, taken when first asked for.
  int PortOf(const std::string& name);
  const TempDir* dir_;
  Options o_;
  std::map<std::string, int> ports_;
  std::vector<std::pair<std::string, ChildProcess>> daemons_;
  std::map<std::string, std::vector<std::string>> argv_;
};

}  // namespace semper::testing
