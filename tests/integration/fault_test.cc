// Faults: PostgreSQL stopped and started again while clients keep calling. The daemons report
// not-ready (gRPC health NOT_SERVING) while it is down, reconnect by themselves when it is back,
// and everything they acknowledged (time-stamps from semper-tsa, evidence from semper-notary)
// is in the database afterwards, exactly as acknowledged.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/merkle.h"
#include "common/crypto/random.h"
#include "common/crypto/timestamp.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "semper/v1/notary.grpc.pb.h"
#include "semper/v1/tsa.grpc.pb.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/suite.h"

namespace semper {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::semper::testing::IsOk;
using ::semper::testing::Suite;
using ::semper::testing::TempDir;

class FaultTest : public ::semper::testing::PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    Suite::Options o = Suite::Options::Only({"tsa", "notary"}, conninfo());
    auto suite = Suite::Start(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
  }

  HealthCheckResponse::ServingStatus HealthOf(const std::string& daemon) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    HealthCheckResponse resp;
    grpc::Status s = Health::NewStub(suite_->Channel(daemon))->Check(&ctx, HealthCheckRequest(), &resp);
    return s.ok() ? resp.status() : HealthCheckResponse::UNKNOWN;
  }

  // Waits until every daemon reports `want`; false after `limit`.
  bool AwaitHealth(HealthCheckResponse::ServingStatus want, absl::Duration limit) {
    absl::Time end = absl::Now() + limit;
    while (absl::Now() < end) {
      if (HealthOf("tsa") == want && HealthOf("notary") == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  TempDir dir_;
  std::unique_ptr<Suite> suite_;
};

TEST_F(FaultTest, PostgresRestartedUnderLoadLosesNothingAcknowledged) {
  auto alice = suite_->Enroll("Alice Load", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(alice.status(), IsOk());
  auto tsa = v1::TimeStamp::NewStub(suite_->Channel("tsa"));
  auto notary = v1::Notary::NewStub(suite_->Channel("notary"));

  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> stamps;  // serial, imprint
  std::vector<v1::Evidence> evidence;
  std::atomic<bool> stop{false}, down{false};
  std::atomic<int> ok_before{0}, ok_during{0}, failed_during{0}, ok_after{0};
  std::atomic<bool> after{false};
  auto count_ok = [&] {
    if (after) {
      ++ok_after;
    } else if (down) {
      ++ok_during;
    } else {
      ++ok_before;
    }
  };
  auto load = [&](int worker) {
    for (int i = 0; !stop; ++i) {
      const std::string document =
          "document " + std::to_string(worker) + "-" + std::to_string(i) + " " + RandomBytes(4);
      if (i % 2 == 0) {
        auto der = MakeTimeStampRequest(HashAlgorithm::kSha256, Sha256(document), {true, "", RandomBytes(8)});
        v1::StampRequest req;
        req.set_request(*der);
        v1::StampResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        if (tsa->Stamp(&ctx, req, &resp).ok() && resp.status() == v1::TIME_STAMP_STATUS_GRANTED) {
          count_ok();
          std::lock_guard<std::mutex> lock(mu);
          stamps.push_back({resp.serial(), Sha256(document)});
        } else if (down) {
          ++failed_during;
        }
      } else {
        v1::CertifyDocumentRequest req;
        req.set_document(document);
        req.set_signature(*CmsSignDetached(document, alice->key, alice->certificate, suite_->Chain()));
        v1::Evidence e;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        if (notary->CertifyDocument(&ctx, req, &e).ok()) {
          count_ok();
          std::lock_guard<std::mutex> lock(mu);
          evidence.push_back(e);
        } else if (down) {
          ++failed_during;
        }
      }
    }
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < 6; ++w) workers.emplace_back(load, w);

  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_THAT(postgres().Stop(), IsOk());
  down = true;  // from here until the start below, nothing can commit
  EXPECT_TRUE(AwaitHealth(HealthCheckResponse::NOT_SERVING, absl::Seconds(15)))
      << "the daemons still report ready with the database down";
  std::this_thread::sleep_for(std::chrono::seconds(1));
  after = true;
  down = false;
  ASSERT_THAT(postgres().StartAgain(), IsOk());
  EXPECT_TRUE(AwaitHealth(HealthCheckResponse::SERVING, absl::Seconds(30))) << "the daemons did not come back";
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop = true;
  for (auto& t : workers) t.join();

  EXPECT_GT(ok_before.load(), 0);
  EXPECT_GT(failed_during.load(), 0) << "no call failed while the database was down";
  EXPECT_GT(ok_after.load(), 0) << "nothing succeeded after the database came back: no reconnect";
  // While the database was down nothing was acknowledged (a reply that was on its way when it
  // stopped may land just after; none later).
  EXPECT_LE(ok_during.load(), 6);

  // Every acknowledged time-stamp is recorded, for the imprint it was given.
  for (const auto& [serial, imprint] : stamps) {
    v1::LookupTokenRequest req;
    req.set_serial(serial);
    req.set_imprint(imprint);
    v1::TokenRecord rec;
    grpc::ClientContext ctx;
    grpc::Status s = tsa->LookupToken(&ctx, req, &rec);
    ASSERT_TRUE(s.ok()) << "acknowledged time-stamp " << serial << " is lost: " << s.error_message();
    EXPECT_EQ(rec.imprint(), imprint) << serial;
  }
  // Every acknowledged piece of evidence is in the notary's log, byte for byte (its leaf hash,
  // which is what the log shows to anyone).
  for (const v1::Evidence& e : evidence) {
    v1::GetEvidenceRequest req;
    req.set_index(e.index());
    v1::Evidence stored;
    grpc::ClientContext ctx;
    grpc::Status s = notary->GetEvidence(&ctx, req, &stored);
    ASSERT_TRUE(s.ok()) << "acknowledged evidence " << e.index() << " is lost: " << s.error_message();
    EXPECT_EQ(stored.leaf_hash(), MerkleLeafHash(e.statement())) << e.index();
  }
  std::printf(
      "acknowledged: %zu time-stamps and %zu notary entries (%d before, %d during, %d after the outage); "
      "%d calls refused while the database was down\n",
      stamps.size(), evidence.size(), ok_before.load(), ok_during.load(), ok_after.load(), failed_during.load());
}

}  // namespace
}  // namespace semper
