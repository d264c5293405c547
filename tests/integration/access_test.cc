// The role matrix, enforced: every RPC of every daemon (from the services' descriptors, so a new
// RPC is tested without editing this file), called with a client certificate of every role and
// without one, over real TLS to the five daemons. Where the matrix (docs/roles.md) refuses the
// caller, the answer must be the gate's refusal; where it admits the caller, the call must get
// past the gate (to a handler that then judges the empty request). Also: a certificate that does
// not chain to the suite's root, and an expired one, are refused by the TLS layer itself.
#include "common/server/access.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <filesystem>

#include "common/base/secret.h"
#include "common/crypto/certificate.h"
#include "common/crypto/keys.h"
#include "common/server/peer.h"
#include "semper/v1/arbiter.grpc.pb.h"
#include "semper/v1/ca.grpc.pb.h"
#include "semper/v1/liability.grpc.pb.h"
#include "semper/v1/notary.grpc.pb.h"
#include "semper/v1/privacy.grpc.pb.h"
#include "semper/v1/tsa.grpc.pb.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/suite.h"
#include "tests/support/test_pki.h"
#include "tests/support/weak_keys.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::Slurp;
using ::semper::testing::Suite;
using ::semper::testing::TempDir;

constexpr char kPass[] = "access test passphrase";

struct Caller {
  std::string name;
  std::set<Role> roles;            // what the matrix should see
  std::string chain_pem, key_pem;  // empty: no client certificate
};

class AccessTest : public ::semper::testing::PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    Suite::Options o = Suite::Options::All(conninfo());
    o.passphrase = kPass;
    // What semper-ca said about client certificates counts 5 s while it is unreachable (more than
    // two heartbeats, so that a refusal too early is told apart from one on time).
    o.common_env = {"SEMPER_ACCESS_REVOCATION_STALENESS=5s"};
    o.env["liability"] = {"SEMPER_LIABILITY_REVOCATION_STALENESS=3s"};
    auto suite = Suite::Start(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
  }

  // A certificate from the suite's issuing CA with `roles` in its subject, for TLS clients.
  Caller Issued(const std::string& name, const std::vector<Role>& roles,
                absl::Time not_after = absl::Now() + absl::Hours(1)) {
    auto ca_key = PrivateKey::FromPem(Slurp(suite_->P("pki/ca.key")), SecretData(kPass));
    EXPECT_TRUE(ca_key.ok());
    auto ca = Certificate::FromPem(Slurp(suite_->P("pki/ca.pem")));
    EXPECT_TRUE(ca.ok());
    PrivateKey key = *PrivateKey::Generate(KeyType::kEcP256);
    CertificateTemplate t;
    t.subject = {{"C", "DE"}, {"O", "Access Test"}};
    for (auto& a : RoleSubjectAttributes(roles)) t.subject.push_back(a);
    t.subject.push_back({"CN", name});
    t.not_before = absl::Now() - absl::Hours(2);
    t.not_after = not_after;
    t.key_usage = kKuDigitalSignature;
    t.extended_key_usage = {"clientAuth"};
    auto cert = IssueCertificate(t, key.public_key(), &*ca, *ca_key);
    EXPECT_TRUE(cert.ok());
    return {name, std::set<Role>(roles.begin(), roles.end()), cert->Pem() + ca->Pem(),
            std::string(key.ToUnencryptedPemSecret().Reveal())};
  }

  std::vector<Caller> Callers() {
    std::vector<Caller> out;
    out.push_back({"anyone (no certificate)", {}, "", ""});
    auto admin_key = PrivateKey::FromPem(Slurp(suite_->P("pki/admin/admin.key")), SecretData(kPass));
    out.push_back({"administrator (from init)",
                   {Role::kAdministrator},
                   Slurp(suite_->P("pki/admin/admin.pem")),
                   std::string(admin_key->ToUnencryptedPemSecret().Reveal())});
    auto arb_key = PrivateKey::FromPem(Slurp(suite_->P("pki/admin/arbitrator.key")), SecretData(kPass));
    out.push_back({"arbitrator (from init)",
                   {Role::kArbitrator},
                   Slurp(suite_->P("pki/admin/arbitrator.pem")),
                   std::string(arb_key->ToUnencryptedPemSecret().Reveal())});
    out.push_back(Issued("Rita Registrar", {Role::kRegistrationOfficer}));
    auto sub = suite_->Enroll("Sam Subscriber", v1::CUSTOMER_KIND_INDIVIDUAL);
    EXPECT_TRUE(sub.ok());
    out.push_back({"subscriber (enrolled)",
                   {Role::kSubscriber},
                   sub->authentication_certificate->Pem() + Slurp(suite_->P("pki/ca.pem")),
                   std::string(sub->authentication_key->ToUnencryptedPemSecret().Reveal())});
    out.push_back(Issued("Pat Pseudonym", {Role::kPseudonymHolder}));
    auto svc_key = PrivateKey::FromPem(Slurp(suite_->P("pki/services/notary-tls.key")), SecretData(kPass));
    out.push_back({"service (semper-notary's TLS certificate)",
                   {Role::kService},
                   Slurp(suite_->P("pki/services/notary-tls.pem")),
                   std::string(svc_key->ToUnencryptedPemSecret().Reveal())});
    out.push_back(Issued("No Role", {}));
    return out;
  }

  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& daemon, const std::string& chain,
                                            const std::string& key) {
    return suite_->ChannelWith(daemon, chain, key);
  }

  // One call with an empty message; streaming methods get a short deadline (past the gate, a
  // watch simply waits).
  static grpc::Status Call(grpc::GenericStub& stub, const std::string& method, bool streaming = false) {
    return ::semper::testing::CallUnary(stub, method, "", std::chrono::milliseconds(streaming ? 500 : 5000));
  }

  TempDir dir_;
  std::unique_ptr<Suite> suite_;
};

