// The notary's evidence log against a private PostgreSQL (fsync on): entries appended by many
// concurrent callers, each answered with its inclusion proof to a freshly signed tree head after
// the commit, and inclusion proofs from a log of 1,000,000 entries. Run by hand:
//   build/tests/bench/notary_load [--clients 64] [--seconds 5]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/crypto/merkle.h"
#include "common/db/audit.h"
#include "common/db/migrations.h"
#include "services/notary/log.h"
#include "services/notary/service.h"
#include "tests/support/postgres.h"
#include "tests/support/test_pki.h"

namespace semper {
std::vector<db::Migration> notary_migrations();
}

int main(int argc, char** argv) {
  // Load from one client: the per-client limits of the daemons started here are off.
  setenv("SEMPER_LIMITS_PER_SECOND", "0", 0);
  using namespace semper;
  using namespace std::chrono;
  int clients = 64;
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
  po.size = 4;
  po.statements = notary::EvidenceLog::Statements();
  for (auto& st : db::AuditStatements("notary")) po.statements.push_back(std::move(st));
  auto pool = db::ConnectionPool::New(po);
  if (!pool.ok() || !db::ApplyMigrations(**pool, "notary", db::WithAuditMigration(notary_migrations())).ok()) return 1;
  auto id = semper::testing::SharedTestPki().Issue("Notary", kKuDigitalSignature | kKuNonRepudiation);
  notary::StatementSigner signer(id.key, id.certificate, {semper::testing::SharedTestPki().ca()});
  notary::EvidenceLog log(pool->get(), [&](std::string_view s) { return signer.Sign(s); });
  if (!log.Load().ok()) return 1;
  // Entries as the service makes them: a statement and the notary's signature over it.
  std::string statement(600, 'x');
  std::string signature = *signer.Sign(statement);

  std::printf("appending: %d concurrent callers for %.0f s (each waits for its commit and proof)\n", clients, seconds);
  std::atomic<long> done{0}, failed{0};
  auto start = steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; duration<double>(steady_clock::now() - start).count() < seconds; ++i) {
        auto e = log.Append({"bench", statement + std::to_string(c) + "/" + std::to_string(i), signature});
        if (e.ok() && e->inclusion().tree_size() > e->index())
          ++done;
        else
          ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = duration<double>(steady_clock::now() - start).count();
  std::printf("  %.0f entries/s with inclusion proofs (%ld failed)\n", done / elapsed, failed.load());
  std::printf("  database: %s; %s\n", semper::testing::RowCost(**pg, *db, "notary.log_entries").c_str(),
              semper::testing::RowCost(**pg, *db, "notary.tree_tiles").c_str());

  MerkleLog big;
  for (int i = 0; i < 1000000; ++i) big.Append(MerkleLeafHash(std::to_string(i)));
  auto t0 = steady_clock::now();
  const int kProofs = 100000;
  size_t total = 0;
  for (int i = 0; i < kProofs; ++i)
    total += big.InclusionProof(static_cast<uint64_t>(i) * 7919 % big.size(), big.size()).size();
  double per = duration<double, std::micro>(steady_clock::now() - t0).count() / kProofs;
  std::printf("inclusion proof from a log of 1,000,000 entries: %.1f us (%zu hashes each)\n", per, total / kProofs);
  return 0;
}
