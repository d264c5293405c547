// Makes the fixed PKI (tests/fuzz/pki) and the seed corpus (tests/fuzz/corpus/<target>) the
// fuzz targets start from: valid inputs of each kind, so that fuzzing begins inside the formats.
//   fuzz_seeds [--pki]   (--pki: make a new PKI too; the seeds are then made anew as well)
#include <google/protobuf/util/json_util.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "common/base/files.h"
#include "common/base/proto_json.h"
#include "common/base/proto_time.h"
#include "common/container/container.h"
#include "common/crypto/cms.h"
#include "common/crypto/csr.h"
#include "common/crypto/digest.h"
#include "common/crypto/merkle.h"
#include "common/crypto/timestamp.h"
#include "common/exchange/asw.h"
#include "semper/v1/arbiter.pb.h"
#include "semper/v1/liability.pb.h"
#include "semper/v1/notary.pb.h"
#include "semper/v1/privacy.pb.h"
#include "services/timestamp/tsa.h"
#include "tests/fuzz/fuzz_support.h"

namespace semper::fuzz {
namespace {

template <typename T>
T Must(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::fprintf(stderr, "fuzz_seeds: %s: %s\n", what, std::string(v.status().message()).c_str());
    std::exit(1);
  }
  return *std::move(v);
}

void Write(const std::string& path, const std::string& data) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  absl::Status s = WriteFile(path, data, 0644);
  Require(s.ok(), "a seed file is written");
}