bool GateRefused(const grpc::Status& s) {
  return (s.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
          s.error_code() == grpc::StatusCode::UNAUTHENTICATED) &&
         s.error_message().rfind(std::string(kAccessDenialPrefix), 0) == 0;
}

TEST_F(AccessTest, EveryRpcOfEveryDaemonWithEveryRoleAsTheMatrixSays) {
  const std::map<std::string, std::vector<std::string>> daemons = {
      {"ca", {"semper.v1.CertificationAuthority", "semper.v1.Pseudonyms", "semper.v1.Credentials"}},
      {"tsa", {"semper.v1.TimeStamp"}},
      {"notary", {"semper.v1.Notary"}},
      {"arbiter", {"semper.v1.Arbiter"}},
      {"liability", {"semper.v1.Liability"}},
  };
  AccessPolicy policy(SuiteAccessMatrix());
  std::vector<Caller> callers = Callers();
  int calls = 0, refused = 0;
  for (const auto& [daemon, services] : daemons) {
    for (const Caller& caller : callers) {
      grpc::GenericStub stub(ChannelFor(daemon, caller.chain_pem, caller.key_pem));
      std::vector<std::pair<std::string, bool>> methods = {{"/grpc.health.v1.Health/Check", false}};
      for (const std::string& name : services) {
        const auto* service = ::semper::testing::SuiteService(name);
        ASSERT_NE(service, nullptr) << name;
        for (int i = 0; i < service->method_count(); ++i) {
          const auto* m = service->method(i);
          methods.push_back(
              {"/" + service->full_name() + "/" + m->name(), m->server_streaming() || m->client_streaming()});
        }
      }
      for (const auto& [method, streaming] : methods) {
        const AccessRule* rule = policy.Find(method);
        ASSERT_NE(rule, nullptr) << method;
        bool allowed = rule->roles.empty();
        for (Role r : rule->roles) allowed = allowed || caller.roles.count(r) != 0;
        grpc::Status s = Call(stub, method, streaming);
        ++calls;
        if (allowed) {
          EXPECT_FALSE(GateRefused(s)) << daemon << " " << method << " as " << caller.name << ": " << s.error_message();
          EXPECT_NE(s.error_code(), grpc::StatusCode::UNAVAILABLE)
              << method << " as " << caller.name << ": " << s.error_message();
        } else {
          ++refused;
          EXPECT_TRUE(GateRefused(s)) << daemon << " " << method << " as " << caller.name << " got " << s.error_code()
                                      << ": " << s.error_message();
          EXPECT_EQ(s.error_code(),
                    caller.chain_pem.empty() ? grpc::StatusCode::UNAUTHENTICATED : grpc::StatusCode::PERMISSION_DENIED)
              << method << " as " << caller.name;
        }
      }
    }
  }
  EXPECT_GT(calls, 400);
  EXPECT_GT(refused, 50);
  // A method no daemon serves and the matrix does not list: UNIMPLEMENTED at the gate, with
  // or without a certificate.
  for (const auto& caller : {callers[0], callers[1]}) {
    grpc::GenericStub stub(ChannelFor("notary", caller.chain_pem, caller.key_pem));
    grpc::Status unknown = Call(stub, "/semper.v1.Notary/DropEverything");
    EXPECT_EQ(unknown.error_code(), grpc::StatusCode::UNIMPLEMENTED) << caller.name;
    EXPECT_THAT(unknown.error_message(), ::testing::HasSubstr("/semper.v1.Notary/DropEverything does not exist"));
  }
}

