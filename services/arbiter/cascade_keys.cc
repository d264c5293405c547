// Pseudonym cascade keys (see cascade_keys.h).
#include "services/arbiter/cascade_keys.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "common/base/log.h"
#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/cms.h"
#include "common/crypto/csr.h"
#include "common/crypto/digest.h"
#include "common/crypto/pseudonym_tags.h"
#include "common/crypto/random.h"
#include "common/db/audit.h"
#include "common/server/certificate_status.h"
#include "common/server/daemon.h"
#include "semper/v1/privacy.pb.h"

namespace semper::arbiter {
namespace {

// A P-256 point found by hashing (try-and-increment on x): nobody knows its discrete logarithm,
// so ECDH with it yields a value only the holder of the other key can compute.
absl::StatusOr<std::string> HashedPoint() {
  std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)> group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1),
                                                            EC_GROUP_free);
  std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)> point(EC_POINT_new(group.get()), EC_POINT_free);
  std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)> ctx(BN_CTX_new(), BN_CTX_free);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> x(BN_new(), BN_free);
  for (int counter = 0; counter < 1000; ++counter) {
    const std::string h = Sha256(StrCat("semper-pseudonym-cascade-point\n", counter));
    BN_bin2bn(reinterpret_cast<const unsigned char*>(h.data()), static_cast<int>(h.size()), x.get());
    if (EC_POINT_set_compressed_coordinates(group.get(), point.get(), x.get(), 0, ctx.get()) != 1) {
      ERR_clear_error();
      continue;
    }
    std::string out(65, '\0');
    if (EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED,
                           reinterpret_cast<unsigned char*>(out.data()), out.size(), ctx.get()) != out.size()) {
      break;
    }
    return out;
  }
  return absl::InternalError("no P-256 point from the hash");
}

}  // namespace

absl::StatusOr<SecretData> CascadeSecretFromEscrow(const PrivateKey& escrow) {
  if (escrow.type() != KeyType::kEcP256) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::NOT_SUPPORTED,
                     "the escrow key is not a P-256 key: it derives no pseudonym cascade keys");
  }
  SEMPER_ASSIGN_OR_RETURN(std::string point, HashedPoint());
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(), OSSL_PARAM_BLD_free);
  OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()), OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> fctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr),
                                                                   EVP_PKEY_CTX_free);
  EVP_PKEY* peer_raw = nullptr;
  if (!fctx || EVP_PKEY_fromdata_init(fctx.get()) != 1 ||
      EVP_PKEY_fromdata(fctx.get(), &peer_raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return absl::InternalError("the hashed point makes no key");
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> peer(peer_raw, EVP_PKEY_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> dctx(EVP_PKEY_CTX_new(escrow.evp(), nullptr),
                                                                   EVP_PKEY_CTX_free);
  size_t len = 0;
  if (!dctx || EVP_PKEY_derive_init(dctx.get()) != 1 || EVP_PKEY_derive_set_peer(dctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(dctx.get(), nullptr, &len) != 1) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::NOT_SUPPORTED,
                     "the escrow key does not do ECDH: it derives no pseudonym cascade keys");
  }
  std::string shared(len, '\0');
  if (EVP_PKEY_derive(dctx.get(), reinterpret_cast<unsigned char*>(shared.data()), &len) != 1) {
    return absl::InternalError("ECDH with the escrow key failed");
  }
  shared.resize(len);
  SecretData secret(Sha256(StrCat("semper-pseudonym-cascade-secret\n", shared)));
  std::fill(shared.begin(), shared.end(), '\0');
  return secret;
}

std::string PseudonymCascadeKeys::KeyFor(const Certificate& base) const {
  // The base's key, not its serial: a certificate the operator makes with the same serial for a
  // key of its own derives another K_base.
  return PseudonymCascadeKey(d_.secret->Reveal(), base.SpkiDer());
}

absl::StatusOr<v1::PseudonymTags> PseudonymCascadeKeys::Tag(const v1::TagPseudonymRequest& req, absl::Time now) const {
  if (!d_.secret.has_value()) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::NOT_SUPPORTED,
                     "this arbiter has no escrow key (escrow.*): it makes no pseudonym tags");
  }
  // The holder's own fresh request, signed with the base's key, as semper-ca checks it.
  if (req.signature().empty()) return InvalidField("signature", "is required");
  auto signers = CmsVerifyDetached(req.signature(), req.request(), *d_.trust, now, KeyPurpose::kNonRepudiation);
  if (!signers.ok()) return FieldError("signature", signers.status());
  if (signers->size() != 1) return InvalidField("signature", "must have exactly one signer");
  v1::PseudonymRequestStatement st;
  if (!st.ParseFromString(req.request()) || st.type() != "semper-pseudonym-request") {
    return MalformedField("request", "must be a serialized PseudonymRequestStatement");
  }
  SEMPER_RETURN_IF_ERROR(RequireFresh(st.made_at(), now, "request.made_at"));
  auto csr = CertificationRequest::FromDer(st.csr());
  if (!csr.ok()) return FieldError("request.csr", csr.status());
  const std::string key = KeyFor(signers->front().certificate);
  v1::PseudonymTags out;
  // Bound to the new pseudonym's key (fresh: the CA certifies a key once), so that whoever
  // forwards the request learns the tag of that pseudonym and of no other.
  out.set_tag(PseudonymTag(key, Sha256(csr->SpkiDer())));
  if (st.kind() == v1::PSEUDONYM_KIND_ROLE) out.set_name_tag(PseudonymNameTag(key, st.name()));
  // Nothing of the base: with semper-ca's log of issued serials, it would link them.
  LogEvent(d_.logger, spdlog::level::info, "pseudonym.tagged");
  return out;
}

