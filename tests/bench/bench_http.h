// The load generators' HTTP/1.1 client: one blocking keep-alive connection that sends each request
// in one write (request line, headers and a small body together, as curl and most clients do) and
// reads the answer by its Content-Length. cpp-httplib's client writes the head and the body
// separately and polls before every read: on a 2-core machine it took a fifth of both cores under
// load and made the server see every request in two pieces, which measures the client, not the
// daemon. Benchmarks only: no TLS, no chunked answers, no redirects.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace semper::bench {

class HttpClient {
 public:
  struct Response {
    int status = 0;
    std::string body;
  };

  HttpClient(std::string host, int port) : host_(std::move(host)), port_(port) {}
  ~HttpClient() { Disconnect(); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body`; nullopt when the connection failed (the next call reconnects).
  std::optional<Response> Post(std::string_view path, std::string_view body, std::string_view content_type) {
    if (fd_ < 0 && !Connect()) return std::nullopt;
    std::string out;
    out.reserve(128 + body.size());
    out.append("POST ").append(path).append(" HTTP/1.1\r\nHost: ").append(host_);
    out.append("\r\nContent-Type: ").append(content_type);
    out.append("\r\nContent-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);
    if (!SendAll(out)) return Broken();
    // The head, then the body by its Content-Length.
    size_t head_end;
    while ((head_end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (!Receive()) return Broken();
    }
    Response r;
    if (in_.size() < 12 || in_.compare(0, 5, "HTTP/") != 0) return Broken();
    r.status = std::atoi(in_.c_str() + 9);
    size_t length = 0;
    const std::string_view head(in_.data(), head_end);
    for (size_t at = head.find("\r\n"); at != std::string_view::npos; at = head.find("\r\n", at + 2)) {
      std::string_view line = head.substr(at + 2, head.find("\r\n", at + 2) - (at + 2));
      if (line.size() > 15 && strncasecmp(line.data(), "Content-Length:", 15) == 0) {
        length = std::strtoul(std::string(line.substr(15)).c_str(), nullptr, 10);
      }
    }
    const size_t total = head_end + 4 + length;
    while (in_.size() < total) {
      if (!Receive()) return Broken();
    }
    r.body = in_.substr(head_end + 4, length);
    in_.erase(0, total);
    return r;
  }

 private:
  bool Connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    int yes = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    if (inet_pton(AF_INET, host_.c_str(), &a.sin_addr) != 1 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      Disconnect();
      return false;
    }
    return true;
  }
  void Disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    in_.clear();
  }
  std::nullopt_t Broken() {
    Disconnect();
    return std::nullopt;
  }
  bool SendAll(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool Receive() {
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }

  std::string host_;
  int port_;
  int fd_ = -1;
  std::string in_;
};

}  // namespace semper::bench
