// deploy/ha.sh driven cluster for tests.
#include "tests/support/ha_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/base/strings.h"

namespace semper::testing {
namespace {

constexpr int kPorts = 25;  // what deploy/ha.sh takes from its base port

bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// A run of kPorts free ports, below the kernel's ephemeral range (where FreePort draws).
int FreePortRange() {
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int base = 20000 + (static_cast<int>(getpid()) * 7 + attempt * 97) % 10000;
    bool all = true;
    for (int p = base; p < base + kPorts && all; ++p) all = PortFree(p);
    if (all) return base;
  }
  return 0;
}

std::string HaScript() { return std::string(SEMPER_SOURCE_DIR) + "/deploy/ha.sh"; }

}  // namespace

CommandResult HaCluster::Ha(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"env", StrCat("HA_BASE_PORT=", base_port_), "bash", HaScript()};
  argv.push_back(args.at(0));
  argv.push_back(dir_.path() + "/ha");
  argv.insert(argv.end(), args.begin() + 1, args.end());
  return RunCommand(argv);
}

absl::StatusOr<std::unique_ptr<HaCluster>> HaCluster::Start() {
  std::unique_ptr<HaCluster> c(new HaCluster());
  chmod(c->dir_.path().c_str(), 0755);  // the postgres user enters it
  c->base_port_ = FreePortRange();
  if (c->base_port_ == 0) return absl::UnavailableError("HA cluster: no run of free ports");
  c->running_ = true;
  CommandResult r = c->Ha({"start"});
  if (r.exit_code != 0) return absl::UnavailableError(StrCat("deploy/ha.sh start failed: ", r.Describe()));
  c->url_ = Slurp(c->dir_.path() + "/ha/secrets/database.url");
  while (!c->url_.empty() && c->url_.back() == '\n') c->url_.pop_back();
  if (c->url_.empty()) return absl::UnavailableError("deploy/ha.sh wrote no database.url");
  return c;
}

HaCluster::~HaCluster() {
  if (running_) Ha({"stop"});
}

std::string HaCluster::Leader() const {
  std::string out = Ha({"leader"}).out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string HaCluster::Members() const { return Ha({"status"}).out; }

absl::Status HaCluster::Kill(const std::string& node) {
  CommandResult r = Ha({"kill", node});
  if (r.exit_code != 0) return absl::InternalError(r.Describe());
  return absl::OkStatus();
}

absl::Status HaCluster::StartNode(const std::string& node) {
  CommandResult r = Ha({"start-node", node});
  if (r.exit_code != 0) return absl::InternalError(r.Describe());
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> HaCluster::AwaitReady(absl::Duration limit) const {
  const absl::Time start = absl::Now();
  CommandResult r = Ha({"wait", StrCat(absl::ToInt64Seconds(limit))});
  if (r.exit_code != 0) return absl::UnavailableError(r.Describe());
  return absl::Now() - start;
}

int HaCluster::PortOf(const std::string& node) const { return base_port_ + 10 + std::stoi(node.substr(2)); }

std::string HaCluster::SuperuserConnInfo(const std::string& database) const {
  return StrCat("host=127.0.0.1,127.0.0.1,127.0.0.1 port=", PortOf("pg1"), ",", PortOf("pg2"), ",", PortOf("pg3"),
                " user=postgres passfile=", dir_.path(), "/ha/secrets/pgpass dbname=", database,
                " target_session_attrs=read-write connect_timeout=5 sslmode=verify-full sslrootcert=", dir_.path(),
                "/ha/ca.pem");
}

// The semper role's URL with the password taken from deploy/ha.sh's password file instead: psql's
// command line is visible to every local user.
static std::string WithoutPassword(const std::string& url, const std::string& passfile) {
  const size_t colon = url.find(':', url.find("://") + 3);
  const size_t at = url.find('@');
  std::string out = colon < at ? url.substr(0, colon) + url.substr(at) : url;
  return out + (out.find('?') == std::string::npos ? "?" : "&") + "passfile=" + passfile;
}

// psql -c with `conninfo`: the output without its trailing newlines.
static absl::StatusOr<std::string> Psql(const std::string& conninfo, const std::string& sql) {
  auto r = RunCommand({"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql});
  if (r.exit_code != 0) return absl::UnavailableError(StrCat("psql: ", r.Describe()));
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

absl::StatusOr<std::string> HaCluster::Query(const std::string& sql) const {
  return Psql(WithoutPassword(url_, dir_.path() + "/ha/secrets/pgpass"), sql);
}

absl::StatusOr<std::string> HaCluster::SuperuserQuery(const std::string& sql) const {
  return Psql(SuperuserConnInfo("postgres"), sql);
}

absl::StatusOr<std::string> HaCluster::QueryNode(const std::string& node, const std::string& sql) const {
  const std::string url =
      StrCat("postgresql://semper@127.0.0.1:", PortOf(node), "/semper?connect_timeout=3&passfile=", dir_.path(),
             "/ha/secrets/pgpass&sslmode=verify-full&sslrootcert=", dir_.path(), "/ha/ca.pem");
  return Psql(url, sql);
}

}  // namespace semper::testing
