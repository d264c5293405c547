// Random bytes and identifiers.
#include "common/crypto/random.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace semper {

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::fputs("semper: RAND_bytes failed; refusing to continue\n", stderr);
    std::abort();
  }
  return out;
}

std::string RandomId() { return HexEncode(RandomBytes(16)); }

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

}  // namespace semper
