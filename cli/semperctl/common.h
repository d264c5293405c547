// What every semperctl command shares: the connection flags, dying with a readable error,
// secrets from files or the terminal, confirmation, channels to the daemons.
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "common/base/secret.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/container/container.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"
#include "semper/v1/container.pb.h"

namespace semper::ctl {

struct Connection {
  std::string server = "localhost:7000";     // semper-ca
  std::string tsa = "localhost:7010";        // semper-tsa
  std::string notary = "localhost:7020";     // semper-notary
  std::string arbiter = "localhost:7030";    // semper-arbiter
  std::string liability = "localhost:7040";  // semper-liability
  std::string ca_file;                       // roots that the server's certificate must chain to
  std::string cert_file;                     // client certificate chain (PEM), for administrators
  std::string key_file;                      // its key (encrypted PEM)
  std::string passphrase_file;               // passphrase of key_file; asked for on the terminal otherwise
  std::string server_name;                   // TLS name to expect, if not the host in --server
  bool plaintext = false;
  bool yes = false;
};

// Prints "semperctl: <message> [<reason>]" and exits with `code`.
[[noreturn]] void Die(const absl::Status& s, int code = 1);
std::string ReadFileOrDie(const std::string& path);
SecretData AskSecret(const std::string& prompt);
SecretData Passphrase(const std::string& file, const std::string& prompt);
// Everything semperctl prints to stdout and stderr from here on passes through ShownStream: no
// byte a terminal would hide reaches it as itself (main() calls this first).
void GuardTerminalOutput();
// Someone else's text as it may be shown before a confirmation (Shown(): every byte a terminal
// would hide, escaped, backslashes doubled); VisibleLine() also escapes newlines and tabs, for a
// field printed on one line. Confirm() then says that something was escaped.
std::string Visible(std::string_view text);
std::string VisibleLine(std::string_view text);

// How to check a daemon's statement saved as <sig> and <json> with openssl alone: the signature,
// and a signer whose subject is exactly that daemon's signing certificate's (the README section
// "Checking a daemon's statement with openssl alone"). `daemon`: notary, arbiter, liability, ca.
void PrintOpensslCheck(const std::string& sig, const std::string& json, const std::string& daemon);
bool Confirm(const Connection& c, const std::string& question);
// A channel to `address` with the connection's TLS settings (client certificate if given).
std::shared_ptr<grpc::Channel> ChannelTo(const Connection& c, const std::string& address);
void Call(const grpc::Status& s);
std::unique_ptr<grpc::ClientContext> Ctx();

// semper-tsa's token over SHA-256 of `signature`: the proof a dispute takes that the signature
// existed then, whatever becomes of the signer's key later. "" (with a note on stderr) when the
// TSA cannot be reached or its answer does not check.
std::string StampSignature(const Connection& c, std::string_view signature);
// For containers that ask for time-stamped signatures (CAdES-T): asks semper-tsa (c.tsa) for a
// time-stamp over a SHA-256 digest; the container library puts it into the signature, and
// verifies it whenever the container is opened.
TimeStampFn TsaTimeStamp(const Connection& c);
// The time-stamps semperctl keeps beside a container file (FILE.stamps), one per signature in
// order ("" for a signature without one); none when there is no such file.
// Each checked against its signature; those that do not hold are left out with a note.
std::vector<std::string> ReadStamps(const Connection& c, const std::string& container_file,
                                    const v1::SignedContainer& container);
void WriteStamps(const std::string& container_file, const std::vector<std::string>& stamps);

// The suite's roots from --ca-file (required).
TrustStore Trust(const Connection& c);
void WriteOrDie(const std::string& path, const std::string& content, int mode = 0644);
// Readable JSON (proto field names, indented), and back.
std::string Json(const google::protobuf::Message& m);
template <typename T>
T FromJsonFile(const std::string& path) {
  T m;
  if (!google::protobuf::util::JsonStringToMessage(ReadFileOrDie(path), &m).ok()) {
    Die(MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT, StrCat(path, " is not the expected JSON")),
        2);
  }
  return m;
}

// A detached CMS signature over `content` by `key` for the wallet's signature certificate
// (chain.front()) with the rest of the chain embedded; dies on failure.
std::string WalletSign(std::string_view content, const PrivateKey& key, const std::vector<Certificate>& chain);

// "2026-11-24 10:00:00 UTC".
std::string TimeText(const google::protobuf::Timestamp& t);

// A wallet made by `semperctl enroll`: the signature certificate with its chain (read first, to
// show the person what will be signed), then the key (asks for the passphrase).
std::vector<Certificate> WalletChain(const std::string& wallet);
// An exclusive lock on a wallet (flock of <wallet>/.lock) for whatever replaces its files:
// released when destroyed.
class WalletLock {
 public:
  // nullopt (with wait false) while another process holds it.
  static std::optional<WalletLock> Take(const std::string& wallet, bool wait);
  WalletLock(WalletLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  WalletLock& operator=(WalletLock&&) = delete;
  ~WalletLock();

 private:
  explicit WalletLock(int fd) : fd_(fd) {}
  int fd_;
};
// A renewal (semperctl renew) that stopped after the CA's answer was saved beside the wallet's
// files (<file>.next, then renewal.done): its files take their places (under the wallet's lock,
// unless the caller holds it: `locked`). Every reader of a wallet calls this first; true if it
// completed one.
bool CompleteRenewal(const std::string& wallet, bool locked = false);
// `content` in `path` (created with `mode`), on disk before this returns; dies otherwise.
void WriteDurablyOrDie(const std::string& path, std::string_view content, mode_t mode = 0600);
// The directory entries of `dir` (renames, new files) on disk.
void SyncDirectory(const std::string& dir);
PrivateKey WalletKey(const std::string& wallet, const std::string& passphrase_file);
// Both wallet keys with one passphrase: the signature key and the authentication key (which also
// decrypts what is encrypted to the authentication certificate).
struct WalletKeys {
  PrivateKey signature;
  PrivateKey authentication;
  Certificate authentication_certificate;
};
WalletKeys WalletBothKeys(const std::string& wallet, const std::string& passphrase_file);
// A channel to `address` that presents the wallet's authentication certificate (mutual TLS): for
// calls made as oneself (a seller asking for a guarantee). Asks for the passphrase.
std::shared_ptr<grpc::Channel> ChannelAsWallet(const Connection& c, const std::string& address,
                                               const std::string& wallet, const std::string& passphrase_file);
// The same with keys already opened (one passphrase question for a command that also signs).
std::shared_ptr<grpc::Channel> ChannelAsWallet(const Connection& c, const std::string& address,
                                               const std::string& wallet, const WalletKeys& keys);

}  // namespace semper::ctl
