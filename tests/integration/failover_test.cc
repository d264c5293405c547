// The production topology's promise (issue 22): no single machine whose loss loses an
// acknowledged certificate, time-stamp, evidence entry or guarantee. PostgreSQL runs as three
// Patroni nodes in strict synchronous mode (deploy/ha.sh); every daemon runs as two replicas on
// it, reached by clients balanced round robin over both. Under load from several clients
// (enrolments, time-stamps, evidence appends, guarantees against one hot buyer, token
// redemptions, fair exchanges whose abort and resolve race each other), the database
// leader is killed with SIGKILL (PostgreSQL and its Patroni: the machine lost), then a daemon
// replica. Afterwards every acknowledged item is in the database exactly as acknowledged, no
// serial number is there twice, no guarantee is over the limit, no token is redeemed twice, each
// exchange ended the same way for both parties, each retried request got one outcome, the evidence log's new tree heads
// are consistent with the old ones, and the killed node, started again, catches up as a standby. The recovery time is
// measured and printed.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/base/proto_time.h"
#include "common/base/strings.h"
#include "common/container/container.h"
#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/merkle.h"
#include "common/crypto/random.h"
#include "common/crypto/timestamp.h"
#include "common/exchange/asw.h"
#include "common/server/grpc_status.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "semper/v1/arbiter.grpc.pb.h"
#include "semper/v1/ca.grpc.pb.h"
#include "semper/v1/liability.grpc.pb.h"
#include "semper/v1/notary.grpc.pb.h"
#include "semper/v1/privacy.grpc.pb.h"
#include "semper/v1/tsa.grpc.pb.h"
#include "tests/support/ha_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/suite.h"

namespace semper {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::semper::testing::HaCluster;
using ::semper::testing::IsOk;
using ::semper::testing::Suite;
using ::semper::testing::TempDir;

constexpr int64_t kLimit = 200000;  // the hot buyer's overall limit: 2,000.00 EUR
constexpr int64_t kAmount = 1300;   // each guarantee: 13.00 EUR, so the limit is reached

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

// Outcomes of one kind of request over time. Served again means: an attempt succeeded after the
// last one that failed (a call answered just after the kill may have committed before it).
struct Kind {
  std::string name;
  std::atomic<int> ok{0}, failed_attempts{0};
  std::mutex mu;
  absl::Time last_failure = absl::InfinitePast();
  absl::Time ok_since_failure = absl::InfinitePast();  // the first success after last_failure
  void Ok() {
    ++ok;
    std::lock_guard<std::mutex> lock(mu);
    if (ok_since_failure < last_failure) ok_since_failure = absl::Now();
  }
  // A failed attempt: what a client of a failing-over suite may see is UNAVAILABLE (a call cut,
  // a commit whose outcome is unknown, no database), DEADLINE_EXCEEDED (a call that waited for the
  // new leader) or ABORTED (a conflict, retry); anything else is recorded as unexpected.
  std::vector<std::string> unexpected;
  void Failed(const absl::Status& why) {
    ++failed_attempts;
    std::lock_guard<std::mutex> lock(mu);
    last_failure = absl::Now();
    if (why.code() != absl::StatusCode::kUnavailable && why.code() != absl::StatusCode::kDeadlineExceeded &&
        why.code() != absl::StatusCode::kAborted && unexpected.size() < 10) {
      unexpected.push_back(why.ToString());
    }
  }
  // When it was served again after failing since `t`: InfinitePast if it has not failed since,
  // InfiniteFuture if it has failed and not been served since.
  absl::Time ServedAgainAfter(absl::Time t) {
    std::lock_guard<std::mutex> lock(mu);
    if (last_failure < t) return absl::InfinitePast();
    return ok_since_failure > last_failure ? ok_since_failure : absl::InfiniteFuture();
  }
};

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = HaCluster::Start();
    ASSERT_THAT(cluster.status(), IsOk()) << "the HA PostgreSQL cluster could not start";
    cluster_ = *std::move(cluster);
    Suite::Options o = Suite::Options::All(cluster_->url());
    o.ca_replicas = 2;
    o.liability_replicas = 2;
    auto suite = Suite::Start(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
    for (const char* replica : {"tsa2", "notary2", "arbiter2"}) ASSERT_THAT(suite_->StartDaemon(replica), IsOk());
  }

