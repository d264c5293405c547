// Request id, access log and per-RPC metrics.
#include "common/server/interceptors.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <chrono>

#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/random.h"
#include "common/server/grpc_status.h"

namespace semper {
namespace {

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

std::string_view CodeName(grpc::StatusCode code) {
  static constexpr std::string_view kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

class ObservingInterceptor final : public grpc::experimental::Interceptor {
 public:
  ObservingInterceptor(grpc::experimental::ServerRpcInfo* info, std::shared_ptr<spdlog::logger> logger,
                       std::shared_ptr<Metrics> metrics, std::shared_ptr<const std::vector<std::string>> served)
      : info_(info),
        logger_(std::move(logger)),
        metrics_(std::move(metrics)),
        served_(std::move(served)),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* md = methods->GetRecvInitialMetadata();
      auto it = md->find(kRequestIdKey);
      if (it != md->end() && ValidRequestId(std::string_view(it->second.data(), it->second.size()))) {
        request_id_.assign(it->second.data(), it->second.size());
      } else {
        if (it != md->end()) md->erase(it);
        request_id_ = RandomId();
        // The map holds references: they point into this interceptor, which lives as long as the call.
        md->emplace(grpc::string_ref(kRequestIdKey), grpc::string_ref(request_id_));
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(kRequestIdKey, request_id_);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED && status.error_message().empty() &&
          Serves(info_->method())) {
        // gRPC's own answer when a served method's request does not decode (our handlers never
        // answer UNIMPLEMENTED without a message): say what happened, as docs/errors.md does.
        status = ToGrpcStatus(MakeError(absl::StatusCode::kInvalidArgument, v1::MALFORMED_INPUT,
                                        StrCat("the request body is not a serialized request message of ",
                                               info_->method(), " (protocol buffers, as in its .proto)"),
                                        {{"method", info_->method()}}));
        methods->ModifySendStatus(status);
      }
      if (status.error_code() == grpc::StatusCode::INTERNAL || status.error_code() == grpc::StatusCode::UNKNOWN) {
        // The detail is for the operator's log, not for the client.
        LogEvent(logger_, spdlog::level::err, "rpc.internal_error")
            .With("request_id", request_id_)
            .With("method", info_->method())
            .With("detail", status.error_message());
        methods->ModifySendStatus(grpc::Status(
            status.error_code(), StrCat("internal error; quote request id ", request_id_, " to the operator"),
            status.error_details()));
      }
      Finish(status.error_code());
    }
    methods->Proceed();
  }

 private:
  // Whether this server serves `method` ("/pkg.Service/Method"): its service is one served here,
  // and the service's .proto (linked in, so in the generated pool) has the method.
  bool Serves(std::string_view method) const {
    if (served_ == nullptr || method.size() < 2 || method[0] != '/') return false;
    const size_t slash = method.find('/', 1);
    if (slash == std::string_view::npos) return false;
    const std::string service(method.substr(1, slash - 1));
    if (std::find(served_->begin(), served_->end(), service) == served_->end()) return false;
    const auto* descriptor = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    return descriptor != nullptr && descriptor->FindMethodByName(std::string(method.substr(slash + 1))) != nullptr;
  }

  void Finish(grpc::StatusCode code) {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::string method = info_->method();
    std::string code_name(CodeName(code));
    metrics_->AddCounter("semper_grpc_requests_total", "gRPC calls handled, by method and status code",
                         {{"method", method}, {"code", code_name}});
    metrics_->Observe("semper_grpc_request_duration_seconds", "gRPC call latency, by method", {{"method", method}},
                      seconds);
    if (code != grpc::StatusCode::OK) {
      metrics_->AddCounter("semper_grpc_errors_total", "gRPC calls that failed, by method and code",
                           {{"method", method}, {"code", code_name}});
    }
    auto* ctx = info_->server_context();
    LogEvent(logger_, code == grpc::StatusCode::OK ? spdlog::level::info : spdlog::level::warn, "rpc")
        .With("request_id", request_id_)
        .With("method", method)
        .With("code", code_name)
        .With("ms", seconds * 1000)
        .With("peer", ctx != nullptr ? ctx->peer() : std::string());
  }

  grpc::experimental::ServerRpcInfo* info_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<Metrics> metrics_;
  std::shared_ptr<const std::vector<std::string>> served_;
  std::chrono::steady_clock::time_point start_;
  std::string request_id_;
};

class ObservingInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  ObservingInterceptorFactory(std::shared_ptr<spdlog::logger> logger, std::shared_ptr<Metrics> metrics,
                              std::shared_ptr<const std::vector<std::string>> served)
      : logger_(std::move(logger)), metrics_(std::move(metrics)), served_(std::move(served)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new ObservingInterceptor(info, logger_, metrics_, served_);  // owned by gRPC
  }

 private:
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<Metrics> metrics_;
  std::shared_ptr<const std::vector<std::string>> served_;
};

}  // namespace

std::string RequestIdOf(const grpc::ServerContextBase& context) {
  const auto& md = context.client_metadata();
  auto it = md.find(kRequestIdKey);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewObservingInterceptorFactory(
    std::shared_ptr<spdlog::logger> logger, std::shared_ptr<Metrics> metrics,
    std::shared_ptr<const std::vector<std::string>> served_services) {
  return std::make_unique<ObservingInterceptorFactory>(std::move(logger), std::move(metrics),
                                                       std::move(served_services));
}

}  // namespace semper
