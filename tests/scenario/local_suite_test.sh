#!/usr/bin/env bash
# CTest `local_suite`: the README's first command for real. deploy/up.sh brings the suite up on a
# new state directory (private PostgreSQL, init, five daemons) on free ports, the marketplace
# scenario runs against it (with semperctl, then with the Python client, which also makes every
# situation of docs/errors.md happen), a second `up.sh start` finds it running, `up.sh stop` stops
# everything, and a start after the stop reuses the state (the same root, the same database: the
# scenario runs again). Fails, never skips.
#   tests/scenario/local_suite_test.sh BUILD_DIR
set -euo pipefail
BUILD_DIR=$(cd "${1:?usage: local_suite_test.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
NAME=local-suite
. "$SRC/tests/scenario/suite_env.sh"

echo "--- deploy/up.sh start (new state in $SEMPER_STATE_DIR)"
out=$(bash "$SRC/deploy/up.sh" start 2>&1) || { echo "$out"; fail "up.sh start"; }
echo "$out"
grep -q "creating a private PostgreSQL cluster" <<<"$out" || fail "no private cluster was created"
grep -q "created the suite's PKI" <<<"$out" || fail "init did not run"
for port in "$SEMPER_CA_HTTP_PORT" "$SEMPER_TSA_HTTP_PORT" "$SEMPER_NOTARY_HTTP_PORT" "$SEMPER_ARBITER_HTTP_PORT" "$SEMPER_LIABILITY_HTTP_PORT"; do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || fail "a daemon is not ready on $port"
done
root_before=$(sha256sum "$SEMPER_STATE_DIR/pki/root.pem")

echo "--- the marketplace scenario"
SEMPERCTL=$BUILD_DIR/cli/semperctl/semperctl bash "$SRC/tests/scenario/marketplace.sh" "$SEMPER_STATE_DIR/client.env" "$WORK/run1" ||
  fail "the scenario"
echo "--- the same flow from Python (clients/python), and the error table of docs/errors.md"
bash "$SRC/clients/python/generate.sh" || fail "generating the Python client's modules"
/usr/bin/python3 "$SRC/clients/python/tests/test_vectors.py" || fail "docs/vectors from Python"
/usr/bin/python3 "$SRC/clients/python/tests/test_flow.py" "$SEMPER_STATE_DIR/client.env" || fail "the Python client's flow"
echo "--- semperctl's refusals: declined commands change nothing, changed files are refused"
SEMPERCTL=$BUILD_DIR/cli/semperctl/semperctl bash "$SRC/tests/scenario/semperctl_refusals.sh" "$SEMPER_STATE_DIR/client.env" \
  "$WORK/run1" || fail "semperctl's refusals"

echo "--- deploy/up.sh start again: everything already runs"
out=$(bash "$SRC/deploy/up.sh" start 2>&1) || { echo "$out"; fail "second up.sh start"; }
[[ $(grep -c "already running" <<<"$out") -eq 6 ]] || { echo "$out"; fail "the second start did not find the six processes running"; }

echo "--- deploy/up.sh stop"
bash "$SRC/deploy/up.sh" stop
status=$(bash "$SRC/deploy/up.sh" status)
[[ $(grep -c "stopped" <<<"$status") -eq 6 ]] || { echo "$status"; fail "something still runs after stop"; }
pgrep -f "$SEMPER_STATE_DIR" >/dev/null && fail "a process of the suite survived the stop"
grep -q "certificates: none expires within 30 days" <<<"$status" || { echo "$status"; fail "status says nothing of expiry"; }
# A certificate of the suite that expires in 10 days is named by status (README, Year two).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=soon -days 10 \
  -out "$SEMPER_STATE_DIR/pki/services/zz-soon.pem" 2>/dev/null
# A file that is no certificate is named too, and hides nothing after it.
: >"$SEMPER_STATE_DIR/pki/services/aa empty.pem"
status=$(bash "$SRC/deploy/up.sh" status)
grep -q "WARNING: $SEMPER_STATE_DIR/pki/services/zz-soon.pem (CN=soon) expires on .*, in 9 days" <<<"$status" ||
  { echo "$status"; fail "status did not warn of a certificate expiring in 10 days"; }
grep -q "WARNING: $SEMPER_STATE_DIR/pki/services/aa empty.pem is not a readable certificate" <<<"$status" ||
  { echo "$status"; fail "status did not name a file that is no certificate"; }
[[ $(grep -c WARNING <<<"$status") -eq 2 ]] || { echo "$status"; fail "status warned of other certificates"; }
rm "$SEMPER_STATE_DIR/pki/services/zz-soon.pem" "$SEMPER_STATE_DIR/pki/services/aa empty.pem"
# A root CRL that cannot be read is named, and status still ends normally.
cp "$SEMPER_STATE_DIR/pki/root.crl" "$WORK/root.crl.kept"
echo garbage >"$SEMPER_STATE_DIR/pki/root.crl"
status=$(bash "$SRC/deploy/up.sh" status) || { echo "$status"; fail "up.sh status failed on a bad root.crl"; }
grep -q "WARNING: $SEMPER_STATE_DIR/pki/root.crl is not a readable CRL" <<<"$status" ||
  { echo "$status"; fail "status did not name an unreadable root.crl"; }
cp "$WORK/root.crl.kept" "$SEMPER_STATE_DIR/pki/root.crl"

echo "--- deploy/up.sh start after the stop reuses the state"
out=$(bash "$SRC/deploy/up.sh" start 2>&1) || { echo "$out"; fail "up.sh start after stop"; }
grep -q "creating a private PostgreSQL cluster\|created the suite's PKI" <<<"$out" && fail "the state was made anew"
[[ $(sha256sum "$SEMPER_STATE_DIR/pki/root.pem") == "$root_before" ]] || fail "the root changed"
SEMPERCTL=$BUILD_DIR/cli/semperctl/semperctl bash "$SRC/tests/scenario/marketplace.sh" "$SEMPER_STATE_DIR/client.env" "$WORK/run2" ||
  fail "the scenario after a restart"
# The subscribers of the first run are still registered.
set -a; . "$SEMPER_STATE_DIR/client.env"; set +a
list=$("$BUILD_DIR/cli/semperctl/semperctl" --server-name localhost --cert "$SEMPER_ADMIN_CERT" --key "$SEMPER_ADMIN_KEY" \
  --key-passphrase-file "$SEMPER_ADMIN_PASSPHRASE_FILE" subscriber list)
[[ $(grep -c "Katalog Versand GmbH" <<<"$list") -eq 2 ]] || { echo "$list"; fail "the first run's subscribers are gone"; }
echo "local_suite_test: passed"
