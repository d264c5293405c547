// A time-stamping authority of a test PKI, running the engine semper-tsa runs, for tests that
// need tokens without a daemon (CAdES-T containers, interop with openssl ts). Header-only; the
// test links semper_tsa_lib. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/time/time.h"
#include "common/container/container.h"
#include "services/timestamp/tsa.h"
#include "tests/support/test_pki.h"

namespace semper::testing {

class TestTsa {
 public:
  // A TSA certificate from `pki`'s issuing CA (critical timeStamping EKU), valid from
  // `valid_from` to `valid_until`; the TSA's clock runs `clock_offset` from now.
  explicit TestTsa(const TestPki& pki, absl::Time valid_from = absl::Now() - absl::Hours(1),
                   absl::Time valid_until = absl::Now() + absl::Hours(24),
                   absl::Duration clock_offset = absl::ZeroDuration()) {
    LeafSpec spec;
    spec.common_name = "Test TSA";
    spec.key_usage = kKuDigitalSignature;
    spec.extended_key_usage = {"timeStamping"};
    spec.extended_key_usage_critical = true;
    spec.not_before = valid_from;
    spec.not_after = valid_until;
    SignerIdentity id = pki.Issue(spec);
    tsa::TsaOptions o{id.certificate, {pki.ca()}, id.key};
    o.policies = {"1.3.6.1.4.1.32473.3161.1"};
    o.clock_check = [] { return absl::OkStatus(); };
    o.clock = [clock_offset] { return absl::Now() + clock_offset; };
    o.require_valid_certificate = false;  // verifiers' tests need tokens outside it too
    o.serials = &serials_;
    authority_ = std::move(tsa::TimeStampAuthority::New(std::move(o))).value();
  }

  // For SealOptions::time_stamp and CoSign: a TimeStampResp over the digest.
  TimeStampFn Client() {
    return [this](std::string_view digest) -> absl::StatusOr<std::string> {
      ++stamped_;
      return authority_->StampDigest(std::string(digest)).response_der;
    };
  }
  int stamped() const { return stamped_; }

 private:
  uint64_t next_ = 1;
  tsa::SerialAllocator serials_{[this] { return absl::StatusOr<uint64_t>(next_++); }};
  std::unique_ptr<tsa::TimeStampAuthority> authority_;
  int stamped_ = 0;
};

}  // namespace semper::testing
