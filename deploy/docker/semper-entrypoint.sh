#!/bin/sh
# Entry point of the semper image (user semper, uid 10001).
#   init                 semper-ca init into $SEMPER_PKI_DIR, once: a second run finds it done
#   ca|tsa|notary|arbiter|liability
#                        waits for the init, then runs that daemon; every setting has a default
#                        for the compose deployment and can be overridden by its SEMPER_* variable
#                        (semper-<daemon> --help lists them)
#   anything else        runs as given (semperctl ..., sh)
# The daemons wait for PostgreSQL and for each other by themselves.
set -eu
PKI=${SEMPER_PKI_DIR:-/var/lib/semper/pki/suite}
SECRETS=${SEMPER_SECRETS_DIR:-/run/secrets}
PASS=${SEMPER_PASSPHRASE_FILE:-$SECRETS/ca_passphrase}
log() { printf '{"service":"semper-entrypoint","event":"%s","detail":"%s"}\n' "$1" "${2:-}"; }

wait_for_init() {
  n=0
  until [ -f "$PKI/.initialised" ]; do
    n=$((n + 1))
    if [ "$n" -gt "${SEMPER_INIT_WAIT_SECONDS:-600}" ]; then
      log init_missing "no $PKI/.initialised: did the init service run?"
      exit 1
    fi
    [ $((n % 10)) -eq 1 ] && log waiting_for_init "$PKI"
    sleep 1
  done
}

# database.url from its parts and the password secret, unless given whole. SEMPER_DATABASE_HOSTS
# (host:port,host:port) lists every node of a cluster instead of one host and port;
# SEMPER_DATABASE_OPTIONS adds libpq's parameters (docker-compose.ha.yml:
# target_session_attrs=read-write&sslmode=verify-full&...).
database() {
  if [ -z "${SEMPER_DATABASE_URL:-}" ]; then
    pw=$(head -n1 "${SEMPER_DATABASE_PASSWORD_FILE:-$SECRETS/db_password}")
    hosts=${SEMPER_DATABASE_HOSTS:-${SEMPER_DATABASE_HOST:-postgres}:${SEMPER_DATABASE_PORT:-5432}}
    SEMPER_DATABASE_URL="postgresql://${SEMPER_DATABASE_USER:-semper}:${pw}@${hosts}/${SEMPER_DATABASE_NAME:-semper}${SEMPER_DATABASE_OPTIONS:+?$SEMPER_DATABASE_OPTIONS}"
    export SEMPER_DATABASE_URL
  fi
}

# The daemon's TLS server key, and the suite's root and CAs for client certificates (a PKI made
# before semper-ca init wrote client-ca.pem: the root alone).
tls() {
  client_ca=$PKI/client-ca.pem
  [ -f "$client_ca" ] || client_ca=$PKI/root.pem
  : "${SEMPER_TLS_CERT_FILE:=$PKI/services/$1-tls.pem}" "${SEMPER_TLS_KEY_FILE:=$PKI/services/$1-tls.key}"
  : "${SEMPER_TLS_KEY_PASSPHRASE_FILE:=$PASS}" "${SEMPER_TLS_CLIENT_CA_FILE:=$client_ca}"
  : "${SEMPER_TLS_REQUIRE_CLIENT_CERT:=false}" "${SEMPER_LOG_FORMAT:=json}"
  export SEMPER_TLS_CERT_FILE SEMPER_TLS_KEY_FILE SEMPER_TLS_KEY_PASSPHRASE_FILE SEMPER_TLS_CLIENT_CA_FILE \
    SEMPER_TLS_REQUIRE_CLIENT_CERT SEMPER_LOG_FORMAT
}

