// Status changes of certificates pushed to watchers (semper.v1 WatchRevocations): one thread
// polls PostgreSQL every `interval` for the changes numbered after the last one it saw (numbers
// become visible in order: see migration 2026120601_status_order), and each watcher's stream
// gets its snapshot, then every new change, plus a heartbeat when nothing happened for a few
// seconds. A heartbeat means "everything up to now is known": a watcher gets none before its
// snapshot is complete, and none while the database cannot be read. Watchers are admitted once
// the feed knows where the numbers end. Every replica of semper-ca runs its own feed from the
// shared table. Thread-safe.
#pragma once

#include <grpcpp/support/server_callback.h>

#include <functional>
#include <memory>
#include <set>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/db/pool.h"
#include "semper/v1/ca.pb.h"

namespace semper::ca {

class RevocationFeed {
 public:
  // `page`: changes read and queued per query (a snapshot of a long history takes several).
  // `on_change`, if set, is called (on the feed's thread) after each poll that found changes,
  // whichever replica made them: this replica's caches of statuses are cleared with it.
  RevocationFeed(db::ConnectionPool* pool, absl::Duration interval = absl::Milliseconds(100), int64_t page = 100000,
                 std::function<void()> on_change = nullptr);
  ~RevocationFeed();
  static std::vector<db::PreparedStatement> Statements();

  // A stream for one WatchRevocations call: first every change after `after_seq`, then the new
  // ones as they come.
  grpc::ServerWriteReactor<v1::RevocationEvent>* Watch(grpc::CallbackServerContext* ctx, int64_t after_seq);
  // Ends every stream (UNAVAILABLE: watchers reconnect elsewhere) and refuses new ones; for the
  // daemon's shutdown.
  void Close();

  class Watcher;

 private:
  void Loop();
  absl::StatusOr<std::vector<v1::RevocationEvent>> Query(const char* statement, int64_t after_seq);
  db::ConnectionPool* pool_;
  absl::Duration interval_;
  const int64_t page_;
  const std::function<void()> on_change_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::set<Watcher*> watchers_ ABSL_GUARDED_BY(mu_);
  int64_t cursor_ ABSL_GUARDED_BY(mu_) = -1;
  std::thread thread_;
};

}  // namespace semper::ca
