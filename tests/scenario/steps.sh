# Sourced by the scenarios that drive semperctl against a running suite (marketplace.sh,
# semperctl_refusals.sh): SEMPERCTL must name the binary, ROOT the suite's root certificate.
step() { echo; echo "=== $*"; }
# run <description> <command...>: runs it, keeps its output in $OUT, stops the scenario on failure.
run() {
  local what=$1; shift
  if ! OUT=$("$@" 2>&1); then
    echo "FAILED: $what"; echo "  command: $*"; echo "$OUT" | sed 's/^/  | /'
    exit 1
  fi
  echo "ok: $what"
}
expect() {  # expect <description> <pattern>: $OUT must contain the pattern
  if ! grep -q -- "$2" <<<"$OUT"; then
    echo "FAILED: $1 (expected \"$2\")"; echo "$OUT" | sed 's/^/  | /'
    exit 1
  fi
}
ctl() { "$SEMPERCTL" --server-name "${SEMPER_SERVER_NAME:-localhost}" --yes "$@"; }
admin() { ctl --cert "$SEMPER_ADMIN_CERT" --key "$SEMPER_ADMIN_KEY" --key-passphrase-file "$SEMPER_ADMIN_PASSPHRASE_FILE" "$@"; }
# Checks a detached CMS signature with openssl: cms_ok <description> <signature DER> <content>
cms_ok() { run "$1 (openssl cms -verify)" openssl cms -verify -binary -inform DER -in "$2" -content "$3" -CAfile "$ROOT" -purpose any -out /dev/null; }
# A daemon's statement, checked as the README says: the signature, and a signer whose subject is
# exactly the daemon's signing certificate's (README, "Checking a daemon's statement with openssl
# alone"): statement_ok <description> <signature> <content> <daemon>
statement_ok() {
  run "$1 (openssl cms -verify -signer)" openssl cms -verify -binary -inform DER -in "$2" -content "$3" -CAfile "$ROOT" \
    -purpose any -out /dev/null -signer "$2.signer.pem"
  local subject root want
  subject=$(openssl x509 -in "$2.signer.pem" -noout -subject -nameopt RFC2253)
  root=$(openssl x509 -in "$ROOT" -noout -subject -nameopt RFC2253)
  want="subject=CN=semper-$4 signer,${root#*,}"   # the root's subject with the daemon signer's CN
  [[ $subject == "$want" ]] || { echo "FAILED: $1 is signed by $subject, not $want"; exit 1; }
  echo "ok: $1 is signed by semper-$4's signing key"
}
