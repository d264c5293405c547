#!/bin/sh
# PostgreSQL 15 for the suite. First start (empty $PGDATA): initdb with the superuser password from
# /run/secrets/postgres_password, then the role and database semper with the password from
# /run/secrets/db_password, reachable over TCP with scram-sha-256 only. Every start: postgres in
# the foreground as the postgres user (SIGTERM = smart shutdown, SIGINT = fast).
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}
SECRETS=${SEMPER_SECRETS_DIR:-/run/secrets}
DB_USER=${SEMPER_DATABASE_USER:-semper}
DB_NAME=${SEMPER_DATABASE_NAME:-semper}
log() { printf '{"service":"postgres-entrypoint","event":"%s"}\n' "$1"; }

mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  for s in postgres_password db_password; do
    [ -s "$SECRETS/$s" ] || { log "missing_secret_$s"; exit 1; }
  done
  log initdb
  pwfile=$(mktemp)
  chown postgres "$pwfile"
  head -n1 "$SECRETS/postgres_password" > "$pwfile"
  as_postgres initdb -D "$PGDATA" -U postgres --pwfile="$pwfile" --auth-local=peer --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  {
    echo "host all all 0.0.0.0/0 scram-sha-256"
    echo "host all all ::/0 scram-sha-256"
  } >> "$PGDATA/pg_hba.conf"
  as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  db_pw=$(head -n1 "$SECRETS/db_password" | sed "s/'/''/g")
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "CREATE ROLE \"$DB_USER\" LOGIN PASSWORD '$db_pw'" -c "CREATE DATABASE \"$DB_NAME\" OWNER \"$DB_USER\""
  as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  log initialised
fi
log start
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*' "$@"