TEST_F(AccessTest, AClientCertificateSentAloneIsCompletedFromTheSuitesCas) {
  // Clients in other languages often present the leaf only: the daemons complete the chain
  // from the CAs they know (tls.client_ca_file is semper-ca init's client-ca.pem).
  auto sub = suite_->Enroll("Lone Leaf", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(sub.status(), IsOk());
  const std::string leaf = sub->authentication_certificate->Pem();
  const std::string key(sub->authentication_key->ToUnencryptedPemSecret().Reveal());
  for (const std::string daemon : {"liability", "notary", "arbiter", "ca"}) {
    grpc::GenericStub stub(ChannelFor(daemon, leaf, key));
    const std::string method = daemon == "liability" ? "/semper.v1.Liability/GetGuarantee"
                               : daemon == "notary"  ? "/semper.v1.Notary/GetMail"
                               : daemon == "arbiter" ? "/semper.v1.Arbiter/ListCases"
                                                     : "/semper.v1.Credentials/GetClearingStatement";
    grpc::Status s = Call(stub, method);
    EXPECT_FALSE(GateRefused(s)) << daemon << ": " << s.error_message();
    EXPECT_NE(s.error_code(), grpc::StatusCode::UNAVAILABLE) << daemon << ": " << s.error_message();
  }
}

TEST_F(AccessTest, CertificatesFromElsewhereOrExpiredAreRefusedByTls) {
  // An administrator certificate from another CA: the handshake fails, no call reaches a daemon.
  const auto& other = ::semper::testing::SharedTestPki();
  ::semper::testing::LeafSpec spec;
  spec.common_name = "Mallory Admin";
  spec.key_usage = kKuDigitalSignature;
  spec.extended_key_usage = {"clientAuth"};
  spec.extra_subject = RoleSubjectAttributes({Role::kAdministrator});
  SignerIdentity forged = other.Issue(spec);
  grpc::GenericStub foreign(ChannelFor("ca", forged.certificate.Pem() + other.CaPem(),
                                       std::string(forged.key.ToUnencryptedPemSecret().Reveal())));
  grpc::Status s = Call(foreign, "/semper.v1.CertificationAuthority/ListSubscribers");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();

  Caller expired = Issued("Old Officer", {Role::kRegistrationOfficer}, absl::Now() - absl::Minutes(5));
  grpc::GenericStub stale(ChannelFor("ca", expired.chain_pem, expired.key_pem));
  s = Call(stale, "/semper.v1.CertificationAuthority/ListSubscribers");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();

  // The same officer with a valid certificate gets through.
  Caller valid = Issued("New Officer", {Role::kRegistrationOfficer});
  grpc::GenericStub fresh(ChannelFor("ca", valid.chain_pem, valid.key_pem));
  s = Call(fresh, "/semper.v1.CertificationAuthority/ListSubscribers");
  EXPECT_FALSE(GateRefused(s)) << s.error_message();
  EXPECT_NE(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

// A subscriber's client certificate revoked (or put on hold) at semper-ca is refused by every
// daemon's gate, on role-bound and open methods alike, within a few seconds (pushed by
// semper-ca's feed); released from hold, it is accepted again.
TEST_F(AccessTest, RevokedOrHeldClientCertificatesAreRefusedByEveryDaemon) {
  const std::vector<std::string> daemons = {"ca", "tsa", "notary", "arbiter", "liability"};
  auto held = suite_->Enroll("Hannah Held", v1::CUSTOMER_KIND_INDIVIDUAL);
  auto revoked = suite_->Enroll("Rob Revoked", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_TRUE(held.ok() && revoked.ok());
  auto stub_of = [&](const std::string& daemon, const Suite::Subscriber& who) {
    return std::make_unique<grpc::GenericStub>(
        ChannelFor(daemon, who.authentication_certificate->Pem() + Slurp(suite_->P("pki/ca.pem")),
                   std::string(who.authentication_key->ToUnencryptedPemSecret().Reveal())));
  };
  // A role-bound method (semper-ca: subscribers redeem tokens) and an open one (every daemon).
  const std::string role_bound = "/semper.v1.Credentials/RedeemToken";
  const std::string open = "/grpc.health.v1.Health/Check";
  auto refused_as_revoked = [](const grpc::Status& s) {
    return s.error_code() == grpc::StatusCode::UNAUTHENTICATED && GateRefused(s) &&
           s.error_message().find("is revoked or on hold") != std::string::npos;
  };
  for (const Suite::Subscriber* who : {&*held, &*revoked}) {
    for (const std::string& daemon : daemons) {
      auto stub = stub_of(daemon, *who);
      EXPECT_TRUE(Call(*stub, open).ok()) << daemon;
    }
    grpc::Status s = Call(*stub_of("ca", *who), role_bound);
    EXPECT_FALSE(GateRefused(s)) << s.error_message();
  }
  ASSERT_THAT(suite_->Revoke(*revoked->authentication_certificate, 1), IsOk());  // keyCompromise
  ASSERT_THAT(suite_->Revoke(*held->authentication_certificate, 6), IsOk());     // certificateHold
  const absl::Time revoked_at = absl::Now();
  for (const Suite::Subscriber* who : {&*held, &*revoked}) {
    for (const std::string& daemon : daemons) {
      auto stub = stub_of(daemon, *who);
      grpc::Status s;
      while ((s = Call(*stub, open), !refused_as_revoked(s)) && absl::Now() - revoked_at < absl::Seconds(5)) {
        absl::SleepFor(absl::Milliseconds(50));
      }
      EXPECT_TRUE(refused_as_revoked(s)) << daemon << " still admits " << who->certificate.Subject() << ": "
                                         << s.error_code() << " " << s.error_message();
      std::printf("%s refuses %s %lld ms after the revocation\n", daemon.c_str(),
                  who->authentication_certificate->Subject().c_str(),
                  static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - revoked_at)));
    }
    EXPECT_TRUE(refused_as_revoked(Call(*stub_of("ca", *who), role_bound)));
  }
  // Callers without a certificate, and other subscribers, are not affected.
  grpc::GenericStub anonymous(ChannelFor("notary", "", ""));
  EXPECT_TRUE(Call(anonymous, open).ok());

  // Released from hold: admitted again everywhere; the revoked one stays refused.
  {
    auto admin = v1::CertificationAuthority::NewStub(suite_->Channel("ca", "admin"));
    v1::ReleaseHoldRequest req;
    req.set_serial(held->authentication_certificate->SerialHex());
    v1::CertificateStatus st;
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin->ReleaseHold(&ctx, req, &st).ok());
  }
  const absl::Time released_at = absl::Now();
  for (const std::string& daemon : daemons) {
    auto stub = stub_of(daemon, *held);
    grpc::Status s;
    while ((s = Call(*stub, open), !s.ok()) && absl::Now() - released_at < absl::Seconds(5)) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    EXPECT_TRUE(s.ok()) << daemon << ": " << s.error_message();
    EXPECT_TRUE(refused_as_revoked(Call(*stub_of(daemon, *revoked), open))) << daemon;
  }
}

// While semper-ca is unreachable for longer than access.revocation_staleness, a daemon cannot
// know whether a client certificate was revoked: role-bound calls are refused (UNAVAILABLE, so a
// client retries) and open ones go on. When semper-ca is back, role-bound calls pass again.
TEST_F(AccessTest, UnknownRevocationStatusStopsRoleBoundCallsOnly) {
  std::vector<Caller> callers = Callers();
  const Caller& admin = callers[1];
  const Caller& arbitrator = callers[2];
  grpc::GenericStub notary_admin(ChannelFor("notary", admin.chain_pem, admin.key_pem));
  grpc::GenericStub arbiter_arbitrator(ChannelFor("arbiter", arbitrator.chain_pem, arbitrator.key_pem));
  grpc::GenericStub tsa_admin(ChannelFor("tsa", admin.chain_pem, admin.key_pem));
  const std::string audit = "/semper.v1.Notary/AuditLog", decide = "/semper.v1.Arbiter/DecideCase";
  const std::string open = "/grpc.health.v1.Health/Check";
  EXPECT_FALSE(GateRefused(Call(notary_admin, audit)));
  // semper-ca is killed (SIGKILL: gone at once, no shutdown to wait for). Each daemon last heard
  // it at most one heartbeat (2 s, a little more under load) before, so none may refuse earlier
  // than staleness (5 s) minus a heartbeat after the kill: 2 s is a bound with margin, and one
  // that a daemon refusing as soon as the feed breaks would miss. Each daemon is its own watcher
  // and goes stale at its own moment, so each is waited for.
  const absl::Time stopping_at = absl::Now();
  ASSERT_THAT(suite_->Kill("ca"), IsOk());
  auto unknown = [](const grpc::Status& s) {
    return s.error_code() == grpc::StatusCode::UNAVAILABLE &&
           s.error_message().rfind("access: cannot tell whether the client certificate is revoked", 0) == 0;
  };
  auto until_unknown = [&](grpc::GenericStub& stub, const std::string& method) {
    grpc::Status s;
    while ((s = Call(stub, method), !unknown(s)) && absl::Now() - stopping_at < absl::Seconds(15)) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    return s;
  };
  grpc::Status s = until_unknown(notary_admin, audit);
  EXPECT_TRUE(unknown(s)) << s.error_code() << " " << s.error_message();
  EXPECT_GE(absl::Now() - stopping_at, absl::Seconds(2)) << "refused before the staleness had passed";
  s = until_unknown(arbiter_arbitrator, decide);
  EXPECT_TRUE(unknown(s)) << s.error_code() << " " << s.error_message();
  // Open methods, with or without a certificate, are not held up.
  EXPECT_TRUE(Call(notary_admin, open).ok());
  EXPECT_TRUE(Call(tsa_admin, open).ok());
  ASSERT_THAT(suite_->Restart("ca"), IsOk());
  const absl::Time restarted_at = absl::Now();
  while ((s = Call(notary_admin, audit), unknown(s)) && absl::Now() - restarted_at < absl::Seconds(15)) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_FALSE(unknown(s)) << s.error_message();
  EXPECT_FALSE(GateRefused(s)) << s.error_message();
}

// Every private key semper-ca init made (and the CA made at its first start) is readable by its
// owner only, and a daemon refuses to start on an unencrypted key file others can read.
// An RSA "key pair" with e = 1 (d = 1): every value is its own signature, so anyone can sign
// for it; a lax or older CA certified it, with the administrator's role. It completes a real TLS
// handshake (CertificateVerify "signed" with it verifies), and every daemon's gate must refuse
// it (finding 1 of "Trust under attack (1 of 2)", through TLS rather than on the function).
TEST_F(AccessTest, AForgeableKeyThatCompletesTheTlsHandshakeIsRefusedAtEveryGate) {
  // Real primes (from a real key), exponents replaced: n = p q, e = d = 1.
  auto real = PrivateKey::Generate(KeyType::kRsa, 2048);
  ASSERT_THAT(real.status(), IsOk());
  const std::string real_pem = std::string(real->ToUnencryptedPemSecret().Reveal());
  BIO* in = BIO_new_mem_buf(real_pem.data(), static_cast<int>(real_pem.size()));
  EVP_PKEY* parsed = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  ASSERT_NE(parsed, nullptr);
  BIGNUM *n = nullptr, *p = nullptr, *q = nullptr, *iqmp = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(parsed, "n", &n), 1);
  ASSERT_EQ(EVP_PKEY_get_bn_param(parsed, "rsa-factor1", &p), 1);
  ASSERT_EQ(EVP_PKEY_get_bn_param(parsed, "rsa-factor2", &q), 1);
  ASSERT_EQ(EVP_PKEY_get_bn_param(parsed, "rsa-coefficient1", &iqmp), 1);
  EVP_PKEY_free(parsed);
  BIGNUM* one = BN_new();
  BN_one(one);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, "n", n);
  OSSL_PARAM_BLD_push_BN(bld, "e", one);
  OSSL_PARAM_BLD_push_BN(bld, "d", one);
  OSSL_PARAM_BLD_push_BN(bld, "rsa-factor1", p);
  OSSL_PARAM_BLD_push_BN(bld, "rsa-factor2", q);
  OSSL_PARAM_BLD_push_BN(bld, "rsa-exponent1", one);
  OSSL_PARAM_BLD_push_BN(bld, "rsa-exponent2", one);
  OSSL_PARAM_BLD_push_BN(bld, "rsa-coefficient1", iqmp);
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  EVP_PKEY* weak = nullptr;
  ASSERT_EQ(EVP_PKEY_fromdata_init(ctx), 1);
  ASSERT_EQ(EVP_PKEY_fromdata(ctx, &weak, EVP_PKEY_KEYPAIR, params), 1);
  BIO* out = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(out, weak, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(out, &data);
  const std::string weak_pem(data, static_cast<size_t>(length));
  BIO_free(out);
  EVP_PKEY_free(weak);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  std::string n_be(static_cast<size_t>(BN_num_bytes(n)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(n_be.data()));
  for (BIGNUM* b : {n, p, q, iqmp, one}) BN_free(b);

  auto ca_key = PrivateKey::FromPem(Slurp(suite_->P("pki/ca.key")), SecretData(kPass));
  ASSERT_THAT(ca_key.status(), IsOk());
  auto ca = Certificate::FromPem(Slurp(suite_->P("pki/ca.pem")));
  ASSERT_THAT(ca.status(), IsOk());
  CertificateTemplate t;
  t.subject = RoleSubjectAttributes({Role::kAdministrator, Role::kSubscriber});
  t.subject.push_back({"CN", "Deniable Administrator"});
  t.not_before = absl::Now() - absl::Minutes(1);
  t.not_after = absl::Now() + absl::Hours(1);
  t.key_usage = kKuDigitalSignature;
  t.extended_key_usage = {"clientAuth"};
  auto cert = ::semper::testing::CertificateForSpkiDer(::semper::testing::RsaSpki(n_be, 1), t, *ca, *ca_key);
  ASSERT_THAT(cert.status(), IsOk());
  int refused_by_gate = 0;
  for (const std::string daemon : {"ca", "tsa", "notary", "arbiter", "liability"}) {
    auto channel = suite_->ChannelWith(daemon, cert->Pem() + ca->Pem(), weak_pem);
    grpc::GenericStub stub(channel);
    // An administrator's call where the daemon has one, else a subscriber's; at the TSA, Stamp,
    // which is for anyone: a certificate presented for a forgeable key is refused even there.
    const std::string method = daemon == "ca"        ? "/semper.v1.CertificationAuthority/ListSubscribers"
                               : daemon == "notary"  ? "/semper.v1.Notary/AuditLog"
                               : daemon == "tsa"     ? "/semper.v1.TimeStamp/Stamp"
                               : daemon == "arbiter" ? "/semper.v1.Arbiter/DecideCase"
                                                     : "/semper.v1.Liability/GetGuarantee";
    grpc::Status st = ::semper::testing::CallUnary(stub, method, "", std::chrono::milliseconds(10000));
    // The handshake completed (not UNAVAILABLE) and the gate said why it refused.
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << daemon << ": " << st.error_message();
    EXPECT_THAT(st.error_message(), ::testing::HasSubstr("RSA public exponent")) << daemon;
    if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED) ++refused_by_gate;
  }
  EXPECT_EQ(refused_by_gate, 5);
}

