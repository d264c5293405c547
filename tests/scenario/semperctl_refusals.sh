#!/usr/bin/env bash
# What semperctl refuses on its user's behalf, against a running suite.
#
# 1. Nothing irreversible without confirmation. Every semperctl command that signs, sends or changes
# something shows what it is about to do and asks first; answered "n" (what a person does when what
# is shown is not what they meant, e.g. a counterparty made them run it), it exits 1 and nothing
# happened: no file written, no key made, no log entry, no change at any daemon. Runs after
# marketplace.sh, in its directory (its wallets and files).
# 2. Nothing a counterparty hands over is taken changed: a completed exchange, a credential, a
# blind signature with one byte changed are refused (verify commands exit 3, others 1), and nothing
# is written.
#
#   tests/scenario/semperctl_refusals.sh CLIENT_ENV WORK_DIR
#
# (notary certify, liability agree/guarantee/settle, certificate revoke and subscriber close are
# declined in notary_test, liability_test and ca_test.)
set -euo pipefail
ENV_FILE=${1:?usage: semperctl_refusals.sh CLIENT_ENV WORK_DIR}
W=${2:?usage: semperctl_refusals.sh CLIENT_ENV WORK_DIR}
# shellcheck disable=SC1090
source "$ENV_FILE"
export SEMPERCTL_SERVER SEMPERCTL_TSA SEMPERCTL_NOTARY SEMPERCTL_ARBITER SEMPERCTL_LIABILITY SEMPERCTL_CA_FILE
HERE=$(cd "$(dirname "$0")/../.." && pwd)
SEMPERCTL=${SEMPERCTL:-semperctl}
ROOT=$SEMPERCTL_CA_FILE
# shellcheck source=tests/scenario/steps.sh
source "$HERE/tests/scenario/steps.sh"
cd "$W"
RUN=$(date +%s)-$$-c
D=probe-$RUN  # what this run writes (or must not)
mkdir -p "$D"
ADMIN=(--cert "$SEMPER_ADMIN_CERT" --key "$SEMPER_ADMIN_KEY" --key-passphrase-file "$SEMPER_ADMIN_PASSPHRASE_FILE")
ARBITRATOR_DIR=$(dirname "$SEMPER_ADMIN_CERT")
ARBITRATOR=(--cert "$ARBITRATOR_DIR/arbitrator.pem" --key "$ARBITRATOR_DIR/arbitrator.key"
            --key-passphrase-file "$SEMPER_ADMIN_PASSPHRASE_FILE")

# declined <description> <what must be shown> <semperctl arguments...>: without --yes, answered
# "n": exit 1, the question asked, and <what must be shown> shown before it.
declined() {
  local what=$1 shown=$2; shift 2
  local rc=0
  OUT=$("$SEMPERCTL" --server-name "${SEMPER_SERVER_NAME:-localhost}" "$@" 2>&1 <<<"n") || rc=$?
  if [[ $rc -ne 1 ]] || ! grep -q -- "\[y/N\]" <<<"$OUT" || ! grep -q -- "$shown" <<<"$OUT"; then
    echo "FAILED: $what: expected exit 1 after asking, with \"$shown\" shown first (exit $rc)"
    echo "$OUT" | sed 's/^/  | /'
    exit 1
  fi
  local before_question=${OUT%%\[y/N\]*}
  grep -q -- "$shown" <<<"$before_question" || { echo "FAILED: $what: \"$shown\" only after the question"; exit 1; }
  echo "ok: $what: shown, asked, declined (exit 1)"
}
absent() { for f; do [[ ! -e $f ]] || { echo "FAILED: $f was written although declined"; exit 1; }; done; }
same() {  # same <description> <before> <after>
  [[ "$2" == "$3" ]] || { echo "FAILED: $1 changed although declined"; diff <(echo "$2") <(echo "$3") | sed 's/^/  | /'; exit 1; }
  echo "ok: $1 unchanged"
}
P=(--wallet-passphrase-file pass)
tree() { ctl notary tree-head; }
log_before=$(tree)

step "Registration records (an officer)"
list_before=$(admin subscriber list)
declined "subscriber register" "Bodo Probe $RUN" "${ADMIN[@]}" subscriber register --name "Bodo Probe $RUN" \
  --kind individual --country DE --law DE --email bodo@example.de
