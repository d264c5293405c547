#!/usr/bin/env bash
# Runs one of the README's two commands the way a new user meets it: in a fresh Debian 12 root
# made with debootstrap (minbase plus git and ca-certificates: nothing installed by hand), on a
# fresh clone of this repository's HEAD with ../shared beside it, as root, and prints how long it
# took. Not a CTest test (it runs the whole test command itself); run it before saying that the
# two commands work on a fresh machine.
#   tests/scenario/fresh_machine.sh DIR 'bash deploy/test.sh'
#   tests/scenario/fresh_machine.sh DIR 'bash deploy/up.sh && bash tests/scenario/marketplace.sh'
# DIR holds the root (DIR/root, kept for a later look, reused only by --reuse-root) and the log
# (DIR/log). Everything runs in a mount and PID namespace of its own: its mounts vanish with it,
# and every process it started (PostgreSQL, daemons, containers) ends with it. It shares this
# machine's network and cgroups (podman runs inside it), so do not run podman on the machine
# itself at the same time; and a run killed while containers were up leaves their CNI bridges
# (cni-podman*) and iptables CNI-* rules behind (ip link delete / iptables -F by hand).
set -euo pipefail
if [[ -z ${SEMPER_FRESH_NAMESPACE:-} ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "fresh_machine.sh: run as root" >&2; exit 1; }
  # bash reads a script as it runs: a copy, so that editing this file meanwhile changes nothing.
  copy=$(mktemp /tmp/fresh_machine.XXXXXX.sh)
  cp "$0" "$copy"
  # --kill-child: killing unshare (the PID the caller sees) ends the whole run.
  exec unshare --mount --propagation private --pid --fork --mount-proc --kill-child \
    env SEMPER_FRESH_NAMESPACE=1 SEMPER_FRESH_SOURCE="$(cd "$(dirname "$0")/../.." && pwd)" bash "$copy" "$@"
fi
case $0 in /tmp/fresh_machine.*.sh) rm -f "$0" ;; esac  # the copy (bash keeps it open)
SRC=$SEMPER_FRESH_SOURCE
reuse=0
if [[ ${1:-} == --reuse-root ]]; then reuse=1; shift; fi
DIR=${1:?usage: fresh_machine.sh [--reuse-root] DIR COMMAND}
COMMAND=${2:?usage: fresh_machine.sh [--reuse-root] DIR COMMAND}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
ROOT=$DIR/root
# One run per DIR at a time (each run's mounts are private to it: they cannot tell).
exec 9>"$DIR/.lock"
flock -n 9 || { echo "fresh_machine.sh: another run is using $DIR" >&2; exit 1; }

if ((reuse == 0)) || [[ ! -x $ROOT/bin/bash ]]; then
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
  rm -rf --one-file-system "$ROOT"
  echo "fresh_machine.sh: debootstrap bookworm into $ROOT"
  debootstrap --variant=minbase --include=git,ca-certificates bookworm "$ROOT" \
    "${SEMPER_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$DIR/debootstrap.log"
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp /etc/apt/sources.list.d/*.sources "$ROOT/etc/apt/sources.list.d/" 2>/dev/null || true

# Mounts made here live in this namespace only (private propagation): they reach neither the
# machine's / nor its /sys and /dev, and go when the namespace does.
bind() { mkdir -p "$ROOT$2"; mount "${@:3}" "$1" "$ROOT$2"; }
# The root is a mount point of its own, as on a machine (podman remounts / when it unpacks layers,
# and pivot_root needs one).
mount --bind "$ROOT" "$ROOT"
mount --make-rprivate "$ROOT"
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
# The root becomes the real root of a mount namespace of the command's own (pivot_root, not
# chroot): runc behaves differently inside a chroot (podman exec, and so health checks, cannot
# enter a container's volume mounts there), as it would not on a machine.
unshare --mount --propagation private bash -c '
  set -e
  cd "$1"; mkdir -p .old-root
  pivot_root . .old-root
  cd /; umount -l /.old-root; rmdir /.old-root
  exec /usr/bin/env -i HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /work/main && $2"' fresh "$ROOT" "$COMMAND" >"$DIR/log" 2>&1 || rc=$?
took=$(( $(date +%s) - start ))
tail -n 30 "$DIR/log"
echo "fresh_machine.sh: '$COMMAND' exited $rc after $took s ($(( took / 60 )) min $(( took % 60 )) s) on $(nproc) cores"
exit $rc
