// SEMPER containers (orders, agreements, mail) as the notary, the tracker and the arbiter
// receive them: a SealedContainer from any bytes is opened (decrypted when addressed to us,
// signatures and attributes checked) without crashing; what opens has valid content, and
// non-repudiation of origin holds only with a signer.
#include <google/protobuf/stubs/logging.h>

#include <cstdint>

#include "common/container/container.h"
#include "tests/fuzz/fuzz_support.h"

// Protobuf logs every string field with invalid UTF-8 it refuses; that is expected here.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace semper;
  const auto& pki = fuzz::Pki();
  v1::SealedContainer sealed;
  if (!sealed.ParseFromArray(data, static_cast<int>(size))) return 0;
  OpenOptions o;
  o.trust = &pki.trust;
  o.decryption_key = &pki.recipient.key;
  o.decryption_certificate = &pki.recipient.certificate;
  auto opened = Open(sealed, o);
  if (opened.ok()) {
    fuzz::Require(ValidateContainerContent(opened->content).ok(), "an opened container's content is valid");
    fuzz::Require(!opened->origin_signers.empty() || !opened->holds.non_repudiation_of_origin(),
                  "origin holds only with an origin signer");
  }
  return 0;
}
