// How the notary's start grows with its log (issue "Trust under attack (2 of 2)", finding 9): a log
// of N entries (default 10,000,000, rows put in by SQL as an upgrade from before the stored tree
// finds them) against a private PostgreSQL; the one-time tiling of those entries, then a start
// (EvidenceLog::Load: the right edge of the stored tree, the latest tree head checked against it),
// its memory, and inclusion proofs read from the stored tiles. Beside: `openssl speed -multi 2
// ecdsap256` in the same run. Run by hand:
//   build/tests/bench/notary_startup [--entries 10000000]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/crypto/merkle.h"
#include "common/db/audit.h"
#include "common/db/migrations.h"
#include "services/notary/log.h"
#include "services/notary/service.h"
#include "tests/support/postgres.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_pki.h"

namespace semper {
std::vector<db::Migration> notary_migrations();
}

namespace {

// Resident and peak resident memory of this process, in MiB.
std::pair<double, double> Memory() {
  std::ifstream in("/proc/self/status");
  double rss = 0, hwm = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::atof(line.c_str() + 6) / 1024;
    if (line.rfind("VmHWM:", 0) == 0) hwm = std::atof(line.c_str() + 6) / 1024;
  }
  return {rss, hwm};
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace semper;
  long entries = 10000000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--entries") entries = std::atol(argv[i + 1]);
  }
  auto pg = semper::testing::TestPostgres::Start();
  if (!pg.ok()) {
    std::fprintf(stderr, "postgres: %s\n", std::string(pg.status().message()).c_str());
    return 1;
  }
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
  auto sign = [&](std::string_view s) { return signer.Sign(s); };

  // The log as an upgrade finds it: N entries of about 250 bytes (a statement's size), no tiles.
  auto t0 = std::chrono::steady_clock::now();
  for (long from = 0; from < entries; from += 1000000) {
    const long to = std::min(entries, from + 1000000);
    auto s = (*pool)->Transact([&](pqxx::work& tx) -> absl::Status {
      tx.exec0(
          absl::StrCat("INSERT INTO notary.log_entries (index, kind, statement, signature) SELECT g, 'attestation', "
                       "convert_to('{\"type\":\"semper-notarial-attestation\",\"entry\":' || g || ',\"pad\":\"' || "
                       "repeat('x', 180) || '\"}', 'UTF8'), '\\x00'::bytea FROM generate_series(",
                       from, ", ", to - 1, ") g"));
      tx.exec0(absl::StrCat("UPDATE notary.log_head SET size = ", to, ", tiled = 0"));
      return absl::OkStatus();
    });
    if (!s.ok()) {
      std::fprintf(stderr, "insert: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  std::printf("log of %ld entries written by SQL in %.1f s\n", entries, Seconds(t0));

  // The first start tiles the entries (once, at the upgrade).
  // A start: Load, timed (a failure ends the run).
  auto load = [&](notary::EvidenceLog& log, const char* what) {
    t0 = std::chrono::steady_clock::now();
    if (absl::Status s = log.Load(); !s.ok()) {
      std::fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
      std::exit(1);
    }
    return Seconds(t0);
  };
  {
    notary::EvidenceLog log(pool->get(), sign);
    const double took = load(log, "first load");
    std::printf("first start (tiling every entry once): %.1f s, %.0f entries/s; peak memory %.0f MiB\n", took,
                entries / took, Memory().second);
  }
  auto tiles = (*pool)->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    auto r = tx.exec(
        "SELECT count(*), pg_size_pretty(pg_total_relation_size('notary.tree_tiles')), "
        "pg_size_pretty(pg_total_relation_size('notary.log_entries')) FROM notary.tree_tiles");
    std::printf("stored tree: %s tiles, %s (the entries: %s)\n", r[0][0].c_str(), r[0][1].c_str(), r[0][2].c_str());
    return absl::OkStatus();
  });
  (void)tiles;

  // Every later start: the right edge of the stored tree.
  const double rss_before = Memory().first;
  notary::EvidenceLog log(pool->get(), sign);
  const double start = load(log, "load");
  std::printf("start with %ld entries: %.1f ms, %d tiles read, memory +%.1f MiB\n", entries, start * 1000,
              log.tiles_read_at_load(), Memory().first - rss_before);

  // Inclusion proofs from the stored tiles (cold: each reads its tiles; warm: a cache of full tiles).
  for (const char* pass : {"cold", "warm"}) {
    t0 = std::chrono::steady_clock::now();
    const int kProofs = 2000;
    int ok = 0;
    for (int i = 0; i < kProofs; ++i) {
      auto e = log.Get(static_cast<uint64_t>(i) * 4999 % static_cast<uint64_t>(entries), 0);
      std::vector<std::string> path(e->inclusion().audit_path().begin(), e->inclusion().audit_path().end());
      ok += e.ok() && VerifyMerkleInclusion(e->index(), e->inclusion().tree_size(), MerkleLeafHash(e->statement()),
                                            path, e->tree_head().root_hash());
    }
    std::printf("GetEvidence with its proof (%s): %.2f ms each, %d of %d verified\n", pass,
                Seconds(t0) * 1000 / kProofs, ok, kProofs);
  }

  auto speed = semper::testing::RunCommand({"openssl", "speed", "-seconds", "3", "-multi", "2", "ecdsap256"});
  std::smatch m;
  if (std::regex_search(speed.out, m, std::regex(R"(256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([0-9.]+))"))) {
    std::printf("openssl speed -multi 2 ecdsap256 (same run): %s signatures/s\n", m[1].str().c_str());
  }
  return 0;
}
