#!/usr/bin/env bash
# The marketplace scenario, end to end across the five authorities, with semperctl as the
# administrator, a buyer and a seller would use it, and the openssl command line checking the
# evidence. Modelled on the trials of the SEMPER project: a mail-order catalogue with signed order
# confirmations, and an on-line document shop with on-line delivery.
#
#   tests/scenario/marketplace.sh CLIENT_ENV [WORK_DIR]
#
# CLIENT_ENV is the file deploy/up.sh writes ($SEMPER_STATE_DIR/client.env) or the compose test
# writes: the endpoints (SEMPERCTL_SERVER, _TSA, _NOTARY, _ARBITER, _LIABILITY, SEMPERCTL_CA_FILE,
# SEMPER_SERVER_NAME, SEMPER_CA_HTTP, SEMPER_TSA_HTTP) and the administrator's credentials
# (SEMPER_ADMIN_CERT, SEMPER_ADMIN_KEY, SEMPER_ADMIN_PASSPHRASE_FILE). SEMPERCTL names the binary
# (default: build/cli/semperctl/semperctl, else semperctl on PATH). Exit 0 when every step and
# every check passed; the first failure stops it with the command's output.
set -euo pipefail
ENV_FILE=${1:?usage: marketplace.sh CLIENT_ENV [WORK_DIR]}
# shellcheck disable=SC1090
source "$ENV_FILE"
export SEMPERCTL_SERVER SEMPERCTL_TSA SEMPERCTL_NOTARY SEMPERCTL_ARBITER SEMPERCTL_LIABILITY SEMPERCTL_CA_FILE
HERE=$(cd "$(dirname "$0")/../.." && pwd)
if [[ -z "${SEMPERCTL:-}" ]]; then
  if [[ -x "$HERE/build/cli/semperctl/semperctl" ]]; then SEMPERCTL=$HERE/build/cli/semperctl/semperctl; else SEMPERCTL=semperctl; fi
fi
W=${2:-$(mktemp -d /tmp/semper-marketplace.XXXXXX)}
mkdir -p "$W"
cd "$W"
ROOT=$SEMPERCTL_CA_FILE
RUN=$(date +%s)-$$

# shellcheck source=tests/scenario/steps.sh
source "$HERE/tests/scenario/steps.sh"

echo "marketplace scenario: working in $W"
(umask 077; echo "wallet passphrase $RUN" > pass)
run "fetch the TSA's certificate chain" curl -fsS -o tsa-chain.pem "$SEMPER_TSA_HTTP/certs"
run "fetch semper-ca's CRL" curl -fsS -o crl.der "$SEMPER_CA_HTTP/crl"
run "the CRL is a CRL signed by the CA (openssl crl)" openssl crl -inform DER -in crl.der -out crl.pem

step "1. The administrator registers a buyer (individual) and a seller (enterprise); both enroll"
run "register the buyer" admin subscriber register --name "Anna Kunde $RUN" --kind individual --country DE --law DE \
  --email anna@example.de
expect "the buyer's code" "Enrolment code"
buyer_code=$(sed -n 's/.*Enrolment code: \([A-Z0-9-]*\).*/\1/p' <<<"$OUT")
run "register the seller" admin subscriber register --name "Katalog Versand GmbH $RUN" --kind enterprise --country DE \
  --law DE --vat VATDE-123456789 --email orders@katalog.example
seller_code=$(sed -n 's/.*Enrolment code: \([A-Z0-9-]*\).*/\1/p' <<<"$OUT")
run "the buyer enrolls" ctl enroll --code "$buyer_code" --wallet buyer --wallet-passphrase-file pass
run "the seller enrolls" ctl enroll --code "$seller_code" --wallet seller --wallet-passphrase-file pass
for who in buyer seller; do
  for use in authentication signature; do
    run "$who's $use certificate chains to the root and is not on the CRL (openssl verify)" \
      openssl verify -crl_check -CRLfile crl.pem -CAfile "$ROOT" -untrusted "$who/chain.pem" "$who/$use.pem"
  done
done
run "the seller's certificate carries its VAT reference" openssl x509 -in seller/signature.pem -noout -subject -nameopt RFC2253
expect "VAT reference in the certificate" "VATDE-123456789"
openssl x509 -in seller/signature.pem -out seller.pem

step "2. The buyer signs a SEMPER agreement with the liability tracker"
run "agreement" ctl liability agree --wallet buyer --wallet-passphrase-file pass --overall-limit 1000.00 \
  --per-transaction-limit 300.00 --currency EUR --law DE
expect "agreement registered" "EUR"

