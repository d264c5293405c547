// Shared semperctl plumbing.
#include "cli/semperctl/common.h"

#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "common/base/files.h"
#include "common/base/proto_time.h"
#include "common/base/shown.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/keys.h"
#include "common/crypto/oids.h"
#include "common/crypto/random.h"
#include "common/crypto/timestamp.h"
#include "common/server/client_target.h"
#include "common/server/grpc_status.h"
#include "common/server/server.h"
#include "semper/v1/arbiter.pb.h"
#include "semper/v1/tsa.grpc.pb.h"

namespace semper::ctl {

namespace {
// The largest answer a daemon sends: a notary item (16 MiB at most) with its evidence.
constexpr int kMaxAnswerBytes = 64 << 20;
}  // namespace

[[noreturn]] void Die(const absl::Status& s, int code) {
  std::fprintf(stderr, "semperctl: %s", std::string(s.message()).c_str());
  google::rpc::ErrorInfo info = ErrorInfoOf(s);
  std::fprintf(stderr, " [%s]\n", info.reason().c_str());
  std::exit(code);
}

std::string ReadFileOrDie(const std::string& path) {
  auto content = ReadFile(path);
  if (!content.ok()) Die(content.status(), 2);
  return *std::move(content);
}

SecretData AskSecret(const std::string& prompt) {
  std::fprintf(stderr, "%s", prompt.c_str());
  termios old{};
  bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) tcsetattr(STDIN_FILENO, TCSANOW, &old);
  std::fprintf(stderr, "\n");
  SecretData s(line);
  std::fill(line.begin(), line.end(), '\0');
  return s;
}

SecretData Passphrase(const std::string& file, const std::string& prompt) {
  if (!file.empty()) {
    auto s = SecretData::FromFile(file);
    if (!s.ok()) Die(s.status(), 2);
    return std::move(*s);
  }
  return AskSecret(prompt);
}

