// semper-arbiter's verdict as presented to semper-liability (a serialized
// semper.v1.EndGuaranteeRequest: the verdict JSON and its detached CMS signature): checking never
// crashes, and a verdict passes only as a seed's arbiter signed it (here the fixed PKI's
// "semper-notary signer" leaf stands for the arbiter); a changed verdict, or one signed by another
// key of the same PKI, never passes.
#include <cstdint>
#include <set>

#include "semper/v1/liability.pb.h"
#include "services/liability/checks.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace semper;
  static const absl::Time now = absl::FromCivil(absl::CivilSecond(2030, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  const Certificate& arbiter = fuzz::Pki().notary.certificate;
  // The arbiter's verdicts are those of case kArbiterCase (fuzz_seeds signs another case's verdict
  // with another key of the same PKI: it must not pass, nor anything made from it).
  static constexpr char kArbiterCase[] = "0123456789abcdef0123456789abcdef";
  static const std::set<std::string>* genuine = [&arbiter] {
    auto* verdicts = new std::set<std::string>();
    for (const std::string& seed : fuzz::Seeds("verdict")) {
      v1::EndGuaranteeRequest req;
      fuzz::Require(req.ParseFromString(seed), "a seed parses");
      auto v = liability::CheckVerdict(req.verdict(), req.verdict_signature(), fuzz::Pki().trust, arbiter, now);
      if (req.verdict().find(kArbiterCase) != std::string::npos) {
        fuzz::Require(v.ok(), "the arbiter's seed passes");
        verdicts->insert(req.verdict());
      } else {
        fuzz::Require(!v.ok(), "the seed signed with another key does not pass");
      }
    }
    fuzz::Require(!verdicts->empty(), "a seed is the arbiter's");
    return verdicts;
  }();
  v1::EndGuaranteeRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (liability::CheckVerdict(req.verdict(), req.verdict_signature(), fuzz::Pki().trust, arbiter, now).ok()) {
    fuzz::Require(genuine->contains(req.verdict()), "a verdict that passes is one the arbiter signed");
  }
  return 0;
}
