// RFC 3161 tokens as parties put them in evidence (dispute items, notary statements, batch
// proofs): reading and verifying never crash (issue 19, finding 4: a token whose content was not
// a TSTInfo crashed the arbiter), and a token verifies only as the fixed TSA signed it: for the
// imprint it was made for, and only if it is one of the seeds' tokens (libFuzzer cannot sign).
#include <cstdint>
#include <set>

#include "common/crypto/digest.h"
#include "common/crypto/timestamp.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace semper;
  constexpr std::string_view kContent = "semper fuzz content";  // what the seeds' tokens stamp
  static const std::set<std::string>* genuine = [] {
    auto* serials = new std::set<std::string>();
    for (const std::string& seed : fuzz::Seeds("timestamp_token")) {
      auto info = ReadTimeStampToken(seed);
      fuzz::Require(info.ok(), "a seed token reads");
      serials->insert(info->serial_hex + "@" + absl::FormatTime(info->gen_time));
    }
    return serials;
  }();
  const auto& pki = fuzz::Pki();
  const std::string_view der = fuzz::View(data, size);
  auto info = VerifyTimeStampToken(der, Sha256(kContent), {pki.root});
  if (info.ok()) {
    fuzz::Require(genuine->contains(info->serial_hex + "@" + absl::FormatTime(info->gen_time)),
                  "a verified token is one the TSA made");
    fuzz::Require(info->imprint == Sha256(kContent), "a verified token states the imprint it was verified for");
    fuzz::Require(!VerifyTimeStampToken(der, Sha256("other content"), {pki.root}).ok(),
                  "a token verifies for one imprint only");
  }
  (void)ReadTimeStampToken(der);
  (void)TimeStampTokenOf(der);
  return 0;
}
