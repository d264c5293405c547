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
part() {  # part NAME COMMAND...: runs it and records how long it took
  local t=$(date +%s) name=$1; shift
  "$@"
  parts+=("$name $(( $(date +%s) - t )) s")
}
part "installing packages" bash deploy/install-deps.sh
part "podman setup" bash deploy/podman-setup.sh  # for the compose test (label compose)
export SEMPER_BUILD_DIR=${SEMPER_TEST_BUILD_DIR:-build-test}
if [[ ! -f "$SEMPER_BUILD_DIR/build.ninja" ]]; then
  part "building $SEMPER_BUILD_DIR" bash deploy/build.sh -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DSEMPER_SANITIZE=ON -DSEMPER_FUZZ=ON
else
  part "building $SEMPER_BUILD_DIR" bash deploy/build.sh
fi
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizer/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$SEMPER_BUILD_DIR"
part "running the tests" ctest --output-on-failure --timeout 900 -j "${SEMPER_TEST_JOBS:-$(nproc)}" "$@"
printf 'deploy/test.sh: %s\n' "${parts[@]}"
echo "deploy/test.sh: all tests passed in $(( $(date +%s) - start )) s"
