// Token buckets per client.
#include "common/server/rate_limit.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "absl/hash/hash.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/server/http_server.h"
#include "common/server/peer.h"
#include "google/rpc/error_details.pb.h"

namespace semper {
namespace {

constexpr std::string_view kRetryInfoTypeUrl = "type.googleapis.com/google.rpc.RetryInfo";
constexpr size_t kMaxClientsPerShard = 20000;

// Set once when the server starts, before calls arrive; the Server owns it.
std::atomic<RateLimiter*> installed{nullptr};

}  // namespace

RateLimiter::RateLimiter(Options options, std::function<absl::Time()> clock) : o_(options), clock_(std::move(clock)) {}

absl::Status RateLimiter::Admit(const std::string& client, std::string_view rpc, double cost) {
  if (!enabled()) return absl::OkStatus();
  cost = std::clamp(cost, 0.0, o_.burst);
  Shard& shard = shards_[absl::Hash<std::string>()(client) % std::size(shards_)];
  const absl::Time now = clock_();
  double wait_seconds = 0;
  {
    absl::MutexLock lock(&shard.mu);
    if (shard.buckets.size() > kMaxClientsPerShard) {
      // Forget clients whose buckets are full again (idle): they lose nothing.
      absl::erase_if(shard.buckets, [&](const auto& kv) {
        return kv.second.tokens + absl::ToDoubleSeconds(now - kv.second.last) * o_.per_second >= o_.burst;
      });
    }
    auto [it, fresh] = shard.buckets.try_emplace(client, Bucket{o_.burst, now});
    Bucket& b = it->second;
    if (!fresh) {
      b.tokens = std::min(o_.burst, b.tokens + std::max(0.0, absl::ToDoubleSeconds(now - b.last)) * o_.per_second);
      b.last = std::max(b.last, now);
    }
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return absl::OkStatus();
    }
    wait_seconds = (cost - b.tokens) / o_.per_second;
  }
  const absl::Duration retry = absl::Milliseconds(std::ceil(wait_seconds * 1000));
  return RateLimited(StrCat("too many ", rpc, " calls from this client (limit ", o_.per_second, "/s, bursts of ",
                            o_.burst, "); retry in ", absl::ToInt64Milliseconds(retry), " ms"),
                     retry);
}

absl::Status RateLimited(std::string_view message, absl::Duration retry_after) {
  absl::Status s = MakeError(absl::StatusCode::kResourceExhausted, v1::LIMIT_EXCEEDED, message);
  google::rpc::RetryInfo info;
  const int64_t ms = absl::ToInt64Milliseconds(retry_after);
  info.mutable_retry_delay()->set_seconds(ms / 1000);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
  s.SetPayload(AbslView(kRetryInfoTypeUrl), absl::Cord(info.SerializeAsString()));
  return s;
}

std::optional<absl::Duration> RetryAfterOf(const absl::Status& status) {
  auto payload = status.GetPayload(AbslView(kRetryInfoTypeUrl));
  if (!payload.has_value()) return std::nullopt;
  google::rpc::RetryInfo info;
  if (!info.ParseFromString(std::string(*payload))) return std::nullopt;
  return absl::Seconds(info.retry_delay().seconds()) + absl::Nanoseconds(info.retry_delay().nanos());
}

namespace {

std::string KeyOf(const absl::StatusOr<Peer>& peer, const grpc::CallbackServerContext& context) {
  if (peer.ok() && peer->certificate.has_value()) {
    return StrCat("cert:", peer->certificate->SubjectAttribute("serialNumber").value_or(peer->certificate->Subject()));
  }
  // "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555": the address without the port.
  std::string address = context.peer();
  auto colon = address.rfind(':');
  if (colon != std::string::npos && colon > 5) address.resize(colon);
  if (address.starts_with("ipv4:")) address.erase(0, 5);
  if (address.starts_with("ipv6:")) address.erase(0, 5);
  if (address.size() > 2 && address.front() == '[' && address.back() == ']')
    address = address.substr(1, address.size() - 2);
  RateLimiter* limiter = installed.load();
  if (limiter != nullptr && !limiter->trusted_proxies().empty()) {
    if (auto canon = CanonicalAddress(address)) address = *std::move(canon);
    // Every x-forwarded-for entry, in order (a client's own entry first, the balancer's after).
    std::string forwarded;
    auto [begin, end] = context.client_metadata().equal_range("x-forwarded-for");
    for (auto it = begin; it != end; ++it) {
      if (!forwarded.empty()) forwarded += ",";
      forwarded.append(it->second.data(), it->second.size());
    }
    if (!forwarded.empty()) address = ClientAddress(address, forwarded, limiter->trusted_proxies());
  }
  return StrCat("ip:", address);
}

}  // namespace

std::string ClientKey(const grpc::CallbackServerContext& context) { return KeyOf(PeerOf(context), context); }

void InstallRateLimiter(RateLimiter* limiter) { installed.store(limiter); }

absl::Status AdmitExpensiveCall(const grpc::CallbackServerContext& context, std::string_view rpc, double cost) {
  RateLimiter* limiter = installed.load();
  if (limiter == nullptr || !limiter->enabled()) return absl::OkStatus();
  auto peer = PeerOf(context);
  // The suite's own daemons (the notary time-stamping at the TSA, ...) are not limited.
  if (peer.ok() && peer->Has(Role::kService)) return absl::OkStatus();
  return limiter->Admit(KeyOf(peer, context), rpc, cost);
}

absl::Status AdmitExpensiveCall(const std::string& client, std::string_view rpc, double cost) {
  RateLimiter* limiter = installed.load();
  if (limiter == nullptr || !limiter->enabled()) return absl::OkStatus();
  return limiter->Admit(client, rpc, cost);
}

}  // namespace semper