step "3. The buyer signs an order; the seller checks it and obtains a liability guarantee"
run "the buyer signs order 1" ctl order sign --wallet buyer --wallet-passphrase-file pass --seller seller.pem \
  --amount 129.90 --order-id "CAT-$RUN-1" --description "winter coat, catalogue no. 4711" \
  --deliver-to "Hauptstr. 1, Berlin" --time-stamped --out order1.semper
expect "the order was shown before signing" "winter coat"
run "the seller checks the order" ctl order show order1.semper --buyer-out buyer-signature.pem
expect "order verified" "Verified order"
expect "the buyer's signature carries its time-stamp (CAdES-T)" "time-stamped:   the buyer's signature existed at"
expect "customer type from the buyer's certificate" "individual"
expect "applicable law from the certificate" "applicable law: DE"
run "the seller asks for a guarantee" ctl liability guarantee --wallet seller --wallet-passphrase-file pass \
  --order order1.semper --buyer buyer-signature.pem --amount 129.90 --currency EUR --request-id "CAT-$RUN-1" --out guarantee1
expect "a guarantee" "Guarantee"
guarantee1=$(sed -n 's/.*Guarantee \([^ ]*\) (.*/\1/p' <<<"$OUT" | head -n1)
run "the guarantee verifies offline" ctl liability verify --in guarantee1
statement_ok "the guarantee's signature" guarantee1.sig guarantee1.json liability
grep -q "$(sha256sum order1.semper | cut -c1-16)" <(python3 -c 'import json,sys,base64; print(base64.b64decode(json.load(open("guarantee1.json"))["order_sha256"]).hex())') ||
  { echo "FAILED: the guarantee does not name the order's hash"; exit 1; }
echo "ok: the guarantee names the signed order's SHA-256"

step "4. The seller's signed order confirmation is time-stamped, certified by the notary and logged"
run "keep the notary's tree head" ctl notary tree-head --out head-before.json
printf 'Order confirmation CAT-%s-1\nWinter coat, catalogue no. 4711, EUR 129.90, delivered to Hauptstr. 1, Berlin within 3 days.\n' "$RUN" > confirmation1.txt
run "the seller certifies the confirmation" ctl notary certify confirmation1.txt --wallet seller --wallet-passphrase-file pass \
  --out confirmation1.evidence.json
expect "notarised" "Notarised"
run "the evidence verifies offline" ctl notary verify confirmation1.evidence.json --document confirmation1.txt
run "export the evidence" ctl notary export confirmation1.evidence.json --out confirmation1.notary
cms_ok "the seller's signature over the confirmation" confirmation1.notary.document.sig confirmation1.txt
statement_ok "the notary's attestation" confirmation1.notary.sig confirmation1.notary.json notary
run "the confirmation's time-stamp (openssl ts -verify)" openssl ts -verify -data confirmation1.txt \
  -in confirmation1.notary.tst -token_in -CAfile "$ROOT" -untrusted tsa-chain.pem
run "the token's policy (openssl ts -reply -text)" openssl ts -reply -in confirmation1.notary.tst -token_in -text
expect "a policy OID" "Policy OID: [0-9.]*"
# Every arc of it fits 64 bits (asn1js and GnuTLS's libtasn1 represent no wider arc).
if grep -E -q 'Policy OID: .*[0-9]{19}' <<<"$OUT"; then echo "FAILED: the policy OID has an arc wider than 64 bits"; echo "$OUT"; exit 1; fi
run "the log still extends the tree head kept before" ctl notary consistency head-before.json
expect "consistent" "Consistent"

step "5. The seller delivers a document by certified mail against the buyer's receipt"
printf '%%PDF-1.4 (the ordered e-book, CAT-%s-1)\n' "$RUN" > ebook.pdf
head -c 20000 /dev/urandom | base64 >> ebook.pdf
run "the seller deposits the mail" ctl notary mail send --wallet seller --wallet-passphrase-file pass \
  --to buyer/authentication.pem ebook.pdf --out ebook.mail.json
mail=$(sed -n 's/^Mail \(M-[0-9a-f]*\):.*/\1/p' <<<"$OUT" | head -n1)
expect "waiting for the receipt" "waiting for the recipient"
run "the buyer signs the receipt and takes delivery" ctl notary mail accept "$mail" --wallet buyer \
  --wallet-passphrase-file pass --out received.pdf
cmp -s ebook.pdf received.pdf || { echo "FAILED: the delivered document differs"; exit 1; }
echo "ok: the buyer received exactly the document sent"
run "the buyer's key opens the message with openssl (openssl cms -decrypt)" openssl cms -decrypt -inform DER \
  -in received.pdf.p7m -recip buyer/authentication.pem -inkey buyer/authentication.key -passin file:pass -out decrypted.pdf
