// Per-client rate limits on the expensive RPCs (limits.per_second, limits.burst): a client over
// its limit gets RESOURCE_EXHAUSTED with reason LIMIT_EXCEEDED and a google.rpc.RetryInfo, and is
// admitted again after that delay; another client is not affected. Plus the token bucket itself
// with a controlled clock.
#include "common/server/rate_limit.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "common/base/secret.h"
#include "common/crypto/digest.h"
#include "common/crypto/keys.h"
#include "common/crypto/timestamp.h"
#include "common/server/grpc_status.h"
#include "semper/v1/tsa.grpc.pb.h"
#include "tests/support/postgres.h"
#include "tests/support/status_matchers.h"
#include "tests/support/suite.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::semper::testing::Slurp;
using ::semper::testing::StatusIs;
using ::semper::testing::Suite;
using ::semper::testing::TempDir;
using ::testing::HasSubstr;

TEST(RateLimiterTest, BurstThenRefillPerClient) {
  absl::Time now = absl::FromUnixSeconds(1800000000);
  RateLimiter limiter({.per_second = 2, .burst = 3}, [&] { return now; });
  for (int i = 0; i < 3; ++i) EXPECT_THAT(limiter.Admit("ip:a", "Stamp"), IsOk()) << i;
  absl::Status refused = limiter.Admit("ip:a", "Stamp");
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted, v1::LIMIT_EXCEEDED));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("retry in 500 ms"));
  ASSERT_TRUE(RetryAfterOf(refused).has_value());
  EXPECT_EQ(*RetryAfterOf(refused), absl::Milliseconds(500));
  EXPECT_THAT(limiter.Admit("ip:b", "Stamp"), IsOk());  // another client has its own bucket
  now += absl::Milliseconds(499);
  EXPECT_FALSE(limiter.Admit("ip:a", "Stamp").ok());
  now += absl::Milliseconds(1);
  EXPECT_THAT(limiter.Admit("ip:a", "Stamp"), IsOk());
  now += absl::Hours(1);  // never more than the burst
  for (int i = 0; i < 3; ++i) EXPECT_THAT(limiter.Admit("ip:a", "Stamp"), IsOk()) << i;
  EXPECT_FALSE(limiter.Admit("ip:a", "Stamp").ok());
  RateLimiter off({.per_second = 0, .burst = 1});
  for (int i = 0; i < 1000; ++i) ASSERT_THAT(off.Admit("ip:a", "Stamp"), IsOk());
}

TEST(RateLimiterTest, CallsThatBurnCpuCostMore) {
  absl::Time now = absl::FromUnixSeconds(1800000000);
  RateLimiter limiter({.per_second = 100, .burst = 200}, [&] { return now; });
  EXPECT_THAT(limiter.Admit("ip:a", "CreateTokenKind", 100), IsOk());
  EXPECT_THAT(limiter.Admit("ip:a", "CreateTokenKind", 100), IsOk());
  absl::Status refused = limiter.Admit("ip:a", "CreateTokenKind", 100);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted, v1::LIMIT_EXCEEDED));
  EXPECT_EQ(*RetryAfterOf(refused), absl::Seconds(1));
  // Ordinary calls are still admitted as they refill.
  now += absl::Milliseconds(10);
  EXPECT_THAT(limiter.Admit("ip:a", "Stamp"), IsOk());
  // A cost above the burst costs the burst (it can be admitted at all).
  now += absl::Hours(1);
  EXPECT_THAT(limiter.Admit("ip:a", "Huge", 1e9), IsOk());
  EXPECT_FALSE(limiter.Admit("ip:a", "Stamp").ok());
}

class RateLimitTest : public ::semper::testing::PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    Suite::Options o = Suite::Options::Only({"tsa"}, conninfo());
    o.common_env = {"SEMPER_LIMITS_PER_SECOND=4", "SEMPER_LIMITS_BURST=8"};
    o.common_env.insert(o.common_env.end(), extra_env_.begin(), extra_env_.end());
    auto suite = Suite::Start(&dir_, o);
    ASSERT_THAT(suite.status(), IsOk());
    suite_ = *std::move(suite);
  }
  // A stamp as an anonymous client; `forwarded_for`: the x-forwarded-for a load balancer adds.
  static absl::Status Stamp(v1::TimeStamp::Stub& tsa, const std::string& forwarded_for = "") {
    v1::StampRequest req;
    req.set_request(*MakeTimeStampRequest(HashAlgorithm::kSha256, Sha256("rate limit test")));
    v1::StampResponse resp;
    grpc::ClientContext ctx;
    if (!forwarded_for.empty()) ctx.AddMetadata("x-forwarded-for", forwarded_for);
    return FromGrpcStatus(tsa.Stamp(&ctx, req, &resp));
  }
  std::vector<std::string> extra_env_;
  TempDir dir_;
  std::unique_ptr<Suite> suite_;
};

