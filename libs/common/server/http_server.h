// The HTTP listener beside each daemon's gRPC port: /healthz, /readyz and /metrics, plus the
// HTTP protocols some daemons serve (RFC 3161, OCSP, CRL). Routes are added before Start().
//
// Our own HTTP/1.1 server (requests with Content-Length bodies, keep-alive, pipelining), built so
// that clients cannot hold it: one event loop reads every connection without blocking, and a
// request reaches a worker thread only once it has fully arrived. A request must arrive whole
// within `request_timeout` of its first byte (slow senders are cut off with 408, whatever their
// pace), an idle connection closes after `idle_timeout`, a response must leave within
// `write_timeout`; at most `max_connections` connections are open, and at most
// `max_connections_per_address` from one client address (more get 503 and are closed).
// Chunked request bodies are refused (501). Request and response types are cpp-httplib's, used as
// plain data. Thread-safe after Start().
#pragma once

#include <httplib.h>
#include <spdlog/logger.h>

#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/server/metrics.h"

namespace semper {

// Which client address a request is from: the TCP peer, or, when the peer is one of `trusted`
// (load balancers that the operator lists), the last address in X-Forwarded-For that is not one of
// them. Addresses are compared as text after parsing (IPv4 dotted, IPv6 canonical).
std::string ClientAddress(const std::string& peer, const std::string& forwarded_for,
                          const std::vector<std::string>& trusted);

// An IP address as canonical text (IPv4 dotted, IPv6 canonical, IPv4-mapped as IPv4); nullopt if
// it is not one.
std::optional<std::string> CanonicalAddress(std::string_view address);

// Parses a comma-separated list of IP addresses (config key proxy.trusted_addresses) into
// canonical text; INVALID_ARGUMENT naming the first that is not one.
absl::StatusOr<std::vector<std::string>> ParseAddressList(std::string_view list);

namespace http_detail {

// One request parsed from the bytes a connection has sent so far (exposed for fuzzing).
struct Parsed {
  enum Kind { kIncomplete, kError, kComplete };
  Kind kind = kIncomplete;
  int status = 0;       // kError: the status to answer with (400, 413, 431, 501, 505)
  std::string error;    // kError: what is wrong, for the client
  size_t consumed = 0;  // kComplete: the request's bytes (the rest is the next request)
  bool head_complete = false;
  bool expect_continue = false;  // the client waits for "100 Continue" before its body
  bool keep_alive = true;
  httplib::Request request;  // kComplete: method, target, path (percent-decoded), version, headers, body
};
inline constexpr size_t kMaxHeadBytes = 16 * 1024;
std::vector<std::string_view> Split(std::string_view s, std::string_view sep);
std::string_view Trim(std::string_view s);  // spaces and tabs
bool IEqualsAscii(std::string_view a, std::string_view b);
Parsed ParseRequest(std::string_view in, size_t max_body_bytes);

// The response's bytes: status line, the handler's headers, Content-Length, Connection.
std::string SerializeResponse(const httplib::Response& res, bool close);

}  // namespace http_detail

class HttpServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;  // 0: any free port
    size_t max_body_bytes = 1 << 20;
    int threads = 32;
    size_t max_connections = 1024;
    size_t max_connections_per_address = 64;
    absl::Duration request_timeout = absl::Seconds(10);
    absl::Duration idle_timeout = absl::Seconds(5);
    absl::Duration write_timeout = absl::Seconds(10);
    std::vector<std::string> trusted_proxies;
  };
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  // Sends the response to one request; callable from any thread, and only the first call counts.
  using Reply = std::function<void(httplib::Response)>;
  // A handler that returns before its answer exists (e.g. once a group commit has decided it):
  // it calls `reply` later, from any thread, so no worker thread waits meanwhile. A request whose
  // every copy of `reply` is dropped uncalled is answered 500; Stop waits for replies owed.
  using AsyncHandler = std::function<void(const httplib::Request&, Reply reply)>;

  HttpServer(Options options, std::shared_ptr<spdlog::logger> logger, std::shared_ptr<Metrics> metrics,
             std::function<absl::Status()> readiness);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `path` is matched whole, as a regular expression when it contains '(' (groups go to
  // Request::matches), against the percent-decoded path without the query.
  void Get(const std::string& path, Handler handler);
  void Post(const std::string& path, Handler handler);
  void PostAsync(const std::string& path, AsyncHandler handler);

  // Binds and serves on background threads. Returns the bound port.
  absl::StatusOr<int> Start();
  // Stops accepting, closes every connection, waits for handlers in progress.
  void Stop();
  int port() const { return port_; }

  struct Loop;  // the event loop's state (http_server.cc)

 private:
  struct Route {
    std::string method;
    std::string path;
    std::optional<std::regex> pattern;
    Handler handler;
    AsyncHandler async;  // instead of handler when set
  };
  void Add(const std::string& method, const std::string& path, Handler handler, AsyncHandler async = nullptr);
  // Runs the route for a complete request (on a worker thread); `done` gets the response, on
  // this thread for an ordinary handler, on whichever thread replies for an asynchronous one.
  void Dispatch(httplib::Request& req, Reply done) const;
  // semper_http_requests_total, labelled by route ("other" for no route or no request).
  void CountRequest(const std::string& path, int status) const;

  const Options options_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<Metrics> metrics_;
  std::function<absl::Status()> readiness_;
  std::vector<Route> routes_;
  std::unique_ptr<Loop> loop_;
  int port_ = 0;
};

}  // namespace semper
