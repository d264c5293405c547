#!/usr/bin/env bash
# Runs one of the README's two commands the way a new user meets it: in a fresh Debian 12 root
# made with debootstrap (minbase plus git and ca-certificates: nothing installed by hand), on a
# fresh clone of this repository's HEAD with ../shared beside it, as root, and prints how long it
# took. Not a CTest test (it runs the whole test command itself); run it before saying that the
# two commands work on a fresh machine.
#   tests/scenario/fresh_machine.sh DIR 'bash deploy/test.sh'
#   tests/scenario/fresh_machine.sh DIR 'bash deploy/up.sh && bash tests/scenario/marketplace.sh'
# DIR holds the root (DIR/root, kept for a later look, reused only by --reuse-root) and the log
# (DIR/log). The root shares this machine's kernel, network and cgroups (podman runs inside it),
# so do not run the compose test on the machine itself at the same time.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
reuse=0
if [[ ${1:-} == --reuse-root ]]; then reuse=1; shift; fi
DIR=${1:?usage: fresh_machine.sh [--reuse-root] DIR COMMAND}
COMMAND=${2:?usage: fresh_machine.sh [--reuse-root] DIR COMMAND}
[[ $(id -u) -eq 0 ]] || { echo "fresh_machine.sh: run as root" >&2; exit 1; }
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
ROOT=$DIR/root

if ((reuse == 0)) || [[ ! -x $ROOT/bin/bash ]]; then
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
  rm -rf "$ROOT"
  echo "fresh_machine.sh: debootstrap bookworm into $ROOT"
  debootstrap --variant=minbase --include=git,ca-certificates bookworm "$ROOT" \
    "${SEMPER_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$DIR/debootstrap.log"
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp /etc/apt/sources.list.d/*.sources "$ROOT/etc/apt/sources.list.d/" 2>/dev/null || true

mounts=()
bind() {
  mkdir -p "$ROOT$2"; mount "${@:3}" "$1" "$ROOT$2"; mounts=("$ROOT$2" "${mounts[@]}")
  # Unmounting the copies must never reach the machine's own /sys and /dev.
  [[ $3 == --rbind ]] && mount --make-rslave "$ROOT$2"
  return 0
}
cleanup() {
  # Whatever the command left running inside (PostgreSQL, daemons, containers) goes first.
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [[ $(readlink "/proc/$pid/root" 2>/dev/null) == "$ROOT" ]] && kill -9 "$pid" 2>/dev/null || true
  done
  sleep 1
  for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
}
trap cleanup EXIT
# The root is a mount point of its own, as on a machine (podman remounts / when it unpacks layers).
mount --bind "$ROOT" "$ROOT"; mounts=("$ROOT")
bind proc /proc -t proc
bind /sys /sys --rbind
bind /dev /dev --rbind
bind tmpfs /run -t tmpfs
bind tmpfs /tmp -t tmpfs -o size=16g

# A fresh clone of HEAD, with ../shared beside it as CI has it.
rm -rf "$ROOT/work"
mkdir -p "$ROOT/work"
git clone -q "$SRC" "$ROOT/work/main"
[[ -d $SRC/../shared ]] && cp -a "$SRC/../shared" "$ROOT/work/shared"

echo "fresh_machine.sh: running '$COMMAND' in $ROOT/work/main (log: $DIR/log)"
start=$(date +%s)
rc=0
chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  bash -c "cd /work/main && $COMMAND" >"$DIR/log" 2>&1 || rc=$?
took=$(( $(date +%s) - start ))
tail -n 30 "$DIR/log"
echo "fresh_machine.sh: '$COMMAND' exited $rc after $took s ($(( took / 60 )) min $(( took % 60 )) s) on $(nproc) cores"
exit $rc
