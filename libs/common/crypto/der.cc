// DER encoding of the few types the hot paths assemble.
#include "common/crypto/der.h"

#include <openssl/objects.h>

#include <algorithm>

namespace semper::der {

std::string Tlv(unsigned char tag, std::string_view content) {
  std::string out(1, static_cast<char>(tag));
  size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<char>(n));
  } else {
    std::string len;
    for (; n > 0; n >>= 8) len.insert(len.begin(), static_cast<char>(n & 0xff));
    out.push_back(static_cast<char>(0x80 | len.size()));
    out += len;
  }
  out.append(content);
  return out;
}

std::string Integer(uint64_t value) {
  std::string bytes;
  do {
    bytes.insert(bytes.begin(), static_cast<char>(value & 0xff));
    value >>= 8;
  } while (value > 0);
  if (static_cast<unsigned char>(bytes[0]) & 0x80) bytes.insert(bytes.begin(), '\0');  // stays positive
  return Tlv(kInteger, bytes);
}

std::string Oid(std::string_view dotted) {
  ASN1_OBJECT* obj = OBJ_txt2obj(std::string(dotted).c_str(), 1);
  if (obj == nullptr) return "";
  int len = i2d_ASN1_OBJECT(obj, nullptr);
  std::string out(static_cast<size_t>(std::max(len, 0)), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  i2d_ASN1_OBJECT(obj, &p);
  ASN1_OBJECT_free(obj);
  return out;
}

std::string GeneralizedTime(absl::Time t, int digits) {
  std::string text = absl::FormatTime("%Y%m%d%H%M%S", t, absl::UTCTimeZone());
  if (digits > 0) {
    int64_t micros = absl::ToUnixMicros(t) % 1000000;
    if (micros < 0) micros += 1000000;
    char frac[8];
    std::snprintf(frac, sizeof frac, "%06lld", static_cast<long long>(micros));
    std::string f(frac, static_cast<size_t>(std::min(digits, 6)));
    while (!f.empty() && f.back() == '0') f.pop_back();
    if (!f.empty()) text += "." + f;
  }
  text += "Z";
  return Tlv(kGeneralizedTime, text);
}

namespace {

// Header and content lengths of the TLV at the start of `in`; false if there is none.
bool Measure(std::string_view in, size_t* header, size_t* len) {
  if (in.size() < 2) return false;
  auto first = static_cast<unsigned char>(in[1]);
  *header = 2;
  *len = first;
  if (first & 0x80) {
    size_t n = first & 0x7f;
    if (n == 0 || n > 4 || in.size() < 2 + n) return false;
    *len = 0;
    for (size_t i = 0; i < n; ++i) *len = *len << 8 | static_cast<unsigned char>(in[2 + i]);
    *header += n;
  }
  return in.size() - *header >= *len;
}

}  // namespace

std::string_view Contents(std::string_view tlv) {
  size_t header = 0, len = 0;
  if (!Measure(tlv, &header, &len) || tlv.size() != header + len) return {};
  return tlv.substr(header);
}

std::string_view Next(std::string_view* in) {
  size_t header = 0, len = 0;
  if (!Measure(*in, &header, &len)) return {};
  std::string_view tlv = in->substr(0, header + len);
  in->remove_prefix(header + len);
  return tlv;
}

std::string SetOf(std::vector<std::string> elements) {
  std::sort(elements.begin(), elements.end(), [](const std::string& a, const std::string& b) {
    // Octet-wise, the shorter padded with zeros at its end.
    size_t n = std::max(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
      unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
      unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
      if (x != y) return x < y;
    }
    return false;
  });
  std::string content;
  for (const std::string& e : elements) content += e;
  return Tlv(kSet, content);
}

}  // namespace semper::der
