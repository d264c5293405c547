// Client targets over several replicas.
#include "common/server/client_target.h"

#include <arpa/inet.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper {
namespace {

enum class Family { kNone, kV4, kV6 };

// "1.2.3.4:7010" -> kV4, "[::1]:7010" -> kV6, a host name -> kNone.
Family FamilyOf(std::string_view address) {
  std::string host;
  if (address.starts_with("[")) {
    const size_t end = address.find("]:");
    if (end == std::string_view::npos) return Family::kNone;
    host = std::string(address.substr(1, end - 1));
    in6_addr a6{};
    return inet_pton(AF_INET6, host.c_str(), &a6) == 1 ? Family::kV6 : Family::kNone;
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == address.size()) return Family::kNone;
  host = std::string(address.substr(0, colon));
  in_addr a4{};
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 ? Family::kV4 : Family::kNone;
}

}  // namespace

absl::StatusOr<std::string> ClientTarget(std::string_view text) {
  const absl::string_view addresses = absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size()));
  if (addresses.empty()) return InvalidField("address", "is empty");
  if (addresses.find(',') == absl::string_view::npos) return std::string(addresses);
  if (addresses.find(":/") != absl::string_view::npos || absl::StartsWith(addresses, "ipv4:") ||
      absl::StartsWith(addresses, "ipv6:")) {
    return std::string(addresses);  // a gRPC target already
  }
  std::vector<std::string> parts;
  Family family = Family::kNone;
  for (absl::string_view piece : absl::StrSplit(addresses, ',')) {
    const absl::string_view stripped = absl::StripAsciiWhitespace(piece);
    const std::string_view part(stripped.data(), stripped.size());
    const Family f = FamilyOf(part);
    if (f == Family::kNone) {
      return InvalidField("address",
                          StrCat("'", part,
                                 "' in a list of replicas is not IP:port; a list takes IP addresses only (for host "
                                 "names, give one DNS name with an address record per replica, e.g. "
                                 "dns:///semper-tsa:7010)"));
    }
    if (family != Family::kNone && f != family) {
      return InvalidField("address", "a list of replicas mixes IPv4 and IPv6 addresses");
    }
    family = f;
    parts.emplace_back(part);
  }
  return StrCat(family == Family::kV4 ? "ipv4:" : "ipv6:", absl::StrJoin(parts, ","));
}

void SetRoundRobin(grpc::ChannelArguments& args) {
  args.SetServiceConfigJSON(R"({"loadBalancingConfig": [{"round_robin": {}}]})");
}

}  // namespace semper
