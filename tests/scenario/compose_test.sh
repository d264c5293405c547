#!/usr/bin/env bash
# CTest `compose` (label compose): deploy/docker-compose.yml for real, with podman and
# podman-compose on this machine. Makes the images from BUILD_DIR's binaries (deploy/image.sh:
# no second compilation; with the test tree's sanitizers, whose reports in any container's log
# fail the test), brings the suite up with two copies each of semper-notary and semper-liability,
# waits until every service is healthy, runs the marketplace scenario against the published
# ports, checks that the second copies serve the same records, then takes the suite down and up
# again (the volumes keep the PKI and the database) and finally removes it with its volumes.
# Fails, never skips.
#   tests/scenario/compose_test.sh BUILD_DIR
set -euo pipefail
BUILD_DIR=$(cd "${1:?usage: compose_test.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SEMPERCTL=$BUILD_DIR/cli/semperctl/semperctl
PROJECT=${SEMPER_COMPOSE_PROJECT:-semperci$$}
WORK=$(mktemp -d /tmp/semper-compose.XXXXXX)
start=$(date +%s)
say() { echo "[$(( $(date +%s) - start )) s] $*"; }

compose() { (cd "$SRC/deploy" && podman-compose -p "$PROJECT" "$@"); }

dump_logs() {
  for c in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
    echo "--- podman logs $c (last 25 lines)"; podman logs --tail 25 "$c" 2>&1 || true
  done
}
# Images of this run only: the sanitizer build's binaries never become the operators' images.
export SEMPER_IMAGE=localhost/semper-test:$PROJECT SEMPER_POSTGRES_IMAGE=localhost/semper-postgres-test:$PROJECT
cleanup() {
  compose down -v >/dev/null 2>&1 || true
  # --no-prune keeps the layers below (Debian packages) cached for the next run.
  podman rmi -f --no-prune "$SEMPER_IMAGE" "$SEMPER_POSTGRES_IMAGE" >/dev/null 2>&1 || true
  for v in pki pgdata; do podman volume rm -f "${PROJECT}_$v" >/dev/null 2>&1 || true; done
  podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true  # podman-compose 1.0.3 leaves it
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "compose_test: FAILED: $*"; dump_logs; exit 1; }
# A container's whole log into $WORK/container.log (searched as a file: grep -q on a pipe that it
# leaves early can hide a match under pipefail).
read_log() { podman logs "$1" >"$WORK/container.log" 2>&1 || fail "podman logs $1"; }

bash "$SRC/deploy/podman-setup.sh" || fail "deploy/podman-setup.sh (above)"

export SEMPER_SECRETS_DIR=$WORK/secrets
bash "$SRC/deploy/compose-secrets.sh"

# Free host ports for the single copies; the doubled daemons publish container ports only, so
# that each copy gets its own host port.
mapfile -t P < <(python3 "$SRC/tests/scenario/free_ports.py" 6)
export SEMPER_CA_PUBLISH=127.0.0.1:${P[0]}:7000 SEMPER_CA_HTTP_PUBLISH=127.0.0.1:${P[1]}:7001 \
  SEMPER_TSA_PUBLISH=127.0.0.1:${P[2]}:7010 SEMPER_TSA_HTTP_PUBLISH=127.0.0.1:${P[3]}:7011 \
  SEMPER_ARBITER_PUBLISH=127.0.0.1:${P[4]}:7030 SEMPER_ARBITER_HTTP_PUBLISH=127.0.0.1:${P[5]}:7031 \
  SEMPER_NOTARY_PUBLISH=7020 SEMPER_NOTARY_HTTP_PUBLISH=7021 SEMPER_NOTARY_REPLICAS=2 \
  SEMPER_LIABILITY_PUBLISH=7040 SEMPER_LIABILITY_HTTP_PUBLISH=7041 SEMPER_LIABILITY_REPLICAS=2 \
  SEMPER_CA_PUBLIC_URL=http://127.0.0.1:${P[1]}
# A CI machine's clock need not be NTP-synchronised; the TSA's clock check has its own tests.
export SEMPER_TSA_CLOCK_CHECK=off

say "making the images from $BUILD_DIR (deploy/image.sh)"
bash "$SRC/deploy/image.sh" "$BUILD_DIR" >"$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log"; fail "deploy/image.sh"; }
say "images made"