same "the register" "$list_before" "$(admin subscriber list)"
run "register with --yes" admin subscriber register --name "Bodo Probe $RUN" --kind individual --country DE --law DE \
  --email bodo@example.de
code=$(sed -n 's/.*Enrolment code: \([A-Z0-9-]*\).*/\1/p' <<<"$OUT")
id=$(admin subscriber list | grep "Bodo Probe $RUN" | grep -o 'S-[0-9a-f]*' | head -n1)
[[ -n $id ]] || { echo "FAILED: the new subscriber is not listed"; exit 1; }
record=$(admin subscriber show "$id")
declined "subscriber update" "bodo.new@example.de" "${ADMIN[@]}" subscriber update "$id" --email bodo.new@example.de
declined "subscriber suspend" "on hold" "${ADMIN[@]}" subscriber suspend "$id" --reason "probe"
same "the record" "$record" "$(admin subscriber show "$id")"
declined "enroll" "never leave this machine" enroll --code "$code" --wallet "$D/bodo" "${P[@]}"
absent $D/bodo/signature.key $D/bodo/authentication.key
run "the code still works after a declined enrolment" ctl enroll --code "$code" --wallet "$D/bodo" "${P[@]}"
bodo_auth=$(openssl x509 -in "$D/bodo/authentication.pem" -noout -serial | cut -d= -f2)
wallet_before=$(cat "$D"/bodo/*)
declined "renew" "$bodo_auth" renew --wallet "$D/bodo" "${P[@]}"
absent $D/bodo/authentication.key.next $D/bodo/signature.key.next
same "the wallet" "$wallet_before" "$(cat "$D"/bodo/*)"
history_before=$(admin subscriber history "$id")
declined "subscriber new-code" "$id" "${ADMIN[@]}" subscriber new-code "$id"
same "the subscriber's history" "$history_before" "$(admin subscriber history "$id")"
run "a certificate on hold" admin certificate revoke "$(openssl x509 -in "$D/bodo/signature.pem" -noout -serial | cut -d= -f2)" \
  --reason certificateHold
serial=$(openssl x509 -in "$D/bodo/signature.pem" -noout -serial | cut -d= -f2)
declined "certificate release-hold" "$serial" "${ADMIN[@]}" certificate release-hold "$serial"
status_now=$(admin certificate status "$serial" 2>&1 || true)
grep -q "revoked" <<<"$status_now" || { echo "FAILED: the hold was released although declined"; echo "$status_now"; exit 1; }
echo "ok: still on hold"

step "Orders and agreements (buyer)"
declined "order sign" "garden chair" order sign --wallet buyer "${P[@]}" --seller seller.pem --amount 45.00 \
  --order-id "CAT-$RUN-3" --description "garden chair" --out $D/order3.semper
absent $D/order3.semper
declined "order confirm" "rain boots" order confirm order2.semper --wallet seller "${P[@]}" --out $D/order2.confirmed
absent $D/order2.confirmed
declined "order receipt" "rain boots" order receipt order2.semper --acknowledges delivery --wallet buyer "${P[@]}" \
  --out $D/order2.receipt
absent $D/order2.receipt
status_before=$(ctl liability status --wallet buyer "${P[@]}")
agreement=$(grep -o 'A-[0-9a-f]*' <<<"$status_before" | head -n1)
declined "liability change" "$agreement" liability change "$agreement" --wallet buyer "${P[@]}" --to suspend
same "the buyer's agreements" "$status_before" "$(ctl liability status --wallet buyer "${P[@]}")"

step "Certified mail and contracts (notary)"
printf 'Probe document %s\n' "$RUN" > $D/probe.txt
declined "notary mail send" "probe.txt" notary mail send --wallet seller "${P[@]}" --to buyer/authentication.pem \
  $D/probe.txt --out $D/probe.mail.json
absent $D/probe.mail.json
same "the notary's log" "$log_before" "$(tree)"
run "a mail to accept" ctl notary mail send --wallet seller "${P[@]}" --to buyer/authentication.pem $D/probe.txt \
  --out $D/probe.mail.json
mail=$(sed -n 's/^Mail \(M-[0-9a-f]*\):.*/\1/p' <<<"$OUT" | head -n1)
log_before=$(tree)
declined "notary mail accept" "$mail" notary mail accept "$mail" --wallet buyer "${P[@]}" --out $D/probe.received
absent $D/probe.received $D/probe.received.p7m
run "the mail" ctl notary mail show "$mail" --wallet seller "${P[@]}"
expect "still waiting for the receipt" "waiting for the recipient"
same "the notary's log" "$log_before" "$(tree)"
printf 'Probe contract %s: nothing is agreed.\n' "$RUN" > $D/probe-contract.txt
declined "notary contract create" "Probe $RUN" notary contract create $D/probe-contract.txt --title "Probe $RUN" \
  --signer buyer/signature.pem --signer seller/signature.pem --days 7
run "a contract to sign" ctl notary contract create $D/probe-contract.txt --title "Probe $RUN" \
  --signer buyer/signature.pem --signer seller/signature.pem --days 7
contract=$(sed -n 's/^Contract \(C-[0-9a-f]*\) .*/\1/p' <<<"$OUT" | head -n1)
shown_before=$(ctl notary contract show "$contract" --wallet buyer "${P[@]}")
declined "notary contract sign" "nothing is agreed" notary contract sign "$contract" --wallet buyer "${P[@]}"
same "the contract" "$shown_before" "$(ctl notary contract show "$contract" --wallet buyer "${P[@]}")"
same "the notary's log" "$log_before" "$(tree)"

step "Fair exchange (no daemon until a dispute: each step writes files)"
printf 'Probe exchange %s\n' "$RUN" > $D/terms.txt
declined "exchange offer" "$D/terms.txt\|Probe exchange" exchange offer --wallet seller "${P[@]}" --to buyer/signature.pem \
  --contract $D/terms.txt --state $D/x-o.state --out $D/x-me1
absent $D/x-o.state $D/x-me1
run "an offer" ctl exchange offer --wallet seller "${P[@]}" --to buyer/signature.pem --contract $D/terms.txt \
  --state $D/x-o.state --out $D/x-me1
declined "exchange accept" "Probe exchange" exchange accept --wallet buyer "${P[@]}" --in $D/x-me1 --state $D/x-r.state \
  --out $D/x-me2
absent $D/x-r.state $D/x-me2
run "the answer" ctl exchange accept --wallet buyer "${P[@]}" --in $D/x-me1 --state $D/x-r.state --out $D/x-me2
state_before=$(sha256sum $D/x-o.state)
declined "exchange continue" "binds you to" exchange continue --wallet seller "${P[@]}" --state $D/x-o.state \
  --in $D/x-me2 --out $D/x-me3
absent $D/x-me3
same "the originator's state" "$state_before" "$(sha256sum $D/x-o.state)"

run "an offer nobody answers" ctl exchange offer --wallet seller "${P[@]}" --to buyer/signature.pem \
  --contract $D/terms.txt --state $D/y-o.state --out $D/y-me1
state_before=$(sha256sum $D/y-o.state)
declined "exchange abort" "never resolve" exchange abort --wallet seller "${P[@]}" --state $D/y-o.state --out $D/y-abort
absent $D/y-abort
run "an answer left without the third message" ctl exchange accept --wallet buyer "${P[@]}" --in $D/y-me1 \
  --state $D/y-r.state --out $D/y-me2
declined "exchange resolve" "Probe exchange" exchange resolve --wallet buyer "${P[@]}" --state $D/y-r.state --out $D/y-resolve
absent $D/y-resolve
same "the originator's state" "$state_before" "$(sha256sum $D/y-o.state)"

step "What is shown before signing is every byte of it"
# A counterparty hides a clause behind a NUL, prints a smaller amount over a larger one with a
# carriage return, and reverses digits with a right-to-left override.
printf 'Anna buys one garden chair for 45.00 EUR.\0 Anna also buys 500 garden chairs for 22,500.00 EUR.\nAnna owes 9000.00 EUR.\rAnna owes   90.00 EUR.\nPrice: \xe2\x80\xae00.09\xe2\x80\xac EUR\n' > $D/hidden.txt
run "an offer with hidden text" ctl exchange offer --wallet seller "${P[@]}" --to buyer/signature.pem \
  --contract $D/hidden.txt --state $D/h-o.state --out $D/h-me1
declined "exchange accept of hidden text" "500 garden chairs" exchange accept --wallet buyer "${P[@]}" --in $D/h-me1 \
  --state $D/h-r.state --out $D/h-me2
expect "the NUL is shown" '45.00 EUR.\\0 Anna also'
expect "the carriage return is shown" '9000.00 EUR.\\rAnna owes'
expect "the override is shown" '<U+202E>00.09<U+202C>'
expect "the person is told" "NOTE: the text holds characters a terminal would not show"
# The same in a one-line field: a carriage return as the payment's currency over the amount.
run "a payment offer whose currency is a carriage return" ctl exchange offer --wallet seller "${P[@]}" \
  --to buyer/signature.pem --contract $D/terms.txt --kind payment --payment-provider "Example Acquirer" \
  --payment-reference "AUTH-$RUN" --amount 900000.00 --currency $'\r  ' --payment-instrument "card. Total due: 9.00 EUR" \
  --state $D/p-o.state --out $D/p-me1
declined "exchange accept of a hidden amount" "900000.00" exchange accept --wallet buyer "${P[@]}" --in $D/p-me1 \
  --state $D/p-r.state --out $D/p-me2
expect "the carriage return in the currency is shown" '900000.00 \\r'
run "a contract with a carriage return" ctl notary contract create $D/hidden.txt --title "Hidden $RUN" \
  --signer buyer/signature.pem --signer seller/signature.pem --days 7
hidden_contract=$(sed -n 's/^Contract \(C-[0-9a-f]*\) .*/\1/p' <<<"$OUT" | head -n1)
declined "notary contract sign of hidden text" "500 garden chairs" notary contract sign "$hidden_contract" \
  --wallet buyer "${P[@]}"
expect "the carriage return is shown" '9000.00 EUR.\\rAnna owes'
expect "the person is told" "NOTE: the text holds characters"

step "Disputes"
cases_before=$(ctl dispute list --wallet buyer "${P[@]}")
declined "dispute file" "12.00 EUR" dispute file --wallet buyer "${P[@]}" --against seller.pem --kind non-delivery \
  --order order2.semper --reference "CAT-$RUN-9" --amount 12.00 --currency EUR --text "probe"
same "the buyer's cases" "$cases_before" "$(ctl dispute list --wallet buyer "${P[@]}")"
run "a claim to answer" ctl dispute file --wallet buyer "${P[@]}" --against seller.pem --kind non-delivery \
  --order order2.semper --reference "CAT-$RUN-9" --amount 12.00 --currency EUR --text "probe"
case_id=$(sed -n 's/.*Case \([0-9a-f]\{32\}\).*/\1/p' <<<"$OUT" | head -n1)
case_before=$(ctl dispute show "$case_id")
declined "dispute answer" "probe answer" dispute answer "$case_id" --wallet seller "${P[@]}" --text "probe answer"
declined "dispute decide" "rejected\|REJECTED" "${ARBITRATOR[@]}" dispute decide "$case_id" --outcome rejected \
  --reason "probe"
same "the case" "$case_before" "$(ctl dispute show "$case_id")"

step "Pseudonyms, tokens and credentials"
declined "pseudonym request" "Probe Owl" pseudonym request --wallet buyer "${P[@]}" --out "$D/probe-owl" --kind role \
  --name "Probe Owl $RUN"
absent $D/probe-owl/signature.key $D/probe-owl/signature.pem
declined "token kind create" "Probe ride" token kind create --wallet seller "${P[@]}" --name "Probe ride $RUN" \
  --value 1.50 --valid-days 30
declined "credential issue" "probe-pass" credential issue --wallet seller "${P[@]}" --holder buyer/signature.pem \
  --kind pass --rights "probe-pass" --uses 1 --valid-days 30 --out $D/probe-pass.json
absent $D/probe-pass.json
run "a kind of token" ctl token kind create --wallet seller "${P[@]}" --name "Probe ride $RUN" --value 1.50 --valid-days 30
kind=$(grep -o 'K-[0-9a-f]*' <<<"$OUT" | head -n1)
run "a blinded token" ctl token blind --kind "$kind" --message "probe ride" --out $D/t
declined "token sign" "$kind" token sign --kind "$kind" --blinded $D/t.blinded --wallet seller "${P[@]}" --out $D/t.bsig
absent $D/t.bsig
run "a credential" ctl credential issue --wallet seller "${P[@]}" --holder buyer/signature.pem --kind pass \
  --rights "probe-pass" --uses 1 --valid-days 30 --out $D/probe-pass.json
acceptor=$(openssl x509 -in seller.pem -noout -subject -nameopt RFC2253 | grep -o 'S-[0-9a-f]*' | head -n1)
declined "credential present" "probe-pass" credential present --credential $D/probe-pass.json --acceptor "$acceptor" \
  --wallet buyer "${P[@]}" --out $D/presentation.json
absent $D/presentation.json

same "the notary's log" "$log_before" "$(tree)"

step "What a counterparty hands over, changed by one byte"
# refused <description> <exit code> <semperctl arguments...>
refused() {
  local what=$1 want=$2; shift 2
  local rc=0
  OUT=$(ctl "$@" 2>&1) || rc=$?
  [[ $rc -eq $want ]] || { echo "FAILED: $what: exit $rc, expected $want"; echo "$OUT" | sed 's/^/  | /'; exit 1; }
  echo "ok: $what: refused (exit $rc)"
}
# changed <in> <out> <text> <replacement>: a copy with the first <text> in it replaced
changed() { python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); a=sys.argv[3].encode(); b=sys.argv[4].encode(); assert a in d; open(sys.argv[2],"wb").write(d.replace(a,b,1))' "$@"; }
run "the originator's third message" ctl exchange continue --wallet seller "${P[@]}" --state $D/x-o.state --in $D/x-me2 \
  --out $D/x-me3
run "the responder's last message" ctl exchange continue --wallet buyer "${P[@]}" --state $D/x-r.state --in $D/x-me3 \
  --out $D/x-me4
run "the originator's contract" ctl exchange continue --wallet seller "${P[@]}" --state $D/x-o.state --in $D/x-me4 \
  --out $D/x-contract
run "the completed exchange verifies" ctl exchange verify --in $D/x-contract
changed $D/x-contract $D/x-contract.changed "Probe exchange" "Probe exchangE"
refused "a completed exchange with its terms changed" 3 exchange verify --in $D/x-contract.changed
run "the credential verifies" ctl credential verify --credential $D/probe-pass.json
python3 - "$D/probe-pass.json" "$D/probe-pass.changed.json" <<'PY'
import base64, json, sys
c = json.load(open(sys.argv[1]))
st = base64.b64decode(c["statement"]).replace(b"probe-pass", b"probe-vip!", 1)
c["statement"] = base64.b64encode(st).decode()
json.dump(c, open(sys.argv[2], "w"))
PY
refused "a credential with its rights changed" 3 credential verify --credential $D/probe-pass.changed.json
run "the issuer's blind signature" ctl token sign --kind "$kind" --blinded $D/t.blinded --wallet seller "${P[@]}" \
  --out $D/t.bsig
python3 -c 'import sys; d=bytearray(open(sys.argv[1],"rb").read()); d[len(d)//2]^=1; open(sys.argv[2],"wb").write(d)' \
  $D/t.bsig $D/t.bsig.changed
refused "a blind signature with one byte changed" 1 token finalize --state $D/t.state --blind-signature $D/t.bsig.changed \
  --out $D/t.token
absent $D/t.token
run "the genuine blind signature finalizes" ctl token finalize --state $D/t.state --blind-signature $D/t.bsig --out $D/t.token
ACCEPTOR=(--cert seller/authentication.pem --key seller/authentication.key --key-passphrase-file pass)
declined "token redeem" "$kind" "${ACCEPTOR[@]}" token redeem --token $D/t.token
run "the token is still unused" ctl "${ACCEPTOR[@]}" token redeem --token $D/t.token
run "a presentation" ctl credential present --credential $D/probe-pass.json --acceptor "$acceptor" --wallet buyer "${P[@]}" \
  --out $D/presentation.json
declined "credential redeem" "probe-pass" "${ACCEPTOR[@]}" credential redeem --presentation $D/presentation.json
run "the credential's use is still there" ctl "${ACCEPTOR[@]}" credential redeem --presentation $D/presentation.json
echo
echo "semperctl_refusals: every command declined changed nothing; every changed file was refused"
