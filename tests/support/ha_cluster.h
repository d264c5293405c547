// PostgreSQL that survives its primary, for tests: deploy/ha.sh (etcd and three Patroni nodes in
// strict synchronous mode, as operators run it) in a temporary directory on free loopback ports;
// stopped and removed at the end. Tests that need it fail (never skip) when it cannot start.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/subprocess.h"

namespace semper::testing {

class HaCluster {
 public:
  static absl::StatusOr<std::unique_ptr<HaCluster>> Start();
  ~HaCluster();

  // The semper role's multi-host URL (target_session_attrs=read-write): what the daemons use.
  const std::string& url() const { return url_; }
  // The current leader ("pg1".."pg3"), or empty while there is none.
  std::string Leader() const;
  // SIGKILL to a node's Patroni and PostgreSQL.
  absl::Status Kill(const std::string& node);
  // Starts a killed node again (it rejoins as a standby).
  absl::Status StartNode(const std::string& node);
  // Until there is a leader and a synchronous standby; how long that took.
  absl::StatusOr<absl::Duration> AwaitReady(absl::Duration limit) const;
  // "name role state lag" per member, for messages and assertions.
  std::string Members() const;
  // psql as the semper role on the leader.
  absl::StatusOr<std::string> Query(const std::string& sql) const;
  // psql as the superuser on the leader (pg_stat_replication, settings).
  absl::StatusOr<std::string> SuperuserQuery(const std::string& sql) const;
  // psql as the semper role on one node (a standby answers read-only queries).
  absl::StatusOr<std::string> QueryNode(const std::string& node, const std::string& sql) const;
  // The node's PostgreSQL port.
  int PortOf(const std::string& node) const;
  // libpq key/value connection string of the superuser for `database`, at whichever node leads
  // (the password in a file it names).
  std::string SuperuserConnInfo(const std::string& database) const;

 private:
  HaCluster() = default;
  CommandResult Ha(const std::vector<std::string>& args) const;
  TempDir dir_;
  int base_port_ = 0;
  std::string url_;
  bool running_ = false;
};

}  // namespace semper::testing
