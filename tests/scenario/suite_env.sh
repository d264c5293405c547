# Sourced by the tests that run deploy/up.sh (local_suite_test.sh, token_suite_test.sh): a new
# state directory under a work directory removed at exit (after `up.sh stop`), free ports for
# PostgreSQL and every daemon, and the TSA's clock check off (a CI machine's clock need not be
# NTP-synchronised; the check has its own tests). Needs BUILD_DIR, SRC and a name prefix in NAME.
WORK=$(mktemp -d "/tmp/semper-$NAME.XXXXXX")
chmod 755 "$WORK"
export SEMPER_STATE_DIR=$WORK/state SEMPER_BUILD_DIR=$BUILD_DIR
cleanup() {
  bash "$SRC/deploy/up.sh" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mapfile -t PORTS < <(python3 "$SRC/tests/scenario/free_ports.py" 11)
export SEMPER_PG_PORT=${PORTS[0]} SEMPER_CA_PORT=${PORTS[1]} SEMPER_CA_HTTP_PORT=${PORTS[2]} \
  SEMPER_TSA_PORT=${PORTS[3]} SEMPER_TSA_HTTP_PORT=${PORTS[4]} SEMPER_NOTARY_PORT=${PORTS[5]} \
  SEMPER_NOTARY_HTTP_PORT=${PORTS[6]} SEMPER_ARBITER_PORT=${PORTS[7]} SEMPER_ARBITER_HTTP_PORT=${PORTS[8]} \
  SEMPER_LIABILITY_PORT=${PORTS[9]} SEMPER_LIABILITY_HTTP_PORT=${PORTS[10]}
export SEMPER_TSA_CLOCK_CHECK=off

fail() { echo "$NAME: FAILED: $*"; for f in "$SEMPER_STATE_DIR"/logs/*.log; do echo "--- $f"; tail -n 20 "$f"; done; exit 1; }
