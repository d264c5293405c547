// Abort/resolve decisions against a private PostgreSQL (fsync on): concurrent requests for
// distinct exchanges, each checked, signed and recorded before it is answered; and a repeated
// request for a decided exchange. In-process, or with --grpc against semper-arbiter as a process
// (TLS on loopback; the load generator shares the cores). Run by hand:
//   build/tests/bench/arbiter_load [--clients 32] [--seconds 5] [--grpc]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/db/audit.h"
#include "common/db/migrations.h"
#include "semper/v1/arbiter.grpc.pb.h"
#include "services/arbiter/arbiter.h"
#include "tests/support/postgres.h"
#include "tests/support/suite.h"
#include "tests/support/test_pki.h"

namespace semper {
std::vector<db::Migration> arbiter_migrations();
}

int main(int argc, char** argv) {
  // Load from one client: the per-client limits of the daemons started here are off.
  setenv("SEMPER_LIMITS_PER_SECOND", "0", 0);
  using namespace semper;
  using namespace std::chrono;
  int clients = 32;
  double seconds = 5;
  bool grpc = false;
  setvbuf(stdout, nullptr, _IOLBF, 0);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--grpc") grpc = true;
    if (i + 1 >= argc) continue;
    if (a == "--clients") clients = std::atoi(argv[i + 1]);
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
  }
  auto pg = semper::testing::TestPostgres::Start();
  if (!pg.ok()) return 1;
  auto db = (*pg)->CreateDatabase();
  db::PoolOptions po;
  po.conninfo = (*pg)->ConnInfo(*db);
  po.size = clients;
  po.statements = arbiter::ExchangeArbiter::Statements();
  for (auto& st : db::AuditStatements("arbiter")) po.statements.push_back(std::move(st));
  auto pool = db::ConnectionPool::New(po);
  if (!pool.ok() || !db::ApplyMigrations(**pool, "arbiter", db::WithAuditMigration(arbiter_migrations())).ok())
    return 1;
  const auto& pki = semper::testing::SharedTestPki();
  auto make = [&](const std::string& n) {
    auto id = pki.Issue(n, kKuDigitalSignature | kKuNonRepudiation);
    return asw::Party{id.key, id.certificate};
  };
  asw::Party t = make("Arbiter"), o = make("O"), r = make("R");
  arbiter::ExchangeArbiter arb(pool->get(), t, &pki.trust(), {pki.ca()});
  // With --grpc: semper-arbiter as a process, and parties of its suite's CA.
  semper::testing::TempDir dir;
  std::unique_ptr<semper::testing::Suite> suite;
  std::vector<std::unique_ptr<v1::Arbiter::Stub>> stubs;
  if (grpc) {
    auto db2 = (*pg)->CreateDatabase();
    auto so = semper::testing::Suite::Options::Only({"arbiter"}, (*pg)->ConnInfo(*db2));
    so.not_started = {"ca"};  // decisions need no other daemon
    auto started = semper::testing::Suite::Start(&dir, so);
    if (!started.ok()) {
      std::fprintf(stderr, "%s\n", std::string(started.status().message()).c_str());
      return 1;
    }
    suite = *std::move(started);
    auto ca = Certificate::FromPem(semper::testing::Slurp(suite->P("pki/ca.pem")));
    auto ca_key = PrivateKey::FromPem(semper::testing::Slurp(suite->P("pki/ca.key")), SecretData(so.passphrase));
    auto issue = [&](const std::string& n) {
      auto key = *PrivateKey::Generate(KeyType::kEcP256);
      CertificateTemplate tmpl;
      tmpl.subject = {{"C", "DE"}, {"CN", n}};
      tmpl.not_before = absl::Now() - absl::Minutes(5);
      tmpl.not_after = absl::Now() + absl::Hours(24);
      tmpl.key_usage = kKuDigitalSignature | kKuNonRepudiation;
      return asw::Party{key, *IssueCertificate(tmpl, key.public_key(), &*ca, *ca_key)};
    };
    o = issue("O");
    r = issue("R");
    t.certificate = *Certificate::FromPem(semper::testing::Slurp(suite->P("pki/services/arbiter-signing.pem")));
    for (int c = 0; c < 4; ++c) stubs.push_back(v1::Arbiter::NewStub(suite->Channel("arbiter")));
  }

  // Requests prepared beforehand: the parties' work is not the arbiter's.
  const int kExchanges = static_cast<int>(seconds * 12000);
  std::printf("preparing %d exchanges...\n", kExchanges);
  std::vector<v1::AbortRequest> aborts(kExchanges);
  std::vector<v1::ResolveRequest> resolves(kExchanges);
  {
    std::vector<std::thread> prep;
    std::atomic<int> next{0};
    for (int w = 0; w < 2; ++w) {
      prep.emplace_back([&] {
        for (int i; (i = next++) < kExchanges;) {
          asw::Originator orig(o, r.certificate, t.certificate, "contract " + std::to_string(i));
          auto me1 = orig.Me1();
          auto resp = asw::Responder::Accept(r, t.certificate, *me1);
          (void)resp->Me2();
          aborts[i] = *orig.Abort();
          resolves[i] = *resp->Resolve();
        }
      });
    }
    for (auto& p : prep) p.join();
  }
  std::printf("deciding: %d concurrent requests for %.0f s, half aborts, half resolves\n", clients, seconds);
  std::atomic<int> next{0};
  std::atomic<long> done{0}, failed{0};
  auto start = steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      for (int i; duration<double>(steady_clock::now() - start).count() < seconds && (i = next++) < kExchanges;) {
        bool ok;
        if (grpc) {
          v1::ArbiterDecision d;
          grpc::ClientContext ctx;
          auto* stub = stubs[i % stubs.size()].get();
          ok = (i % 2 == 0 ? stub->Abort(&ctx, aborts[i], &d) : stub->Resolve(&ctx, resolves[i], &d)).ok();
        } else {
          auto d = i % 2 == 0 ? arb.Abort(aborts[i]) : arb.Resolve(resolves[i]);
          ok = d.ok();
        }
        if (ok)
          ++done;
        else
          ++failed;
      }
    });
  }
  for (auto& th : threads) th.join();
  double elapsed = duration<double>(steady_clock::now() - start).count();
  std::printf("  %.0f decisions/s%s, each recorded before the answer (%ld failed)\n", done / elapsed,
              grpc ? " over gRPC (TLS)" : " in-process", failed.load());
  return 0;
}