namespace {
bool shown_escaped = false;  // something was escaped since the start (Visible() or the guard)

// stdout and stderr through ShownStream: whatever semperctl prints (a daemon's error message, a
// certificate subject, a party's text) reaches the terminal with every byte it would hide escaped.
struct GuardedFd {
  int fd;
  ShownStream stream{ShownOptions{.escape_backslash = false}};
};

void WriteAll(int fd, const std::string& bytes) {
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

ssize_t GuardedWrite(void* cookie, const char* buf, size_t size) {
  auto* g = static_cast<GuardedFd*>(cookie);
  bool escaped = false;
  WriteAll(g->fd, g->stream.Feed(std::string_view(buf, size), &escaped));
  shown_escaped |= escaped;
  return static_cast<ssize_t>(size);
}

int GuardedClose(void* cookie) {
  auto* g = static_cast<GuardedFd*>(cookie);
  bool escaped = false;
  WriteAll(g->fd, g->stream.Finish(&escaped));
  return 0;
}

// Never destroyed: the C library flushes stdout and stderr (through these) after static
// destructors have run.
GuardedFd& guarded_stdout = *new GuardedFd{STDOUT_FILENO};
GuardedFd& guarded_stderr = *new GuardedFd{STDERR_FILENO};

FILE* Guard(GuardedFd* g, int mode) {
  cookie_io_functions_t io{nullptr, GuardedWrite, nullptr, GuardedClose};
  FILE* f = fopencookie(g, "w", io);
  if (f != nullptr) std::setvbuf(f, nullptr, mode, BUFSIZ);
  return f;
}
}  // namespace

void GuardTerminalOutput() {
  std::fflush(stdout);
  std::fflush(stderr);
  if (FILE* out = Guard(&guarded_stdout, ::isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF)) stdout = out;
  if (FILE* err = Guard(&guarded_stderr, _IONBF)) stderr = err;
}

std::string Visible(std::string_view text) {
  bool escaped = false;
  std::string out = Shown(text, &escaped);
  shown_escaped |= escaped;
  return out;
}

std::string VisibleLine(std::string_view text) {
  bool escaped = false;
  std::string out = Shown(text, &escaped, ShownOptions{.one_line = true});
  shown_escaped |= escaped;
  return out;
}

bool Confirm(const Connection& c, const std::string& question) {
  if (shown_escaped) std::printf("%s\n", std::string(kShownNote).c_str());
  if (c.yes) return true;
  std::fflush(stdout);  // what is asked about comes before the question, also through a pipe
  std::fprintf(stderr, "%s [y/N] ", question.c_str());
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

// On stderr, for each certificate in `pem` (what this command presents, or the roots it trusts)
// that expires within 30 days or has expired: which, when, and what to do.
static void WarnIfExpiring(const std::string& pem, const std::string& what) {
  static absl::flat_hash_set<std::string> said;  // once per file and command
  if (!said.insert(what).second) return;
  auto chain = Certificate::ChainFromPem(pem);
  if (!chain.ok()) {
    // TLS may still use what it can read of the file; its expiry cannot be checked here.
    std::fprintf(stderr, "semperctl: warning: cannot check when %s expires: %s\n", what.c_str(),
                 std::string(chain.status().message()).c_str());
    return;
  }
  const absl::Time now = absl::Now();
  for (const Certificate& c : *chain) {
    const absl::Duration left = c.not_after() - now;
    if (left > kExpiryWarning) continue;
    const std::string when = absl::FormatTime("%Y-%m-%d %H:%M UTC", c.not_after(), absl::UTCTimeZone());
    if (left <= absl::ZeroDuration()) {
      std::fprintf(stderr, "semperctl: warning: %s (%s) expired on %s: the daemons refuse it; get a new one\n",
                   what.c_str(), c.Subject().c_str(), when.c_str());
    } else {
      std::fprintf(stderr, "semperctl: warning: %s (%s) expires in %lld days, on %s: renew it before then\n",
                   what.c_str(), c.Subject().c_str(), static_cast<long long>(absl::ToInt64Hours(left) / 24),
                   when.c_str());
    }
  }
}

// One replica, several (IP:port,IP:port) or a DNS name, balanced round robin over every address.
static std::string TargetOrDie(const std::string& address) {
  auto target = ClientTarget(address);
  if (!target.ok()) Die(target.status(), 2);
  return *std::move(target);
}

std::shared_ptr<grpc::Channel> ChannelTo(const Connection& c, const std::string& address) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (c.plaintext) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    if (c.ca_file.empty()) Die(InvalidField("--ca-file", "is required (the suite's root.pem) unless --plaintext"), 2);
    ssl.pem_root_certs = ReadFileOrDie(c.ca_file);
    WarnIfExpiring(ssl.pem_root_certs, "the suite's root certificate in " + c.ca_file);
    if (!c.cert_file.empty()) {
      if (c.key_file.empty()) Die(InvalidField("--key", "is required with --cert"), 2);
      auto key = PrivateKey::FromPem(ReadFileOrDie(c.key_file),
                                     Passphrase(c.passphrase_file, "Passphrase of " + c.key_file + ": "));
      if (!key.ok()) Die(key.status(), 2);
      ssl.pem_private_key = std::string(key->ToUnencryptedPemSecret().Reveal());
      ssl.pem_cert_chain = ReadFileOrDie(c.cert_file);
      WarnIfExpiring(ssl.pem_cert_chain, "your certificate " + c.cert_file);
    }
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  if (!c.server_name.empty()) args.SetSslTargetNameOverride(c.server_name);
  // Answers carry up to a 16 MiB message or contract with its evidence (gRPC's default is 4 MiB).
  args.SetMaxReceiveMessageSize(kMaxAnswerBytes);
  SetRoundRobin(args);
  return grpc::CreateCustomChannel(TargetOrDie(address), creds, args);
}

void Call(const grpc::Status& s) {
  if (!s.ok()) Die(FromGrpcStatus(s));
}

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}

TrustStore Trust(const Connection& c) {
  if (c.ca_file.empty()) Die(InvalidField("--ca-file", "is required: the suite's root certificate"), 2);
  auto trust = TrustStore::FromPem(ReadFileOrDie(c.ca_file));
  if (!trust.ok()) Die(trust.status(), 2);
  return *std::move(trust);
}

void WriteOrDie(const std::string& path, const std::string& content, int mode) {
  if (absl::Status s = WriteFile(path, content, mode); !s.ok()) Die(s, 2);
}

std::string Json(const google::protobuf::Message& m) {
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &json, opts);
  return json;
}

