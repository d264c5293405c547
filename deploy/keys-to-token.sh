#!/usr/bin/env bash
# Moves every signing key of a local suite into a PKCS#11 token: deploy/keys-to-token.sh STATE_DIR
#
# The keys: semper-ca's issuing key, its pseudonym issuer, OCSP responder and statement signer;
# the signing keys of semper-tsa, semper-notary, semper-arbiter and semper-liability. Each is
# decrypted with the CA passphrase, imported into the token "semper" (label = the name below)
# and its file removed (shred); a statement-signing key that does not exist yet is made here, and
# semper-ca issues its certificate at its next start. TLS keys and the arbiter's escrow
# (decryption) key stay encrypted files.
#
# The token is SoftHSM2's (module /usr/lib/softhsm/libsofthsm2.so, tokens under
# STATE_DIR/tokens, configuration STATE_DIR/softhsm2.conf); the user PIN and the security
# officer's PIN are in STATE_DIR/secrets/token-pin and token-so-pin (mode 0600). deploy/up.sh
# runs this at the first start when SEMPER_KEYS=softhsm, and from then on configures the daemons
# with key URIs (pkcs11:token=semper;object=<name>;type=private). With a hardware token, import
# the same keys with its own tools and set the *_key_uri and *_pkcs11_module keys instead.
set -euo pipefail
STATE=${1:?usage: deploy/keys-to-token.sh STATE_DIR}
PKI=$STATE/pki
PASS=$STATE/secrets/ca-passphrase
[[ -f $PKI/ca.key && -f $PASS ]] || { echo "keys-to-token: no PKI with encrypted keys in $PKI" >&2; exit 1; }
if [[ -f $STATE/softhsm2.conf ]]; then
  echo "keys-to-token: $STATE already keeps its keys in a token" >&2
  exit 1
fi
command -v softhsm2-util >/dev/null || { echo "keys-to-token: softhsm2 is not installed (apt-get install softhsm2)" >&2; exit 1; }
command -v p11tool >/dev/null || { echo "keys-to-token: p11tool is not installed (apt-get install gnutls-bin)" >&2; exit 1; }

# What an interrupted run left (nothing uses it: softhsm2.conf is written last).
rm -rf "$STATE/tokens" "$STATE/softhsm2.conf.new"
mkdir -p "$STATE/tokens"
chmod 700 "$STATE/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$STATE/tokens" > "$STATE/softhsm2.conf.new"
export SOFTHSM2_CONF=$STATE/softhsm2.conf.new
(umask 077
 head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$STATE/secrets/token-pin"
 head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$STATE/secrets/token-so-pin")
# PINs never on a command line (/proc/*/cmdline is world-readable): softhsm2-util takes them only
# there or from a terminal, so the token starts with throw-away PINs that are replaced at once
# through p11tool, which reads PINs from its environment (readable by its owner only).
throwaway=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
softhsm2-util --init-token --free --label semper --pin "$throwaway" --so-pin "$throwaway" >/dev/null
MODULE=/usr/lib/softhsm/libsofthsm2.so
TOKEN=$(p11tool --provider "$MODULE" --list-token-urls | grep ';token=semper$' | head -n1)
[[ -n $TOKEN ]] || { echo "keys-to-token: the new token is not listed by p11tool" >&2; exit 1; }
so_pin=$(cat "$STATE/secrets/token-so-pin")
pin=$(cat "$STATE/secrets/token-pin")
GNUTLS_SO_PIN=$throwaway GNUTLS_NEW_SO_PIN=$so_pin p11tool --provider "$MODULE" --initialize-so-pin "$TOKEN" </dev/null >/dev/null
GNUTLS_SO_PIN=$so_pin GNUTLS_PIN=$pin p11tool --provider "$MODULE" --initialize-pin "$TOKEN" </dev/null >/dev/null

plain=$(mktemp -d)
chmod 700 "$plain"
trap 'rm -rf "$plain"' EXIT
id=1
# import_plain <label>: $plain/<label>.pem (unencrypted) into the token, private and public key
# objects under one label and id, then shredded.
import_plain() {
  local hex; hex=$(printf '%02x' "$id")
  openssl pkey -in "$plain/$1.pem" -pubout -out "$plain/$1.pub.pem"
  GNUTLS_PIN=$pin p11tool --provider "$MODULE" --login --write --load-privkey "$plain/$1.pem" --label "$1" --id "$hex" \
    "$TOKEN" </dev/null >/dev/null  # private keys are written CKA_SENSITIVE (not exportable)
  GNUTLS_PIN=$pin p11tool --provider "$MODULE" --login --write --load-pubkey "$plain/$1.pub.pem" --label "$1" --id "$hex" \
    "$TOKEN" </dev/null >/dev/null
  shred -u "$plain/$1.pem"
  rm -f "$plain/$1.pub.pem"
  id=$((id + 1))
}
# import <label> <encrypted key file>
import() {
  openssl pkey -in "$2" -passin "file:$PASS" -out "$plain/$1.pem"
  import_plain "$1"
}
import ca "$PKI/ca.key"
[[ -f $PKI/pseudonym-ca.key ]] && import pseudonym-ca "$PKI/pseudonym-ca.key"
import ocsp "$PKI/services/ocsp-signing.key"
if [[ -f $PKI/services/ca-signing.key ]]; then
  import statement "$PKI/services/ca-signing.key"
else
  # Not made yet (semper-ca makes it at its first start): a new key; semper-ca certifies it.
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$plain/statement.pem"
  import_plain statement
  rm -f "$PKI/services/ca-signing.pem"
fi
for d in tsa notary arbiter liability; do import "$d" "$PKI/services/$d-signing.key"; done

# Only now that every key is in the token: remove the files, and mark the state.
for f in "$PKI/ca.key" "$PKI/pseudonym-ca.key" "$PKI/services/ocsp-signing.key" "$PKI/services/ca-signing.key" \
         "$PKI/services/"{tsa,notary,arbiter,liability}-signing.key; do
  [[ -f $f ]] && shred -u "$f"
done
mv "$STATE/softhsm2.conf.new" "$STATE/softhsm2.conf"
echo "keys-to-token: the suite's signing keys are in the token 'semper' ($STATE/tokens); their files are gone"