void MakePki(const std::string& dir) {
  const absl::Time from = absl::FromCivil(absl::CivilSecond(2026, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  const absl::Time until = absl::FromCivil(absl::CivilSecond(2075, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  auto save = [&](const std::string& name, const PrivateKey& key, const Certificate& cert) {
    Write(dir + "/" + name + ".pem", cert.Pem());
    Write(dir + "/" + name + ".key", std::string(key.ToUnencryptedPemSecret().Reveal()));
  };
  PrivateKey root_key = Must(PrivateKey::Generate(KeyType::kEcP256), "root key");
  CertificateTemplate t;
  t.subject = {{"C", "DE"}, {"O", "semper fuzz"}, {"CN", "Fuzz Root"}};
  t.not_before = from;
  t.not_after = until;
  t.is_ca = true;
  t.key_usage = kKuKeyCertSign | kKuCrlSign;
  Certificate root = Must(IssueCertificate(t, root_key.public_key(), nullptr, root_key), "root");
  save("root", root_key, root);
  PrivateKey ca_key = Must(PrivateKey::Generate(KeyType::kEcP256), "CA key");
  t.subject.back().second = "Fuzz CA";
  t.path_length = 0;
  Certificate ca = Must(IssueCertificate(t, ca_key.public_key(), &root, root_key), "CA");
  save("ca", ca_key, ca);
  struct Leaf {
    const char* name;
    uint32_t usage;
    std::vector<std::string> eku;
    bool critical;
  };
  for (const Leaf& l : {Leaf{"tsa", kKuDigitalSignature, {"timeStamping"}, true},
                        Leaf{"ocsp", kKuDigitalSignature, {"OCSPSigning"}, false},
                        Leaf{"signer", kKuDigitalSignature | kKuNonRepudiation, {}, false},
                        Leaf{"recipient", kKuDigitalSignature | kKuKeyAgreement, {}, false}}) {
    CertificateTemplate lt;
    lt.subject = {{"C", "DE"}, {"O", "semper fuzz"}, {"CN", std::string("Fuzz ") + l.name}};
    lt.not_before = from;
    lt.not_after = until;
    lt.key_usage = l.usage;
    lt.extended_key_usage = l.eku;
    lt.extended_key_usage_critical = l.critical;
    PrivateKey key = Must(PrivateKey::Generate(KeyType::kEcP256), "leaf key");
    save(l.name, key, Must(IssueCertificate(lt, key.public_key(), &ca, ca_key), "leaf"));
  }
}

// The notary's signing certificate, added to an existing PKI under its CA (so that the older
// seeds stay valid): CN "semper-notary signer" and nothing that names a subscriber.
void EnsureNotaryLeaf(const std::string& dir) {
  if (std::filesystem::exists(dir + "/notary.pem")) return;
  auto ca_pem = ReadFile(dir + "/ca.pem");
  auto ca_key_pem = ReadFile(dir + "/ca.key");
  Require(ca_pem.ok() && ca_key_pem.ok(), "the fixed CA is readable");
  Certificate ca = Must(Certificate::FromPem(*ca_pem), "CA");
  PrivateKey ca_key = Must(PrivateKey::FromPem(*ca_key_pem, SecretData(), /*allow_unencrypted=*/true), "CA key");
  CertificateTemplate t;
  t.subject = {{"C", "DE"}, {"O", "semper fuzz"}, {"CN", "semper-notary signer"}};
  t.not_before = absl::FromCivil(absl::CivilSecond(2026, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  t.not_after = absl::FromCivil(absl::CivilSecond(2075, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  t.key_usage = kKuDigitalSignature | kKuNonRepudiation;
  PrivateKey key = Must(PrivateKey::Generate(KeyType::kEcP256), "notary key");
  Write(dir + "/notary.pem", Must(IssueCertificate(t, key.public_key(), &ca, ca_key), "notary").Pem());
  Write(dir + "/notary.key", std::string(key.ToUnencryptedPemSecret().Reveal()));
}

// A notary statement with its evidence in a log of `size` entries (the others: `others`).
v1::Evidence NotaryEvidence(const FixedPki& pki, const std::string& kind, const std::string& statement, uint64_t index,
                            const std::vector<std::string>& others) {
  std::vector<std::string> leaves;
  for (const auto& o : others) leaves.push_back(MerkleLeafHash(o));
  leaves.insert(leaves.begin() + static_cast<long>(index), MerkleLeafHash(statement));
  MerkleLog log;
  for (const auto& l : leaves) log.Append(l);
  v1::TreeHeadStatement head;
  head.set_type("semper-notary-tree-head");
  head.set_tree_size(log.size());
  head.set_root_hash(log.Root(log.size()));
  std::string head_json;
  Require(google::protobuf::util::MessageToJsonString(head, &head_json).ok(), "tree head JSON");
  v1::Evidence e;
  e.set_index(index);
  e.set_kind(kind);
  e.set_statement(statement);
  e.set_signature(Must(CmsSignDetached(statement, pki.notary.key, pki.notary.certificate, {pki.ca}), "statement"));
  e.set_leaf_hash(MerkleLeafHash(statement));
  e.mutable_inclusion()->set_leaf_index(index);
  e.mutable_inclusion()->set_tree_size(log.size());
  for (const auto& h : log.InclusionProof(index, log.size())) e.mutable_inclusion()->add_audit_path(h);
  e.mutable_tree_head()->set_tree_size(log.size());
  e.mutable_tree_head()->set_root_hash(head.root_hash());
  e.mutable_tree_head()->set_statement(head_json);
  e.mutable_tree_head()->set_signature(
      Must(CmsSignDetached(head_json, pki.notary.key, pki.notary.certificate, {pki.ca}), "head"));
  return e;
}

std::string OcspRequest(const Certificate& cert, const Certificate& issuer, bool nonce) {
  OCSP_REQUEST* req = OCSP_REQUEST_new();
  OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), cert.x509(), issuer.x509());
  OCSP_request_add0_id(req, id);
  if (nonce) OCSP_request_add1_nonce(req, nullptr, 16);
  unsigned char* der = nullptr;
  int len = i2d_OCSP_REQUEST(req, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  OCSP_REQUEST_free(req);
  return out;
}

v1::ContainerContent Order() {
  v1::ContainerContent c = NewContainerContent(absl::Now());
  v1::Order* o = c.mutable_template_()->mutable_order();
  o->set_order_id("O-1");
  o->mutable_buyer()->set_name("Example GmbH");
  o->mutable_buyer()->set_country("DE");
  o->mutable_buyer()->set_kind(v1::CUSTOMER_KIND_ENTERPRISE);
  o->mutable_buyer()->set_vat_reference("VATDE-123456789");
  o->mutable_seller()->set_name("Vendeur SARL");
  o->mutable_seller()->set_country("FR");
  o->set_customer_kind(v1::CUSTOMER_KIND_ENTERPRISE);
  o->set_applicable_law("FR");
  o->set_vat_reference("VATDE-123456789");
  o->mutable_amount()->set_currency("EUR");
  o->mutable_amount()->set_minor_units(1299);
  auto* item = o->add_items();
  item->set_description("Widget");
  item->set_quantity(1);
  item->mutable_unit_price()->set_currency("EUR");
  item->mutable_unit_price()->set_minor_units(1299);
  return c;
}

int Main(int argc, char** argv) {
  const std::string dir = SEMPER_FUZZ_DIR;
  if (argc > 1 && std::string(argv[1]) == "--pki") MakePki(dir + "/pki");
  EnsureNotaryLeaf(dir + "/pki");
  const FixedPki& pki = Pki();
  const std::string corpus = dir + "/corpus/";
  constexpr std::string_view kContent = "semper fuzz content";
  const std::string digest = Sha256(kContent);

  Write(corpus + "timestamp_request/plain", Must(MakeTimeStampRequest(HashAlgorithm::kSha256, digest, {}), "ts"));
  Write(corpus + "timestamp_request/nonce_policy",
        Must(MakeTimeStampRequest(HashAlgorithm::kSha256, digest, {false, "1.3.6.1.4.1.99999.1", "\x01\x02\x03\x04"}),
             "ts"));
  Write(corpus + "timestamp_request/sha512",
        Must(MakeTimeStampRequest(HashAlgorithm::kSha512, ComputeDigest(HashAlgorithm::kSha512, kContent),
                                  {true, "", "\x7f"}),
             "ts"));

  Write(corpus + "ocsp_request/signer", OcspRequest(pki.signer.certificate, pki.ca, false));
  Write(corpus + "ocsp_request/recipient_nonce", OcspRequest(pki.recipient.certificate, pki.ca, true));
  Write(corpus + "ocsp_request/foreign_issuer", OcspRequest(pki.ca, pki.root, false));

  PrivateKey csr_key = Must(PrivateKey::Generate(KeyType::kEcP256), "csr key");
  CertificationRequest csr = Must(CertificationRequest::Create(csr_key, {{"CN", "Fuzz Subscriber"}}), "csr");
  Write(corpus + "csr/der", csr.Der());
  Write(corpus + "csr/pem", csr.Pem());
  PrivateKey rsa_key = Must(PrivateKey::Generate(KeyType::kRsa), "rsa key");
  Write(corpus + "csr/rsa", Must(CertificationRequest::Create(rsa_key, {{"CN", "Other"}}), "csr").Der());

  Write(corpus + "cms/signed",
        Must(CmsSignDetached(kContent, pki.signer.key, pki.signer.certificate, {pki.ca}), "cms"));
  Write(corpus + "cms/enveloped", Must(CmsEncrypt(kContent, {pki.recipient.certificate}), "cms"));

  v1::ContainerContent order = Order();
  order.mutable_requested()->set_integrity(true);
  order.mutable_requested()->set_non_repudiation_of_origin(true);
  Write(corpus + "container/signed", Must(Seal(order, {.signers = {pki.signer}}), "seal").SerializeAsString());
  order.mutable_requested()->set_confidentiality(true);
  Write(corpus + "container/signed_encrypted",
        Must(Seal(order, {.signers = {pki.signer}, .recipients = {pki.recipient.certificate}}), "seal")
            .SerializeAsString());

  // Time-stamp tokens of the fixed TSA over SHA-256 of kContent, with and without certificates.
  tsa::SerialAllocator serials([] { return absl::StatusOr<uint64_t>(7); });
  tsa::TsaOptions options{pki.tsa.certificate, {pki.ca}, pki.tsa.key};
  options.policies = {"1.3.6.1.4.1.99999.1"};
  options.clock_check = [] { return absl::OkStatus(); };
  options.serials = &serials;
  auto authority = Must(tsa::TimeStampAuthority::New(std::move(options)), "tsa");
  tsa::Stamped stamped = authority->StampDigest(digest);
  Require(stamped.granted(), "the fixed TSA stamps");
  Write(corpus + "timestamp_token/with_certificates", stamped.token_der);
  Write(corpus + "timestamp_token/without_certificates", stamped.stored_token_der);

  // An optimistic exchange (signer -> recipient, the OCSP responder's key as the arbiter): the
  // standard contract, an abort, a resolve and both tokens; the first byte says which.
  asw::Party o{pki.signer.key, pki.signer.certificate}, r{pki.recipient.key, pki.recipient.certificate},
      t{pki.ocsp.key, pki.ocsp.certificate};
  asw::Originator originator(o, r.certificate, t.certificate, std::string(kContent));
  v1::SignedBody me1 = Must(originator.Me1(), "me1");
  asw::Responder responder = Must(asw::Responder::Accept(r, t.certificate, me1), "accept");
  v1::SignedBody me2 = Must(responder.Me2(), "me2");
  v1::SignedBody me3 = Must(originator.Me3(me2), "me3");
  v1::SignedBody me4 = Must(responder.Me4(me3), "me4");
  Write(corpus + "exchange/contract",
        std::string(1, '\0') + Must(originator.Finish(me4), "contract").SerializeAsString());
  Write(corpus + "exchange/abort", std::string(1, '\1') + Must(originator.Abort(), "abort").SerializeAsString());
  Write(corpus + "exchange/resolve", std::string(1, '\2') + Must(responder.Resolve(), "resolve").SerializeAsString());
  Write(corpus + "exchange/abort_token",
        std::string(1, '\3') + Must(asw::IssueToken(false, me1, {}, t, absl::Now()), "token").SerializeAsString());
  Write(corpus + "exchange/replacement",
        std::string(1, '\3') + Must(asw::IssueToken(true, me1, me2, t, absl::Now()), "token").SerializeAsString());

  // The notary's evidence: an attestation alone in its log, and a mail submission amid others.
  const std::string attestation =
      R"({"type":"semper-notarial-attestation","documentSha256":"c2VtcGVy","nonce":"AAEC"})";
  const std::string submission = R"({"type":"semper-mail-submission","mailId":"M-0011223344556677","nonce":"AwQF"})";
  Write(corpus + "notary_evidence/attestation",
        NotaryEvidence(pki, "attestation", attestation, 0, {}).SerializeAsString());
  Write(corpus + "notary_evidence/submission",
        NotaryEvidence(pki, "mail-submission", submission, 2,
                       {"{\"type\":\"a\"}", "{\"type\":\"b\"}", "{\"type\":\"c\"}"})
            .SerializeAsString());
  // A credential the fixed CA signed for the document signer, presented by it to an acceptor
  // (the fuzz target checks at the presentation's time).
  {
    v1::CredentialStatement cs;
    cs.set_type("semper-credential");
    cs.set_credential_id("C-0123456789abcdef01234567");
    cs.set_issuer_subscriber_id("S-fuzz-issuer");
    cs.set_issuer_name("Fuzz Issuer");
    cs.set_holder_subject(pki.signer.certificate.Subject());
    cs.set_holder_certificate_serial(pki.signer.certificate.SerialHex());
    cs.set_holder_key_sha256(Sha256(pki.signer.certificate.SpkiDer()));
    cs.set_kind("membership");
    cs.set_rights("enter");
    cs.set_uses(3);
    const std::string statement = StatementJson(cs);
    PrivateKey ca_key =
        Must(PrivateKey::FromPem(Must(ReadFile(dir + "/pki/ca.key"), "CA key"), SecretData(), true), "CA key");
    v1::RedeemCredentialRequest req;
    req.set_credential_statement(statement);
    req.set_credential_signature(Must(CmsSignDetached(statement, ca_key, pki.ca, {}), "credential"));
    v1::PresentationStatement ps;
    ps.set_type("semper-credential-presentation");
    ps.set_credential_id(cs.credential_id());
    ps.set_acceptor_subscriber_id("S-fuzz-acceptor");
    ps.set_nonce(std::string(16, '\x5a'));
    *ps.mutable_made_at() = ToTimestamp(absl::Now());
    req.set_presentation(ps.SerializeAsString());
    req.set_presentation_signature(
        Must(CmsSignDetached(req.presentation(), pki.signer.key, pki.signer.certificate, {pki.ca}), "presentation"));
    Write(corpus + "presentation/presented", req.SerializeAsString());
  }
  // A SEMPER agreement the document signer signed as buyer, valid until 2074.
  {
    v1::ContainerContent c = NewContainerContent(absl::Now());
    v1::Agreement* a = c.mutable_template_()->mutable_agreement();
    a->mutable_overall_limit()->set_currency("EUR");
    a->mutable_overall_limit()->set_minor_units(100000);
    a->mutable_per_transaction_limit()->set_currency("EUR");
    a->mutable_per_transaction_limit()->set_minor_units(50000);
    *a->mutable_valid_from() =
        ToTimestamp(absl::FromCivil(absl::CivilSecond(2026, 1, 1, 0, 0, 0), absl::UTCTimeZone()));
    *a->mutable_valid_until() =
        ToTimestamp(absl::FromCivil(absl::CivilSecond(2074, 1, 1, 0, 0, 0), absl::UTCTimeZone()));
    a->set_applicable_law("DE");
    c.mutable_requested()->set_non_repudiation_of_origin(true);
    Write(corpus + "agreement/signed",
          Must(Seal(c, {.signers = {pki.signer}}), "agreement").signed_().SerializeAsString());
  }
  // A verdict signed by the key the fuzz target takes for the arbiter's (the notary leaf), and the
  // same verdict signed by the document signer (which must not pass).
  {
    v1::VerdictStatement v;
    v.set_type("semper-verdict");
    v.set_case_id("0123456789abcdef0123456789abcdef");
    v.set_claim_kind(v1::CLAIM_KIND_NON_DELIVERY);
    v.set_claimant("CN=Fuzz Buyer");
    v.set_respondent("CN=Fuzz Seller");
    v.set_outcome(v1::VERDICT_OUTCOME_CLAIM_UPHELD);
    v.set_subject_sha256(digest);
    v1::GuaranteeOrder* o = v.add_guarantee_orders();
    o->set_guarantee_id("G-0123456789abcdef01234567");
    o->set_action("release");
    v1::EndGuaranteeRequest req;
    req.set_guarantee_id(o->guarantee_id());
    req.set_verdict(StatementJson(v));
    req.set_verdict_signature(
        Must(CmsSignDetached(req.verdict(), pki.notary.key, pki.notary.certificate, {pki.ca}), "verdict"));
    Write(corpus + "verdict/by_the_arbiter", req.SerializeAsString());
    v.set_case_id("fedcba9876543210fedcba9876543210");  // another case's, signed with another key
    req.set_verdict(StatementJson(v));
    req.set_verdict_signature(
        Must(CmsSignDetached(req.verdict(), pki.signer.key, pki.signer.certificate, {pki.ca}), "verdict"));
    Write(corpus + "verdict/by_another_key", req.SerializeAsString());
  }
  std::printf("fuzz_seeds: corpus written under %s\n", corpus.c_str());
  return 0;
}

}  // namespace
}  // namespace semper::fuzz

int main(int argc, char** argv) { return semper::fuzz::Main(argc, argv); }
