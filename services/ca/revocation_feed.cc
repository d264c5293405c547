#include "services/ca/revocation_feed.h"

#include <deque>

#include "common/base/proto_time.h"
#include "common/db/values.h"

namespace semper::ca {

constexpr absl::Duration kHeartbeat = absl::Seconds(2);

class RevocationFeed::Watcher : public grpc::ServerWriteReactor<v1::RevocationEvent> {
 public:
  Watcher(RevocationFeed* feed) : feed_(feed) {}

  void Push(std::vector<v1::RevocationEvent> events) {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    for (auto& e : events) queue_.push_back(std::move(e));
    if (!writing_) WriteNext();
  }
  void Heartbeat() {
    absl::MutexLock lock(&mu_);
    if (done_ || writing_ || !queue_.empty() || absl::Now() - last_write_ < kHeartbeat) return;
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
  absl::Time last_write_ ABSL_GUARDED_BY(mu_) = absl::Now();
};

std::vector<db::PreparedStatement> RevocationFeed::Statements() {
  constexpr char kColumns[] =
      "status_seq, serial, revoked_at IS NOT NULL, coalesce(revocation_reason, 0), "
      "coalesce(extract(epoch from revoked_at)::float8, 0)";
  return {
      {"ca_changes_after",
       std::string("SELECT ") + kColumns +
           " FROM ca.certificates WHERE status_seq > $1 ORDER BY status_seq LIMIT 100000"},
      {"ca_changes_recent",
       std::string("SELECT ") + kColumns +
           " FROM ca.certificates WHERE status_seq > $1::bigint - 2000 AND (status_seq > $1"
           " OR status_changed_at > now() - interval '30 seconds') ORDER BY status_seq LIMIT 100000"},
  };
}

RevocationFeed::RevocationFeed(db::ConnectionPool* pool, absl::Duration interval) : pool_(pool), interval_(interval) {
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
    for (const auto& r : tx.exec_prepared(statement, after_seq)) {
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
    if (stopping_) {
      w->Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE, "semper-ca is stopping"));
      return w;
    }
    watchers_.insert(w);  // live changes from now on; the snapshot below covers the past
  }
  // The past in pages of 100,000 (a CA may hold more revocations than that).
  for (int64_t cursor = after_seq;;) {
    auto past = Query("ca_changes_after", cursor);
    if (!past.ok()) {
      w->Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(past.status().message())));
      return w;
    }
    const bool last_page = past->size() < 100000;
    if (!past->empty()) cursor = past->back().seq();
    if (last_page) past->emplace_back();  // a heartbeat: the watcher now knows everything up to now
    w->Push(*std::move(past));
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
    // The first time, only where the changes end (in pages); then the new ones.
    auto changes = Query(cursor < 0 ? "ca_changes_after" : "ca_changes_recent", cursor < 0 ? 0 : cursor);
    while (cursor < 0 && changes.ok() && changes->size() >= 100000) {
      auto more = Query("ca_changes_after", changes->back().seq());
      if (!more.ok()) {
        changes = more.status();
        break;
      }
      changes->insert(changes->end(), more->begin(), more->end());
    }
    if (!changes.ok()) continue;  // the database is away: watchers see no heartbeat stop (they keep theirs)
    std::vector<v1::RevocationEvent> fresh;
    absl::MutexLock lock(&mu_);
    const bool first = cursor_ < 0;
    for (auto& e : *changes) {
      cursor_ = std::max(cursor_, e.seq());
      if (!seen_.insert(e.seq()).second) continue;
      if (!first) fresh.push_back(std::move(e));  // watchers got the past from their snapshot
    }
    if (cursor_ < 0) cursor_ = 0;
    if (seen_.size() > 1000000) seen_.clear();
    for (Watcher* w : watchers_) {
      if (!fresh.empty()) {
        w->Push(fresh);
      } else {
        w->Heartbeat();
      }
    }
  }
}

}  // namespace semper::ca
