// What the fuzz targets share: a fixed PKI committed beside them (tests/fuzz/pki, made by
// fuzz_seeds, valid until 2075, test keys only) so that the committed seed corpus (signatures,
// OCSP requests, encrypted containers) means the same to every run; and a way to stop on a
// broken promise (an abort is what libFuzzer reports, with the input that caused it).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/files.h"
#include "common/base/secret.h"
#include "common/container/container.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"

#ifndef SEMPER_FUZZ_DIR
#error "SEMPER_FUZZ_DIR names tests/fuzz"
#endif

namespace semper::fuzz {

inline void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz: broken promise: %s\n", what);
    std::abort();
  }
}

inline std::string_view View(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

struct FixedPki {
  Certificate root, ca;
  TrustStore trust;
  // Leaves: the TSA (critical timeStamping), the OCSP responder (OCSPSigning), a document signer
  // (nonRepudiation) and a mail recipient (keyAgreement); the notary's signing key (CN
  // "semper-notary signer", as semper-ca init makes it).
  SignerIdentity tsa, ocsp, signer, recipient, notary;
};

inline Certificate LoadCertificate(const std::string& name) {
  auto pem = ReadFile(std::string(SEMPER_FUZZ_DIR) + "/pki/" + name + ".pem");
  Require(pem.ok(), "the fixed PKI is readable (run fuzz_seeds)");
  auto cert = Certificate::FromPem(*pem);
  Require(cert.ok(), "a fixed certificate parses");
  return *cert;
}

inline SignerIdentity LoadIdentity(const std::string& name, const Certificate& ca) {
  auto pem = ReadFile(std::string(SEMPER_FUZZ_DIR) + "/pki/" + name + ".key");
  Require(pem.ok(), "a fixed key is readable");
  auto key = PrivateKey::FromPem(*pem, SecretData(), /*allow_unencrypted=*/true);
  Require(key.ok(), "a fixed key parses");
  return SignerIdentity{*key, LoadCertificate(name), {ca}};
}

inline const FixedPki& Pki() {
  static const FixedPki* pki = [] {
    Certificate root = LoadCertificate("root"), ca = LoadCertificate("ca");
    auto trust = TrustStore::New({root});
    Require(trust.ok(), "the fixed root is a trust anchor");
    return new FixedPki{root,
                        ca,
                        *trust,
                        LoadIdentity("tsa", ca),
                        LoadIdentity("ocsp", ca),
                        LoadIdentity("signer", ca),
                        LoadIdentity("recipient", ca),
                        LoadIdentity("notary", ca)};
  }();
  return *pki;
}

// The committed seeds of a target (tests/fuzz/corpus/<target>): the only genuine artefacts there
// are. A target checks that whatever verifies is one of them, for what the signatures cover:
// libFuzzer cannot make a signature, so a mutated input that verifies with other signed content
// is a broken promise ("a modified artefact never verifies").
inline std::vector<std::string> Seeds(const std::string& target) {
  std::vector<std::string> out;
  const std::filesystem::path dir = std::filesystem::path(SEMPER_FUZZ_DIR) / "corpus" / target;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    auto bytes = ReadFile(f.path().string());
    Require(bytes.ok(), "a seed is readable");
    out.push_back(*bytes);
  }
  Require(!out.empty(), "the target has seeds (run fuzz_seeds)");
  return out;
}

}  // namespace semper::fuzz
