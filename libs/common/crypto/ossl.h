// RAII owners for OpenSSL handles and helpers to turn OpenSSL's error queue into a Status.
// Internal to libs/common; other code uses the typed wrappers (PrivateKey, Certificate, ...).
#pragma once

#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "semper/v1/errors.pb.h"

namespace semper::ossl {

template <auto Fn>
struct FnDeleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};

using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, FnDeleter<EVP_PKEY_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, FnDeleter<EVP_PKEY_CTX_free>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, FnDeleter<EVP_MD_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, FnDeleter<BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, FnDeleter<X509_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, FnDeleter<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, FnDeleter<X509_STORE_CTX_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, FnDeleter<X509_NAME_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, FnDeleter<X509_EXTENSION_free>>;
using CmsPtr = std::unique_ptr<CMS_ContentInfo, FnDeleter<CMS_ContentInfo_free>>;
using Asn1ObjectPtr = std::unique_ptr<ASN1_OBJECT, FnDeleter<ASN1_OBJECT_free>>;
using Asn1OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, FnDeleter<ASN1_OCTET_STRING_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, FnDeleter<ASN1_INTEGER_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, FnDeleter<BN_free>>;

inline void FreeX509Stack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
using X509StackPtr = std::unique_ptr<STACK_OF(X509), FnDeleter<FreeX509Stack>>;

// Drains OpenSSL's thread-local error queue into one line ("reason; reason").
std::string DrainErrors();

// A status whose message is `what` followed by the drained OpenSSL errors.
absl::Status Error(absl::StatusCode code, v1::ErrorReason reason, std::string_view what);

// DER encoding through one of OpenSSL's i2d_* functions; empty on failure.
template <typename T, typename I2d>
std::string ToDer(I2d i2d, T* object) {
  unsigned char* out = nullptr;
  int len = i2d(object, &out);
  std::string der(reinterpret_cast<char*>(out), len > 0 ? static_cast<size_t>(len) : 0);
  OPENSSL_free(out);
  return der;
}

// An X.509 name in RFC 2253 form: "CN=Alice,O=Example,C=DE".
std::string NameToString(const X509_NAME* name);
// Every value (UTF-8) of an attribute of a name, by OID or short name, in order.
std::vector<std::string> NameAttributes(const X509_NAME* name, std::string_view oid_or_name);

// SubjectPublicKeyInfo as its two parts, the key left undecoded. OpenSSL 3.0's d2i_PUBKEY spends
// about 100 µs per key looking up decoders, eight times what building the key costs; parse with
// ASN1_item_d2i(..., SpkiParts_it()) and build keys with PublicKey::FromSpki instead.
struct SpkiParts {
  X509_ALGOR* algor;
  ASN1_BIT_STRING* key;
};
const ASN1_ITEM* SpkiParts_it();
inline void FreeSpkiParts(SpkiParts* p) { ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(p), SpkiParts_it()); }
using SpkiPartsPtr = std::unique_ptr<SpkiParts, FnDeleter<FreeSpkiParts>>;
// Sets `to` to the algorithm and key bits given, without decoding the key.
absl::Status SetSpki(X509_PUBKEY* to, const X509_ALGOR* algor, const unsigned char* bits, int bits_len);

// A read-only memory BIO over `data` (which must outlive the BIO).
BioPtr ReadBio(std::string_view data);
BioPtr WriteBio();
std::string BioContents(BIO* bio);

}  // namespace semper::ossl
