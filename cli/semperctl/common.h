// What every semperctl command shares: the connection flags, dying with a readable error,
// secrets from files or the terminal, confirmation, channels to the daemons.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/status/status.h"
#include "common/base/secret.h"

namespace semper::ctl {

struct Connection {
  std::string server = "localhost:7000";  // semper-ca
  std::string tsa = "localhost:7010";     // semper-tsa
  std::string notary = "localhost:7020";  // semper-notary
  std::string ca_file;          // roots that the server's certificate must chain to
  std::string cert_file;        // client certificate chain (PEM), for administrators
  std::string key_file;         // its key (encrypted PEM)
  std::string passphrase_file;  // passphrase of key_file; asked for on the terminal otherwise
  std::string server_name;      // TLS name to expect, if not the host in --server
  bool plaintext = false;
  bool yes = false;
};

// Prints "semperctl: <message> [<reason>]" and exits with `code`.
[[noreturn]] void Die(const absl::Status& s, int code = 1);
std::string ReadFileOrDie(const std::string& path);
SecretData AskSecret(const std::string& prompt);
SecretData Passphrase(const std::string& file, const std::string& prompt);
bool Confirm(const Connection& c, const std::string& question);
// A channel to `address` with the connection's TLS settings (client certificate if given).
std::shared_ptr<grpc::Channel> ChannelTo(const Connection& c, const std::string& address);
void Call(const grpc::Status& s);
std::unique_ptr<grpc::ClientContext> Ctx();

}  // namespace semper::ctl
