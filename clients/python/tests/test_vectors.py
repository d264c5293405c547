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

from semper import cms, merkle, tsa  # noqa: E402
from semper.v1 import (arbiter_pb2, ca_pb2, container_pb2, liability_pb2, notary_pb2,  # noqa: E402,F401
                       privacy_pb2)


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
    for v in manifest["vectors"]:
        name, data = v["name"], read(v["file"])
        if hashlib.sha256(data).hexdigest() != v["sha256"]:
            fail(f"{name}: SHA-256")
        if v["kind"] == "protobuf":
            msg = db.GetSymbol(v["message"])()
            msg.ParseFromString(data)
            if msg.SerializeToString(deterministic=True) != data:
                fail(f"{name}: Python's deterministic encoding differs from the vector's bytes")
            if json_format.MessageToDict(msg, preserving_proto_field_name=True) != v["content"]:
                fail(f"{name}: decodes to other content than recorded")
        elif v["kind"] in ("json-statement", "json-guarantee"):
            json_format.Parse(data, db.GetSymbol(v["message"])())
        elif v["kind"] == "der-csr":
            csr = x509.load_der_x509_csr(data)
            if not csr.is_signature_valid:
                fail(f"{name}: the CSR's self-signature")
        elif v["kind"] == "der-timestamp-request":
            nonce = int.from_bytes(bytes(range(1, 9)), "big")
            if tsa.request_der(read("document.txt"), nonce=nonce) != data:
                fail(f"{name}: Python builds another request for document.txt")
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
    if base64.b64decode(head["root_hash"]).hex() != m["root_5"]:
        fail("tree-head: not the Merkle vector's root")
    print(f"python vectors: {len(manifest['vectors'])} vectors and the Merkle proofs hold")


if __name__ == "__main__":
    main()
