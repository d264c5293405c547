// The client side of semper-ca's revocation feed (RevocationWatch), against a semper-ca that
// misbehaves on purpose: an in-process WatchRevocations server whose streams end where a replica
// stopping mid-snapshot would end them. Finding 6 of "Trust under attack (1 of 2)": a watcher must
// never believe it is current when it is not, and must resume where a heartbeat left it, not
// after the highest number a broken stream happened to carry.
#include "common/server/revocation_watch.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "semper/v1/ca.grpc.pb.h"

namespace semper {
namespace {

// A CA whose status history is `history` (seq -> serial, all revoked). Each call answers what
// `script` says for that call: the events after the request's after_seq in the given order, then
// either a heartbeat (and the stream stays open) or the end of the stream.
class ScriptedCa final : public v1::CertificationAuthority::Service {
 public:
  struct Call {
    std::vector<int64_t> seqs;  // the events to send (those <= after_seq are skipped)
    bool heartbeat = false;     // then a heartbeat, and stay open until cancelled
  };
  ScriptedCa(std::map<int64_t, std::string> history, std::vector<Call> script)
      : history_(std::move(history)), script_(std::move(script)) {}

  grpc::Status WatchRevocations(grpc::ServerContext* ctx, const v1::WatchRevocationsRequest* req,
                                grpc::ServerWriter<v1::RevocationEvent>* writer) override {
    Call call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req->after_seq());
      if (requests_.size() > script_.size()) {
        call = script_.back();
      } else {
        call = script_[requests_.size() - 1];
      }
    }
    for (int64_t seq : call.seqs) {
      if (seq <= req->after_seq()) continue;
      v1::RevocationEvent e;
      e.set_seq(seq);
      e.set_serial(history_.at(seq));
      e.set_state(v1::CERTIFICATE_STATE_REVOKED);
      e.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
      if (!writer->Write(e)) return grpc::Status::CANCELLED;
    }
    if (!call.heartbeat) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "semper-ca is stopping");
    if (!writer->Write(v1::RevocationEvent())) return grpc::Status::CANCELLED;
    while (!ctx->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return grpc::Status::CANCELLED;
  }

  std::vector<int64_t> Requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  const std::map<int64_t, std::string> history_;
  const std::vector<Call> script_;
  std::mutex mu_;
  std::vector<int64_t> requests_;
};

class RevocationWatchTest : public ::testing::Test {
 protected:
  void Serve(ScriptedCa* ca) {
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(ca);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::CertificationAuthority::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  }
  // Waits until the watch answers (synced) or the time is up; the last answer for `serial`.
  static absl::StatusOr<bool> WhenSynced(const RevocationWatch& watch, const std::string& serial, absl::Duration wait) {
    absl::StatusOr<bool> r = watch.Revoked(serial);
    for (absl::Time until = absl::Now() + wait; !r.ok() && absl::Now() < until; r = watch.Revoked(serial)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return r;
  }

  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<v1::CertificationAuthority::StubInterface> stub_;
};

std::map<int64_t, std::string> History(int64_t n) {
  std::map<int64_t, std::string> h;
  for (int64_t seq = 1; seq <= n; ++seq) h[seq] = "SERIAL" + std::to_string(seq);
  return h;
}

// A replica stops mid-snapshot, after its stream carried a live change (seq 100) ahead of the
// rest of its snapshot (6 to 10): the watcher must not resume after 100, or it never learns 6-10.
TEST_F(RevocationWatchTest, AStreamThatEndsMidSnapshotIsResumedFromTheLastHeartbeat) {
  auto history = History(10);
  history[100] = "LIVE100";
  ScriptedCa ca(history, {{{1, 2, 3, 4, 5, 100}, false},  // then the replica stops
                          {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100}, true}});
  Serve(&ca);
  RevocationWatch watch(stub_, absl::Seconds(30));
  auto r = WhenSynced(watch, "SERIAL8", absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r) << "a revocation of the unfinished snapshot was never learnt";
  for (const char* serial : {"SERIAL1", "SERIAL6", "SERIAL10", "LIVE100"})
    EXPECT_EQ(watch.Revoked(serial).value_or(false), true) << serial;
  std::vector<int64_t> asked = ca.Requests();
  ASSERT_GE(asked.size(), 2u);
  EXPECT_EQ(asked[1], 0) << "resumed after a number no heartbeat had confirmed";
}

