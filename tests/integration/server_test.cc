// The shared server plumbing over real gRPC on loopback: health, readiness, request ids,
// metrics, error details, mutual TLS with roles, and clean shutdown, in-process and as a daemon
// process stopped by SIGTERM.
#include "common/server/server.h"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common/base/log.h"
#include "common/crypto/oids.h"
#include "common/server/grpc_status.h"
#include "common/server/peer.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "semper/testing/echo.grpc.pb.h"
#include "tests/support/echo_service.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"
#include "tests/support/suite.h"
#include "tests/support/test_pki.h"

namespace semper {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::semper::testing::ChildProcess;
using ::semper::testing::EchoServiceImpl;
using ::semper::testing::IsOk;
using ::semper::testing::LeafSpec;
using ::semper::testing::StatusIs;
using ::semper::testing::TempDir;
using ::semper::testing::TestPki;
using ::testing::HasSubstr;
using ::testing::Not;

std::shared_ptr<spdlog::logger> QuietLogger() {
  return MakeLogger("semper-test", LogFormat::kText, spdlog::level::warn);
}

// The health of the whole server (""), or of one service by its full name; SERVICE_UNKNOWN when
// the server answers NOT_FOUND (a name it does not serve).
HealthCheckResponse::ServingStatus HealthOf(const std::shared_ptr<grpc::Channel>& channel,
                                            const std::string& service = "") {
  auto stub = Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthCheckRequest req;
  req.set_service(service);
  HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return HealthCheckResponse::SERVICE_UNKNOWN;
  return s.ok() ? resp.status() : HealthCheckResponse::UNKNOWN;
}

std::string HttpGet(int port, const std::string& path, int* status = nullptr) {
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get(path.c_str());
  if (status != nullptr) *status = res ? res->status : -1;
  return res ? res->body : "";
}

bool Eventually(const std::function<bool()>& condition, int timeout_ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

class PlaintextServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.name = "semper-test";
    o.access = ::semper::testing::EchoAccessPolicy();
    o.plaintext = true;
    o.readiness_interval = absl::Milliseconds(50);
    o.logger = QuietLogger();
    auto server = Server::Start(
        o, {&echo_}, [this] { return ready_ ? absl::OkStatus() : absl::UnavailableError("database unreachable"); });
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    channel_ =
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()), grpc::InsecureChannelCredentials());
    stub_ = semper::testing::Echo::NewStub(channel_);
  }

  EchoServiceImpl echo_;
  std::atomic<bool> ready_{true};
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<semper::testing::Echo::Stub> stub_;
};

TEST_F(PlaintextServerTest, HealthFollowsReadiness) {
  EXPECT_EQ(HealthOf(channel_), HealthCheckResponse::SERVING);
  int status = 0;
  EXPECT_EQ(HttpGet(server_->http_port(), "/healthz", &status), "ok\n");
  EXPECT_EQ(status, 200);
  HttpGet(server_->http_port(), "/readyz", &status);
  EXPECT_EQ(status, 200);

  // Per service name too, as load balancers and Kubernetes probes ask; a name not served is unknown.
  EXPECT_EQ(HealthOf(channel_, "semper.testing.Echo"), HealthCheckResponse::SERVING);
  EXPECT_EQ(HealthOf(channel_, "semper.v1.Notary"), HealthCheckResponse::SERVICE_UNKNOWN);

  ready_ = false;
  EXPECT_TRUE(Eventually([&] { return HealthOf(channel_) == HealthCheckResponse::NOT_SERVING; }));
  EXPECT_EQ(HealthOf(channel_, "semper.testing.Echo"), HealthCheckResponse::NOT_SERVING);
  EXPECT_THAT(HttpGet(server_->http_port(), "/readyz", &status), HasSubstr("database unreachable"));
  EXPECT_EQ(status, 503);
  // Liveness is not readiness: the process is alive.
  HttpGet(server_->http_port(), "/healthz", &status);
  EXPECT_EQ(status, 200);

  ready_ = true;
  EXPECT_TRUE(Eventually([&] { return HealthOf(channel_) == HealthCheckResponse::SERVING; }));
  EXPECT_EQ(HealthOf(channel_, "semper.testing.Echo"), HealthCheckResponse::SERVING);
  server_->Shutdown();
  EXPECT_NE(HealthOf(channel_, "semper.testing.Echo"), HealthCheckResponse::SERVING);
}

