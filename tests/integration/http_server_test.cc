// The HTTP listener every daemon runs (OCSP, CRL, RFC 3161, health, metrics), attacked as a
// client with network access only would: connections that trickle a byte at a time, idle
// connections by the hundred, oversized and malformed heads, chunked bodies, spoofed
// X-Forwarded-For. Real sockets against the real server object; the daemon-level check is in
// tsa_test (SlowClientsDoNotStallTheHttpListener).
#include "common/server/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/server/metrics.h"
#include "tests/support/status_matchers.h"

namespace semper {
namespace {

using ::semper::testing::IsOk;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void Send(int fd, std::string_view bytes) { (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL); }

// What the server sends until it closes or `wait` passes.
std::string ReadAll(int fd, absl::Duration wait) {
  std::string out;
  const absl::Time until = absl::Now() + wait;
  while (absl::Now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Whether the server closed the connection within `wait`.
bool Closed(int fd, absl::Duration wait) {
  const absl::Time until = absl::Now() + wait;
  while (absl::Now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;
  }
  return false;
}

// One request on a fresh connection, its whole answer (the server closes: Connection: close).
std::string Exchange(int port, const std::string& request, absl::Duration wait = absl::Seconds(3)) {
  int fd = Connect(port);
  if (fd < 0) return "connect failed";
  Send(fd, request);
  std::string out = ReadAll(fd, wait);
  ::close(fd);
  return out;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpServer::Options o) {
    metrics_ = std::make_shared<Metrics>();
    server_ = std::make_unique<HttpServer>(o, spdlog::default_logger(), metrics_, [] { return absl::OkStatus(); });
    server_->Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.body, "application/octet-stream");
    });
    server_->Get("/who", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.remote_addr, "text/plain");
    });
    server_->Get("/sleep", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      res.set_content("slept\n", "text/plain");
    });
    server_->Get(R"(/item/(.+))", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::string(req.matches[1]), "text/plain");
    });
    // Asynchronous: answered 300 ms later from a thread of its own, then once more (ignored).
    server_->PostAsync("/later", [this](const httplib::Request& req, HttpServer::Reply reply) {
      std::lock_guard<std::mutex> lock(repliers_mu_);
      repliers_.emplace_back([body = req.body, reply] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        httplib::Response res;
        res.set_content("later:" + body, "text/plain");
        reply(res);
        res.set_content("twice", "text/plain");
        reply(res);
      });
    });
    server_->PostAsync("/now", [](const httplib::Request& req, HttpServer::Reply reply) {
      httplib::Response res;
      res.status = 202;
      res.set_content("now:" + req.body, "text/plain");
      reply(std::move(res));
    });
    server_->PostAsync("/dropped", [](const httplib::Request&, HttpServer::Reply) {});
    server_->PostAsync("/throws",
                       [](const httplib::Request&, HttpServer::Reply) { throw std::runtime_error("handler bug"); });
    auto port = server_->Start();
    ASSERT_THAT(port.status(), IsOk());
    port_ = *port;
  }
  void TearDown() override {
    if (server_) server_->Stop();
    std::lock_guard<std::mutex> lock(repliers_mu_);
    for (auto& t : repliers_) t.join();
  }
  std::shared_ptr<Metrics> metrics_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::mutex repliers_mu_;
  std::vector<std::thread> repliers_;
};

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

