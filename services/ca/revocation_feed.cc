#include "services/ca/revocation_feed.h"

#include <deque>

#include "common/base/proto_time.h"
#include "common/db/values.h"

namespace semper::ca {

constexpr absl::Duration kHeartbeat = absl::Seconds(2);
// Per watcher: events written but not yet taken by the client (a snapshot page is 100,000).
constexpr size_t kMaxQueued = 400000;

class RevocationFeed::Watcher : public grpc::ServerWriteReactor<v1::RevocationEvent> {
 public:
  Watcher(RevocationFeed* feed) : feed_(feed) {}

  // `completes_snapshot`: the last page of the watcher's snapshot, ending with the heartbeat that
  // tells it everything up to now is known. Before that, no heartbeat of the feed may reach it
  // (it would believe itself current with part of the history).
  // `then_heartbeat`: the events are every change up to now (a poll's), so once the snapshot is
  // complete a heartbeat follows them: a watcher counts itself fresh only from heartbeats, and
  // the idle heartbeat alone would never come while changes keep arriving.
  void Push(std::vector<v1::RevocationEvent> events, bool completes_snapshot = false, bool then_heartbeat = false) {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    if (then_heartbeat && snapshot_done_) events.emplace_back();
    // A watcher that does not read holds at most this much: then its stream ends (it reconnects
    // from where a heartbeat left it).
    if (queue_.size() + events.size() > kMaxQueued) {
      done_ = true;
      Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "the watcher does not keep up; reconnect"));
      return;
    }
    if (completes_snapshot) snapshot_done_ = true;
    for (auto& e : events) queue_.push_back(std::move(e));
    if (!writing_ && !queue_.empty()) WriteNext();
  }
  void Heartbeat() {
    absl::MutexLock lock(&mu_);
    if (done_ || !snapshot_done_ || writing_ || !queue_.empty() || absl::Now() - last_write_ < kHeartbeat) return;
    queue_.emplace_back();
    WriteNext();
  }
  void Fail(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    done_ = true;
    Finish(status);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      if (!done_) {
        done_ = true;
        Finish(grpc::Status::CANCELLED);
      }
      return;
    }
    if (!queue_.empty()) WriteNext();
  }
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (!done_) {
      done_ = true;
      Finish(grpc::Status::CANCELLED);
    }
  }
  void OnDone() override {
    {
      absl::MutexLock lock(&feed_->mu_);
      feed_->watchers_.erase(this);
    }
    delete this;
  }

 private:
  void WriteNext() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    last_write_ = absl::Now();
    StartWrite(&current_);
  }
  RevocationFeed* feed_;
  absl::Mutex mu_;
  std::deque<v1::RevocationEvent> queue_ ABSL_GUARDED_BY(mu_);
  v1::RevocationEvent current_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool snapshot_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_write_ ABSL_GUARDED_BY(mu_) = absl::Now();
};

std::vector<db::PreparedStatement> RevocationFeed::Statements() {
  constexpr char kColumns[] =
      "status_seq, serial, revoked_at IS NOT NULL, coalesce(revocation_reason, 0), "
      "coalesce(extract(epoch from revoked_at)::float8, 0)";
  return {
      {"ca_changes_after",
       std::string("SELECT ") + kColumns + " FROM ca.certificates WHERE status_seq > $1 ORDER BY status_seq LIMIT $2"},
      // Numbers become visible in order (migration 2026120601_status_order): the last one is
      // where a feed starts, and "after the last one seen" misses nothing.
      {"ca_changes_last", "SELECT coalesce(max(status_seq), 0) FROM ca.certificates"},
  };
}

RevocationFeed::RevocationFeed(db::ConnectionPool* pool, absl::Duration interval, int64_t page,
                               std::function<void()> on_change)
    : pool_(pool), interval_(interval), page_(std::max<int64_t>(page, 1)), on_change_(std::move(on_change)) {
  // Where the numbers end, now if the database answers (else the loop finds out): watchers (the
  // daemon's own access gate among them) are admitted from then on, so not before.
  (void)pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    const int64_t last = tx.exec_prepared1("ca_changes_last")[0].as<int64_t>();
    absl::MutexLock lock(&mu_);
    cursor_ = last;
    return absl::OkStatus();
  });
  thread_ = std::thread([this] { Loop(); });
}

void RevocationFeed::Close() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  for (Watcher* w : watchers_) w->Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE, "semper-ca is stopping"));
}