TEST_F(PlaintextServerTest, UndecodableRequestsAndUnknownMethodsGetTheDocumentedAnswers) {
  grpc::GenericStub stub(channel_);
  // A length-delimited field 1 that claims 5 bytes where 2 follow: not a WhoAmIRequest.
  grpc::Status s = ::semper::testing::CallUnary(stub, "/semper.testing.Echo/WhoAmI",
                                                std::string("\x0a\x05"
                                                            "ab",
                                                            4),
                                                std::chrono::seconds(5));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("not a serialized request message of /semper.testing.Echo/WhoAmI"));
  absl::Status back = FromGrpcStatus(s);
  EXPECT_EQ(ReasonOf(back), v1::MALFORMED_INPUT);
  EXPECT_EQ(ErrorInfoOf(back).metadata().at("method"), "/semper.testing.Echo/WhoAmI");
  // A well-formed request still works on the same channel.
  EXPECT_TRUE(::semper::testing::CallUnary(stub, "/semper.testing.Echo/WhoAmI", "", std::chrono::seconds(5)).ok());
  // An unknown method: UNIMPLEMENTED (here, on a plaintext port, gRPC's own answer); so is a
  // method of the suite that this server does not serve, whatever its body.
  s = ::semper::testing::CallUnary(stub, "/semper.testing.Echo/Nope", "", std::chrono::seconds(5));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  for (const std::string& body : {std::string(), std::string("\x0a\x05"
                                                             "ab",
                                                             4)}) {
    s = ::semper::testing::CallUnary(stub, "/semper.v1.Notary/GetTreeHead", body, std::chrono::seconds(5));
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED) << s.error_message();
  }
}

TEST_F(PlaintextServerTest, RequestIdsAreEchoedOrMade) {
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-request-id", "order-42.retry_1");
    semper::testing::WhoAmIResponse resp;
    ASSERT_TRUE(stub_->WhoAmI(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.request_id(), "order-42.retry_1");
    auto it = ctx.GetServerInitialMetadata().find("x-request-id");
    ASSERT_NE(it, ctx.GetServerInitialMetadata().end());
    EXPECT_EQ(std::string(it->second.data(), it->second.size()), "order-42.retry_1");
    EXPECT_FALSE(resp.authenticated());
  }
  for (const char* bad : {"", "has space", "x\"quote"}) {
    grpc::ClientContext ctx;
    if (*bad != '\0') ctx.AddMetadata("x-request-id", bad);
    semper::testing::WhoAmIResponse resp;
    ASSERT_TRUE(stub_->WhoAmI(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.request_id().size(), 32u) << bad;
    auto it = ctx.GetServerInitialMetadata().find("x-request-id");
    ASSERT_NE(it, ctx.GetServerInitialMetadata().end());
    EXPECT_EQ(std::string(it->second.data(), it->second.size()), resp.request_id());
  }
}

TEST_F(PlaintextServerTest, ErrorsCarryReasonsAndInternalDetailStaysInside) {
  grpc::ClientContext c1;
  semper::testing::FailRequest req;
  req.set_code(static_cast<int>(absl::StatusCode::kFailedPrecondition));
  req.set_message("guarantee already settled");
  semper::testing::FailResponse resp;
  grpc::Status s = stub_->Fail(&c1, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "guarantee already settled");
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), v1::WRONG_STATE);

  grpc::ClientContext c2;
  c2.AddMetadata("x-request-id", "trace-me");
  req.set_code(static_cast<int>(absl::StatusCode::kInternal));
  req.set_message("connection to db failed: password=hunter2");
  s = stub_->Fail(&c2, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(s.error_message(), ::testing::Not(HasSubstr("hunter2")));
  EXPECT_THAT(s.error_message(), HasSubstr("trace-me"));
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), v1::INTERNAL_ERROR);
}

TEST_F(PlaintextServerTest, MetricsCountCallsAndErrors) {
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    semper::testing::WhoAmIResponse resp;
    ASSERT_TRUE(stub_->WhoAmI(&ctx, {}, &resp).ok());
  }
  grpc::ClientContext ctx;
  semper::testing::FailRequest req;
  req.set_code(static_cast<int>(absl::StatusCode::kNotFound));
  semper::testing::FailResponse resp;
  stub_->Fail(&ctx, req, &resp);
  std::string metrics = HttpGet(server_->http_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("semper_grpc_requests_total{method=\"/semper.testing.Echo/WhoAmI\",code=\"OK\"} 3\n"));
  EXPECT_THAT(metrics,
              HasSubstr("semper_grpc_errors_total{method=\"/semper.testing.Echo/Fail\",code=\"NOT_FOUND\"} 1\n"));
  EXPECT_THAT(metrics,
              HasSubstr("semper_grpc_request_duration_seconds_count{method=\"/semper.testing.Echo/WhoAmI\"} 3\n"));
  EXPECT_THAT(metrics, HasSubstr("semper_ready 1\n"));
  EXPECT_THAT(metrics, HasSubstr("# TYPE semper_grpc_request_duration_seconds histogram"));
}

