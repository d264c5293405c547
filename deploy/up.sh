#!/usr/bin/env bash
# The README's first command: installs what is needed, builds, and starts the suite on this
# machine. Without SEMPER_DATABASE_URL it starts a private PostgreSQL 15 cluster under
# $SEMPER_STATE_DIR (default /var/lib/semper as root, ./.semper otherwise), listening on
# 127.0.0.1:$SEMPER_PG_PORT (default 55432).
# Run as root on Debian 12. `deploy/up.sh stop` stops what it started; `deploy/up.sh status`
# tells what runs.
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
  cat > "$STATE/ca.toml" <<TOML
[grpc]
listen = "127.0.0.1:${SEMPER_CA_PORT:-7000}"
[http]
listen = "127.0.0.1:${SEMPER_CA_HTTP_PORT:-7001}"
[tls]
cert_file = "$STATE/pki/services/ca-tls.pem"
key_file = "$STATE/pki/services/ca-tls.key"
key_passphrase_file = "$STATE/secrets/ca-passphrase"
client_ca_file = "$STATE/pki/client-ca.pem"
require_client_cert = false
[ca]
dir = "$STATE/pki"
key_passphrase_file = "$STATE/secrets/ca-passphrase"
public_url = "http://127.0.0.1:${SEMPER_CA_HTTP_PORT:-7001}"
arbiter_address = "127.0.0.1:${SEMPER_ARBITER_PORT:-7030}"
upstream_server_name = "localhost"
$(ca_token_keys)
TOML
  launch semper-ca "${SEMPER_CA_HTTP_PORT:-7001}" "$BUILD/services/ca/semper-ca" serve --config "$STATE/ca.toml"
  echo "semper-ca:  gRPC 127.0.0.1:${SEMPER_CA_PORT:-7000} (TLS, server name localhost; trust $STATE/pki/root.pem)"
  echo "            HTTP http://127.0.0.1:${SEMPER_CA_HTTP_PORT:-7001}: /crl /crl/delta /crl/root /ocsp /healthz /readyz /metrics"
  echo "            log $STATE/logs/semper-ca.log"
  echo "Administrator: $STATE/pki/admin/admin.pem, key admin.key, passphrase in $STATE/secrets/ca-passphrase:"
  echo "  $BUILD/cli/semperctl/semperctl --server 127.0.0.1:${SEMPER_CA_PORT:-7000} --server-name localhost \\"
  echo "    --ca-file $STATE/pki/root.pem --cert $STATE/pki/admin/admin.pem --key $STATE/pki/admin/admin.key \\"
  echo "    --key-passphrase-file $STATE/secrets/ca-passphrase subscriber list"
}

start_tsa() {
  cat > "$STATE/tsa.toml" <<TOML
[grpc]
listen = "127.0.0.1:${SEMPER_TSA_PORT:-7010}"
[http]
listen = "127.0.0.1:${SEMPER_TSA_HTTP_PORT:-7011}"
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
ca_address = "127.0.0.1:${SEMPER_CA_PORT:-7000}"
upstream_server_name = "localhost"
TOML
  launch semper-tsa "${SEMPER_TSA_HTTP_PORT:-7011}" "$BUILD/services/timestamp/semper-tsa" --config "$STATE/tsa.toml"
  echo "semper-tsa: gRPC 127.0.0.1:${SEMPER_TSA_PORT:-7010} (TLS, server name localhost)"
  echo "            HTTP http://127.0.0.1:${SEMPER_TSA_HTTP_PORT:-7011}/ (RFC 3161: application/timestamp-query) /certs"
  echo "            log $STATE/logs/semper-tsa.log"
  tsa_clock_warning
}

# What the TSA's clock check means here, loudly: the local suite stamps with an unsynchronised
# clock (tsa.clock_check = "warn"); a production TSA must not (compose and the daemon's own
# default refuse: "kernel").
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

start_notary() {
  cat > "$STATE/notary.toml" <<TOML
[grpc]
listen = "127.0.0.1:${SEMPER_NOTARY_PORT:-7020}"
[http]
listen = "127.0.0.1:${SEMPER_NOTARY_HTTP_PORT:-7021}"
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
ca_address = "127.0.0.1:${SEMPER_CA_PORT:-7000}"
tsa_address = "127.0.0.1:${SEMPER_TSA_PORT:-7010}"
upstream_server_name = "localhost"
TOML
  launch semper-notary "${SEMPER_NOTARY_HTTP_PORT:-7021}" "$BUILD/services/notary/semper-notary" --config "$STATE/notary.toml"
  echo "semper-notary: gRPC 127.0.0.1:${SEMPER_NOTARY_PORT:-7020} (TLS, server name localhost); log $STATE/logs/semper-notary.log"
}

