#!/usr/bin/env bash
# Prepares this Debian 12 machine to run deploy/docker-compose.yml with podman (no Docker engine,
# no image registry needed): podman, podman-compose and their runtime pieces from Debian, podman's
# engine settings for a machine without systemd cgroups, and the base image debian:bookworm-slim
# made locally with debootstrap when it is missing. It ends by checking, in a few seconds, that two
# containers on one network find each other by name and connect (what the daemons need to reach
# PostgreSQL and each other), and fails with what to do when they cannot. Idempotent; run as root.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then echo "podman-setup.sh: run as root" >&2; exit 1; fi
# Debian 12's podman uses CNI networks, which resolve container names only with the dnsname
# plugin: without it every daemon of the compose deployment waits forever for `postgres`.
PACKAGES=(podman podman-compose runc uidmap slirp4netns fuse-overlayfs debootstrap
  golang-github-containernetworking-plugin-dnsname)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "podman-setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

conf=/etc/containers/containers.conf
if [[ ! -f $conf ]]; then
  mkdir -p /etc/containers
  cat > "$conf" <<'CONF'
# Written by semper's deploy/podman-setup.sh: runc, cgroupfs, no default ulimits (containers on
# a machine without systemd-managed cgroups).
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
  echo "podman-setup.sh: wrote $conf"
elif ! grep -q 'cgroup_manager *= *"cgroupfs"' "$conf"; then
  echo "podman-setup.sh: note: $conf exists and does not set cgroup_manager = \"cgroupfs\"; left as it is"
fi

image=docker.io/library/debian:bookworm-slim
if ! podman image exists "$image"; then
  echo "podman-setup.sh: making $image with debootstrap (no registry needed)"
  root=$(mktemp -d /tmp/bookworm-root.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "${SEMPER_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import - "$image" >/dev/null
  echo "podman-setup.sh: $image imported"
fi

# Containers must find each other by name on a compose network: a network of our own, a listener
# in one container (perl-base is in every Debian image) known by its name and by an alias (as
# podman-compose names services), a connection to the alias from another, all within a minute.
net=semper-netcheck-$$
checklog=$(mktemp /tmp/semper-netcheck.XXXXXX)
cleanup_check() {
  podman rm -f -t 0 "$net-server" "$net-client" >/dev/null 2>&1 || true
  podman network rm -f "$net" >/dev/null 2>&1 || true
  rm -f "$checklog"
}
trap 'cleanup_check; if [[ -n ${root:-} ]]; then rm -rf "$root"; fi' EXIT
backend=$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null || echo unknown)
check_failed() {
  cat >&2 <<MSG
podman-setup.sh: FAILED: $1
  so the compose deployment's daemons would never find PostgreSQL or each other.
  podman's network backend here is '$backend'. With 'cni', container names resolve only through
  the dnsname plugin: apt-get install golang-github-containernetworking-plugin-dnsname, and check
  that /usr/lib/cni/dnsname exists. With 'netavark', install aardvark-dns. Then run this again.
  What podman said:
$(sed 's/^/    /' "$checklog")
MSG
  exit 1
}
# (SEMPER_NETCHECK_CREATE_ARGS: extra arguments for the check's network; the test of this check
# passes --disable-dns to see it fail.)
# shellcheck disable=SC2086
podman network create ${SEMPER_NETCHECK_CREATE_ARGS:-} "$net" >/dev/null 2>"$checklog" ||
  check_failed "podman cannot make a network,"
podman run -d --name "$net-server" --network "$net" --network-alias semper-netcheck-alias "$image" \
  perl -MIO::Socket::INET -e \
  '$s = IO::Socket::INET->new(Listen => 5, LocalPort => 5999, ReuseAddr => 1) or die "listen: $!";
   while ($c = $s->accept) { print $c "semper-netcheck\n"; close $c }' >/dev/null 2>>"$checklog" ||
  check_failed "podman cannot start a container on a network of its own,"
answer=$(timeout 60 podman run --rm --name "$net-client" --network "$net" "$image" perl -MIO::Socket::INET -e \
  '$end = time + 20;
   while (time < $end) { $c = IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => 5999, Timeout => 2);
     if ($c) { print scalar <$c>; exit 0 } $err = $@; select(undef, undef, undef, 0.2) }
   print STDERR "no connection to $ARGV[0]:5999 in 20 s: $err\n"; exit 1' semper-netcheck-alias 2>>"$checklog") || true
if [[ $answer != semper-netcheck ]]; then
  check_failed "a container cannot reach another one by its name on a podman network,"
fi
echo "podman-setup.sh: containers reach each other by name ($backend network)"

# A network made before the dnsname plugin was there keeps resolving nothing (podman decides at
# creation): podman-compose would reuse it. Say which.
for n in $(podman network ls --format '{{.Name}}' 2>/dev/null); do
  [[ $n == podman || $n == "$net" ]] && continue
  if [[ $(podman network inspect --format '{{.DNSEnabled}}' "$n" 2>/dev/null) == false ]]; then
    echo "podman-setup.sh: note: the network '$n' resolves no container names (made without DNS);" \
      "if it is a compose network, remove it (podman-compose down, or podman network rm $n) before up"
  fi
done
