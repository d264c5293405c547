// End-to-end load on semper-tsa as a process against a private PostgreSQL (fsync on): tokens per
// second over HTTP and gRPC (each committed before its reply), latency percentiles at half the
// HTTP rate, batch-mode stamps per second, and the same machine's `openssl speed ecdsap256`
// signing rate and `openssl ts -reply` rate for comparison. HTTP clients send each request in one
// write, as curl does (bench_http.h). Run by hand:
//   build/tests/bench/tsa_load [--clients 16] [--seconds 8]
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <regex>
#include <thread>

#include "common/crypto/digest.h"
#include "common/crypto/timestamp.h"
#include "semper/v1/tsa.grpc.pb.h"
#include "tests/bench/bench_http.h"
#include "tests/support/postgres.h"
#include "tests/support/subprocess.h"

namespace semper {
namespace {

using namespace std::chrono;
using semper::testing::RunCommand;
using semper::testing::Slurp;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "tsa_load: %s\n", what.c_str());
  std::exit(1);
}

double Seconds(steady_clock::time_point since) { return duration<double>(steady_clock::now() - since).count(); }

std::vector<std::string> Requests(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(
        *MakeTimeStampRequest(HashAlgorithm::kSha256, Sha256("document " + std::to_string(i)),
                              {true, "", std::string("\x01\x02\x03\x04\x05\x06\x07") + static_cast<char>(i & 0x7f)}));
  }
  return out;
}

struct Result {
  double rate = 0;
  std::vector<double> latencies_ms;
  long failed = 0;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// `clients` keep-alive connections POSTing for `seconds`; with `per_client_rate` > 0 each client
// sends at that pace (open loop: latency is measured from the scheduled send time).
Result HttpLoad(int port, const std::vector<std::string>& requests, int clients, double seconds, double per_client_rate,
                size_t min_body = 500) {
  std::atomic<long> ok{0}, bad{0};
  std::mutex mu;
  Result r;
  auto start = steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      bench::HttpClient client("127.0.0.1", port);
      std::vector<double> lat;
      auto next = steady_clock::now();
      for (size_t i = static_cast<size_t>(c); Seconds(start) < seconds; i += static_cast<size_t>(clients)) {
        if (per_client_rate > 0) {
          std::this_thread::sleep_until(next);
        } else {
          next = steady_clock::now();
        }
        auto res = client.Post("/", requests[i % requests.size()], "application/timestamp-query");
        lat.push_back(duration<double, std::milli>(steady_clock::now() - next).count());
        if (per_client_rate > 0) next += duration_cast<steady_clock::duration>(duration<double>(1.0 / per_client_rate));
        if (res && res->status == 200 && res->body.size() >= min_body)
          ++ok;
        else
          ++bad;
      }
      std::lock_guard<std::mutex> lock(mu);
      r.latencies_ms.insert(r.latencies_ms.end(), lat.begin(), lat.end());
    });
  }
  for (auto& t : threads) t.join();
  r.rate = static_cast<double>(ok) / Seconds(start);
  r.failed = bad;
  return r;
}

}  // namespace
}  // namespace semper

