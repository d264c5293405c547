// Where a client of the suite connects: one address, several replicas, or a DNS name, always
// balanced over every address with gRPC's round_robin. semperctl, the daemons calling each other,
// and the tests use it; clients/python/semper/wallet.py does the same in Python.
#pragma once

#include <grpcpp/support/channel_arguments.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace semper {

// The gRPC target for `addresses`:
//   "127.0.0.1:7010"                     one replica (as is; a host name is resolved by DNS, and
//                                        every address it has is used)
//   "10.0.0.1:7010,10.0.0.2:7010"        several replicas by IP address ("ipv4:..." / "ipv6:...")
//   "dns:///tsa.example:7010", "ipv4:…"  any gRPC target, as is
// A list of host names is refused (INVALID_ARGUMENT): gRPC resolves one name, so give the
// replicas one DNS name with a record each, or their IP addresses.
absl::StatusOr<std::string> ClientTarget(std::string_view addresses);

// round_robin over every address the target resolves to (gRPC's default, pick_first, sends every
// call to the first replica until it fails), set on `args`.
void SetRoundRobin(grpc::ChannelArguments& args);

}  // namespace semper
