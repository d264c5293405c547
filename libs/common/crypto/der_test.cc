// The DER writer against OpenSSL's parsers and X.690's rules.
#include "common/crypto/der.h"

#include <gtest/gtest.h>
#include <openssl/asn1.h>

namespace semper::der {
namespace {

uint64_t ParsedInteger(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ASN1_INTEGER* i = d2i_ASN1_INTEGER(nullptr, &p, static_cast<long>(der.size()));
  EXPECT_NE(i, nullptr);
  uint64_t v = 0;
  EXPECT_EQ(ASN1_INTEGER_get_uint64(&v, i), 1);
  ASN1_INTEGER_free(i);
  return v;
}

TEST(DerTest, IntegersAreMinimalAndPositive) {
  EXPECT_EQ(Integer(0), std::string("\x02\x01\x00", 3));
  EXPECT_EQ(Integer(127), std::string("\x02\x01\x7f", 3));
  EXPECT_EQ(Integer(128), std::string("\x02\x02\x00\x80", 4));
  for (uint64_t v :
       {uint64_t{1}, uint64_t{255}, uint64_t{256}, uint64_t{1} << 24, (uint64_t{1} << 63) + 5, ~uint64_t{0}}) {
    EXPECT_EQ(ParsedInteger(Integer(v)), v);
  }
}

TEST(DerTest, LengthsAndWalking) {
  std::string big(300, 'x');
  std::string tlv = Tlv(kOctetString, big);
  EXPECT_EQ(tlv.substr(0, 4), std::string("\x04\x82\x01\x2c", 4));
  EXPECT_EQ(Contents(tlv), big);
  EXPECT_TRUE(Contents(tlv + "x").empty());
  EXPECT_TRUE(Contents(tlv.substr(0, 100)).empty());
  std::string two = Integer(1) + tlv;
  std::string_view in = two;
  EXPECT_EQ(Next(&in), Integer(1));
  EXPECT_EQ(Next(&in), tlv);
  EXPECT_TRUE(in.empty());
  EXPECT_TRUE(Next(&in).empty());
  std::string_view cut = std::string_view(tlv).substr(0, 10);
  EXPECT_TRUE(Next(&cut).empty());
}

TEST(DerTest, GeneralizedTimeDropsTrailingZeros) {
  absl::Time t = absl::FromUnixMicros(1795482123120000);  // 2026-11-24 01:02:03.12 UTC
  EXPECT_EQ(Contents(GeneralizedTime(t, 3)), "20261124010203.12Z");
  EXPECT_EQ(Contents(GeneralizedTime(t, 1)), "20261124010203.1Z");
  EXPECT_EQ(Contents(GeneralizedTime(t, 0)), "20261124010203Z");
  EXPECT_EQ(Contents(GeneralizedTime(absl::FromUnixSeconds(1795482123), 6)), "20261124010203Z");
  std::string der = GeneralizedTime(t, 3);
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ASN1_GENERALIZEDTIME* parsed = d2i_ASN1_GENERALIZEDTIME(nullptr, &p, static_cast<long>(der.size()));
  ASSERT_NE(parsed, nullptr);
  EXPECT_EQ(ASN1_GENERALIZEDTIME_check(parsed), 1);
  ASN1_GENERALIZEDTIME_free(parsed);
}

TEST(DerTest, SetOfSortsAsX690Says) {
  std::string a = Integer(5), b = Integer(3), c = Tlv(kOctetString, "");
  EXPECT_EQ(SetOf({a, b, c}), Tlv(kSet, b + a + c));
  // Octet by octet, not by length: a longer encoding can come first.
  std::string longer = Tlv(kOctetString, "\x01\x01"), shorter = Tlv(kOctetString, "\x09");
  EXPECT_EQ(Contents(SetOf({shorter, longer})), shorter + longer);
  std::string low = Tlv(kOctetString, std::string(200, '\x01')), high = Tlv(kOctetString, "\x02");
  EXPECT_EQ(Contents(SetOf({low, high})), high + low);  // 04 01 .. before 04 81 c8 ..
  EXPECT_EQ(Oid("2.5.4.3"), std::string("\x06\x03\x55\x04\x03", 5));
  EXPECT_TRUE(Oid("not an oid").empty());
}

}  // namespace
}  // namespace semper::der
