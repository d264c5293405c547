#!/usr/bin/python3
"""The marketplace flow through the Python client, against a running suite, as a second client
beside semperctl; and the error table of docs/errors.md, each row made to happen.

    /usr/bin/python3 clients/python/tests/test_flow.py CLIENT_ENV

CLIENT_ENV is the file deploy/up.sh writes ($SEMPER_STATE_DIR/client.env). Needs the generated
modules (clients/python/generate.sh). Prints each step; exits 0 when all passed, 1 at the first
failure."""

import base64
import datetime
import json
import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import grpc  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from google.protobuf import timestamp_pb2  # noqa: E402

from semper import ca, cms, container, merkle, notary, tsa  # noqa: E402
from semper._vendor import health_pb2, health_pb2_grpc  # noqa: E402
from semper.errors import SemperError, call  # noqa: E402
from semper.v1 import (arbiter_pb2, arbiter_pb2_grpc, container_pb2, liability_pb2, liability_pb2_grpc,  # noqa: E402
                       notary_pb2, notary_pb2_grpc, types_pb2)
from semper.wallet import Wallet, channel  # noqa: E402

DOCS = os.path.join(HERE, "..", "..", "..", "docs", "errors.md")
seen = {}  # error-table id -> SemperError (or grpc code for transport answers)


def step(what):
    print(f"ok: {what}", flush=True)


def fail(what):
    print(f"FAILED: {what}", flush=True)
    sys.exit(1)


def expect_error(row, fn):
    try:
        fn()
    except SemperError as e:
        seen[row] = e
        return e
    fail(f"{row}: the call succeeded")


def timestamp(dt):
    t = timestamp_pb2.Timestamp()
    t.FromDatetime(dt)
    return t


def load_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