absl::StatusOr<v1::PseudonymCascadeKey> PseudonymCascadeKeys::Derive(const v1::DerivePseudonymCascadeKeyRequest& req,
                                                                     const std::string& caller) const {
  if (!d_.secret.has_value()) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::NOT_SUPPORTED,
                     "this arbiter has no escrow key (escrow.*): it derives no pseudonym cascade keys");
  }
  auto cert = Certificate::FromDer(req.compromised_certificate());
  if (!cert.ok()) return FieldError("compromised_certificate", cert.status());
  // Issued by the suite's CA (as it stood while the certificate was valid; revocation is what
  // the CA answers below): a certificate made up for someone's key, unsigned or signed by
  // another, gets nothing.
  std::vector<Certificate> intermediates;
  for (const std::string& der : req.intermediates()) {
    auto c = Certificate::FromDer(der);
    if (!c.ok()) return FieldError("intermediates", c.status());
    intermediates.push_back(*std::move(c));
  }
  // Checked now, or at its last second if it has expired since (its revocation is what counts).
  const absl::Time at = std::min(absl::Now(), cert->not_after() - absl::Seconds(1));
  auto path = d_.trust->VerifyPath(*cert, intermediates, at, KeyPurpose::kNonRepudiation);
  if (!path.ok()) return FieldError("compromised_certificate", path.status());
  // Only for a base semper-ca says is revoked for keyCompromise (a revocation that it publishes
  // on its CRL and OCSP, and that blocks the key for ever). The CA answers for the certificate
  // as it holds it: a different certificate with the same serial is unknown there.
  SEMPER_ASSIGN_OR_RETURN(v1::CertificateStatus status, CertificateStatusClient(d_.ca, d_.ca_deadline).Status(*cert));
  if (status.state() != v1::CERTIFICATE_STATE_REVOKED || status.reason() != v1::REVOCATION_REASON_KEY_COMPROMISE) {
    return MakeError(absl::StatusCode::kFailedPrecondition, v1::WRONG_STATE,
                     StrCat("certificate ", cert->SerialHex(),
                            " is not revoked for keyCompromise: its pseudonyms' cascade key stays with the arbiter"));
  }
  // Recorded where semper-ca's operator does not write: the arbiter's own hash-chained trail.
  if (d_.pool != nullptr) {
    SEMPER_RETURN_IF_ERROR(d_.pool->Transact([&](pqxx::work& tx) -> absl::Status {
      return db::AppendAudit(
          tx, "arbiter", "semper-arbiter",
          {{caller, "pseudonym-cascade-key", cert->SerialHex(),
            StrCat("{\"subject\": \"", JsonEscape(cert->Subject()), "\", \"spki_sha256\": \"",
                   HexEncode(Sha256(cert->SpkiDer())), "\", \"certificate\": \"", HexEncode(cert->Der()), "\"}")}});
    }));
  }
  LogEvent(d_.logger, spdlog::level::warn, "pseudonym.cascade_key")
      .With("for", "keyCompromise")
      .With("serial", cert->SerialHex());
  v1::PseudonymCascadeKey out;
  out.set_base_serial(cert->SerialHex());
  out.set_key(KeyFor(*cert));
  return out;
}

}  // namespace semper::arbiter
