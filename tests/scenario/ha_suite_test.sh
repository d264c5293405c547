#!/usr/bin/env bash
# CTest `ha_suite`: the production topology with one command. `SEMPER_HA=1 deploy/up.sh` brings up
# etcd, three Patroni/PostgreSQL nodes in strict synchronous mode and two replicas of every daemon
# on a new state directory; the marketplace scenario runs through semperctl and the Python client
# with client.env listing both replicas of each daemon (round robin); with one replica of each
# daemon killed (SIGKILL) and the database leader killed, the scenario runs again; `up.sh status`
# shows the nodes and replicas, and `up.sh stop` stops everything. Fails, never skips.
#   tests/scenario/ha_suite_test.sh BUILD_DIR
set -euo pipefail
BUILD_DIR=$(cd "${1:?usage: ha_suite_test.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
NAME=ha-suite
. "$SRC/tests/scenario/suite_env.sh"

# A run of free ports: the daemons' (second replicas at +100) and the cluster's (+200..+224).
base=$(python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(500):
    b = random.randrange(20000, 31000, 10)
    if all(free(b + o) for o in list(range(0, 42)) + list(range(100, 142)) + list(range(200, 225))):
        print(b)
        break
PY
)
[[ -n "$base" ]] || fail "no run of free ports"
export SEMPER_HA=1 SEMPER_HA_BASE_PORT=$((base + 200))
export SEMPER_CA_PORT=$base SEMPER_CA_HTTP_PORT=$((base + 1)) SEMPER_TSA_PORT=$((base + 10)) \
  SEMPER_TSA_HTTP_PORT=$((base + 11)) SEMPER_NOTARY_PORT=$((base + 20)) SEMPER_NOTARY_HTTP_PORT=$((base + 21)) \
  SEMPER_ARBITER_PORT=$((base + 30)) SEMPER_ARBITER_HTTP_PORT=$((base + 31)) SEMPER_LIABILITY_PORT=$((base + 40)) \
  SEMPER_LIABILITY_HTTP_PORT=$((base + 41))
http_ports=()
for p in 1 11 21 31 41; do http_ports+=($((base + p)) $((base + 100 + p))); done

echo "--- SEMPER_HA=1 deploy/up.sh start (new state in $SEMPER_STATE_DIR)"
out=$(bash "$SRC/deploy/up.sh" start 2>&1) || { echo "$out"; fail "up.sh start"; }
echo "$out"
grep -q "three Patroni nodes" <<<"$out" || fail "no Patroni cluster was started"
for port in "${http_ports[@]}"; do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || fail "a daemon replica is not ready on $port"
done
grep -q "^SEMPERCTL_TSA=127.0.0.1:$SEMPER_TSA_PORT,127.0.0.1:$((SEMPER_TSA_PORT + 100))$" "$SEMPER_STATE_DIR/client.env" ||
  fail "client.env does not list both TSA replicas"
status=$(bash "$SRC/deploy/up.sh" status)
echo "$status"
grep -q " leader running" <<<"$status" || fail "up.sh status shows no leader"
grep -q " sync_standby " <<<"$status" || fail "up.sh status shows no synchronous standby"
[[ $(grep -c ": running" <<<"$status") -eq 10 ]] || fail "not every replica runs"

echo "--- the marketplace scenario, semperctl over both replicas of each daemon"
SEMPERCTL=$BUILD_DIR/cli/semperctl/semperctl bash "$SRC/tests/scenario/marketplace.sh" "$SEMPER_STATE_DIR/client.env" "$WORK/run1" ||
  fail "the scenario"
echo "--- the Python client's flow over both replicas"
bash "$SRC/clients/python/generate.sh" || fail "generating the Python client's modules"
/usr/bin/python3 "$SRC/clients/python/tests/test_target.py" || fail "the Python client's address lists"
/usr/bin/python3 "$SRC/clients/python/tests/test_flow.py" "$SEMPER_STATE_DIR/client.env" || fail "the Python client's flow"

echo "--- the cluster's control plane refuses whoever has no credential of it"
# Synchronous replication is what makes an acknowledged commit survive its machine: switching it
# off must take a credential a local user does not have (README, "High availability").
ha="$SEMPER_STATE_DIR/ha"
hb=$SEMPER_HA_BASE_PORT
leader=$(HA_BASE_PORT=$hb bash "$SRC/deploy/ha.sh" leader "$ha")
li=${leader#pg}
rest=$((hb + 20 + li))
# Patroni's REST API: a change without the password is refused (401) and changes nothing; plain
# HTTP gets no answer (TLS only).
code=$(curl -sS -o /dev/null -w '%{http_code}' -m 5 --cacert "$ha/ca.pem" -X PATCH \
  -d '{"synchronous_mode": false, "synchronous_mode_strict": false}' "https://127.0.0.1:$rest/config" || true)
[[ $code == 401 ]] || fail "Patroni's API took a configuration change without its password (HTTP $code)"
code=$(curl -sS -o /dev/null -w '%{http_code}' -m 5 --cacert "$ha/ca.pem" -u patroni:wrong-password -X POST \
  -d '{"candidate": "pg1"}' "https://127.0.0.1:$rest/failover" || true)
[[ $code == 401 ]] || fail "Patroni's API took a failover with a wrong password (HTTP $code)"
curl -sS -m 5 -o /dev/null "http://127.0.0.1:$rest/config" 2>/dev/null && fail "Patroni's API answers plain HTTP"
config=$(curl -fsS -m 5 --cacert "$ha/ca.pem" "https://127.0.0.1:$rest/config") || fail "Patroni's configuration unreadable"
grep -q '"synchronous_mode": true' <<<"$config" && grep -q '"synchronous_mode_strict": true' <<<"$config" ||
  fail "synchronous mode is not strict in the cluster's configuration: $config"
# And what the leader does (a superuser could empty synchronous_standby_names behind Patroni).
sync=$(HA_BASE_PORT=$hb bash "$SRC/deploy/ha.sh" sync-state "$ha") || fail "ha.sh sync-state"
[[ $sync == "1 on" ]] || fail "the leader does not commit synchronously: $sync"
# etcd: a client without a certificate of the cluster's CA is refused at the TLS handshake, so it
# can neither read nor write the leader key or the configuration.
curl -sS -m 5 --cacert "$ha/ca.pem" "https://127.0.0.1:$hb/v2/keys/service/semper/config" >/dev/null 2>&1 &&
  fail "etcd answered a client without a certificate"
curl -sS -m 5 -k -X PUT -d value=x "https://127.0.0.1:$hb/v2/keys/service/semper/leader" >/dev/null 2>&1 &&
  fail "etcd took a write from a client without a certificate"
curl -fsS -m 5 --cacert "$ha/ca.pem" --cert "$ha/pki/client.pem" --key "$ha/pki/client.key" \
  "https://127.0.0.1:$hb/v2/keys/service/semper/config" >/dev/null || fail "etcd refused the cluster's own client"
selfsigned="$WORK/selfsigned"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=patroni -days 1 \
  -keyout "$selfsigned.key" -out "$selfsigned.pem" 2>/dev/null
curl -sS -m 5 -k --cert "$selfsigned.pem" --key "$selfsigned.key" -X PUT -d value=x \
  "https://127.0.0.1:$hb/v2/keys/service/semper/leader" >/dev/null 2>&1 &&
  fail "etcd took a write from a client whose certificate is not the cluster's"
# PostgreSQL: TLS only, also with the right password.
pw=$(cat "$ha/secrets/semper-db-password")
pgport=$((hb + 10 + li))
out=$(PGPASSWORD=$pw PGCONNECT_TIMEOUT=5 psql "host=127.0.0.1 port=$pgport user=semper dbname=semper sslmode=disable" \
  -Atc 'SELECT 1' 2>&1) && fail "PostgreSQL took a connection without TLS"
grep -q "no pg_hba.conf entry" <<<"$out" || fail "PostgreSQL refused a connection without TLS for another reason: $out"
out=$(PGPASSWORD=$pw PGCONNECT_TIMEOUT=5 psql "host=127.0.0.1 port=$pgport user=semper dbname=semper sslmode=verify-full sslrootcert=$ha/ca.pem" \
  -Atc 'SHOW synchronous_commit' 2>&1) || fail "the daemons' connection (TLS, verified) failed: $out"
[[ $out == on ]] || fail "synchronous_commit is $out"

echo "--- one replica of each daemon and the database leader killed"
for d in semper-ca semper-tsa semper-notary semper-arbiter semper-liability; do
  kill -KILL "$(cat "$SEMPER_STATE_DIR/run/$d.pid")"
done
leader=$(HA_BASE_PORT=$SEMPER_HA_BASE_PORT bash "$SRC/deploy/ha.sh" leader "$SEMPER_STATE_DIR/ha")
[[ -n "$leader" ]] || fail "no leader to kill"
t0=$(date +%s.%N)
HA_BASE_PORT=$SEMPER_HA_BASE_PORT bash "$SRC/deploy/ha.sh" kill "$SEMPER_STATE_DIR/ha" "$leader"
HA_BASE_PORT=$SEMPER_HA_BASE_PORT bash "$SRC/deploy/ha.sh" wait "$SEMPER_STATE_DIR/ha" 60 || fail "no new leader"
for p in 1 11 21 31 41; do
  for _ in $(seq 1 150); do curl -fsS "http://127.0.0.1:$((base + 100 + p))/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "http://127.0.0.1:$((base + 100 + p))/readyz" >/dev/null || fail "a second replica is not ready after the failover"
done
echo "ha_suite_test: the second replicas were ready again $(echo "$(date +%s.%N) - $t0" | bc) s after $leader was killed"
# gRPC clients keep their lists; the HTTP endpoints (CRLs, RFC 3161) are the first replicas', which
# in production sit behind a name or load balancer that reaches every replica: the scenario is
# pointed at the second replicas' HTTP ports, as that would.
sed -e "s|^SEMPER_CA_HTTP=.*|SEMPER_CA_HTTP=http://127.0.0.1:$((base + 101))|" \
  -e "s|^SEMPER_TSA_HTTP=.*|SEMPER_TSA_HTTP=http://127.0.0.1:$((base + 111))|" "$SEMPER_STATE_DIR/client.env" >"$WORK/client2.env"
SEMPERCTL=$BUILD_DIR/cli/semperctl/semperctl bash "$SRC/tests/scenario/marketplace.sh" "$WORK/client2.env" "$WORK/run2" ||
  fail "the scenario with one replica of each daemon and two database nodes"

echo "--- deploy/up.sh stop"
bash "$SRC/deploy/up.sh" stop
status=$(bash "$SRC/deploy/up.sh" status 2>&1 || true)
[[ $(grep -c ": stopped" <<<"$status") -eq 10 ]] || { echo "$status"; fail "a daemon still runs after stop"; }
sleep 1
pgrep -f "$SEMPER_STATE_DIR" >/dev/null && { pgrep -af "$SEMPER_STATE_DIR"; fail "a process of the suite survived the stop"; }
echo "ha_suite_test: passed"