# host_port <service> <copy> <container port>
host_port() { podman port "${PROJECT}_$1_$2" "$3/tcp" | head -n1 | sed 's/.*://'; }

wait_healthy() {
  local deadline=$(( $(date +%s) + 300 ))
  local code
  until code=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "${PROJECT}_init_1" 2>/dev/null) &&
        [[ $code == "exited 0" ]]; do
    [[ $code == exited* ]] && fail "the init exited with ${code#exited }"
    (( $(date +%s) < deadline )) || fail "the init did not finish"
    sleep 1
  done
  for target in "semper-ca 1 7001" "semper-tsa 1 7011" "semper-notary 1 7021" "semper-notary 2 7021" \
                "semper-arbiter 1 7031" "semper-liability 1 7041" "semper-liability 2 7041"; do
    set -- $target
    until port=$(host_port "$1" "$2" "$3" 2>/dev/null) && [[ -n $port ]] &&
          curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
      (( $(date +%s) < deadline )) || fail "$1 copy $2 is not ready"
      sleep 1
    done
    # The compose file's own health check agrees.
    hc=$(podman healthcheck run "${PROJECT}_$1_$2" 2>&1) || fail "$1 copy $2: its health check fails: $hc"
  done
}

say "podman-compose up"
compose up -d --no-build >"$WORK/up.log" 2>&1 || { tail -n 40 "$WORK/up.log"; fail "podman-compose up"; }
wait_healthy
say "all services healthy"
ps_out=$(podman ps --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}')
for c in semper-notary_2 semper-liability_2; do grep -q "${PROJECT}_$c" <<<"$ps_out" || fail "no second copy $c"; done

# The suite's root and the administrator's credentials, from the volume.
mkdir -p "$WORK/pki"
for f in root.pem admin/admin.pem admin/admin.key; do
  podman cp "${PROJECT}_semper-ca_1:/var/lib/semper/pki/suite/$f" "$WORK/pki/$(basename "$f")" || fail "copy $f out of the volume"
done
cp "$SEMPER_SECRETS_DIR/ca_passphrase" "$WORK/pki/admin.pass"
write_env() {
  cat > "$WORK/client.env" <<ENV
SEMPERCTL_SERVER=127.0.0.1:${P[0]}
SEMPERCTL_TSA=127.0.0.1:${P[2]}
SEMPERCTL_NOTARY=127.0.0.1:$(host_port semper-notary 1 7020)
SEMPERCTL_ARBITER=127.0.0.1:${P[4]}
SEMPERCTL_LIABILITY=127.0.0.1:$(host_port semper-liability 1 7040)
SEMPERCTL_CA_FILE=$WORK/pki/root.pem
SEMPER_SERVER_NAME=localhost
SEMPER_CA_HTTP=http://127.0.0.1:${P[1]}
SEMPER_TSA_HTTP=http://127.0.0.1:${P[3]}
SEMPER_ADMIN_CERT=$WORK/pki/admin.pem
SEMPER_ADMIN_KEY=$WORK/pki/admin.key
SEMPER_ADMIN_PASSPHRASE_FILE=$WORK/pki/admin.pass
ENV
}
write_env

say "the marketplace scenario against the containers"
SEMPERCTL=$SEMPERCTL bash "$SRC/tests/scenario/marketplace.sh" "$WORK/client.env" "$WORK/run1" || fail "the scenario"

say "the second copies serve the same records"
ctl() { "$SEMPERCTL" --server-name localhost --ca-file "$WORK/pki/root.pem" "$@"; }
guarantee=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["guarantee_id"])' "$WORK/run1/guarantee1.json")
out=$(ctl --liability "127.0.0.1:$(host_port semper-liability 2 7040)" liability show --wallet "$WORK/run1/seller" --wallet-passphrase-file "$WORK/run1/pass" "$guarantee") || fail "liability copy 2: $out"
grep -q "$guarantee" <<<"$out" || fail "liability copy 2 does not know $guarantee: $out"
mail=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/run1/ebook.delivered.json")
out=$(ctl --notary "127.0.0.1:$(host_port semper-notary 2 7020)" notary mail show "$mail" --wallet "$WORK/run1/seller" --wallet-passphrase-file "$WORK/run1/pass") || fail "notary copy 2: $out"
grep -q "delivered against the recipient's receipt" <<<"$out" || fail "notary copy 2 does not show the delivery: $out"

