#!/usr/bin/env bash
# CTest `netcheck` (label compose): deploy/podman-setup.sh's check that containers reach each other
# by name. On a network without name resolution (what Debian 12's podman makes without the CNI
# dnsname plugin) it fails within 90 s (its own bound is a minute of trying), saying what to install, and leaves no network or
# container behind; on a normal network it passes.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp /tmp/semper-netcheck-test.XXXXXX)
trap 'rm -f "$out"' EXIT
fail() { echo "netcheck_test: FAILED: $*"; cat "$out"; exit 1; }
leftovers() {
  { podman network ls --format '{{.Name}}'; podman ps -a --format '{{.Names}}'; } | grep -c '^semper-netcheck-' || true
}
before=$(leftovers)

start=$(date +%s)
rc=0
SEMPER_NETCHECK_CREATE_ARGS=--disable-dns timeout 150 bash "$SRC/deploy/podman-setup.sh" >"$out" 2>&1 || rc=$?
took=$(( $(date +%s) - start ))
((rc == 1)) || fail "without name resolution podman-setup.sh exited $rc, not 1"
((took <= 90)) || fail "it took $took s to say so"
grep -q "FAILED: a container cannot reach another one by its name" "$out" || fail "no clear message"
# (Only in the message: apt's own lines may name the package too.)
sed -n '/FAILED:/,$p' "$out" | grep -c "golang-github-containernetworking-plugin-dnsname" >/dev/null ||
  fail "the message does not say what to install"
echo "netcheck_test: without name resolution: refused in $took s with what to install"

env -u SEMPER_NETCHECK_CREATE_ARGS bash "$SRC/deploy/podman-setup.sh" >"$out" 2>&1 || fail "podman-setup.sh fails on this machine's normal networks"
grep -q "containers reach each other by name" "$out" || fail "no word of the check passing"
[[ $(leftovers) == "$before" ]] || fail "networks or containers semper-netcheck-* left behind"
echo "netcheck_test: passed"
