// Interop with the openssl command line: what we sign, certify and encrypt, openssl accepts;
// what openssl signs, we verify.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/base/proto_time.h"
#include "common/container/container.h"
#include "common/crypto/blind_rsa.h"
#include "common/crypto/cms.h"
#include "common/crypto/cms_signer.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_tsa.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::LeafSpec;
using ::semper::testing::RunCommand;
using ::semper::testing::Slurp;
using ::semper::testing::StatusIs;
using ::semper::testing::TempDir;
using ::semper::testing::TestPki;

constexpr char kPass[] = "interop passphrase";

class OpensslInteropTest : public ::testing::TestWithParam<KeyType> {
 protected:
  OpensslInteropTest() : pki_(GetParam(), "Interop") {}

  // Writes the root, the CA, and a leaf's certificate and encrypted key; returns the leaf.
  SignerIdentity WriteLeaf(const std::string& name, uint32_t ku, KeyType type) {
    LeafSpec spec;
    spec.common_name = name;
    spec.key_usage = ku;
    spec.key_type = type;
    SignerIdentity id = pki_.Issue(spec);
    dir_.Write("root.pem", pki_.RootPem());
    dir_.Write("ca.pem", pki_.CaPem());
    dir_.Write(name + ".pem", id.certificate.Pem());
    dir_.Write(name + ".key", *id.key.ToEncryptedPem(SecretData(kPass)));
    dir_.Write("pass", kPass);
    return id;
  }
  std::string P(const std::string& name) const { return dir_.path() + "/" + name; }

  TestPki pki_;
  TempDir dir_;
};

TEST_P(OpensslInteropTest, OpensslVerifiesOurCertificates) {
  WriteLeaf("leaf", kKuDigitalSignature | kKuNonRepudiation, GetParam());
  auto r = RunCommand(
      {"openssl", "verify", "-x509_strict", "-CAfile", P("root.pem"), "-untrusted", P("ca.pem"), P("leaf.pem")});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, ::testing::HasSubstr(": OK"));
  // And refuses it against a root it does not chain to.
  TestPki other(KeyType::kEcP256, "Other");
  dir_.Write("other-root.pem", other.RootPem());
  r = RunCommand({"openssl", "verify", "-CAfile", P("other-root.pem"), "-untrusted", P("ca.pem"), P("leaf.pem")});
  EXPECT_NE(r.exit_code, 0) << r.Describe();
}

TEST_P(OpensslInteropTest, OpensslReadsOurEncryptedKey) {
  auto leaf = WriteLeaf("leaf", kKuDigitalSignature, GetParam());
  auto r = RunCommand({"openssl", "pkey", "-in", P("leaf.key"), "-passin", "file:" + P("pass"), "-pubout"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.out, leaf.key.public_key().Pem());
  r = RunCommand({"openssl", "pkey", "-in", P("leaf.key"), "-passin", "pass:wrong passphrase", "-noout"});
  EXPECT_NE(r.exit_code, 0);
}

TEST_P(OpensslInteropTest, WeReadOpensslEncryptedKey) {
  std::vector<std::string> gen = {"openssl",           "genpkey", "-aes-256-cbc", "-pass",
                                  "file:" + P("pass"), "-out",    P("o.key")};
  dir_.Write("pass", kPass);
  if (GetParam() == KeyType::kEcP256) {
    gen.insert(gen.begin() + 2, {"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"});
  } else if (GetParam() == KeyType::kEd25519) {
    gen.insert(gen.begin() + 2, {"-algorithm", "ED25519"});
  } else {
    gen.insert(gen.begin() + 2, {"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"});
  }
  auto r = RunCommand(gen);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  std::string pem = Slurp(P("o.key"));
  auto key = PrivateKey::FromPem(pem, SecretData(kPass));
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->type(), GetParam());
  EXPECT_THAT(PrivateKey::FromPem(pem, SecretData("not the passphrase")),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::WRONG_KEY));
}

