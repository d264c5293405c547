// The HTTP/1.1 listener (see http_server.h): one epoll loop for every connection's bytes, worker
// threads for complete requests only.
#include "common/server/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"

namespace semper {
namespace http_detail {

std::vector<std::string_view> Split(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const size_t at = s.find(sep);
    if (at == std::string_view::npos) {
      out.push_back(s);
      return out;
    }
    out.push_back(s.substr(0, at));
    s.remove_prefix(at + sep.size());
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IEqualsAscii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

namespace {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

Parsed Error(int status, std::string message) {
  Parsed p;
  p.kind = Parsed::kError;
  p.status = status;
  p.error = std::move(message);
  p.keep_alive = false;
  return p;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return std::nullopt;
    out.push_back(c);
    i += 2;
  }
  return out;
}

bool HasToken(std::string_view value, std::string_view token) {
  for (std::string_view part : Split(value, ",")) {
    if (IEqualsAscii(Trim(part), token)) return true;
  }
  return false;
}

}  // namespace

Parsed ParseRequest(std::string_view in, size_t max_body_bytes) {
  const size_t end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (in.size() > kMaxHeadBytes) return Error(431, "the request line and headers exceed 16 KiB");
    return Parsed();
  }
  if (end + 4 > kMaxHeadBytes) return Error(431, "the request line and headers exceed 16 KiB");
  const std::string_view head = in.substr(0, end);
  if (head.find('\0') != std::string_view::npos) return Error(400, "a NUL byte in the request head");
  std::vector<std::string_view> lines = Split(head, "\r\n");
  for (std::string_view line : lines) {
    if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos) {
      return Error(400, "lines of the request head must end with CRLF");
    }
  }
  Parsed p;
  httplib::Request& req = p.request;
  // Request line: method SP target SP version.
  std::vector<std::string_view> parts = Split(lines[0], " ");
  if (parts.size() != 3 || parts[0].empty() || parts[0].size() > 16 || parts[1].empty()) {
    return Error(400, "the request line must be: METHOD target HTTP/1.1");
  }
  for (char c : parts[0]) {
    if (!IsTokenChar(c)) return Error(400, "the method is not a token");
  }
  if (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0") {
    if (parts[2].starts_with("HTTP/")) return Error(505, "only HTTP/1.1 and HTTP/1.0 are served");
    return Error(400, "the request line must end with HTTP/1.1");
  }
  const std::string_view target = parts[1];
  if (target.front() != '/' || target.size() > 8192) return Error(400, "the target must be a path of at most 8 KiB");
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return Error(400, "the target has a control character");
  }
  req.method = std::string(parts[0]);
  req.target = std::string(target);
  req.version = std::string(parts[2]);
  auto path = PercentDecode(target.substr(0, target.find('?')));
  if (!path.has_value()) return Error(400, "the path has a bad percent-escape");
  req.path = *std::move(path);
  p.keep_alive = req.version == "HTTP/1.1";
  // Headers.
  if (lines.size() > 101) return Error(431, "more than 100 headers");
  std::optional<uint64_t> length;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return Error(400, "a header line without a name");
    std::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (!IsTokenChar(c)) return Error(400, "a header name is not a token (folded or spaced headers are refused)");
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) return Error(400, "a header value has a control character");
    }
    if (IEqualsAscii(name, "Transfer-Encoding")) {
      return Error(501, "chunked or otherwise encoded request bodies are not accepted: send Content-Length");
    }
    if (IEqualsAscii(name, "Content-Length")) {
      uint64_t n = 0;
      if (value.empty() || value.size() > 18 || value.find_first_not_of("0123456789") != std::string_view::npos) {
        return Error(400, "Content-Length is not a number");
      }
      for (char c : value) n = n * 10 + static_cast<uint64_t>(c - '0');
      if (length.has_value() && *length != n) return Error(400, "two different Content-Length headers");
      length = n;
    }
    if (IEqualsAscii(name, "Connection")) {
      if (HasToken(value, "close")) p.keep_alive = false;
      if (HasToken(value, "keep-alive")) p.keep_alive = true;
    }
    if (IEqualsAscii(name, "Expect")) {
      if (!IEqualsAscii(value, "100-continue")) return Error(417, "only Expect: 100-continue is understood");
      p.expect_continue = true;
    }
    req.headers.emplace(std::string(name), std::string(value));
  }
  const uint64_t body = length.value_or(0);
  if (body > max_body_bytes) return Error(413, StrCat("the body exceeds ", max_body_bytes, " bytes"));
  p.head_complete = true;
  const size_t total = end + 4 + static_cast<size_t>(body);
  if (in.size() < total) {
    p.kind = Parsed::kIncomplete;
    req = httplib::Request();
    return p;
  }
  req.body = std::string(in.substr(end + 4, static_cast<size_t>(body)));
  p.kind = Parsed::kComplete;
  p.consumed = total;
  return p;
}