# Stops the containers (the daemons shut down cleanly; LeakSanitizer looks at exit) and fails on
# any sanitizer report in any container's log (the images of a sanitizer build run with them).
# The daemons exit 0 after SIGTERM; a leak report exits 23, a crash or a kill otherwise.
# The daemons go first (podman-compose 1.0.3 stops in reverse file order and ignores failures),
# PostgreSQL last: its shutdown waits for its clients.
stop_and_check_reports() {
  local c code daemons=()
  mapfile -t daemons < <(podman ps --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' |
    grep -v -E "^${PROJECT}_(postgres|init)_" || true)
  if ((${#daemons[@]})); then
    podman stop -t 60 "${daemons[@]}" >"$WORK/stop.log" 2>&1 || { tail -n 20 "$WORK/stop.log"; fail "podman stop"; }
  fi
  compose stop -t 60 >"$WORK/stop.log" 2>&1 || { tail -n 20 "$WORK/stop.log"; fail "podman-compose stop"; }
  for c in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
    read_log "$c"
    if grep -E -A20 'ERROR: (Address|Leak)Sanitizer|Sanitizer has encountered|runtime error:' "$WORK/container.log" >"$WORK/report"; then
      head -n 60 "$WORK/report"; fail "$c reported a sanitizer error"
    fi
    code=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$c") || fail "podman inspect $c"
    [[ $code == "exited 0" ]] || { tail -n 20 "$WORK/container.log"; fail "$c is '$code' after being stopped, not 'exited 0'"; }
  done
}

say "down and up again: the volumes keep the PKI and the database"
root_before=$(sha256sum < "$WORK/pki/root.pem")
stop_and_check_reports
compose down >"$WORK/down.log" 2>&1 || { tail -n 20 "$WORK/down.log"; fail "podman-compose down"; }
[[ -z $(podman ps -q --filter "label=io.podman.compose.project=$PROJECT") ]] || fail "containers survived down"
compose up -d --no-build >"$WORK/up2.log" 2>&1 || { tail -n 40 "$WORK/up2.log"; fail "second podman-compose up"; }
wait_healthy
init_log=$(podman logs "${PROJECT}_init_1" 2>&1) || fail "podman logs ${PROJECT}_init_1"
grep -q already_initialised <<<"$init_log" || fail "the second init did not find the PKI"
podman cp "${PROJECT}_semper-ca_1:/var/lib/semper/pki/suite/root.pem" "$WORK/root-after.pem"
[[ $(sha256sum < "$WORK/root-after.pem") == "$root_before" ]] || fail "the root changed"
write_env
out=$("$SEMPERCTL" --server-name localhost --server "127.0.0.1:${P[0]}" --ca-file "$WORK/pki/root.pem" \
  --cert "$WORK/pki/admin.pem" --key "$WORK/pki/admin.key" --key-passphrase-file "$WORK/pki/admin.pass" subscriber list) ||
  fail "subscriber list: $out"
grep -q "Katalog Versand GmbH" <<<"$out" || fail "the subscribers registered before are gone: $out"
out=$(ctl --liability "127.0.0.1:$(host_port semper-liability 1 7040)" liability show --wallet "$WORK/run1/seller" --wallet-passphrase-file "$WORK/run1/pass" "$guarantee") || fail "after restart: $out"

# No secret in the logs: the passphrase and the database password appear nowhere.
for c in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
  read_log "$c"
  for s in ca_passphrase db_password postgres_password; do
    if grep -qF "$(cat "$SEMPER_SECRETS_DIR/$s")" "$WORK/container.log"; then fail "$c logs the secret $s"; fi
  done
done
stop_and_check_reports
say "compose_test: passed"
