// What semper-liability checks in what parties hand it, without the database, as pure functions
// so that they can be fuzzed: a buyer's SEMPER agreement, and semper-arbiter's verdict presented
// to settle or release a guarantee. Thread-safe.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/certificate.h"
#include "semper/v1/arbiter.pb.h"
#include "semper/v1/container.pb.h"

namespace semper::liability {

struct CheckedAgreement {
  Certificate buyer;  // the one signer
  v1::Agreement agreement;
};

// A signed container with an Agreement template, signed (nonRepudiation) by the buyer alone, its
// certificate valid under `trust` at `now`, the agreement's validity not ended at `now`.
absl::StatusOr<CheckedAgreement> CheckAgreement(const v1::SignedContainer& agreement, const TrustStore& trust,
                                                absl::Time now);

// A verdict statement (proto3 JSON of type "semper-verdict") with a detached CMS signature by
// exactly `arbiter`'s certificate, valid under `trust` at `now`.
absl::StatusOr<v1::VerdictStatement> CheckVerdict(std::string_view verdict, std::string_view signature,
                                                  const TrustStore& trust, const Certificate& arbiter, absl::Time now);

}  // namespace semper::liability
