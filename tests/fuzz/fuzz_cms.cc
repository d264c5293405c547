// CMS as the daemons receive it from clients: detached SignedData (documents, orders, requests),
// EnvelopedData (certified mail), and RFC 3161 tokens. Verification and decryption never crash,
// one signature never verifies for two different contents, and what verifies parses whole.
#include <cstdint>

#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/timestamp.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace semper;
  const auto& pki = fuzz::Pki();
  const std::string_view der = fuzz::View(data, size);
  constexpr std::string_view kContent = "semper fuzz content";  // what the seeds' signatures cover
  auto signers = CmsVerifyDetached(der, kContent, pki.trust, absl::Now(), KeyPurpose::kAny);
  if (signers.ok()) fuzz::Require(!signers->empty(), "a verified signature names its signers");
  // Verification parses with the embedded certificates taken from ones parsed before; the
  // SignedData must still be one that parses whole (CmsSignatureValueDigests parses it whole).
  if (signers.ok()) {
    fuzz::Require(CmsSignatureValueDigests(der).ok(), "a signature that verifies is a SignedData that parses whole");
  }
  auto wrong = CmsVerifyDetached(der, "other content", pki.trust, absl::Now(), KeyPurpose::kAny);
  fuzz::Require(!(signers.ok() && wrong.ok()), "one signature does not verify for two contents");
  (void)CmsVerifyDetachedDigest(der, HashAlgorithm::kSha256, Sha256(kContent), pki.trust, absl::Now(),
                                KeyPurpose::kAny);
  (void)CmsDecrypt(der, pki.recipient.key, pki.recipient.certificate);
  (void)TimeStampTokenOf(der);
  (void)ReadTimeStampToken(der);
  (void)VerifyTimeStampToken(der, Sha256(kContent), {pki.root});
  return 0;
}
