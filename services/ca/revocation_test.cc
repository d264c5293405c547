// CRL and OCSP encoding, and the OCSP caches' rules, without a daemon.
#include "services/ca/revocation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "common/crypto/ossl.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_pki.h"

namespace semper::ca {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::SharedTestPki;

std::string OcspRequest(const Certificate& cert, const Certificate& issuer, bool nonce) {
  OCSP_REQUEST* req = OCSP_REQUEST_new();
  OCSP_request_add0_id(req, OCSP_cert_to_id(EVP_sha1(), cert.x509(), issuer.x509()));
  if (nonce) OCSP_request_add1_nonce(req, nullptr, 16);
  std::string der = ossl::ToDer(i2d_OCSP_REQUEST, req);
  OCSP_REQUEST_free(req);
  return der;
}

TEST(CrlTest, DeltaTurnsTheBaseIntoTheCurrentList) {
  absl::Time t0 = absl::FromUnixSeconds(1790000000), now = t0 + absl::Hours(2);
  std::vector<RevokedEntry> base = {{"0A", t0, 1}, {"0B", t0, 6}, {"0C", t0, 6}};
  // 0A unchanged, 0B released from hold, 0C revoked for good after its hold, 0D new.
  std::vector<RevokedEntry> current = {{"0A", t0, 1}, {"0C", t0 + absl::Hours(1), 1}, {"0D", t0 + absl::Hours(1), 4}};
  std::vector<RevokedEntry> delta = DeltaEntries(base, current, now);
  ASSERT_EQ(delta.size(), 3u);
  EXPECT_EQ(delta[0].serial_hex, "0C");
  EXPECT_EQ(delta[0].reason, 1);
  EXPECT_EQ(delta[1].serial_hex, "0D");
  EXPECT_EQ(delta[2].serial_hex, "0B");
  EXPECT_EQ(delta[2].reason, 8);  // removeFromCRL
  EXPECT_EQ(delta[2].revoked_at, now);
  EXPECT_TRUE(DeltaEntries(current, current, now).empty());

  // What BuildCrl writes, CrlEntries reads back (serials, times to the second, reasons).
  auto issuer = SharedTestPki().Issue("CRL issuer", kKuCrlSign);
  auto der = BuildCrl(issuer.certificate, issuer.key, delta, 7, 5, now, now + absl::Hours(1));
  ASSERT_THAT(der, IsOk());
  auto back = CrlEntries(*der);
  ASSERT_THAT(back, IsOk());
  ASSERT_EQ(back->size(), 3u);
  std::sort(back->begin(), back->end(), [](const auto& a, const auto& b) { return a.serial_hex < b.serial_hex; });
  EXPECT_EQ((*back)[0].serial_hex, "0B");
  EXPECT_EQ((*back)[0].reason, 8);
  EXPECT_EQ((*back)[0].revoked_at, now);
  EXPECT_EQ((*back)[2].serial_hex, "0D");
  EXPECT_EQ((*back)[2].reason, 4);
  EXPECT_FALSE(CrlEntries("garbage").ok());

  // A complete CRL names where its deltas are (Freshest CRL); a delta never does.
  using Crl = std::unique_ptr<X509_CRL, ossl::FnDeleter<X509_CRL_free>>;
  auto parse = [](const std::string& der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    return Crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  };
  auto freshest_of = [&](const std::string& crl_der) -> std::string {
    Crl crl = parse(crl_der);
    if (crl == nullptr) return "unparsable";
    auto* points = static_cast<CRL_DIST_POINTS*>(X509_CRL_get_ext_d2i(crl.get(), NID_freshest_crl, nullptr, nullptr));
    if (points == nullptr) return "";
    std::string url;
    if (sk_DIST_POINT_num(points) == 1) {
      const DIST_POINT* point = sk_DIST_POINT_value(points, 0);
      if (point->distpoint != nullptr && point->distpoint->type == 0 &&
          sk_GENERAL_NAME_num(point->distpoint->name.fullname) == 1) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(point->distpoint->name.fullname, 0);
        if (name->type == GEN_URI) {
          url.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.uniformResourceIdentifier)),
                     ASN1_STRING_length(name->d.uniformResourceIdentifier));
        }
      }
    }
    CRL_DIST_POINTS_free(points);
    return url.empty() ? "malformed" : url;
  };
  const std::string url = "http://ca.example/crl/delta";
  auto complete = BuildCrl(issuer.certificate, issuer.key, current, 8, std::nullopt, now, now + absl::Hours(1), url);
  ASSERT_THAT(complete, IsOk());
  EXPECT_EQ(freshest_of(*complete), url);
  {  // RFC 5280 5.2.6: non-critical.
    Crl crl = parse(*complete);
    ASSERT_NE(crl, nullptr);
    int at = X509_CRL_get_ext_by_NID(crl.get(), NID_freshest_crl, -1);
    ASSERT_GE(at, 0);
    EXPECT_EQ(X509_EXTENSION_get_critical(X509_CRL_get_ext(crl.get(), at)), 0);
  }
  auto delta_with_url = BuildCrl(issuer.certificate, issuer.key, delta, 9, 8, now, now + absl::Hours(1), url);
  ASSERT_THAT(delta_with_url, IsOk());
  EXPECT_EQ(freshest_of(*delta_with_url), "");
  EXPECT_EQ(freshest_of(*der), "");
}

