#!/usr/bin/env bash
# semperctl's settings for a suite running under podman-compose (docker-compose.yml or
# docker-compose.ha.yml): every running replica's published host ports, balanced round robin by
# semperctl and the Python client, and the suite's root and the administrator's certificate and
# key copied out of the volume into DIR (mode 0600; the administrator's key stays encrypted under
# the secret ca_passphrase, whose file SEMPER_ADMIN_PASSPHRASE_FILE names).
#
#   bash compose-client-env.sh PROJECT DIR > DIR/client.env
#
# PROJECT: the compose project (podman-compose -p; by default the directory's name, "deploy").
# SEMPER_SECRETS_DIR: where compose-secrets.sh put the secrets (default ./secrets beside this file).
# With docker compose, `docker compose port --index N SERVICE PORT` gives the same ports.
set -euo pipefail
PROJECT=${1:?usage: compose-client-env.sh PROJECT DIR}
DIR=${2:?usage: compose-client-env.sh PROJECT DIR}
SECRETS=${SEMPER_SECRETS_DIR:-$(cd "$(dirname "$0")" && pwd)/secrets}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
die() { echo "compose-client-env.sh: $*" >&2; exit 1; }

# replicas SERVICE: the running containers of a service, in replica order.
replicas() {
  podman ps --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1" \
    --format '{{.Names}}' | sort -t_ -k3 -n
}
# addresses SERVICE PORT: 127.0.0.1:<host port> of every running replica, comma-separated.
addresses() {
  local list="" c p
  for c in $(replicas "$1"); do
    p=$(podman port "$c" "$2/tcp" 2>/dev/null | head -n1) || continue
    [[ -n $p ]] && list+="${list:+,}127.0.0.1:${p##*:}"
  done
  [[ -n $list ]] || die "no running replica of $1 publishes port $2 (is project $PROJECT up?)"
  echo "$list"
}

ca=$(replicas semper-ca | head -n1)
[[ -n $ca ]] || die "no running semper-ca in project $PROJECT"
(
  umask 077
  for f in root.pem admin/admin.pem admin/admin.key; do
    podman cp "$ca:/var/lib/semper/pki/suite/$f" "$DIR/$(basename "$f")" || die "copying $f out of the volume"
  done
)
[[ -f $SECRETS/ca_passphrase ]] || die "no $SECRETS/ca_passphrase (set SEMPER_SECRETS_DIR)"
ca_http=$(addresses semper-ca 7001)
tsa_http=$(addresses semper-tsa 7011)
cat <<ENV
SEMPERCTL_SERVER=$(addresses semper-ca 7000)
SEMPERCTL_TSA=$(addresses semper-tsa 7010)
SEMPERCTL_NOTARY=$(addresses semper-notary 7020)
SEMPERCTL_ARBITER=$(addresses semper-arbiter 7030)
SEMPERCTL_LIABILITY=$(addresses semper-liability 7040)
SEMPERCTL_CA_FILE=$DIR/root.pem
SEMPER_SERVER_NAME=localhost
SEMPER_CA_HTTP=http://${ca_http%%,*}
SEMPER_TSA_HTTP=http://${tsa_http%%,*}
SEMPER_ADMIN_CERT=$DIR/admin.pem
SEMPER_ADMIN_KEY=$DIR/admin.key
SEMPER_ADMIN_PASSPHRASE_FILE=$SECRETS/ca_passphrase
ENV
