#!/usr/bin/env bash
# Makes the compose deployment's images from a build tree of this machine instead of compiling
# the sources a second time inside a container:
#   localhost/semper:latest           deploy/Dockerfile --target runtime-prebuilt, with the five
#                                     daemons and semperctl of BUILD_DIR (debug info stripped)
#   localhost/semper-postgres:latest  deploy/Dockerfile --target postgres
#   localhost/semper-patroni:latest   deploy/Dockerfile --target patroni, only with SEMPER_HA=1
#                                     (for deploy/docker-compose.ha.yml)
# Then `podman-compose up -d` (or `docker compose up -d`) uses them as they are. The binaries must
# have been built on Debian 12 (the image is bookworm-slim with Debian's shared libraries); the
# script checks inside the image that every library they need is there. A sanitizer build (the
# test tree, deploy/test.sh) keeps its sanitizers: its images carry tests/sanitizer/lsan.supp and
# the tests' sanitizer options.
#   deploy/image.sh [BUILD_DIR]        (default: $SEMPER_BUILD_DIR, else ./build)
# SEMPER_IMAGE, SEMPER_POSTGRES_IMAGE and SEMPER_PATRONI_IMAGE change the tags. Needs podman (deploy/podman-setup.sh).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${1:-${SEMPER_BUILD_DIR:-$SRC/build}}
IMAGE=${SEMPER_IMAGE:-localhost/semper:latest}
PG_IMAGE=${SEMPER_POSTGRES_IMAGE:-localhost/semper-postgres:latest}
PATRONI_IMAGE=${SEMPER_PATRONI_IMAGE:-localhost/semper-patroni:latest}
say() { echo "image.sh: $*"; }
die() { echo "image.sh: $*" >&2; exit 1; }

[[ -f $BUILD_DIR/build.ninja ]] ||
  die "$BUILD_DIR is not a build tree: build first (bash deploy/build.sh), or name one: deploy/image.sh BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
declare -A BINARIES=(
  [semper-ca]=services/ca [semper-tsa]=services/timestamp [semper-notary]=services/notary
  [semper-arbiter]=services/arbiter [semper-liability]=services/liability [semperctl]=cli/semperctl
)
# Up to date with the sources (a no-op when they are).
cmake --build "$BUILD_DIR" --target "${!BINARIES[@]}" >/dev/null ||
  die "building ${!BINARIES[*]} in $BUILD_DIR failed (cmake --build $BUILD_DIR shows why)"

ctx=$(mktemp -d /tmp/semper-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin" "$ctx/share" "$ctx/deploy/docker"
cp "$SRC/deploy/docker/semper-entrypoint.sh" "$ctx/deploy/docker/"
for b in "${!BINARIES[@]}"; do
  strip --strip-debug -o "$ctx/bin/$b" "$BUILD_DIR/${BINARIES[$b]}/$b"
done
# Modes as the image needs them whatever this shell's umask (the user semper runs them).
chmod 0755 "$ctx/bin" "$ctx/share" "$ctx/deploy" "$ctx/deploy/docker" "$ctx/bin"/* "$ctx/deploy/docker/semper-entrypoint.sh"
args=()
# (grep -c, not -q: grep leaving early would fail the pipeline under pipefail)
if (( $(nm "$ctx/bin/semper-ca" 2>/dev/null | grep -c ' __asan_init$') > 0 )); then
  cp "$SRC/tests/sanitizer/lsan.supp" "$ctx/share/"
  args+=(--build-arg "LSAN_OPTIONS=suppressions=/usr/local/share/semper/lsan.supp"
         --build-arg "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  say "$BUILD_DIR is a sanitizer build: the image's daemons run with AddressSanitizer and UBSan"
else
  echo "binaries built by deploy/image.sh from $BUILD_DIR" > "$ctx/share/ORIGIN"
fi
chmod 0644 "$ctx/share"/*

say "building $IMAGE from $BUILD_DIR ($(du -sh "$ctx/bin" | cut -f1) of binaries)"
podman build -q -f "$SRC/deploy/Dockerfile" --target runtime-prebuilt "${args[@]}" -t "$IMAGE" "$ctx" >/dev/null ||
  die "podman build of $IMAGE failed (run it without -q to see why)"
missing=$(podman run --rm --entrypoint sh "$IMAGE" -c 'ldd /usr/local/bin/semper-[a-z]* /usr/local/bin/semperctl 2>&1 | grep "not found" | sort -u') || true
[[ -z $missing ]] || die "the binaries of $BUILD_DIR need libraries the image lacks (add their packages to the
runtime-base stage of deploy/Dockerfile):
$missing"
podman run --rm "$IMAGE" semper-ca --help >/dev/null 2>&1 || die "semper-ca --help fails inside $IMAGE"

say "building $PG_IMAGE"
podman build -q -f "$SRC/deploy/Dockerfile" --target postgres -t "$PG_IMAGE" "$SRC" >/dev/null ||
  die "podman build of $PG_IMAGE failed (run it without -q to see why)"
if [[ -n ${SEMPER_HA:-} ]]; then
  say "building $PATRONI_IMAGE"
  podman build -q -f "$SRC/deploy/Dockerfile" --target patroni -t "$PATRONI_IMAGE" "$SRC" >/dev/null ||
    die "podman build of $PATRONI_IMAGE failed (run it without -q to see why)"
  podman run --rm --entrypoint sh "$PATRONI_IMAGE" -c 'command -v patroni && command -v etcd && command -v psql' >/dev/null ||
    die "$PATRONI_IMAGE lacks patroni, etcd or psql"
  say "$PATRONI_IMAGE ready"
fi
say "$IMAGE and $PG_IMAGE ready"
