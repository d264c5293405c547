// Keys that anyone can sign for, and certification requests whose self-signature verifies for
// them: what an attacker who wants a deniable certificate sends. Each request is built by hand
// (DER assembled here, signature forged with arithmetic, no private key), so it stands for what a
// hostile client can do, not for what our own code produces.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"

namespace semper::testing {

// SubjectPublicKeyInfo DER of forgeable keys.
std::string Ed25519Spki(const std::string& raw32);
std::string P256Spki(const std::string& point);  // the BIT STRING's bytes: 00 (infinity), 04.., 02..
std::string RsaSpki(const std::string& n_be, unsigned long e);
// The same key as RSASSA-PSS (id-RSASSA-PSS without parameters).
std::string RsaPssSpki(const std::string& n_be, unsigned long e);

// The eight Ed25519 points of small order, canonically encoded (the identity first), and two
// encodings that are not canonical (y = p + 1, the identity again; x = 0 with the sign bit).
std::vector<std::string> Ed25519SmallOrderPoints();
std::vector<std::string> Ed25519NonCanonicalPoints();

struct ForgedRequest {
  std::string name;  // what is weak, for test messages
  std::string der;   // a PKCS#10 request whose self-signature verifies
};

// Requests with CN `cn` for: the Ed25519 identity, the P-256 point at infinity, RSA with e = 1,
// RSA with a prime modulus (its private exponent is e^-1 mod n - 1). Each self-signature verifies (checked by OpenSSL
// when built).
std::vector<ForgedRequest> ForgedRequests(const std::string& cn);

// A request for a real key with CN `cn`, self-signed with SHA-1 (ECDSA or RSA PKCS#1 v1.5).
std::string Sha1SignedRequest(const PrivateKey& key, const std::string& cn);
// A request for `key` (RSA), self-signed with RSA-PSS over SHA-256 whose mask generation is MGF1
// over SHA-1 (the DER default, so left out).
std::string PssMgf1Sha1Request(const PrivateKey& key, const std::string& cn);
// A request for `key` (P-256) whose SubjectPublicKeyInfo carries the point compressed.
std::string CompressedP256Request(const PrivateKey& key, const std::string& cn);

// A certificate issued by `issuer` for the SubjectPublicKeyInfo DER `spki_der` as given (no key
// object: our own PublicKey refuses these keys), as a lax or older CA would have signed it.
absl::StatusOr<Certificate> CertificateForSpkiDer(const std::string& spki_der, const CertificateTemplate& tmpl,
                                                  const Certificate& issuer, const PrivateKey& issuer_key);

}  // namespace semper::testing