std::string SerializeResponse(const httplib::Response& res, bool close) {
  const int status = res.status <= 0 ? 200 : res.status;
  std::string_view reason = "Unknown";
  switch (status) {
    case 100:
      reason = "Continue";
      break;
    case 200:
      reason = "OK";
      break;
    case 204:
      reason = "No Content";
      break;
    case 400:
      reason = "Bad Request";
      break;
    case 404:
      reason = "Not Found";
      break;
    case 405:
      reason = "Method Not Allowed";
      break;
    case 408:
      reason = "Request Timeout";
      break;
    case 413:
      reason = "Content Too Large";
      break;
    case 415:
      reason = "Unsupported Media Type";
      break;
    case 417:
      reason = "Expectation Failed";
      break;
    case 429:
      reason = "Too Many Requests";
      break;
    case 431:
      reason = "Request Header Fields Too Large";
      break;
    case 500:
      reason = "Internal Server Error";
      break;
    case 501:
      reason = "Not Implemented";
      break;
    case 503:
      reason = "Service Unavailable";
      break;
    case 505:
      reason = "HTTP Version Not Supported";
      break;
    default:
      break;
  }
  std::string out = StrCat("HTTP/1.1 ", status, " ", reason, "\r\n");
  for (const auto& [name, value] : res.headers) {
    if (IEqualsAscii(name, "Content-Length") || IEqualsAscii(name, "Connection")) continue;
    // A handler's header must not split the response.
    if (name.find_first_of("\r\n:") != std::string::npos || value.find_first_of("\r\n") != std::string::npos) continue;
    out += StrCat(name, ": ", value, "\r\n");
  }
  out += StrCat("Content-Length: ", res.body.size(), "\r\n", close ? "Connection: close\r\n" : "", "\r\n");
  out += res.body;
  return out;
}

}  // namespace http_detail

std::optional<std::string> CanonicalAddress(std::string_view address) {
  const std::string text(http_detail::Trim(address));
  unsigned char buf[sizeof(in6_addr)];
  char canon[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    inet_ntop(AF_INET, buf, canon, sizeof canon);
  } else if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    // An IPv4 client of a dual-stack listener is ::ffff:a.b.c.d: the same client as a.b.c.d.
    if (IN6_IS_ADDR_V4MAPPED(reinterpret_cast<in6_addr*>(buf))) {
      inet_ntop(AF_INET, buf + 12, canon, sizeof canon);
    } else {
      inet_ntop(AF_INET6, buf, canon, sizeof canon);
    }
  } else {
    return std::nullopt;
  }
  return std::string(canon);
}

absl::StatusOr<std::vector<std::string>> ParseAddressList(std::string_view list) {
  std::vector<std::string> out;
  for (std::string_view part : http_detail::Split(list, ",")) {
    part = http_detail::Trim(part);
    if (part.empty()) continue;
    auto canon = CanonicalAddress(part);
    if (!canon.has_value()) {
      return InvalidField("proxy.trusted_addresses", StrCat("\"", part, "\" is not an IP address"));
    }
    out.push_back(*std::move(canon));
  }
  return out;
}

