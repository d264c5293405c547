// The optimistic exchange's messages as the arbiter and the parties receive them (the first byte
// says which: 0 a standard contract, 1 an abort request, 2 a resolve request, 3 an arbiter's
// token): checking never crashes, and whatever verifies is about one of the seeds' exchanges
// (the only me1 the fixed keys signed): a modified message never binds anyone.
#include <cstdint>
#include <set>

#include "common/exchange/asw.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace semper;
  const auto& pki = fuzz::Pki();
  const Certificate& arbiter = pki.ocsp.certificate;  // the seeds' arbiter
  static const std::set<std::string>* genuine = [] {
    auto* hashes = new std::set<std::string>();
    for (const std::string& seed : fuzz::Seeds("exchange")) {
      v1::StandardContract c;
      if (seed.size() > 1 && seed[0] == 0 && c.ParseFromString(seed.substr(1))) {
        auto v = asw::VerifyStandardContract(c);
        fuzz::Require(v.ok(), "the seed contract verifies");
        hashes->insert(v->hash);
      }
    }
    fuzz::Require(!hashes->empty(), "a seed contract exists");
    return hashes;
  }();
  if (size < 1) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto genuine_me1 = [&](const std::string& hash) {
    fuzz::Require(genuine->contains(hash), "what verifies is about an exchange the parties signed");
  };
  switch (data[0]) {
    case 0: {
      v1::StandardContract c;
      if (!c.ParseFromString(body)) return 0;
      if (auto v = asw::VerifyStandardContract(c); v.ok()) genuine_me1(v->hash);
      if (auto v = asw::VerifyMe1(c.me1()); v.ok()) genuine_me1(v->hash);
      break;
    }
    case 1: {
      v1::AbortRequest r;
      if (!r.ParseFromString(body)) return 0;
      if (auto v = asw::CheckAbort(r, arbiter); v.ok()) genuine_me1(v->me1.hash);
      break;
    }
    case 2: {
      v1::ResolveRequest r;
      if (!r.ParseFromString(body)) return 0;
      if (auto v = asw::CheckResolve(r, arbiter); v.ok()) genuine_me1(v->me1.hash);
      break;
    }
    case 3: {
      v1::SignedBody token;
      if (!token.ParseFromString(body)) return 0;
      if (auto v = asw::VerifyToken(token, arbiter); v.ok()) {
        genuine_me1(v->body.me1_hash());
        if (auto m = asw::VerifyMe1(v->body.me1()); m.ok()) {
          fuzz::Require(m->hash == v->body.me1_hash(), "a token's me1 is the one it names");
          if (auto view = asw::AffidavitFor(*m, v->resolved, absl::Now()); view.has_value()) {
            fuzz::Require(view->me1_hash() == m->hash, "an affidavit names its exchange");
          }
        }
      }
      break;
    }
    default:
      break;
  }
  return 0;
}