TEST_F(HttpServerTest, SlowSendersAreCutOffAndDoNotHoldTheServer) {
  HttpServer::Options o;
  o.threads = 2;
  o.request_timeout = absl::Seconds(2);
  Start(o);
  // 40 connections (more than the workers, 20 times over) each trickle a byte every 300 ms of
  // a request that would take 30 s to arrive.
  std::vector<int> slow;
  for (int i = 0; i < 40; ++i) {
    int fd = Connect(port_);
    ASSERT_GE(fd, 0);
    Send(fd, "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n");
    slow.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      for (int fd : slow) Send(fd, "x");
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  // Meanwhile every other client is served at once.
  for (int i = 0; i < 10; ++i) {
    const absl::Time t0 = absl::Now();
    std::string out = Exchange(port_, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_THAT(out, StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_LT(absl::Now() - t0, absl::Milliseconds(500)) << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // And each slow request is answered 408 and closed within the request timeout (+ a sweep),
  // although bytes kept coming.
  for (int fd : slow) {
    std::string out = ReadAll(fd, absl::Seconds(3));
    EXPECT_THAT(out, StartsWith("HTTP/1.1 408 Request Timeout\r\n"));
  }
  stop = true;
  trickle.join();
  for (int fd : slow) ::close(fd);
  EXPECT_THAT(metrics_->Render(), HasSubstr(R"(semper_http_requests_total{path="other",status="408"} 40)"));
}

TEST_F(HttpServerTest, ConnectionsAreLimitedInAllAndPerAddressAndIdleOnesClose) {
  HttpServer::Options o;
  o.max_connections_per_address = 5;
  o.idle_timeout = absl::Seconds(1);
  Start(o);
  std::vector<int> idle;
  for (int i = 0; i < 5; ++i) idle.push_back(Connect(port_));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The sixth from this address is told why and closed.
  std::string refused = Exchange(port_, "GET /healthz HTTP/1.1\r\n\r\n", absl::Milliseconds(500));
  EXPECT_THAT(refused, StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
  EXPECT_THAT(refused, HasSubstr("too many connections from your address"));
  // Idle connections close by themselves; then the address is served again.
  for (int fd : idle) EXPECT_TRUE(Closed(fd, absl::Seconds(2)));
  for (int fd : idle) ::close(fd);
  EXPECT_THAT(Exchange(port_, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"), StartsWith("HTTP/1.1 200 OK"));
  EXPECT_THAT(metrics_->Render(), HasSubstr(R"(semper_http_connections_refused_total{why="address"} 1)"));
  server_.reset();

  // The total, whatever the addresses (all are 127.0.0.1 here, trusted as a proxy so that only
  // the total counts).
  HttpServer::Options t;
  t.max_connections = 3;
  t.trusted_proxies = {"127.0.0.1"};
  Start(t);
  std::vector<int> open;
  for (int i = 0; i < 3; ++i) open.push_back(Connect(port_));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_THAT(Exchange(port_, "GET /healthz HTTP/1.1\r\n\r\n", absl::Milliseconds(500)), StartsWith("HTTP/1.1 503"));
  for (int fd : open) ::close(fd);
}

// Requests sent and abandoned at once (the client resets the connection) keep their connection's
// slot until a worker has finished them: abandoning does not queue unbounded work.
TEST_F(HttpServerTest, AbandonedRequestsKeepTheirSlotUntilDone) {
  HttpServer::Options o;
  o.threads = 1;
  o.max_connections_per_address = 3;
  Start(o);
  for (int i = 0; i < 3; ++i) {
    int fd = Connect(port_);
    ASSERT_GE(fd, 0);
    Send(fd, "GET /sleep HTTP/1.1\r\n\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    linger l{1, 0};  // close with a reset
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_THAT(Exchange(port_, "GET /healthz HTTP/1.1\r\n\r\n", absl::Milliseconds(500)), StartsWith("HTTP/1.1 503"));
  // Once the worker has done them (1.5 s each, one at a time), the address is served again.
  std::this_thread::sleep_for(std::chrono::milliseconds(4700));
  EXPECT_THAT(Exchange(port_, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"), StartsWith("HTTP/1.1 200 OK"));
}

TEST_F(HttpServerTest, MalformedAndOversizedRequestsGetTheirStatusAndNothingElse) {
  HttpServer::Options o;
  o.max_body_bytes = 1024;
  Start(o);
  struct Case {
    std::string request;
    std::string status;
  };
  const std::vector<Case> cases = {
      {"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "501"},
      {"POST /echo HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "400"},
      {"POST /echo HTTP/1.1\r\nContent-Length: -5\r\n\r\n", "400"},
      {"POST /echo HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", "400"},
      {"POST /echo HTTP/1.1\r\nContent-Length: 2048\r\n\r\n", "413"},  // refused before the body
      {"GET /healthz HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", "400"},
      {"GET /healthz HTTP/1.1\r\nBad Header: 1\r\n\r\n", "400"},
      {"GET /healthz HTTP/2.0\r\n\r\n", "505"},
      {"GET healthz HTTP/1.1\r\n\r\n", "400"},
      {"GET /%zz HTTP/1.1\r\n\r\n", "400"},
      {"GET /a%00b HTTP/1.1\r\n\r\n", "400"},
      {"GET /healthz HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", "417"},
      {"GET /healthz HTTP/1.1\r\nX: " + std::string(17000, 'a') + "\r\n\r\n", "431"},
      {"DELETE /echo HTTP/1.1\r\n\r\n", "405"},
      {"GET /nothing HTTP/1.1\r\nConnection: close\r\n\r\n", "404"},
  };
  for (const Case& c : cases) {
    std::string out = Exchange(port_, c.request);
    EXPECT_THAT(out, StartsWith("HTTP/1.1 " + c.status + " ")) << c.request.substr(0, 80);
  }
  // A head that never ends grows no further than 16 KiB.
  std::string endless = "GET /healthz HTTP/1.1\r\nX: " + std::string(20000, 'a');
  EXPECT_THAT(Exchange(port_, endless), StartsWith("HTTP/1.1 431 "));
  // The server is unharmed.
  EXPECT_THAT(Exchange(port_, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"), StartsWith("HTTP/1.1 200 OK"));
}

TEST_F(HttpServerTest, KeepAlivePipeliningContinueAndRoutes) {
  Start(HttpServer::Options());
  int fd = Connect(port_);
  ASSERT_GE(fd, 0);
  // Two requests in one write: two answers, in order, on one connection.
  Send(fd, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nonePOST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\ntwo");
  std::string both = ReadAll(fd, absl::Milliseconds(700));
  EXPECT_THAT(both, HasSubstr("\r\n\r\none"));
  EXPECT_THAT(both, HasSubstr("\r\n\r\ntwo"));
  EXPECT_LT(both.find("one"), both.find("two"));
  // A client that waits for 100 Continue gets it, then sends its body.
  Send(fd, "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(ReadAll(fd, absl::Milliseconds(300)), "HTTP/1.1 100 Continue\r\n\r\n");
  Send(fd, "hello");
  EXPECT_THAT(ReadAll(fd, absl::Milliseconds(300)), HasSubstr("\r\n\r\nhello"));
  ::close(fd);
  // Regular-expression routes see the percent-decoded path; a query is not part of it.
  EXPECT_THAT(Exchange(port_, "GET /item/a%2Fb%2B%3D?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n"),
              HasSubstr("\r\n\r\na/b+="));
  // HTTP/1.0 closes by default.
  EXPECT_THAT(Exchange(port_, "GET /healthz HTTP/1.0\r\n\r\n"), HasSubstr("Connection: close"));
}

TEST_F(HttpServerTest, AsynchronousHandlersAnswerOnceFromAnyThreadAndStopWaitsForThem) {
  HttpServer::Options o;
  o.threads = 1;  // the one worker is free while the answers are awaited
  Start(o);
  int fd = Connect(port_);
  ASSERT_GE(fd, 0);
  // Two at once on two connections with one worker: both answered after ~300 ms, not 600.
  int other = Connect(port_);
  ASSERT_GE(other, 0);
  // (ReadAll waits its whole time: both answers are there 500 ms after the requests.)
  Send(fd, "POST /later HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  Send(other, "POST /later HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz");
  std::string first = ReadAll(fd, absl::Milliseconds(480));
  std::string second = ReadAll(other, absl::Milliseconds(20));
  EXPECT_THAT(first, HasSubstr("\r\n\r\nlater:abc"));
  EXPECT_THAT(second, HasSubstr("\r\n\r\nlater:xyz"));
  // Only the first reply is sent; the connection goes on (keep-alive) with the next request.
  EXPECT_EQ(Count(first + second, "HTTP/1.1 "), 2u) << first << second;
  EXPECT_THAT(first + second, Not(HasSubstr("twice")));
  Send(fd, "POST /now HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_THAT(ReadAll(fd, absl::Milliseconds(300)), AllOf(StartsWith("HTTP/1.1 202"), HasSubstr("now:hi")));
  // A handler that drops its reply, or throws: 500, and the connection still serves.
  Send(fd, "POST /dropped HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_THAT(ReadAll(fd, absl::Milliseconds(300)), AllOf(StartsWith("HTTP/1.1 500"), HasSubstr("unanswered")));
  Send(fd, "POST /throws HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  std::string thrown = ReadAll(fd, absl::Milliseconds(300));
  EXPECT_THAT(thrown, StartsWith("HTTP/1.1 500"));
  EXPECT_THAT(thrown, Not(HasSubstr("handler bug")));
  // Stop while an answer is owed: it waits for it (no answer into a freed loop), then returns.
  Send(other, "POST /later HTTP/1.1\r\nContent-Length: 1\r\n\r\nz");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const absl::Time stopping = absl::Now();
  server_->Stop();
  EXPECT_GE(absl::Now() - stopping, absl::Milliseconds(200));
  EXPECT_THAT(metrics_->Render(), HasSubstr(R"(semper_http_requests_total{path="/later",status="200"} 3)"));
  ::close(fd);
  ::close(other);
}

// Requests keep arriving (pipelined, to ordinary and asynchronous routes) while the server
// stops: Stop returns, whatever was read but never handed to a worker (SIGTERM under load).
TEST_F(HttpServerTest, StopReturnsWhileRequestsKeepArriving) {
  for (int round = 0; round < 12; ++round) {
    HttpServer::Options o;
    o.threads = 2;
    Start(o);
    std::atomic<bool> done{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&, c] {
        const std::string one = c % 2 == 0 ? "POST /now HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"
                                           : "POST /echo HTTP/1.1\r\nContent-Length: 1\r\n\r\nx";
        std::string burst;
        for (int i = 0; i < 8; ++i) burst += one;
        while (!done.load()) {
          int fd = Connect(port_);
          if (fd < 0) continue;
          for (int k = 0; k < 4 && !done.load(); ++k) {
            Send(fd, burst);
            char buf[4096];
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 5) > 0) (void)::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
          }
          ::close(fd);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + 7 * round));
    auto stopped = std::async(std::launch::async, [this] { server_->Stop(); });
    const bool in_time = stopped.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    done = true;
    for (auto& t : clients) t.join();
    if (!in_time) {
      ADD_FAILURE() << "Stop did not return within 10 s (round " << round << ")";
      std::_Exit(1);  // the server's threads are stuck: nothing else can be checked
    }
    server_.reset();
  }
}

// A client that sends its requests and then shuts its side (half-close) still gets every answer,
// whatever the size of what it sent (here exactly the server's 16 KiB read buffer).
TEST_F(HttpServerTest, AHalfClosedClientGetsEveryAnswer) {
  Start(HttpServer::Options());
  const std::string head = "POST /echo HTTP/1.1\r\nContent-Length: ";
  std::string all;
  for (int i = 0; i < 3; ++i) all += head + "4000\r\n\r\n" + std::string(4000, static_cast<char>('a' + i));
  const size_t rest = 16384 - all.size() - head.size() - 4;  // "NNNN\r\n\r\n" is 8 bytes with 4 digits
  const size_t body = rest - 4;
  ASSERT_EQ(std::to_string(body).size(), 4u);
  all += head + std::to_string(body) + "\r\n\r\n" + std::string(body, 'd');
  ASSERT_EQ(all.size(), 16384u);
  int fd = Connect(port_);
  ASSERT_GE(fd, 0);
  Send(fd, all);
  ::shutdown(fd, SHUT_WR);
  std::string answers = ReadAll(fd, absl::Seconds(2));
  ::close(fd);
  EXPECT_EQ(Count(answers, "HTTP/1.1 200 OK"), 4u) << answers.substr(0, 300);
  EXPECT_THAT(answers, HasSubstr(std::string(body, 'd')));
}

TEST_F(HttpServerTest, ForwardedForIsBelievedOnlyFromTrustedProxies) {
  Start(HttpServer::Options());
  const std::string spoofed = "GET /who HTTP/1.1\r\nX-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n";
  EXPECT_THAT(Exchange(port_, spoofed), HasSubstr("\r\n\r\n127.0.0.1"));
  server_.reset();
  HttpServer::Options o;
  o.trusted_proxies = {"127.0.0.1"};
  Start(o);
  EXPECT_THAT(Exchange(port_, spoofed), HasSubstr("\r\n\r\n203.0.113.9"));

  const std::vector<std::string> proxies = {"10.0.0.1", "10.0.0.2"};
  // The last hop not a proxy: what the client wrote before it is not believed.
  EXPECT_EQ(ClientAddress("10.0.0.1", "198.51.100.7, 203.0.113.9, 10.0.0.2", proxies), "203.0.113.9");
  EXPECT_EQ(ClientAddress("192.0.2.1", "203.0.113.9", proxies), "192.0.2.1");  // not from a proxy
  EXPECT_EQ(ClientAddress("10.0.0.1", "not-an-address", proxies), "10.0.0.1");
  EXPECT_EQ(ClientAddress("10.0.0.1", "10.0.0.2", proxies), "10.0.0.1");
  EXPECT_EQ(ClientAddress("10.0.0.1", "2001:DB8::1", proxies), "2001:db8::1");
  EXPECT_FALSE(ParseAddressList("10.0.0.1, example.org").ok());
  // An IPv4 client of a dual-stack listener is the same client.
  EXPECT_EQ(*ParseAddressList(" 10.0.0.1 ,::FFFF:10.0.0.1"), (std::vector<std::string>{"10.0.0.1", "10.0.0.1"}));
  // A client behind the trusted balancer writes its own X-Forwarded-For line; the balancer adds
  // its line after it (HAProxy): the balancer's word counts.
  EXPECT_THAT(Exchange(port_,
                       "GET /who HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.9\r\n"
                       "Connection: close\r\n\r\n"),
              HasSubstr("\r\n\r\n203.0.113.9"));
}

}  // namespace
}  // namespace semper
