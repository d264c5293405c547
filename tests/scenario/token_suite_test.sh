#!/usr/bin/env bash
# CTest `token_suite`: every signing key of the suite in a PKCS#11 token (SoftHSM2). deploy/up.sh
# with SEMPER_KEYS=softhsm on a new state directory moves semper-ca's four keys (issuing,
# pseudonym issuer, OCSP responder, statement signer) and the signing keys of semper-tsa,
# semper-notary, semper-arbiter and semper-liability into a token and removes their files; then
# the marketplace scenario (certificates, guarantees, notary statements, time-stamps and a verdict,
# each checked with openssl) runs against it, openssl checks an OCSP response, semperctl checks
# the CA's signature over a token kind, and everything is done once more after a restart.
#   tests/scenario/token_suite_test.sh BUILD_DIR
set -euo pipefail
BUILD_DIR=$(cd "${1:?usage: token_suite_test.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
NAME=token-suite
. "$SRC/tests/scenario/suite_env.sh"
export SEMPER_KEYS=softhsm
STATE=$SEMPER_STATE_DIR
CTL=$BUILD_DIR/cli/semperctl/semperctl

# Every command that handles a secret records its command line (as /proc/*/cmdline shows it to
# every user of the machine): the PINs and database passwords must not be in any of them.
SHIMS=$WORK/shims
ARGV_LOG=$WORK/argv.log
mkdir -p "$SHIMS"
: > "$ARGV_LOG"
for tool in psql softhsm2-util p11tool pkcs11-tool openssl createuser; do
  real=$(command -v "$tool" || true)
  [[ -n $real ]] || continue
  printf '#!/bin/sh\nprintf "%%s\\n" "%s $*" >> "%s"\nexec "%s" "$@"\n' "$tool" "$ARGV_LOG" "$real" > "$SHIMS/$tool"
  chmod +x "$SHIMS/$tool"
done
echo "--- deploy/up.sh start with SEMPER_KEYS=softhsm (new state in $STATE)"
out=$(PATH=$SHIMS:$PATH bash "$SRC/deploy/up.sh" start 2>&1) || { echo "$out"; fail "up.sh start"; }
echo "$out"
grep -q "^softhsm2-util " "$ARGV_LOG" && grep -q "^psql " "$ARGV_LOG" || fail "the command-line shims saw nothing"
for secret in token-pin token-so-pin postgres-password semper-db-password; do
  [[ -s $STATE/secrets/$secret ]] || fail "no secret $secret"
  grep -qF -- "$(cat "$STATE/secrets/$secret")" "$ARGV_LOG" && fail "the secret $secret was on a command line"
done
echo "ok: no PIN or database password on a command line ($(wc -l < "$ARGV_LOG") commands seen)"
grep -q "keys-to-token: the suite's signing keys are in the token" <<<"$out" || fail "the keys were not moved"
for f in ca.key pseudonym-ca.key services/ocsp-signing.key services/ca-signing.key \
         services/{tsa,notary,arbiter,liability}-signing.key; do
  [[ ! -e $STATE/pki/$f ]] || fail "$f is still a file"
done
# semper-ca names each key it took from the token; the others cannot have started from files.
for k in ca.key_uri ca.pseudonym_key_uri ca.ocsp_key_uri ca.statement_key_uri; do
  grep -q "key=$k.*source=pkcs11" "$STATE/logs/semper-ca.log" || fail "semper-ca did not load $k from the token"
done
[[ $(stat -c %a "$STATE/secrets/token-pin") == 600 ]] || fail "the PIN file is readable by others"
grep -rqs "$(cat "$STATE/secrets/token-pin")" "$STATE"/logs/ "$STATE"/*.toml && fail "the PIN is in a log or a configuration"

check_all() {
  local run=$1
  SEMPERCTL=$CTL bash "$SRC/tests/scenario/marketplace.sh" "$STATE/client.env" "$WORK/$run" || fail "the scenario ($run)"
  # OCSP, signed by the responder key in the token, for the buyer's certificate (openssl ocsp).
  local ocsp
  ocsp=$(openssl ocsp -issuer "$STATE/pki/ca.pem" -cert "$WORK/$run/buyer/signature.pem" \
    -url "http://127.0.0.1:$SEMPER_CA_HTTP_PORT/ocsp" -CAfile "$STATE/pki/root.pem" \
    -verify_other "$STATE/pki/ca.pem" 2>&1) || { echo "$ocsp"; fail "openssl ocsp ($run)"; }
  echo "$ocsp"
  grep -q "Response verify OK" <<<"$ocsp" || fail "the OCSP response does not verify ($run)"
  grep -q "signature.pem: good" <<<"$ocsp" || fail "the buyer's certificate is not good ($run)"
  # A token kind: semper-ca's statement signer (in the token) signs it; semperctl checks it
  # against the root before printing it.
  (cd "$WORK/$run" &&
    "$CTL" --server-name localhost --yes token kind create --wallet seller --wallet-passphrase-file pass --name "Token test $run" --value 1.00) ||
    fail "token kind create ($run)"
}
set -a; . "$STATE/client.env"; set +a
check_all run1

echo "--- restart: the daemons log in to the token again"
bash "$SRC/deploy/up.sh" stop
out=$(bash "$SRC/deploy/up.sh" start 2>&1) || { echo "$out"; fail "up.sh start after stop"; }
grep -q "keys-to-token" <<<"$out" && fail "the keys were moved twice"
check_all run2
echo "token_suite_test: passed"
