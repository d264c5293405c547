#!/usr/bin/env bash
# Configures and builds semper into ./build (Ninja, ccache when present). Extra arguments are
# passed to cmake's configure step, e.g. -DSEMPER_SANITIZE=ON.
#   SEMPER_BUILD_TARGETS  build only these targets (deploy/up.sh: the daemons and semperctl)
#   SEMPER_NEW_BUILD_ARGS cmake arguments for a build directory configured for the first time
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SEMPER_BUILD_DIR:-build}
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  # shellcheck disable=SC2086  # a list of arguments
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${SEMPER_BUILD_TYPE:-RelWithDebInfo} ${SEMPER_NEW_BUILD_ARGS:-} "$@"
elif (($# > 0)); then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${SEMPER_BUILD_TYPE:-RelWithDebInfo} "$@"
fi
targets=()
for t in ${SEMPER_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" --parallel "${SEMPER_JOBS:-$(nproc)}" "${targets[@]}"
