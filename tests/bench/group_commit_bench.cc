// The group committer (libs/common/db/group_commit.h) against a real PostgreSQL (fsync on), at
// the disk's own commit latency and at 2 ms per commit (commit_delay = 2 ms before every WAL
// flush, as a synchronous standby a network round trip away costs): rows committed per second
// by closed-loop clients, one transaction per row against group commit, the groups' mean size
// and the clients' p99 latency; then `openssl speed -multi 2 ecdsap256` in the same run, the
// machine's signing limit the daemons' figures are compared with.
//   build/tests/bench/group_commit_bench [--seconds 3]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "common/base/strings.h"
#include "common/crypto/random.h"
#include "common/db/group_commit.h"
#include "common/db/pool.h"
#include "common/db/values.h"
#include "tests/support/postgres.h"
#include "tests/support/subprocess.h"

namespace {

using namespace semper;  // NOLINT: a benchmark's main
using Clock = std::chrono::steady_clock;

struct Figures {
  double rows_per_second = 0;
  double mean_group = 0;
  double p99_ms = 0;
};

double P99(std::vector<double>& ms) {
  if (ms.empty()) return 0;
  std::sort(ms.begin(), ms.end());
  return ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
}

// `clients` threads, each waiting for its row's commit before the next, for `seconds`.
Figures Run(db::ConnectionPool& pool, int clients, double seconds, bool grouped) {
  std::atomic<long> groups{0}, grouped_rows{0};
  db::GroupCommitter<std::string, absl::Status> committer(
      {"bench", 1000, 2, nullptr}, [&](std::vector<std::string>& ids, std::vector<absl::Status>& results) {
        absl::Status s = pool.Transact([&](pqxx::work& tx) {
          tx.exec_prepared0("bench_insert", db::TextArray(ids));
          return absl::OkStatus();
        });
        ++groups;
        grouped_rows += static_cast<long>(ids.size());
        results.assign(ids.size(), s);
        return s;
      });
  std::atomic<long> done{0}, failed{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(clients));
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; std::chrono::duration<double>(Clock::now() - start).count() < seconds; ++i) {
        const std::string id = StrCat("r-", c, "-", i, "-", HexEncode(RandomBytes(4)));
        const auto t0 = Clock::now();
        absl::Status s = grouped ? committer.Wait(id) : pool.Transact([&](pqxx::work& tx) {
          tx.exec_prepared0("bench_insert", db::TextArray({id}));
          return absl::OkStatus();
        });
        latencies[static_cast<size_t>(c)].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        (s.ok() ? done : failed)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  if (failed > 0) std::printf("    (%ld commits failed)\n", failed.load());
  Figures f;
  f.rows_per_second = static_cast<double>(done) / elapsed;
  f.mean_group = groups > 0 ? static_cast<double>(grouped_rows) / static_cast<double>(groups) : 1;
  f.p99_ms = P99(all);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--seconds") seconds = std::atof(argv[i + 1]);
  }
  auto pg = semper::testing::TestPostgres::Start();
  if (!pg.ok()) {
    std::fprintf(stderr, "PostgreSQL: %s\n", std::string(pg.status().message()).c_str());
    return 1;
  }
  auto database = (*pg)->CreateDatabase();
  if (!database.ok()) return 1;
  {
    auto created =
        (*pg)->Query(*database, "CREATE TABLE bench_rows (id text PRIMARY KEY, at timestamptz DEFAULT now())");
    if (!created.ok()) return 1;
  }
  struct Latency {
    const char* name;
    std::string options;
  };
  for (const Latency& latency :
       {Latency{"the disk's own commit (fsync)", ""},
        Latency{"2 ms per commit (commit_delay = 2 ms)", " options='-c commit_delay=2000 -c commit_siblings=0'"}}) {
    db::PoolOptions po;
    po.conninfo = (*pg)->ConnInfo(*database) + latency.options;
    po.size = 64;
    po.statements = {{"bench_insert", "INSERT INTO bench_rows (id) SELECT unnest($1::text[])"}};
    auto pool = db::ConnectionPool::New(po);
    if (!pool.ok()) {
      std::fprintf(stderr, "pool: %s\n", std::string(pool.status().message()).c_str());
      return 1;
    }
    // One client alone, one row per transaction: what a commit costs.
    Figures alone = Run(**pool, 1, 1, false);
    std::printf("%s: a commit takes %.2f ms (one client, one row per transaction)\n", latency.name,
                1000 / alone.rows_per_second);
    for (int clients : {16, 64, 256}) {
      Figures single = Run(**pool, clients, seconds, false);
      Figures group = Run(**pool, clients, seconds, true);
      std::printf(
          "  %3d clients: one transaction per row %7.0f rows/s (p99 %.1f ms); group commit %7.0f rows/s, "
          "%.1f rows per commit, p99 %.1f ms\n",
          clients, single.rows_per_second, single.p99_ms, group.rows_per_second, group.mean_group, group.p99_ms);
    }
  }
  auto speed = semper::testing::RunCommand({"openssl", "speed", "-seconds", "3", "-multi", "2", "ecdsap256"});
  std::smatch m;
  if (std::regex_search(speed.out, m, std::regex(R"(256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([0-9.]+))"))) {
    std::printf("openssl speed -multi 2 ecdsap256 (same run): %s signatures/s\n", m[1].str().c_str());
  }
  return 0;
}
