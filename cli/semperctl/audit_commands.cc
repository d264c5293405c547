// semperctl audit verify.
#include "cli/semperctl/audit_commands.h"

#include <cstdlib>
#include <map>
#include <pqxx/pqxx>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "common/base/secret.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/random.h"
#include "common/db/audit.h"

namespace semper::ctl {
namespace {

// "schema seq hash" per line, as --head-out writes it.
std::map<std::string, std::pair<int64_t, std::string>> ReadHeads(const std::string& path) {
  std::map<std::string, std::pair<int64_t, std::string>> heads;
  std::istringstream in(ReadFileOrDie(path));
  std::string schema, seq, hash;
  while (in >> schema >> seq >> hash) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(seq, &n) || hash.size() != 64 ||
        hash.find_first_not_of("0123456789abcdef") != std::string::npos) {
      Die(InvalidField("--expect-head", StrCat(path, " is not a file written by --head-out")), 2);
    }
    heads[schema] = {n, absl::HexStringToBytes(hash)};
  }
  return heads;
}

int Verify(const std::string& url_file, std::vector<std::string> schemas, const std::string& head_out,
           const std::string& expect_head, int show) {
  std::string url;
  if (!url_file.empty()) {
    auto secret = SecretData::FromFile(url_file);
    if (!secret.ok()) Die(secret.status(), 2);
    url = std::string(secret->Reveal());
  } else if (const char* env = std::getenv("SEMPER_DATABASE_URL"); env != nullptr) {
    url = env;
  } else {
    Die(InvalidField("--database-url-file", "is required (or SEMPER_DATABASE_URL): the database to read"), 2);
  }
  auto expected =
      expect_head.empty() ? std::map<std::string, std::pair<int64_t, std::string>>() : ReadHeads(expect_head);
  std::string heads;
  bool all_ok = true;
  try {
    pqxx::connection conn(url);
    pqxx::read_transaction tx(conn);
    if (schemas.empty()) {
      for (const auto& r : tx.exec("SELECT table_schema FROM information_schema.tables WHERE table_name = 'audit' "
                                   "ORDER BY table_schema")) {
        schemas.push_back(r[0].as<std::string>());
      }
    }
    if (schemas.empty())
      Die(MakeError(absl::StatusCode::kNotFound, v1::NOT_FOUND, "no audit trail in this database"), 3);
    for (const std::string& schema : schemas) {
      auto rows = db::ReadAudit(tx, schema);
      if (!rows.ok()) Die(rows.status(), 3);
      auto want = expected.find(schema);
      db::AuditCheck check = want == expected.end() ? db::VerifyAudit(*rows)
                                                    : db::VerifyAudit(*rows, want->second.first, want->second.second);
      if (check.problems.empty()) {
        std::printf("%s: %lld rows, chain intact, head %lld %s\n", schema.c_str(), static_cast<long long>(check.rows),
                    static_cast<long long>(check.head_seq), HexEncode(check.head_hash).substr(0, 16).c_str());
      } else {
        all_ok = false;
        std::printf("%s: NOT INTACT (%lld rows)\n", schema.c_str(), static_cast<long long>(check.rows));
        for (const auto& p : check.problems) std::printf("  %s\n", p.c_str());
      }
      for (size_t i = rows->size() > static_cast<size_t>(show) ? rows->size() - show : 0; i < rows->size(); ++i) {
        const db::AuditRow& r = (*rows)[i];
        std::printf(
            "  %lld %s %s %s: %s %s\n", static_cast<long long>(r.seq),
            absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMicros(r.at_us), absl::UTCTimeZone()).c_str(),
            r.daemon.c_str(), r.event.actor.c_str(), r.event.action.c_str(), r.event.subject.c_str());
      }
      StrAppend(&heads, schema, " ", check.head_seq, " ", HexEncode(check.head_hash), "\n");
    }
  } catch (const std::exception& e) {
    Die(MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                  StrCat("reading the audit trail: ", e.what())),
        3);
  }
  if (!head_out.empty() && all_ok) {
    WriteOrDie(head_out, heads);
    std::printf("Heads saved to %s: check later with --expect-head %s (shows removed newest rows too).\n",
                head_out.c_str(), head_out.c_str());
  }
  return all_ok ? 0 : 3;
}

}  // namespace

AuditCommands::AuditCommands(CLI::App& app, Connection&) {
  auto* a = app.add_subcommand("audit", "the daemons' hash-chained audit trails");
  a->require_subcommand(1);
  verify_ = a->add_subcommand("verify", "recompute every chain from the database: exit 0 intact, 3 not");
  verify_->add_option("--database-url-file", url_file_,
                      "file (mode 0600) with the PostgreSQL URL; default: SEMPER_DATABASE_URL from the environment");
  verify_->add_option("--schema", schemas_, "ca, tsa, notary, arbiter, liability (repeatable; default: every trail)");
  verify_->add_option("--head-out", head_out_, "keep the heads in this file");
  verify_->add_option("--expect-head", expect_head_, "heads kept earlier: they must still be there, unchanged");
  verify_->add_option("--show", show_, "also print the newest N events of each trail");
}

std::optional<int> AuditCommands::Run() {
  if (verify_->parsed()) return Verify(url_file_, schemas_, head_out_, expect_head_, show_);
  return std::nullopt;
}

}  // namespace semper::ctl