void WriteDurablyOrDie(const std::string& path, std::string_view content, mode_t mode) {
  // A new file: never through a link planted in its place.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    Die(MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                  StrCat("cannot replace ", path, ": ", std::strerror(errno))),
        2);
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  bool ok = fd >= 0 && ::fchmod(fd, mode) == 0;
  for (size_t done = 0; ok && done < content.size();) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  if (fd >= 0 && ::close(fd) != 0) ok = false;
  if (!ok) {
    Die(MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                  StrCat("cannot write ", path, ": ", std::strerror(errno))),
        2);
  }
}

void SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

WalletLock::~WalletLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

std::optional<WalletLock> WalletLock::Take(const std::string& wallet, bool wait) {
  const std::string path = wallet + "/.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    Die(MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                  StrCat("cannot open ", path, ": ", std::strerror(errno))),
        2);
  }
  while (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (errno == EINTR) continue;
    ::close(fd);
    return std::nullopt;
  }
  return WalletLock(fd);
}

bool CompleteRenewal(const std::string& wallet, bool locked) {
  const std::filesystem::path dir(wallet);
  std::error_code ec;
  if (!std::filesystem::exists(dir / "renewal.done", ec)) return false;
  std::optional<WalletLock> lock = locked ? std::nullopt : WalletLock::Take(wallet, true);
  if (!std::filesystem::exists(dir / "renewal.done", ec)) return false;  // completed meanwhile
  for (const char* name : {"authentication.key", "authentication.pem", "signature.key", "signature.pem", "chain.pem"}) {
    const std::filesystem::path next = dir / StrCat(name, ".next");
    if (!std::filesystem::exists(std::filesystem::symlink_status(next, ec))) continue;
    if (!std::filesystem::is_regular_file(std::filesystem::symlink_status(next, ec))) {
      Die(MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                    StrCat("cannot complete the renewal of ", wallet, ": ", next.string(),
                           " is not a regular file; remove it and run semperctl renew again")),
          2);
    }
    std::filesystem::rename(next, dir / name, ec);
    if (ec) {
      Die(MakeError(absl::StatusCode::kPermissionDenied, v1::PERMISSION_DENIED,
                    StrCat("cannot complete the renewal of ", wallet, ": ", next.string(), ": ", ec.message())),
          2);
    }
  }
  std::filesystem::remove(dir / "renewal.pending", ec);
  SyncDirectory(wallet);
  std::filesystem::remove(dir / "renewal.done", ec);
  SyncDirectory(wallet);
  return true;
}

std::vector<Certificate> WalletChain(const std::string& wallet) {
  CompleteRenewal(wallet);
  const std::string pem = ReadFileOrDie(wallet + "/signature.pem");
  auto chain = Certificate::ChainFromPem(pem);
  if (!chain.ok() || chain->empty())
    Die(chain.ok() ? InvalidField("--wallet", "no signature certificate") : chain.status(), 2);
  WarnIfExpiring(pem, "your signature certificate " + wallet + "/signature.pem");
  return *std::move(chain);
}

PrivateKey WalletKey(const std::string& wallet, const std::string& passphrase_file) {
  CompleteRenewal(wallet);
  auto key = PrivateKey::FromPem(ReadFileOrDie(wallet + "/signature.key"),
                                 Passphrase(passphrase_file, "Passphrase of your wallet: "));
  if (!key.ok()) Die(key.status(), 2);
  return *std::move(key);
}

// A subscriber's wallet authenticates with its authentication key; a pseudonym's wallet holds one
// certificate (semperctl pseudonym request), which does both. Decided by the certificate, not by
// a missing file: a subscriber's signature key never signs a TLS handshake.
static std::string AuthenticationFile(const std::string& wallet, std::string_view extension) {
  auto chain = Certificate::ChainFromPem(ReadFileOrDie(wallet + "/signature.pem"));
  const bool pseudonym = chain.ok() && !chain->empty() && !chain->front().SubjectAttributes(oids::kPseudonym).empty() &&
                         chain->front().SubjectAttributes("serialNumber").empty();
  return StrCat(wallet, pseudonym ? "/signature" : "/authentication", extension);
}

