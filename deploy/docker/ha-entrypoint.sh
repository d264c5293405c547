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
  local waited=0
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  until [[ -f $SHARED/ca.pem && -d $SHARED/pki ]]; do
    ((waited % 10 == 0)) && log waiting_for_pki "$SHARED"
    ((waited++ < ${SEMPER_HA_PKI_WAIT_SECONDS:-600})) || { log pki_missing "$SHARED: did the service ha-pki run?"; exit 1; }
    sleep 1
  done
  ln -sfn "$SHARED/pki" "$DIR/pki"
  ln -sf "$SHARED/ca.pem" "$DIR/ca.pem"
  [[ ${1:-} == no-secrets ]] && return 0
  # Made anew, by root, at every start: the postgres user owned the last one and could have left
  # links in it for root to write through.
  rm -rf "$DIR/secrets"
  mkdir -m 700 "$DIR/secrets"
  local from to
  for pair in postgres_password:postgres-password replicator_password:replicator-password \
              rewind_password:rewind-password db_password:semper-db-password patroni_api_password:patroni-api-password; do
    from=${pair%%:*} to=${pair#*:}
    [[ -s $SECRETS/$from ]] || { log missing_secret "$from (deploy/compose-secrets.sh makes it)"; exit 1; }
    (umask 077; head -n1 "$SECRETS/$from" | tr -d '\n' >"$DIR/secrets/$to")
    # Into YAML, SQL and URLs as it is: what compose-secrets.sh makes, nothing else.
    grep -Eq '^[A-Za-z0-9._~-]+$' "$DIR/secrets/$to" ||
      { log bad_secret "$from: empty, or characters other than A-Z a-z 0-9 . _ ~ - on its first line"; exit 1; }
  done
  chown -R postgres:postgres "$DIR/secrets"
}

cmd=${1:-}
case "$cmd" in
  pki)
    if [[ -f $SHARED/ca.pem ]]; then
      for f in ca.pem server.pem server.key client.pem client.key; do
        [[ $(stat -c %U "$SHARED/pki/$f" 2>/dev/null) == postgres ]] ||
          { log pki_incomplete "$SHARED/pki/$f is missing or not the postgres user's: remove the volume ha-pki"; exit 1; }
      done
      log already_made "$SHARED"
      exit 0
    fi
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
