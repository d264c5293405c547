// How long semper-arbiter takes to check the evidence of a typical claim: 10 items (5 signed
// documents with signature time-stamps, 2 notary attestations with inclusion proofs, a
// time-stamp, a certificate, a completed exchange), each checked as the daemon does, with
// semper-ca asked for every signer's status at the signing time and semper-notary for the
// consistency of every tree head, over TLS on loopback, with the real daemons and PostgreSQL.
// Target: under 20 ms a claim. Run by hand:
//   build/tests/bench/evidence_bench [--claims 300] [--threads 4]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/crypto/cms.h"
#include "common/crypto/digest.h"
#include "common/crypto/random.h"
#include "common/crypto/timestamp.h"
#include "common/exchange/asw.h"
#include "semper/v1/arbiter.grpc.pb.h"
#include "semper/v1/tsa.grpc.pb.h"
#include "services/arbiter/evidence.h"
#include "tests/support/postgres.h"
#include "tests/support/suite.h"

using namespace semper;
using namespace std::chrono;

int main(int argc, char** argv) {
  // Load from one client: the per-client limits of the daemons started here are off.
  setenv("SEMPER_LIMITS_PER_SECOND", "0", 0);
  int claims = 300, threads = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--claims") claims = std::atoi(argv[i + 1]);
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
  }
  auto pg = semper::testing::TestPostgres::Start();
  if (!pg.ok()) {
    std::fprintf(stderr, "postgres: %s\n", std::string(pg.status().message()).c_str());
    return 1;
  }
  auto db = (*pg)->CreateDatabase();
  semper::testing::TempDir dir;
  auto o = semper::testing::Suite::Options::Only({"tsa", "notary"}, (*pg)->ConnInfo(*db));
  auto suite = semper::testing::Suite::Start(&dir, o);
  if (!suite.ok()) {
    std::fprintf(stderr, "%s\n", std::string(suite.status().message()).c_str());
    return 1;
  }
  auto buyer = (*suite)->Enroll("Bert Buyer", v1::CUSTOMER_KIND_INDIVIDUAL);
  auto seller = (*suite)->Enroll("Example Shop GmbH", v1::CUSTOMER_KIND_ENTERPRISE);
  if (!buyer.ok() || !seller.ok()) return 1;
  std::vector<Certificate> chain = (*suite)->Chain();
  auto tsa = v1::TimeStamp::NewStub((*suite)->Channel("tsa"));
  auto notary = v1::Notary::NewStub((*suite)->Channel("notary"));
  auto stamp = [&](const std::string& bytes) {
    v1::StampRequest req;
    req.set_request(*MakeTimeStampRequest(HashAlgorithm::kSha256, Sha256(bytes), {true, "", RandomBytes(8)}));
    v1::StampResponse resp;
    grpc::ClientContext ctx;
    (void)tsa->Stamp(&ctx, req, &resp);
    return *TimeStampTokenOf(resp.response());
  };

  // The claim's evidence.
  google::protobuf::RepeatedPtrField<v1::EvidenceItem> items;
  for (int i = 0; i < 5; ++i) {
    const auto& signer = i % 2 == 0 ? *seller : *buyer;
    auto* d = items.Add()->mutable_signed_document();
    d->set_document("document " + std::to_string(i) + std::string(2000, 'x'));
    d->set_signature(*CmsSignDetached(d->document(), signer.key, signer.certificate, chain));
    d->set_signature_time_stamp(stamp(d->signature()));
  }
  for (int i = 0; i < 2; ++i) {
    std::string doc = "notarised " + std::to_string(i);
    v1::CertifyDocumentRequest req;
    req.set_document(doc);
    req.set_signature(*CmsSignDetached(doc, seller->key, seller->certificate, chain));
    grpc::ClientContext ctx;
    if (!notary->CertifyDocument(&ctx, req, items.Add()->mutable_notary_evidence()).ok()) return 1;
  }
  {
    auto* t = items.Add()->mutable_time_stamp();
    t->set_document("bank statement");
    t->set_token(stamp(t->document()));
  }
  items.Add()->set_certificate(seller->certificate.Der());
  {
    auto arbiter_cert = Certificate::FromPem(semper::testing::Slurp((*suite)->P("pki/services/arbiter-signing.pem")));
    asw::Originator orig(asw::Party{buyer->key, buyer->certificate}, seller->certificate, *arbiter_cert, "contract");
    auto me1 = orig.Me1();
    auto resp = asw::Responder::Accept(asw::Party{seller->key, seller->certificate}, *arbiter_cert, *me1);
    auto me3 = orig.Me3(*resp->Me2());
    *items.Add()->mutable_exchange_contract() = *orig.Finish(*resp->Me4(*me3));
  }
  auto roots = TrustStore::FromPem(semper::testing::Slurp((*suite)->P("pki/root.pem")));
  auto arbiter_cert = Certificate::FromPem(semper::testing::Slurp((*suite)->P("pki/services/arbiter-signing.pem")));
  arbiter::EvidenceChecker checker(&*roots, chain, *arbiter_cert,
                                   arbiter::RemoteSources(v1::CertificationAuthority::NewStub((*suite)->Channel("ca")),
                                                          std::move(notary), absl::Seconds(10)));
  arbiter::CaseParties parties{buyer->certificate, seller->certificate};

  // Every item must hold, or the measurement means nothing.
  for (const auto& f : checker.CheckAll(items, "claimant", parties, absl::Now())) {
    if (!f.holds()) {
      std::fprintf(stderr, "item %u (%s) does not hold: %s\n", f.item(), f.kind().c_str(), f.problem().c_str());
      return 1;
    }
  }
  // Where the time goes: each item alone.
  for (int i = 0; i < items.size(); ++i) {
    auto t0 = steady_clock::now();
    std::string kind;
    for (int k = 0; k < 50; ++k) kind = checker.Check(items[i], parties, absl::Now()).kind();
    std::printf("  item %d (%s): %.2f ms\n", i, kind.c_str(),
                duration<double, std::milli>(steady_clock::now() - t0).count() / 50);
  }
  auto run = [&](int n, std::vector<double>* lat) {
    for (int i = 0; i < n; ++i) {
      auto t0 = steady_clock::now();
      auto findings = checker.CheckAll(items, "claimant", parties, absl::Now());
      lat->push_back(duration<double, std::milli>(steady_clock::now() - t0).count());
      if (findings.size() != 10 || !findings.back().holds()) std::abort();
    }
  };
  std::vector<double> one;
  run(claims, &one);
  std::sort(one.begin(), one.end());
  std::printf("evidence of one claim (10 items), one at a time: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d claims)\n",
              one[one.size() / 2], one[one.size() * 99 / 100], one.back(), claims);

  std::vector<std::vector<double>> per(threads);
  auto t0 = steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { run(claims / threads, &per[t]); });
  for (auto& t : pool) t.join();
  double elapsed = duration<double>(steady_clock::now() - t0).count();
  std::vector<double> all;
  for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  std::printf("with %d claims checked at once: %.0f claims/s, p50 %.2f ms, p99 %.2f ms\n", threads,
              all.size() / elapsed, all[all.size() / 2], all[all.size() * 99 / 100]);
  return 0;
}