WalletKeys WalletBothKeys(const std::string& wallet, const std::string& passphrase_file) {
  CompleteRenewal(wallet);
  SecretData pass = Passphrase(passphrase_file, "Passphrase of your wallet: ");
  auto sig = PrivateKey::FromPem(ReadFileOrDie(wallet + "/signature.key"), pass);
  if (!sig.ok()) Die(sig.status(), 2);
  auto auth = PrivateKey::FromPem(ReadFileOrDie(AuthenticationFile(wallet, ".key")), pass);
  if (!auth.ok()) Die(auth.status(), 2);
  auto chain = Certificate::ChainFromPem(ReadFileOrDie(AuthenticationFile(wallet, ".pem")));
  if (!chain.ok() || chain->empty()) {
    Die(chain.ok() ? InvalidField("--wallet", "no authentication certificate") : chain.status(), 2);
  }
  return WalletKeys{*std::move(sig), *std::move(auth), chain->front()};
}

std::shared_ptr<grpc::Channel> ChannelAsWallet(const Connection& c, const std::string& address,
                                               const std::string& wallet, const std::string& passphrase_file) {
  if (c.plaintext) Die(InvalidField("--wallet", "needs TLS: calls made as yourself cannot use --plaintext"), 2);
  if (c.ca_file.empty()) Die(InvalidField("--ca-file", "is required (the suite's root.pem)"), 2);
  return ChannelAsWallet(c, address, wallet, WalletBothKeys(wallet, passphrase_file));
}

std::shared_ptr<grpc::Channel> ChannelAsWallet(const Connection& c, const std::string& address,
                                               const std::string& wallet, const WalletKeys& keys) {
  if (c.plaintext) Die(InvalidField("--wallet", "needs TLS: calls made as yourself cannot use --plaintext"), 2);
  if (c.ca_file.empty()) Die(InvalidField("--ca-file", "is required (the suite's root.pem)"), 2);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileOrDie(c.ca_file);
  ssl.pem_private_key = std::string(keys.authentication.ToUnencryptedPemSecret().Reveal());
  ssl.pem_cert_chain = ReadFileOrDie(AuthenticationFile(wallet, ".pem"));
  WarnIfExpiring(ssl.pem_root_certs, "the suite's root certificate in " + c.ca_file);
  WarnIfExpiring(ssl.pem_cert_chain, "your authentication certificate " + AuthenticationFile(wallet, ".pem"));
  grpc::ChannelArguments args;
  if (!c.server_name.empty()) args.SetSslTargetNameOverride(c.server_name);
  // Answers carry up to a 16 MiB message or contract with its evidence (gRPC's default is 4 MiB).
  args.SetMaxReceiveMessageSize(kMaxAnswerBytes);
  SetRoundRobin(args);
  return grpc::CreateCustomChannel(TargetOrDie(address), grpc::SslCredentials(ssl), args);
}

std::string WalletSign(std::string_view content, const PrivateKey& key, const std::vector<Certificate>& chain) {
  auto sig = CmsSignDetached(content, key, chain.front(), std::vector<Certificate>(chain.begin() + 1, chain.end()));
  if (!sig.ok()) Die(sig.status());
  return *std::move(sig);
}

std::string TimeText(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", FromTimestamp(t), absl::UTCTimeZone());
}

void PrintOpensslCheck(const std::string& sig, const std::string& json, const std::string& daemon) {
  std::printf(
      "Check with openssl: the signature, then who signed (any subscriber's key also chains to the root):\n"
      "  openssl cms -verify -binary -inform DER -in %s -content %s -CAfile root.pem -purpose any "
      "-signer signer.pem -out /dev/null\n"
      "  openssl x509 -in signer.pem -noout -subject -nameopt RFC2253\n"
      "  (it must print exactly the root's subject with CN=semper-%s signer, e.g. "
      "subject=CN=semper-%s signer,O=semper,C=DE)\n",
      sig.c_str(), json.c_str(), daemon.c_str(), daemon.c_str());
}

std::string StampSignature(const Connection& c, std::string_view signature) {
  // The same request and checks as a signature time-stamp inside a container (TsaTimeStamp), over
  // the whole signature, kept beside it.
  absl::StatusOr<std::string> token = TsaTimeStamp(c)(Sha256(signature));
  if (token.ok()) return *token;
  std::fprintf(stderr,
               "semperctl: NOTE: the signature is not time-stamped (%s). Without a time-stamp it "
               "binds only while its key is good: stamp it before you rely on it (semperctl tsa stamp).\n",
               std::string(token.status().message()).c_str());
  return "";
}

