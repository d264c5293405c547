#!/usr/bin/env bash
# PostgreSQL that survives its primary, as local processes: etcd (the consensus store), and
# HA_NODES (default 3) PostgreSQL 15 nodes each run by Patroni, in synchronous mode: a commit is
# acknowledged only once it is on the leader and on its synchronous standby, and only that standby
# can become the leader. Patroni is strict about it (synchronous_mode_strict): with no standby
# left, commits wait instead of being acknowledged by one machine alone; with three nodes, one may
# be lost and the cluster still commits.
#
#   deploy/ha.sh start DIR        creates (first time) and starts the cluster, waits until it has a
#                                 leader and a synchronous standby, creates the semper role and
#                                 database; writes DIR/secrets/database.url (for SEMPER_DATABASE_URL)
#   deploy/ha.sh stop DIR         stops every node and etcd (data kept)
#   deploy/ha.sh status DIR       the members, their roles and lag (patronictl list)
#   deploy/ha.sh leader DIR       prints the leader's name (pg1, pg2, ...)
#   deploy/ha.sh sync-state DIR   "<synchronous standbys streaming> <synchronous_commit>" as the leader
#                                 reports them ("1 on" when commits wait for a standby)
#   deploy/ha.sh kill DIR NODE    SIGKILL to NODE's Patroni and every PostgreSQL process of it: the
#                                 machine lost, nothing shut down
#   deploy/ha.sh start-node DIR NODE   starts a stopped or killed node again; it rejoins as a standby
#   deploy/ha.sh wait DIR [SECONDS]    waits until there is a leader and a synchronous standby
#   deploy/ha.sh url DIR          prints the semper connection URL
#
# In containers (deploy/docker-compose.ha.yml, HA_CONTAINER=1: etcd and every node in a container
# of its own, reached by service name on the standard ports; deploy/docker/ha-entrypoint.sh runs):
#   deploy/ha.sh pki DIR          the cluster's CA and certificates only (DIR/pki, DIR/ca.pem)
#   deploy/ha.sh run-etcd DIR     etcd in the foreground
#   deploy/ha.sh run-node DIR NODE     Patroni and node NODE's PostgreSQL in the foreground
#   deploy/ha.sh database DIR     waits for a leader and a synchronous standby, creates the role
#                                 and database semper if missing
#
# Daemons reach the leader with a libpq multi-host URL and target_session_attrs=read-write (libpq
# tries the nodes in turn and keeps the one that accepts writes), not through HAProxy: one process
# fewer on the path of every query and nothing to make highly available in front of the database.
# The README's operator section says why, and what the same looks like on several machines.
#
# Settings (environment): HA_NODES (3), HA_BASE_PORT (56400: etcd on it and +1, PostgreSQL on
# +10+i, Patroni's REST API on +20+i), HA_TTL (10 s: how long a dead leader keeps the leader key,
# which bounds the failover time), PG_BINDIR (the newest /usr/lib/postgresql/*/bin).
# Run as root (the nodes run as the postgres user) or as an ordinary user.
set -euo pipefail

action=${1:-}
DIR=${2:-}
if [[ -z "$action" || -z "$DIR" ]]; then
  sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
  exit 2
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
# The settings a cluster was made with are kept in DIR/ha.env, so that later commands need none.
[[ -f "$DIR/ha.env" ]] && . "$DIR/ha.env"
NODES=${HA_NODES:-3}
BASE=${HA_BASE_PORT:-56400}
TTL=${HA_TTL:-10}
PG_BINDIR=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
if [[ -n ${HA_CONTAINER:-} ]]; then
  # Every process in its own container: etcd and pg1..pgN by service name, standard ports, clients
  # from anywhere on the compose network (TLS and a password always).
  LISTEN=0.0.0.0 ETCD_HOST=etcd ETCD_PORT=2379 CLIENT_NETS="0.0.0.0/0 ::/0"
  pg_port() { echo 5432; }
  rest_port() { echo 8008; }
  node_host() { echo "pg$1"; }
  CERT_NAMES="DNS:etcd,DNS:localhost,IP:127.0.0.1$(for i in $(seq 1 "$NODES"); do printf ',DNS:pg%s' "$i"; done)"
