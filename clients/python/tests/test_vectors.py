#!/usr/bin/python3
"""docs/vectors/ checked from Python, with the semper package alone: the same bytes, hashes,
decodings, signatures and Merkle proofs the C++ check (ctest `vectors`) holds, so that the two
languages agree on every byte a client signs or hashes.

    /usr/bin/python3 clients/python/tests/test_vectors.py [docs/vectors]"""

import base64
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from cryptography import x509  # noqa: E402
from google.protobuf import json_format, symbol_database  # noqa: E402

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from semper import cms, container, merkle, tsa  # noqa: E402
from semper.v1 import (arbiter_pb2, ca_pb2, container_pb2, liability_pb2, notary_pb2,  # noqa: E402,F401
                       privacy_pb2)


# Every vector: its file, kind, message, the statement type it must carry, and who signs it
# (None: no signature file).
EXPECTED = {
    "csr-authentication": ("csr-authentication.der", "der-csr", None, None, None),
    "csr-signature": ("csr-signature.der", "der-csr", None, None, None),
    "agreement": ("agreement.bin", "protobuf", "semper.v1.ContainerContent", None, "signer"),
    "order-content": ("order-content.bin", "protobuf", "semper.v1.ContainerContent", None, "signer"),
    "order": ("order.bin", "protobuf", "semper.v1.SealedContainer", None, None),
    "liability-query": ("liability-query.bin", "protobuf", "semper.v1.LiabilityQueryStatement", "semper-liability-query", "signer"),
    "agreement-change": ("agreement-change.bin", "protobuf", "semper.v1.AgreementChangeStatement", "semper-agreement-change", "signer"),
    "pseudonym-request": ("pseudonym-request.bin", "protobuf", "semper.v1.PseudonymRequestStatement", "semper-pseudonym-request", "signer"),
    "claim": ("claim.bin", "protobuf", "semper.v1.ClaimStatement", "semper-claim", "signer"),
    "answer": ("answer.bin", "protobuf", "semper.v1.AnswerStatement", "semper-answer", "signer"),
    "list-cases": ("list-cases.bin", "protobuf", "semper.v1.ListCasesStatement", "semper-list-cases", "signer"),
    "token-kind-request": ("token-kind-request.bin", "protobuf", "semper.v1.TokenKindRequestStatement", "semper-token-kind-request", "signer"),
    "credential-request": ("credential-request.bin", "protobuf", "semper.v1.CredentialRequestStatement", "semper-credential-request", "signer"),
    "contract-signing-text": ("contract-signing-text.txt", "text", None, "semper-contract:", "signer"),
    "mail-receipt-text": ("mail-receipt-text.txt", "text", None, "semper-receipt:", "signer"),
    "document": ("document.txt", "text", None, None, "signer"),
    "timestamp-request": ("timestamp-request.der", "der-timestamp-request", None, None, None),
    "tree-head": ("tree-head.json", "json-statement", "semper.v1.TreeHeadStatement", "semper-notary-tree-head", "notary"),
    "guarantee": ("guarantee.json", "json-guarantee", "semper.v1.GuaranteeStatement", "semper-liability-guarantee", None),
}
HASHES = {"order": {"order_sha256", "order_content_sha256"}, "document": {"document_sha256"}}


