// A credential presentation as an acceptor hands it to semper-ca (RedeemCredentialRequest):
// every check that needs no database, as one pure function, so that it can be fuzzed (what is
// left for NamedCredentials: that the credential is exactly as this CA stored it, the holder's
// certificate status, and the use recorded once). Thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"
#include "semper/v1/privacy.pb.h"

namespace semper::ca {

struct CheckedPresentation {
  v1::CredentialStatement credential;
  v1::PresentationStatement presentation;
  // The holder's certificate that signed the presentation (its key is the one the credential names).
  std::optional<Certificate> holder;
};

// The credential statement parses and its signature verifies under `trust`; the presentation is
// fresh at `now`, names this credential and `acceptor` (a subscriber id), carries a 16-64 byte
// nonce, and is signed (nonRepudiation) by exactly one certificate whose key the credential names.
// INVALID_ARGUMENT / PERMISSION_DENIED with the reason otherwise.
absl::StatusOr<CheckedPresentation> CheckPresentation(const v1::RedeemCredentialRequest& req,
                                                      const std::string& acceptor, const TrustStore& trust,
                                                      absl::Time now);

}  // namespace semper::ca
