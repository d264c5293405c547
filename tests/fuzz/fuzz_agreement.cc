// A buyer's SEMPER agreement as semper-liability receives it (a serialized
// semper.v1.SignedContainer with an Agreement template): checking never crashes, and an agreement
// passes only with the content a seed's buyer signed.
#include <cstdint>
#include <set>

#include "services/liability/checks.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace semper;
  static const absl::Time now = absl::FromCivil(absl::CivilSecond(2030, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  static const std::set<std::string>* genuine = [] {
    auto* contents = new std::set<std::string>();
    for (const std::string& seed : fuzz::Seeds("agreement")) {
      v1::SignedContainer c;
      fuzz::Require(c.ParseFromString(seed), "a seed parses");
      fuzz::Require(liability::CheckAgreement(c, fuzz::Pki().trust, now).ok(), "a seed passes");
      contents->insert(c.content());
    }
    return contents;
  }();
  v1::SignedContainer c;
  if (!c.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (liability::CheckAgreement(c, fuzz::Pki().trust, now).ok()) {
    fuzz::Require(genuine->contains(c.content()), "an agreement that passes has content a seed's buyer signed");
  }
  return 0;
}
