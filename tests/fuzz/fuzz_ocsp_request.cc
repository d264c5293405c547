// OCSP requests (RFC 6960), as semper-ca's /ocsp receives them: every input gets a well-formed
// OCSPResponse; a successful one is signed by the responder and verifies.
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include <cstdint>

#include "services/ca/revocation.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace semper;

struct Responder {
  std::unique_ptr<ca::OcspResponder> responder;
  X509_STORE* store = nullptr;
  STACK_OF(X509) * untrusted = nullptr;
  Responder() {
    const auto& pki = fuzz::Pki();
    responder = std::make_unique<ca::OcspResponder>(pki.ca, pki.ocsp.certificate, pki.ocsp.key, absl::Hours(1));
    store = X509_STORE_new();
    X509_STORE_add_cert(store, pki.root.x509());
    untrusted = sk_X509_new_null();
    sk_X509_push(untrusted, pki.ca.x509());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Responder* r = new Responder();
  const std::string_view der = fuzz::View(data, size);
  (void)r->responder->Serves(der);
  bool successful = false;
  auto lookup = [](const std::string& serial) -> absl::StatusOr<ca::StatusRecord> {
    ca::StatusRecord rec;
    // Good, revoked, unknown or a failing lookup, by the serial's last digit.
    switch (serial.empty() ? 0 : serial.back() % 4) {
      case 0:
        rec.state = ca::StatusRecord::State::kGood;
        break;
      case 1:
        rec.state = ca::StatusRecord::State::kRevoked;
        rec.revoked_at = absl::Now() - absl::Hours(1);
        rec.reason = 1;
        break;
      case 2:
        return absl::UnavailableError("lookup failed");
      default:
        break;
    }
    return rec;
  };
  std::string response = r->responder->Respond(der, lookup, absl::Now(), &successful);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(response.data());
  OCSP_RESPONSE* parsed = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(response.size()));
  fuzz::Require(parsed != nullptr, "every answer is a DER OCSPResponse");
  const int status = OCSP_response_status(parsed);
  fuzz::Require(successful == (status == OCSP_RESPONSE_STATUS_SUCCESSFUL), "`successful` tells the truth");
  if (successful) {
    OCSP_BASICRESP* basic = OCSP_response_get1_basic(parsed);
    fuzz::Require(basic != nullptr, "a successful answer has a BasicOCSPResponse");
    // The signature and the responder's chain; not whether the responder may speak for every
    // CertID (a request about another issuer's certificate is answered "unknown").
    const bool verified = OCSP_basic_verify(basic, r->untrusted, r->store, OCSP_NOCHECKS) == 1;
    if (!verified) ERR_print_errors_fp(stderr);
    fuzz::Require(verified, "the responder's signature verifies");
    OCSP_BASICRESP_free(basic);
  }
  OCSP_RESPONSE_free(parsed);
  return 0;
}