std::string ClientAddress(const std::string& peer, const std::string& forwarded_for,
                          const std::vector<std::string>& trusted) {
  auto is_trusted = [&trusted](const std::string& a) {
    return std::find(trusted.begin(), trusted.end(), a) != trusted.end();
  };
  if (forwarded_for.empty() || !is_trusted(peer)) return peer;
  // (`peer` is canonical: see Accept and KeyOf.)
  std::vector<std::string_view> hops = http_detail::Split(forwarded_for, ",");
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    auto canon = CanonicalAddress(*it);
    // Not an address: the hops before it are whatever the client wrote; stop at the last proxy's word.
    if (!canon.has_value()) return peer;
    if (!is_trusted(*canon)) return *canon;
  }
  return peer;
}

namespace {

struct Conn {
  int fd = -1;
  uint64_t id = 0;
  std::string address;  // the TCP peer, canonical text
  int port = 0;
  std::string in;
  std::string out;
  size_t out_off = 0;
  enum State { kReading, kHandling, kWriting } state = kReading;
  absl::Time deadline;
  bool request_started = false;
  bool continue_sent = false;
  bool close_after = false;
  // The client went away while a worker had its request: the connection's slots stay taken
  // until the worker is done (so that requests abandoned at once cannot pile up work).
  bool orphaned = false;
};

struct Done {
  int fd;
  uint64_t id;
  std::string bytes;
  bool close;
};

void SendBestEffort(int fd, std::string_view bytes) {
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

struct HttpServer::Loop {
  HttpServer* server = nullptr;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  std::thread thread;
  std::vector<std::thread> workers;

  absl::Mutex mu;
  std::deque<std::function<void()>> tasks ABSL_GUARDED_BY(mu);
  std::deque<Done> done ABSL_GUARDED_BY(mu);
  size_t owed ABSL_GUARDED_BY(mu) = 0;  // requests handed to workers and not yet answered
  bool stopping ABSL_GUARDED_BY(mu) = false;

  // The loop thread's own.
  uint64_t next_id = 1;
  absl::Time accept_paused_until = absl::InfinitePast();
  // Descriptors closed while handling one batch of events: later events of the batch for the
  // same number belong to the closed connection, not to one accepted since.
  std::vector<int> closed_in_batch;
  absl::flat_hash_map<int, std::unique_ptr<Conn>> conns;
  absl::flat_hash_map<std::string, size_t> per_address;

  ~Loop() {
    for (int fd : {listen_fd, epoll_fd, wake_fd}) {
      if (fd >= 0) ::close(fd);
    }
  }

  void Wake() {
    uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
  }

  // Connections are watched one event at a time (EPOLLONESHOT): an event disarms its connection
  // until this re-arms it, so a request being handled costs no epoll_ctl to silence it.
  void Watch(Conn& c, uint32_t events) {
    epoll_event ev{};
    ev.events = events | EPOLLONESHOT;
    ev.data.fd = c.fd;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void Close(Conn& c) {
    if (c.state == Conn::kHandling && !c.orphaned) {
      // Keep the slot (and the descriptor, so its number is not reused) until the worker is done.
      c.orphaned = true;
      epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
      ::shutdown(c.fd, SHUT_RDWR);
      return;
    }
    if (!c.orphaned) epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
    closed_in_batch.push_back(c.fd);
    ::close(c.fd);
    auto it = per_address.find(c.address);
    if (it != per_address.end() && --it->second == 0) per_address.erase(it);
    conns.erase(c.fd);  // destroys c
  }

  void Refuse(int fd, std::string_view why) {
    httplib::Response res;
    res.status = 503;
    res.set_content(StrCat(why, "\n"), "text/plain");
    SendBestEffort(fd, http_detail::SerializeResponse(res, true));
    ::close(fd);
    server->metrics_->AddCounter("semper_http_connections_refused_total",
                                 "HTTP connections closed at once: too many open, in all or from one address",
                                 {{"why", std::string(why).substr(0, why.find(':'))}});
  }

  void Accept() {
    const auto& o = server->options_;
    for (;;) {
      sockaddr_storage sa{};
      socklen_t len = sizeof sa;
      int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: the listening socket stays readable, so stop watching it for a
          // moment instead of spinning (the backlog waits).
          epoll_event ev{};
          ev.data.fd = listen_fd;
          epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &ev);
          accept_paused_until = absl::Now() + absl::Milliseconds(100);
          server->metrics_->AddCounter("semper_http_accept_paused_total",
                                       "times the HTTP listener ran out of file descriptors", {});
        }
        return;  // EAGAIN, or an error for this connection only
      }
      char text[INET6_ADDRSTRLEN] = {};
      int port = 0;
      if (sa.ss_family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&sa);
        inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
        port = ntohs(a->sin_port);
      } else if (sa.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&sa);
        inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
        port = ntohs(a->sin6_port);
      }
      std::string address = text;
      if (auto canon = CanonicalAddress(address)) address = *std::move(canon);
      const bool proxy =
          std::find(o.trusted_proxies.begin(), o.trusted_proxies.end(), address) != o.trusted_proxies.end();
      if (conns.size() >= o.max_connections) {
        Refuse(fd, "connections: this server has as many open as it takes; try again later");
        continue;
      }
      if (!proxy && per_address[address] >= o.max_connections_per_address) {
        Refuse(fd, "address: too many connections from your address; reuse one (keep-alive) or close some");
        if (per_address[address] == 0) per_address.erase(address);
        continue;
      }
      int yes = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      c->id = next_id++;
      c->address = address;
      c->port = port;
      c->deadline = absl::Now() + o.idle_timeout;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLONESHOT;
      ev.data.fd = fd;
      if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ::close(fd);
        continue;
      }
      ++per_address[address];
      conns[fd] = std::move(c);
    }
  }

  // Answers with an error and closes once it is sent.
  void Fail(Conn& c, int status, const std::string& message) {
    httplib::Response res;
    res.status = status;
    res.set_content(StrCat(message, "\n"), "text/plain");
    server->CountRequest("other", status);
    Respond(c, http_detail::SerializeResponse(res, true), true);
  }

  void Respond(Conn& c, std::string bytes, bool close) {
    c.out = std::move(bytes);
    c.out_off = 0;
    c.close_after = close;
    c.state = Conn::kWriting;
    c.deadline = absl::Now() + server->options_.write_timeout;
    Write(c);
  }

  void Write(Conn& c) {
    while (c.out_off < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        Watch(c, EPOLLOUT);
        return;
      }
      if (n <= 0) {
        Close(c);
        return;
      }
      c.out_off += static_cast<size_t>(n);
    }
    if (c.close_after) {
      Close(c);
      return;
    }
    c.out.clear();
    c.out_off = 0;
    c.state = Conn::kReading;
    c.continue_sent = false;
    c.request_started = !c.in.empty();
    c.deadline = absl::Now() + (c.request_started ? server->options_.request_timeout : server->options_.idle_timeout);
    Watch(c, EPOLLIN);
    if (!c.in.empty()) Parse(c);  // a pipelined request
  }

  void Read(Conn& c) {
    char buf[16384];
    bool got = false;
    for (;;) {
      ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      // The client closed its side: what it sent before is still answered (the end is read
      // again, and the connection closed, once nothing is left to handle).
      if (n == 0 && got) break;
      if (n <= 0) {
        Close(c);
        return;
      }
      got = true;
      if (!c.request_started) {
        c.request_started = true;
        c.deadline = absl::Now() + server->options_.request_timeout;
      }
      c.in.append(buf, static_cast<size_t>(n));
      if (c.in.size() > http_detail::kMaxHeadBytes + server->options_.max_body_bytes) break;
      // Less than asked for: the socket is drained (what arrives later re-arms the connection).
      if (static_cast<size_t>(n) < sizeof buf) break;
    }
    Parse(c);
  }

  void Parse(Conn& c) {
    if (c.state != Conn::kReading) return;
    http_detail::Parsed p = http_detail::ParseRequest(c.in, server->options_.max_body_bytes);
    if (p.kind == http_detail::Parsed::kError) {
      Fail(c, p.status, p.error);
      return;
    }
    if (p.kind == http_detail::Parsed::kIncomplete) {
      if (p.head_complete && p.expect_continue && !c.continue_sent) {
        SendBestEffort(c.fd, "HTTP/1.1 100 Continue\r\n\r\n");
        c.continue_sent = true;
      }
      Watch(c, EPOLLIN);  // the rest
      return;
    }
    c.in.erase(0, p.consumed);
    // Nothing is read while a worker has the request: the event that brought it disarmed the
    // connection, and the response re-arms it (a hang-up meanwhile shows when it is sent).
    c.state = Conn::kHandling;
    auto req = std::make_shared<httplib::Request>(std::move(p.request));
    // Every X-Forwarded-For line, in order: a balancer that appends its own line after the
    // client's (HAProxy) must not leave the client's first line to be believed.
    std::string forwarded;
    for (const auto& [name, value] : req->headers) {
      if (!http_detail::IEqualsAscii(name, "X-Forwarded-For")) continue;
      if (!forwarded.empty()) forwarded += ",";
      forwarded += value;
    }
    req->remote_addr = ClientAddress(c.address, forwarded, server->options_.trusted_proxies);
    req->remote_port = c.port;
    const bool keep_alive = p.keep_alive;
    const int fd = c.fd;
    const uint64_t id = c.id;
    absl::MutexLock lock(&mu);
    ++owed;
    tasks.push_back([this, req, keep_alive, fd, id] {
      server->Dispatch(*req, [this, req, keep_alive, fd, id](httplib::Response res) {
        std::string bytes = http_detail::SerializeResponse(res, !keep_alive);
        absl::MutexLock lock(&mu);
        // One wake for a run of answers: the loop takes every answer queued when it wakes.
        if (done.empty()) Wake();
        done.push_back({fd, id, std::move(bytes), !keep_alive});
        --owed;
      });
    });
  }

  void Finish() {
    std::deque<Done> ready;
    {
      absl::MutexLock lock(&mu);
      ready.swap(done);
    }
    for (Done& d : ready) {
      auto it = conns.find(d.fd);
      if (it == conns.end() || it->second->id != d.id) continue;
      Conn& c = *it->second;
      if (c.orphaned) {
        Close(c);  // the client left; now its slot is free
        continue;
      }
      Respond(c, std::move(d.bytes), d.close);
    }
  }

  void Sweep() {
    const absl::Time now = absl::Now();
    std::vector<Conn*> expired;
    for (auto& [fd, c] : conns) {
      if (c->state != Conn::kHandling && now > c->deadline) expired.push_back(c.get());
    }
    for (Conn* c : expired) {
      if (c->state == Conn::kReading && c->request_started) {
        httplib::Response res;
        res.status = 408;
        res.set_content("the request did not arrive whole in time\n", "text/plain");
        SendBestEffort(c->fd, http_detail::SerializeResponse(res, true));
        server->CountRequest("other", 408);
      }
      Close(*c);
    }
  }

  void Run() {
    epoll_event events[256];
    absl::Time last_sweep = absl::Now();
    for (;;) {
      const int n = epoll_wait(epoll_fd, events, 256, 100);
      {
        absl::MutexLock lock(&mu);
        if (stopping) break;
      }
      closed_in_batch.clear();
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (std::find(closed_in_batch.begin(), closed_in_batch.end(), fd) != closed_in_batch.end()) continue;
        if (fd == listen_fd) {
          Accept();
          continue;
        }
        if (fd == wake_fd) {
          uint64_t count;
          (void)!::read(wake_fd, &count, sizeof count);
          Finish();
          continue;
        }
        auto it = conns.find(fd);
        if (it == conns.end()) continue;
        Conn& c = *it->second;
        if (events[i].events & (EPOLLERR | EPOLLHUP)) {
          Close(c);
          continue;
        }
        if ((events[i].events & EPOLLIN) && c.state == Conn::kReading) {
          Read(c);
        } else if ((events[i].events & EPOLLOUT) && c.state == Conn::kWriting) {
          Write(c);
        }
      }
      if (absl::Now() - last_sweep >= absl::Milliseconds(100)) {
        Sweep();
        last_sweep = absl::Now();
        if (accept_paused_until != absl::InfinitePast() && absl::Now() >= accept_paused_until) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = listen_fd;
          epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &ev);
          accept_paused_until = absl::InfinitePast();
        }
      }
    }
    std::vector<Conn*> all;
    for (auto& [fd, c] : conns) all.push_back(c.get());
    for (Conn* c : all) {
      c->orphaned = true;  // no worker result is awaited any more
      Close(*c);
    }
  }

  void Work() {
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu);
        mu.Await(absl::Condition(
            +[](Loop* l) ABSL_EXCLUSIVE_LOCKS_REQUIRED(l->mu) { return l->stopping || !l->tasks.empty(); }, this));
        if (tasks.empty()) return;  // stopping, nothing left
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      task();
    }
  }
};