cmp -s ebook.pdf decrypted.pdf || { echo "FAILED: openssl decrypted another document"; exit 1; }
cms_ok "the seller's evidence of origin" received.pdf.p7m.sig received.pdf.p7m
run "the seller sees the delivery" ctl notary mail show "$mail" --wallet seller --wallet-passphrase-file pass \
  --out ebook.delivered.json
expect "delivered" "delivered against the recipient's receipt"
run "export the evidence of delivery" ctl notary export ebook.delivered.json --out delivery
statement_ok "the notary's evidence of delivery" delivery.sig delivery.json notary
grep -q "semper-mail-delivery" delivery.json || { echo "FAILED: not a delivery statement"; exit 1; }

step "6. Buyer and seller sign a contract through the notary"
printf 'Maintenance contract %s\nThe seller services the coat once a year for three years; the buyer pays EUR 20.00 a year.\nApplicable law: DE.\n' "$RUN" > contract.txt
run "open the contract" ctl notary contract create contract.txt --title "Maintenance $RUN" \
  --signer buyer/signature.pem --signer seller/signature.pem --days 7
contract=$(sed -n 's/^Contract \(C-[0-9a-f]*\) .*/\1/p' <<<"$OUT" | head -n1)
run "the buyer reads and signs" ctl notary contract sign "$contract" --wallet buyer --wallet-passphrase-file pass
expect "the text was shown" "services the coat"
expect "still open" ": open"
run "the seller reads and signs" ctl notary contract sign "$contract" --wallet seller --wallet-passphrase-file pass \
  --out contract.json
expect "completed" "completed: signed by everyone"
run "export the signed contract" ctl notary export contract.json --out contract.notary
statement_ok "the notary's signed-contract statement" contract.notary.sig contract.notary.json notary
run "the contract's time-stamp (openssl ts -verify)" openssl ts -verify -data contract.txt -in contract.notary.tst \
  -token_in -CAfile "$ROOT" -untrusted tsa-chain.pem

step "7. A second order is never delivered: the buyer claims, the arbiter decides and signs a verdict"
run "the buyer signs order 2" ctl order sign --wallet buyer --wallet-passphrase-file pass --seller seller.pem \
  --amount 59.00 --order-id "CAT-$RUN-2" --description "rain boots, catalogue no. 815" --out order2.semper
run "the seller checks it" ctl order show order2.semper
run "the seller's guarantee for order 2" ctl liability guarantee --wallet seller --wallet-passphrase-file pass \
  --order order2.semper --amount 59.00 --currency EUR --request-id "CAT-$RUN-2" --out guarantee2
run "the seller confirms order 2 (its signature beside the buyer's)" ctl order confirm order2.semper --wallet seller \
  --wallet-passphrase-file pass --out order2.confirmed.semper
run "the buyer checks the confirmation" ctl order show order2.confirmed.semper
expect "confirmed by the seller" "confirmed by:"
run "the buyer files a claim of non-delivery" ctl dispute file --wallet buyer --wallet-passphrase-file pass \
  --against seller.pem --kind non-delivery --order order2.confirmed.semper --reference "CAT-$RUN-2" \
  --amount 59.00 --currency EUR --text "Ordered on the catalogue site; nothing arrived." \
  --evidence "signed:guarantee2.json,guarantee2.sig#the liability guarantee"
expect "the claim was shown before signing" "59.00 EUR"
expect "the order in dispute is named by its content" "the content of the order in dispute"
case_id=$(sed -n 's/.*Case \([0-9a-f]\{32\}\).*/\1/p' <<<"$OUT" | head -n1)
run "the seller sees the case" ctl dispute list --wallet seller --wallet-passphrase-file pass
expect "the case is listed" "$case_id"
run "the seller answers, without a receipt" ctl dispute answer "$case_id" --wallet seller --wallet-passphrase-file pass \
  --text "We shipped the boots."
for _ in $(seq 1 60); do
  run "the case" ctl dispute show "$case_id" --verdict-out verdict
  grep -q "closed" <<<"$OUT" && break
  sleep 1
done
expect "closed with a verdict" "closed"
expect "upheld" "upheld"
statement_ok "the arbiter's verdict" verdict.sig verdict.json arbiter
grep -q "release" verdict.json || { echo "FAILED: the verdict does not release the guarantee"; exit 1; }
echo "ok: the verdict orders the guarantee for order 2 released"

echo
echo "marketplace scenario: all steps passed (evidence in $W)"