TEST_F(PlaintextServerTest, ShutdownFinishesInFlightCallsAndRefusesNewOnes) {
  grpc::Status sleep_status;
  semper::testing::SleepResponse sleep_resp;
  std::thread caller([&] {
    grpc::ClientContext ctx;
    semper::testing::SleepRequest req;
    req.set_milliseconds(600);
    sleep_status = stub_->Sleep(&ctx, req, &sleep_resp);
  });
  ASSERT_TRUE(Eventually([&] { return echo_.sleeping.load() == 1; }));
  server_->Shutdown();
  caller.join();
  EXPECT_TRUE(sleep_status.ok()) << sleep_status.error_message();
  EXPECT_EQ(sleep_resp.slept_milliseconds(), 600);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  semper::testing::WhoAmIResponse resp;
  EXPECT_FALSE(stub_->WhoAmI(&ctx, {}, &resp).ok());
}

// The Echo service on mutual TLS with server.pem, server.key (its passphrase in server.pass) and
// clients-ca.pem of `dir`.
ServerOptions EchoTlsOptions(const TempDir& dir) {
  ServerOptions o;
  o.name = "semper-test";
  o.access = ::semper::testing::EchoAccessPolicy();
  o.http_listen = "";
  o.tls.cert_file = dir.path() + "/server.pem";
  o.tls.key_file = dir.path() + "/server.key";
  o.tls.key_passphrase_file = dir.path() + "/server.pass";
  o.tls.client_ca_file = dir.path() + "/clients-ca.pem";
  o.logger = QuietLogger();
  return o;
}

class MutualTlsServerTest : public ::testing::Test {
 protected:
  MutualTlsServerTest() : pki_(KeyType::kEcP256, "Mtls") {}

  void SetUp() override {
    LeafSpec server_spec;
    server_spec.common_name = "semper-test.local";
    server_spec.key_usage = kKuDigitalSignature;
    server_spec.extended_key_usage = {"serverAuth"};
    server_spec.dns_names = {"semper-test.local"};
    auto server_id = pki_.Issue(server_spec);
    dir_.Write("server.pem", server_id.certificate.Pem() + pki_.CaPem());
    // The server key rests encrypted; the passphrase comes from a file.
    dir_.Write("server.key", *server_id.key.ToEncryptedPem(SecretData("server key passphrase")));
    dir_.Write("server.pass", "server key passphrase\n");
    dir_.Write("clients-ca.pem", pki_.RootPem());

    ServerOptions o = EchoTlsOptions(dir_);
    auto server = Server::Start(o, {&echo_});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
  }

  std::unique_ptr<semper::testing::Echo::Stub> Client(const SignerIdentity* id, const TestPki& issuer) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pki_.RootPem();
    if (id != nullptr) {
      ssl.pem_private_key = std::string(id->key.ToUnencryptedPemSecret().Reveal());
      ssl.pem_cert_chain = id->certificate.Pem() + issuer.CaPem();
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("semper-test.local");
    return semper::testing::Echo::NewStub(grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                                                    grpc::SslCredentials(ssl), args));
  }

  TestPki pki_;
  TempDir dir_;
  EchoServiceImpl echo_;
  std::unique_ptr<Server> server_;
};

SignerIdentity ClientWithRoles(const TestPki& pki, const std::string& cn, const std::vector<Role>& roles) {
  LeafSpec spec;
  spec.common_name = cn;
  spec.key_usage = kKuDigitalSignature;
  spec.extended_key_usage = {"clientAuth"};
  spec.extra_subject = RoleSubjectAttributes(roles);
  return pki.Issue(spec);
}

