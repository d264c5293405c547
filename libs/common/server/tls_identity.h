// The TLS identity a daemon's gRPC port serves with, replaceable while it serves (issue 23):
// the key and certificate chain of tls.key_file / tls.cert_file (the key decrypted here) and the
// roots of tls.client_ca_file, held in anonymous memory files (memfd) that gRPC's certificate
// watcher reads every second. Handshakes after a reload use the new identity; connections and
// calls already open carry on with the old one.
//
// A reload replaces the identity whole: the new key and chain go into a new memory file that is
// put in place with one dup2 (atomic), and each version carries its own modification time, so a
// read of gRPC's watcher that straddles a replacement is noticed (it compares the times before and
// after reading) and read again: no handshake ever meets a key with another key's certificate.
// A reload that cannot be done (a file missing, a wrong passphrase, a key that is not the
// certificate's, an expired certificate) changes nothing and says why. Thread-safe.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/crypto/certificate.h"

namespace semper {

struct TlsOptions;

class TlsIdentity {
 public:
  // Reads the files of `options` (as they are now) into memory files.
  static absl::StatusOr<std::unique_ptr<TlsIdentity>> Load(const TlsOptions& options);
  ~TlsIdentity();
  TlsIdentity(const TlsIdentity&) = delete;
  TlsIdentity& operator=(const TlsIdentity&) = delete;

  // Server credentials that follow this identity (mutual TLS as the options say).
  std::shared_ptr<grpc::ServerCredentials> Credentials() const;

  // Reads the files again and puts what they hold in place (gRPC takes it within about a
  // second). Unchanged on error.
  absl::Status Reload();
  // Whether a file (certificate, key, its passphrase, client roots) changed since the last load
  // or reload attempt: its inode, size or modification time. Each change is reported once.
  bool FilesChanged();

  // What is served now: the certificate chain (those of its PEM blocks that parse; empty if none
  // does) and the client roots.
  std::vector<Certificate> chain() const;
  std::vector<Certificate> roots() const;

 private:
  explicit TlsIdentity(const TlsOptions& options);
  struct Material;
  absl::StatusOr<Material> Read(bool strict) const;
  absl::Status Install(const Material& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string Stamps() const;

  const std::unique_ptr<TlsOptions> o_;
  mutable absl::Mutex mu_;
  int pair_fd_ ABSL_GUARDED_BY(mu_) = -1;   // certificate chain, then the key (PEM)
  int roots_fd_ ABSL_GUARDED_BY(mu_) = -1;  // client roots (PEM); -1 without
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  std::string stamps_ ABSL_GUARDED_BY(mu_);
  std::vector<Certificate> chain_ ABSL_GUARDED_BY(mu_), roots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace semper