start_arbiter() {
  cat > "$STATE/arbiter.toml" <<TOML
[grpc]
listen = "127.0.0.1:${SEMPER_ARBITER_PORT:-7030}"
[http]
listen = "127.0.0.1:${SEMPER_ARBITER_HTTP_PORT:-7031}"
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
ca_address = "127.0.0.1:${SEMPER_CA_PORT:-7000}"
notary_address = "127.0.0.1:${SEMPER_NOTARY_PORT:-7020}"
upstream_server_name = "localhost"
TOML
  # The escrow key for certified mail by fair exchange (made by init since 2026-11-25; a state
  # from before has none, and the arbiter then refuses to resolve exchanges of documents).
  if [ -f "$STATE/pki/services/arbiter-escrow.pem" ]; then
    cat >> "$STATE/arbiter.toml" <<TOML
[escrow]
cert_file = "$STATE/pki/services/arbiter-escrow.pem"
key_file = "$STATE/pki/services/arbiter-escrow.key"
key_passphrase_file = "$STATE/secrets/ca-passphrase"
TOML
  fi
  launch semper-arbiter "${SEMPER_ARBITER_HTTP_PORT:-7031}" "$BUILD/services/arbiter/semper-arbiter" --config "$STATE/arbiter.toml"
  echo "semper-arbiter: gRPC 127.0.0.1:${SEMPER_ARBITER_PORT:-7030} (TLS, server name localhost); log $STATE/logs/semper-arbiter.log"
}

start_liability() {
  cat > "$STATE/liability.toml" <<TOML
[grpc]
listen = "127.0.0.1:${SEMPER_LIABILITY_PORT:-7040}"
[http]
listen = "127.0.0.1:${SEMPER_LIABILITY_HTTP_PORT:-7041}"
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
ca_address = "127.0.0.1:${SEMPER_CA_PORT:-7000}"
upstream_server_name = "localhost"
arbiter_cert_file = "$STATE/pki/services/arbiter-signing.pem"
$( [ -f "$STATE/pki/pseudonym-ca.pem" ] && echo "intermediates_file = \"$STATE/pki/pseudonym-ca.pem\"" )
TOML
  launch semper-liability "${SEMPER_LIABILITY_HTTP_PORT:-7041}" "$BUILD/services/liability/semper-liability" --config "$STATE/liability.toml"
  echo "semper-liability: gRPC 127.0.0.1:${SEMPER_LIABILITY_PORT:-7040} (TLS, server name localhost); log $STATE/logs/semper-liability.log"
}

# The endpoints and the administrator's credentials, for semperctl (its SEMPERCTL_* variables) and
# for tests/scenario/marketplace.sh.
write_client_env() {
  cat > "$STATE/client.env" <<ENV
SEMPERCTL_SERVER=127.0.0.1:${SEMPER_CA_PORT:-7000}
SEMPERCTL_TSA=127.0.0.1:${SEMPER_TSA_PORT:-7010}
SEMPERCTL_NOTARY=127.0.0.1:${SEMPER_NOTARY_PORT:-7020}
SEMPERCTL_ARBITER=127.0.0.1:${SEMPER_ARBITER_PORT:-7030}
SEMPERCTL_LIABILITY=127.0.0.1:${SEMPER_LIABILITY_PORT:-7040}
SEMPERCTL_CA_FILE=$STATE/pki/root.pem
SEMPER_SERVER_NAME=localhost
SEMPER_CA_HTTP=http://127.0.0.1:${SEMPER_CA_HTTP_PORT:-7001}
SEMPER_TSA_HTTP=http://127.0.0.1:${SEMPER_TSA_HTTP_PORT:-7011}
SEMPER_ADMIN_CERT=$STATE/pki/admin/admin.pem
SEMPER_ADMIN_KEY=$STATE/pki/admin/admin.key
SEMPER_ADMIN_PASSPHRASE_FILE=$STATE/secrets/ca-passphrase
ENV
}

stop_daemons() {
  for d in semper-liability semper-arbiter semper-notary semper-tsa semper-ca; do
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
    bash deploy/install-deps.sh run
    # Only what runs (the five daemons and semperctl, optimised); a new build directory is
    # configured without the tests, which deploy/test.sh builds in its own tree, and without
    # debugging information (Release: a cold build on 2 cores, with RelWithDebInfo, took 11 min).
    echo "up.sh: building the daemons and semperctl in $BUILD (ninja shows [done/total])"
    SEMPER_BUILD_TARGETS="semper-ca semper-tsa semper-notary semper-arbiter semper-liability semperctl" \
      SEMPER_NEW_BUILD_ARGS="-DSEMPER_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release" bash deploy/build.sh
    if [[ -z "${SEMPER_DATABASE_URL:-}" ]]; then
      start_postgres
      echo "PostgreSQL: 127.0.0.1:$PG_PORT, database semper, user semper"
      echo "            connection URL (with password) in $STATE/secrets/database.url"
    else
      echo "PostgreSQL: using SEMPER_DATABASE_URL from the environment"
      mkdir -p "$STATE/secrets"
    fi
    start_ca
    start_tsa
    start_notary
    start_arbiter
    start_liability
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
    if pg_running; then
      as_postgres "$(pg_bindir)/pg_ctl" -D "$STATE/postgres/data" -m fast -w stop >/dev/null
      echo "up.sh: PostgreSQL stopped (data kept in $STATE/postgres)"
    else
      echo "up.sh: nothing running"
    fi
    ;;
  status)
    if pg_running; then echo "PostgreSQL: running on 127.0.0.1:$PG_PORT"; else echo "PostgreSQL: stopped"; fi
    for d in semper-ca semper-tsa semper-notary semper-arbiter semper-liability; do
      if daemon_running "$d"; then echo "$d: running"; else echo "$d: stopped"; fi
    done
    if daemon_running semper-tsa; then tsa_clock_warning; fi
    ;;
  *)
    echo "usage: deploy/up.sh [start|stop|status]" >&2
    exit 2
    ;;
esac