TEST_F(MutualTlsServerTest, RolesComeFromTheClientCertificate) {
  auto admin = ClientWithRoles(pki_, "Alice Admin", {Role::kAdministrator, Role::kRegistrationOfficer});
  auto stub = Client(&admin, pki_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  semper::testing::WhoAmIResponse resp;
  grpc::Status s = stub->WhoAmI(&ctx, {}, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.authenticated());
  EXPECT_EQ(resp.subject(),
            "CN=Alice Admin,OU=semper-role:registration-officer,OU=semper-role:administrator,O=Example,C=DE");
  EXPECT_THAT(resp.roles(), ::testing::UnorderedElementsAre("administrator", "registration-officer"));

  auto plain = ClientWithRoles(pki_, "Bob Buyer", {});
  auto stub2 = Client(&plain, pki_);
  grpc::ClientContext ctx2;
  ctx2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(stub2->WhoAmI(&ctx2, {}, &resp).ok());
  EXPECT_TRUE(resp.roles().empty());
}

TEST_F(MutualTlsServerTest, ClientsWithoutTrustedCertificateAreRefused) {
  auto no_cert = Client(nullptr, pki_);
  grpc::ClientContext c1;
  c1.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  semper::testing::WhoAmIResponse resp;
  EXPECT_EQ(no_cert->WhoAmI(&c1, {}, &resp).error_code(), grpc::StatusCode::UNAVAILABLE);

  TestPki other(KeyType::kEcP256, "Rogue");
  auto rogue = ClientWithRoles(other, "Mallory", {Role::kAdministrator});
  auto stub = Client(&rogue, other);
  grpc::ClientContext c2;
  c2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(stub->WhoAmI(&c2, {}, &resp).error_code(), grpc::StatusCode::UNAVAILABLE);
}

// The server's certificate replaced while it serves (issue 23): by changing the files (the
// poller notices), and at SIGHUP (ReloadTls). Under load from clients that each open a new
// connection per call, with a long call in flight: not one call fails, the long call completes,
// new handshakes get the new certificate; a replacement that cannot work (a key that is not the
// certificate's, an expired certificate) changes nothing; /metrics follows the certificate served.
class TlsRotationTest : public ::testing::Test {
 protected:
  TlsRotationTest() : pki_(KeyType::kEcP256, "Rotation") {}

  SignerIdentity ServerIdentity(absl::Time not_after = absl::Now() + absl::Hours(24),
                                absl::Time not_before = absl::Now() - absl::Hours(48)) {
    LeafSpec spec;
    spec.common_name = "semper-test.local";
    spec.key_usage = kKuDigitalSignature;
    spec.extended_key_usage = {"serverAuth"};
    spec.dns_names = {"semper-test.local"};
    spec.not_before = not_before;
    spec.not_after = not_after;
    return pki_.Issue(spec);
  }
  // Replaces the certificate file, then the key file, each by rename (as an operator's tool or
  // cert-manager does): between the two, the files do not belong together.
  void Install(const SignerIdentity& cert, const SignerIdentity& key) {
    dir_.Write("server.pem.tmp", cert.certificate.Pem() + pki_.CaPem());
    std::filesystem::rename(dir_.path() + "/server.pem.tmp", dir_.path() + "/server.pem");
    dir_.Write("server.key.tmp", *key.key.ToEncryptedPem(SecretData("server key passphrase")));
    std::filesystem::rename(dir_.path() + "/server.key.tmp", dir_.path() + "/server.key");
  }
  void Install(const SignerIdentity& id) { Install(id, id); }

  void Start(const SignerIdentity& first) {
    Install(first);
    dir_.Write("server.pass", "server key passphrase\n");
    dir_.Write("clients-ca.pem", pki_.RootPem());
    ServerOptions o = EchoTlsOptions(dir_);
    o.readiness_interval = absl::Milliseconds(100);
    auto server = Server::Start(o, {&echo_});
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    client_ = ClientWithRoles(pki_, "Rotation Client", {});
  }

  // A stub on a connection of its own (a new handshake).
  std::unique_ptr<semper::testing::Echo::Stub> FreshClient() {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pki_.RootPem();
    ssl.pem_private_key = std::string(client_->key.ToUnencryptedPemSecret().Reveal());
    ssl.pem_cert_chain = client_->certificate.Pem() + pki_.CaPem();
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("semper-test.local");
    args.SetInt("semper.test.connection", connections_++);  // no subchannel shared with another
    return semper::testing::Echo::NewStub(grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                                                    grpc::SslCredentials(ssl), args));
  }
  // One call on a new connection: the serial of the certificate the server presented, or "" after
  // a failure (counted).
  std::string Call() {
    auto stub = FreshClient();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    semper::testing::WhoAmIRequest req;
    semper::testing::WhoAmIResponse resp;
    grpc::Status st = stub->WhoAmI(&ctx, req, &resp);
    if (!st.ok()) {
      failures_ += 1;
      absl::MutexLock lock(&mu_);
      last_failure_ = st.error_message();
      return "";
    }
    auto pem = ctx.auth_context()->FindPropertyValues("x509_pem_cert");
    if (pem.empty()) return "?";
    auto cert = Certificate::FromPem(std::string(pem.front().data(), pem.front().size()));
    return cert.ok() ? cert->SerialHex() : "?";
  }
  bool Serves(const SignerIdentity& id) {
    return Eventually([&] { return Call() == id.certificate.SerialHex(); }, 10000);
  }

  TestPki pki_;
  TempDir dir_;
  EchoServiceImpl echo_;
  std::unique_ptr<Server> server_;
  std::optional<SignerIdentity> client_;
  std::atomic<int> connections_{0};
  std::atomic<int> failures_{0};
  absl::Mutex mu_;
  std::string last_failure_ ABSL_GUARDED_BY(mu_);
};