// Until a stream's snapshot ends with its heartbeat, the watcher is not current: it answers
// DEPENDENCY_UNAVAILABLE, however many changes it has heard. After a heartbeat it resumes from
// what that heartbeat confirmed (and a later broken stream does not move it back or forward).
TEST_F(RevocationWatchTest, NoAnswerBeforeAHeartbeatAndResumptionFromTheConfirmedNumber) {
  auto history = History(30);
  ScriptedCa ca(history, {{{1, 2, 3}, false}, {{1, 2, 3}, false}, {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, true}});
  Serve(&ca);
  RevocationWatch watch(stub_, absl::Seconds(30));
  // Two streams carried changes and ended without a heartbeat: not current.
  for (absl::Time until = absl::Now() + absl::Seconds(1); ca.Requests().size() < 2 && absl::Now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto early = watch.Revoked("SERIAL1");
  EXPECT_FALSE(early.ok()) << "answered before any heartbeat";
  if (!early.ok()) EXPECT_EQ(early.status().code(), absl::StatusCode::kUnavailable);
  auto r = WhenSynced(watch, "SERIAL10", absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r);
  EXPECT_FALSE(*watch.Revoked("SERIAL11"));  // never sent: good as far as the CA said
  std::vector<int64_t> asked = ca.Requests();
  ASSERT_GE(asked.size(), 3u);
  EXPECT_EQ(asked[0], 0);
  EXPECT_EQ(asked[1], 0);
  EXPECT_EQ(asked[2], 0);
}

// After a heartbeat confirmed 1-10, the stream breaks; the next one starts after 10 (not 0: the
// whole history again on every reconnect would be the feed's own denial of service), and a
// stream that breaks after carrying 25 ahead of 11-24 does not move the resume point past them.
TEST_F(RevocationWatchTest, AfterAHeartbeatItResumesFromWhatTheHeartbeatConfirmed) {
  auto history = History(30);
  // The first stream: 1-10 and a heartbeat, then the server is restarted by the test (it breaks).
  ScriptedCa first(history, {{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, true}});
  int port = 0;
  {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&first);
    server_ = builder.BuildAndStart();
  }
  ASSERT_NE(server_, nullptr);
  stub_ = v1::CertificationAuthority::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  RevocationWatch watch(stub_, absl::Seconds(30));
  auto r = WhenSynced(watch, "SERIAL10", absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(*r);
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  server_.reset();
  // The same address, a replica that breaks after sending 25 ahead of 11-24, then a good one.
  ScriptedCa second(history, {{{11, 25}, false}, {{11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25}, true}});
  {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials());
    builder.RegisterService(&second);
    server_ = builder.BuildAndStart();
  }
  ASSERT_NE(server_, nullptr);
  bool learnt = false;
  for (absl::Time until = absl::Now() + absl::Seconds(15); !learnt && absl::Now() < until;) {
    auto s = watch.Revoked("SERIAL20");
    learnt = s.ok() && *s;
    if (!learnt) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(learnt) << "a change between the confirmed number and a broken stream's last was never learnt";
  std::vector<int64_t> asked = second.Requests();
  ASSERT_GE(asked.size(), 2u);
  EXPECT_EQ(asked[0], 10) << "not resumed from what the heartbeat confirmed";
  EXPECT_EQ(asked[1], 10) << "resumed after a number no heartbeat had confirmed";
}

}  // namespace
}  // namespace semper
