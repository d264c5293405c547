// Guarantees against a private PostgreSQL (fsync on), in-process: each request checked, decided
// with its agreement row locked, signed (CMS) and recorded before it is answered. First spread
// over many buyers, then one hot buyer; after each phase the sum of live guarantees is compared
// with every agreement's limit (over-issue must be zero). With --grpc, the same against
// semper-liability as a process (TLS, with semper-ca for the buyers and the revocation feed).
// Run by hand:
//   build/tests/bench/liability_load [--clients 64] [--seconds 5] [--buyers 1000] [--grpc]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/base/proto_time.h"
#include "common/base/status.h"
#include "common/container/container.h"
#include "common/crypto/digest.h"
#include "common/db/audit.h"
#include "common/db/migrations.h"
#include "common/server/grpc_status.h"
#include "semper/v1/liability.grpc.pb.h"
#include "services/liability/book.h"
#include "tests/support/postgres.h"
#include "tests/support/suite.h"
#include "tests/support/test_pki.h"

namespace semper {
std::vector<db::Migration> liability_migrations();
}

int main(int argc, char** argv) {
  // Load from one client: the per-client limits of the daemons started here are off.
  setenv("SEMPER_LIMITS_PER_SECOND", "0", 0);
  using namespace semper;
  using namespace std::chrono;
  setvbuf(stdout, nullptr, _IOLBF, 0);
  int clients = 64, buyers = 1000, committers = 2;
  bool grpc = false;
  double seconds = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : "0";
    if (a == "--grpc") grpc = true;
    if (a == "--clients") clients = std::atoi(value);
    if (a == "--seconds") seconds = std::atof(value);
    if (a == "--buyers") buyers = std::atoi(value);
    if (a == "--committers") committers = std::atoi(value);
  }
  auto pg = semper::testing::TestPostgres::Start();
  if (!pg.ok()) return 1;
  auto db = (*pg)->CreateDatabase();
  db::PoolOptions po;
  po.conninfo = (*pg)->ConnInfo(*db);
  po.size = 8;
  po.statements = liability::LiabilityBook::Statements();
  for (auto& st : db::AuditStatements("liability")) po.statements.push_back(std::move(st));
  auto pool = db::ConnectionPool::New(po);
  if (!pool.ok() || !db::ApplyMigrations(**pool, "liability", db::WithAuditMigration(liability_migrations())).ok())
    return 1;
  const auto& pki = semper::testing::SharedTestPki();
  auto tracker = pki.Issue("Tracker", kKuDigitalSignature | kKuNonRepudiation);
  liability::LiabilityBook::Deps deps;
  deps.pool = pool->get();
  deps.trust = &pki.trust();
  deps.intermediates = {pki.ca()};
  deps.signer = *CmsDetachedSigner::New(tracker.key, tracker.certificate, {pki.ca()});
  deps.certificate_status = [](const Certificate&) -> absl::StatusOr<v1::CertificateStatus> {
    v1::CertificateStatus s;
    s.set_state(v1::CERTIFICATE_STATE_GOOD);
    return s;
  };
  deps.revoked = [](const std::string&) -> absl::StatusOr<bool> { return false; };
  deps.group_commit.in_flight = committers;
  liability::LiabilityBook book(std::move(deps));

  // With --grpc: semper-ca and semper-liability as processes on their own database; buyers
  // enrolled at that CA (the tracker asks it about their certificates).
  semper::testing::TempDir dir;
  std::unique_ptr<semper::testing::Suite> suite;
  std::vector<std::unique_ptr<v1::Liability::Stub>> stubs;
  std::unique_ptr<db::ConnectionPool> suite_pool;
  std::string suite_db;
  db::ConnectionPool* checked = pool->get();
  if (grpc) {
    auto db2 = (*pg)->CreateDatabase();
    suite_db = *db2;
    auto so = semper::testing::Suite::Options::Only({"liability"}, (*pg)->ConnInfo(*db2));
    auto started = semper::testing::Suite::Start(&dir, so);
    if (!started.ok()) {
      std::fprintf(stderr, "%s\n", std::string(started.status().message()).c_str());
      return 1;
    }
    suite = *std::move(started);
    for (int c = 0; c < 4; ++c) stubs.push_back(v1::Liability::NewStub(suite->Channel("liability")));
    db::PoolOptions cp;
    cp.conninfo = so.conninfo;
    cp.size = 1;
    suite_pool = *db::ConnectionPool::New(cp);
    checked = suite_pool.get();
  }

  // Buyers with agreements: 1,000,000.00 EUR overall (many buyers), per transaction 100.00.
  std::printf("registering %d buyers...\n", buyers + 1);
  auto agree = [&](int i, int64_t overall) {
    auto enrolled = [&]() -> SignerIdentity {
      auto sub = suite->Enroll("Buyer " + std::to_string(i), v1::CUSTOMER_KIND_INDIVIDUAL);
      if (!sub.ok()) std::abort();
      return SignerIdentity{sub->key, sub->certificate, suite->Chain()};
    };
    const SignerIdentity id =
        grpc ? enrolled() : pki.Issue("Buyer " + std::to_string(i), kKuDigitalSignature | kKuNonRepudiation);
    v1::ContainerContent c = NewContainerContent(absl::Now());
    auto* a = c.mutable_template_()->mutable_agreement();
    a->mutable_overall_limit()->set_currency("EUR");
    a->mutable_overall_limit()->set_minor_units(overall);
    a->mutable_per_transaction_limit()->set_currency("EUR");
    a->mutable_per_transaction_limit()->set_minor_units(10000);
    *a->mutable_valid_from() = ToTimestamp(absl::Now() - absl::Minutes(1));
    *a->mutable_valid_until() = ToTimestamp(absl::Now() + absl::Hours(24));
    a->set_applicable_law("DE");
    c.mutable_requested()->set_non_repudiation_of_origin(true);
    auto sealed = Seal(c, {.signers = {id}});
    v1::RegisterAgreementRequest req;
    *req.mutable_agreement() = sealed->signed_();
    bool ok;
    if (grpc) {
      v1::AgreementRecord rec;
      grpc::ClientContext ctx;
      ok = stubs[0]->RegisterAgreement(&ctx, req, &rec).ok();
    } else {
      ok = book.RegisterAgreement(req).ok();
    }
    if (!ok) std::abort();
    return id;
  };
  std::vector<SignerIdentity> ids;
  for (int i = 0; i < buyers; ++i) ids.push_back(agree(i, 100000000));
  // The hot buyer: one agreement row every request locks.
  const SignerIdentity hot = agree(buyers, 1000000000);
  // The seller: a guarantee is asked for by the seller an order names, for an order the buyer
  // signed (one guarantee per order). Orders are signed before the clock starts.
  SignerIdentity seller = grpc ? [&] {
    auto sub = suite->Enroll("Bench Shop GmbH", v1::CUSTOMER_KIND_ENTERPRISE);
    if (!sub.ok()) std::abort();
    stubs.clear();
    for (int c = 0; c < 4; ++c) stubs.push_back(v1::Liability::NewStub(suite->ChannelAs("liability", *sub)));
    return SignerIdentity{sub->key, sub->certificate, suite->Chain()};
  }() : pki.Issue("Bench Shop", kKuDigitalSignature | kKuNonRepudiation);
  liability::Caller seller_caller{true, seller.certificate.Subject(), semper::PartyOf(seller.certificate)};
  const size_t per_run = static_cast<size_t>(std::min(400000.0, seconds * 25000));
  auto sign_orders = [&](const char* what, bool one_buyer) {
    std::vector<std::string> orders(per_run);
    std::vector<std::thread> signers;
    for (int t = 0; t < 2; ++t) {
      signers.emplace_back([&, t] {
        for (size_t n = static_cast<size_t>(t); n < per_run; n += 2) {
          const SignerIdentity& b = one_buyer ? hot : ids[n % ids.size()];
          v1::ContainerContent c = NewContainerContent(absl::Now());
          v1::Order* o = c.mutable_template_()->mutable_order();
          o->set_order_id(std::string(what) + "-" + std::to_string(n));
          o->set_customer_kind(v1::CUSTOMER_KIND_INDIVIDUAL);
          o->set_applicable_law("DE");
          o->mutable_buyer()->set_name("buyer");
          o->mutable_seller()->set_name("seller");
          o->mutable_buyer()->set_certificate(b.certificate.Der());
          o->mutable_seller()->set_certificate(seller.certificate.Der());
          o->mutable_amount()->set_currency("EUR");
          o->mutable_amount()->set_minor_units(1000);
          c.mutable_requested()->set_non_repudiation_of_origin(true);
          orders[n] = Seal(c, {.signers = {b}})->SerializeAsString();
        }
      });
    }
    for (auto& t : signers) t.join();
    return orders;
  };

  auto run = [&](const char* what, bool one_buyer) {
    std::printf("  signing %zu orders for %s...\n", per_run, what);
    const std::vector<std::string> orders = sign_orders(what, one_buyer);
    std::atomic<long> done{0}, limited{0}, failed{0};
    std::atomic<int> seq{0};
    auto start = steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        for (int i = 0; duration<double>(steady_clock::now() - start).count() < seconds; ++i) {
          size_t n = static_cast<size_t>(seq++);
          if (n >= orders.size()) break;  // the signed orders ran out: reported below
          v1::GuaranteeRequest req;
          req.set_request_id(std::string(what) + "-" + std::to_string(n));
          req.set_order(orders[n]);
          absl::Status st;
          if (grpc) {
            v1::Guarantee g;
            grpc::ClientContext ctx;
            grpc::Status called = stubs[c % stubs.size()]->RequestGuarantee(&ctx, req, &g);
            st = called.ok() ? absl::OkStatus() : FromGrpcStatus(called);
          } else {
            st = book.RequestGuarantee(req, seller_caller).status();
          }
          if (st.ok()) {
            ++done;
          } else if (ReasonOf(st) == v1::LIMIT_EXCEEDED) {
            ++limited;
          } else {
            ++failed;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    double elapsed = duration<double>(steady_clock::now() - start).count();
    auto over = checked->Read([&](pqxx::nontransaction& tx) -> absl::Status {
      auto r = tx.exec(
          "SELECT count(*) FROM liability.agreements a WHERE a.reserved > a.overall_limit OR a.reserved <> "
          "(SELECT coalesce(sum(amount), 0) FROM liability.guarantees g WHERE g.agreement_id = a.id AND g.state = "
          "'live')");
      if (r[0][0].as<int>() != 0) return absl::InternalError("over-issue or mismatch");
      return absl::OkStatus();
    });
    std::printf("  %s: %.0f guarantees/s (%ld refused at the limit, %ld failed%s); over-issue check: %s\n", what,
                done / elapsed, limited.load(), failed.load(),
                static_cast<size_t>(seq.load()) >= orders.size() ? "; the pre-signed orders ran out" : "",
                over.ok() ? "none" : "FOUND");
  };
  std::printf("guarantees: %d concurrent requests for %.0f s, %s\n", clients, seconds,
              grpc ? "over gRPC (TLS) to semper-liability" : "in-process");
  run("many-buyers", false);
  run("hot-buyer", true);
  std::printf("  database: %s\n",
              semper::testing::RowCost(**pg, grpc ? suite_db : *db, "liability.guarantees").c_str());
  return 0;
}