# The signing key of daemon $1 under config section $2, and the suite's trust roots.
signer() {
  eval ": \"\${SEMPER_$2_CERT_FILE:=$PKI/services/$1-signing.pem}\" \"\${SEMPER_$2_KEY_FILE:=$PKI/services/$1-signing.key}\""
  eval ": \"\${SEMPER_$2_KEY_PASSPHRASE_FILE:=$PASS}\""
  eval "export SEMPER_$2_CERT_FILE SEMPER_$2_KEY_FILE SEMPER_$2_KEY_PASSPHRASE_FILE"
}
trust() { eval ": \"\${SEMPER_$1_TRUST_FILE:=$PKI/root.pem}\"; export SEMPER_$1_TRUST_FILE"; }

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  init)
    if [ -f "$PKI/.initialised" ]; then
      log already_initialised "$PKI"
      exit 0
    fi
    if [ -e "$PKI" ]; then
      log init_incomplete "$PKI exists without .initialised: an earlier init failed; remove the volume's suite directory"
      exit 1
    fi
    hosts=""
    for h in localhost semper-ca semper-tsa semper-notary semper-arbiter semper-liability ${SEMPER_TLS_HOSTNAMES:-}; do
      hosts="$hosts --hostname $h"
    done
    # shellcheck disable=SC2086
    semper-ca init --dir "$PKI" --passphrase-file "$PASS" $hosts --ip 127.0.0.1 \
      --organization "${SEMPER_ORGANIZATION:-SEMPER Trust Services}" --country "${SEMPER_COUNTRY:-DE}" "$@"
    touch "$PKI/.initialised"
    log initialised "$PKI"
    ;;
  ca)
    wait_for_init; database; tls ca
    : "${SEMPER_CA_DIR:=$PKI}" "${SEMPER_CA_KEY_PASSPHRASE_FILE:=$PASS}" "${SEMPER_CA_PUBLIC_URL:=http://localhost:7001}"
    : "${SEMPER_CA_ARBITER_ADDRESS:=semper-arbiter:7030}"
    export SEMPER_CA_DIR SEMPER_CA_KEY_PASSPHRASE_FILE SEMPER_CA_PUBLIC_URL SEMPER_CA_ARBITER_ADDRESS
    exec semper-ca serve "$@"
    ;;
  tsa)
    wait_for_init; database; tls tsa; signer tsa TSA
    : "${SEMPER_TSA_CA_ADDRESS:=semper-ca:7000}"
    export SEMPER_TSA_CA_ADDRESS
    exec semper-tsa "$@"
    ;;
  notary)
    wait_for_init; database; tls notary; signer notary NOTARY; trust NOTARY
    : "${SEMPER_NOTARY_CA_ADDRESS:=semper-ca:7000}" "${SEMPER_NOTARY_TSA_ADDRESS:=semper-tsa:7010}"
    export SEMPER_NOTARY_CA_ADDRESS SEMPER_NOTARY_TSA_ADDRESS
    exec semper-notary "$@"
    ;;
  arbiter)
    wait_for_init; database; tls arbiter; signer arbiter ARBITER; trust ARBITER
    : "${SEMPER_ESCROW_CERT_FILE:=$PKI/services/arbiter-escrow.pem}" "${SEMPER_ESCROW_KEY_FILE:=$PKI/services/arbiter-escrow.key}"
    : "${SEMPER_ESCROW_KEY_PASSPHRASE_FILE:=$PASS}"
    export SEMPER_ESCROW_CERT_FILE SEMPER_ESCROW_KEY_FILE SEMPER_ESCROW_KEY_PASSPHRASE_FILE
    : "${SEMPER_ARBITER_CA_ADDRESS:=semper-ca:7000}" "${SEMPER_ARBITER_NOTARY_ADDRESS:=semper-notary:7020}"
    export SEMPER_ARBITER_CA_ADDRESS SEMPER_ARBITER_NOTARY_ADDRESS
    exec semper-arbiter "$@"
    ;;
  liability)
    wait_for_init; database; tls liability; signer liability LIABILITY; trust LIABILITY
    : "${SEMPER_LIABILITY_CA_ADDRESS:=semper-ca:7000}" "${SEMPER_LIABILITY_ARBITER_CERT_FILE:=$PKI/services/arbiter-signing.pem}"
    : "${SEMPER_LIABILITY_INTERMEDIATES_FILE:=$PKI/pseudonym-ca.pem}"
    export SEMPER_LIABILITY_CA_ADDRESS SEMPER_LIABILITY_ARBITER_CERT_FILE SEMPER_LIABILITY_INTERMEDIATES_FILE
    exec semper-liability "$@"
    ;;
  "")
    echo "usage: semper-entrypoint.sh init|ca|tsa|notary|arbiter|liability|<command> [args]" >&2
    exit 2
    ;;
  *)
    exec "$cmd" "$@"
    ;;
esac