TimeStampFn TsaTimeStamp(const Connection& c) {
  return [&c](std::string_view digest) -> absl::StatusOr<std::string> {
    if (c.ca_file.empty()) {
      return InvalidField("--ca-file", "is needed to check semper-tsa's time-stamp (the suite's root.pem)");
    }
    const std::string nonce = RandomBytes(16);
    SEMPER_ASSIGN_OR_RETURN(std::string der, MakeTimeStampRequest(HashAlgorithm::kSha256, digest, {true, "", nonce}));
    v1::StampRequest req;
    req.set_request(der);
    v1::StampResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status called = v1::TimeStamp::NewStub(ChannelTo(c, c.tsa))->Stamp(&ctx, req, &resp);
    if (!called.ok()) return Annotate(FromGrpcStatus(called), StrCat("semper-tsa at ", c.tsa));
    // Checked before it goes into the signature: this request's nonce, the digest, the TSA's path.
    SEMPER_ASSIGN_OR_RETURN(std::string token, TimeStampTokenOf(resp.response()));
    TrustStore trust = Trust(c);
    auto info = VerifyTimeStampToken(token, digest, trust.roots(), {}, nonce);
    if (!info.ok()) return Annotate(info.status(), StrCat("semper-tsa at ", c.tsa, " answered a token that"));
    return token;
  };
}

std::vector<std::string> ReadStamps(const Connection& c, const std::string& container_file,
                                    const v1::SignedContainer& container) {
  // Only a name with nothing behind it means "no stamps": anything else there (a dangling or
  // looping link, a directory, a file that cannot be read) is an error (found by reviewers).
  const std::string path = container_file + ".stamps";
  std::error_code ec;
  const auto link = std::filesystem::symlink_status(path, ec);
  if (link.type() == std::filesystem::file_type::not_found) return {};
  if (ec || !std::filesystem::is_regular_file(std::filesystem::status(path, ec)) || ec) {
    Die(InvalidField(path, "is there but is not a readable file of time-stamps (move it away to go on without them)"),
        2);
  }
  auto bytes = ReadFile(path);
  if (!bytes.ok()) Die(bytes.status(), 2);
  v1::ContainerEvidence e;
  if (!e.ParseFromString(*bytes)) Die(InvalidField(container_file + ".stamps", "is not a stamps file of semperctl"), 2);
  if (c.ca_file.empty()) {
    Die(InvalidField("--ca-file", "is required to check the time-stamps in " + container_file +
                                      ".stamps (the suite's root.pem; or move that file away to go on without them)"),
        2);
  }
  // Only a stamp over the signature at its place counts; anything else (left from another file of
  // the same name) is dropped with a note, so that it cannot spoil the container's evidence.
  TrustStore trust = Trust(c);
  std::vector<std::string> out;
  for (int i = 0; i < container.signatures_size(); ++i) {
    std::string stamp = i < e.signature_time_stamps_size() ? e.signature_time_stamps(i) : "";
    if (!stamp.empty() && !VerifyTimeStampToken(stamp, Sha256(container.signatures(i)), trust.roots()).ok()) {
      std::fprintf(stderr, "semperctl: NOTE: %s.stamps holds no valid time-stamp of signature %d: left out\n",
                   container_file.c_str(), i + 1);
      stamp.clear();
    }
    out.push_back(std::move(stamp));
  }
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

void WriteStamps(const std::string& container_file, const std::vector<std::string>& stamps) {
  v1::ContainerEvidence e;
  for (const auto& s : stamps) e.add_signature_time_stamps(s);
  bool any = false;
  for (const auto& s : stamps) any |= !s.empty();
  // None: no file (and none left from before beside a file written anew).
  if (!any) {
    std::remove((container_file + ".stamps").c_str());
    return;
  }
  if (absl::Status s = WriteFile(container_file + ".stamps", e.SerializeAsString(), 0644); !s.ok()) Die(s, 2);
}

}  // namespace semper::ctl
