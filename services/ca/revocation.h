// Publishing certificate status in the standard forms: CRLs (RFC 5280 section 5, full and
// delta) and OCSP responses (RFC 6960) signed by a delegated responder. Pure functions over the
// records given; thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"

namespace semper::ca {

struct RevokedEntry {
  std::string serial_hex;
  absl::Time revoked_at;
  int reason = 0;  // RFC 5280 CRLReason
};

// A DER CRL v2 signed by the issuing CA: CRL number, authority key identifier, and for a delta
// CRL (delta_base set) the critical deltaCRLIndicator. A complete CRL with freshest_url names
// where its deltas are (Freshest CRL, RFC 5280 5.2.6): relying parties look for deltas only then
// (OpenSSL 3.0.20 and later apply a delta to no other base).
absl::StatusOr<std::string> BuildCrl(const Certificate& issuer, const PrivateKey& key,
                                     const std::vector<RevokedEntry>& entries, int64_t number,
                                     std::optional<int64_t> delta_base, absl::Time this_update, absl::Time next_update,
                                     std::string_view freshest_url = {});

// The entries of a DER CRL, and its CRL number.
absl::StatusOr<std::vector<RevokedEntry>> CrlEntries(std::string_view der);
absl::StatusOr<int64_t> CrlNumber(std::string_view der);
// When a DER CRL says the next one is due (nextUpdate); INVALID_ARGUMENT without one.
absl::StatusOr<absl::Time> CrlNextUpdate(std::string_view der);

// What a delta CRL against `base` lists so that base + delta = `current`: entries that are new
// or changed reason, and removeFromCRL (8) at `now` for entries that left (released from hold,
// or expired).
std::vector<RevokedEntry> DeltaEntries(const std::vector<RevokedEntry>& base, const std::vector<RevokedEntry>& current,
                                       absl::Time now);

struct StatusRecord {
  enum class State { kGood, kRevoked, kUnknown } state = State::kUnknown;
  absl::Time revoked_at;
  int reason = 0;
  // When the status was read (the response's thisUpdate: RFC 6960 4.2.2.1, the most recent time
  // it is known to have been correct); unset: the response's own time.
  std::optional<absl::Time> as_of;
};

class OcspResponder {
 public:
  // `signer` is a delegated responder certificate (id-kp-OCSPSigning) issued by `issuer`, or
  // `issuer` itself (RFC 6960 2.6: the CA signs its responses).
  OcspResponder(Certificate issuer, Certificate signer, PrivateKey signer_key, absl::Duration validity);

  // A DER OCSPResponse for any input: malformedRequest for garbage, internalError if the lookup
  // fails, otherwise a signed BasicOCSPResponse with one SingleResponse per request (good,
  // revoked or unknown), the request's nonce echoed.
  // Whether the request's first certificate is one of this issuer's (which responder answers).
  bool Serves(std::string_view request_der) const;

  std::string Respond(std::string_view request_der,
                      const std::function<absl::StatusOr<StatusRecord>(const std::string& serial_hex)>& lookup,
                      absl::Time now, bool* successful = nullptr) const;

 private:
  bool IsOurs(int nid, const ASN1_OCTET_STRING* name_hash, const ASN1_OCTET_STRING* key_hash) const;
  Certificate issuer_;
  Certificate signer_;
  PrivateKey key_;
  absl::Duration validity_;
  // The issuer's name and key hashes per CertID hash algorithm (NID), computed once.
  struct IssuerHashes {
    int nid;
    std::string name_hash, key_hash;
  };
  std::vector<IssuerHashes> issuer_hashes_;
  // A signing context set up once and copied per response: setting one up fetches the digest
  // and signature implementations, which costs as much as the signature itself.
  std::shared_ptr<EVP_MD_CTX> sign_template_;
};

// Signed OCSP responses to nonce-less requests (the RFC 5019 profile most clients use), kept
// for a short time so that popular certificates are answered without a database read or a
// signature. Cleared on every status change this process makes; other replicas see a change
// within `ttl`. Thread-safe.
class OcspCache {
 public:
  OcspCache(absl::Duration ttl, size_t max_entries) : ttl_(ttl), max_entries_(max_entries) {}
  std::optional<std::string> Get(const std::string& request_der, absl::Time now) const;
  // Call before reading the status a response is built from, and pass it to Put: a response
  // built from a read that a Clear() may have overtaken is not kept.
  uint64_t Generation() const;
  void Put(const std::string& request_der, std::string response_der, absl::Time now, uint64_t generation);
  void Clear();

  // True for a request that may be cached: no nonce extension.
  static bool Cacheable(std::string_view request_der);

 private:
  const absl::Duration ttl_;
  const size_t max_entries_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::pair<std::string, absl::Time>> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

// Recent status lookups by serial, for OCSP requests that carry a nonce (each needs its own
// signature, but not its own database read). Same invalidation rules as OcspCache. Thread-safe.
class StatusCache {
 public:
  StatusCache(absl::Duration ttl, size_t max_entries) : ttl_(ttl), max_entries_(max_entries) {}
  std::optional<StatusRecord> Get(const std::string& serial, absl::Time now) const;
  uint64_t Generation() const;  // as OcspCache::Generation
  void Put(const std::string& serial, const StatusRecord& record, absl::Time now, uint64_t generation);
  void Clear();

 private:
  const absl::Duration ttl_;
  const size_t max_entries_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::pair<StatusRecord, absl::Time>> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace semper::ca