TEST_F(RateLimitTest, AClientOverItsLimitIsToldWhenToComeBackAndOthersAreNotHeldUp) {
  auto anonymous = v1::TimeStamp::NewStub(suite_->Channel("tsa"));
  int admitted = 0;
  absl::Status refused;
  for (int i = 0; i < 30 && refused.ok(); ++i) {
    absl::Status s = Stamp(*anonymous);
    if (s.ok()) {
      ++admitted;
    } else {
      refused = s;
    }
  }
  EXPECT_GE(admitted, 8);   // the burst
  EXPECT_LE(admitted, 12);  // plus what refilled meanwhile
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted, v1::LIMIT_EXCEEDED));
  // A client that writes x-forwarded-for itself (no proxy is trusted here) is still itself.
  EXPECT_THAT(Stamp(*anonymous, "203.0.113.77"), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("retry in"));
  auto retry = RetryAfterOf(refused);
  ASSERT_TRUE(retry.has_value()) << "no google.rpc.RetryInfo in the status details";
  EXPECT_GT(*retry, absl::ZeroDuration());
  EXPECT_LE(*retry, absl::Milliseconds(250));

  // A subscriber (its own certificate: its own bucket) is served meanwhile.
  auto sub = suite_->Enroll("Rita Rate", v1::CUSTOMER_KIND_INDIVIDUAL);
  ASSERT_THAT(sub.status(), IsOk());
  auto as_subscriber = v1::TimeStamp::NewStub(suite_->ChannelAs("tsa", *sub));
  EXPECT_THAT(Stamp(*as_subscriber), IsOk());
  // Cheap RPCs are not limited.
  v1::GetTsaCertificatesResponse certs;
  grpc::ClientContext ctx;
  EXPECT_TRUE(anonymous->GetTsaCertificates(&ctx, {}, &certs).ok());

  // The suite's own daemons (role service: semper-notary time-stamps its statements here) are
  // not limited.
  {
    auto key =
        PrivateKey::FromPem(Slurp(suite_->P("pki/services/notary-tls.key")), SecretData("suite test passphrase"));
    ASSERT_THAT(key.status(), IsOk());
    auto as_service = v1::TimeStamp::NewStub(suite_->ChannelWith("tsa", Slurp(suite_->P("pki/services/notary-tls.pem")),
                                                                 std::string(key->ToUnencryptedPemSecret().Reveal())));
    for (int i = 0; i < 30; ++i) ASSERT_THAT(Stamp(*as_service), IsOk()) << i;
  }

  // After the hint, the first client is admitted again.
  absl::SleepFor(*retry + absl::Milliseconds(20));
  EXPECT_THAT(Stamp(*anonymous), IsOk());
}

class RateLimitBehindAProxyTest : public RateLimitTest {
 protected:
  void SetUp() override {
    extra_env_ = {"SEMPER_PROXY_TRUSTED_ADDRESSES=127.0.0.1"};
    RateLimitTest::SetUp();
  }
};

// Behind the load balancer the README recommends, anonymous clients are told apart by the
// address the balancer forwards: one client over its limit does not hold up the others.
TEST_F(RateLimitBehindAProxyTest, AnonymousClientsBehindTheBalancerHaveTheirOwnLimits) {
  auto tsa = v1::TimeStamp::NewStub(suite_->Channel("tsa"));
  absl::Status refused;
  for (int i = 0; i < 30 && refused.ok(); ++i) refused = Stamp(*tsa, "203.0.113.1");
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted, v1::LIMIT_EXCEEDED));
  EXPECT_THAT(Stamp(*tsa, "203.0.113.2"), IsOk());
  // The client's own claim before the balancer's hop is not believed: still 203.0.113.1.
  EXPECT_THAT(Stamp(*tsa, "198.51.100.5, 203.0.113.1"), StatusIs(absl::StatusCode::kResourceExhausted));
}

}  // namespace
}  // namespace semper
