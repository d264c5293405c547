#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, and starts the suite on this
# machine. Without SEMPER_DATABASE_URL it starts a private PostgreSQL 15 cluster under
# $SEMPER_STATE_DIR (default /var/lib/semper as root, ./.semper otherwise), listening on
# 127.0.0.1:$SEMPER_PG_PORT (default 55432).
# Run as root on Debian 12. `deploy/up.sh stop` stops what it started; `deploy/up.sh status`
# tells what runs.
#
# SEMPER_HA=1: the production topology on this machine instead: PostgreSQL as three Patroni nodes
# with etcd in strict synchronous mode (deploy/ha.sh, under $SEMPER_STATE_DIR/ha) and two replicas
# of every daemon (the second on the first's ports + 100), each calling the others' replicas
# round robin; client.env lists both replicas. Without SEMPER_DATABASE_URL only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
if [[ $(id -u) -eq 0 ]]; then
  STATE=${SEMPER_STATE_DIR:-/var/lib/semper}  # the postgres user must be able to reach it
else
  STATE=${SEMPER_STATE_DIR:-$ROOT/.semper}
fi
PG_PORT=${SEMPER_PG_PORT:-55432}
BUILD=${SEMPER_BUILD_DIR:-build}
action=${1:-start}
HA=${SEMPER_HA:-0}
REPLICAS=1
# A state made with SEMPER_HA=1 stays one: stop and status find its cluster, and start starts it
# again unless a database is given.
if [[ $HA == 1 ]] || { [[ -f "$STATE/ha/secrets/database.url" ]] && [[ $action != start || -z "${SEMPER_DATABASE_URL:-}" ]]; }; then
  HA=1
  REPLICAS=2