int main(int argc, char** argv) {
  // Load from one client: the per-client limits of the daemons started here are off.
  setenv("SEMPER_LIMITS_PER_SECOND", "0", 0);
  using namespace semper;
  int clients = 16;
  double seconds = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--clients") clients = std::atoi(argv[i + 1]);
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
  }
  signal(SIGPIPE, SIG_IGN);
  auto pg = semper::testing::TestPostgres::Start();
  if (!pg.ok()) Fail(std::string(pg.status().message()));
  auto db = (*pg)->CreateDatabase();
  semper::testing::TempDir dir;
  std::string P = dir.path();
  dir.Write("pass", "load test passphrase");
  auto init = RunCommand({SEMPER_CA, "init", "--dir", P + "/pki", "--passphrase-file", P + "/pass"});
  if (init.exit_code != 0) Fail(init.Describe());
  int port = semper::testing::FreePort(), http_port = semper::testing::FreePort();
  semper::testing::ChildProcess daemon(
      std::vector<std::string>{
          "env", "SEMPER_DATABASE_URL=" + (*pg)->ConnInfo(*db), "SEMPER_GRPC_LISTEN=127.0.0.1:" + std::to_string(port),
          "SEMPER_HTTP_LISTEN=127.0.0.1:" + std::to_string(http_port), "SEMPER_LOG_LEVEL=warn",
          "SEMPER_HTTP_THREADS=64", "SEMPER_TLS_CERT_FILE=" + P + "/pki/services/tsa-tls.pem",
          "SEMPER_TLS_KEY_FILE=" + P + "/pki/services/tsa-tls.key", "SEMPER_TLS_KEY_PASSPHRASE_FILE=" + P + "/pass",
          "SEMPER_TLS_CLIENT_CA_FILE=" + P + "/pki/root.pem", "SEMPER_TLS_REQUIRE_CLIENT_CERT=false",
          "SEMPER_TSA_CERT_FILE=" + P + "/pki/services/tsa-signing.pem",
          "SEMPER_TSA_KEY_FILE=" + P + "/pki/services/tsa-signing.key", "SEMPER_TSA_KEY_PASSPHRASE_FILE=" + P + "/pass",
          "SEMPER_TSA_CLOCK_CHECK=off", SEMPER_TSA},
      P + "/tsa.log");
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Slurp(P + "/pki/root.pem");
  auto channel_for = [&] {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(ssl), args);
  };
  if (!channel_for()->WaitForConnected(system_clock::now() + std::chrono::seconds(30))) Fail(Slurp(P + "/tsa.log"));
  auto requests = Requests(5000);

  std::printf("HTTP: %d keep-alive clients for %.0f s (certReq, nonce; each token committed before its reply)\n",
              clients, seconds);
  std::fflush(stdout);
  Result full = HttpLoad(http_port, requests, clients, seconds, 0);
  std::printf("  %.0f tokens/s; latency p50 %.2f ms, p99 %.2f ms (%ld failed)\n", full.rate,
              Percentile(full.latencies_ms, 0.5), Percentile(full.latencies_ms, 0.99), full.failed);
  std::fflush(stdout);
  double half = full.rate / 2;
  Result paced = HttpLoad(http_port, requests, clients, seconds, half / clients);
  std::printf("  at half that rate (%.0f/s offered): %.0f tokens/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              half, paced.rate, Percentile(paced.latencies_ms, 0.5), Percentile(paced.latencies_ms, 0.99),
              Percentile(paced.latencies_ms, 1.0));
  std::fflush(stdout);

  // The transport's ceiling on this machine: the same clients sending a request that is refused
  // (a status in the reply, 200 over HTTP) before anything is signed or recorded.
  {
    std::vector<std::string> malformed = {"not a time-stamp request"};
    Result refused = HttpLoad(http_port, malformed, clients, seconds / 2, 0, 5);
    std::atomic<long> ok{0};
    auto start = steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&] {
        auto stub = v1::TimeStamp::NewStub(channel_for());
        while (Seconds(start) < seconds / 2) {
          v1::StampRequest req;
          req.set_request(malformed[0]);
          v1::StampResponse resp;
          grpc::ClientContext ctx;
          if (stub->Stamp(&ctx, req, &resp).ok() && resp.status() == v1::TIME_STAMP_STATUS_REJECTION) ++ok;
        }
      });
    }
    for (auto& t : threads) t.join();
    std::printf("Refused before signing or recording (the transport's ceiling): HTTP %.0f/s, gRPC %.0f/s\n",
                refused.rate, static_cast<double>(ok) / Seconds(start));
  }
  std::fflush(stdout);

  std::printf("gRPC: %d clients for %.0f s\n", clients, seconds);
  {
    std::atomic<long> ok{0};
    auto start = steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        auto stub = v1::TimeStamp::NewStub(channel_for());
        for (size_t i = static_cast<size_t>(c); Seconds(start) < seconds; i += static_cast<size_t>(clients)) {
          v1::StampRequest req;
          req.set_request(requests[i % requests.size()]);
          v1::StampResponse resp;
          grpc::ClientContext ctx;
          if (stub->Stamp(&ctx, req, &resp).ok() && resp.status() == v1::TIME_STAMP_STATUS_GRANTED) ++ok;
        }
      });
    }
    for (auto& t : threads) t.join();
    std::printf("  %.0f tokens/s\n", static_cast<double>(ok) / Seconds(start));
  }
  std::fflush(stdout);

  const int per_call = 1000;
  std::printf("Batch mode: 8 clients, %d imprints per call, for %.0f s\n", per_call, seconds);
  {
    std::atomic<long> stamps{0};
    auto start = steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < 8; ++c) {
      threads.emplace_back([&, c] {
        auto stub = v1::TimeStamp::NewStub(channel_for());
        v1::StampBatchRequest req;
        for (int i = 0; i < per_call; ++i) req.add_imprints(Sha256(std::to_string(c * per_call + i)));
        while (Seconds(start) < seconds) {
          v1::StampBatchResponse resp;
          grpc::ClientContext ctx;
          if (stub->StampBatch(&ctx, req, &resp).ok()) stamps += resp.proofs_size();
        }
      });
    }
    for (auto& t : threads) t.join();
    std::printf("  %.0f stamps/s\n", static_cast<double>(stamps) / Seconds(start));
  }
  {
    // Group commit as the daemon saw it: transactions, rows, time.
    httplib::Client client("127.0.0.1", http_port);
    auto metrics = client.Get("/metrics");
    double commits = 0, rows = 0, seconds_sum = 0;
    std::smatch mm;
    std::string body = metrics ? metrics->body : "";
    if (std::regex_search(body, mm,
                          std::regex(R"(semper_group_commits_total\{queue="tsa_tokens",ok="true"\} ([0-9.e+]+))")))
      commits = std::stod(mm[1]);
    if (std::regex_search(
            body, mm, std::regex(R"(semper_group_commit_requests_total\{queue="tsa_tokens",ok="true"\} ([0-9.e+]+))")))
      rows = std::stod(mm[1]);
    if (std::regex_search(body, mm,
                          std::regex(R"(semper_group_commit_seconds_sum\{queue="tsa_tokens"\} ([0-9.e+-]+))")))
      seconds_sum = std::stod(mm[1]);
    if (commits > 0) {
      std::printf("group commit: %.0f transactions, %.1f tokens each on average, %.2f ms each on average\n", commits,
                  rows / commits, 1000 * seconds_sum / commits);
    }
  }
  daemon.Signal(SIGTERM);
  daemon.Wait(15000);

  // The same machine's raw ECDSA P-256 signing rate, as openssl speed measures it (both cores).
  auto speed = RunCommand({"openssl", "speed", "-seconds", "3", "-multi", "2", "ecdsap256"});
  std::smatch m;
  double sign_rate = 0;
  if (std::regex_search(speed.out, m, std::regex(R"(256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([0-9.]+))"))) {
    sign_rate = std::stod(m[1].str());
  }
  std::printf("openssl speed -multi 2 ecdsap256: %.0f signatures/s; HTTP tokens/s are %.0f%% of that\n", sign_rate,
              sign_rate > 0 ? 100 * full.rate / sign_rate : 0);
  std::printf("  database: %s\n", semper::testing::RowCost(**pg, *db, "tsa.tokens").c_str());

  // OpenSSL's own TSA (`openssl ts -reply`, one process per token), two at a time for `seconds`.
  dir.Write("ts.cnf", "[tsa]\ndefault_tsa = t\n[t]\nserial = " + P + "/serial\nsigner_cert = " + P +
                          "/pki/services/tsa-signing.pem\nsigner_key = " + P +
                          "/pki/services/tsa-signing.key\ndefault_policy = 1.2.3.4\ndigests = sha256\n"
                          "signer_digest = sha256\ness_cert_id_alg = sha256\naccuracy = secs:1\n"
                          "certs = " +
                          P + "/pki/ca.pem\n");
  dir.Write("serial", "01\n");
  dir.Write("q.tsq", requests[0]);
  std::atomic<long> replies{0};
  {
    auto start = steady_clock::now();
    std::vector<std::thread> workers;
    for (int w = 0; w < 2; ++w) {
      workers.emplace_back([&, w] {
        while (Seconds(start) < seconds) {
          auto r = RunCommand({"openssl", "ts", "-reply", "-config", P + "/ts.cnf", "-queryfile", P + "/q.tsq",
                               "-passin", "file:" + P + "/pass", "-out", P + "/r" + std::to_string(w) + ".tsr"});
          if (r.exit_code == 0) ++replies;
        }
      });
    }
    for (auto& t : workers) t.join();
    double rate = static_cast<double>(replies) / Seconds(start);
    std::printf(
        "openssl ts -reply (a process per token, 2 at a time, not durable): %.0f tokens/s; semper-tsa HTTP "
        "is %.0fx\n",
        rate, rate > 0 ? full.rate / rate : 0);
  }
  return 0;
}