HttpServer::HttpServer(Options options, std::shared_ptr<spdlog::logger> logger, std::shared_ptr<Metrics> metrics,
                       std::function<absl::Status()> readiness)
    : options_(std::move(options)),
      logger_(std::move(logger)),
      metrics_(std::move(metrics)),
      readiness_(std::move(readiness)) {
  Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    absl::Status ready = readiness_ ? readiness_() : absl::OkStatus();
    if (ready.ok()) {
      res.set_content("ready\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content(StrCat("not ready: ", ready.message(), "\n"), "text/plain");
    }
  });
  Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_->Render(), "text/plain; version=0.0.4");
  });
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Add(const std::string& method, const std::string& path, Handler handler, AsyncHandler async) {
  Route r{method, path, std::nullopt, std::move(handler), std::move(async)};
  if (path.find('(') != std::string::npos) r.pattern.emplace(path);
  routes_.push_back(std::move(r));
}

void HttpServer::Get(const std::string& path, Handler handler) { Add("GET", path, std::move(handler)); }
void HttpServer::Post(const std::string& path, Handler handler) { Add("POST", path, std::move(handler)); }
void HttpServer::PostAsync(const std::string& path, AsyncHandler handler) {
  Add("POST", path, nullptr, std::move(handler));
}

namespace {

// One asynchronous handler's answer: the first response given, or 500 if none ever is.
class OwedReply {
 public:
  explicit OwedReply(std::function<void(httplib::Response)> finish) : finish_(std::move(finish)) {}
  OwedReply(const OwedReply&) = delete;
  OwedReply& operator=(const OwedReply&) = delete;
  ~OwedReply() {
    if (answered_.load()) return;
    httplib::Response res;
    res.status = 500;
    res.set_content("internal error: the request was dropped unanswered\n", "text/plain");
    finish_(std::move(res));
  }
  void Answer(httplib::Response res) {
    if (answered_.exchange(true)) return;
    finish_(std::move(res));
  }

