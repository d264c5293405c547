#!/usr/bin/env bash
# Prepares this Debian 12 machine to run deploy/docker-compose.yml with podman (no Docker engine,
# no image registry needed): podman, podman-compose and their runtime pieces from Debian, podman's
# engine settings for a machine without systemd cgroups, and the base image debian:bookworm-slim
# made locally with debootstrap when it is missing. Idempotent; run as root.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then echo "podman-setup.sh: run as root" >&2; exit 1; fi
PACKAGES=(podman podman-compose runc uidmap slirp4netns fuse-overlayfs debootstrap)
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