  std::string Sql(const std::string& q) {
    auto r = cluster_->Query(q);
    EXPECT_THAT(r.status(), IsOk()) << q;
    return r.ok() ? *r : "";
  }

  std::unique_ptr<HaCluster> cluster_;
  TempDir dir_;
  std::unique_ptr<Suite> suite_;
};

TEST_F(FailoverTest, LosingTheDatabaseLeaderAndAReplicaLosesNothingAcknowledged) {
  // The parties: a hot buyer with one agreement, a seller, a notary client.
  auto buyer = suite_->Enroll("Hot Buyer", v1::CUSTOMER_KIND_INDIVIDUAL, "ca,ca2");
  ASSERT_THAT(buyer.status(), IsOk());
  auto seller = suite_->Enroll("Busy Shop GmbH", v1::CUSTOMER_KIND_ENTERPRISE, "ca,ca2");
  ASSERT_THAT(seller.status(), IsOk());
  {
    v1::ContainerContent c = NewContainerContent(absl::Now());
    v1::Agreement* a = c.mutable_template_()->mutable_agreement();
    a->mutable_overall_limit()->set_currency("EUR");
    a->mutable_overall_limit()->set_minor_units(kLimit);
    a->mutable_per_transaction_limit()->set_currency("EUR");
    a->mutable_per_transaction_limit()->set_minor_units(kLimit);
    *a->mutable_valid_from() = ToTimestamp(absl::Now() - absl::Minutes(1));
    *a->mutable_valid_until() = ToTimestamp(absl::Now() + absl::Hours(24));
    a->set_applicable_law("DE");
    a->set_conditions("I am liable for what I sign with my signature key, within these limits.");
    c.mutable_requested()->set_non_repudiation_of_origin(true);
    auto sealed = Seal(c, {.signers = {SignerIdentity{buyer->key, buyer->certificate, suite_->Chain()}}});
    ASSERT_THAT(sealed.status(), IsOk());
    v1::RegisterAgreementRequest req;
    *req.mutable_agreement() = sealed->signed_();
    v1::AgreementRecord rec;
    grpc::ClientContext ctx;
    ASSERT_TRUE(
        v1::Liability::NewStub(suite_->Channel("liability,liability2"))->RegisterAgreement(&ctx, req, &rec).ok());
  }
  // Tokens to redeem, obtained before the load: an issuer's kind, a holder's tokens.
  auto issuer = suite_->Enroll("Token Issuer GmbH", v1::CUSTOMER_KIND_ENTERPRISE, "ca,ca2");
  ASSERT_THAT(issuer.status(), IsOk());
  auto kind = suite_->CreateTokenKind(*issuer, "Failover voucher", "ca,ca2");
  ASSERT_THAT(kind.status(), IsOk());
  std::vector<Suite::BlindToken> tokens;
  for (int i = 0; i < 200; ++i) {
    auto t = suite_->ObtainToken(*issuer, *kind, StrCat("voucher ", i), "ca,ca2");
    ASSERT_THAT(t.status(), IsOk());
    tokens.push_back(*std::move(t));
  }
  auto credentials = v1::Credentials::NewStub(suite_->ChannelAs("ca,ca2", *seller));
  auto tsa = v1::TimeStamp::NewStub(suite_->Channel("tsa,tsa2"));
  auto notary = v1::Notary::NewStub(suite_->Channel("notary,notary2"));
  auto liability = v1::Liability::NewStub(suite_->ChannelAs("liability,liability2", *seller));
  auto arbiter = v1::Arbiter::NewStub(suite_->Channel("arbiter,arbiter2"));
  std::optional<Certificate> arbiter_certificate;
  {
    v1::ArbiterCertificate cert;
    grpc::ClientContext ctx;
    ASSERT_TRUE(arbiter->GetArbiterCertificate(&ctx, {}, &cert).ok());
    arbiter_certificate.emplace(*Certificate::FromDer(cert.certificate()));
  }
  v1::SignedTreeHead head_before;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(notary->GetTreeHead(&ctx, {}, &head_before).ok());
  }

  Kind stamps_k{"time-stamps"}, evidence_k{"evidence"}, guarantees_k{"guarantees"}, enrolments_k{"enrolments"},
      redemptions_k{"redemptions"}, exchanges_k{"exchanges"};
  std::vector<std::string> redemptions(tokens.size());  // the redemption id each token was given
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> stamps;  // serial, imprint
  std::vector<v1::Evidence> evidence;
  std::map<std::string, std::string> guarantees;  // request id -> guarantee id (acknowledged)
  std::map<std::string, v1::GuaranteeRequest> guarantee_requests;
  std::vector<std::pair<Suite::Enrolment, std::pair<std::string, std::string>>> enrolled;  // and the serials
  // Fair exchanges between the buyer (originator) and the seller (responder) that stopped after me2:
  // the originator asks for an abort while the responder asks for a resolve.
  struct Exchange {
    v1::AbortRequest abort;
    v1::ResolveRequest resolve;
    std::string abort_answer, resolve_answer;  // the arbiter's token (body and signature) to each
    bool resolved = false;
  };
  std::vector<Exchange> exchanges;
  std::atomic<bool> stop{false};
  std::atomic<int> over_limit{0};
  // Every client retries what failed (the same request) until it is answered, as a client of a
  // replicated suite does: a call cut by the failover has no outcome the client knows. A request
  // started is retried to its answer even after the load stops.
  auto until_answered = [&](Kind& kind, const std::function<absl::Status()>& attempt) {
    for (absl::Time end = absl::Now() + absl::Seconds(90); absl::Now() < end;) {
      absl::Status s = attempt();
      if (s.ok()) return true;
      kind.Failed(s);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << kind.name << ": a request was not answered in 90 s of retries";
    return false;
  };
  std::vector<std::thread> clients;
  for (int w = 0; w < 2; ++w) {
    clients.emplace_back([&, w] {  // time-stamps
      for (int i = 0; !stop; ++i) {
        const std::string imprint = Sha256(StrCat("stamp ", w, "-", i, RandomBytes(8)));
        until_answered(stamps_k, [&]() -> absl::Status {
          v1::StampRequest req;
          req.set_request(*MakeTimeStampRequest(HashAlgorithm::kSha256, imprint, {true, "", RandomBytes(8)}));
          v1::StampResponse resp;
          grpc::ClientContext ctx;
          ctx.set_deadline(In(5));
          if (grpc::Status s = tsa->Stamp(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
          if (resp.status() != v1::TIME_STAMP_STATUS_GRANTED) {
            // RFC 3161's answer when the token could not be recorded: systemFailure, nothing issued.
            const bool system_failure = std::find(resp.failure_info().begin(), resp.failure_info().end(),
                                                  "systemFailure") != resp.failure_info().end();
            return system_failure ? absl::UnavailableError("rejected: systemFailure")
                                  : absl::InternalError("rejected: " + resp.status_text());
          }
          stamps_k.Ok();
          std::lock_guard<std::mutex> lock(mu);
          stamps.push_back({resp.serial(), imprint});
          return absl::OkStatus();
        });
      }
    });
    clients.emplace_back([&, w] {  // evidence appends
      for (int i = 0; !stop; ++i) {
        const std::string document = StrCat("document ", w, "-", i, " ", RandomBytes(4));
        v1::CertifyDocumentRequest req;
        req.set_document(document);
        req.set_signature(*CmsSignDetached(document, buyer->key, buyer->certificate, suite_->Chain()));
        until_answered(evidence_k, [&]() -> absl::Status {
          v1::Evidence e;
          grpc::ClientContext ctx;
          ctx.set_deadline(In(5));
          if (grpc::Status s = notary->CertifyDocument(&ctx, req, &e); !s.ok()) return FromGrpcStatus(s);
          evidence_k.Ok();
          std::lock_guard<std::mutex> lock(mu);
          evidence.push_back(e);
          return absl::OkStatus();
        });
      }
    });
    clients.emplace_back([&, w] {  // guarantees against one buyer, each request retried by its id
      for (int i = 0; !stop; ++i) {
        v1::GuaranteeRequest req;
        req.set_request_id(StrCat("g-", w, "-", i));
        req.set_order(suite_->SignedOrder(*buyer, seller->certificate, kAmount));
        {
          std::lock_guard<std::mutex> lock(mu);
          guarantee_requests[req.request_id()] = req;
        }
        until_answered(guarantees_k, [&]() -> absl::Status {
          v1::Guarantee g;
          grpc::ClientContext ctx;
          ctx.set_deadline(In(5));
          grpc::Status s = liability->RequestGuarantee(&ctx, req, &g);
          if (!s.ok() && s.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
              s.error_message().find("over its limit") != std::string::npos) {
            ++over_limit;
            guarantees_k.Ok();
            return absl::OkStatus();
          }
          if (!s.ok()) return FromGrpcStatus(s);
          guarantees_k.Ok();
          std::lock_guard<std::mutex> lock(mu);
          guarantees[req.request_id()] = g.guarantee_id();
          return absl::OkStatus();
        });
      }
    });
  }
  clients.emplace_back([&] {  // token redemptions, each retried with the acceptor's reference
    for (size_t i = 0; i < tokens.size() && !stop; ++i) {
      v1::RedeemTokenRequest req;
      req.set_kind_id(kind->id());
      req.set_message(tokens[i].message);
      req.set_signature(tokens[i].signature);
      req.set_reference(StrCat("order ", i));
      until_answered(redemptions_k, [&]() -> absl::Status {
        v1::RedeemTokenResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(In(5));
        if (grpc::Status s = credentials->RedeemToken(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
        redemptions_k.Ok();
        redemptions[i] = resp.redemption_id();
        return absl::OkStatus();
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(120));  // the tokens last the whole run
    }
  });
  clients.emplace_back([&] {  // exchanges: abort and resolve sent at once, each retried until answered
    const asw::Party o{buyer->key, buyer->certificate}, r{seller->key, seller->certificate};
    auto decide = [&](bool abort, const Exchange& x, std::string* answer, bool* resolved) {
      until_answered(exchanges_k, [&]() -> absl::Status {
        v1::ArbiterDecision d;
        grpc::ClientContext ctx;
        ctx.set_deadline(In(5));
        grpc::Status s = abort ? arbiter->Abort(&ctx, x.abort, &d) : arbiter->Resolve(&ctx, x.resolve, &d);
        if (!s.ok()) return FromGrpcStatus(s);
        exchanges_k.Ok();
        *answer = d.token().body() + d.token().signature();
        if (resolved != nullptr) *resolved = d.resolved();
        return absl::OkStatus();
      });
    };
    for (int i = 0; !stop; ++i) {
      asw::Originator originator(o, r.certificate, *arbiter_certificate, StrCat("failover contract ", i));
      auto me1 = originator.Me1();
      ASSERT_THAT(me1.status(), IsOk());
      auto responder = asw::Responder::Accept(r, *arbiter_certificate, *me1);
      ASSERT_THAT(responder.status(), IsOk());
      ASSERT_THAT(responder->Me2().status(), IsOk());
      Exchange x;
      x.abort = *originator.Abort();
      x.resolve = *responder->Resolve();
      std::thread originator_side([&] { decide(true, x, &x.abort_answer, nullptr); });
      decide(false, x, &x.resolve_answer, &x.resolved);
      originator_side.join();
      std::lock_guard<std::mutex> lock(mu);
      exchanges.push_back(std::move(x));
    }
  });
  clients.emplace_back([&] {  // registrations, then enrolments retried with the same request
    for (int i = 0; !stop; ++i) {
      std::string code;
      const bool registered = until_answered(enrolments_k, [&]() -> absl::Status {
        auto c = suite_->Register(StrCat("Subscriber ", i), v1::CUSTOMER_KIND_INDIVIDUAL, "ca,ca2");
        if (!c.ok()) return c.status();
        enrolments_k.Ok();
        code = *c;
        return absl::OkStatus();
      });
      if (!registered) return;
      auto enrolment = suite_->NewEnrolment(code);
      ASSERT_THAT(enrolment.status(), IsOk());
      until_answered(enrolments_k, [&]() -> absl::Status {
        auto s = suite_->Complete(*enrolment, "ca,ca2");
        if (!s.ok()) return s.status();
        enrolments_k.Ok();
        std::lock_guard<std::mutex> lock(mu);
        enrolled.push_back({*enrolment, {s->certificate.SerialHex(), s->authentication_certificate->SerialHex()}});
        return absl::OkStatus();
      });
    }
  });

  std::vector<Kind*> kinds = {&stamps_k, &evidence_k, &guarantees_k, &enrolments_k, &redemptions_k, &exchanges_k};
  std::this_thread::sleep_for(std::chrono::seconds(3));
  for (Kind* k : kinds) ASSERT_GT(k->ok.load(), 0) << k->name << ": nothing succeeded before the failover";
  std::map<std::string, int> ok_before;
  for (Kind* k : kinds) ok_before[k->name] = k->ok.load();

  // Commits wait for a synchronous standby before the kill (else the test proves nothing).
  EXPECT_EQ(cluster_->SuperuserQuery("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'").value_or(""),
            "1")
      << cluster_->Members();
  EXPECT_EQ(cluster_->SuperuserQuery("SHOW synchronous_commit").value_or(""), "on");

  // The database leader's machine is lost.
  const std::string old_leader = cluster_->Leader();
  ASSERT_FALSE(old_leader.empty()) << cluster_->Members();
  const absl::Time killed_at = absl::Now();
  ASSERT_THAT(cluster_->Kill(old_leader), IsOk());
  // Readiness reports the gap: a daemon says NOT_SERVING while no leader takes writes.
  // Every replica of every daemon is asked; a probe that gets no answer in 2 s counts as not ready,
  // as a load balancer's would (a daemon whose threads all wait for the database answers late).
  const std::vector<std::string> replicas = {"ca",      "ca2",     "tsa",      "tsa2",      "notary",
                                             "notary2", "arbiter", "arbiter2", "liability", "liability2"};
  std::vector<std::atomic<bool>> gap_seen(replicas.size());
  std::atomic<bool> cluster_ready{false};
  std::thread health([&] {
    while (!cluster_ready) {
      for (size_t r = 0; r < replicas.size(); ++r) {
        grpc::ClientContext ctx;
        ctx.set_deadline(In(2));
        HealthCheckResponse resp;
        grpc::Status s = Health::NewStub(suite_->Channel(replicas[r]))->Check(&ctx, HealthCheckRequest(), &resp);
        if ((s.ok() && resp.status() == HealthCheckResponse::NOT_SERVING) ||
            s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
          gap_seen[r] = true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  auto ready = cluster_->AwaitReady(absl::Seconds(60));
  cluster_ready = true;
  health.join();
  ASSERT_THAT(ready.status(), IsOk()) << cluster_->Members();
  for (size_t r = 0; r < replicas.size(); ++r) {
    EXPECT_TRUE(gap_seen[r]) << "semper-" << replicas[r] << " reported ready all through the failover";
  }
  // Until every kind of request that failed since the kill has been served again (clients retry
  // every 0.1 s), and a second more without a failure.
  absl::Time served_again = absl::InfiniteFuture();
  for (absl::Time end = absl::Now() + absl::Seconds(60); absl::Now() < end;) {
    absl::Time last = killed_at;
    for (Kind* k : kinds) last = std::max(last, k->ServedAgainAfter(killed_at));
    if (last != absl::InfiniteFuture() && absl::Now() - last > absl::Seconds(1)) {
      served_again = last;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(served_again, absl::InfiniteFuture()) << "some requests never succeeded after the failover";
  const absl::Duration recovery = served_again - killed_at;

  // Then a daemon replica is lost too: its clients' calls go to the other replica.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_THAT(suite_->Kill("tsa2"), IsOk());
  ASSERT_THAT(suite_->Kill("liability2"), IsOk());
  ASSERT_THAT(suite_->Kill("arbiter2"), IsOk());
  std::map<std::string, int> ok_before_replica;
  for (Kind* k : kinds) ok_before_replica[k->name] = k->ok.load();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  stop = true;
  for (auto& t : clients) t.join();
  for (Kind* k : kinds) {
    EXPECT_GT(k->ok.load(), ok_before_replica[k->name]) << k->name << ": nothing succeeded after a replica died";
  }

  // Every acknowledged time-stamp is recorded, for its imprint; no serial number twice.
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
  EXPECT_EQ(Sql("SELECT count(*) - count(DISTINCT serial) FROM tsa.tokens"), "0") << "a serial number twice";
  // Every acknowledged piece of evidence is in the log, byte for byte.
  for (const v1::Evidence& e : evidence) {
    v1::GetEvidenceRequest req;
    req.set_index(e.index());
    v1::Evidence stored;
    grpc::ClientContext ctx;
    grpc::Status s = notary->GetEvidence(&ctx, req, &stored);
    ASSERT_TRUE(s.ok()) << "acknowledged evidence " << e.index() << " is lost: " << s.error_message();
    EXPECT_EQ(stored.leaf_hash(), MerkleLeafHash(e.statement())) << e.index();
  }
  // The log's tree head now is consistent with the one before the failover, at both replicas.
  for (const char* replica : {"notary", "notary2"}) {
    v1::GetConsistencyProofRequest req;
    req.set_old_size(head_before.tree_size());
    v1::ConsistencyProof proof;
    grpc::ClientContext ctx;
    ASSERT_TRUE(v1::Notary::NewStub(suite_->Channel(replica))->GetConsistencyProof(&ctx, req, &proof).ok());
    std::vector<std::string> path(proof.proof().begin(), proof.proof().end());
    EXPECT_GT(proof.new_size(), head_before.tree_size());
    EXPECT_TRUE(VerifyMerkleConsistency(head_before.tree_size(), proof.new_size(), head_before.root_hash(),
                                        proof.new_tree_head().root_hash(), path))
        << replica << ": the tree head after the failover is not an extension of the one before";
  }
  // Every acknowledged guarantee exists once; nothing is reserved beyond the limit; and each
  // request asked again (at either replica) gets the guarantee it was acknowledged, or one now.
  int64_t live = std::stoll(Sql("SELECT coalesce(sum(amount), 0) FROM liability.guarantees WHERE state = 'live'"));
  EXPECT_LE(live, kLimit);
  EXPECT_EQ(Sql("SELECT coalesce(sum(reserved), 0) FROM liability.agreements"), std::to_string(live));
  ASSERT_THAT(suite_->Restart("liability2"), IsOk());
  auto again_stub = v1::Liability::NewStub(suite_->ChannelAs("liability,liability2", *seller));
  std::multiset<std::string> stored_guarantees;
  for (absl::string_view id : absl::StrSplit(Sql("SELECT id FROM liability.guarantees"), '\n', absl::SkipEmpty())) {
    stored_guarantees.insert(std::string(id));
  }
  for (const auto& [request_id, id] : guarantees) {
    EXPECT_EQ(stored_guarantees.count(id), 1u) << request_id << ": acknowledged guarantee " << id << " is lost";
    v1::Guarantee g;
    grpc::ClientContext ctx;
    ASSERT_TRUE(again_stub->RequestGuarantee(&ctx, guarantee_requests.at(request_id), &g).ok()) << request_id;
    EXPECT_EQ(g.guarantee_id(), id) << request_id << ": a retry got another guarantee";
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM liability.guarantees"), std::to_string(guarantees.size()))
      << "a guarantee no client was given an answer for, or two for one request";
  // Every acknowledged certificate is recorded; no serial number twice.
  std::set<std::string> stored_certificates;
  for (absl::string_view serial : absl::StrSplit(Sql("SELECT serial FROM ca.certificates"), '\n', absl::SkipEmpty())) {
    stored_certificates.insert(std::string(serial));
  }
  for (const auto& [enrolment, serials] : enrolled) {
    for (const std::string& serial : {serials.first, serials.second}) {
      EXPECT_TRUE(stored_certificates.contains(serial)) << "acknowledged certificate " << serial << " is lost";
    }
    // Sent again, the enrolment gets the certificates it was given.
    auto again = suite_->Complete(enrolment, "ca2");
    ASSERT_THAT(again.status(), IsOk());
    EXPECT_EQ(again->certificate.SerialHex(), serials.first);
    EXPECT_EQ(again->authentication_certificate->SerialHex(), serials.second);
  }
  // No enrolment made certificates no client holds (each code certified one pair of keys; the
  // buyer, the seller and the token issuer enrolled before the load).
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.certificates WHERE subscriber_id IS NOT NULL"),
            std::to_string(2 * (enrolled.size() + 3)));
  EXPECT_EQ(Sql("SELECT count(*) - count(DISTINCT serial) FROM ca.certificates"), "0");

  // Every acknowledged redemption is recorded, once per token; the acceptor's retry gets the same
  // redemption, and no token is spent that no acceptor was answered for.
  size_t redeemed = 0;
  std::set<std::string> spent;
  for (absl::string_view id :
       absl::StrSplit(Sql("SELECT redemption_id FROM ca.spent_tokens"), '\n', absl::SkipEmpty())) {
    spent.insert(std::string(id));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (redemptions[i].empty()) continue;
    ++redeemed;
    EXPECT_TRUE(spent.contains(redemptions[i])) << "acknowledged redemption " << redemptions[i] << " is lost";
    v1::RedeemTokenRequest req;
    req.set_kind_id(kind->id());
    req.set_message(tokens[i].message);
    req.set_signature(tokens[i].signature);
    req.set_reference(StrCat("order ", i));
    v1::RedeemTokenResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(credentials->RedeemToken(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.redemption_id(), redemptions[i]) << "a retry got another redemption";
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM ca.spent_tokens"), std::to_string(redeemed));

  // Each exchange ended the same way for both parties: one token, an abort token or a replacement
  // contract, recorded once; asked again (at the replica that was killed, started again), each
  // side gets that token.
  ASSERT_THAT(suite_->Restart("arbiter2"), IsOk());
  auto arbiter2 = v1::Arbiter::NewStub(suite_->Channel("arbiter2"));
  int resolved = 0;
  for (size_t i = 0; i < exchanges.size(); ++i) {
    const Exchange& x = exchanges[i];
    EXPECT_EQ(x.abort_answer, x.resolve_answer) << "exchange " << i << ": the parties were answered differently";
    resolved += x.resolved;
    v1::ArbiterDecision d;
    grpc::ClientContext ctx;
    ASSERT_TRUE((i % 2 ? arbiter2->Abort(&ctx, x.abort, &d) : arbiter2->Resolve(&ctx, x.resolve, &d)).ok());
    EXPECT_EQ(d.token().body() + d.token().signature(), x.resolve_answer)
        << "exchange " << i << ": asked again, another decision";
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM arbiter.exchanges"), std::to_string(exchanges.size()))
      << "a decision no party was answered for, or two for one exchange";

  // The lost node comes back as a standby and catches up.
  ASSERT_THAT(cluster_->StartNode(old_leader), IsOk());
  const std::string want = Sql("SELECT count(*) FROM tsa.tokens");
  std::string got;
  for (absl::Time end = absl::Now() + absl::Seconds(60); absl::Now() < end && got != want;) {
    got = cluster_->QueryNode(old_leader, "SELECT count(*) FROM tsa.tokens").value_or("");
    if (got != want) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(got, want) << old_leader << " did not catch up:\n" << cluster_->Members();
  EXPECT_EQ(cluster_->QueryNode(old_leader, "SELECT pg_is_in_recovery()").value_or(""), "t")
      << old_leader << " came back as a second leader";

  std::printf(
      "failover: leader %s killed; every kind of request served again after %.1f s (the cluster had a new "
      "leader and synchronous standby after %.1f s)\n",
      old_leader.c_str(), absl::ToDoubleSeconds(recovery), absl::ToDoubleSeconds(*ready));
  for (Kind* k : kinds) {
    std::printf("  %-12s %5d acknowledged (%d before the failover), %d failed attempts retried\n", k->name.c_str(),
                k->ok.load(), ok_before[k->name], k->failed_attempts.load());
  }
  for (Kind* k : kinds) EXPECT_TRUE(k->unexpected.empty()) << k->name << ": " << k->unexpected.front();
  std::printf("  guarantees refused over the limit: %d; live %.2f EUR of %.2f\n", over_limit.load(), live / 100.0,
              kLimit / 100.0);
  std::printf("  exchanges: %zu decided (%d resolved, %zu aborted), each the same for both parties\n", exchanges.size(),
              resolved, exchanges.size() - resolved);
  // What each daemon's main write costs the database (docs/scaling.md): bytes per row with indexes
  // and TOAST, from pg_total_relation_size.
  for (const char* table : {"tsa.tokens", "notary.log_entries", "liability.guarantees", "ca.certificates",
                            "ca.subscribers", "arbiter.exchanges"}) {
    std::printf("  %-22s %s\n", table,
                Sql(StrCat("SELECT count(*) || ' rows, ' || (pg_total_relation_size('", table,
                           "') / greatest(count(*), 1)) || ' bytes per row' FROM ", table))
                    .c_str());
  }
  EXPECT_LT(recovery, absl::Seconds(30)) << "the suite took too long to serve again";
}

}  // namespace
}  // namespace semper
