// HTTP/1.1 requests as every daemon's HTTP listener parses them from a connection's bytes: any
// input is incomplete, an error with a status to answer, or a request whose parts are within the
// bytes given; a complete request's body is exactly its Content-Length; answers serialize.
#include <cstdint>
#include <string_view>

#include "common/server/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using semper::http_detail::Parsed;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  Parsed p = semper::http_detail::ParseRequest(in, 4096);
  switch (p.kind) {
    case Parsed::kIncomplete:
      if (!p.head_complete && in.size() > semper::http_detail::kMaxHeadBytes) __builtin_trap();
      break;
    case Parsed::kError:
      if (p.status < 400 || p.status > 599 || p.error.empty()) __builtin_trap();
      break;
    case Parsed::kComplete: {
      if (p.consumed > in.size() || p.request.body.size() > 4096) __builtin_trap();
      if (p.request.path.empty() || p.request.path.front() != '/') __builtin_trap();
      if (in.substr(0, p.consumed).find("\r\n\r\n") == std::string_view::npos) __builtin_trap();
      httplib::Response res;
      res.status = 200;
      res.body = p.request.body;
      for (const auto& [k, v] : p.request.headers) res.headers.emplace(k, v);
      std::string bytes = semper::http_detail::SerializeResponse(res, !p.keep_alive);
      // A header echoed from the request cannot split the response: one blank line, at the end of the head.
      if (bytes.find("\r\n\r\n") + 4 + res.body.size() != bytes.size()) __builtin_trap();
      break;
    }
  }
  return 0;
}