 private:
  std::function<void(httplib::Response)> finish_;
  std::atomic<bool> answered_{false};
};

httplib::Response InternalError() {
  httplib::Response res;
  res.status = 500;
  res.set_content("internal error\n", "text/plain");
  return res;
}

}  // namespace

void HttpServer::Dispatch(httplib::Request& req, Reply done) const {
  const Route* found = nullptr;
  bool other_method = false;
  for (const Route& r : routes_) {
    bool match = false;
    if (r.pattern.has_value()) {
      std::smatch m;
      match = std::regex_match(req.path, m, *r.pattern);
      if (match && r.method == req.method) req.matches = m;
    } else {
      match = r.path == req.path;
    }
    if (!match) continue;
    if (r.method == req.method) {
      found = &r;
      break;
    }
    other_method = true;
  }
  httplib::Response res;
  if (found == nullptr) {
    res.status = other_method ? 405 : 404;
    res.set_content(other_method ? "method not allowed here\n" : "not found\n", "text/plain");
    CountRequest("other", res.status);
    done(std::move(res));
    return;
  }
  if (found->async) {
    auto owed = std::make_shared<OwedReply>([this, label = found->path, done](httplib::Response r) {
      if (r.status <= 0) r.status = 200;
      CountRequest(label, r.status);
      done(std::move(r));
    });
    try {
      found->async(req, [owed](httplib::Response r) { owed->Answer(std::move(r)); });
    } catch (const std::exception& e) {
      LogEvent(logger_, spdlog::level::err, "http_handler_failed").With("path", found->path).With("error", e.what());
      owed->Answer(InternalError());
    }
    return;
  }
  try {
    found->handler(req, res);
    if (res.status <= 0) res.status = 200;
  } catch (const std::exception& e) {
    LogEvent(logger_, spdlog::level::err, "http_handler_failed").With("path", found->path).With("error", e.what());
    res = InternalError();
  }
  CountRequest(found->path, res.status);
  done(std::move(res));
}