TEST_F(TlsRotationTest, ANewCertificateIsServedWithoutAFailedCall) {
  const SignerIdentity a = ServerIdentity(), b = ServerIdentity();
  ASSERT_NO_FATAL_FAILURE(Start(a));
  ASSERT_EQ(Call(), a.certificate.SerialHex());

  // Load: three clients, a new connection for every call; and a long call on one connection.
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  std::vector<std::thread> load;
  for (int i = 0; i < 3; ++i) {
    load.emplace_back([&] {
      while (!stop) {
        Call();
        calls += 1;
      }
    });
  }
  grpc::Status long_call;
  std::thread long_caller([&] {
    auto stub = FreshClient();
    grpc::ClientContext ctx;
    semper::testing::SleepRequest req;
    req.set_milliseconds(6000);
    semper::testing::SleepResponse resp;
    long_call = stub->Sleep(&ctx, req, &resp);
  });

  // The files change: the poller notices.
  Install(b);
  EXPECT_TRUE(Serves(b));
  // Back and forth quickly, by the files and by explicit reloads (SIGHUP), the files caught
  // between the certificate and its key now and then: a reload then refuses and keeps what it has.
  for (int i = 0; i < 16; ++i) {
    Install(i % 2 == 0 ? a : b);
    server_->ReloadTls().IgnoreError();
    std::this_thread::sleep_for(std::chrono::milliseconds(130));
  }
  Install(b);
  EXPECT_THAT(server_->ReloadTls(), IsOk());
  EXPECT_TRUE(Serves(b));

  // Replacements that cannot work change nothing: a key that is not the certificate's, an
  // expired certificate, a certificate file with no certificate.
  const SignerIdentity c = ServerIdentity(), expired = ServerIdentity(absl::Now() - absl::Hours(1));
  Install(c, b);  // c's certificate, b's key
  EXPECT_THAT(server_->ReloadTls(), StatusIs(absl::StatusCode::kFailedPrecondition));
  Install(expired);
  EXPECT_THAT(server_->ReloadTls(), StatusIs(absl::StatusCode::kFailedPrecondition));
  dir_.Write("server.pem", "not a certificate\n");
  EXPECT_FALSE(server_->ReloadTls().ok());
  const SignerIdentity later = ServerIdentity(absl::Now() + absl::Hours(48), absl::Now() + absl::Hours(24));
  Install(later);  // not valid for a day: clients would refuse it
  EXPECT_THAT(server_->ReloadTls(), StatusIs(absl::StatusCode::kFailedPrecondition));
  // A leaf in a block gRPC does not read (X509 CERTIFICATE), then a block it reads but cannot
  // parse: what is checked is what gRPC would be given.
  {
    std::string leaf = b.certificate.Pem();
    leaf = std::regex_replace(leaf, std::regex("(BEGIN|END) CERTIFICATE"), "$1 X509 CERTIFICATE");
    dir_.Write("odd.pem", leaf + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    std::filesystem::rename(dir_.path() + "/odd.pem", dir_.path() + "/server.pem");
    EXPECT_THAT(server_->ReloadTls(), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  // A FIFO in its place is refused at once (reading it would hold the poller, and shutdown).
  std::filesystem::remove(dir_.path() + "/server.pem");
  ASSERT_EQ(::mkfifo((dir_.path() + "/server.pem.fifo").c_str(), 0600), 0);
  std::filesystem::rename(dir_.path() + "/server.pem.fifo", dir_.path() + "/server.pem");
  const absl::Time before_fifo = absl::Now();
  EXPECT_FALSE(server_->ReloadTls().ok());
  EXPECT_LT(absl::Now() - before_fifo, absl::Seconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Call(), b.certificate.SerialHex());
  // A certificate file that also holds a key (a combined PEM file, here another's, encrypted):
  // the key comes from tls.key_file all the same.
  std::filesystem::remove(dir_.path() + "/server.pem");
  Install(c);
  dir_.Write("server.pem",
             c.certificate.Pem() + pki_.CaPem() + *a.key.ToEncryptedPem(SecretData("another passphrase")));
  EXPECT_THAT(server_->ReloadTls(), IsOk());
  EXPECT_TRUE(Serves(c));

  stop = true;
  for (auto& t : load) t.join();
  long_caller.join();
  EXPECT_TRUE(long_call.ok()) << long_call.error_message();
  {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(failures_.load(), 0) << "of " << calls.load() << " calls; last: " << last_failure_;
  }
  EXPECT_GT(calls.load(), 30);
  // /metrics shows the certificate served, not the ones it replaced.
  const std::string metrics = server_->metrics().Render();
  EXPECT_THAT(metrics, HasSubstr("serial=\"" + c.certificate.SerialHex() + "\""));
  EXPECT_THAT(metrics, Not(HasSubstr("serial=\"" + b.certificate.SerialHex() + "\"")));
  EXPECT_THAT(metrics, Not(HasSubstr("serial=\"" + a.certificate.SerialHex() + "\"")));
}

TEST(RequireAnyRoleTest, DeniesClearly) {
  Peer anonymous;
  EXPECT_EQ(RequireAnyRole(anonymous, {Role::kSubscriber}).code(), absl::StatusCode::kUnauthenticated);
  TestPki pki;
  Peer subscriber;
  subscriber.certificate = ClientWithRoles(pki, "Sub", {Role::kSubscriber}).certificate;
  subscriber.roles = {Role::kSubscriber};
  EXPECT_TRUE(RequireAnyRole(subscriber, {Role::kAdministrator, Role::kSubscriber}).ok());
  absl::Status denied = RequireAnyRole(subscriber, {Role::kAdministrator, Role::kRegistrationOfficer});
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(denied.message()), HasSubstr("administrator or registration-officer"));
}

TEST(ServerConfigTest, RefusesMissingTlsFilesUnlessPlaintext) {
  ServerOptions o;
  o.logger = QuietLogger();
  o.http_listen = "";
  auto s = Server::Start(o, {});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("tls.cert_file"));
}

class DaemonProcessTest : public ::testing::Test {
 protected:
  ChildProcess StartDaemon(const std::vector<std::string>& env) {
    std::vector<std::string> argv = {"env"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(SEMPER_ECHO_DAEMON);
    return ChildProcess(argv, log_);
  }
  std::string Log() const { return semper::testing::Slurp(log_); }
  TempDir dir_;
  std::string log_ = dir_.path() + "/daemon.log";
};

TEST_F(DaemonProcessTest, SigtermLetsInFlightCallsFinishThenExitsZero) {
  int grpc_port = semper::testing::FreePort();
  int http_port = semper::testing::FreePort();
  ChildProcess daemon = StartDaemon({"SEMPER_GRPC_LISTEN=127.0.0.1:" + std::to_string(grpc_port),
                                     "SEMPER_HTTP_LISTEN=127.0.0.1:" + std::to_string(http_port),
                                     "SEMPER_GRPC_PLAINTEXT=true", "SEMPER_LOG_FORMAT=json"});
  ASSERT_TRUE(Eventually(
      [&] {
        int status = 0;
        HttpGet(http_port, "/readyz", &status);
        return status == 200;
      },
      10000))
      << Log();
  auto stub = semper::testing::Echo::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_port), grpc::InsecureChannelCredentials()));
  grpc::Status sleep_status;
  std::thread caller([&] {
    grpc::ClientContext ctx;
    semper::testing::SleepRequest req;
    req.set_milliseconds(800);
    semper::testing::SleepResponse resp;
    sleep_status = stub->Sleep(&ctx, req, &resp);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(daemon.Signal(SIGTERM));
  caller.join();
  EXPECT_TRUE(sleep_status.ok()) << sleep_status.error_message();
  EXPECT_EQ(daemon.Wait(10000), 0) << Log();
  std::string log = Log();
  EXPECT_THAT(log, HasSubstr(R"("event":"signal","signal":"SIGTERM")"));
  EXPECT_THAT(log, HasSubstr(R"("event":"stopped")"));
  EXPECT_THAT(log, HasSubstr(R"("event":"insecure")"));
  // Every line is one JSON object.
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.front(), '{') << line;
    EXPECT_EQ(line.back(), '}') << line;
  }
}

