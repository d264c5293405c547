#!/usr/bin/env bash
# Makes the secrets deploy/docker-compose.yml and deploy/docker-compose.ha.yml read, where missing:
# the passphrase of every key of the suite (ca_passphrase), the database password of the daemons
# (db_password) and of the PostgreSQL superuser (postgres_password); for the HA cluster also
# PostgreSQL's replication and pg_rewind users' and Patroni's REST API's (replicator_password,
# rewind_password, patroni_api_password). 32 random characters each, mode 0600, owned by uid
# 10001 (the user semper in the image). Existing files are kept: replace one by hand only before
# the first `compose up` (the keys are encrypted under ca_passphrase, the database made with the
# passwords). Directory: $SEMPER_SECRETS_DIR, default deploy/secrets.
set -euo pipefail
DIR=${SEMPER_SECRETS_DIR:-$(cd "$(dirname "$0")" && pwd)/secrets}
mkdir -p "$DIR"
chmod 700 "$DIR"
for s in ca_passphrase db_password postgres_password replicator_password rewind_password patroni_api_password; do
  if [[ ! -s "$DIR/$s" ]]; then
    (umask 077; head -c 48 /dev/urandom | base64 | tr -d '/+=\n' | head -c 32 > "$DIR/$s")
    echo "compose-secrets.sh: made $DIR/$s"
  fi
  chmod 600 "$DIR/$s"
  if [[ $(id -u) -eq 0 ]]; then chown 10001:10001 "$DIR/$s"; fi
done
# The directory itself must let uid 10001 reach the files when podman bind-mounts them.
if [[ $(id -u) -eq 0 ]]; then chown 10001:10001 "$DIR"; fi