TEST_F(AccessTest, KeyFilesAreNeverReadableByOthers) {
  int keys = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(suite_->P("pki"))) {
    const std::string path = entry.path().string();
    if (!entry.is_regular_file() || (!path.ends_with(".key") && path.find("link") == std::string::npos)) continue;
    ++keys;
    auto perms = entry.status().permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
              std::filesystem::perms::none)
        << path << " is readable by others";
  }
  EXPECT_GE(keys, 12);
  // An unencrypted TLS key that others can read: semper-tsa will not start with it.
  auto key = PrivateKey::FromPem(Slurp(suite_->P("pki/services/tsa-tls.key")), SecretData(kPass));
  ASSERT_TRUE(key.ok());
  dir_.Write("open.key", std::string(key->ToUnencryptedPemSecret().Reveal()));
  std::filesystem::permissions(dir_.path() + "/open.key", std::filesystem::perms::owner_read |
                                                              std::filesystem::perms::owner_write |
                                                              std::filesystem::perms::others_read);
  auto r = ::semper::testing::RunCommand(
      {"env", "SEMPER_TLS_CERT_FILE=" + suite_->P("pki/services/tsa-tls.pem"),
       "SEMPER_TLS_KEY_FILE=" + dir_.path() + "/open.key", "SEMPER_TLS_CLIENT_CA_FILE=" + suite_->P("pki/root.pem"),
       "SEMPER_GRPC_LISTEN=127.0.0.1:0", "SEMPER_HTTP_LISTEN=", "SEMPER_DATABASE_URL=" + conninfo(),
       "SEMPER_TSA_CERT_FILE=" + suite_->P("pki/services/tsa-signing.pem"),
       "SEMPER_TSA_KEY_FILE=" + suite_->P("pki/services/tsa-signing.key"),
       "SEMPER_TSA_KEY_PASSPHRASE_FILE=" + suite_->P("pass"), SEMPER_TSA});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out + r.err, ::testing::HasSubstr("readable by other users"));
}

