// OCSP and CRLs over HTTP.
#include "services/ca/http_routes.h"

#include "absl/strings/escaping.h"
#include "common/base/files.h"
#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper::ca {

// The OCSP GET form: base64 of the DER request, URL-encoded, after /ocsp/ (RFC 6960 A.1).
std::optional<std::string> DecodeOcspGet(std::string path) {
  std::string decoded;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%') {
      if (i + 2 >= path.size() || !std::isxdigit(static_cast<unsigned char>(path[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
        return std::nullopt;
      }
      decoded.push_back(static_cast<char>(std::stoi(path.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      decoded.push_back(path[i]);
    }
  }
  std::string out;
  if (!absl::Base64Unescape(AbslView(decoded), &out)) return std::nullopt;
  return out;
}

void CaHttpRoutes::AnswerOcsp(const std::string& request, httplib::Response& res) const {
  const absl::Time now = d_.clock();
  const uint64_t response_generation = d_.ocsp_cache->Generation();
  const uint64_t status_generation = d_.status_cache->Generation();
  // Only nonce-less requests are ever stored, so a hit needs no parsing at all.
  if (auto hit = d_.ocsp_cache->Get(request, now)) {
    res.set_content(*hit, "application/ocsp-response");
    return;
  }
  const bool for_pseudonyms = d_.pseudonym_ocsp != nullptr && d_.pseudonym_ocsp->Serves(request);
  const OcspResponder& responder = for_pseudonyms ? *d_.pseudonym_ocsp : *d_.ocsp;
  const std::string issuer = for_pseudonyms ? "pseudonyms" : "ca";
  bool successful = false;
  std::string der = responder.Respond(
      request,
      [this, &issuer, now, status_generation](const std::string& serial) -> absl::StatusOr<StatusRecord> {
        // A serial of the other issuer is unknown to this one.
        const std::string key = StrCat(issuer, "/", serial);
        if (auto hit = d_.status_cache->Get(key, now)) return *hit;
        std::string issued_by;
        SEMPER_ASSIGN_OR_RETURN(v1::CertificateStatus st, d_.store->Status(serial, CaStore::kNow, &issued_by));
        StatusRecord r;
        // Read after `now` (CaStore::Status waits for status changes in flight): true at `now`.
        r.as_of = now;
        if (issued_by == issuer && st.state() == v1::CERTIFICATE_STATE_GOOD) r.state = StatusRecord::State::kGood;
        if (issued_by == issuer && st.state() == v1::CERTIFICATE_STATE_REVOKED) {
          r.state = StatusRecord::State::kRevoked;
          r.revoked_at = absl::FromUnixSeconds(st.revoked_at().seconds());
          r.reason = st.reason();
        }
        d_.status_cache->Put(key, r, now, status_generation);
        return r;
      },
      now, &successful);
  if (successful && OcspCache::Cacheable(request)) d_.ocsp_cache->Put(request, der, now, response_generation);
  res.set_content(der, "application/ocsp-response");
}

void CaHttpRoutes::ServeCrl(bool delta, httplib::Response& res) const {
  auto der = d_.store->LatestCrl(delta);
  if (!der.ok()) {
    res.status = der.status().code() == absl::StatusCode::kNotFound ? 404 : 503;
    res.set_content(StrCat(der.status().message(), "\n"), "text/plain");
    return;
  }
  res.set_content(*der, "application/pkix-crl");
}

void CaHttpRoutes::ServePseudonymCrl(httplib::Response& res) const {
  if (!d_.pki->pseudonym_issuer().has_value()) {
    res.status = 404;
    return;
  }
  auto der = d_.store->PseudonymIssuerCrl(
      [this](const std::vector<RevokedEntry>& entries, int64_t number, std::optional<int64_t>) {
        const absl::Time now = d_.clock();
        return BuildCrl(*d_.pki->pseudonym_issuer(), *d_.pki->pseudonym_issuer_key(), entries, number, std::nullopt,
                        now, now + absl::Hours(24));
      });
  if (!der.ok()) {
    res.status = 503;
    res.set_content(StrCat(der.status().message(), "\n"), "text/plain");
    return;
  }
  res.set_content(*der, "application/pkix-crl");
}

void CaHttpRoutes::Register(HttpServer& http) const {
  http.Get("/crl", [this](const httplib::Request&, httplib::Response& res) { ServeCrl(false, res); });
  http.Get("/crl/delta", [this](const httplib::Request&, httplib::Response& res) { ServeCrl(true, res); });
  http.Get("/crl/pseudonyms", [this](const httplib::Request&, httplib::Response& res) { ServePseudonymCrl(res); });
  http.Get("/crl/root", [this](const httplib::Request&, httplib::Response& res) {
    auto root_crl = ReadFile(d_.dir + "/root.crl");
    if (!root_crl.ok()) {
      res.status = 503;
      return;
    }
    res.set_content(*root_crl, "application/pkix-crl");
  });
  http.Post("/ocsp", [this](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Content-Type") != "application/ocsp-request") {
      res.status = 415;
      res.set_content("Content-Type must be application/ocsp-request\n", "text/plain");
      return;
    }
    AnswerOcsp(req.body, res);
  });
  http.Get(R"(/ocsp/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto der = DecodeOcspGet(req.matches[1]);
    if (!der) {
      res.status = 400;
      res.set_content("not a base64 OCSP request\n", "text/plain");
      return;
    }
    AnswerOcsp(*der, res);
  });
}

}  // namespace semper::ca