INSTANTIATE_TEST_SUITE_P(CaKeyTypes, OpensslInteropTest,
                         ::testing::Values(KeyType::kEcP256, KeyType::kEd25519, KeyType::kRsa));

class CmsInteropTest : public OpensslInteropTest {};

TEST_P(CmsInteropTest, OpensslVerifiesOurDetachedSignature) {
  auto signer = WriteLeaf("signer", kKuNonRepudiation, GetParam());
  std::string content("binary \x00\x01 content\r\nwith CRLF", 28);
  dir_.Write("content.bin", content);
  auto sig = CmsSignDetached(content, signer.key, signer.certificate, signer.chain);
  ASSERT_THAT(sig, IsOk());
  dir_.Write("sig.der", *sig);
  auto r = RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("sig.der"), "-content",
                       P("content.bin"), "-CAfile", P("root.pem"), "-out", P("out.bin")});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.err, ::testing::HasSubstr("Verification successful"));
  // openssl refuses it over different bytes.
  dir_.Write("other.bin", content + "!");
  r = RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("sig.der"), "-content",
                  P("other.bin"), "-CAfile", P("root.pem"), "-out", "/dev/null"});
  EXPECT_NE(r.exit_code, 0) << r.Describe();
}

TEST_P(CmsInteropTest, OpensslVerifiesOurPreparedSignature) {
  auto signer = WriteLeaf("signer", kKuNonRepudiation, GetParam());
  std::string content("a guarantee statement\n\x00\x01", 25);
  dir_.Write("content.bin", content);
  auto prepared = CmsDetachedSigner::New(signer.key, signer.certificate, signer.chain);
  ASSERT_THAT(prepared, IsOk());
  auto sig = (*prepared)->Sign(content, absl::Now());
  ASSERT_THAT(sig, IsOk());
  dir_.Write("sig.der", sig->with_certificates);
  auto r = RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("sig.der"), "-content",
                       P("content.bin"), "-CAfile", P("root.pem"), "-out", P("out.bin")});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.err, ::testing::HasSubstr("Verification successful"));
  // The stored form, put back together, is what openssl verified; over other bytes it fails.
  dir_.Write("restored.der", *(*prepared)->WithCertificates(sig->without_certificates));
  dir_.Write("other.bin", content + "!");
  r = RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("restored.der"), "-content",
                  P("other.bin"), "-CAfile", P("root.pem"), "-out", "/dev/null"});
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  r = RunCommand({"openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", P("sig.der")});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, ::testing::HasSubstr("signingTime"));
}

TEST_P(CmsInteropTest, WeVerifyOpensslDetachedSignature) {
  auto signer = WriteLeaf("signer", kKuNonRepudiation, GetParam());
  std::string content = "contract text signed by openssl\n";
  dir_.Write("content.txt", content);
  std::vector<std::string> argv = {
      "openssl",   "cms",           "-sign",  "-binary",       "-in",      P("content.txt"),
      "-signer",   P("signer.pem"), "-inkey", P("signer.key"), "-passin",  "file:" + P("pass"),
      "-certfile", P("ca.pem"),     "-md",    "sha256",        "-outform", "DER",
      "-out",      P("sig.der")};
  if (GetParam() == KeyType::kRsa) {
    argv.insert(argv.end(), {"-keyopt", "rsa_padding_mode:pss"});
  }
  auto r = RunCommand(argv);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  auto sig = Slurp(P("sig.der"));
  auto signers = CmsVerifyDetached(sig, content, pki_.trust(), absl::Now(), KeyPurpose::kNonRepudiation);
  ASSERT_THAT(signers, IsOk());
  EXPECT_EQ((*signers)[0].certificate.Der(), signer.certificate.Der());
  EXPECT_THAT(CmsVerifyDetached(sig, content + " ", pki_.trust(), absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::SIGNATURE_INVALID));
  // SHA-1 is refused even when the signature is otherwise fine.
  argv[argv.size() - (GetParam() == KeyType::kRsa ? 7 : 5)] = "sha1";
  r = RunCommand(argv);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(CmsVerifyDetached(Slurp(P("sig.der")), content, pki_.trust(), absl::Now(), KeyPurpose::kAny),
              StatusIs(absl::StatusCode::kInvalidArgument, v1::UNSUPPORTED_ALGORITHM));
}