// A daemon shows how long each certificate it uses has left (/metrics) and warns in its log from
// 30 days before; semperctl warns about the certificates it presents and trusts the same way.
TEST_F(DaemonProcessTest, CertificatesInUseShowTheirExpiryAndAreWarnedAboutAMonthAhead) {
  TestPki pki(KeyType::kEcP256, "Expiry");
  auto issue = [&](const std::string& cn, const std::string& eku, absl::Duration left) {
    LeafSpec spec;
    spec.common_name = cn;
    spec.key_usage = kKuDigitalSignature;
    spec.extended_key_usage = {eku};
    spec.dns_names = {"semper-test.local"};
    spec.not_before = absl::Now() - absl::Hours(48);
    spec.not_after = absl::Now() + left;
    return pki.Issue(spec);
  };
  dir_.Write("pass", "a passphrase\n");
  dir_.Write("roots.pem", pki.RootPem());
  auto write_identity = [&](const std::string& name, const SignerIdentity& id) {
    dir_.Write(name + ".pem", id.certificate.Pem() + pki.CaPem());
    dir_.Write(name + ".key", *id.key.ToEncryptedPem(SecretData("a passphrase")));
  };
  write_identity("soon", issue("semper-test.local", "serverAuth", absl::Hours(24 * 10)));
  write_identity("expired", issue("semper-test.local", "serverAuth", -absl::Hours(1)));
  write_identity("fine", issue("semper-test.local", "serverAuth", absl::Hours(24 * 90)));

  auto run = [&](const std::string& name, double* seconds_left) {
    const int grpc_port = semper::testing::FreePort(), http_port = semper::testing::FreePort();
    std::ofstream(log_, std::ios::trunc).close();
    ChildProcess daemon =
        StartDaemon({"SEMPER_GRPC_LISTEN=127.0.0.1:" + std::to_string(grpc_port),
                     "SEMPER_HTTP_LISTEN=127.0.0.1:" + std::to_string(http_port),
                     "SEMPER_TLS_CERT_FILE=" + dir_.path() + "/" + name + ".pem",
                     "SEMPER_TLS_KEY_FILE=" + dir_.path() + "/" + name + ".key",
                     "SEMPER_TLS_KEY_PASSPHRASE_FILE=" + dir_.path() + "/pass",
                     "SEMPER_TLS_CLIENT_CA_FILE=" + dir_.path() + "/roots.pem", "SEMPER_LOG_FORMAT=json"});
    std::string metrics;
    EXPECT_TRUE(Eventually(
        [&] {
          int status = 0;
          metrics = HttpGet(http_port, "/metrics", &status);
          return status == 200 && metrics.find("semper_certificate_expiry_seconds") != std::string::npos;
        },
        10000))
        << Log();
    // The leaf, its issuing CA (both from tls.cert_file) and the root clients must chain to.
    std::smatch m;
    const std::regex leaf(
        R"re(semper_certificate_expiry_seconds\{setting="tls\.cert_file",subject="CN=semper-test\.local[^"]*",serial="[0-9A-F]+"\} (-?[0-9.e+]+)\n)re");
    EXPECT_TRUE(std::regex_search(metrics, m, leaf)) << metrics;
    if (!m.empty()) *seconds_left = std::stod(m[1]);
    EXPECT_THAT(metrics, ::testing::ContainsRegex(
                             R"re(semper_certificate_expiry_seconds\{setting="tls\.cert_file",subject="CN=Expiry)re"));
    EXPECT_THAT(metrics,
                ::testing::ContainsRegex(
                    R"re(semper_certificate_expiry_seconds\{setting="tls\.client_ca_file",subject="CN=Expiry)re"));
    daemon.Signal(SIGTERM);
    EXPECT_EQ(daemon.Wait(10000), 0) << Log();
    return Log();
  };
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };

  double left = 0;
  std::string log = run("soon", &left);
  EXPECT_GT(left, 10 * 86400 - 120);
  EXPECT_LE(left, 10 * 86400);
  // One warning, for the leaf alone (the CA and the root last years), naming what to do.
  EXPECT_EQ(count(log, R"("event":"certificate_expiring")"), 1u) << log;
  EXPECT_THAT(log, HasSubstr(R"("setting":"tls.cert_file","subject":"CN=semper-test.local)"));
  EXPECT_THAT(log, HasSubstr(R"("days_left":9)"));
  EXPECT_EQ(count(log, "certificate_expired"), 0u);

  log = run("expired", &left);
  EXPECT_LT(left, 0);
  EXPECT_EQ(count(log, R"("event":"certificate_expired")"), 1u) << log;

  log = run("fine", &left);
  EXPECT_GT(left, 89 * 86400);
  EXPECT_EQ(count(log, "certificate_expir"), 0u) << log;

  // semperctl, presenting a certificate that expires in 10 days, then one that has expired: a
  // warning on stderr before it connects (here to nothing: the command itself fails after).
  write_identity("client-soon", issue("Alice Admin", "clientAuth", absl::Hours(24 * 10)));
  write_identity("client-expired", issue("Alice Admin", "clientAuth", -absl::Hours(1)));
  write_identity("client-fine", issue("Alice Admin", "clientAuth", absl::Hours(24 * 90)));
  auto ctl = [&](const std::string& name) {
    return semper::testing::RunCommand({SEMPERCTL, "--server", "127.0.0.1:1", "--ca-file", dir_.path() + "/roots.pem",
                                        "--cert", dir_.path() + "/" + name + ".pem", "--key",
                                        dir_.path() + "/" + name + ".key", "--key-passphrase-file",
                                        dir_.path() + "/pass", "subscriber", "list"});
  };
  auto soon = ctl("client-soon");
  EXPECT_THAT(soon.err, ::testing::ContainsRegex("warning: your certificate .*client-soon.pem \\(CN=Alice Admin.*\\) "
                                                 "expires in 9 days, on 20[0-9-]+ [0-9:]+ UTC: renew it before then"));
  EXPECT_EQ(count(soon.err, "warning:"), 1u) << soon.err;
  auto expired = ctl("client-expired");
  EXPECT_THAT(expired.err, ::testing::ContainsRegex("warning: your certificate .*client-expired.pem \\(CN=Alice "
                                                    "Admin.*\\) expired on .*: the daemons refuse it"));
  EXPECT_EQ(count(ctl("client-fine").err, "warning:"), 0u);
}

// A daemon process rereads its TLS files at SIGHUP (and when they change): the log says what it
// serves now, /metrics follows, and a SIGHUP with files that do not belong together changes
// nothing.
TEST_F(DaemonProcessTest, SighupReloadsTheTlsCertificate) {
  TestPki pki(KeyType::kEcP256, "Sighup");
  auto issue = [&] {
    LeafSpec spec;
    spec.common_name = "semper-test.local";
    spec.key_usage = kKuDigitalSignature;
    spec.extended_key_usage = {"serverAuth"};
    spec.dns_names = {"semper-test.local"};
    spec.not_after = absl::Now() + absl::Hours(24 * 90);
    return pki.Issue(spec);
  };
  const SignerIdentity first = issue(), second = issue();
  dir_.Write("pass", "a passphrase\n");
  dir_.Write("roots.pem", pki.RootPem());
  auto install = [&](const SignerIdentity& cert, const SignerIdentity& key) {
    dir_.Write("tls.pem", cert.certificate.Pem() + pki.CaPem());
    dir_.Write("tls.key", *key.key.ToEncryptedPem(SecretData("a passphrase")));
  };
  install(first, first);
  const int grpc_port = semper::testing::FreePort(), http_port = semper::testing::FreePort();
  ChildProcess daemon = StartDaemon(
      {"SEMPER_GRPC_LISTEN=127.0.0.1:" + std::to_string(grpc_port),
       "SEMPER_HTTP_LISTEN=127.0.0.1:" + std::to_string(http_port), "SEMPER_TLS_CERT_FILE=" + dir_.path() + "/tls.pem",
       "SEMPER_TLS_KEY_FILE=" + dir_.path() + "/tls.key", "SEMPER_TLS_KEY_PASSPHRASE_FILE=" + dir_.path() + "/pass",
       "SEMPER_TLS_CLIENT_CA_FILE=" + dir_.path() + "/roots.pem", "SEMPER_LOG_FORMAT=json"});
  auto serial_shown = [&](const SignerIdentity& id) {
    return Eventually(
        [&] {
          return HttpGet(http_port, "/metrics").find("serial=\"" + id.certificate.SerialHex() + "\"") !=
                 std::string::npos;
        },
        10000);
  };
  ASSERT_TRUE(serial_shown(first)) << Log();
  install(second, first);  // the certificate changed, the key not yet
  ASSERT_TRUE(daemon.Signal(SIGHUP));
  EXPECT_TRUE(Eventually([&] { return Log().find("tls_reload_failed") != std::string::npos; }, 10000)) << Log();
  install(second, second);
  ASSERT_TRUE(daemon.Signal(SIGHUP));
  EXPECT_TRUE(Eventually([&] { return Log().find(R"("event":"tls_reloaded")") != std::string::npos; }, 10000)) << Log();
  EXPECT_TRUE(serial_shown(second)) << Log();
  EXPECT_THAT(HttpGet(http_port, "/metrics"), Not(HasSubstr("serial=\"" + first.certificate.SerialHex() + "\"")));
  EXPECT_THAT(Log(), HasSubstr(R"("event":"signal","signal":"SIGHUP")"));
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(10000), 0) << Log();
}

TEST_F(DaemonProcessTest, HelpListsConfiguration) {
  auto r = semper::testing::RunCommand({SEMPER_ECHO_DAEMON, "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("tls.client_ca_file (SEMPER_TLS_CLIENT_CA_FILE)"));
}

TEST_F(DaemonProcessTest, BadConfigurationExitsWithAMessageNamingTheKey) {
  ChildProcess daemon = StartDaemon({"SEMPER_GRPC_LISTEN=nonsense", "SEMPER_GRPC_PLAINTEXT=true"});
  EXPECT_EQ(daemon.Wait(10000), 2);
  EXPECT_THAT(Log(), HasSubstr("grpc.listen"));

  dir_.Write("bad.toml", "[grpc]\nlisen = \"127.0.0.1:1\"\n");
  ChildProcess daemon2({SEMPER_ECHO_DAEMON, "--config", dir_.path() + "/bad.toml"}, log_);
  EXPECT_EQ(daemon2.Wait(10000), 2);
  EXPECT_THAT(Log(), HasSubstr("unknown key 'grpc.lisen'"));
}

}  // namespace
}  // namespace semper
