// The HTTP listener beside each daemon's gRPC port: /healthz, /readyz and /metrics, plus the
// HTTP protocols later daemons serve (RFC 3161, OCSP, CRL). Routes are added before Start().
// Thread-safe after Start().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <httplib.h>
#include <spdlog/logger.h>

#include "absl/status/statusor.h"
#include "common/server/metrics.h"

namespace semper {

class HttpServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;  // 0: any free port
    size_t max_body_bytes = 1 << 20;
    int threads = 32;
  };
  HttpServer(Options options, std::shared_ptr<spdlog::logger> logger, std::shared_ptr<Metrics> metrics,
             std::function<absl::Status()> readiness);
  ~HttpServer();

  void Get(const std::string& path, httplib::Server::Handler handler);
  void Post(const std::string& path, httplib::Server::Handler handler);

  // Binds and serves on a background thread. Returns the bound port.
  absl::StatusOr<int> Start();
  void Stop();
  int port() const { return port_; }

 private:
  const Options options_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<Metrics> metrics_;
  std::function<absl::Status()> readiness_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  int listen_fd_ = -1;
};

}  // namespace semper