TEST_P(CmsInteropTest, OpensslDecryptsOurConfidentialContainer) {
  uint32_t ku =
      kKuDigitalSignature | kKuNonRepudiation | (GetParam() == KeyType::kRsa ? kKuKeyEncipherment : kKuKeyAgreement);
  auto recipient = WriteLeaf("recipient", ku, GetParam());
  auto sender = pki_.Issue("Sender", kKuDigitalSignature | kKuNonRepudiation);
  v1::ContainerContent c = NewContainerContent(absl::Now());
  auto* info = c.add_elements();
  info->set_id("goods");
  info->mutable_information()->set_media_type("application/octet-stream");
  info->mutable_information()->set_data("licence key XYZ-123");
  auto* offer = c.mutable_template_()->mutable_offer();
  offer->set_offer_id("OF-1");
  offer->mutable_total()->set_currency("EUR");
  offer->mutable_total()->set_minor_units(500);
  c.mutable_requested()->set_integrity(true);
  c.mutable_requested()->set_confidentiality(true);
  auto sealed = Seal(c, {.signers = {sender}, .recipients = {recipient.certificate}});
  ASSERT_THAT(sealed, IsOk());
  dir_.Write("env.der", sealed->enveloped());
  auto r = RunCommand({"openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", P("env.der"), "-recip",
                       P("recipient.pem"), "-inkey", P("recipient.key"), "-passin", "file:" + P("pass"), "-out",
                       P("plain.bin")});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  v1::SignedContainer inner;
  ASSERT_TRUE(inner.ParseFromString(Slurp(P("plain.bin"))));
  v1::ContainerContent decoded;
  ASSERT_TRUE(decoded.ParseFromString(inner.content()));
  EXPECT_EQ(decoded.elements(0).information().data(), "licence key XYZ-123");
  // And the inner signature is a detached CMS signature openssl verifies over those bytes.
  dir_.Write("inner-content.bin", inner.content());
  dir_.Write("inner-sig.der", inner.signatures(0));
  r = RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("inner-sig.der"), "-content",
                  P("inner-content.bin"), "-CAfile", P("root.pem"), "-out", "/dev/null"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
}

// Ed25519 cannot sign CMS or receive CMS encryption in OpenSSL 3.0 (see cms.h).
INSTANTIATE_TEST_SUITE_P(CmsKeyTypes, CmsInteropTest, ::testing::Values(KeyType::kEcP256, KeyType::kRsa));

