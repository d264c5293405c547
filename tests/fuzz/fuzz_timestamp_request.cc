// RFC 3161 TimeStampReq, as semper-tsa receives it over HTTP and gRPC: whatever the bytes, the
// TSA answers a TimeStampResp; a granted one carries a token that verifies for the imprint.
#include <cstdint>

#include "common/crypto/timestamp.h"
#include "services/timestamp/tsa.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace semper;

struct Tsa {
  tsa::SerialAllocator serials{[n = uint64_t{0}]() mutable -> absl::StatusOr<uint64_t> { return ++n; }};
  std::unique_ptr<tsa::TimeStampAuthority> authority;
  Tsa() {
    const auto& pki = fuzz::Pki();
    tsa::TsaOptions o{pki.tsa.certificate, {pki.ca}, pki.tsa.key};
    o.policies = {"1.3.6.1.4.1.99999.1", "1.3.6.1.4.1.99999.2"};
    o.clock_check = [] { return absl::OkStatus(); };
    o.serials = &serials;
    auto made = tsa::TimeStampAuthority::New(o);
    fuzz::Require(made.ok(), "the TSA starts");
    authority = *std::move(made);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Tsa* tsa = new Tsa();
  const auto& pki = fuzz::Pki();
  tsa::Stamped s = tsa->authority->Stamp(fuzz::View(data, size));
  fuzz::Require(!s.response_der.empty(), "every request gets a TimeStampResp");
  auto token = TimeStampTokenOf(s.response_der);
  if (s.granted()) {
    fuzz::Require(token.ok(), "a granted response carries a token");
    fuzz::Require(ReadTimeStampToken(s.token_der).ok(), "a granted token reads back");
    auto verified = VerifyTimeStampToken(s.response_der, s.imprint, {pki.root}, {pki.tsa.certificate, pki.ca});
    fuzz::Require(verified.ok(), "a granted token verifies for its imprint");
  } else {
    fuzz::Require(!token.ok(), "a rejection carries no token");
  }
  return 0;
}
