// Per-client rate limits on a daemon's expensive RPCs (signing, issuing, deciding): a token bucket
// per client, refilled at `per_second` up to `burst`. The client is the subscriber serial (or
// subject) of the verified TLS client certificate when one is presented, else the peer's IP
// address; the suite's own daemons (client certificates with the role `service`) are not
// limited. Over the limit a call is refused before any work with RESOURCE_EXHAUSTED, reason
// LIMIT_EXCEEDED, a google.rpc.RetryInfo saying when a call would be admitted, and the same in
// the message. Config: limits.per_second (0: no limit), limits.burst. Thread-safe.
#pragma once

#include <grpcpp/support/server_callback.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/server/grpc_status.h"

namespace semper {

class RateLimiter {
 public:
  struct Options {
    double per_second = 100;  // 0: no limit
    double burst = 200;
    // Load balancers (proxy.trusted_addresses): an anonymous caller connected through one is
    // known by the x-forwarded-for metadata it adds, not by the balancer's address.
    std::vector<std::string> trusted_proxies;
  };
  explicit RateLimiter(
      Options options, std::function<absl::Time()> clock = [] { return absl::Now(); });

  // OK, or the refusal (with the retry hint) for `client` calling `rpc`. A call costs `cost`
  // ordinary calls (at most a burst): calls that burn seconds of CPU cost more.
  absl::Status Admit(const std::string& client, std::string_view rpc, double cost = 1);
  bool enabled() const { return o_.per_second > 0; }
  const std::vector<std::string>& trusted_proxies() const { return o_.trusted_proxies; }

 private:
  struct Bucket {
    double tokens;
    absl::Time last;
  };
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, Bucket> buckets ABSL_GUARDED_BY(mu);
  };
  const Options o_;
  std::function<absl::Time()> clock_;
  Shard shards_[16];
};

// RESOURCE_EXHAUSTED / LIMIT_EXCEEDED carrying a RetryInfo of `retry_after`.
absl::Status RateLimited(std::string_view message, absl::Duration retry_after);
// The RetryInfo of a status, if it has one.
std::optional<absl::Duration> RetryAfterOf(const absl::Status& status);

// Who is calling, for limits: "cert:<subscriber serial or subject>" or "ip:<address>" (the
// address a trusted proxy forwarded, for connections from one).
std::string ClientKey(const grpc::CallbackServerContext& context);

// The daemon's limiter (its Server installs it from its options and owns it; nullptr removes it);
// none: every call admitted.
void InstallRateLimiter(RateLimiter* limiter);
absl::Status AdmitExpensiveCall(const grpc::CallbackServerContext& context, std::string_view rpc, double cost = 1);
// The same for a call that is not gRPC (HTTP), with its client key ("ip:<address>").
absl::Status AdmitExpensiveCall(const std::string& client, std::string_view rpc, double cost = 1);

}  // namespace semper

// First line of an expensive RPC's handler: finishes the call with the refusal when the client
// is over its limit.
#define SEMPER_RATE_LIMIT(ctx, rpc)                                                                  \
  if (absl::Status semper_limited = ::semper::AdmitExpensiveCall(*(ctx), rpc); !semper_limited.ok()) \
  return ::semper::FinishUnary(ctx, semper_limited)
// The same for an RPC that costs `cost` ordinary ones.
#define SEMPER_RATE_LIMIT_COST(ctx, rpc, cost)                                                             \
  if (absl::Status semper_limited = ::semper::AdmitExpensiveCall(*(ctx), rpc, cost); !semper_limited.ok()) \
  return ::semper::FinishUnary(ctx, semper_limited)