// Checked with the openssl command line against each daemon's gRPC port: TLS 1.2 or 1.3 only,
// and in TLS 1.2 only forward-secret AEAD suites.
TEST_F(AccessTest, TlsIsOneTwoOrNewerWithStrongSuitesOnly) {
  for (const std::string daemon : {"ca", "tsa", "notary", "arbiter", "liability"}) {
    auto handshake = [&](const std::string& options) {
      auto r = ::semper::testing::RunCommand(
          {"bash", "-c",
           "timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(suite_->port(daemon)) +
               " -servername localhost -alpn h2 -CAfile " + suite_->P("pki/root.pem") + " " + options +
               " </dev/null 2>&1 | grep -a -E '^(New| *Verify return code)'"});
      return r.out;
    };
    EXPECT_THAT(handshake("-tls1"), ::testing::HasSubstr("Cipher is (NONE)")) << daemon;
    EXPECT_THAT(handshake("-tls1_1"), ::testing::HasSubstr("Cipher is (NONE)")) << daemon;
    EXPECT_THAT(handshake("-tls1_2 -cipher AES128-SHA:AES256-SHA:AES128-SHA256:DES-CBC3-SHA:ECDHE-ECDSA-AES128-SHA"),
                ::testing::HasSubstr("Cipher is (NONE)"))
        << daemon;
    std::string v12 = handshake("-tls1_2");
    EXPECT_THAT(
        v12, ::testing::ContainsRegex("Cipher is ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)"))
        << daemon << ": " << v12;
    EXPECT_THAT(v12, ::testing::HasSubstr("Verify return code: 0 (ok)")) << daemon;
    EXPECT_THAT(handshake("-tls1_3"), ::testing::HasSubstr("New, TLSv1.3")) << daemon;
  }
}

}  // namespace
}  // namespace semper
