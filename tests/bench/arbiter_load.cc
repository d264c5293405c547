// Abort/resolve decisions against a private PostgreSQL (fsync on): concurrent requests for
// distinct exchanges, each checked, signed and recorded before it is answered; and a repeated
// request for a decided exchange. In-process (no gRPC). Run by hand:
//   build/tests/bench/arbiter_load [--clients 32] [--seconds 5]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "common/db/migrations.h"
#include "services/arbiter/arbiter.h"
#include "tests/support/postgres.h"
#include "tests/support/test_pki.h"

namespace semper {
std::vector<db::Migration> arbiter_migrations();
}

int main(int argc, char** argv) {
  using namespace semper;
  using namespace std::chrono;
  int clients = 32;
  double seconds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
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
  auto pool = db::ConnectionPool::New(po);
  if (!pool.ok() || !db::ApplyMigrations(**pool, "arbiter", arbiter_migrations()).ok()) return 1;
  const auto& pki = semper::testing::SharedTestPki();
  auto make = [&](const std::string& n) {
    auto id = pki.Issue(n, kKuDigitalSignature | kKuNonRepudiation);
    return asw::Party{id.key, id.certificate};
  };
  asw::Party t = make("Arbiter"), o = make("O"), r = make("R");
  arbiter::ExchangeArbiter arb(pool->get(), t, &pki.trust(), {pki.ca()});

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
        auto d = i % 2 == 0 ? arb.Abort(aborts[i]) : arb.Resolve(resolves[i]);
        if (d.ok()) ++done;
        else ++failed;
      }
    });
  }
  for (auto& th : threads) th.join();
  double elapsed = duration<double>(steady_clock::now() - start).count();
  std::printf("  %.0f decisions/s, each recorded before the answer (%ld failed)\n", done / elapsed, failed.load());
  return 0;
}
