// A credential presentation as an acceptor hands it to semper-ca (a serialized
// semper.v1.RedeemCredentialRequest): checking never crashes, and a presentation passes only as
// the seeds made it: the credential statement the CA signed, presented by its holder to this
// acceptor; a changed statement, presentation, nonce or acceptor never passes.
#include <cstdint>
#include <set>
#include <utility>

#include "common/base/proto_time.h"
#include "services/ca/presentation.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace semper;
  static constexpr char kAcceptor[] = "S-fuzz-acceptor";
  struct Genuine {
    std::set<std::pair<std::string, std::string>> signed_pairs;
    absl::Time now;
  };
  static const Genuine* genuine = [] {
    auto* g = new Genuine();
    for (const std::string& seed : fuzz::Seeds("presentation")) {
      v1::RedeemCredentialRequest req;
      fuzz::Require(req.ParseFromString(seed), "a seed parses");
      v1::PresentationStatement ps;
      fuzz::Require(ps.ParseFromString(req.presentation()), "a seed's presentation parses");
      g->now = FromTimestamp(ps.made_at()) + absl::Seconds(1);
      g->signed_pairs.insert({req.credential_statement(), req.presentation()});
    }
    for (const std::string& seed : fuzz::Seeds("presentation")) {
      v1::RedeemCredentialRequest req;
      (void)req.ParseFromString(seed);
      fuzz::Require(ca::CheckPresentation(req, kAcceptor, fuzz::Pki().trust, g->now).ok(), "a seed passes");
    }
    return g;
  }();
  v1::RedeemCredentialRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (ca::CheckPresentation(req, kAcceptor, fuzz::Pki().trust, genuine->now).ok()) {
    fuzz::Require(genuine->signed_pairs.contains({req.credential_statement(), req.presentation()}),
                  "a presentation that passes is a credential and a presentation the seeds signed");
  }
  return 0;
}
