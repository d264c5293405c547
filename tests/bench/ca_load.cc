// End-to-end load on semper-ca as a process, against a private PostgreSQL (fsync on): enrolment
// (certificates per second, committed before the reply), OCSP over HTTP (responses per second),
// and publishing a CRL with 100,000 revoked entries. The same OCSP load also goes to OpenSSL's
// reference responder (`openssl ocsp -index ... -port`) for comparison. Run by hand:
//   build/tests/bench/ca_load [--clients 8] [--seconds 10] [--revoked 100000]
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <httplib.h>
#include <openssl/ocsp.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/crypto/certificate.h"
#include "common/crypto/csr.h"
#include "common/crypto/ossl.h"
#include "semper/v1/ca.grpc.pb.h"
#include "tests/bench/bench_http.h"
#include "tests/support/postgres.h"
#include "tests/support/subprocess.h"

namespace semper {
namespace {

using namespace std::chrono;
using semper::testing::Slurp;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "ca_load: %s\n", what.c_str());
  std::exit(1);
}

double Seconds(steady_clock::time_point since) { return duration<double>(steady_clock::now() - since).count(); }

// Drives POST /ocsp on host:port with `clients` keep-alive connections for `seconds`.
double OcspRate(int port, const std::string& path, const std::string& request, int clients, double seconds) {
  std::atomic<long> ok{0}, bad{0};
  auto start = steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&] {
      bench::HttpClient client("127.0.0.1", port);
      while (Seconds(start) < seconds) {
        auto res = client.Post(path.c_str(), request, "application/ocsp-request");
        if (res && res->status == 200 && res->body.size() > 100)
          ++ok;
        else
          ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = Seconds(start);
  if (bad > 0) std::printf("    (%ld failed requests)\n", bad.load());
  return ok / elapsed;
}

}  // namespace
}  // namespace semper

