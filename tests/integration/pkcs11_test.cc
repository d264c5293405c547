// Keys held in a PKCS#11 token: a real SoftHSM2 token made for the test, used through OpenSSL's
// pkcs11 engine for raw signatures, certificate issuance (checked by openssl verify) and CMS.
#include "common/crypto/pkcs11.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "common/crypto/cms.h"
#include "common/crypto/signature.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::RunCommand;
using ::semper::testing::StatusIs;
using ::semper::testing::TempDir;

// A token "semper" (PIN 1234) holding an imported P-256 key "ca"; SOFTHSM2_CONF points at it
// for the whole test binary, since the module reads it once.
class Pkcs11Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    std::string tokens = dir_->path() + "/tokens";
    std::filesystem::create_directories(tokens);
    std::string conf = dir_->Write(
        "softhsm2.conf", "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\n");
    setenv("SOFTHSM2_CONF", conf.c_str(), 1);
    auto init = RunCommand(
        {"softhsm2-util", "--init-token", "--free", "--label", "semper", "--pin", "1234", "--so-pin", "5678"});
    ASSERT_EQ(init.exit_code, 0) << init.Describe();
    key_ = new PrivateKey(*PrivateKey::Generate(KeyType::kEcP256));
    std::string pem = dir_->Write("ca.pem", std::string(key_->ToUnencryptedPemSecret().Reveal()));
    auto import = RunCommand(
        {"softhsm2-util", "--import", pem, "--token", "semper", "--label", "ca", "--id", "01", "--pin", "1234"});
    ASSERT_EQ(import.exit_code, 0) << import.Describe();
    std::filesystem::remove(pem);
  }
  static void TearDownTestSuite() {
    delete key_;
    delete dir_;
  }
  static TempDir* dir_;
  static PrivateKey* key_;
};
TempDir* Pkcs11Test::dir_ = nullptr;
PrivateKey* Pkcs11Test::key_ = nullptr;

constexpr char kUri[] = "pkcs11:token=semper;object=ca;type=private";

// First in the binary: libp11 keeps the token logged in after the first good PIN, so a wrong PIN
// is only detectable before that (a daemon loads its key once, at start).
TEST_F(Pkcs11Test, WrongPinMissingKeyAndBadUriAreClearErrors) {
  EXPECT_THAT(LoadPkcs11PrivateKey(kUri, SecretData("9999")),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::WRONG_KEY));
  EXPECT_THAT(LoadPkcs11PrivateKey("pkcs11:token=semper;object=nope;type=private", SecretData("1234")),
              StatusIs(absl::StatusCode::kFailedPrecondition, v1::WRONG_KEY));
  EXPECT_THAT(LoadPkcs11PrivateKey("file:/etc/passwd", SecretData("1234")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(LoadPkcs11PrivateKey("pkcs11:token=semper;object=ca;pin-value=1234", SecretData("1234")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // The right PIN still works after wrong ones.
  EXPECT_THAT(LoadPkcs11PrivateKey(kUri, SecretData("1234")), IsOk());
}

TEST_F(Pkcs11Test, SignsInsideTheToken) {
  auto hsm = LoadPkcs11PrivateKey(kUri, SecretData("1234"));
  ASSERT_THAT(hsm, IsOk());
  EXPECT_EQ(hsm->type(), KeyType::kEcP256);
  auto signer = PublicKeySign::New(*hsm, SignatureAlgorithm::kEcdsaP256Sha256);
  ASSERT_THAT(signer, IsOk());
  auto sig = (*signer)->Sign("guarantee G-1");
  ASSERT_THAT(sig, IsOk());
  auto verifier = PublicKeyVerify::New(key_->public_key(), SignatureAlgorithm::kEcdsaP256Sha256);
  ASSERT_THAT(verifier, IsOk());
  EXPECT_THAT((*verifier)->Verify(*sig, "guarantee G-1"), IsOk());
  EXPECT_THAT((*verifier)->Verify(*sig, "guarantee G-2"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(Pkcs11Test, IssuesCertificatesOpensslAccepts) {
  auto hsm = LoadPkcs11PrivateKey(kUri, SecretData("1234"));
  ASSERT_THAT(hsm, IsOk());
  CertificateTemplate root_t;
  root_t.subject = {{"CN", "HSM Root"}};
  root_t.not_before = absl::Now() - absl::Hours(1);
  root_t.not_after = absl::Now() + absl::Hours(24);
  root_t.is_ca = true;
  root_t.key_usage = kKuKeyCertSign | kKuCrlSign;
  auto root = IssueCertificate(root_t, key_->public_key(), nullptr, *hsm);
  ASSERT_THAT(root, IsOk());
  auto leaf_key = PrivateKey::Generate(KeyType::kEcP256);
  CertificateTemplate t;
  t.subject = {{"CN", "Signer"}};
  t.not_before = absl::Now() - absl::Hours(1);
  t.not_after = absl::Now() + absl::Hours(1);
  t.key_usage = kKuNonRepudiation;
  auto leaf = IssueCertificate(t, leaf_key->public_key(), &*root, *hsm);
  ASSERT_THAT(leaf, IsOk());
  TempDir d;
  auto v = RunCommand({"openssl", "verify", "-x509_strict", "-CAfile", d.Write("root.pem", root->Pem()),
                       d.Write("leaf.pem", leaf->Pem())});
  EXPECT_EQ(v.exit_code, 0) << v.Describe();

  // CMS signed by a certificate whose key is in the token.
  auto trust = TrustStore::New({*root});
  ASSERT_THAT(trust, IsOk());
  CertificateTemplate st = t;
  st.subject = {{"CN", "HSM Signer"}};
  auto self = IssueCertificate(st, key_->public_key(), &*root, *hsm);
  ASSERT_THAT(self, IsOk());
  auto cms = CmsSignDetached("contract", *hsm, *self, {});
  ASSERT_THAT(cms, IsOk());
  EXPECT_THAT(CmsVerifyDetached(*cms, "contract", *trust, absl::Now(), KeyPurpose::kNonRepudiation), IsOk());
}

}  // namespace
}  // namespace semper