else
  LISTEN=127.0.0.1 ETCD_HOST=127.0.0.1 ETCD_PORT=$BASE CLIENT_NETS=127.0.0.1/32
  pg_port() { echo $((BASE + 10 + $1)); }
  rest_port() { echo $((BASE + 20 + $1)); }
  node_host() { echo 127.0.0.1; }
  CERT_NAMES="IP:127.0.0.1,DNS:localhost"
fi
node_index() { [[ "$1" =~ ^pg([0-9]+)$ ]] && ((BASH_REMATCH[1] >= 1 && BASH_REMATCH[1] <= NODES)) || {
  echo "ha.sh: no node '$1' (pg1..pg$NODES)" >&2
  exit 2
}; echo "${BASH_REMATCH[1]}"; }

as_postgres() { if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
# running PIDFILE WHAT: the process of the file runs and is WHAT (a pid file left by a kill may name
# a pid the kernel has since given to another process).
running() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null && grep -q "$2" "/proc/$(cat "$1")/cmdline" 2>/dev/null; }
# secret NAME: a password of DIR/secrets; stops the script (also inside $(...) with set -e) when it
# is missing, empty, or holds anything but letters, digits and . _ ~ - (it goes into YAML, SQL
# and URLs as it is).
secret() {
  local v
  v=$(cat "$DIR/secrets/$1" 2>/dev/null) || { echo "ha.sh: no secret $DIR/secrets/$1" >&2; exit 1; }
  [[ $v =~ ^[A-Za-z0-9._~-]+$ ]] || {
    echo "ha.sh: the secret $1 is empty or holds characters other than A-Z a-z 0-9 . _ ~ -" >&2
    exit 1
  }
  printf '%s' "$v"
}