int main(int argc, char** argv) {
  // Load from one client: the per-client limits of the daemons started here are off.
  setenv("SEMPER_LIMITS_PER_SECOND", "0", 0);
  using namespace semper;
  using namespace std::chrono;
  int clients = 8;
  double seconds = 10;
  int revoked = 100000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--clients") clients = std::atoi(argv[i + 1]);
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    if (a == "--revoked") revoked = std::atoi(argv[i + 1]);
  }
  signal(SIGPIPE, SIG_IGN);
  auto pg = semper::testing::TestPostgres::Start();
  if (!pg.ok()) Fail(std::string(pg.status().message()));
  auto db = (*pg)->CreateDatabase();
  semper::testing::TempDir dir;
  std::string P = dir.path();
  dir.Write("pass", "load test passphrase");
  auto init = semper::testing::RunCommand({SEMPER_CA, "init", "--dir", P + "/pki", "--passphrase-file", P + "/pass"});
  if (init.exit_code != 0) Fail(init.Describe());
  int port = semper::testing::FreePort(), http_port = semper::testing::FreePort();
  semper::testing::ChildProcess daemon(
      std::vector<std::string>{
          "env", "SEMPER_DATABASE_URL=" + (*pg)->ConnInfo(*db), "SEMPER_DATABASE_POOL_SIZE=16",
          "SEMPER_GRPC_LISTEN=127.0.0.1:" + std::to_string(port),
          "SEMPER_HTTP_LISTEN=127.0.0.1:" + std::to_string(http_port), "SEMPER_LOG_LEVEL=warn",
          "SEMPER_TLS_CERT_FILE=" + P + "/pki/services/ca-tls.pem",
          "SEMPER_TLS_KEY_FILE=" + P + "/pki/services/ca-tls.key", "SEMPER_TLS_KEY_PASSPHRASE_FILE=" + P + "/pass",
          "SEMPER_TLS_CLIENT_CA_FILE=" + P + "/pki/root.pem", "SEMPER_TLS_REQUIRE_CLIENT_CERT=false",
          "SEMPER_CA_DIR=" + P + "/pki", "SEMPER_CA_KEY_PASSPHRASE_FILE=" + P + "/pass", SEMPER_CA, "serve"},
      P + "/ca.log");
  auto channel_for = [&](bool admin) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Slurp(P + "/pki/root.pem");
    if (admin) {
      auto key = PrivateKey::FromPem(Slurp(P + "/pki/admin/admin.key"), SecretData("load test passphrase"));
      ssl.pem_private_key = std::string(key->ToUnencryptedPemSecret().Reveal());
      ssl.pem_cert_chain = Slurp(P + "/pki/admin/admin.pem");
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt("grpc.use_local_subchannel_pool", 1);  // a connection per client thread
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(ssl), args);
  };
  auto admin = v1::CertificationAuthority::NewStub(channel_for(true));
  if (!channel_for(false)->WaitForConnected(system_clock::now() + std::chrono::seconds(30))) Fail(Slurp(P + "/ca.log"));

  // Enough enrolment codes and certification requests for the enrolment phase.
  const int kCodes = std::max(200, static_cast<int>(seconds * 1500));
  std::printf("preparing %d registrations and %d certification requests...\n", kCodes, 2 * kCodes);
  std::vector<v1::EnrollRequest> requests(kCodes);
  {
    std::vector<std::thread> prep;
    std::atomic<int> next{0};
    for (int t = 0; t < 4; ++t) {
      prep.emplace_back([&] {
        auto stub = v1::CertificationAuthority::NewStub(channel_for(true));
        for (int i; (i = next++) < kCodes;) {
          v1::RegisterSubscriberRequest reg;
          auto* s = reg.mutable_subscriber();
          s->set_name("Load " + std::to_string(i));
          s->set_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
          s->set_country("DE");
          s->set_applicable_law("DE");
          s->set_email("load@example.de");
          v1::RegisterSubscriberResponse resp;
          grpc::ClientContext ctx;
          if (!stub->RegisterSubscriber(&ctx, reg, &resp).ok()) Fail("registration failed");
          requests[i].set_enrolment_code(resp.enrolment_code());
          requests[i].set_authentication_csr(
              CertificationRequest::Create(*PrivateKey::Generate(KeyType::kEcP256), {})->Der());
          requests[i].set_signature_csr(
              CertificationRequest::Create(*PrivateKey::Generate(KeyType::kEcP256), {})->Der());
        }
      });
    }
    for (auto& t : prep) t.join();
  }

  std::printf("enrolment: %d clients for up to %.0f s (2 certificates per enrolment, committed)\n", clients, seconds);
  std::fflush(stdout);
  std::atomic<int> next{0};
  std::atomic<long> enrolled{0}, failed{0};
  std::string sample_cert;
  std::mutex mu;
  auto start = steady_clock::now();
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
      threads.emplace_back([&] {
        auto stub = v1::CertificationAuthority::NewStub(channel_for(false));
        for (int i; Seconds(start) < seconds && (i = next++) < kCodes;) {
          v1::EnrollResponse resp;
          grpc::ClientContext ctx;
          if (stub->Enroll(&ctx, requests[i], &resp).ok()) {
            ++enrolled;
            std::lock_guard<std::mutex> lock(mu);
            if (sample_cert.empty()) sample_cert = resp.signature().certificate();
          } else {
            ++failed;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  double enroll_seconds = Seconds(start);
  std::printf("  %ld enrolments in %.2f s: %.0f certificates/s (%ld failed)\n", enrolled.load(), enroll_seconds,
              2 * enrolled / enroll_seconds, failed.load());

  // OCSP: one request (no nonce) for a real certificate.
  auto cert = Certificate::FromDer(sample_cert);
  auto ca = Certificate::FromPem(Slurp(P + "/pki/ca.pem"));
  OCSP_REQUEST* req = OCSP_REQUEST_new();
  OCSP_request_add0_id(req, OCSP_cert_to_id(EVP_sha1(), cert->x509(), ca->x509()));
  std::string ocsp_request = ossl::ToDer(i2d_OCSP_REQUEST, req);
  OCSP_request_add1_nonce(req, nullptr, 16);
  std::string ocsp_request_nonce = ossl::ToDer(i2d_OCSP_REQUEST, req);
  OCSP_REQUEST_free(req);
  std::printf("OCSP: %d keep-alive clients for %.0f s\n", clients, seconds / 2);
  double ours = OcspRate(http_port, "/ocsp", ocsp_request, clients, seconds / 2);
  std::printf("  semper-ca, no nonce:     %.0f responses/s (cached signed responses)\n", ours);
  double ours_nonce = OcspRate(http_port, "/ocsp", ocsp_request_nonce, clients, seconds / 2);
  std::printf("  semper-ca, with nonce:   %.0f responses/s (signed each; status cached)\n", ours_nonce);

  // OpenSSL's reference responder on the same certificate, with an index of the issued ones.
  {
    std::string serial = cert->SerialHex();
    dir.Write("index.txt", "V\t301231235959Z\t\t" + serial + "\tunknown\t/CN=x\n");
    dir.Write("index.txt.attr", "unique_subject = no\n");
    int oport = semper::testing::FreePort();
    semper::testing::ChildProcess responder(
        std::vector<std::string>{"openssl", "ocsp", "-index", P + "/index.txt", "-port", std::to_string(oport),
                                 "-rsigner", P + "/pki/services/ocsp-signing.pem", "-rkey",
                                 P + "/pki/services/ocsp-signing.key", "-passin", "file:" + P + "/pass", "-CA",
                                 P + "/pki/ca.pem", "-multi", "2", "-nmin", "5"},
        P + "/openssl-ocsp.log");
    std::this_thread::sleep_for(milliseconds(500));
    double theirs = OcspRate(oport, "/", ocsp_request, clients, seconds / 2);
    double theirs_nonce = OcspRate(oport, "/", ocsp_request_nonce, clients, seconds / 2);
    std::printf("  openssl ocsp -multi 2:   %.0f responses/s no nonce, %.0f with nonce\n", theirs, theirs_nonce);
    std::printf("  ratio semper-ca/openssl: %.2f no nonce, %.2f with nonce\n", theirs > 0 ? ours / theirs : 0,
                theirs_nonce > 0 ? ours_nonce / theirs_nonce : 0);
    // `-multi 2` forks workers that outlive their parent's SIGTERM: stop them too.
    semper::testing::RunCommand({"pkill", "-f", P + "/index.txt"});
  }

  // cfssl's responder (Debian golang-cfssl), which serves pre-signed responses only.
  if (semper::testing::RunCommand({"sh", "-c", "command -v cfssl"}).exit_code == 0) {
    auto ocsp_key =
        PrivateKey::FromPem(Slurp(P + "/pki/services/ocsp-signing.key"), SecretData("load test passphrase"));
    dir.Write("ocsp-plain.key", std::string(ocsp_key->ToUnencryptedPemSecret().Reveal()));
    dir.Write("ocsp-only.pem", Certificate::ChainFromPem(Slurp(P + "/pki/services/ocsp-signing.pem"))->front().Pem());
    dir.Write("leaf.pem", cert->Pem());
    auto signed_resp = semper::testing::RunCommand({"cfssl", "ocspsign", "-ca", P + "/pki/ca.pem", "-responder",
                                                    P + "/ocsp-only.pem", "-responder-key", P + "/ocsp-plain.key",
                                                    "-cert", P + "/leaf.pem", "-status", "good"});
    auto start_b64 = signed_resp.out.find("\"ocspResponse\":\"");
    if (start_b64 == std::string::npos) {
      std::printf("  cfssl ocspsign failed: %s\n", signed_resp.Describe().c_str());
    } else {
      start_b64 += 16;
      dir.Write("responses",
                signed_resp.out.substr(start_b64, signed_resp.out.find('"', start_b64) - start_b64) + "\n");
      int cport = semper::testing::FreePort();
      semper::testing::ChildProcess cfssl(
          std::vector<std::string>{"cfssl", "ocspserve", "-address", "127.0.0.1", "-port", std::to_string(cport),
                                   "-responses", P + "/responses"},
          P + "/cfssl.log");
      std::this_thread::sleep_for(milliseconds(700));
      double cf = OcspRate(cport, "/", ocsp_request, clients, seconds / 2);
      std::printf("  cfssl ocspserve:         %.0f responses/s no nonce (pre-signed); semper-ca/cfssl = %.2f\n", cf,
                  cf > 0 ? ours / cf : 0);
    }
  } else {
    std::printf("  cfssl not installed (apt-get install golang-cfssl): no comparison\n");
  }

  // CRL with many entries: revoked rows straight into the table, then one revocation through the
  // API, which publishes a new full and delta CRL before it answers.
  std::printf("CRL: %d revoked entries\n", revoked);
  auto inserted = (*pg)->Query(*db,
                               "INSERT INTO ca.certificates (serial, profile, subject, spki_sha256, not_before, "
                               "not_after, der, revoked_at, revocation_reason) SELECT upper(to_hex(1000000000 + g)) || "
                               "'ABCDEF', 'load', 'CN=x', '\\x00', now(), now() + interval '1 year', '\\x00', now(), 1 "
                               "FROM generate_series(1, " +
                                   std::to_string(revoked) + ") g");
  if (!inserted.ok()) Fail(std::string(inserted.status().message()));
  v1::RevokeCertificateRequest rv;
  rv.set_serial(cert->SerialHex());
  v1::RevokeCertificateResponse rv_resp;
  grpc::ClientContext rv_ctx;
  auto crl_start = steady_clock::now();
  if (!admin->RevokeCertificate(&rv_ctx, rv, &rv_resp).ok()) Fail("revocation failed");
  double revoke_seconds = Seconds(crl_start);
  httplib::Client client("127.0.0.1", http_port);
  auto fetch_start = steady_clock::now();
  auto crl = client.Get("/crl");
  double fetch_seconds = Seconds(fetch_start);
  std::printf("  revocation incl. publishing full + delta CRL: %.2f s; GET /crl %.2f s, %zu bytes\n", revoke_seconds,
              fetch_seconds, crl ? crl->body.size() : 0);
  daemon.Signal(SIGTERM);
  daemon.Wait(15000);
  return 0;
}
