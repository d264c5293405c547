#include "common/server/client_target.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace semper {
namespace {

using ::testing::HasSubstr;

TEST(ClientTargetTest, OneAddressOrAnyGrpcTargetIsTakenAsIs) {
  EXPECT_EQ(*ClientTarget("127.0.0.1:7010"), "127.0.0.1:7010");
  EXPECT_EQ(*ClientTarget("tsa.example:7010"), "tsa.example:7010");
  EXPECT_EQ(*ClientTarget(" dns:///tsa.example:7010 "), "dns:///tsa.example:7010");
  EXPECT_EQ(*ClientTarget("ipv4:10.0.0.1:1,10.0.0.2:1"), "ipv4:10.0.0.1:1,10.0.0.2:1");
}

TEST(ClientTargetTest, ReplicasByIpAddressBecomeOneTarget) {
  EXPECT_EQ(*ClientTarget("10.0.0.1:7010,10.0.0.2:7010"), "ipv4:10.0.0.1:7010,10.0.0.2:7010");
  EXPECT_EQ(*ClientTarget("10.0.0.1:7010, 10.0.0.2:7011"), "ipv4:10.0.0.1:7010,10.0.0.2:7011");
  EXPECT_EQ(*ClientTarget("[::1]:7010,[fe80::1]:7010"), "ipv6:[::1]:7010,[fe80::1]:7010");
}

TEST(ClientTargetTest, ListsGrpcCannotResolveAreRefusedWithTheWayOut) {
  for (const char* bad : {"tsa1:7010,tsa2:7010",
                          "10.0.0.1:7010,tsa2:7010",
                          "10.0.0.1,10.0.0.2",
                          "10.0.0.1:7010,",
                          "10.0.0.1:7010,[::1]:7010",
                          "[::1:7010,[::2]:1",
                          "127.0.0.1:abc,127.0.0.1:2",
                          "127.0.0.1:1,127.0.0.1:99999",
                          "127.0.0.1:0,127.0.0.1:1",
                          "ipv4:127.0.0.1:1,tsa2:1",
                          "ipv4:[::1]:1",
                          "dns:///a:1,dns:///b:1",
                          "[fe80::1%lo]:1,[::1]:2",
                          "127.0.0.1:99999",
                          "127.0.0.1",
                          "tsa.example:",
                          ":7010",
                          "127.0.0.1:+80",
                          "::1:7010",
                          "a b:7010"}) {
    auto t = ClientTarget(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(std::string(ClientTarget("tsa1:7010,tsa2:7010").status().message()), HasSubstr("dns:///"));
  EXPECT_FALSE(ClientTarget("").ok());
  EXPECT_FALSE(ClientTarget("  ").ok());
}

}  // namespace
}  // namespace semper
