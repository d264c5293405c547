#!/usr/bin/env bash
# CTest `compose_ha` (label compose): deploy/docker-compose.ha.yml for real, with podman and
# podman-compose on this machine. Makes the images from BUILD_DIR's binaries and the patroni image
# (SEMPER_HA=1 deploy/image.sh), brings up etcd, three Patroni/PostgreSQL nodes and two replicas of
# every daemon, checks that the cluster commits synchronously and that its control plane refuses
# callers without its credentials (from inside the compose network), runs the marketplace
# scenario over every replica (deploy/compose-client-env.sh); then kills the database leader's
# container and the first replica of every daemon (SIGKILL), runs the scenario again on what is
# left, starts the old leader again and sees it rejoin as a standby; no secret in any log, no
# sanitizer report, and `down -v` leaves nothing. Fails, never skips.
#   tests/scenario/compose_ha_test.sh BUILD_DIR
set -euo pipefail
BUILD_DIR=$(cd "${1:?usage: compose_ha_test.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SEMPERCTL=$BUILD_DIR/cli/semperctl/semperctl
PROJECT=${SEMPER_COMPOSE_PROJECT:-semperha$$}
WORK=$(mktemp -d /tmp/semper-compose-ha.XXXXXX)
start=$(date +%s)
say() { echo "[$(($(date +%s) - start)) s] $*"; }
compose() { (cd "$SRC/deploy" && podman-compose -p "$PROJECT" -f docker-compose.ha.yml "$@"); }
containers() { podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'; }
dump_logs() {
  for c in $(containers); do
    echo "--- podman logs $c (last 25 lines)"
    podman logs --tail 25 "$c" 2>&1 || true
  done
}
export SEMPER_IMAGE=localhost/semper-test:$PROJECT SEMPER_POSTGRES_IMAGE=localhost/semper-postgres-test:$PROJECT \
  SEMPER_PATRONI_IMAGE=localhost/semper-patroni-test:$PROJECT
cleanup() {
  compose down -v >/dev/null 2>&1 || true
  podman rmi -f --no-prune "$SEMPER_IMAGE" "$SEMPER_POSTGRES_IMAGE" "$SEMPER_PATRONI_IMAGE" >/dev/null 2>&1 || true
  for v in pki ha-pki etcd-data pg1-data pg2-data pg3-data; do podman volume rm -f "${PROJECT}_$v" >/dev/null 2>&1 || true; done
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true # podman-compose 1.0.3 leaves it
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "compose_ha_test: FAILED: $*"
  dump_logs
  exit 1
}

bash "$SRC/deploy/podman-setup.sh" || fail "deploy/podman-setup.sh (above)"
export SEMPER_SECRETS_DIR=$WORK/secrets
bash "$SRC/deploy/compose-secrets.sh" >/dev/null
# A CI machine's clock need not be NTP-synchronised; the TSA's clock check has its own tests.
export SEMPER_TSA_CLOCK_CHECK=off

say "making the images from $BUILD_DIR and the patroni image (SEMPER_HA=1 deploy/image.sh)"
SEMPER_HA=1 bash "$SRC/deploy/image.sh" "$BUILD_DIR" >"$WORK/build.log" 2>&1 || {
  tail -n 40 "$WORK/build.log"
  fail "deploy/image.sh"
}
say "podman-compose -f docker-compose.ha.yml up"
compose up -d --no-build >"$WORK/up.log" 2>&1 || {
  tail -n 40 "$WORK/up.log"
  fail "podman-compose up"
}

daemons=(semper-ca semper-tsa semper-notary semper-arbiter semper-liability)
# members: "name role state lag" per node, as Patroni's REST API of any running node says.
members() {
  local n
  for n in 1 2 3; do
    podman exec "${PROJECT}_pg${n}_1" curl -fsS -m 4 --cacert /var/lib/semper-ha-pki/ca.pem https://localhost:8008/cluster \
      2>/dev/null | python3 -c 'import json, sys
for m in json.load(sys.stdin)["members"]: print(m["name"], m["role"], m["state"], m.get("lag", 0))' 2>/dev/null && return 0
  done
  return 1
}
# in_node CMD...: CMD in the first node container that runs it successfully.
in_node() {
  local n
  for n in 1 2 3; do podman exec -e HA_CONTAINER=1 "${PROJECT}_pg${n}_1" "$@" 2>/dev/null && return 0; done
  return 1
}
# wait_ready REPLICAS...: every named replica of every daemon healthy and the cluster with a leader
# and a synchronous standby, as Patroni says and as the leader's PostgreSQL does.
wait_ready() {
  local deadline=$(($(date +%s) + 300)) d r code
  for one_shot in ha-pki ha-database init; do
    until code=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "${PROJECT}_${one_shot}_1" 2>/dev/null) &&
      [[ $code == "exited 0" ]]; do
      [[ $code == "exited "[1-9]* && $one_shot != ha-database ]] && fail "$one_shot exited with ${code#exited }"
      (($(date +%s) < deadline)) || fail "$one_shot did not finish ($code)"
      sleep 1
    done
  done
  for r in "$@"; do
    for d in "${daemons[@]}"; do
      until podman healthcheck run "${PROJECT}_${d}_$r" >/dev/null 2>&1; do
        (($(date +%s) < deadline)) || fail "$d replica $r is not healthy"
        sleep 1
      done
    done
  done
  until members >"$WORK/members" && grep -q ' leader running' "$WORK/members" &&
    grep -q ' sync_standby running' "$WORK/members" &&
    [[ $(in_node bash /usr/local/lib/semper/ha.sh sync-state /var/lib/semper-ha) == "1 on" ]]; do
    (($(date +%s) < deadline)) || { cat "$WORK/members"; fail "no leader with a synchronous standby"; }
    sleep 1
  done
}
wait_ready 1 2
say "every replica healthy; the cluster:"
cat "$WORK/members"

# Synchronous replication in force as the leader does it (pg_stat_replication and its settings,
# not only Patroni's view): one synchronous standby streaming, synchronous_commit on.
leader=$(awk '$2 == "leader" {print $1}' "$WORK/members")
in_leader() { podman exec -e HA_CONTAINER=1 "${PROJECT}_${leader}_1" "$@"; }
sync=$(in_leader bash /usr/local/lib/semper/ha.sh sync-state /var/lib/semper-ha 2>&1) || fail "ha.sh sync-state: $sync"
[[ $sync == "1 on" ]] || fail "the leader does not commit synchronously: $sync"
# The control plane, from a daemon's container on the compose network: no change to Patroni's
# configuration without its password, nothing from etcd without the cluster's certificate; and
# from a node's container, no PostgreSQL session without TLS even with the right password.
probe=${PROJECT}_semper-tsa_1
code=$(podman exec "$probe" curl -sS -o /dev/null -w '%{http_code}' -m 5 -k -X PATCH \
  -d '{"synchronous_mode": false}' "https://$leader:8008/config" 2>/dev/null || true)
[[ $code == 401 ]] || fail "Patroni's API took a configuration change without its password (HTTP $code)"
config=$(podman exec "$probe" curl -fsS -m 5 -k "https://$leader:8008/config") || fail "Patroni's configuration unreadable"
grep -q '"synchronous_mode": true' <<<"$config" && grep -q '"synchronous_mode_strict": true' <<<"$config" ||
  fail "the cluster's configuration is not strictly synchronous: $config"
podman exec "$probe" curl -sS -m 5 -k "https://etcd:2379/v2/keys/service/semper/config" >/dev/null 2>&1 &&
  fail "etcd answered a client without the cluster's certificate"
in_leader curl -fsS -m 5 --cacert /var/lib/semper-ha/ca.pem --cert /var/lib/semper-ha/pki/client.pem \
  --key /var/lib/semper-ha/pki/client.key "https://etcd:2379/v2/keys/service/semper/config" >/dev/null ||
  fail "etcd refused the cluster's own client (the refusal above proves nothing)"
out=$(in_leader bash -c 'PGPASSWORD=$(cat /var/lib/semper-ha/secrets/semper-db-password) PGCONNECT_TIMEOUT=5 \
  psql "host=pg1 dbname=semper user=semper sslmode=disable" -XAtc "SELECT 1"' 2>&1) &&
  fail "PostgreSQL took a session without TLS"
grep -q "no pg_hba.conf entry" <<<"$out" || fail "a session without TLS was refused for another reason: $out"

say "the marketplace scenario over both replicas of every daemon"
bash "$SRC/deploy/compose-client-env.sh" "$PROJECT" "$WORK/client" >"$WORK/client.env" || fail "compose-client-env.sh"
grep -q '^SEMPERCTL_TSA=127.0.0.1:[0-9]*,127.0.0.1:[0-9]*$' "$WORK/client.env" || {
  cat "$WORK/client.env"
  fail "client.env does not list two TSA replicas"
}
SEMPERCTL=$SEMPERCTL bash "$SRC/tests/scenario/marketplace.sh" "$WORK/client.env" "$WORK/run1" || fail "the scenario"

say "with no standby left, a time-stamp is not acknowledged (strict synchronous mode)"
standbys=$(awk '$2 != "leader" {print $1}' "$WORK/members")
for n in $standbys; do podman stop -t 20 "${PROJECT}_${n}_1" >/dev/null || fail "podman stop $n"; done
echo "a document" >"$WORK/document.txt"
. "$WORK/client.env"
stamp() {
  timeout 15 "$SEMPERCTL" --tsa "$SEMPERCTL_TSA" --ca-file "$SEMPERCTL_CA_FILE" --server-name localhost --yes \
    tsa stamp "$WORK/document.txt" --out "$WORK/document.tsr" >"$WORK/stamp.log" 2>&1
}
if stamp; then fail "a time-stamp was acknowledged with no synchronous standby: $(cat "$WORK/stamp.log")"; fi
for n in $standbys; do podman start "${PROJECT}_${n}_1" >/dev/null || fail "podman start $n"; done
wait_ready 1 2
stamp || fail "the same time-stamp with the standbys back (the refusal above proves nothing): $(cat "$WORK/stamp.log")"

say "the leader's postmaster killed inside its container: Patroni restarts it or fails over"
pm=$(in_leader bash -c 'head -n1 /var/lib/semper-ha/pg*/data/postmaster.pid') || fail "no postmaster.pid in $leader"
in_leader bash -c "kill -KILL $pm" || fail "kill the postmaster ($pm) of $leader"
sleep 2
wait_ready 1 2
members >"$WORK/members" || fail "no node answers"
leader=$(awk '$2 == "leader" {print $1}' "$WORK/members")
SEMPERCTL=$SEMPERCTL bash "$SRC/tests/scenario/marketplace.sh" "$WORK/client.env" "$WORK/run-postmaster" ||
  fail "the scenario after the postmaster's crash"

say "the database leader ($leader) and the first replica of every daemon killed"
t0=$(date +%s.%N)
podman kill "${PROJECT}_${leader}_1" >/dev/null || fail "podman kill ${leader}"
for d in "${daemons[@]}"; do podman kill "${PROJECT}_${d}_1" >/dev/null || fail "podman kill ${d}_1"; done
wait_ready 2
say "served again $(echo "$(date +%s.%N) - $t0" | bc) s after the kill; the cluster:"
cat "$WORK/members"
new_leader=$(awk '$2 == "leader" {print $1}' "$WORK/members")
[[ -n $new_leader && $new_leader != "$leader" ]] || fail "no new leader after $leader was killed"
bash "$SRC/deploy/compose-client-env.sh" "$PROJECT" "$WORK/client" >"$WORK/client2.env" || fail "compose-client-env.sh"
SEMPERCTL=$SEMPERCTL bash "$SRC/tests/scenario/marketplace.sh" "$WORK/client2.env" "$WORK/run2" ||
  fail "the scenario with one replica of each daemon and two database nodes"

say "the old leader started again rejoins as a standby"
podman start "${PROJECT}_${leader}_1" >/dev/null || fail "podman start $leader"
deadline=$(($(date +%s) + 120))
until members >"$WORK/members" && grep -Eq "^$leader (replica|sync_standby) (running|streaming) 0$" "$WORK/members"; do
  (($(date +%s) < deadline)) || { cat "$WORK/members"; fail "$leader did not rejoin as a standby"; }
  sleep 1
done
cat "$WORK/members"

# No secret in any log; the daemons stop cleanly (exit 0) with no sanitizer report.
for c in $(containers); do
  podman logs "$c" >"$WORK/container.log" 2>&1 || fail "podman logs $c"
  for s in ca_passphrase db_password postgres_password replicator_password rewind_password patroni_api_password; do
    if grep -qF "$(cat "$SEMPER_SECRETS_DIR/$s")" "$WORK/container.log"; then fail "$c logs the secret $s"; fi
  done
done
mapfile -t running < <(podman ps --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' | grep -E "_semper-" || true)
((${#running[@]})) && { podman stop -t 60 "${running[@]}" >"$WORK/stop.log" 2>&1 || fail "podman stop"; }
for c in "${running[@]}"; do
  podman logs "$c" >"$WORK/container.log" 2>&1 || fail "podman logs $c"
  if grep -E -A20 'ERROR: (Address|Leak)Sanitizer|Sanitizer has encountered|runtime error:' "$WORK/container.log" >"$WORK/report"; then
    head -n 60 "$WORK/report"
    fail "$c reported a sanitizer error"
  fi
  code=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$c") || fail "podman inspect $c"
  [[ $code == "exited 0" ]] || fail "$c is '$code' after being stopped, not 'exited 0'"
done
compose down -v >"$WORK/down.log" 2>&1 || {
  tail -n 20 "$WORK/down.log"
  fail "podman-compose down -v"
}
[[ -z $(containers) ]] || fail "containers survived down"
say "compose_ha_test: passed"
