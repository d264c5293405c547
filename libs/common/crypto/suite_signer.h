// Whether a certificate is the one of a daemon's own signing key. A path to the suite's root does
// not say that a daemon signed: every subscriber's signature certificate has one, and a
// subscriber can sign any JSON it likes ("semper-notarial-attestation", a guarantee...). Pure
// function; thread-safe.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "common/crypto/certificate.h"

namespace semper {

// OK when `cert` is semper-<daemon>'s signing certificate as `semper-ca init` issues it
// (services/ca/pki.cc): CN "semper-<daemon> signer", naming no subscriber (serialNumber) and no
// pseudonym. Else INVALID_ARGUMENT, SIGNATURE_INVALID, naming who signed instead.
// `daemon`: "ca", "notary", "arbiter", "liability".
absl::Status CheckSuiteSigner(const Certificate& cert, std::string_view daemon);
// The same for any certificate `semper-ca init` issues to a daemon, by its CN (e.g.
// "semper-arbiter escrow").
absl::Status CheckSuiteCertificate(const Certificate& cert, std::string_view common_name);

}  // namespace semper