TEST(OcspCacheTest, GenerationsKeepStaleResponsesOut) {
  OcspCache cache(absl::Seconds(5), 10);
  absl::Time now = absl::Now();
  uint64_t before = cache.Generation();
  cache.Clear();  // a revocation lands between the read and the Put
  cache.Put("req", "good-response", now, before);
  EXPECT_FALSE(cache.Get("req", now).has_value());
  cache.Put("req", "fresh", now, cache.Generation());
  EXPECT_EQ(cache.Get("req", now), "fresh");
  EXPECT_FALSE(cache.Get("req", now + absl::Seconds(6)).has_value());  // expired
  OcspCache off(absl::ZeroDuration(), 10);
  off.Put("req", "x", now, off.Generation());
  EXPECT_FALSE(off.Get("req", now).has_value());

  StatusCache status(absl::Seconds(5), 10);
  StatusRecord revoked;
  revoked.state = StatusRecord::State::kRevoked;
  uint64_t g = status.Generation();
  status.Clear();
  status.Put("ABC", revoked, now, g);
  EXPECT_FALSE(status.Get("ABC", now).has_value());
}

TEST(OcspCacheTest, OnlyNonceLessRequestsAreCacheable) {
  const auto& pki = SharedTestPki();
  auto leaf = pki.Issue("Leaf", kKuNonRepudiation);
  EXPECT_TRUE(OcspCache::Cacheable(OcspRequest(leaf.certificate, pki.ca(), false)));
  EXPECT_FALSE(OcspCache::Cacheable(OcspRequest(leaf.certificate, pki.ca(), true)));
  EXPECT_FALSE(OcspCache::Cacheable("garbage"));
}

// A responder with a delegated signer (id-kp-OCSPSigning) under the test CA.
OcspResponder TestResponder() {
  const auto& pki = SharedTestPki();
  semper::testing::LeafSpec spec;
  spec.extended_key_usage = {"OCSPSigning"};
  auto signer = pki.Issue(spec);
  return OcspResponder(pki.ca(), signer.certificate, signer.key, absl::Hours(1));
}

TEST(OcspResponderTest, AnswersPerSerialAndEchoesTheNonce) {
  const auto& pki = SharedTestPki();
  auto leaf = pki.Issue("Leaf", kKuNonRepudiation);
  OcspResponder responder = TestResponder();
  std::string serial_seen;
  bool ok = false;
  std::string der = responder.Respond(
      OcspRequest(leaf.certificate, pki.ca(), true),
      [&](const std::string& serial) -> absl::StatusOr<StatusRecord> {
        serial_seen = serial;
        StatusRecord r;
        r.state = StatusRecord::State::kRevoked;
        r.revoked_at = absl::Now() - absl::Hours(1);
        r.reason = 1;
        return r;
      },
      absl::Now(), &ok);
  EXPECT_TRUE(ok);
  EXPECT_EQ(serial_seen, leaf.certificate.SerialHex());
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  OCSP_RESPONSE* resp = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size()));
  ASSERT_NE(resp, nullptr);
  EXPECT_EQ(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_SUCCESSFUL);
  OCSP_BASICRESP* basic = OCSP_response_get1_basic(resp);
  ASSERT_NE(basic, nullptr);
  int reason = -1;
  int status = OCSP_single_get0_status(OCSP_resp_get0(basic, 0), &reason, nullptr, nullptr, nullptr);
  EXPECT_EQ(status, V_OCSP_CERTSTATUS_REVOKED);
  EXPECT_EQ(reason, 1);
  EXPECT_GE(OCSP_BASICRESP_get_ext_by_NID(basic, NID_id_pkix_OCSP_Nonce, -1), 0);
  OCSP_BASICRESP_free(basic);
  OCSP_RESPONSE_free(resp);

  // A failing lookup gives internalError, not a guess.
  der = responder.Respond(
      OcspRequest(leaf.certificate, pki.ca(), false),
      [](const std::string&) -> absl::StatusOr<StatusRecord> { return absl::UnavailableError("db down"); }, absl::Now(),
      &ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ(der, std::string("\x30\x03\x0a\x01\x02", 5));
}

// A status read earlier (a cached one) is answered as of when it was read: thisUpdate is the time
// it is known to have been correct (RFC 6960 4.2.2.1), never the response's own time.
TEST(OcspResponderTest, ThisUpdateIsWhenTheStatusWasRead) {
  const auto& pki = SharedTestPki();
  auto leaf = pki.Issue("Leaf", kKuNonRepudiation);
  OcspResponder responder = TestResponder();
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  auto this_update = [&](std::optional<absl::Time> as_of) -> int64_t {
    bool ok = false;
    std::string der = responder.Respond(
        OcspRequest(leaf.certificate, pki.ca(), false),
        [&](const std::string&) -> absl::StatusOr<StatusRecord> {
          StatusRecord r;
          r.state = StatusRecord::State::kGood;
          r.as_of = as_of;
          return r;
        },
        now, &ok);
    EXPECT_TRUE(ok);
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    OCSP_RESPONSE* resp = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size()));
    if (resp == nullptr) return -1;
    OCSP_BASICRESP* basic = OCSP_response_get1_basic(resp);
    ASN1_GENERALIZEDTIME* update = nullptr;
    OCSP_single_get0_status(OCSP_resp_get0(basic, 0), nullptr, nullptr, &update, nullptr);
    struct tm tm = {};
    int64_t seconds = update != nullptr && ASN1_TIME_to_tm(update, &tm) == 1 ? timegm(&tm) : -1;
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);
    return seconds;
  };
  EXPECT_EQ(this_update(now - absl::Seconds(4)), absl::ToUnixSeconds(now) - 4);
  EXPECT_EQ(this_update(std::nullopt), absl::ToUnixSeconds(now));
  // Never after the response itself.
  EXPECT_EQ(this_update(now + absl::Seconds(30)), absl::ToUnixSeconds(now));
}

}  // namespace
}  // namespace semper::ca