make_secrets() {
  mkdir -p "$DIR/secrets"
  chmod 700 "$DIR/secrets"
  for s in postgres-password replicator-password rewind-password semper-db-password patroni-api-password; do
    [[ -f "$DIR/secrets/$s" ]] || (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$DIR/secrets/$s")
  done
  [[ -f "$DIR/ha.env" ]] || printf 'HA_NODES=%s\nHA_BASE_PORT=%s\nHA_TTL=%s\n' "$NODES" "$BASE" "$TTL" >"$DIR/ha.env"
}

# The consensus store is the cluster's control: whoever writes to it decides who leads and whether
# commits wait for a standby. etcd therefore takes only clients with a certificate of the
# cluster's own CA (made here, P-256, 10 years), on its client and peer ports alike; Patroni's
# REST API takes changes (PATCH /config, failover, restart) only with a password. PostgreSQL
# speaks TLS with the same CA's server certificate, and every client of it (the daemons, the
# standbys, pg_rewind, Patroni) verifies it (sslmode=verify-full): a local user listening on a
# stopped node's port cannot pass for it and collect the passwords clients send. The keys are the
# postgres user's (Patroni and PostgreSQL run as it) and root's; the CA's certificate is
# DIR/ca.pem for every client.
make_pki() {
  local p="$DIR/pki"
  [[ -f "$p/client.pem" && -f "$DIR/ca.pem" ]] && return
  mkdir -p "$p"
  chmod 700 "$p"
  (
    umask 077
    cd "$p"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=semper HA etcd CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
    for who in server client; do
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$who.key" -out "$who.csr" \
        -subj "/CN=semper HA etcd $who" 2>/dev/null
      printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$CERT_NAMES" >"$who.ext"
      openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -extfile "$who.ext" \
        -out "$who.pem" 2>/dev/null
      rm -f "$who.csr" "$who.ext"
    done
    rm -f ca.key ca.srl  # nothing more is ever issued
  )
  # The keys are the postgres user's before DIR/ca.pem (what says the PKI is made) appears.
  if [[ $(id -u) -eq 0 ]]; then chown -R postgres:postgres "$p"; fi
  install -m 644 "$p/ca.pem" "$DIR/ca.pem.new"
  mv "$DIR/ca.pem.new" "$DIR/ca.pem"
  [[ -f "$p/client.pem" ]] || { echo "ha.sh: could not make etcd's certificates" >&2; exit 1; }
}
etcd_curl() { curl -fsS -m 2 --cacert "$DIR/pki/ca.pem" --cert "$DIR/pki/client.pem" --key "$DIR/pki/client.key" "$@"; }

# The YAML of node i. Passwords sit in a file only the postgres user reads (Patroni needs them
# in its configuration), never on a command line.
node_config() {
  local i=$1 api_pw su_pw repl_pw rewind_pw
  # Read before the here-document: a failed $(...) inside it would not stop the script.
  api_pw=$(secret patroni-api-password)
  su_pw=$(secret postgres-password)
  repl_pw=$(secret replicator-password)
  rewind_pw=$(secret rewind-password)
  cat <<YAML
scope: semper
name: pg$i
log:
  level: WARNING
restapi:
  listen: $LISTEN:$(rest_port "$i")
  connect_address: $(node_host "$i"):$(rest_port "$i")
  # TLS: members send the API password to each other; a local user on a dead member's port must
  # not receive it.
  certfile: $DIR/pki/server.pem
  keyfile: $DIR/pki/server.key
  authentication:
    username: patroni
    password: "$api_pw"
ctl:
  cacert: $DIR/ca.pem
  authentication:
    username: patroni
    password: "$api_pw"
etcd:
  host: $ETCD_HOST:$ETCD_PORT
  protocol: https
  cacert: $DIR/pki/ca.pem
  cert: $DIR/pki/client.pem
  key: $DIR/pki/client.key
bootstrap:
  dcs:
    ttl: $TTL
    loop_wait: 1
    retry_timeout: $(((TTL - 1) / 2))
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        synchronous_commit: "on"
        max_connections: 300
        # A standby retries its primary (and notices a promotion) every 0.5 s instead of 5 s:
        # seconds off every failover.
        wal_retrieve_retry_interval: 500ms
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth-host: scram-sha-256
    - auth-local: scram-sha-256
postgresql:
  listen: $LISTEN:$(pg_port "$i")
  connect_address: $(node_host "$i"):$(pg_port "$i")
  data_dir: $DIR/pg$i/data
  # Patroni's own connection to its PostgreSQL through the socket in the node's 0700 directory:
  # "localhost" could be ::1, where a local user can listen.
  use_unix_socket: true
  bin_dir: $PG_BINDIR
  pgpass: $DIR/pg$i/pgpass
  pg_hba:
    - local all all scram-sha-256
$(for n in $CLIENT_NETS; do
    printf '    - hostssl replication replicator %s scram-sha-256\n    - hostssl all all %s scram-sha-256\n' "$n" "$n"
  done)
  authentication:
    superuser:
      username: postgres
      password: "$su_pw"
      sslmode: verify-full
      sslrootcert: $DIR/ca.pem
    replication:
      username: replicator
      password: "$repl_pw"
      sslmode: verify-full
      sslrootcert: $DIR/ca.pem
    rewind:
      username: rewind
      password: "$rewind_pw"
      sslmode: verify-full
      sslrootcert: $DIR/ca.pem
  parameters:
    unix_socket_directories: $DIR/pg$i
    ssl: "on"
    ssl_cert_file: $DIR/pki/server.pem
    ssl_key_file: $DIR/pki/server.key
tags:
  nofailover: false
  noloadbalance: false
YAML
}

# One etcd member here; on several machines, three (see the README). v2 API: Debian's Patroni
# speaks it (python3-etcd).
etcd_argv() {
  local p="$DIR/pki" peer="https://$ETCD_HOST:$((ETCD_PORT + 1))"
  ETCD_ARGV=(etcd --name semper-etcd --data-dir "$DIR/etcd/data"
    --listen-client-urls "https://$LISTEN:$ETCD_PORT" --advertise-client-urls "https://$ETCD_HOST:$ETCD_PORT"
    --cert-file "$p/server.pem" --key-file "$p/server.key" --trusted-ca-file "$p/ca.pem" --client-cert-auth
    --listen-peer-urls "https://$LISTEN:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "$peer"
    --initial-cluster "semper-etcd=$peer"
    --peer-cert-file "$p/server.pem" --peer-key-file "$p/server.key" --peer-trusted-ca-file "$p/ca.pem"
    --peer-client-cert-auth --enable-v2=true)
}

start_etcd() {
  mkdir -p "$DIR/etcd"
  if running "$DIR/etcd/etcd.pid" etcd; then return; fi
  etcd_argv
  ETCD_UNSUPPORTED_ARCH= nohup "${ETCD_ARGV[@]}" >>"$DIR/etcd/etcd.log" 2>&1 &
  echo $! >"$DIR/etcd/etcd.pid"
  for _ in $(seq 1 100); do
    etcd_curl "https://$ETCD_HOST:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"' && return
    running "$DIR/etcd/etcd.pid" etcd || break
    sleep 0.1
  done
  echo "ha.sh: etcd did not start; see $DIR/etcd/etcd.log" >&2
  tail -n 20 "$DIR/etcd/etcd.log" >&2
  exit 1
}

# prepare_node I: node I's directory (the postgres user's, 0700) and its Patroni configuration.
prepare_node() {
  local i=$1 d="$DIR/pg$1"
  mkdir -p "$d"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$d"
  chmod 700 "$d"
  # Written with the postgres user's rights: as root, a link the postgres user left in its own
  # directory would make root write (and hand over) another file.
  local config
  config=$(node_config "$i")
  as_postgres bash -c 'umask 077; rm -f "$1"; cat >"$1"' _ "$d/patroni.yml" <<<"$config"
}

start_node() {
  local i=$1 d="$DIR/pg$1"
  if running "$d/patroni.pid" patroni; then return; fi
  prepare_node "$i"
  # A node killed with SIGKILL leaves its postmaster.pid; Patroni starts PostgreSQL past it.
  as_postgres bash -c "nohup patroni '$d/patroni.yml' >>'$d/patroni.log' 2>&1 & echo \$! >'$d/patroni.pid'"
}

# The cluster as Patroni's REST API reports it: one line per member, "name role state lag".
members() {
  local i out
  for i in $(seq 1 "$NODES"); do
    out=$(curl -fsS -m 2 --cacert "$DIR/ca.pem" "https://$(node_host "$i"):$(rest_port "$i")/cluster" 2>/dev/null) || continue
    python3 -c '
import json, sys
for m in json.load(sys.stdin).get("members", []):
    print(m["name"], m["role"], m.get("state", "?"), m.get("lag", 0))' <<<"$out" && return 0
  done
  return 1
}

leader() { members 2>/dev/null | awk '$2 == "leader" && $3 == "running" {print $1}'; }

# sync_state: "<synchronous standbys streaming> <synchronous_commit>" as the leader reports them
# (pg_stat_replication and the server's settings, not Patroni's view), e.g. "1 on".
sync_state() {
  PGPASSWORD=$(secret postgres-password) psql -X -q -A -t -F ' ' -d "$(url postgres postgres)" -c \
    "SELECT (SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'), \
            CASE WHEN current_setting('synchronous_standby_names') = '' THEN 'off' ELSE current_setting('synchronous_commit') END"
}

# wait_ready SECONDS: a leader that accepts writes and a streaming synchronous standby.
wait_ready() {
  local end=$((SECONDS + $1)) m
  while ((SECONDS < end)); do
    m=$(members 2>/dev/null || true)
    if grep -q ' leader running' <<<"$m" && grep -Eq ' sync_standby (streaming|running)' <<<"$m"; then
      PGPASSWORD=$(secret postgres-password) psql -X -q -A -t -d "$(url postgres postgres)" \
        -c 'SELECT 1' >/dev/null 2>&1 && return 0
    fi
    sleep 0.5
  done
  echo "ha.sh: no leader with a synchronous standby after $1 s:" >&2
  members >&2 || true
  return 1
}

# url USER DATABASE [PASSWORD]: the libpq multi-host URL that always reaches the leader.
url() {
  local hosts="" i
  for i in $(seq 1 "$NODES"); do hosts+="${hosts:+,}$(node_host "$i"):$(pg_port "$i")"; done
  # TCP keepalives and a send timeout: a leader whose machine vanishes (power, network) without
  # closing its connections is noticed within about 10 s, not TCP's 15 minutes.
  # TLS to a server with the cluster's certificate only.
  echo "postgresql://$1${3:+:$3}@$hosts/$2?target_session_attrs=read-write&connect_timeout=3&keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000&sslmode=verify-full&sslrootcert=$DIR/ca.pem"
}

create_database() {
  local pw su
  pw=$(secret semper-db-password)
  su() { PGPASSWORD=$(secret postgres-password) psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$(url postgres postgres)" "$@"; }
  # The role and the database each checked on their own: a first run cut between the two
  # (a failover) leaves the second to the next run. The password holds no quote (secret checks it).
  if [[ $(su <<<"SELECT 1 FROM pg_roles WHERE rolname = 'semper'") != 1 ]]; then
    su <<<"CREATE ROLE semper LOGIN PASSWORD '$pw'"
  fi
  if [[ $(su <<<"SELECT 1 FROM pg_database WHERE datname = 'semper'") != 1 ]]; then
    su <<<"CREATE DATABASE semper OWNER semper"
  fi
  (umask 077; url semper semper "$pw" >"$DIR/secrets/database.url")
  # For psql and tools: a password file (libpq's passfile=), so that no password is on a command line.
  (umask 077; printf '*:*:*:semper:%s\n*:*:*:postgres:%s\n' "$pw" "$(secret postgres-password)" >"$DIR/secrets/pgpass")
}

kill_node() {
  local i=$1 d="$DIR/pg$1" pm pids
  running "$d/patroni.pid" patroni && kill -KILL "$(cat "$d/patroni.pid")" 2>/dev/null || true
  if [[ -f "$d/data/postmaster.pid" ]] && grep -q postgres "/proc/$(head -n1 "$d/data/postmaster.pid")/cmdline" 2>/dev/null; then
    pm=$(head -n1 "$d/data/postmaster.pid")
    # The postmaster and its children (backends, WAL sender, checkpointer) at once.
    pids=$(pgrep -P "$pm" || true)
    kill -KILL "$pm" $pids 2>/dev/null || true
  fi
  rm -f "$d/patroni.pid"
}

stop_all() {
  local i
  for i in $(seq 1 "$NODES"); do
    running "$DIR/pg$i/patroni.pid" patroni && kill -TERM "$(cat "$DIR/pg$i/patroni.pid")"
  done
  for i in $(seq 1 "$NODES"); do
    for _ in $(seq 1 300); do running "$DIR/pg$i/patroni.pid" patroni || break; sleep 0.1; done
    running "$DIR/pg$i/patroni.pid" patroni && kill_node "$i"
    rm -f "$DIR/pg$i/patroni.pid"
  done
  if running "$DIR/etcd/etcd.pid" etcd; then
    kill -TERM "$(cat "$DIR/etcd/etcd.pid")"
    for _ in $(seq 1 100); do running "$DIR/etcd/etcd.pid" etcd || break; sleep 0.1; done
  fi
  rm -f "$DIR/etcd/etcd.pid"
}

case "$action" in
  start)
    for tool in etcd patroni psql curl; do
      command -v "$tool" >/dev/null || { echo "ha.sh: $tool is missing (deploy/install-deps.sh run installs it)" >&2; exit 1; }
    done
    [[ $(id -u) -eq 0 ]] && chmod 755 "$DIR"  # the postgres user enters it
    make_secrets
    make_pki
    start_etcd
    for i in $(seq 1 "$NODES"); do start_node "$i"; done
    wait_ready 120
    create_database
    echo "ha.sh: leader $(leader); connection URL in $DIR/secrets/database.url"
    ;;
  stop) stop_all ;;
  status)
    members || { echo "ha.sh: no node answers" >&2; exit 1; }
    # Whoever can write to etcd or Patroni's API could switch synchronous replication off: say so.
    for i in $(seq 1 "$NODES"); do
      cfg=$(curl -fsS -m 2 --cacert "$DIR/ca.pem" "https://$(node_host "$i"):$(rest_port "$i")/config" 2>/dev/null) || continue
      python3 -c '
