// semper-ca over HTTP: OCSP (RFC 6960, POST and GET, RFC 5019 caching of nonce-less answers) for
// the issuing CA and the shared pseudonym issuer, and the CRLs (full, delta, the pseudonym
// issuer's, the root's). Thread-safe once registered.
#pragma once

#include <optional>
#include <string>

#include "common/base/clock.h"
#include "common/server/http_server.h"
#include "services/ca/pki.h"
#include "services/ca/revocation.h"
#include "services/ca/store.h"

namespace semper::ca {

// The OCSP GET form: base64 of the DER request, URL-encoded, after /ocsp/ (RFC 6960 A.1).
std::optional<std::string> DecodeOcspGet(std::string path);

class CaHttpRoutes {
 public:
  struct Deps {
    CaStore* store = nullptr;
    const Pki* pki = nullptr;
    const OcspResponder* ocsp = nullptr;            // the issuing CA's (delegated) responder
    const OcspResponder* pseudonym_ocsp = nullptr;  // the shared pseudonym issuer's, if it has one
    OcspCache* ocsp_cache = nullptr;
    StatusCache* status_cache = nullptr;
    std::string dir;  // ca.dir: root.crl is read from it per request (`semper-ca root-crl` replaces it)
    Clock clock = SystemClock();
  };
  explicit CaHttpRoutes(Deps deps) : d_(std::move(deps)) {}
  // The routes, on the daemon's HTTP server; this object must outlive it.
  void Register(HttpServer& http) const;

 private:
  void AnswerOcsp(const std::string& request, httplib::Response& res) const;
  void ServeCrl(bool delta, httplib::Response& res) const;
  void ServePseudonymCrl(httplib::Response& res) const;
  Deps d_;
};

}  // namespace semper::ca