def main():
    env = load_env(sys.argv[1])
    with open(env["SEMPERCTL_CA_FILE"], "rb") as f:
        root_pem = f.read()
    root = x509.load_pem_x509_certificate(root_pem)
    server_name = env.get("SEMPER_SERVER_NAME", "localhost")
    with open(env["SEMPER_ADMIN_PASSPHRASE_FILE"], "rb") as f:
        admin_pass = f.read().splitlines()[0]
    with open(env["SEMPER_ADMIN_KEY"], "rb") as f:
        admin_key = serialization.load_pem_private_key(f.read(), admin_pass)
    with open(env["SEMPER_ADMIN_CERT"], "rb") as f:
        admin_chain = f.read()
    admin_identity = (admin_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()), admin_chain)
    addr = {"ca": env["SEMPERCTL_SERVER"], "tsa": env["SEMPERCTL_TSA"], "notary": env["SEMPERCTL_NOTARY"],
            "arbiter": env["SEMPERCTL_ARBITER"], "liability": env["SEMPERCTL_LIABILITY"]}

    def anyone(daemon):
        return channel(addr[daemon], root_pem, server_name=server_name)

    def admin(daemon):
        return channel(addr[daemon], root_pem, server_name=server_name, identity=admin_identity)

    run = f"{int(time.time())}-{os.getpid()}"

    # --- health per service name
    services = {"ca": ["semper.v1.CertificationAuthority", "semper.v1.Pseudonyms", "semper.v1.Credentials"],
                "tsa": ["semper.v1.TimeStamp"], "notary": ["semper.v1.Notary"], "arbiter": ["semper.v1.Arbiter"],
                "liability": ["semper.v1.Liability"]}
    for daemon, names in services.items():
        stub = health_pb2_grpc.HealthStub(anyone(daemon))
        for name in [""] + names:
            r = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            if r.status != health_pb2.HealthCheckResponse.SERVING:
                fail(f"health of {daemon} {name!r}: {r.status}")
        try:
            stub.Check(health_pb2.HealthCheckRequest(service="semper.v1.Nothing"), timeout=10)
            fail(f"health of an unknown service on {daemon} answered")
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:
                fail(f"health of an unknown service on {daemon}: {e.code()}")
    step("grpc.health.v1 answers SERVING for each daemon and each of its services by name, NOT_FOUND otherwise")

    # --- registration and enrolment
    buyer_reg = ca.register(admin("ca"), f"Pia Python {run}", types_pb2.CUSTOMER_KIND_INDIVIDUAL, "DE", "DE",
                            "pia@example.de")
    seller_reg = ca.register(admin("ca"), f"Python Versand GmbH {run}", types_pb2.CUSTOMER_KIND_ENTERPRISE, "DE",
                             "DE", "orders@katalog.example", "VATDE-123456789")
    step("the administrator registers a buyer and a seller (RegisterSubscriber)")
    buyer, enrolled = ca.enroll(anyone("ca"), buyer_reg.enrolment_code)
    seller, _ = ca.enroll(anyone("ca"), seller_reg.enrolment_code)
    if not enrolled.authentication.chain_pem.startswith("-----BEGIN CERTIFICATE-----"):
        fail("Enroll returned no chain_pem")
    wallets = tempfile.mkdtemp(prefix="semper-python-")
    buyer.save(os.path.join(wallets, "buyer"), b"wallet passphrase")
    buyer = Wallet.load(os.path.join(wallets, "buyer"), b"wallet passphrase")
    for w in (buyer, seller):
        for cert in (w.authentication_certificate, w.signature_certificate):
            cms.chain_to_root(cert, w.chain, root)
    step("both enrol with CSRs made in Python; their certificates chain to the root; a wallet saves and loads")

    # A client certificate presented alone (no issuing CA): the daemons complete the chain.
    key_pem, _ = seller.tls_identity()
    alone = channel(addr["liability"], root_pem, server_name=server_name,
                    identity=(key_pem, seller.authentication_certificate.public_bytes(serialization.Encoding.PEM)))
    e = expect_error("-", lambda: call(liability_pb2_grpc.LiabilityStub(alone).GetGuarantee,
                                       liability_pb2.GetGuaranteeRequest(guarantee_id="G-" + "0" * 24)))
    if e.code != grpc.StatusCode.NOT_FOUND:
        fail(f"a certificate sent alone: {e}")
    step("a client certificate sent without its issuing CA is accepted (the call reaches the handler: NOT_FOUND)")

    def sign(wallet, data):
        return cms.sign_detached(data, wallet.signature_key, wallet.signature_certificate, wallet.chain[0])

    # --- agreement
    now = datetime.datetime.utcnow()
    content = container.new_content(now)
    a = content.template.agreement
    a.overall_limit.CopyFrom(types_pb2.Money(currency="EUR", minor_units=100000))
    a.per_transaction_limit.CopyFrom(types_pb2.Money(currency="EUR", minor_units=30000))
    a.valid_from.CopyFrom(timestamp(now - datetime.timedelta(minutes=1)))
    a.valid_until.CopyFrom(timestamp(now + datetime.timedelta(days=30)))
    a.applicable_law = "DE"
    a.conditions = "I am liable for what I sign with my signature key, within these limits."
    content.requested.non_repudiation_of_origin = True
    sealed = container.seal(content, [(buyer.signature_key, buyer.signature_certificate, buyer.chain[0])])
    tracker = liability_pb2_grpc.LiabilityStub(anyone("liability"))
    record = call(tracker.RegisterAgreement, liability_pb2.RegisterAgreementRequest(agreement=sealed.signed))
    if record.overall_limit.minor_units != 100000 or record.state != liability_pb2.AGREEMENT_STATE_ACTIVE:
        fail(f"agreement: {record}")
    step(f"the buyer's agreement, a container sealed in Python, is registered ({record.agreement_id})")
    e = expect_error("agreement-exists",
                     lambda: call(tracker.RegisterAgreement, liability_pb2.RegisterAgreementRequest(agreement=sealed.signed)))
    if e.metadata.get("existing_id") != record.agreement_id:
        fail(f"agreement-exists names {e.metadata}")
    # The same signature over content with one word changed: still a ContainerContent, not what was signed.
    altered = sealed.signed.content.replace(b"within these limits", b"without any limits!")
    forged = container_pb2.SignedContainer(content=altered, signatures=sealed.signed.signatures)
    expect_error("signature-invalid",
                 lambda: call(tracker.RegisterAgreement, liability_pb2.RegisterAgreementRequest(agreement=forged)))

    # --- order and guarantee
    def order(amount, currency="EUR", time_stamped=False):
        c = container.new_content()
        o = c.template.order
        o.order_id = f"CAT-{run}-{os.urandom(4).hex()}"
        o.buyer.name = "Pia Python"
        o.buyer.certificate = buyer.signature_certificate.public_bytes(serialization.Encoding.DER)
        o.seller.name = "Python Versand GmbH"
        o.seller.certificate = seller.signature_certificate.public_bytes(serialization.Encoding.DER)
        o.customer_kind = types_pb2.CUSTOMER_KIND_INDIVIDUAL
        o.applicable_law = "DE"
        o.amount.CopyFrom(types_pb2.Money(currency=currency, minor_units=amount))
        o.items.add(description="winter coat, catalogue no. 4711", quantity=1,
                    unit_price=types_pb2.Money(currency=currency, minor_units=amount))
        o.delivery_address = "Hauptstr. 1, Berlin"
        c.requested.non_repudiation_of_origin = True
        c.requested.time_stamped = time_stamped
        return container.seal(c, [(buyer.signature_key, buyer.signature_certificate, buyer.chain[0])],
                              time_stamp=lambda digest: tsa.stamp_grpc(anyone("tsa"), digest=digest)[0].der)

    as_seller = liability_pb2_grpc.LiabilityStub(channel(addr["liability"], root_pem, seller, server_name))
    # A time-stamped order (CAdES-T, made here in Python): semper-liability verifies the stamp too.
    order1 = order(12990, time_stamped=True)
    order1_bytes = order1.SerializeToString()
    checked, signers, stamped_at = container.open_signed(order1.signed, root)
    if signers[0] != buyer.signature_certificate or stamped_at[0] is None:
        fail("the order's signer or its signature time-stamp")
    g = call(as_seller.RequestGuarantee,
             liability_pb2.GuaranteeRequest(request_id=os.urandom(8).hex(), order=order1_bytes,
                                            order_sha256=cms.sha256(order1_bytes)))
    g_signers = cms.verify_detached(g.signature, g.statement, root)
    cms.check_suite_signer(g_signers[0], "liability")
    st = json.loads(g.statement)
    if base64.b64decode(st["order_sha256"]) != cms.sha256(order1_bytes) or \
            base64.b64decode(st["order_content_sha256"]) != cms.sha256(order1.signed.content):
        fail(f"the guarantee names another order: {st}")
    step(f"the seller obtains a guarantee for the buyer's time-stamped order (CAdES-T, stamped {stamped_at[0]}), "
         f"signed by semper-liability ({g.guarantee_id})")

    def ask(amount, currency="EUR"):
        o = order(amount, currency).SerializeToString()
        return lambda: call(as_seller.RequestGuarantee,
                            liability_pb2.GuaranteeRequest(request_id=os.urandom(8).hex(), order=o))

    e = expect_error("over-per-transaction", ask(30001))
    if e.metadata != {"limit": "per_transaction", "currency": "EUR", "limit_minor_units": "30000",
                      "held_minor_units": "12990", "requested_minor_units": "30001"}:
        fail(f"over-per-transaction facts: {e.metadata}")
    for _ in range(2):
        call(as_seller.RequestGuarantee, liability_pb2.GuaranteeRequest(request_id=os.urandom(8).hex(),
                                                                         order=order(30000).SerializeToString()))
    e = expect_error("over-overall", ask(30000))
    if e.metadata != {"limit": "overall", "currency": "EUR", "limit_minor_units": "100000",
                      "held_minor_units": "72990", "requested_minor_units": "30000"}:
        fail(f"over-overall facts: {e.metadata}")
    e = expect_error("no-agreement", ask(100, "USD"))
    if e.metadata.get("currency") != "USD":
        fail(f"no-agreement facts: {e.metadata}")
    step("guarantees over a limit or without an agreement are refused with the facts in ErrorInfo")

    # --- the buyer's liability, asked with a signed query
    def query(made_at, body=None):
        q = body if body is not None else liability_pb2.LiabilityQueryStatement(
            type="semper-liability-query", made_at=timestamp(made_at)).SerializeToString()
        return call(tracker.GetLiability, liability_pb2.GetLiabilityRequest(query=q, signature=sign(buyer, q)))

    status = query(datetime.datetime.utcnow())
    if len(status.agreements) != 1 or status.agreements[0].current_liability.minor_units != 72990:
        fail(f"GetLiability: {status}")
    step("the buyer's signed query shows its agreement and 729.90 EUR held")
    e = expect_error("stale-statement", lambda: query(datetime.datetime.utcnow() - datetime.timedelta(hours=1)))
    e = expect_error("statement-not-protobuf", lambda: query(None, b"\x0a\x05ab"))

    # --- time-stamps over gRPC and HTTP
    document = f"Order confirmation CAT-{run}-1: winter coat, EUR 129.90.\n".encode()
    token, resp = tsa.stamp_grpc(anyone("tsa"), document)
    tsa_cert = token.verify(root)
    if not token.covers(document) or format(token.serial, "X") != resp.serial:
        fail("the gRPC token")
    if any(int(arc) >= 1 << 63 for arc in token.policy.split(".")):
        fail(f"the policy {token.policy} has an arc wider than 64 bits")
    http_token = tsa.stamp_http(env["SEMPER_TSA_HTTP"] + "/tsa", document)
    http_token.verify(root)
    if not http_token.covers(document) or http_token.serial == token.serial:
        fail("the HTTP token")
    step(f"time-stamps over gRPC and HTTP verify to the root (TSA {tsa_cert.subject.rfc4514_string()}, policy {token.policy})")

    # --- the notary: certification, evidence, consistency
    notary_stub = notary_pb2_grpc.NotaryStub(anyone("notary"))
    head_before = call(notary_stub.GetTreeHead, notary_pb2.GetTreeHeadRequest())
    notary.verify_tree_head(head_before, root)
    ev = call(notary_stub.CertifyDocument,
              notary_pb2.CertifyDocumentRequest(document=document, signature=sign(seller, document)))
    st = notary.verify_evidence(ev, root)
    if base64.b64decode(st["document_sha256"]) != cms.sha256(document):
        fail("the attestation names another document")
    tst = tsa.Token(base64.b64decode(st["time_stamp_token"]))
    tst.verify(root)
    if not tst.covers(document):
        fail("the attestation's time-stamp covers another document")
    step(f"the notary certifies the seller's signed confirmation; its evidence (leaf {ev.index}) is proven in Python")
    public = call(notary_stub.GetEvidence, notary_pb2.GetEvidenceRequest(index=ev.index))
    if public.leaf_hash != merkle.leaf_hash(ev.statement) or public.statement:
        fail("GetEvidence")
    proof = call(notary_stub.GetConsistencyProof, notary_pb2.GetConsistencyProofRequest(old_size=head_before.tree_size))
    notary.verify_consistency(head_before, proof, root)
    step(f"the log grew from {head_before.tree_size} to {proof.new_size} entries consistently (RFC 9162 proof)")

    # --- the error table
    raw = lambda daemon, method, body: anyone(daemon).unary_unary(method)(body, timeout=10)  # noqa: E731

    def transport(row, fn):
        try:
            fn()
        except grpc.RpcError as err:
            seen[row] = SemperError.from_rpc_error(err)
            return
        fail(f"{row}: the call succeeded")

    transport("unknown-method", lambda: raw("notary", "/semper.v1.Notary/DropEverything", b""))
    transport("wrong-daemon", lambda: raw("tsa", "/semper.v1.Notary/GetTreeHead", b""))
    transport("undecodable-request", lambda: raw("liability", "/semper.v1.Liability/GetLiability", b"\x0a\x05ab"))
    ca_anyone = ca.ca_pb2_grpc.CertificationAuthorityStub(anyone("ca"))
    expect_error("no-certificate", lambda: ca.register(anyone("ca"), "X", 1, "DE", "DE", "x@example.de"))
    expect_error("wrong-role", lambda: ca.register(channel(addr["ca"], root_pem, buyer, server_name), "X", 1, "DE",
                                                   "DE", "x@example.de"))
    expect_error("missing-field", lambda: ca.register(admin("ca"), "X", 1, "DE", "DE", ""))
    expect_error("unknown-law", lambda: ca.register(admin("ca"), "X", 1, "DE", "XX", "x@example.de"))
    spare = ca.register(admin("ca"), f"Spare {run}", types_pb2.CUSTOMER_KIND_INDIVIDUAL, "DE", "DE", "s@example.de")
    expect_error("csr-not-der", lambda: call(ca_anyone.Enroll, ca.ca_pb2.EnrollRequest(
        enrolment_code=spare.enrolment_code, authentication_csr=b"not DER", signature_csr=b"not DER")))
    expect_error("unknown-code", lambda: ca.enroll(anyone("ca"), "AAAA-BBBB-CCCC-DDDD-EEEE"))
    expect_error("code-used", lambda: ca.enroll(anyone("ca"), buyer_reg.enrolment_code))
    expect_error("renewal-not-open", lambda: ca.renew(channel(addr["ca"], root_pem, buyer, server_name)))
    expect_error("renewal-as-officer", lambda: ca.renew(admin("ca")))
    expect_error("unknown-case", lambda: call(arbiter_pb2_grpc.ArbiterStub(anyone("arbiter")).GetCase,
                                              arbiter_pb2.GetCaseRequest(case_id="0" * 32)))

    rows = []
    with open(DOCS) as f:
        for line in f:
            m = re.match(r"\| `([a-z-]+)` \| `([^`]+)` \| [^|]+ \| ([A-Z_]+) \| ([A-Z_-]+) \| ([a-z_, -]+) \|", line)
            if m:
                rows.append(m.groups())
    if len(rows) < 15:
        fail(f"docs/errors.md: only {len(rows)} rows in the situations table")
    for row, method, code, reason, keys in rows:
        if row not in seen:
            fail(f"docs/errors.md row {row} was not exercised")
        e = seen[row]
        want_keys = set() if keys.strip() == "-" else {k.strip() for k in keys.split(",")}
        got_reason = e.reason if e.detailed else "-"
        if e.code.name != code or got_reason != reason or not want_keys <= set(e.metadata):
            fail(f"docs/errors.md row {row}: documented {code} {reason} {sorted(want_keys)}, got {e.code.name} "
                 f"{e.reason} {sorted(e.metadata)}: {e.message}")
        if "field" in want_keys and not e.metadata["field"]:
            fail(f"row {row}: empty field")
    step(f"every one of the {len(rows)} situations of docs/errors.md gets the documented code, reason and facts")
    print("python client flow: passed")


if __name__ == "__main__":
    main()