import json, sys
c = json.load(sys.stdin)
if not (c.get("synchronous_mode") and c.get("synchronous_mode_strict")):
    print("WARNING: synchronous_mode is off: a commit is acknowledged by the leader alone, and its loss loses it")' <<<"$cfg"
      break
    done
    # What the leader does, whatever the configuration says (a superuser's ALTER SYSTEM could
    # empty synchronous_standby_names behind Patroni's back).
    sync=$(sync_state 2>/dev/null || true)
    [[ $sync == "1 on" ]] || echo "WARNING: the leader has no synchronous standby streaming (${sync:-no answer}): commits are not on two machines"
    ;;
  leader) leader ;;
  sync-state) sync_state ;;
  kill) kill_node "$(node_index "${3:-}")" ;;
  start-node) start_node "$(node_index "${3:-}")" ;;
  wait) wait_ready "${3:-60}" ;;
  url) cat "$DIR/secrets/database.url" ;;
  pki)
    make_pki
    chmod 755 "$DIR"  # DIR/ca.pem for every client; the keys stay in DIR/pki (0700)
    ;;
  run-etcd | run-node)
    # The server runs as the postgres user with its own home (setpriv keeps root's environment,
    # and libpq would then look for client certificates under /root, which it may not read).
    if [[ $(id -u) -eq 0 ]]; then
      HOME=$(getent passwd postgres | cut -d: -f6)
      export HOME USER=postgres LOGNAME=postgres
    fi
    ;;&
  run-etcd)
    mkdir -p "$DIR/etcd"
    if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$DIR/etcd"; fi
    chmod 700 "$DIR/etcd"
    etcd_argv
    cd /
    # setpriv, not runuser: the server itself becomes the container's PID 1 and reaps its children.
    if [[ $(id -u) -eq 0 ]]; then exec setpriv --reuid=postgres --regid=postgres --init-groups "${ETCD_ARGV[@]}"; fi
    exec "${ETCD_ARGV[@]}"
    ;;
  run-node)
    i=$(node_index "${3:-}")
    prepare_node "$i"
    cd /
    # Patroni as PID 1 (setpriv execs it): it reaps a crashed postmaster and restarts it; under
    # runuser the dead postmaster stayed a zombie that Patroni took for a running server.
    if [[ $(id -u) -eq 0 ]]; then exec setpriv --reuid=postgres --regid=postgres --init-groups patroni "$DIR/pg$i/patroni.yml"; fi
    exec patroni "$DIR/pg$i/patroni.yml"
    ;;
  database)
    wait_ready "${3:-300}"
    create_database
    echo "ha.sh: leader $(leader); role and database semper ready"
    ;;
  *)
    echo "usage: deploy/ha.sh start|stop|status|leader|sync-state|kill|start-node|wait|url|pki|run-etcd|run-node|database DIR [NODE]" >&2
    exit 2
    ;;
esac
