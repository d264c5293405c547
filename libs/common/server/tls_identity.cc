// TLS identity in memory files, replaced whole.
#include "common/server/tls_identity.h"

#include <fcntl.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/crypto.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/time/clock.h"
#include "common/base/files.h"
#include "common/base/secret.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/keys.h"
#include "common/server/server.h"

namespace semper {

namespace {

std::string FdPath(int fd) { return StrCat("/proc/self/fd/", fd); }

// gRPC's watcher reads the files again this often (seconds).
constexpr unsigned kRefreshSeconds = 1;

absl::StatusOr<std::string> ReadSetting(const char* setting, const std::string& path) {
  auto content = ReadFile(path);
  if (!content.ok()) return Annotate(content.status(), StrCat("config key '", setting, "'"));
  return content;
}

// A new memory file holding `content`, modified at `version` seconds after the epoch (see
// tls_identity.h: each version its own time).
absl::StatusOr<int> MemoryFile(std::string_view content, int64_t version) {
  int fd = ::memfd_create("semper-tls", MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(StrCat("memfd_create: ", std::strerror(errno)));
  for (size_t done = 0; done < content.size();) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return absl::InternalError(StrCat("writing a memory file: ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  const struct timespec times[2] = {{static_cast<time_t>(version), 0}, {static_cast<time_t>(version), 0}};
  ::futimens(fd, times);
  return fd;
}

// The CERTIFICATE blocks of a PEM file, in order. Whatever else it holds (a key, as in a combined
// PEM file) is left out: gRPC takes the first private key in the file it reads the key from.
std::string CertificateBlocks(std::string_view pem) {
  static constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----", kEnd = "-----END CERTIFICATE-----";
  std::string out;
  for (size_t at = pem.find(kBegin); at != std::string_view::npos; at = pem.find(kBegin, at)) {
    size_t end = pem.find(kEnd, at);
    if (end == std::string_view::npos) break;
    end += kEnd.size();
    StrAppend(&out, pem.substr(at, end - at), "\n");
    at = end;
  }
  return out;
}

// Every file given must be a regular file (a FIFO would hold the reading thread, and with it
// readiness and shutdown).
absl::Status RegularFiles(const TlsOptions& t) {
  for (const auto& [setting, path] : {std::pair{"tls.cert_file", &t.cert_file}, std::pair{"tls.key_file", &t.key_file},
                                      std::pair{"tls.key_passphrase_file", &t.key_passphrase_file},
                                      std::pair{"tls.client_ca_file", &t.client_ca_file}}) {
    struct stat st {};
    if (path->empty() || ::stat(path->c_str(), &st) != 0) continue;  // reading it says what is wrong
    if (!S_ISREG(st.st_mode)) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat(setting, " ", *path, " is not a regular file"));
    }
  }
  return absl::OkStatus();
}

// Puts `fresh` in the place of `*fd` (one dup3: a reader of /proc/self/fd/<fd> opens the old or
// the new file, never a mix) and closes `fresh`.
void Replace(int* fd, int fresh) {
  if (*fd < 0) {
    *fd = fresh;
    return;
  }
  ::dup3(fresh, *fd, O_CLOEXEC);
  ::close(fresh);
}

}  // namespace

struct TlsIdentity::Material {
  std::string pair;  // chain, then the unencrypted key: cleansed by the destructor
  std::string roots;
  std::vector<Certificate> chain, root_certs;
  ~Material() { OPENSSL_cleanse(pair.data(), pair.size()); }
};

TlsIdentity::TlsIdentity(const TlsOptions& options) : o_(std::make_unique<TlsOptions>(options)) {}

TlsIdentity::~TlsIdentity() {
  absl::MutexLock lock(&mu_);
  if (pair_fd_ >= 0) ::close(pair_fd_);
  if (roots_fd_ >= 0) ::close(roots_fd_);
}

absl::StatusOr<std::unique_ptr<TlsIdentity>> TlsIdentity::Load(const TlsOptions& options) {
  // The decrypted key is now in a memory file that /proc/<pid>/fd shows to whoever may inspect this
  // process: only root from now on (and no core dump carries the keys).
  ::prctl(PR_SET_DUMPABLE, 0);
  std::unique_ptr<TlsIdentity> id(new TlsIdentity(options));
  absl::MutexLock lock(&id->mu_);
  id->stamps_ = id->Stamps();
  SEMPER_ASSIGN_OR_RETURN(Material m, id->Read(false));
  SEMPER_RETURN_IF_ERROR(id->Install(m));
  // gRPC reads the identity through /proc/self/fd: without /proc it would serve no handshake.
  if (int fd = ::open(FdPath(id->pair_fd_).c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    ::close(fd);
  } else {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                     StrCat("cannot read ", FdPath(id->pair_fd_), " (", std::strerror(errno),
                            "): the daemon's TLS needs /proc mounted"));
  }
  return id;
}

absl::StatusOr<TlsIdentity::Material> TlsIdentity::Read(bool strict) const {
  const TlsOptions& t = *o_;
  if (t.cert_file.empty()) return InvalidField("tls.cert_file", "is required unless grpc.plaintext = true");
  if (t.key_file.empty()) return InvalidField("tls.key_file", "is required unless grpc.plaintext = true");
  Material m;
  SEMPER_RETURN_IF_ERROR(RegularFiles(t));
  SEMPER_ASSIGN_OR_RETURN(std::string cert, ReadSetting("tls.cert_file", t.cert_file));
  const std::string cert_blocks = CertificateBlocks(cert);
  if (cert_blocks.empty()) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                     StrCat("tls.cert_file ", t.cert_file, " holds no PEM certificate"));
  }
  SEMPER_ASSIGN_OR_RETURN(std::string key_pem, ReadSetting("tls.key_file", t.key_file));
  SecretData passphrase;
  const bool allow_unencrypted = t.key_passphrase_file.empty();
  if (!allow_unencrypted) {
    auto p = SecretData::FromFile(t.key_passphrase_file);
    if (!p.ok()) {
      OPENSSL_cleanse(key_pem.data(), key_pem.size());
      return Annotate(p.status(), "tls.key_passphrase_file");
    }
    passphrase = *std::move(p);
  } else {
    struct stat st;
    if (::stat(t.key_file.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      OPENSSL_cleanse(key_pem.data(), key_pem.size());
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat("tls.key_file ", t.key_file, " is readable by other users; chmod 600 it"));
    }
  }
  auto key = PrivateKey::FromPem(key_pem, passphrase, allow_unencrypted);
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  if (!key.ok()) return Annotate(key.status(), "tls.key_file");
  // What gRPC is given (cert_blocks) is what is checked: its first block is the certificate
  // served, and must be the key's.
  auto leaf = Certificate::FromPem(cert_blocks.substr(0, cert_blocks.find("-----END CERTIFICATE-----") + 25));
  if (leaf.ok()) {
    auto leaf_key = leaf->public_key();
    if (!leaf_key.ok() || !leaf_key->Equals(key->public_key())) {
      return MakeError(
          absl::StatusCode::kFailedPrecondition, v1::WRONG_KEY,
          StrCat("tls.key_file ", t.key_file, " is not the key of the certificate in tls.cert_file ", t.cert_file));
    }
    if (strict && leaf->not_after() <= absl::Now()) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::EXPIRED,
                       StrCat("the certificate in tls.cert_file ", t.cert_file, " has expired"));
    }
    // Clients would refuse it until then (a few minutes' clock difference allowed).
    if (strict && leaf->not_before() > absl::Now() + absl::Minutes(5)) {
      return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                       StrCat("the certificate in tls.cert_file ", t.cert_file, " is not valid until ",
                              absl::FormatTime(absl::RFC3339_sec, leaf->not_before(), absl::UTCTimeZone())));
    }
  } else if (strict) {
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                     StrCat("the first certificate in tls.cert_file ", t.cert_file, " cannot be read"));
  }
  // Every block of it, for the expiry watch (a replacement must be readable whole; at the start,
  // gRPC is given what it can read of such a file, and its expiry is not watched).
  auto chain = Certificate::ChainFromPem(cert_blocks);
  if (chain.ok() && !chain->empty()) {
    m.chain = *std::move(chain);
  } else if (strict) {
    // At the start gRPC is given what it can read of such a file (and its expiry is not watched);
    // a replacement must be readable whole.
    return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                     StrCat("tls.cert_file ", t.cert_file, " holds no certificate chain that can be read"));
  }
  SecretData plain = key->ToUnencryptedPemSecret();
  m.pair = StrCat(cert_blocks, plain.Reveal());
  if (!t.client_ca_file.empty()) {
    // As it is (roots may be TRUSTED CERTIFICATE blocks, which gRPC reads too).
    SEMPER_ASSIGN_OR_RETURN(m.roots, ReadSetting("tls.client_ca_file", t.client_ca_file));
    auto roots = Certificate::ChainFromPem(m.roots);
    if (roots.ok()) {
      m.root_certs = *std::move(roots);
    } else if (strict) {
      return MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                       StrCat("tls.client_ca_file ", t.client_ca_file, " holds no certificates that can be read"));
    }
  }
  return m;
}

