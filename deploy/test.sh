#!/usr/bin/env bash
# The README's second command: installs what is needed, builds, and runs every test (unit,
# integration against a private PostgreSQL the tests start themselves, interop with the openssl
# command line, the local suite, keys in a SoftHSM2 token, docker-compose under podman, and the
# libFuzzer targets). Run as root on Debian 12. Extra arguments go to ctest, e.g. -L unit.
#
# The tests run in their own build tree (SEMPER_TEST_BUILD_DIR, default build-test): clang with
# AddressSanitizer and UndefinedBehaviorSanitizer, and the fuzz targets; a report from any test
# or any daemon they start fails the run. deploy/up.sh and the benchmarks use ./build (deploy/build.sh,
# no sanitizers).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
parts=()
podman_pid='' podman_log=''
finish() {  # on every exit: how long each part took, and no podman setup left running behind
  local rc=$?
  if [[ -n $podman_pid ]] && kill -0 "$podman_pid" 2>/dev/null; then
    # Not killed: apt-get stopped half-way would leave dpkg's lock to the next run.
    echo "deploy/test.sh: waiting for deploy/podman-setup.sh to finish (log: $podman_log)"
    wait "$podman_pid" 2>/dev/null || true
  fi
  if [[ -n $podman_log ]]; then rm -f "$podman_log"; fi
  if ((${#parts[@]})); then printf 'deploy/test.sh: %s\n' "${parts[@]}"; fi
  if ((rc == 0)); then
    echo "deploy/test.sh: all tests passed in $(( $(date +%s) - start )) s"
  else
    echo "deploy/test.sh: FAILED (exit $rc) after $(( $(date +%s) - start )) s"
  fi
}
trap finish EXIT
part() {  # part NAME COMMAND...: runs it and records how long it took
  local t=$(date +%s) name=$1; shift
  "$@"
  parts+=("$name $(( $(date +%s) - t )) s")
}
part "installing packages" bash deploy/install-deps.sh
# podman for the compose test (label compose): mostly downloads and debootstrap, so it runs
# beside the build and is waited for before the tests.
podman_log=$(mktemp /tmp/semper-podman-setup.XXXXXX)
podman_start=$(date +%s)
bash deploy/podman-setup.sh >"$podman_log" 2>&1 &
podman_pid=$!
export SEMPER_BUILD_DIR=${SEMPER_TEST_BUILD_DIR:-build-test}
if [[ ! -f "$SEMPER_BUILD_DIR/build.ninja" ]]; then
  part "building $SEMPER_BUILD_DIR" bash deploy/build.sh -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DSEMPER_SANITIZE=ON -DSEMPER_FUZZ=ON
else
  part "building $SEMPER_BUILD_DIR" bash deploy/build.sh
fi
podman_rc=0
wait "$podman_pid" || podman_rc=$?
podman_pid=''
parts+=("podman setup (beside the build) $(( $(date +%s) - podman_start )) s")
grep -v -E '^(Selecting|Preparing|Unpacking|Setting up|Processing triggers|\(Reading database)' "$podman_log" || true
((podman_rc == 0)) || { echo "deploy/test.sh: deploy/podman-setup.sh failed (above)" >&2; exit 1; }
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizer/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$SEMPER_BUILD_DIR"
part "running the tests" ctest --output-on-failure --timeout 900 -j "${SEMPER_TEST_JOBS:-$(nproc)}" "$@"
