#!/usr/bin/env bash
# Configures and builds semper into ./build (Ninja, ccache when present). Extra arguments are
# passed to cmake's configure step, e.g. -DSEMPER_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SEMPER_BUILD_DIR:-build}
if [[ ! -f "$BUILD_DIR/build.ninja" ]] || (($# > 0)); then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${SEMPER_BUILD_TYPE:-RelWithDebInfo} "$@"
fi
cmake --build "$BUILD_DIR" --parallel "${SEMPER_JOBS:-$(nproc)}"