fi
CA_PORT=${SEMPER_CA_PORT:-7000} CA_HTTP_PORT=${SEMPER_CA_HTTP_PORT:-7001}
TSA_PORT=${SEMPER_TSA_PORT:-7010} TSA_HTTP_PORT=${SEMPER_TSA_HTTP_PORT:-7011}
NOTARY_PORT=${SEMPER_NOTARY_PORT:-7020} NOTARY_HTTP_PORT=${SEMPER_NOTARY_HTTP_PORT:-7021}
ARBITER_PORT=${SEMPER_ARBITER_PORT:-7030} ARBITER_HTTP_PORT=${SEMPER_ARBITER_HTTP_PORT:-7031}
LIABILITY_PORT=${SEMPER_LIABILITY_PORT:-7040} LIABILITY_HTTP_PORT=${SEMPER_LIABILITY_HTTP_PORT:-7041}
# port <first replica's port> <replica>: replica r listens 100 above replica r-1.
port() { echo $(($1 + (${2:-1} - 1) * 100)); }
# every <first replica's port>: all replicas' addresses, for clients and for the daemons' upstreams.
every() { local out="" r; for r in $(seq 1 "$REPLICAS"); do out+="${out:+,}127.0.0.1:$(port "$1" "$r")"; done; echo "$out"; }
# A replica's name: semper-tsa, semper-tsa2.
named() { if (($2 == 1)); then echo "$1"; else echo "$1$2"; fi; }
DAEMONS=(semper-ca semper-tsa semper-notary semper-arbiter semper-liability)

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }
# From /, which the postgres user can always enter (the checkout may be in /root).
as_postgres() { if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
pg_running() { [[ -f "$STATE/postgres/data/postmaster.pid" ]] && as_postgres "$(pg_bindir)/pg_ctl" -D "$STATE/postgres/data" status >/dev/null 2>&1; }

start_postgres() {
  local bindir; bindir=$(pg_bindir)
  mkdir -p "$STATE/secrets"
  chmod 755 "$STATE"  # the postgres user enters it to reach its cluster
  chmod 700 "$STATE/secrets"
  if [[ ! -d "$STATE/postgres/data" ]]; then
    echo "up.sh: creating a private PostgreSQL cluster in $STATE/postgres"
    mkdir -p "$STATE/postgres"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$STATE/postgres"
    head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$STATE/secrets/postgres-password"
    head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$STATE/secrets/semper-db-password"
    chmod 600 "$STATE/secrets/"*
    local pwfile="$STATE/postgres/.pw"
    install -m 600 "$STATE/secrets/postgres-password" "$pwfile"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$pwfile"
    as_postgres "$bindir/initdb" -D "$STATE/postgres/data" -U postgres --pwfile="$pwfile" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "up.sh: ok"
  fi
  if pg_running; then
    echo "up.sh: PostgreSQL already running"
  else
    as_postgres "$bindir/pg_ctl" -D "$STATE/postgres/data" -l "$STATE/postgres/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$STATE/postgres" start >/dev/null
  fi
  # Passwords never on a command line (/proc/*/cmdline is world-readable): the superuser's in
  # PGPASSWORD (the environment is readable by its owner only), the new role's in the SQL on stdin.
  local pw; pw=$(cat "$STATE/secrets/semper-db-password")
  su_psql() { PGPASSWORD=$(cat "$STATE/secrets/postgres-password") psql -X -q -A -t -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"; }
  if [[ $(su_psql <<<"SELECT 1 FROM pg_roles WHERE rolname = 'semper'") != 1 ]]; then
    su_psql <<SQL
CREATE ROLE semper LOGIN PASSWORD '$pw';
CREATE DATABASE semper OWNER semper;
SQL
  fi
  SEMPER_DATABASE_URL="postgresql://semper:$pw@127.0.0.1:$PG_PORT/semper"
  (umask 077; echo "$SEMPER_DATABASE_URL" > "$STATE/secrets/database.url")
}

# Signing keys in a PKCS#11 token (SoftHSM2) once deploy/keys-to-token.sh has moved them there
# (SEMPER_KEYS=softhsm at a start does that).
in_token() { [[ -f "$STATE/softhsm2.conf" ]]; }
# signing_key <token label> <key file>: the key lines of a daemon's signing-key section.
signing_key() {
  if in_token; then
    printf 'key_uri = "pkcs11:token=semper;object=%s;type=private"\npkcs11_pin_file = "%s"\n' "$1" "$STATE/secrets/token-pin"
  else
    printf 'key_file = "%s"\nkey_passphrase_file = "%s"\n' "$2" "$STATE/secrets/ca-passphrase"
  fi
}
ca_token_keys() {
  in_token || return 0
  local uri='pkcs11:token=semper;object=%s;type=private'
  printf "key_uri = \"$uri\"\nocsp_key_uri = \"$uri\"\nstatement_key_uri = \"$uri\"\n" ca ocsp statement
  [[ -f "$STATE/pki/pseudonym-ca.pem" ]] && printf "pseudonym_key_uri = \"$uri\"\n" pseudonym-ca
  printf 'pkcs11_pin_file = "%s"\n' "$STATE/secrets/token-pin"
}

daemon_running() { [[ -f "$STATE/run/$1.pid" ]] && kill -0 "$(cat "$STATE/run/$1.pid")" 2>/dev/null; }

# launch <name> <http port> <command...>: starts a daemon unless it runs, waits until /readyz.
launch() {
  local name=$1 http_port=$2; shift 2
  if daemon_running "$name"; then
    echo "$name: already running"
    return
  fi
  SEMPER_DATABASE_URL="$SEMPER_DATABASE_URL" nohup "$@" >> "$STATE/logs/$name.log" 2>&1 &
  echo $! > "$STATE/run/$name.pid"
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && return
    daemon_running "$name" || { echo "up.sh: $name did not start:"; tail -n 20 "$STATE/logs/$name.log"; exit 1; }
    sleep 0.2
  done
  echo "up.sh: $name is not ready after 20 s; see $STATE/logs/$name.log"
  exit 1
}

start_ca() {
  mkdir -p "$STATE/run" "$STATE/logs"
  if [[ ! -f "$STATE/pki/root.pem" ]]; then
    (umask 077; head -c 32 /dev/urandom | base64 | tr -d '/+=' > "$STATE/secrets/ca-passphrase")
    "$BUILD/services/ca/semper-ca" init --dir "$STATE/pki" --passphrase-file "$STATE/secrets/ca-passphrase" \
      --hostname localhost --ip 127.0.0.1 > "$STATE/logs/semper-ca-init.log"
    echo "up.sh: created the suite's PKI in $STATE/pki (root fingerprint in $STATE/logs/semper-ca-init.log)"
  fi
  # The CAs client certificates are verified with, from the PKI as it stands (also for a state
  # directory made before semper-ca init wrote this file).
  cat "$STATE/pki/root.pem" "$STATE/pki/ca.pem" "$STATE/pki/pseudonym-ca.pem" > "$STATE/pki/client-ca.pem.new"
  mv "$STATE/pki/client-ca.pem.new" "$STATE/pki/client-ca.pem"
  if [[ ${SEMPER_KEYS:-files} == softhsm ]] && ! in_token; then
    deploy/keys-to-token.sh "$STATE"
  fi
  in_token && export SOFTHSM2_CONF="$STATE/softhsm2.conf"
  local r
  for r in $(seq 1 "$REPLICAS"); do start_ca_replica "$r"; done
  echo "semper-ca:  gRPC $(every "$CA_PORT") (TLS, server name localhost; trust $STATE/pki/root.pem)"
  echo "            HTTP http://127.0.0.1:$CA_HTTP_PORT: /crl /crl/delta /crl/root /ocsp /healthz /readyz /metrics"
  echo "            log $STATE/logs/semper-ca.log"
  echo "Administrator: $STATE/pki/admin/admin.pem, key admin.key, passphrase in $STATE/secrets/ca-passphrase:"
  echo "  $BUILD/cli/semperctl/semperctl --server $(every "$CA_PORT") --server-name localhost \\"
  echo "    --ca-file $STATE/pki/root.pem --cert $STATE/pki/admin/admin.pem --key $STATE/pki/admin/admin.key \\"
  echo "    --key-passphrase-file $STATE/secrets/ca-passphrase subscriber list"
}

# start_daemon <tsa|notary|arbiter|liability>: every replica (start_<d>_replica <r> <name>), then
# what to tell the user (echo_<d>).
start_daemon() {
  local r
  for r in $(seq 1 "$REPLICAS"); do "start_$1_replica" "$r" "$(named "$1" "$r")"; done
  "echo_$1"
}

# start_ca_replica <r>: one semper-ca process; every replica serves the same PKI from the same
# database. Certificates name the first replica's HTTP address for CRLs and OCSP (in production,
# a name in front of every replica's HTTP port).
start_ca_replica() {
  local r=$1 name; name=$(named ca "$1")
  cat > "$STATE/$name.toml" <<TOML
[grpc]
listen = "127.0.0.1:$(port "$CA_PORT" "$r")"
[http]
listen = "127.0.0.1:$(port "$CA_HTTP_PORT" "$r")"
[tls]
cert_file = "$STATE/pki/services/ca-tls.pem"
key_file = "$STATE/pki/services/ca-tls.key"
key_passphrase_file = "$STATE/secrets/ca-passphrase"
client_ca_file = "$STATE/pki/client-ca.pem"
require_client_cert = false
[ca]
dir = "$STATE/pki"
key_passphrase_file = "$STATE/secrets/ca-passphrase"
public_url = "http://127.0.0.1:$CA_HTTP_PORT"
arbiter_address = "$(every "$ARBITER_PORT")"
upstream_server_name = "localhost"
$(ca_token_keys)
TOML
  launch "semper-$name" "$(port "$CA_HTTP_PORT" "$r")" "$BUILD/services/ca/semper-ca" serve --config "$STATE/$name.toml"
}

start_tsa_replica() {
  local r=$1 name=$2
  cat > "$STATE/$name.toml" <<TOML
[grpc]
listen = "127.0.0.1:$(port "$TSA_PORT" "$r")"
[http]
listen = "127.0.0.1:$(port "$TSA_HTTP_PORT" "$r")"
threads = 64
[tls]
cert_file = "$STATE/pki/services/tsa-tls.pem"
key_file = "$STATE/pki/services/tsa-tls.key"
key_passphrase_file = "$STATE/secrets/ca-passphrase"
client_ca_file = "$STATE/pki/client-ca.pem"
require_client_cert = false
[tsa]
cert_file = "$STATE/pki/services/tsa-signing.pem"
$(signing_key tsa "$STATE/pki/services/tsa-signing.key")
clock_check = "${SEMPER_TSA_CLOCK_CHECK:-warn}"
ca_address = "$(every "$CA_PORT")"
upstream_server_name = "localhost"
TOML
  launch "semper-$name" "$(port "$TSA_HTTP_PORT" "$r")" "$BUILD/services/timestamp/semper-tsa" --config "$STATE/$name.toml"
}

echo_tsa() {
  echo "semper-tsa: gRPC $(every "$TSA_PORT") (TLS, server name localhost)"
  echo "            HTTP http://127.0.0.1:$TSA_HTTP_PORT/ (RFC 3161: application/timestamp-query) /certs"
  echo "            log $STATE/logs/semper-tsa.log"
  tsa_clock_warning
}

# What the TSA's clock check means here, loudly: the local suite stamps with an unsynchronised
# clock (tsa.clock_check = "warn"); a production TSA must not (compose and the daemon's own
# default refuse: "kernel").
# The suite's certificates (what semper-ca init issued) that expire within 30 days or have:
# each file's first certificate (chain.pem and client-ca.pem bundle the others); and the root's
# CRL (semper-ca root-crl renews it).
cert_expiry_warnings() {
  local f end left subject warned=0
  for f in "$STATE"/pki/*.pem "$STATE"/pki/services/*.pem "$STATE"/pki/admin/*.pem; do
    [[ -f $f ]] || continue
    case $(basename "$f") in chain.pem | client-ca.pem) continue ;; esac
    if ! openssl x509 -in "$f" -noout 2>/dev/null; then
      echo "WARNING: $f is not a readable certificate: its expiry cannot be checked"
      warned=1
      continue
    fi
    openssl x509 -in "$f" -noout -checkend 2592000 >/dev/null 2>&1 && continue
    end=$(openssl x509 -in "$f" -noout -enddate 2>/dev/null | cut -d= -f2)
    left=$((($(date -d "$end" +%s) - $(date +%s)) / 86400))
    subject=$(openssl x509 -in "$f" -noout -subject -nameopt RFC2253 2>/dev/null | sed 's/^subject=//')
    if [[ $(date -d "$end" +%s) -le $(date +%s) ]]; then
      echo "WARNING: $f ($subject) EXPIRED on $end: peers refuse it (README, Year two)"
    else
      echo "WARNING: $f ($subject) expires on $end, in $left days (README, Year two)"
    fi
    warned=1
  done
  if [[ -f "$STATE/pki/root.crl" ]]; then
    local crl=$STATE/pki/root.crl next
    end=$(openssl crl -inform DER -in "$crl" -noout -nextupdate 2>/dev/null | cut -d= -f2) || end=""
    if ! next=$(date -d "$end" +%s 2>/dev/null) || [[ -z $end ]]; then
      echo "WARNING: $crl is not a readable CRL with a nextUpdate: re-sign it with semper-ca root-crl"
      warned=1
    elif ((next <= $(date +%s))); then
      echo "WARNING: $crl (the root's CRL) EXPIRED on $end: relying parties refuse the root's certificates; re-sign it with semper-ca root-crl (README, Year two)"
      warned=1
    elif ((next - $(date +%s) < 2592000)); then
      echo "WARNING: $crl (the root's CRL) is valid until $end: re-sign it with semper-ca root-crl (README, Year two)"
      warned=1
    fi
  fi
  if [[ $warned == 0 && -f "$STATE/pki/root.pem" ]]; then echo "certificates: none expires within 30 days"; fi
}

tsa_clock_warning() {
  grep -q clock_unsynchronised "$STATE/logs/semper-tsa.log" 2>/dev/null || return 0
  case "$(sed -n 's/^clock_check = "\(.*\)"$/\1/p' "$STATE/tsa.toml" 2>/dev/null)" in
    kernel)
      echo "  WARNING: the kernel reports this machine's clock unsynchronised, so semper-tsa refuses to stamp"
      echo "  (timeNotAvailable). Run an NTP client (apt-get install chrony)." ;;
    warn)
      echo "  WARNING: the kernel reports this machine's clock unsynchronised; semper-tsa stamps anyway"
      echo "  (tsa.clock_check = \"warn\", this local suite's default), and counts such tokens in"
      echo "  semper_tsa_unsynchronised_tokens_total. A production TSA keeps time with NTP (apt-get install"
      echo "  chrony) and runs with clock_check = \"kernel\" (SEMPER_TSA_CLOCK_CHECK=kernel deploy/up.sh), which"
      echo "  refuses to stamp while the clock is unsynchronised." ;;
  esac
}

start_notary_replica() {
  local r=$1 name=$2
  cat > "$STATE/$name.toml" <<TOML
[grpc]
listen = "127.0.0.1:$(port "$NOTARY_PORT" "$r")"
[http]
listen = "127.0.0.1:$(port "$NOTARY_HTTP_PORT" "$r")"
[tls]
cert_file = "$STATE/pki/services/notary-tls.pem"
key_file = "$STATE/pki/services/notary-tls.key"
key_passphrase_file = "$STATE/secrets/ca-passphrase"
client_ca_file = "$STATE/pki/client-ca.pem"
require_client_cert = false
[notary]
cert_file = "$STATE/pki/services/notary-signing.pem"
$(signing_key notary "$STATE/pki/services/notary-signing.key")
trust_file = "$STATE/pki/root.pem"
ca_address = "$(every "$CA_PORT")"
tsa_address = "$(every "$TSA_PORT")"
upstream_server_name = "localhost"
TOML
  launch "semper-$name" "$(port "$NOTARY_HTTP_PORT" "$r")" "$BUILD/services/notary/semper-notary" --config "$STATE/$name.toml"
}

echo_notary() {
  echo "semper-notary: gRPC $(every "$NOTARY_PORT") (TLS, server name localhost); log $STATE/logs/semper-notary.log"
}

start_arbiter_replica() {
  local r=$1 name=$2
  cat > "$STATE/$name.toml" <<TOML
[grpc]
listen = "127.0.0.1:$(port "$ARBITER_PORT" "$r")"
[http]
listen = "127.0.0.1:$(port "$ARBITER_HTTP_PORT" "$r")"
[tls]
cert_file = "$STATE/pki/services/arbiter-tls.pem"
key_file = "$STATE/pki/services/arbiter-tls.key"
key_passphrase_file = "$STATE/secrets/ca-passphrase"
client_ca_file = "$STATE/pki/client-ca.pem"
require_client_cert = false
[arbiter]
cert_file = "$STATE/pki/services/arbiter-signing.pem"
$(signing_key arbiter "$STATE/pki/services/arbiter-signing.key")
trust_file = "$STATE/pki/root.pem"
ca_address = "$(every "$CA_PORT")"
notary_address = "$(every "$NOTARY_PORT")"
upstream_server_name = "localhost"
TOML
  # The escrow key for certified mail by fair exchange (made by init since 2026-11-25; a state
  # from before has none, and the arbiter then refuses to resolve exchanges of documents).
  if [ -f "$STATE/pki/services/arbiter-escrow.pem" ]; then
    cat >> "$STATE/$name.toml" <<TOML
[escrow]
cert_file = "$STATE/pki/services/arbiter-escrow.pem"
key_file = "$STATE/pki/services/arbiter-escrow.key"
key_passphrase_file = "$STATE/secrets/ca-passphrase"
TOML
  fi
  launch "semper-$name" "$(port "$ARBITER_HTTP_PORT" "$r")" "$BUILD/services/arbiter/semper-arbiter" --config "$STATE/$name.toml"
}

echo_arbiter() {
  echo "semper-arbiter: gRPC $(every "$ARBITER_PORT") (TLS, server name localhost); log $STATE/logs/semper-arbiter.log"
}

start_liability_replica() {
  local r=$1 name=$2
  cat > "$STATE/$name.toml" <<TOML
[grpc]
listen = "127.0.0.1:$(port "$LIABILITY_PORT" "$r")"
[http]
listen = "127.0.0.1:$(port "$LIABILITY_HTTP_PORT" "$r")"
[tls]
cert_file = "$STATE/pki/services/liability-tls.pem"
key_file = "$STATE/pki/services/liability-tls.key"
key_passphrase_file = "$STATE/secrets/ca-passphrase"
client_ca_file = "$STATE/pki/client-ca.pem"
require_client_cert = false
[liability]
cert_file = "$STATE/pki/services/liability-signing.pem"
$(signing_key liability "$STATE/pki/services/liability-signing.key")
trust_file = "$STATE/pki/root.pem"
ca_address = "$(every "$CA_PORT")"
upstream_server_name = "localhost"
arbiter_cert_file = "$STATE/pki/services/arbiter-signing.pem"
$( [ -f "$STATE/pki/pseudonym-ca.pem" ] && echo "intermediates_file = \"$STATE/pki/pseudonym-ca.pem\"" )
TOML
  launch "semper-$name" "$(port "$LIABILITY_HTTP_PORT" "$r")" "$BUILD/services/liability/semper-liability" --config "$STATE/$name.toml"
}

echo_liability() {
  echo "semper-liability: gRPC $(every "$LIABILITY_PORT") (TLS, server name localhost); log $STATE/logs/semper-liability.log"
}

# The endpoints and the administrator's credentials, for semperctl (its SEMPERCTL_* variables) and
# for tests/scenario/marketplace.sh.
write_client_env() {
  cat > "$STATE/client.env" <<ENV
SEMPERCTL_SERVER=$(every "$CA_PORT")
SEMPERCTL_TSA=$(every "$TSA_PORT")
SEMPERCTL_NOTARY=$(every "$NOTARY_PORT")
SEMPERCTL_ARBITER=$(every "$ARBITER_PORT")
SEMPERCTL_LIABILITY=$(every "$LIABILITY_PORT")
SEMPERCTL_CA_FILE=$STATE/pki/root.pem
SEMPER_SERVER_NAME=localhost
SEMPER_CA_HTTP=http://127.0.0.1:$CA_HTTP_PORT
SEMPER_TSA_HTTP=http://127.0.0.1:$TSA_HTTP_PORT
SEMPER_ADMIN_CERT=$STATE/pki/admin/admin.pem
SEMPER_ADMIN_KEY=$STATE/pki/admin/admin.key
SEMPER_ADMIN_PASSPHRASE_FILE=$STATE/secrets/ca-passphrase
ENV
}

# Every replica that may run (those of an HA state too).
all_daemons() {
  local d r
  for d in semper-liability semper-arbiter semper-notary semper-tsa semper-ca; do
    for r in 1 2; do named "$d" "$r"; done
  done
}

stop_daemons() {
  for d in $(all_daemons); do
    if daemon_running "$d"; then
      kill -TERM "$(cat "$STATE/run/$d.pid")"
      for _ in $(seq 1 150); do daemon_running "$d" || break; sleep 0.1; done
      echo "up.sh: $d stopped"
    fi
    rm -f "$STATE/run/$d.pid"
  done
}

case "$action" in
  start)
    if [[ $HA == 1 ]]; then bash deploy/install-deps.sh ha; else bash deploy/install-deps.sh run; fi
    # Only what runs (the five daemons and semperctl, optimised); a new build directory is
    # configured without the tests, which deploy/test.sh builds in its own tree, and without
    # debugging information (Release: a cold build on 2 cores, with RelWithDebInfo, took 11 min).
    echo "up.sh: building the daemons and semperctl in $BUILD (ninja shows [done/total])"
    SEMPER_BUILD_TARGETS="semper-ca semper-tsa semper-notary semper-arbiter semper-liability semperctl" \
      SEMPER_NEW_BUILD_ARGS="-DSEMPER_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release" bash deploy/build.sh
    if [[ $HA == 1 ]]; then
      [[ -z "${SEMPER_DATABASE_URL:-}" ]] || { echo "up.sh: SEMPER_HA=1 starts its own PostgreSQL cluster; unset SEMPER_DATABASE_URL" >&2; exit 2; }
      mkdir -p "$STATE/secrets"
      chmod 700 "$STATE/secrets"
      HA_BASE_PORT=${SEMPER_HA_BASE_PORT:-56400} bash deploy/ha.sh start "$STATE/ha"
      SEMPER_DATABASE_URL=$(cat "$STATE/ha/secrets/database.url")
      echo "PostgreSQL: three Patroni nodes (deploy/ha.sh status $STATE/ha), database semper, user semper"
      echo "            connection URL (every node; libpq keeps the leader) in $STATE/ha/secrets/database.url"
    elif [[ -z "${SEMPER_DATABASE_URL:-}" ]]; then
      start_postgres
      echo "PostgreSQL: 127.0.0.1:$PG_PORT, database semper, user semper"
      echo "            connection URL (with password) in $STATE/secrets/database.url"
    else
      echo "PostgreSQL: using SEMPER_DATABASE_URL from the environment"
      mkdir -p "$STATE/secrets"
    fi
    start_ca
    for d in tsa notary arbiter liability; do start_daemon "$d"; done
    write_client_env
    echo
    echo "Everything semperctl needs to reach the suite is in $STATE/client.env:"
    echo "  set -a; . $STATE/client.env; set +a"
    echo "  $BUILD/cli/semperctl/semperctl --server-name localhost --help"
    echo "The marketplace walkthrough (README) runs every authority once, with openssl checking the evidence:"
    echo "  bash tests/scenario/marketplace.sh $STATE/client.env"
    echo "Stop with:  deploy/up.sh stop"
    ;;
  stop)
    stop_daemons
    if [[ $HA == 1 ]]; then
      HA_BASE_PORT=${SEMPER_HA_BASE_PORT:-56400} bash deploy/ha.sh stop "$STATE/ha"
      echo "up.sh: the PostgreSQL nodes and etcd stopped (data kept in $STATE/ha)"
    elif pg_running; then
      as_postgres "$(pg_bindir)/pg_ctl" -D "$STATE/postgres/data" -m fast -w stop >/dev/null
      echo "up.sh: PostgreSQL stopped (data kept in $STATE/postgres)"
    else
      echo "up.sh: nothing running"
    fi
    ;;
  status)
    if [[ $HA == 1 ]]; then
      echo "PostgreSQL nodes (name role state lag):"
      HA_BASE_PORT=${SEMPER_HA_BASE_PORT:-56400} bash deploy/ha.sh status "$STATE/ha" 2>&1 | sed 's/^/  /' || true
    elif pg_running; then echo "PostgreSQL: running on 127.0.0.1:$PG_PORT"; else echo "PostgreSQL: stopped"; fi
    for d in semper-ca semper-tsa semper-notary semper-arbiter semper-liability; do
      for r in $(seq 1 "$REPLICAS"); do
        if daemon_running "$(named "$d" "$r")"; then echo "$(named "$d" "$r"): running"; else echo "$(named "$d" "$r"): stopped"; fi
      done
    done
    if daemon_running semper-tsa; then tsa_clock_warning; fi
    cert_expiry_warnings
    ;;
  *)
    echo "usage: deploy/up.sh [start|stop|status]" >&2
    exit 2
    ;;
esac