void HttpServer::CountRequest(const std::string& path, int status) const {
  metrics_->AddCounter("semper_http_requests_total", "HTTP requests, by path and status",
                       {{"path", path}, {"status", StrCat(status)}});
}

absl::StatusOr<int> HttpServer::Start() {
  auto fail = [this](std::string why) {
    return MakeError(absl::StatusCode::kUnavailable, v1::DEPENDENCY_UNAVAILABLE,
                     StrCat("cannot listen for HTTP on ", options_.host, ":", options_.port, ": ", why));
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port_text = StrCat(options_.port);
  if (int rc = getaddrinfo(options_.host.empty() ? nullptr : options_.host.c_str(), port_text.c_str(), &hints, &res);
      rc != 0) {
    return fail(gai_strerror(rc));
  }
  auto loop = std::make_unique<Loop>();
  loop->server = this;
  std::string error = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR only: SO_REUSEPORT would let a second process share the port's connections.
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      loop->listen_fd = fd;
      break;
    }
    error = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(res);
  if (loop->listen_fd < 0) return fail(error);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(loop->listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->epoll_fd < 0 || loop->wake_fd < 0) return fail("epoll");
  for (int fd : {loop->listen_fd, loop->wake_fd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }
  Loop* l = loop.get();
  for (int i = 0; i < std::max(1, options_.threads); ++i) l->workers.emplace_back([l] { l->Work(); });
  l->thread = std::thread([l] { l->Run(); });
  loop_ = std::move(loop);
  return port_;
}

void HttpServer::Stop() {
  if (!loop_) return;
  {
    absl::MutexLock lock(&loop_->mu);
    loop_->stopping = true;
  }
  loop_->Wake();
  if (loop_->thread.joinable()) loop_->thread.join();
  for (auto& w : loop_->workers) w.join();
  {
    absl::MutexLock lock(&loop_->mu);
    // Requests the loop read after the workers had left are never handled (their connections
    // are closed): nothing is owed for them.
    loop_->owed -= loop_->tasks.size();
    loop_->tasks.clear();
    // Asynchronous handlers answer on other threads, into this loop: wait for what they owe.
    loop_->mu.Await(absl::Condition(
        +[](Loop* l) ABSL_EXCLUSIVE_LOCKS_REQUIRED(l->mu) { return l->owed == 0; }, loop_.get()));
  }
  loop_.reset();
}

}  // namespace semper
