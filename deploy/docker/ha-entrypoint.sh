#!/bin/bash
# Entry point of the semper-patroni image (deploy/Dockerfile --target patroni) for
# deploy/docker-compose.ha.yml: the topology of deploy/ha.sh with etcd and every PostgreSQL node
# in a container of its own, reached by service name (etcd, pg1, pg2, pg3) on the compose network.
#   pki          the cluster's CA and certificates, once, into the volume at /var/lib/semper-ha-pki
#                (keys in pki/, the postgres user's; ca.pem for every client)
#   etcd         etcd, TLS with client certificates of that CA only
#   node N       PostgreSQL node pgN run by Patroni (strict synchronous mode)
#   database     waits for a leader with a synchronous standby, then creates the role and database
#                semper (password: the secret db_password) if they are missing
# Runs as root only to copy the secrets to the postgres user; every server runs as postgres.
set -euo pipefail
export HA_CONTAINER=1 HA_NODES=${HA_NODES:-3}
HA=/usr/local/lib/semper/ha.sh
SHARED=/var/lib/semper-ha-pki
DIR=/var/lib/semper-ha
SECRETS=${SEMPER_SECRETS_DIR:-/run/secrets}
log() { printf '{"service":"semper-ha-entrypoint","event":"%s","detail":"%s"}\n' "$1" "${2:-}"; }

# ha.sh's directory: the shared certificates and (unless "no-secrets": etcd needs none) the
# secrets as the postgres user's files.
prepare() {
  mkdir -p "$DIR/secrets"
  chmod 755 "$DIR"
  chmod 700 "$DIR/secrets"
  until [[ -f $SHARED/ca.pem && -d $SHARED/pki ]]; do
    log waiting_for_pki "$SHARED"
    sleep 1
  done
  ln -sfn "$SHARED/pki" "$DIR/pki"
  ln -sf "$SHARED/ca.pem" "$DIR/ca.pem"
  [[ ${1:-} == no-secrets ]] && return 0
  local from to
  for pair in postgres_password:postgres-password replicator_password:replicator-password \
              rewind_password:rewind-password db_password:semper-db-password patroni_api_password:patroni-api-password; do
    from=${pair%%:*} to=${pair#*:}
    [[ -s $SECRETS/$from ]] || { log missing_secret "$from (deploy/compose-secrets.sh makes it)"; exit 1; }
    (umask 077; head -n1 "$SECRETS/$from" | tr -d '\n' >"$DIR/secrets/$to")
  done
  chown -R postgres:postgres "$DIR/secrets"
}

cmd=${1:-}
case "$cmd" in
  pki)
    if [[ -f $SHARED/ca.pem ]]; then log already_made "$SHARED"; exit 0; fi
    bash "$HA" pki "$SHARED"
    log made "$SHARED"
    ;;
  etcd) prepare no-secrets; exec bash "$HA" run-etcd "$DIR" ;;
  node)
    [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "usage: ha-entrypoint.sh node N" >&2; exit 2; }
    prepare
    exec bash "$HA" run-node "$DIR" "pg$2"
    ;;
  database) prepare; exec bash "$HA" database "$DIR" "${2:-300}" ;;
  *)
    echo "usage: ha-entrypoint.sh pki|etcd|node N|database" >&2
    exit 2
    ;;
esac
