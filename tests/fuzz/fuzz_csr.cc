// PKCS#10 certification requests, as semper-ca's Enroll receives them (DER or PEM): parsing,
// proof of possession, and the check against a registration record never crash; a request that
// passes re-encodes to the same DER.
#include <cstdint>

#include "common/crypto/csr.h"
#include "services/ca/pki.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace semper;
  const std::string_view input = fuzz::View(data, size);
  for (auto parsed : {CertificationRequest::FromDer(input), CertificationRequest::FromPem(input)}) {
    if (!parsed.ok()) continue;
    const CertificationRequest& req = *parsed;
    (void)req.Subject();
    (void)req.SubjectAttribute("CN");
    (void)req.SubjectAttribute("2.5.4.65");
    fuzz::Require(!req.SpkiDer().empty(), "an accepted request has a key");
    auto again = CertificationRequest::FromDer(req.Der());
    fuzz::Require(again.ok() && again->Der() == req.Der(), "an accepted request re-reads as itself");
    v1::Subscriber subscriber;
    subscriber.set_id("S-0123456789abcdef");
    subscriber.set_name("Fuzz Subscriber");
    subscriber.set_country("DE");
    subscriber.set_applicable_law("DE");
    subscriber.set_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
    (void)ca::CheckRequest(req, subscriber, "csr");
  }
  return 0;
}