absl::Status TlsIdentity::Install(const Material& m) {
  const int64_t version = version_ + 1;
  SEMPER_ASSIGN_OR_RETURN(int pair, MemoryFile(m.pair, version));
  int roots = -1;
  if (!o_->client_ca_file.empty()) {
    auto r = MemoryFile(m.roots, version);
    if (!r.ok()) {
      ::close(pair);
      return r.status();
    }
    roots = *r;
  }
  version_ = version;
  Replace(&pair_fd_, pair);
  if (roots >= 0) Replace(&roots_fd_, roots);
  chain_ = m.chain;
  roots_ = m.root_certs;
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> TlsIdentity::Credentials() const {
  absl::MutexLock lock(&mu_);
  using grpc::experimental::FileWatcherCertificateProvider;
  auto provider = roots_fd_ >= 0 ? std::make_shared<FileWatcherCertificateProvider>(FdPath(pair_fd_), FdPath(pair_fd_),
                                                                                    FdPath(roots_fd_), kRefreshSeconds)
                                 : std::make_shared<FileWatcherCertificateProvider>(FdPath(pair_fd_), FdPath(pair_fd_),
                                                                                    kRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  // Mutual TLS: required, or (without require_client_cert but with a client CA) optional, a
  // certificate being verified whenever one is presented; RPCs then check roles themselves.
  grpc_ssl_client_certificate_request_type mode = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  if (roots_fd_ >= 0) {
    options.watch_root_certs();
    mode = o_->require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                   : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  options.set_cert_request_type(mode);
  return grpc::experimental::TlsServerCredentials(options);
}

absl::Status TlsIdentity::Reload() {
  absl::MutexLock lock(&mu_);
  stamps_ = Stamps();
  SEMPER_ASSIGN_OR_RETURN(Material m, Read(true));
  return Install(m);
}

std::string TlsIdentity::Stamps() const {
  std::string out;
  for (const std::string* path : {&o_->cert_file, &o_->key_file, &o_->key_passphrase_file, &o_->client_ca_file}) {
    struct stat st {};
    if (path->empty() || ::stat(path->c_str(), &st) != 0) {
      StrAppend(&out, "-;");
      continue;
    }
    StrAppend(&out, st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ";");
  }
  return out;
}

bool TlsIdentity::FilesChanged() {
  absl::MutexLock lock(&mu_);
  std::string now = Stamps();
  if (now == stamps_) return false;
  stamps_ = std::move(now);
  return true;
}

std::vector<Certificate> TlsIdentity::chain() const {
  absl::MutexLock lock(&mu_);
  return chain_;
}

std::vector<Certificate> TlsIdentity::roots() const {
  absl::MutexLock lock(&mu_);
  return roots_;
}

}  // namespace semper