// CAdES-T: a container signature carrying a signature time-stamp (an unsigned attribute) still
// verifies with openssl cms; openssl shows the attribute; and openssl ts verifies the token over
// the SHA-256 of the signature value, the imprint RFC 3161 appendix A names.
TEST(CadesInteropTest, OpensslVerifiesATimeStampedContainerSignatureAndItsTimeStamp) {
  TestPki pki(KeyType::kEcP256, "CAdES");
  TempDir dir;
  auto P = [&](const std::string& name) { return dir.path() + "/" + name; };
  ::semper::testing::TestTsa tsa(pki);
  SignerIdentity buyer = pki.Issue("CAdES Buyer", kKuNonRepudiation | kKuDigitalSignature);
  v1::ContainerContent c = NewContainerContent(absl::Now());
  v1::Agreement* a = c.mutable_template_()->mutable_agreement();
  a->mutable_overall_limit()->set_currency("EUR");
  a->mutable_overall_limit()->set_minor_units(1000);
  a->mutable_per_transaction_limit()->set_currency("EUR");
  a->mutable_per_transaction_limit()->set_minor_units(100);
  *a->mutable_valid_from() = ToTimestamp(absl::Now());
  *a->mutable_valid_until() = ToTimestamp(absl::Now() + absl::Hours(1));
  a->set_applicable_law("DE");
  c.mutable_requested()->set_non_repudiation_of_origin(true);
  c.mutable_requested()->set_time_stamped(true);
  auto sealed = Seal(c, {.signers = {buyer}, .time_stamp = tsa.Client()});
  ASSERT_THAT(sealed, IsOk());
  const std::string& sig = sealed->signed_().signatures(0);
  dir.Write("content.bin", sealed->signed_().content());
  dir.Write("sig.der", sig);
  dir.Write("root.pem", pki.RootPem());
  dir.Write("ca.pem", pki.CaPem());
  auto r = RunCommand({"openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", P("sig.der"), "-content",
                       P("content.bin"), "-CAfile", P("root.pem"), "-purpose", "any", "-out", "/dev/null"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  r = RunCommand({"openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", P("sig.der")});
  EXPECT_THAT(r.out, ::testing::HasSubstr("id-smime-aa-timeStampToken"));
  auto digests = CmsSignatureValueDigests(sig);
  auto stamps = CmsSignatureTimeStamps(sig);
  ASSERT_THAT(digests, IsOk());
  ASSERT_THAT(stamps, IsOk());
  ASSERT_EQ(stamps->size(), 1u);
  ASSERT_EQ((*stamps)[0].size(), 1u);
  dir.Write("token.der", (*stamps)[0][0]);
  r = RunCommand({"openssl", "ts", "-verify", "-digest", HexEncode((*digests)[0]), "-in", P("token.der"), "-token_in",
                  "-CAfile", P("root.pem"), "-untrusted", P("ca.pem")});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, ::testing::HasSubstr("Verification: OK"));
  // Over any other digest (the whole SignedData's, say), openssl refuses it.
  r = RunCommand({"openssl", "ts", "-verify", "-digest", HexEncode(Sha256(sig)), "-in", P("token.der"), "-token_in",
                  "-CAfile", P("root.pem"), "-untrusted", P("ca.pem")});
  EXPECT_NE(r.exit_code, 0) << r.Describe();
}

TEST(BlindRsaInteropTest, OpensslVerifiesAFinalizedBlindSignatureAsRsaPss) {
  // RFC 9474: the token a holder ends up with is a standard RSASSA-PSS signature (SHA-384,
  // MGF1-SHA-384, 48-byte salt) over the prepared message; openssl's own verifier says so.
  TempDir dir;
  auto key = PrivateKey::Generate(KeyType::kRsa, 2048);
  ASSERT_THAT(key.status(), IsOk());
  const PublicKey pk = key->public_key();
  const std::string prepared = blind_rsa::Prepare("ten-ride pass, ride 1");
  auto blinding = blind_rsa::Blind(pk, prepared);
  ASSERT_THAT(blinding.status(), IsOk());
  auto sig = blind_rsa::Finalize(pk, prepared, *blind_rsa::BlindSign(*key, blinding->blinded_message), blinding->inv);
  ASSERT_THAT(sig.status(), IsOk());
  dir.Write("pub.pem", pk.Pem());
  dir.Write("msg.bin", prepared);
  dir.Write("sig.bin", *sig);
  auto verify = [&](const std::string& msg) {
    return RunCommand({"openssl", "dgst", "-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48",
                       "-sigopt", "rsa_mgf1_md:sha384", "-verify", dir.path() + "/pub.pem", "-signature",
                       dir.path() + "/sig.bin", dir.path() + "/" + msg});
  };
  auto r = verify("msg.bin");
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, ::testing::HasSubstr("Verified OK"));
  dir.Write("other.bin", prepared + "!");
  EXPECT_NE(verify("other.bin").exit_code, 0);
}

}  // namespace
}  // namespace semper
