// Client targets over several replicas.
#include "common/server/client_target.h"

#include <arpa/inet.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper {
namespace {

enum class Family { kNone, kV4, kV6 };

// "1.2.3.4:7010" -> kV4, "[::1]:7010" -> kV6; a host name, or a port that is not 1 to 65535 -> kNone.
Family FamilyOf(std::string_view address) {
  std::string host;
  size_t port_at = 0;
  Family family = Family::kNone;
  if (address.starts_with("[")) {
    const size_t end = address.find("]:");
    if (end == std::string_view::npos) return Family::kNone;
    host = std::string(address.substr(1, end - 1));
    in6_addr a6{};
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return Family::kNone;  // also a scoped "fe80::1%eth0"
    family = Family::kV6;
    port_at = end + 2;
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return Family::kNone;
    host = std::string(address.substr(0, colon));
    in_addr a4{};
    if (inet_pton(AF_INET, host.c_str(), &a4) != 1) return Family::kNone;
    family = Family::kV4;
    port_at = colon + 1;
  }
  const std::string_view port = address.substr(port_at);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) {
    return Family::kNone;
  }
  const int n = std::stoi(std::string(port));
  return n >= 1 && n <= 65535 ? family : Family::kNone;
}

}  // namespace

absl::StatusOr<std::string> ClientTarget(std::string_view text) {
  const absl::string_view addresses = absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size()));
  if (addresses.empty()) return InvalidField("address", "is empty");
  // A gRPC target of its own: a list of IP addresses is checked; a resolver name takes one name.
  std::string_view prefix;
  if (absl::StartsWith(addresses, "ipv4:") || absl::StartsWith(addresses, "ipv6:")) {
    prefix = std::string_view(addresses.data(), 5);
  } else if (addresses.find(":/") != absl::string_view::npos) {
    if (addresses.find(',') != absl::string_view::npos) {
      return InvalidField("address", StrCat("'", std::string(addresses),
                                            "': a resolver's target names one host; list replicas as IP:port,IP:port"));
    }
    return std::string(addresses);
  } else if (addresses.find(',') == absl::string_view::npos) {
    // One host:port, resolved by DNS (every address it has is used).
    const size_t colon = addresses.rfind(':');
    const absl::string_view port = colon == absl::string_view::npos ? "" : addresses.substr(colon + 1);
    const absl::string_view host = colon == absl::string_view::npos ? "" : addresses.substr(0, colon);
    // An IPv6 address takes brackets ("[::1]:7010"); a host name has no spaces.
    const bool bad_host = host.empty() || host.find_first_of(" \t") != absl::string_view::npos ||
                          (host.find(':') != absl::string_view::npos && !absl::StartsWith(host, "["));
    int n = 0;
    if (bad_host || port.empty() || port.size() > 5 || !absl::SimpleAtoi(port, &n) || n < 1 || n > 65535 ||
        port.find_first_not_of("0123456789") != absl::string_view::npos) {
      return InvalidField("address", StrCat("'", std::string(addresses), "' is not host:port (port 1 to 65535)"));
    }
    return std::string(addresses);
  }
  const absl::string_view list = addresses.substr(prefix.size());
  std::vector<std::string> parts;
  Family family = Family::kNone;
  for (absl::string_view piece : absl::StrSplit(list, ',')) {
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
    if ((family != Family::kNone && f != family) || (prefix == "ipv4:" && f != Family::kV4) ||
        (prefix == "ipv6:" && f != Family::kV6)) {
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
