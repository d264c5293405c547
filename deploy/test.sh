#!/usr/bin/env bash
# The README's second command: installs what is needed, builds, and runs every test
# (unit, integration against a private PostgreSQL the tests start themselves, interop with the
# openssl command line). Run as root on Debian 12. Extra arguments go to ctest, e.g. -L unit.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash deploy/install-deps.sh
bash deploy/podman-setup.sh  # for the compose test (label compose)
bash deploy/build.sh
cd "${SEMPER_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900 -j "${SEMPER_TEST_JOBS:-$(nproc)}" "$@"
echo "deploy/test.sh: all tests passed in $(( $(date +%s) - start )) s"
