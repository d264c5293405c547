// cpp-httplib listener with health, readiness and metrics routes and request metrics.
#include "common/server/http_server.h"

#include <sys/socket.h>

#include <set>

#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper {

HttpServer::HttpServer(Options options, std::shared_ptr<spdlog::logger> logger,
                       std::shared_ptr<Metrics> metrics, std::function<absl::Status()> readiness)
    : options_(std::move(options)), logger_(std::move(logger)), metrics_(std::move(metrics)),
      readiness_(std::move(readiness)) {
  server_.set_payload_max_length(options_.max_body_bytes);
  const size_t threads = static_cast<size_t>(std::max(1, options_.threads));
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Headers and body go out in separate writes; without this, Nagle and delayed ACKs add
  // 40 ms to every keep-alive request.
  server_.set_tcp_nodelay(true);
  // httplib closes a keep-alive connection after 5 requests by default, and its listen backlog is
  // 5: under load, reconnecting clients then overflow the backlog and wait a SYN retransmission
  // (1 s). Connections stay open until idle for the keep-alive timeout instead.
  server_.set_keep_alive_max_count(1000000);
  // Our own socket options: SO_REUSEADDR only (httplib's default, SO_REUSEPORT, would let a
  // second process bind the same port and silently share its connections), and the socket kept
  // so that Start() can raise the listen backlog that httplib fixes at 5.
  server_.set_socket_options([this](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd_ = sock;
  });
  server_.set_read_timeout(10, 0);
  server_.set_write_timeout(10, 0);
  server_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server_.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    absl::Status ready = readiness_ ? readiness_() : absl::OkStatus();
    if (ready.ok()) {
      res.set_content("ready\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content(StrCat("not ready: ", ready.message(), "\n"), "text/plain");
    }
  });
  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_->Render(), "text/plain; version=0.0.4");
  });
  server_.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    // Label by route only for the fixed routes, so that random paths cannot explode the series.
    static const std::set<std::string> kKnown = {"/healthz", "/readyz", "/metrics"};
    std::string path = req.matches.empty() && !kKnown.count(req.path) ? "other" : req.path;
    metrics_->AddCounter("semper_http_requests_total", "HTTP requests, by path and status",
                         {{"path", path}, {"status", StrCat(res.status)}});
  });
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& path, httplib::Server::Handler handler) {
  server_.Get(path, std::move(handler));
}

void HttpServer::Post(const std::string& path, httplib::Server::Handler handler) {
  server_.Post(path, std::move(handler));
}

absl::StatusOr<int> HttpServer::Start() {
  if (options_.port == 0) {
    port_ = server_.bind_to_any_port(options_.host);
  } else {
    port_ = server_.bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    return MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                     StrCat("cannot listen for HTTP on ", options_.host, ":", options_.port));
  }
  if (listen_fd_ >= 0) ::listen(listen_fd_, 1024);  // a second listen() only changes the backlog
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  // httplib's stop() does nothing until the listening thread has marked the server running, so a
  // Stop() right after Start() would leave that thread in accept() for ever: wait for it here.
  for (int i = 0; i < 5000 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return port_;
}

void HttpServer::Stop() {
  if (thread_.joinable()) {
    server_.stop();
    thread_.join();
  }
}

}  // namespace semper
