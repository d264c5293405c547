#!/usr/bin/env bash
# CTest `backup_restore`: a backup restored to a point in time with pgBackRest (Debian's
# `pgbackrest`), as docs/scaling.md tells operators. A PostgreSQL 15 cluster archives its WAL
# through pgBackRest; semper-tsa stamps three batches of time-stamps over HTTP (RFC 3161, with
# `openssl ts`): batch A, then a full backup, batch B, a recovery target time, batch C. The cluster
# is thrown away and restored from the repository to the target time: every token of A and B is
# there, for the imprint its client sent, and none of C (stamped after 40 serial blocks were taken
# past the target, so that the restored sequence is behind C's block); after the step
# docs/scaling.md gives (the sequence moved on), semper-tsa stamps on the restored database with
# serial numbers above every one given out. Fails, never skips.
#   tests/scenario/backup_restore_test.sh BUILD_DIR
set -euo pipefail
BUILD_DIR=$(cd "${1:?usage: backup_restore_test.sh BUILD_DIR}" && pwd)
WORK=$(mktemp -d /tmp/semper-backup.XXXXXX)
chmod 755 "$WORK"
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
as_pg() { if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
TSA_PID=
cleanup() {
  [[ -n "$TSA_PID" ]] && kill -TERM "$TSA_PID" 2>/dev/null && wait "$TSA_PID" 2>/dev/null || true
  as_pg "$BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "backup_restore: FAILED: $*"
  for f in "$WORK"/pg/server.log "$WORK"/tsa.log "$WORK"/log/*; do [[ -f "$f" ]] && { echo "--- $f"; tail -n 30 "$f"; }; done
  exit 1
}
mapfile -t PORTS < <(python3 "$(dirname "$0")/free_ports.py" 3)
PG_PORT=${PORTS[0]} GRPC_PORT=${PORTS[1]} HTTP_PORT=${PORTS[2]}

mkdir -p "$WORK/pg" "$WORK/repo" "$WORK/log" "$WORK/lock"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$WORK/pg" "$WORK/repo" "$WORK/log" "$WORK/lock"
cat >"$WORK/pgbackrest.conf" <<CONF
[global]
repo1-path=$WORK/repo
repo1-retention-full=2
log-path=$WORK/log
lock-path=$WORK/lock
log-level-console=warn
start-fast=y

[semper]
pg1-path=$WORK/pg/data
pg1-port=$PG_PORT
pg1-socket-path=$WORK/pg
CONF
chmod 644 "$WORK/pgbackrest.conf"
backrest() { as_pg pgbackrest --config="$WORK/pgbackrest.conf" --stanza=semper "$@"; }

echo "--- a cluster that archives its WAL through pgBackRest"
as_pg "$BIN/initdb" -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 --locale=C --no-instructions >/dev/null ||
  fail "initdb"
cat >>"$WORK/pg/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$WORK/pg'
wal_level = replica
archive_mode = on
archive_command = 'pgbackrest --config=$WORK/pgbackrest.conf --stanza=semper archive-push %p'
CONF
start_pg() { as_pg "$BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w -t 120 start >/dev/null || fail "pg_ctl start"; }
start_pg
backrest stanza-create || fail "stanza-create"
backrest check || fail "pgbackrest check (archiving does not work)"
psql_pg() { psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d semper "$@"; }
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE semper" || fail "create database"

echo "--- semper-tsa on it"
(umask 077; printf '%s' 'backup test passphrase' >"$WORK/pass")
"$BUILD_DIR/services/ca/semper-ca" init --dir "$WORK/pki" --passphrase-file "$WORK/pass" >/dev/null || fail "semper-ca init"
start_tsa() {
  env SEMPER_DATABASE_URL="host=127.0.0.1 port=$PG_PORT user=postgres dbname=semper" \
    SEMPER_GRPC_LISTEN="127.0.0.1:$GRPC_PORT" SEMPER_HTTP_LISTEN="127.0.0.1:$HTTP_PORT" \
    SEMPER_TLS_CERT_FILE="$WORK/pki/services/tsa-tls.pem" SEMPER_TLS_KEY_FILE="$WORK/pki/services/tsa-tls.key" \
    SEMPER_TLS_KEY_PASSPHRASE_FILE="$WORK/pass" SEMPER_TLS_CLIENT_CA_FILE="$WORK/pki/client-ca.pem" \
    SEMPER_TLS_REQUIRE_CLIENT_CERT=false SEMPER_TSA_CERT_FILE="$WORK/pki/services/tsa-signing.pem" \
    SEMPER_TSA_KEY_FILE="$WORK/pki/services/tsa-signing.key" SEMPER_TSA_KEY_PASSPHRASE_FILE="$WORK/pass" \
    SEMPER_TSA_CLOCK_CHECK=off "$BUILD_DIR/services/timestamp/semper-tsa" >>"$WORK/tsa.log" 2>&1 &
  TSA_PID=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && return; sleep 0.2; done
  fail "semper-tsa did not become ready"
}
stop_tsa() { kill -TERM "$TSA_PID"; wait "$TSA_PID" || fail "semper-tsa did not exit 0"; TSA_PID=; }
start_tsa

# stamp BATCH N: N time-stamps over HTTP; each reply kept as the client holds it, its serial listed.
stamp() {
  local batch=$1 n=$2 i
  mkdir -p "$WORK/$batch"
  for i in $(seq 1 "$n"); do
    echo "document $batch $i $RANDOM" >"$WORK/$batch/$i.txt"
    openssl ts -query -data "$WORK/$batch/$i.txt" -sha256 -cert -out "$WORK/$batch/$i.tsq" 2>/dev/null
    curl -fsS -H 'Content-Type: application/timestamp-query' --data-binary "@$WORK/$batch/$i.tsq" \
      "http://127.0.0.1:$HTTP_PORT/" -o "$WORK/$batch/$i.tsr" || fail "stamping $batch $i"
    openssl ts -reply -in "$WORK/$batch/$i.tsr" -text 2>/dev/null | awk '/^Serial number:/ {print $3}' >>"$WORK/$batch/serials"
  done
  [[ $(wc -l <"$WORK/$batch/serials") -eq $n ]] || fail "batch $batch: not every reply has a serial"
}
stamp A 5
echo "--- a full backup, then batch B, the recovery target, batch C"
backrest backup --type=full || fail "pgbackrest backup"
stamp B 5
sleep 1
target=$(psql_pg -c "SELECT now()")
sleep 1
# After the target, many TSA starts (40 serial blocks taken: more than PostgreSQL logs a sequence
# ahead), then batch C from a new process, in a block the restore will not know was given out.
psql_pg -c "SELECT count(nextval('tsa.serial_blocks')) FROM generate_series(1, 40)" >/dev/null
stop_tsa
start_tsa
stamp C 5
psql_pg -c "SELECT pg_switch_wal()" >/dev/null
backrest check || fail "the last WAL was not archived"
rows_before=$(psql_pg -c "SELECT count(*) FROM tsa.tokens")
[[ $rows_before -eq 15 ]] || fail "expected 15 tokens before the loss, found $rows_before"

echo "--- the cluster lost; restored to $target"
stop_tsa
as_pg "$BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null
rm -rf "$WORK/pg/data"
backrest restore --type=time "--target=$target" --target-action=promote || fail "pgbackrest restore"
start_pg
for _ in $(seq 1 100); do [[ $(psql_pg -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]] && break; sleep 0.2; done
[[ $(psql_pg -c "SELECT pg_is_in_recovery()") == f ]] || fail "the restored cluster did not finish recovery"

# The serial column is the number; `openssl ts -text` prints it in hexadecimal.
count_serial() { psql_pg -c "SELECT count(*) FROM tsa.tokens WHERE serial = $((16#${1#0x}))"; }
for batch in A B; do
  while read -r serial; do
    [[ $(count_serial "$serial") -eq 1 ]] || fail "token $serial of batch $batch is not in the restored database"
  done <"$WORK/$batch/serials"
done
while read -r serial; do
  [[ $(count_serial "$serial") -eq 0 ]] || fail "token $serial of batch C (after the target) is in the restored database"
done <"$WORK/C/serials"
# What the database holds for a token is what the client was given: the imprint of its document.
for i in 1 5; do
  serial=$(sed -n "${i}p" "$WORK/B/serials")
  want=$(sha256sum "$WORK/B/$i.txt" | cut -d' ' -f1)
  got=$(psql_pg -c "SELECT encode(imprint, 'hex') FROM tsa.tokens WHERE serial = $((16#${serial#0x}))")
  [[ "$got" == "$want" ]] || fail "token B $i has another imprint after the restore"
done

echo "--- the sequences moved past what was given out after the target (docs/scaling.md), then stamping again"
psql_pg -c "SELECT setval('tsa.serial_blocks', nextval('tsa.serial_blocks') + 1000)" >/dev/null
start_tsa
stamp D 3
max_c=0
while read -r serial; do ((16#${serial#0x} > max_c)) && max_c=$((16#${serial#0x})); done <"$WORK/C/serials"
while read -r serial; do
  # Batch C's tokens are lost to the database, not to their holders: none of their serials again.
  grep -qx "$serial" "$WORK/A/serials" "$WORK/B/serials" "$WORK/C/serials" && fail "serial $serial was issued twice"
  ((16#${serial#0x} > max_c)) || fail "serial $serial is not above every serial given out before the restore"
done <"$WORK/D/serials"
stop_tsa
echo "backup_restore: passed (15 tokens stamped, 10 restored to $target, 5 after it gone; 3 stamped after)"