def fail(why):
    print(f"FAILED: {why}")
    sys.exit(1)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "docs", "vectors")
    with open(os.path.join(d, "vectors.json")) as f:
        manifest = json.load(f)
    read = lambda name: open(os.path.join(d, name), "rb").read()  # noqa: E731
    root = x509.load_pem_x509_certificate(read("pki/root.pem"))
    db = symbol_database.Default()
    names = [v["name"] for v in manifest["vectors"]]
    if sorted(names) != sorted(EXPECTED):
        fail(f"the vectors are not the expected set: {sorted(set(names) ^ set(EXPECTED))}")
    for v in manifest["vectors"]:
        file, kind, message, _, signer = EXPECTED[v["name"]]
        if (signer is not None) != ("signature_file" in v) or \
                ("signature_file" in v and v["signer"] != f"pki/{signer}.pem"):
            fail(f"{v['name']}: its signature is missing or by someone else than expected")
        if v["file"] != file or v["kind"] != kind or v.get("message") != message:
            fail(f"{v['name']}: not the file, kind or message it is")
        if not HASHES.get(v["name"], set()) <= set(v.get("hashes", {})):
            fail(f"{v['name']}: does not state its derived hashes")
        name, data = v["name"], read(v["file"])
        if hashlib.sha256(data).hexdigest() != v["sha256"]:
            fail(f"{name}: SHA-256")
        want_type = EXPECTED[name][3]
        if v["kind"] == "protobuf":
            msg = db.GetSymbol(v["message"])()
            msg.ParseFromString(data)
            if want_type is not None and msg.type != want_type:
                fail(f"{name}: its type is not {want_type}")
            if msg.SerializeToString(deterministic=True) != data:
                fail(f"{name}: Python's deterministic encoding differs from the vector's bytes")
            if json_format.MessageToDict(msg, preserving_proto_field_name=True) != v["content"]:
                fail(f"{name}: decodes to other content than recorded")
        elif v["kind"] in ("json-statement", "json-guarantee"):
            msg = db.GetSymbol(v["message"])()
            json_format.Parse(data, msg)
            if msg.type != want_type:
                fail(f"{name}: its type is not {want_type}")
            # As the daemons print it: compact, the .proto's field names in field-number order.
            obj = json.loads(data)
            if json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() != data:
                fail(f"{name}: not compact JSON as the daemons print it")
            numbers = [msg.DESCRIPTOR.fields_by_name[k].number for k in obj]
            if numbers != sorted(numbers):
                fail(f"{name}: its fields are not in field-number order")
        elif v["kind"] == "der-csr":
            csr = x509.load_der_x509_csr(data)
            key = csr.public_key()
            if not csr.is_signature_valid or not (isinstance(key, ec.EllipticCurvePublicKey) and
                                                  isinstance(key.curve, ec.SECP256R1)):
                fail(f"{name}: a CSR semper-ca accepts has a valid self-signature and a P-256 key here")
        elif v["kind"] == "der-timestamp-request":
            nonce = int.from_bytes(bytes(range(1, 9)), "big")
            if tsa.request_der(read("document.txt"), nonce=nonce) != data:
                fail(f"{name}: Python builds another request for document.txt")
        elif v["kind"] == "text":
            if want_type is not None and not data.startswith(want_type.encode()):
                fail(f"{name}: does not start with {want_type}")
        else:
            fail(f"{name}: unknown kind {v['kind']}")
        if "signature_file" in v:
            signers = cms.verify_detached(read(v["signature_file"]), data, root)
            if signers != [x509.load_pem_x509_certificate(read(v["signer"]))]:
                fail(f"{name}: signed by someone else")
        for hname, rule_hex in v.get("hashes", {}).items():
            rule, hexval = rule_hex.split("=")
            if rule == "sha256(file)":
                got = hashlib.sha256(data).digest()
            elif rule == "sha256(signed.content)":
                got = hashlib.sha256(container_pb2.SealedContainer.FromString(data).signed.content).digest()
            else:
                fail(f"{name}: unknown rule {rule}")
            if got.hex() != hexval:
                fail(f"{name}: {hname}")
    # What the vectors say about each other (their used_in): the order's signature covers
    # order-content.bin and verifies; the guarantee and the claim name the order.
    sealed = container_pb2.SealedContainer.FromString(read("order.bin"))
    if sealed.signed.content != read("order-content.bin"):
        fail("order: its signed content is not order-content.bin")
    content, signers, _ = container.open_signed(sealed.signed, root)
    if signers != [x509.load_pem_x509_certificate(read("pki/signer.pem"))]:
        fail("order: not signed by pki/signer.pem")
    guarantee = json.loads(read("guarantee.json"))
    if base64.b64decode(guarantee["order_sha256"]) != hashlib.sha256(read("order.bin")).digest() or \
            base64.b64decode(guarantee["order_content_sha256"]) != hashlib.sha256(read("order-content.bin")).digest():
        fail("guarantee: does not name order.bin")
    claim = arbiter_pb2.ClaimStatement.FromString(read("claim.bin"))
    if claim.subject_sha256 != hashlib.sha256(read("order-content.bin")).digest():
        fail("claim: subject_sha256 is not the order content's")
    m = manifest["merkle"]
    leaves = [bytes.fromhex(x) for x in m["leaves"]]
    hashes = [merkle.leaf_hash(x) for x in leaves]
    if [h.hex() for h in hashes] != m["leaf_hashes"] or merkle.root(hashes).hex() != m["root_5"] or \
            merkle.root(hashes[:3]).hex() != m["root_3"]:
        fail("merkle: leaf hashes or roots")
    if not merkle.verify_inclusion(2, 5, hashes[2], [bytes.fromhex(x) for x in m["inclusion_2_of_5"]],
                                   bytes.fromhex(m["root_5"])):
        fail("merkle: inclusion")
    if not merkle.verify_consistency(3, 5, bytes.fromhex(m["root_3"]), bytes.fromhex(m["root_5"]),
                                     [bytes.fromhex(x) for x in m["consistency_3_to_5"]]):
        fail("merkle: consistency")
    head = json.loads(read("tree-head.json"))
    if base64.b64decode(head["root_hash"]).hex() != m["root_5"] or head.get("tree_size") != "5":
        fail("tree-head: not the head of the Merkle vector's log")
    print(f"python vectors: {len(manifest['vectors'])} vectors and the Merkle proofs hold")


if __name__ == "__main__":
    main()
