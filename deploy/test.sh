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
TOP=$PWD
start=$(date +%s)
parts=()
podman_pid='' podman_log='' completed=0
show_podman_log() {  # podman-setup's output without apt's per-package lines
  grep -v -E '^(Selecting|Preparing|Unpacking|Setting up|Processing triggers|\(Reading database)' "$podman_log" || true
}
finish() {  # on every exit: how long each part took, and no podman setup left running behind
  local rc=$?
  if [[ -n $podman_pid ]] && kill -0 "$podman_pid" 2>/dev/null; then
    # Not killed: apt-get stopped half-way would leave dpkg's lock to the next run.
    echo "deploy/test.sh: waiting for deploy/podman-setup.sh to finish (log: $podman_log)"
    wait "$podman_pid" 2>/dev/null || true
  fi
  if [[ -n $podman_log ]]; then
    if ((rc != 0)) && [[ -s $podman_log ]]; then
      show_podman_log
    fi
    rm -f "$podman_log" "$podman_log.took"
  fi
  if ((${#parts[@]})); then printf 'deploy/test.sh: %s\n' "${parts[@]}"; fi
  if ((rc == 0 && completed)); then
    echo "deploy/test.sh: all tests passed in $(( $(date +%s) - start )) s"
  else
    echo "deploy/test.sh: FAILED (exit $rc) after $(( $(date +%s) - start )) s"
  fi
}
trap finish EXIT
# A signal ends the run as a failure (the EXIT trap alone would see the last command's status).
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
part() {  # part NAME COMMAND...: runs it and records how long it took, also when it fails
  local t=$(date +%s) name=$1 rc=0; shift
  "$@" || rc=$?
  parts+=("$name $(( $(date +%s) - t )) s$( ((rc == 0)) || echo " (failed: exit $rc)")")
  return $rc
}
part "installing packages" bash deploy/install-deps.sh
# podman for the compose test (label compose): mostly downloads and debootstrap, so it runs
# beside the build and is waited for before the tests.
podman_log=$(mktemp /tmp/semper-podman-setup.XXXXXX)
(t=$(date +%s); rc=0; bash deploy/podman-setup.sh || rc=$?; echo "$(( $(date +%s) - t ))" >"$podman_log.took"; exit $rc) \
  >"$podman_log" 2>&1 &
podman_pid=$!
export SEMPER_BUILD_DIR=${SEMPER_TEST_BUILD_DIR:-build-test}
if [[ ! -f "$SEMPER_BUILD_DIR/build.ninja" ]]; then
  # Without the benchmarks: they never run here, and they are built where they are measured
  # (tests/bench/README.md). Each fuzz target runs 15 s from its corpus (30 s by default; longer
  # by hand: tests/fuzz/run_fuzzer.sh), to keep the whole run under 45 minutes on two cores.
  part "building $SEMPER_BUILD_DIR" bash deploy/build.sh -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DSEMPER_SANITIZE=ON -DSEMPER_FUZZ=ON -DSEMPER_BUILD_BENCHMARKS=OFF -DSEMPER_FUZZ_SECONDS=15
else
  part "building $SEMPER_BUILD_DIR" bash deploy/build.sh
fi
podman_rc=0
kill -0 "$podman_pid" 2>/dev/null && echo "deploy/test.sh: waiting for deploy/podman-setup.sh (it runs beside the build)"
wait "$podman_pid" || podman_rc=$?
podman_pid=''
parts+=("podman setup (beside the build) $(cat "$podman_log.took" 2>/dev/null || echo '?') s")
show_podman_log
((podman_rc == 0)) || { echo "deploy/test.sh: deploy/podman-setup.sh failed (above)" >&2; exit 1; }
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizer/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$SEMPER_BUILD_DIR"
part "running the tests" ctest --output-on-failure --timeout 900 -j "${SEMPER_TEST_JOBS:-$(nproc)}" "$@"
cd "$TOP"
# The full run (no ctest arguments) ends with the README's first command exactly as written, and
# the walkthrough after it: the optimised ./build of the daemons and semperctl, the default state
# and ports, and whatever clock this machine has.
if (($# == 0)); then
  part "the first command and the walkthrough" env -u SEMPER_BUILD_DIR bash tests/scenario/first_command.sh
fi
completed=1