RevocationFeed::~RevocationFeed() {
  Close();
  thread_.join();
  // Watchers end when gRPC calls OnDone (the server's shutdown waits for them).
}

absl::StatusOr<std::vector<v1::RevocationEvent>> RevocationFeed::Query(const char* statement, int64_t after_seq) {
  std::vector<v1::RevocationEvent> out;
  absl::Status s = pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    for (const auto& r : tx.exec_prepared(statement, after_seq, page_)) {
      v1::RevocationEvent e;
      e.set_seq(r[0].as<int64_t>());
      e.set_serial(r[1].as<std::string>());
      e.set_state(r[2].as<bool>() ? v1::CERTIFICATE_STATE_REVOKED : v1::CERTIFICATE_STATE_GOOD);
      e.set_reason(static_cast<v1::RevocationReason>(r[3].as<int>()));
      if (r[2].as<bool>()) *e.mutable_revoked_at() = ToTimestamp(db::FromEpoch(r[4].as<double>()));
      out.push_back(std::move(e));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

grpc::ServerWriteReactor<v1::RevocationEvent>* RevocationFeed::Watch(grpc::CallbackServerContext*, int64_t after_seq) {
  auto* w = new Watcher(this);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || cursor_ < 0) {
      w->Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           stopping_ ? "semper-ca is stopping" : "semper-ca's revocation feed is starting; retry"));
      return w;
    }
    // Live changes from now on (every number above the feed's cursor); the snapshot below covers
    // the past up to at least that cursor. An event may come twice; watchers keep the highest.
    watchers_.insert(w);
  }
  // A watcher ahead of the database (restored from a backup, failed over to a standby that had
  // not seen the last changes) would otherwise hear heartbeats and never the changes renumbered
  // below its position: it gets the whole history instead.
  int64_t start = after_seq;
  absl::Status read = pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    if (tx.exec_prepared1("ca_changes_last")[0].as<int64_t>() < after_seq) start = 0;
    return absl::OkStatus();
  });
  if (!read.ok()) {
    w->Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(read.message())));
    return w;
  }
  // The past in pages (ca.revocation_feed_page, 100,000: a CA may hold more revocations than that).
  for (int64_t cursor = start;;) {
    auto past = Query("ca_changes_after", cursor);
    if (!past.ok()) {
      w->Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(past.status().message())));
      return w;
    }
    const bool last_page = static_cast<int64_t>(past->size()) < page_;
    if (!past->empty()) cursor = past->back().seq();
    if (last_page) past->emplace_back();  // a heartbeat: the watcher now knows everything up to now
    w->Push(*std::move(past), last_page);
    if (last_page) return w;
  }
}

void RevocationFeed::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_)) return;
    }
    int64_t cursor;
    {
      absl::MutexLock lock(&mu_);
      cursor = cursor_;
    }
    if (cursor < 0) {
      // The first time, only where the numbers end; watchers are admitted from then on.
      absl::StatusOr<int64_t> last = absl::UnknownError("not read");
      absl::Status s = pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
        last = tx.exec_prepared1("ca_changes_last")[0].as<int64_t>();
        return absl::OkStatus();
      });
      if (!s.ok() || !last.ok()) continue;
      // Changes before this number were never seen here: whatever was cached may be stale.
      if (on_change_) on_change_();
      absl::MutexLock lock(&mu_);
      cursor_ = *last;
      continue;
    }
    std::vector<v1::RevocationEvent> fresh;
    bool failed = false;
    for (;;) {
      auto page = Query("ca_changes_after", cursor);
      if (!page.ok()) {
        failed = true;  // the database is away: no heartbeat, so watchers' knowledge ages
        break;
      }
      const bool last_page = static_cast<int64_t>(page->size()) < page_;
      if (!page->empty()) cursor = page->back().seq();
      for (auto& e : *page) fresh.push_back(std::move(e));
      if (last_page) break;
    }
    if (!fresh.empty() && on_change_) on_change_();
    absl::MutexLock lock(&mu_);
    cursor_ = cursor;
    for (Watcher* w : watchers_) {
      if (!fresh.empty()) {
        w->Push(fresh, /*completes_snapshot=*/false, /*then_heartbeat=*/!failed);
      } else if (!failed) {
        w->Heartbeat();
      }
    }
  }
}

}  // namespace semper::ca
