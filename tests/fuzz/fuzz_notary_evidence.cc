// The notary's evidence as parties show it to each other and to the arbiter (a serialized
// semper.v1.Evidence): checking never crashes, and evidence verifies only for a statement the
// notary's key signed (the seeds' statements): a changed statement, kind, proof or tree head never
// verifies, nor does one signed by another key of the same PKI.
#include <cstdint>
#include <set>

#include "common/notary/evidence.h"
#include "semper/v1/notary.pb.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace semper;
  const auto& pki = fuzz::Pki();
  static const std::set<std::string>* genuine = [] {
    auto* statements = new std::set<std::string>();
    for (const std::string& seed : fuzz::Seeds("notary_evidence")) {
      v1::Evidence e;
      fuzz::Require(e.ParseFromString(seed), "a seed parses");
      fuzz::Require(notary::VerifyEvidence(e, fuzz::Pki().trust).ok(), "a seed verifies");
      statements->insert(e.kind() + "\n" + e.statement());
    }
    return statements;
  }();
  v1::Evidence e;
  if (!e.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (notary::VerifyEvidence(e, pki.trust).ok()) {
    fuzz::Require(genuine->contains(e.kind() + "\n" + e.statement()),
                  "verified evidence is a statement the notary signed");
  }
  (void)notary::VerifyTreeHead(e.tree_head(), pki.trust);
  return 0;
}
